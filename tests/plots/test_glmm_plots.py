"""observed_proportions / proportion_table and response_curve / response_band: axes, numbers, errors."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

import lmmflow as lf  # noqa: E402


@pytest.fixture(scope="module")
def binary():
    d = lf.simulate_growth(n_units=40, seed=3)
    d["hit"] = (d["y"] > d["y"].median()).astype(int)
    d["n"] = (d["y"] // 15).clip(lower=0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = lf.glmer("hit ~ time + (1 | id)", d, family="binomial")
    return d, g


def test_proportion_table_is_clopper_pearson(binary):
    d, _ = binary
    t = lf.plots.proportion_table(d, "time", "hit")
    for _, row in t.iterrows():
        k, n = int(row["events"]), int(row["n"])
        ci = stats.binomtest(k, n).proportion_ci(method="exact")
        assert row["estimate"] == pytest.approx(k / n)
        assert (row["lower"], row["upper"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert list(t.columns) == ["time", "n", "events", "estimate", "lower", "upper"]


def test_rate_table_is_exact_poisson(binary):
    d, _ = binary
    t = lf.plots.proportion_table(d, "time", "n")
    row = t.iloc[0]
    s, n = row["events"], row["n"]
    assert row["lower"] == pytest.approx(stats.chi2.ppf(0.025, 2 * s) / 2 / n)
    assert row["upper"] == pytest.approx(stats.chi2.ppf(0.975, 2 * s + 2) / 2 / n)


@pytest.mark.parametrize("call", [
    lambda d, g, ax: lf.plots.observed_proportions(d, "time", "hit", unit="id", ax=ax, seed=1),
    lambda d, g, ax: lf.plots.observed_proportions(d, "time", "n", ax=ax),
    lambda d, g, ax: lf.plots.response_curve(g, "time", ax=ax, n_units=4, seed=1),
    lambda d, g, ax: lf.plots.binned_residuals(g, ax=ax),
])
def test_draws_into_given_axes(binary, call):
    d, g = binary
    fig, ax = plt.subplots()
    assert call(d, g, ax) is ax
    fig.canvas.draw()
    plt.close(fig)


def test_response_band_is_the_link_scale_wald_band(binary):
    _, g = binary
    grid = pd.DataFrame({"time": [0.0, 2.0, 4.0]})
    band = lf.plots.response_band(g, grid)
    X = np.column_stack([np.ones(3), grid["time"]])
    eta = X @ g.fixef.to_numpy()
    se = np.sqrt(np.einsum("ij,jk,ik->i", X, g.vcov.to_numpy(), X))
    np.testing.assert_allclose(band["fit"], 1 / (1 + np.exp(-eta)), rtol=1e-12)
    np.testing.assert_allclose(band["upper"], 1 / (1 + np.exp(-(eta + 1.959963984540054 * se))), rtol=1e-10)


def test_errors(binary):
    d, _ = binary
    m = lf.lmer("y ~ time + (1 | id)", d)
    with pytest.raises(ValueError, match="lf.glmer"):
        lf.plots.response_curve(m, "time")
    with pytest.raises(ValueError, match="not in the data"):
        lf.plots.proportion_table(d, "time", "nope")
    with pytest.raises(ValueError, match="outside \\[0, 1\\]"):
        lf.plots.proportion_table(d, "time", "y", kind="proportion")
    with pytest.raises(ValueError, match="kind="):
        lf.plots.proportion_table(d, "time", "hit", kind="odds")
