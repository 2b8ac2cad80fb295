"""lf.plots.binned_residuals against performance::binned_residuals (tests/reference/make_binned_residuals.R)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from lmmflow.plots.binned import binned_residuals, binned_residuals_frame  # noqa: E402

REF = json.loads((Path(__file__).parents[1] / "reference" / "binned_residuals.json").read_text())
CASES = {c["name"]: c for c in REF["cases"]}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bins_match_performance(name):
    c = CASES[name]
    frame = binned_residuals_frame(np.array(c["fitted"], dtype=float), np.array(c["y"]), n_bins=c["n_bins"])
    bins = c["bins"]
    assert len(frame) == len(bins["xbar"])
    for ours, theirs in [("xbar", "xbar"), ("ybar", "ybar"), ("x_lo", "x_lo"), ("x_hi", "x_hi"), ("se", "se"),
                         ("ci_low", "ci_low"), ("ci_high", "ci_high")]:
        np.testing.assert_allclose(frame[ours].to_numpy(), bins[theirs], rtol=1e-10, atol=1e-13, err_msg=ours)
    np.testing.assert_array_equal(frame["n"].to_numpy(), bins["n"])
    np.testing.assert_array_equal(frame["inside"].to_numpy(), np.array(bins["group"]) == "yes")
    assert frame["inside"].mean() == pytest.approx(c["resid_ok"], abs=1e-12)


def test_plot_draws_band_and_points():
    c = CASES["binary_growth_rs"]
    ax = binned_residuals(np.array(c["fitted"], dtype=float), np.array(c["y"]))
    assert len(ax.collections) == 1
    assert len(ax.collections[0].get_offsets()) == len(c["bins"]["xbar"])
    assert "36% of 42 bins" in ax.get_title()
    assert ax.get_xlabel().startswith("Estimated probability")


def test_counts_label():
    c = CASES["grouseticks_poisson"]
    ax = binned_residuals(np.array(c["fitted"], dtype=float), np.array(c["y"]))
    assert ax.get_xlabel().startswith("Expected count")


@pytest.mark.parametrize("kwargs, match", [
    ({"n_bins": 0}, "n_bins"),
    ({"n_bins": 2.5}, "n_bins"),
    ({"level": 1.5}, "level"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        binned_residuals_frame(np.linspace(0.1, 0.9, 10), np.ones(10), **kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match="differ in length"):
        binned_residuals_frame(np.ones(5), np.ones(4))
    with pytest.raises(ValueError, match="fitted GLMM"):
        binned_residuals_frame(object())
