"""Nakagawa's R² and the ICC against the reference (performance 0.10-2) and their definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.diagnostics.variance import SingularFitWarning, variance_decomposition

from ..conftest import load_case


def test_reference_r2_and_icc(reference: dict) -> None:
    """Every case with R² / ICC in the reference, including random slopes, agrees to 1e-5 absolute."""
    n = 0
    for case in reference["cases"]:
        if "r2" not in case:
            continue
        m = lf.lmer(case["formula"], load_case(case), reml=case["reml"], quiet=True)
        with pytest.warns(SingularFitWarning) if case["singular"] else _nowarn():
            r, i = lf.r2(m), lf.icc(m)
        for k in ("marginal", "conditional"):
            assert r[k] == pytest.approx(case["r2"][k], abs=1e-5), (case["name"], k)
        for k in ("adjusted", "unadjusted"):
            assert i[k] == pytest.approx(case["icc"][k], abs=1e-5), (case["name"], k)
        n += 1
    assert n >= 10


class _nowarn:
    def __enter__(self) -> None:
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error", SingularFitWarning)

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)


def test_random_intercept_closed_form(sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy)
    tau2 = float(m.varcorr["vcov"].iloc[0])
    s2 = m.sigma ** 2
    vf = np.var(m.design.X @ m.fixef.to_numpy(), ddof=1)
    assert lf.icc(m)["adjusted"] == pytest.approx(tau2 / (tau2 + s2), rel=1e-12)
    assert lf.r2(m)["marginal"] == pytest.approx(vf / (vf + tau2 + s2), rel=1e-12)
    assert lf.r2(m)["conditional"] == pytest.approx((vf + tau2) / (vf + tau2 + s2), rel=1e-12)


def test_random_slope_uses_mean_over_rows(sleepstudy: pd.DataFrame) -> None:
    """Johnson (2014): var_r = mean_i z_i' Sigma z_i, here with z_i = (1, Days_i)."""
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    S = m.re_covariances[0]
    z = np.column_stack([np.ones(len(sleepstudy)), sleepstudy["Days"]])
    want = np.mean(np.einsum("ip,pq,iq->i", z, S, z))
    assert variance_decomposition(m)["random"] == pytest.approx(want, rel=1e-12)


def test_singular_fit_warns_and_returns_zero(reference: dict) -> None:
    case = next(c for c in reference["cases"] if c["name"] == "dyestuff2_singular")
    m = lf.lmer(case["formula"], load_case(case), quiet=True)
    with pytest.warns(SingularFitWarning, match="singular"):
        i = lf.icc(m)
    assert i["adjusted"] == pytest.approx(0.0, abs=1e-8)
