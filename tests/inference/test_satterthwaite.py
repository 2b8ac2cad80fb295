"""Satterthwaite's df (lmerTest 3.1-3): the reference values, contrasts, F tests and their invariances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.inference import derivatives as dv
from lmmflow.inference import satterthwaite as st

from ..conftest import load_case


def _norm(name: str) -> str:
    s = str(name).lower().replace("[t.", "").replace("]", "").replace("(", "").replace(")", "")
    return ":".join(sorted(s.split(":")))


def _fit(case: dict) -> lf.LmerResult:
    return lf.lmer(case["formula"], load_case(case), reml=case["reml"], quiet=True)


def test_reference_df_and_p(reference: dict) -> None:
    """df, t and p of every coefficient of every reference case agree with lmerTest (df and t rel 1e-4, p
    rel 1e-3: the df depend, to first order, on how closely the optimizer reached the optimum)."""
    for case in reference["cases"]:
        m = _fit(case)
        t = m.coef_table(ddf="satterthwaite")
        got = {_norm(i): r for i, r in t.iterrows()}
        for term, df_want in case["satterthwaite"]["df"].items():
            row = got[_norm(term)]
            assert row["df"] == pytest.approx(df_want, rel=1e-4), (case["name"], term)
            assert row["p_value"] == pytest.approx(case["satterthwaite"]["p"][term], rel=1e-3), (case["name"], term)
            assert row["t_value"] == pytest.approx(case["satterthwaite"]["t"][term], rel=1e-4), (case["name"], term)


def test_singular_fit_gives_residual_df(reference: dict) -> None:
    """At theta = 0 the derivative of Var(beta) in theta vanishes: df = n - p, as lmerTest (29)."""
    case = next(c for c in reference["cases"] if c["name"] == "dyestuff2_singular")
    m = _fit(case)
    assert st.satterthwaite_df(m)[0] == pytest.approx(m.nobs - 1, rel=1e-9)


def test_contrast_ttest_matches_coef_table(sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    t = m.coef_table()
    r = st.contrast_ttest(m, [0, 1])
    assert r["df"] == pytest.approx(t.loc["Days", "df"], rel=1e-12)
    assert r["t_value"] == pytest.approx(t.loc["Days", "t_value"], rel=1e-12)
    assert r["p_value"] == pytest.approx(t.loc["Days", "p_value"], rel=1e-12)


def test_single_row_f_is_t_squared(sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy)
    t = m.coef_table()
    for i, name in enumerate(m.fixef_names):
        L = np.eye(2)[[i]]
        f = st.contrast_ftest(m, L)
        assert f["f_value"] == pytest.approx(t.loc[name, "t_value"] ** 2, rel=1e-12)
        assert f["den_df"] == pytest.approx(t.loc[name, "df"], rel=1e-12)
        assert f["p_value"] == pytest.approx(t.loc[name, "p_value"], rel=1e-9)
        assert f["num_df"] == 1


def test_multi_df_f_is_wald_and_invariant(reference: dict) -> None:
    """The eigen-decomposition F equals the Wald statistic / q, and F, df and p do not change when the
    rows of L are replaced by a non-singular combination of them (or a redundant row is added)."""
    case = next(c for c in reference["cases"] if c["name"] == "cake_factorial")
    m = _fit(case)
    beta, V = m.fixef.to_numpy(), m.vcov.to_numpy()
    L = np.zeros((2, 6))
    L[0, 1] = L[1, 2] = 1.0
    r = st.contrast_ftest(m, L)
    Lb = L @ beta
    assert r["f_value"] == pytest.approx(Lb @ np.linalg.solve(L @ V @ L.T, Lb) / 2, rel=1e-10)
    A = np.array([[2.0, 1.0], [-1.0, 3.0]])
    r2 = st.contrast_ftest(m, A @ L)
    r3 = st.contrast_ftest(m, np.vstack([L, L[0] + L[1]]))
    for other in (r2, r3):
        assert other["num_df"] == 2
        assert other["f_value"] == pytest.approx(r["f_value"], rel=1e-9)
        assert other["p_value"] == pytest.approx(r["p_value"], rel=1e-7)
    assert r["sum_sq"] == pytest.approx(r["f_value"] * m.sigma ** 2 * 2, rel=1e-12)


def test_fstat_ddf_rules() -> None:
    assert st.fstat_ddf(np.array([7.5])) == 7.5
    assert st.fstat_ddf(np.array([10.0, 10.0])) == 10.0
    assert st.fstat_ddf(np.array([1.5, 20.0])) == 2.0
    nu = np.array([5.0, 20.0])
    E = np.sum(nu / (nu - 2))
    assert st.fstat_ddf(nu) == pytest.approx(2 * E / (E - 2))


def test_info_is_cached_and_named(sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    a = st.satterthwaite_info(m)
    assert st.satterthwaite_info(m) is a
    assert a.varpar_names == ["Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days", "sigma"]
    assert a.method == "analytic"
    np.testing.assert_allclose(a.vcov_varpar, a.vcov_varpar.T)


def test_finite_difference_fallback_for_large_crossed_models(reference: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond the exact size limit the df come from finite differences of the exact functions and still
    agree with lmerTest (here forced on the penicillin model)."""
    case = next(c for c in reference["cases"] if c["name"] == "penicillin_crossed")
    m = _fit(case)
    monkeypatch.setattr(dv, "DENSE_MAX", 10)
    info = st.satterthwaite_info(m)
    assert info.method == "finite differences"
    df = st.satterthwaite_df(m)[0]
    assert df == pytest.approx(case["satterthwaite"]["df"]["(Intercept)"], rel=1e-5)


def test_ml_fit_uses_ml_deviance(reference: dict) -> None:
    case = next(c for c in reference["cases"] if c["name"] == "dyestuff_ml")
    m = _fit(case)
    assert st.satterthwaite_df(m)[0] == pytest.approx(case["satterthwaite"]["df"]["(Intercept)"], rel=1e-6)


def test_summary_shows_satterthwaite_by_default(sleepstudy: pd.DataFrame) -> None:
    """As lmerTest's summary: Satterthwaite's df and p-values unless asked otherwise."""
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    text = str(m.summary())
    assert "t-tests use Satterthwaite's method" in text and "Pr(>|t|)" in text
    pd.testing.assert_frame_equal(m.summary().coefficients, m.coef_table(ddf="satterthwaite"))
    assert "Pr(>|t|)" not in str(m.summary(ddf="none"))
    t = m.coef_table(ddf="residual")
    np.testing.assert_array_equal(t["df"], m.nobs - 2)
    assert np.isinf(m.coef_table(ddf="none")["df"]).all()
    with pytest.raises(ValueError, match="ddf"):
        m.coef_table(ddf="bogus")
