"""Contrast coefficients and multiplicity adjustments as emmeans and R's p.adjust compute them
(the end-to-end comparisons with emmeans are in test_emmeans.py)."""

from __future__ import annotations

import numpy as np
import pytest

import lmmflow as lf
from lmmflow.inference.emm_contrasts import (
    adjusted_critical_values,
    adjusted_p_values,
    contrast_coefficients,
    p_adjust,
    zapsmall,
)

P = np.array([0.01, 0.04, 0.03, 0.2, 0.0005])


@pytest.mark.parametrize("method, want", [  # R: p.adjust(c(0.01, 0.04, 0.03, 0.2, 0.0005), method)
    ("holm", [0.04, 0.09, 0.09, 0.2, 0.0025]),
    ("hochberg", [0.04, 0.08, 0.08, 0.2, 0.0025]),
    ("bonferroni", [0.05, 0.2, 0.15, 1.0, 0.0025]),
    ("BH", [0.025, 0.05, 0.05, 0.2, 0.0025]),
    ("fdr", [0.025, 0.05, 0.05, 0.2, 0.0025]),
    ("BY", [0.0570833333333333331, 0.1141666666666666663, 0.1141666666666666524, 0.4566666666666666652,
            0.0057083333333333335]),
    ("none", P.tolist()),
])
def test_p_adjust_as_r(method, want) -> None:
    np.testing.assert_allclose(p_adjust(P, method), want, rtol=1e-14)


def test_p_adjust_with_n() -> None:  # R: p.adjust(p, "holm", n = 7)
    np.testing.assert_allclose(p_adjust(P, "holm", n=7), [0.06, 0.16, 0.15, 0.6, 0.0035], rtol=1e-14)


def test_zapsmall_as_r() -> None:
    np.testing.assert_array_equal(zapsmall(np.array([56.26433374, 153.0000001])), [56.2643, 153.0])
    np.testing.assert_array_equal(zapsmall(np.array([12.5, np.inf])), [12.0, np.inf])


@pytest.mark.parametrize("k, want", [  # R: t(emmeans:::poly.emmc(1:k))
    (4, [[-3, -1, 1, 3], [1, -1, -1, 1], [-1, 3, -3, 1]]),
    (5, [[-2, -1, 0, 1, 2], [2, -1, -2, -1, 2], [-1, 2, 0, -2, 1], [1, -4, 6, -4, 1]]),
    (7, [[-3, -2, -1, 0, 1, 2, 3], [5, 0, -3, -4, -3, 0, 5], [-1, 1, 1, 0, -1, -1, 1], [3, -7, 1, 6, 1, -7, 3],
         [-1, 4, -5, 0, 5, -4, 1], [1, -6, 15, -20, 15, -6, 1]]),
])
def test_poly_coefficients(k, want) -> None:
    coefs, attrs = contrast_coefficients([str(i) for i in range(1, k + 1)], "poly")
    np.testing.assert_array_equal(np.vstack(list(coefs.values())), want)
    assert attrs["adjust"] == "none"


@pytest.mark.parametrize("method, kw, names, first", [
    ("pairwise", {}, ["a - b", "a - c", "b - c"], [1, -1, 0]),
    ("revpairwise", {}, ["b - a", "c - a", "c - b"], [-1, 1, 0]),
    ("trt.vs.ctrl", {}, ["b - a", "c - a"], [-1, 1, 0]),
    ("trt.vs.ctrl", {"ref": "b"}, ["a - b", "c - b"], [1, -1, 0]),
    ("trt.vs.ctrl", {"ref": [0, 1]}, ["c - avg(a,b)"], [-0.5, -0.5, 1]),
    ("trt.vs.ctrl", {"reverse": True}, ["a - b", "a - c"], [1, -1, 0]),
    ("trt.vs.ctrlk", {}, ["a - c", "b - c"], [1, 0, -1]),
    ("consec", {}, ["b - a", "c - b"], [-1, 1, 0]),
    ("eff", {}, ["a effect", "b effect", "c effect"], [2 / 3, -1 / 3, -1 / 3]),
    ("del.eff", {}, ["a effect", "b effect", "c effect"], [1, -0.5, -0.5]),
    ({"x": [1, 0, -1]}, {}, ["x"], [1, 0, -1]),
])
def test_coefficients(method, kw, names, first) -> None:
    coefs, _ = contrast_coefficients(["a", "b", "c"], method, **kw)
    assert list(coefs) == names
    np.testing.assert_allclose(coefs[names[0]], first)


@pytest.mark.parametrize("method, kw", [("bogus", {}), ({"x": [1, -1]}, {}), ("trt.vs.ctrl", {"ref": "z"}),
                                        ("trt.vs.ctrl", {"ref": 5})])
def test_coefficients_refused(method, kw) -> None:
    with pytest.raises(ValueError):
        contrast_coefficients(["a", "b", "c"], method, **kw)


def test_tukey_becomes_sidak_and_single_contrast_unadjusted() -> None:
    t, df, rows = np.array([2.0, -1.0]), np.array([20.0, 20.0]), [np.arange(2)]
    p, used, _ = adjusted_p_values(t, df, "tukey", 3, 2, "contrast", rows)
    assert used == "sidak"
    raw = 2 * __import__("scipy").stats.t.sf(np.abs(t), df)
    np.testing.assert_allclose(p, 1 - (1 - raw) ** 2)
    p1, used1, _ = adjusted_p_values(t[:1], df[:1], "bonferroni", 2, 1, "pairs", [np.arange(1)])
    assert used1 == "none" and p1[0] == pytest.approx(raw[0])
    cv, used_cv, _ = adjusted_critical_values(0.95, df, "holm", 3, 2, "contrast", rows)
    assert used_cv == "bonferroni"


def test_adjust_names_checked() -> None:
    with pytest.raises(ValueError, match="adjust="):
        adjusted_p_values(np.ones(2), np.ones(2) * 9, "hommel", 3, 2, "pairs", [np.arange(2)])
    with pytest.raises(NotImplementedError, match="mvt"):
        adjusted_p_values(np.ones(2), np.ones(2) * 9, "mvt", 3, 2, "pairs", [np.arange(2)])


def test_consec_needs_an_adjustment() -> None:
    m = lf.lmer("strength ~ cask + (1 | batch) + (1 | sample)", lf.load_dataset("pastes"))
    e = lf.emmeans(m, "cask")
    with pytest.raises(NotImplementedError, match="mvt"):
        lf.contrasts(e, "consec")
    assert len(lf.contrasts(e, "consec", adjust="none")) == 2
    with pytest.raises(ValueError, match="by="):
        lf.contrasts(e, "pairwise", by="nope")
