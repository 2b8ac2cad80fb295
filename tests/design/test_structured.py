"""Structured random-effects covariances: us/diag/cs/homcs/ar1(x | g), against glmmTMB (tests/reference/structured.json,
made by tests/reference/make_structured.R) and lme4's equivalents, and what a structured fit supports downstream."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.formula import FormulaError, RandomTerm, parse_formula

REF = Path(__file__).resolve().parents[1] / "reference"
CASES = json.loads((REF / "structured.json").read_text())["cases"]

# glmmTMB's criterion is lme4's: -2 log L (ML) and the REML criterion with the same constants (checked here to
# 1e-6 relative); glmmTMB (nlminb) stops with gradients near 1e-4, so estimates are compared at 1e-4
OBJ_RTOL = 1e-6
EST_TOL = 1e-4


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / "data" / name)


def _fit(case: dict, **kw) -> lf.LmerResult:
    return lf.lmer(case["formula"], _data(case["data"]), reml=case["reml"], **kw)


@pytest.fixture(scope="module")
def fits() -> dict[str, lf.LmerResult]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {c["name"]: _fit(c) for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_against_glmmtmb(case, fits):
    m = fits[case["name"]]
    assert m.objective == pytest.approx(case["objective"], rel=OBJ_RTOL)
    assert m.objective <= case["objective"] + 1e-6  # at least as good an optimum as glmmTMB's
    assert m.loglik == pytest.approx(case["loglik"], rel=OBJ_RTOL)
    assert np.allclose(m.fixef.to_numpy(), list(case["fixef"].values()), rtol=EST_TOL, atol=EST_TOL)
    # lme4's standard errors, sigma^2 (X'V^-1 X)^-1, computed in R at glmmTMB's estimates
    assert np.allclose(m.std_errors.to_numpy(), case["se_lme4"], rtol=EST_TOL)
    assert m.sigma == pytest.approx(case["sigma"], rel=EST_TOL)
    vc = m.varcorr
    part = vc[vc["group"] == case["group"]]
    sds = part[part["var2"].isna()]["sdcor"].to_numpy()
    assert np.allclose(sds, case["sd"], rtol=EST_TOL)
    cors = part[part["var2"].notna()]["sdcor"].to_numpy()
    kind = case["name"].split("_")[1]
    if kind == "diag":
        assert len(cors) == 0  # uncorrelated by construction (glmmTMB's correlation 0 is not printed)
    else:
        # glmmTMB's lower triangle column by column is lmmflow's row order (var1 < var2 by position)
        R = np.asarray(case["cor_matrix"], dtype=float)
        p = R.shape[0]
        expected = [R[j, i] for i in range(p) for j in range(i + 1, p)]
        assert np.allclose(cors, expected, atol=EST_TOL)
    # the structure's own parameters: SDs relative to sigma, then the correlation
    rel = np.asarray(case["sd"]) / case["sigma"]
    theta = m.theta
    if kind.startswith("ar1"):  # ar1site: the ar1 term's parameters come first, then (1 | site)'s
        assert np.allclose(theta[:2], [rel[0], case["cor"][0]], rtol=EST_TOL, atol=EST_TOL)
    elif kind == "cs":
        assert np.allclose(theta, [*rel, case["cor"][0]], rtol=EST_TOL, atol=EST_TOL)
    elif kind == "diag":
        assert np.allclose(theta, rel, rtol=EST_TOL)
    re = m.ranef[case["group"]].loc[[str(v) for v in case["ranef_levels"]]].to_numpy()
    assert np.allclose(re, case["ranef"], rtol=EST_TOL, atol=EST_TOL * np.abs(case["ranef"]).max())


def test_theta_names_and_summary(fits):
    m = fits["waves_ar1_reml"]
    assert m.design.theta_names() == ["id.sd", "id.rho"]
    assert m.npar == 2 + 2 + 1
    text = str(m.summary())
    assert "ar1(0 + wave | id)" in text and "0.67" in text
    c = fits["waves_cs_ml"]
    assert c.design.theta_names()[-1] == "id.rho" and len(c.theta) == 6
    d = fits["growth_diag_reml"]
    assert "Corr" not in str(d.summary()).split("Random effects:")[1].split("Residual")[0]


def test_diag_equals_double_bar():
    """diag(x | g) with numeric x is lme4's (x || g): the same model, the same numbers."""
    growth = _data("growth.csv")
    for reml in (True, False):
        a = lf.lmer("y ~ time + diag(time | id)", growth, reml=reml)
        b = lf.lmer("y ~ time + (time || id)", growth, reml=reml)
        assert a.objective == pytest.approx(b.objective, rel=1e-10)
        assert np.allclose(a.theta, b.theta, rtol=1e-5)
        assert np.allclose(a.fixef, b.fixef, rtol=1e-8)
        assert np.allclose(a.std_errors, b.std_errors, rtol=1e-6)


def test_us_and_two_effect_cs_are_lmes_unstructured():
    growth = _data("growth.csv")
    plain = lf.lmer("y ~ time + (time | id)", growth)
    us = lf.lmer("y ~ time + us(time | id)", growth)
    cs = lf.lmer("y ~ time + cs(time | id)", growth)  # two effects: two SDs and one correlation
    assert us.objective == plain.objective and np.array_equal(us.theta, plain.theta)
    assert cs.objective == pytest.approx(plain.objective, rel=1e-9)
    assert np.allclose(cs.re_covariances[0], plain.re_covariances[0], rtol=1e-4)


def test_homcs_is_cs_with_one_sd():
    waves = _data("waves.csv")
    hom = lf.lmer("y ~ time + homcs(0 + wave | id)", waves, reml=False)
    het = lf.lmer("y ~ time + cs(0 + wave | id)", waves, reml=False)
    assert len(hom.theta) == 2 and hom.design.theta_names() == ["id.sd", "id.rho"]
    assert hom.objective >= het.objective - 1e-8  # nested in cs
    sd = hom.varcorr["sdcor"].to_numpy()[:5]
    assert np.allclose(sd, sd[0])


def test_anova_between_structures(fits):
    m_ar1, m_cs = fits["waves_ar1_ml"], fits["waves_cs_ml"]
    tab = lf.anova(m_ar1, m_cs)
    assert tab["npar"].tolist() == [5, 9]
    assert tab["deviance"].to_numpy() == pytest.approx([m_ar1.deviance, m_cs.deviance])
    assert tab["df"].iloc[1] == 4
    m_us = lf.lmer("y ~ time + us(0 + wave | id)", _data("waves.csv"), reml=False)
    tab = lf.anova(m_cs, m_us)  # cs is nested in us: us fits at least as well
    assert tab["npar"].tolist() == [9, 18]
    assert m_us.deviance <= m_cs.deviance + 1e-6
    assert tab["chisq"].iloc[1] == pytest.approx(m_cs.deviance - m_us.deviance, abs=1e-6)


@pytest.mark.parametrize("formula, match", [
    ("y ~ x + cs(x || g)", "double bar"),
    ("y ~ x + ar1(1 | g)", "needs at least 2"),
    ("y ~ x + cs(x | a/b)", "one structured term per grouping factor"),
])
def test_formula_errors(formula, match):
    df = pd.DataFrame({"y": np.arange(12.0), "x": np.tile([0.0, 1.0, 2.0], 4), "g": np.repeat(list("abcd"), 3),
                       "a": np.repeat(list("ab"), 6), "b": np.tile(list("xy"), 6)})
    with pytest.raises(FormulaError, match=match):
        lf.lmer(formula, df)


@pytest.mark.parametrize("formula, terms", [
    ("y ~ t + ar1(0 + f | id)", (RandomTerm("0 + f", ("id",), True, "ar1"),)),
    ("y ~ t + cs(1 + t | id) + (1 | site)", (RandomTerm("1 + t", ("id",), True, "cs"), RandomTerm("1", ("site",)))),
    ("y ~ diag(t | id)", (RandomTerm("t", ("id",), True, "diag"),)),
    ("y ~ homcs(0 + f | a:b)", (RandomTerm("0 + f", ("a", "b"), True, "homcs"),)),
    ("y ~ us(t | id)", (RandomTerm("t", ("id",), True, "us"),)),
    ("y ~ t + (ar1(0 + f | id))", (RandomTerm("0 + f", ("id",), True, "ar1"),)),
    ("y ~ ar1 (0 + f | id) + t", (RandomTerm("0 + f", ("id",), True, "ar1"),)),
])
def test_parse(formula, terms):
    parsed = parse_formula(formula)
    assert parsed.random == terms
    assert parsed.fixed in ("t", "1")
    assert terms[0].label.startswith(terms[0].kind + "(")


def test_structured_term_is_its_own_term():
    waves = _data("waves.csv")
    d = lf.lformula("y ~ time + ar1(0 + wave | id) + (1 | id)", waves)
    assert [t.kind for t in d.terms] == ["ar1", None]
    assert d.theta_names() == ["id.sd", "id.rho", "id.(Intercept)"]


def test_kenward_roger_and_profile_refuse(fits):
    m = fits["waves_ar1_reml"]
    with pytest.raises(NotImplementedError, match="ar1"):
        m.coef_table(ddf="kenward-roger")
    with pytest.raises(NotImplementedError, match="ar1"):
        m.confint(method="profile")
    # Satterthwaite works, in the structure's parameters
    tab = m.coef_table()
    assert np.all(np.isfinite(tab["df"])) and np.all(tab["df"] > 50)


def test_bootstrap_simulate_predict(fits):
    m = fits["waves_ar1_ml"]
    b = lf.bootstrap(m, nsim=4, seed=1, progress=False)
    assert b.replicates.shape[0] == 4 and np.isfinite(b.replicates.to_numpy()).all()
    waves = _data("waves.csv")
    y = lf.simulate("y ~ time + ar1(0 + wave | id)", waves,
                    {"beta": [10, 0.5], "theta": {"id.sd": 1.4, "id.rho": 0.6}, "sigma": 1.5}, seed=2)
    assert y.shape == (len(waves), 1)
    with pytest.raises(ValueError, match="out of bounds"):
        lf.simulate("y ~ time + ar1(0 + wave | id)", waves, {"beta": [10, 0.5], "theta": [1.0, 1.5], "sigma": 1})
    p = m.predict(waves.head(4))
    assert np.allclose(p, m.fitted.head(4))
    assert m.simulate(2, seed=3).shape == (len(waves), 2)


def test_satterthwaite_is_invariant_to_the_parametrization():
    """cs with two effects is the unstructured model in other parameters: the same Satterthwaite df (lmerTest's
    df are invariant at an interior optimum), here chained through the map to (s1, s2, rho, sigma) against the
    analytic derivatives in lme4's (theta, sigma)."""
    g = _data("growth_unbalanced.csv")
    a = lf.lmer("y ~ time + cs(time | id)", g)
    b = lf.lmer("y ~ time + (time | id)", g)
    assert a.objective == pytest.approx(b.objective, rel=1e-10)
    assert np.allclose(a.coef_table()["df"], b.coef_table()["df"], rtol=1e-5)


def test_factor_call_points_to_c():
    with pytest.raises(lf.DataError, match=r"factor\(x\) is C\(x\)"):
        lf.lmer("y ~ time + ar1(0 + factor(time) | id)", _data("waves.csv"))
    m = lf.lmer("y ~ time + ar1(0 + C(time) | id)", _data("waves.csv"))
    ref = next(c for c in CASES if c["name"] == "waves_ar1_reml")
    assert m.objective == pytest.approx(ref["objective"], rel=OBJ_RTOL)


def test_dask_frames_refuse_structures():
    dd = pytest.importorskip("dask.dataframe")
    ddf = dd.from_pandas(_data("waves.csv"), npartitions=2)
    with pytest.raises(FormulaError, match="ar1"):
        lf.lmer("y ~ time + ar1(0 + wave | id)", ddf)


@pytest.mark.parametrize("formula", ["y ~ time + cs(0 + wave | id)", "y2 ~ time + ar1(0 + wave | id) + (1 | site)"])
def test_satterthwaite_derivatives_chained_through_the_map(formula):
    """The Hessian of the deviance and the Jacobian of Var(beta) in (structure's parameters, sigma): analytic
    (chain rule through the map) against Richardson-extrapolated differences of the exact functions."""
    from lmmflow.inference.derivatives import fd_varpar_derivatives, variance_derivatives

    m = lf.lmer(formula, _data("waves.csv"))
    d = variance_derivatives(m)
    H, J = fd_varpar_derivatives(m)
    assert d.hessian_varpar.shape == (len(m.theta) + 1,) * 2
    assert np.allclose(d.hessian_varpar, H, rtol=1e-6, atol=1e-6 * np.abs(H).max())
    assert np.allclose(d.vcov_jacobian_varpar, J, rtol=1e-6, atol=1e-6 * np.abs(J).max())
