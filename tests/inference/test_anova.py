"""F tests of terms and contrasts, likelihood-ratio tests, ranova and the AIC table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmmflow as lf
from lmmflow.inference.anova import _boundary_p, type1_contrasts, type3_contrasts

from ..conftest import REFERENCE, load_case


def _case(reference: dict, name: str) -> dict:
    return next(c for c in reference["cases"] if c["name"] == name)


@pytest.fixture(scope="module")
def cake() -> lf.LmerResult:
    if not REFERENCE.exists():
        pytest.skip("reference data not found")
    df = pd.read_csv(REFERENCE.parent / "data" / "cake.csv")
    for f in ("recipe", "replicate"):
        df[f] = df[f].astype(str)
    return lf.lmer("angle ~ recipe * temp + (1 | recipe:replicate)", df, quiet=True)


def test_type3_contrasts_factor_by_numeric(cake: lf.LmerResult) -> None:
    """recipe: its own coefficients (at temp = 0); temp: the slope averaged over recipes; interaction: its own."""
    Ls = type3_contrasts(cake)
    assert list(Ls) == ["recipe", "temp", "recipe:temp"]
    np.testing.assert_allclose(Ls["recipe"], np.eye(6)[[1, 2]], atol=1e-12)
    np.testing.assert_allclose(Ls["temp"], [[0, 0, 0, 1, 1 / 3, 1 / 3]], atol=1e-7)
    np.testing.assert_allclose(Ls["recipe:temp"], np.eye(6)[[4, 5]], atol=1e-12)


def test_type3_table_values(cake: lf.LmerResult) -> None:
    a = lf.anova(cake)
    assert list(a.columns) == ["sum_sq", "mean_sq", "num_df", "den_df", "f_value", "p_value"]
    assert list(a["num_df"]) == [2, 1, 2]
    beta, V = cake.fixef.to_numpy(), cake.vcov.to_numpy()
    for term, L in a.attrs["hypotheses"].items():
        L = L.to_numpy()
        Lb = L @ beta
        wald = Lb @ np.linalg.solve(L @ V @ L.T, Lb) / L.shape[0]
        assert a.loc[term, "f_value"] == pytest.approx(wald, rel=1e-9)
        assert a.loc[term, "mean_sq"] == pytest.approx(wald * cake.sigma ** 2, rel=1e-9)
    # the interaction's df are the coefficients' Satterthwaite df (balanced design: all equal)
    t = cake.coef_table()
    assert a.loc["recipe:temp", "den_df"] == pytest.approx(t.loc["recipe[T.B]:temp", "df"], rel=1e-8)
    assert a.loc["recipe", "den_df"] == pytest.approx(t.loc["recipe[T.B]", "df"], rel=1e-8)


def test_single_coefficient_f_equals_t_squared(sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    a = lf.anova(m)
    t = m.coef_table()
    assert a.loc["Days", "f_value"] == pytest.approx(t.loc["Days", "t_value"] ** 2, rel=1e-12)
    assert a.loc["Days", "den_df"] == pytest.approx(t.loc["Days", "df"], rel=1e-12)
    assert a.loc["Days", "p_value"] == pytest.approx(t.loc["Days", "p_value"], rel=1e-9)
    c = lf.contrast(m, "Days", joint=True)
    assert c["f_value"].iloc[0] == pytest.approx(t.loc["Days", "t_value"] ** 2, rel=1e-12)


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (Days | Subject)", "Reaction ~ Days + (1 | Subject)"])
def test_single_coefficient_kr_f_equals_kr_t_squared(sleepstudy: pd.DataFrame, formula: str) -> None:
    """With one numerator df Kenward-Roger's F scaling is exactly 1 (A1 = A2 when q = 1), so the KR F test of
    a coefficient is its squared KR t test, with the same df and p (lmerTest: 45.853 on 1 and 17 df)."""
    m = lf.lmer(formula, sleepstudy)
    a = lf.anova(m, ddf="kenward-roger")
    t = m.coef_table(ddf="kenward-roger")
    assert a.loc["Days", "f_value"] == pytest.approx(t.loc["Days", "t_value"] ** 2, rel=1e-10)
    assert a.loc["Days", "den_df"] == pytest.approx(t.loc["Days", "df"], rel=1e-10)
    assert a.loc["Days", "p_value"] == pytest.approx(t.loc["Days", "p_value"], rel=1e-8)
    c = lf.contrast(m, "Days", ddf="kenward-roger")
    assert c.loc["Days", "t_value"] == pytest.approx(t.loc["Days", "t_value"], rel=1e-12)
    assert c.loc["Days", "df"] == pytest.approx(t.loc["Days", "df"], rel=1e-12)


def test_numeric_terms_without_interaction(reference: dict) -> None:
    """With two numeric terms (and no factors) type III tests each coefficient: F = t^2."""
    case = _case(reference, "growth_rs_reml")
    d = load_case(case)
    d["t2"] = d["time"] ** 2
    m = lf.lmer("y ~ time + t2 + (1 + time | id)", d, quiet=True)
    a = lf.anova(m)
    t = m.coef_table()
    for term in ("time", "t2"):
        assert a.loc[term, "f_value"] == pytest.approx(t.loc[term, "t_value"] ** 2, rel=1e-10)
        assert a.loc[term, "den_df"] == pytest.approx(t.loc[term, "df"], rel=1e-10)


def test_factor_main_effect_without_interaction(cake: lf.LmerResult) -> None:
    m = lf.lmer("angle ~ recipe + temp + (1 | recipe:replicate)", cake.data, quiet=True)
    Ls = type3_contrasts(m)
    np.testing.assert_allclose(Ls["recipe"], np.eye(4)[[1, 2]], atol=1e-12)
    np.testing.assert_allclose(Ls["temp"], np.eye(4)[[3]], atol=1e-12)


def test_kenward_roger_table(cake: lf.LmerResult) -> None:
    a = lf.anova(cake, ddf="kenward-roger")
    assert "Kenward-Roger" in a.attrs["heading"]
    assert np.all(np.isfinite(a["p_value"]))
    ml = cake.update(reml=False)
    with pytest.raises(ValueError, match="Kenward-Roger needs a REML fit"):
        lf.anova(ml, ddf="kenward-roger")
    with pytest.raises(ValueError, match="Kenward-Roger needs a REML fit"):
        lf.contrast(ml, [[0, 0, 0, 1, 0, 0]], ddf="kenward-roger")
    with pytest.raises(ValueError, match="Kenward-Roger needs a REML fit"):
        lf.contrast(ml, [[0, 0, 0, 1, 0, 0]], ddf="kenward-roger", joint=True)


def test_type1_single_term(sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy)
    np.testing.assert_allclose(type1_contrasts(m)["Days"], [[0.0, 1.0]])
    a1 = lf.anova(m, type="I")
    assert a1.loc["Days", "f_value"] == pytest.approx(lf.anova(m).loc["Days", "f_value"])


def test_printing_uses_r_names(cake: lf.LmerResult) -> None:
    text = repr(lf.anova(cake))
    for name in ("Type III Analysis of Variance Table with Satterthwaite's method", "Sum Sq", "Mean Sq", "NumDF",
                 "DenDF", "F value", "Pr(>F)", "recipe:temp"):
        assert name in text
    assert "<table" in lf.anova(cake)._repr_html_()


def test_contrast_forms(sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    a = lf.contrast(m, {"day10": {"(Intercept)": 1, "Days": 10}})
    b = lf.contrast(m, pd.DataFrame({"(Intercept)": [1.0], "Days": [10.0]}, index=["day10"]))
    c = lf.contrast(m, [[1, 10]])
    for other in (b, c):
        assert other["estimate"].iloc[0] == pytest.approx(a["estimate"].iloc[0])
        assert other["df"].iloc[0] == pytest.approx(a["df"].iloc[0])
    beta = m.fixef.to_numpy()
    assert a.loc["day10", "estimate"] == pytest.approx(beta[0] + 10 * beta[1])
    k = lf.contrast(m, [[1, 10]], ddf="kenward-roger")
    assert k["df"].iloc[0] > 0
    with pytest.raises(KeyError):
        lf.contrast(m, {"x": {"Nope": 1}})
    with pytest.raises(ValueError):
        lf.contrast(m, [[1, 2, 3]])


# ---- likelihood-ratio tests ----------------------------------------------------------------------
def test_lrt_matches_reference(reference: dict) -> None:
    for key, cmp in reference["comparisons"].items():
        df = pd.read_csv(REFERENCE.parent / cmp["data"])
        for col in df.columns:
            if df[col].dtype == object:
                df[col] = df[col].astype(str)
        ms = [lf.lmer(f, df, quiet=True) for f in cmp["formulas"]]
        a = lf.anova(ms[1], ms[0])  # given in reverse order: sorted by npar
        assert list(a["npar"]) == cmp["npar"], key
        np.testing.assert_allclose(a["aic"], cmp["aic"], rtol=1e-8)
        np.testing.assert_allclose(a["bic"], cmp["bic"], rtol=1e-8)
        np.testing.assert_allclose(a["loglik"], cmp["loglik"], rtol=1e-8)
        np.testing.assert_allclose(a["deviance"], cmp["deviance"], rtol=1e-8)
        last = a.iloc[-1]
        assert last["chisq"] == pytest.approx(cmp["chisq"], rel=1e-6)
        assert last["df"] == cmp["df"]
        assert last["p_value"] == pytest.approx(cmp["p"], rel=1e-5)
        assert "ML" in a.attrs["note"] and "ML" in repr(a)
        # the larger model adds a variance: the 50:50 mixture p-value is attached, and smaller
        assert last["p_boundary"] < last["p_value"]
        assert last["p_boundary"] == pytest.approx(
            0.5 * stats.chi2.sf(last["chisq"], 1) + 0.5 * stats.chi2.sf(last["chisq"], 2))


def test_lrt_fixed_effects(sleepstudy: pd.DataFrame) -> None:
    m0 = lf.lmer("Reaction ~ 1 + (Days | Subject)", sleepstudy, reml=False)
    m1 = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy, reml=False)
    a = lf.anova(m0, m1)
    assert a.iloc[-1]["chisq"] == pytest.approx(2 * (m1.loglik - m0.loglik))
    assert "p_boundary" not in a.columns
    assert a.attrs["note"] == ""


def test_lrt_different_rows_or_response_raise(sleepstudy: pd.DataFrame) -> None:
    m1 = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    m2 = lf.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy.iloc[:-10])
    with pytest.raises(ValueError, match="different rows"):
        lf.anova(m1, m2)
    shuffled = sleepstudy.copy()
    shuffled.index = shuffled.index[::-1]
    m3 = lf.lmer("Reaction ~ Days + (1 | Subject)", shuffled)
    with pytest.raises(ValueError, match="different rows"):
        lf.anova(m1, m3)
    d = sleepstudy.assign(logR=np.log(sleepstudy["Reaction"]))
    m4 = lf.lmer("logR ~ Days + (1 | Subject)", d)
    with pytest.raises(ValueError, match="different responses"):
        lf.anova(m1, m4)
    with pytest.raises(ValueError, match="different rows"):
        lf.compare_models(m1, m2)


# ---- ranova ---------------------------------------------------------------------------------------------
def test_ranova_matches_manual_lrt(sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    r = lf.ranova(m)
    assert list(r.index) == ["<none>", "Days in (Days | Subject)"]
    reduced = lf.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy)
    lrt = 2 * (m.loglik - reduced.loglik)
    row = r.loc["Days in (Days | Subject)"]
    assert row["lrt"] == pytest.approx(lrt, rel=1e-7)
    assert row["df"] == 2 and row["npar"] == reduced.npar
    assert row["p_value"] == pytest.approx(stats.chi2.sf(lrt, 2), rel=1e-6)
    assert row["aic"] == pytest.approx(-2 * reduced.loglik + 2 * reduced.npar)
    assert r.loc["<none>", "loglik"] == pytest.approx(m.loglik)


def test_ranova_only_term_uses_linear_model(sleepstudy: pd.DataFrame) -> None:
    """Dropping the only random term leaves the linear model; its REML log-likelihood equals the mixed
    model's REML criterion at theta = 0, and its ML one OLS's log-likelihood."""
    for reml in (True, False):
        m = lf.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy, reml=reml)
        r = lf.ranova(m)
        dev0 = lf.make_deviance("Reaction ~ Days + (1 | Subject)", sleepstudy, reml=reml)([0.0])
        row = r.loc["(1 | Subject)"]
        assert row["loglik"] == pytest.approx(-0.5 * dev0, rel=1e-10)
        assert row["npar"] == 3 and row["df"] == 1
        assert row["lrt"] == pytest.approx(2 * (m.loglik + 0.5 * dev0), rel=1e-8)
    X = np.column_stack([np.ones(len(sleepstudy)), sleepstudy["Days"]])
    y = sleepstudy["Reaction"].to_numpy()
    rss = np.sum((y - X @ np.linalg.lstsq(X, y, rcond=None)[0]) ** 2)
    n = len(y)
    ll_ml = -0.5 * n * (math.log(2 * math.pi) + 1 - math.log(n) + math.log(rss))
    assert r.loc["(1 | Subject)", "loglik"] == pytest.approx(ll_ml, rel=1e-10)


def test_ranova_uncorrelated_and_crossed(reference: dict, sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (Days || Subject)", sleepstudy)
    r = lf.ranova(m)
    assert list(r.index) == ["<none>", "(1 | Subject)", "Days in (0 + Days | Subject)"]
    red = lf.lmer("Reaction ~ Days + (0 + Days | Subject)", sleepstudy)
    assert r.loc["(1 | Subject)", "lrt"] == pytest.approx(2 * (m.loglik - red.loglik), rel=1e-6)
    case = _case(reference, "penicillin_crossed")
    m = lf.lmer(case["formula"], load_case(case), quiet=True)
    r = lf.ranova(m)
    assert list(r.index) == ["<none>", "(1 | plate)", "(1 | sample)"]
    assert np.all(r["lrt"].iloc[1:] > 0)


def test_boundary_mixture() -> None:
    assert _boundary_p(0.0, 1) == pytest.approx(1.0)
    assert _boundary_p(3.84, 1) == pytest.approx(0.5 * stats.chi2.sf(3.84, 1))
    assert _boundary_p(5.0, 2) == pytest.approx(0.5 * stats.chi2.sf(5.0, 1) + 0.5 * stats.chi2.sf(5.0, 2))


# ---- compare_models -----------------------------------------------------------------------------------
def test_compare_models(sleepstudy: pd.DataFrame) -> None:
    m0 = lf.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy)
    m1 = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    t = lf.compare_models(m0, m1, names=["ri", "rs"])
    assert list(t.index) == ["ri", "rs"]
    assert t["aic_weight"].sum() == pytest.approx(1.0)
    assert t.loc["rs", "delta_aic"] == 0.0
    assert t.loc["ri", "aic"] == pytest.approx(m0.aic)  # same fixed effects: REML criteria kept
    m2 = lf.lmer("Reaction ~ 1 + (Days | Subject)", sleepstudy)
    t2 = lf.compare_models(m1, m2)
    assert "ML" in t2.attrs["note"]
    assert t2.loc["m1", "aic"] == pytest.approx(m1.update(reml=False).aic)
    w = np.exp(-0.5 * t2["delta_aic"])
    np.testing.assert_allclose(t2["aic_weight"], w / w.sum())


# ---- type I / II / III tables and contestMD against lmerTest (tests/reference/make_inference.R) ----------

_REFDIR = Path(__file__).parents[1] / "reference"
INF = json.loads((_REFDIR / "inference.json").read_text())


def _inf_fit(case: dict) -> lf.LmerResult:
    d = pd.read_csv(_REFDIR / case["data"])
    for col in case["factors"]:
        d[col] = d[col].astype(str)
    return lf.lmer(case["formula"], d, quiet=True)


@pytest.fixture(scope="module", params=sorted(INF["models"]))
def inf_case(request: pytest.FixtureRequest) -> tuple[dict, lf.LmerResult]:
    case = INF["models"][request.param]
    return case, _inf_fit(case)


@pytest.mark.parametrize("ddf, key", [("satterthwaite", "satterthwaite"), ("kenward-roger", "kenward_roger")])
@pytest.mark.parametrize("type_", [1, 2, 3])
def test_anova_types_match_lmertest(inf_case: tuple[dict, lf.LmerResult], ddf: str, key: str, type_: int) -> None:
    case, m = inf_case
    want = {k: v if isinstance(v, list) else [v] for k, v in case["anova"][key][f"type{type_}"].items()}
    a = lf.anova(m, type=type_, ddf=ddf)
    assert [t.replace(" ", "") for t in a.index] == [t.replace(" ", "") for t in want["term"]]
    for col in ("sum_sq", "mean_sq", "den_df", "f_value", "p_value"):
        np.testing.assert_allclose(a[col].to_numpy(dtype=float), np.asarray(want[col], dtype=float), rtol=2e-5,
                                   err_msg=f"{case['formula']} type {type_} {ddf} {col}")
    np.testing.assert_array_equal(a["num_df"], want["num_df"])
    roman = {1: "I", 2: "II", 3: "III"}[type_]
    b = lf.anova(m, type=roman, ddf=ddf)
    pd.testing.assert_frame_equal(a, b)
    assert b.attrs["heading"].startswith(f"Type {roman} Analysis")


def test_type2_differs_from_type3_only_for_contained_terms() -> None:
    case = INF["models"]["fg_interaction"]
    m = _inf_fit(case)
    a2, a3 = lf.anova(m, type=2), lf.anova(m, type=3)
    assert a2.loc["f:g", "f_value"] == pytest.approx(a3.loc["f:g", "f_value"], rel=1e-10)  # not contained
    assert a2.loc["g", "f_value"] != pytest.approx(a3.loc["g", "f_value"], rel=1e-3)  # contained in f:g
    with pytest.raises(ValueError, match="'III', 'II' or 'I'"):
        lf.anova(m, type=4)


@pytest.mark.parametrize("name", [k for k in INF["contests"]["cases"] if k != "zero_rows"])
@pytest.mark.parametrize("ddf, key", [("satterthwaite", "satterthwaite"), ("kenward-roger", "kenward_roger")])
def test_joint_contrast_with_rank_deficient_L_as_lmertest(name: str, ddf: str, key: str) -> None:
    info = INF["contests"]
    m = _inf_fit({"data": info["data"], "formula": info["formula"], "factors": ["f", "g", "Subject"]})
    c = info["cases"][name]
    r = lf.contrast(m, np.asarray(c["L"], dtype=float), ddf=ddf, joint=True)
    assert len(r) == 1 and int(r["num_df"].iloc[0]) == c[key]["num_df"]
    for col in ("sum_sq", "mean_sq", "den_df", "f_value", "p_value"):
        assert float(r[col].iloc[0]) == pytest.approx(c[key][col], rel=1e-5), col


def test_zero_row_contrast_gives_an_empty_table_as_lmertest() -> None:
    info = INF["contests"]
    assert info["cases"]["zero_rows"]["nrow"] == 0
    m = _inf_fit({"data": info["data"], "formula": info["formula"], "factors": ["f", "g", "Subject"]})
    p = len(m.fixef_names)
    for L in (np.zeros((0, p)), np.zeros((2, p))):  # no rows; rows of rank 0
        for ddf in ("satterthwaite", "kenward-roger"):
            r = lf.contrast(m, L, joint=True, ddf=ddf)
            assert len(r) == 0
            assert list(r.columns) == ["sum_sq", "mean_sq", "num_df", "den_df", "f_value", "p_value"]
    assert len(lf.contrast(m, np.zeros((0, p)))) == 0
