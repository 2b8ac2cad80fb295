"""GlmerResult: what a glmer user expects of the result (R's numbers are in tests/reference/test_glmm_reference.py)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.exceptions import LmmflowWarning

DATA = Path(__file__).resolve().parents[1] / "reference" / "data"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def cbpp() -> pd.DataFrame:
    return lf.load_dataset("cbpp")


@pytest.fixture(scope="module")
def g(cbpp: pd.DataFrame) -> lf.GlmerResult:
    return lf.glmer(CBPP, cbpp, family="binomial")


@pytest.fixture(scope="module")
def owls() -> pd.DataFrame:
    df = pd.read_csv(DATA / "glmm_owls.csv")
    for c in ("Nest", "FoodTreatment", "SexParent"):
        df[c] = df[c].astype(str)
    return df


@pytest.fixture(scope="module")
def owl_fit(owls: pd.DataFrame) -> lf.GlmerResult:
    return lf.glmer("SiblingNegotiation ~ FoodTreatment + offset(log(BroodSize)) + (1 | Nest)", owls,
                    family="poisson")


def test_basic_facts(g: lf.GlmerResult) -> None:
    assert isinstance(g, lf.GlmerResult) and g.model_kind == "glmm"
    assert (g.family, g.link, g.nagq, g.nobs, g.ngroups) == ("binomial", "logit", 1, 56, {"herd": 15})
    assert g.npar == 5 and g.df_resid == 51 and g.sigma == 1.0 and not g.reml
    assert g.aic == pytest.approx(g.objective + 2 * 5) and g.bic == pytest.approx(g.objective + np.log(56) * 5)
    assert g.deviance == g.objective == pytest.approx(-2 * g.loglik)
    assert list(g.varcorr.columns) == ["group", "var1", "var2", "vcov", "sdcor"]
    assert list(g.varcorr["group"]) == ["herd"]  # no Residual row
    assert g.varcorr["vcov"].iloc[0] == pytest.approx(g.theta[0] ** 2)
    assert not g.is_singular


def test_results_are_values(g: lf.GlmerResult) -> None:
    before = g.fixef.copy()
    f = g.fixef
    f.iloc[0] = 99.0
    v = g.vcov
    v.iloc[0, 0] = 99.0
    re = g.ranef["herd"]
    re.iloc[0, 0] = 99.0
    g.theta[0] = 99.0
    assert g.fixef.equals(before) and g.vcov.iloc[0, 0] != 99.0 and g.ranef["herd"].iloc[0, 0] != 99.0
    assert g.theta[0] != 99.0


def test_optimizer_records_and_pickling(g: lf.GlmerResult) -> None:
    import pickle

    o = g.optinfo
    assert isinstance(o, lf.OptSummary) and len(g.stages) == 2
    o.theta[0] = 99.0
    assert g.optinfo.theta[0] != 99.0
    back = pickle.loads(pickle.dumps(g))
    assert back.objective == g.objective and np.allclose(back.fitted, g.fitted)
    assert back.refit(g.y).objective == pytest.approx(g.objective, rel=1e-7)


def test_ranef_coef_and_conditional_sds(g: lf.GlmerResult) -> None:
    re, sd = g.ranef["herd"], g.ranef_sd["herd"]
    assert re.shape == (15, 1) and sd.shape == (15, 1) and list(re.index[:3]) == ["1", "2", "3"]
    assert (sd.to_numpy() > 0).all() and (sd.to_numpy() < g.theta[0]).all()  # shrunk below the prior SD
    co = g.coef["herd"]
    assert np.allclose(co["(Intercept)"], g.fixef["(Intercept)"] + re["(Intercept)"])


@pytest.mark.parametrize("kind", ["deviance", "pearson", "response", "working"])
def test_residual_kinds(g: lf.GlmerResult, kind: str) -> None:
    fam = g.family_object
    y, mu, w = g.y, g.fitted.to_numpy(), g.prior_weights
    eta = g.linear_predictor.to_numpy()
    want = {"response": y - mu, "working": (y - mu) / fam.mu_eta(eta),
            "pearson": (y - mu) * np.sqrt(w) / np.sqrt(fam.variance(mu)),
            "deviance": np.sign(y - mu) * np.sqrt(fam.dev_resids(y, mu, w))}[kind]
    assert np.allclose(g.resid(kind).to_numpy(), want)
    assert g.resid(kind).index.equals(g.data.index)


def test_residuals_default_is_deviance_and_bad_type(g: lf.GlmerResult) -> None:
    assert g.residuals.equals(g.resid("deviance"))
    with pytest.raises(ValueError, match="deviance"):
        g.resid("scaled")


def test_fitted_is_the_mean_and_predict_without_newdata(g: lf.GlmerResult) -> None:
    fam = g.family_object
    assert np.allclose(g.fitted, fam.linkinv(g.linear_predictor.to_numpy()))
    assert np.allclose(g.predict(type="response"), g.fitted)
    assert np.allclose(g.predict(), g.linear_predictor)
    assert ((g.fitted > 0) & (g.fitted < 1)).all()


def test_predict_new_data(g: lf.GlmerResult, cbpp: pd.DataFrame) -> None:
    nd = cbpp.head(6)
    assert np.allclose(g.predict(nd, type="response"), g.fitted.iloc[:6])
    pop = g.predict(nd, re_form="~0")
    X = g.design.X[:6]
    assert np.allclose(pop, X @ g.fixef.to_numpy())
    new = nd.assign(herd=["new"] * 6)
    with pytest.raises(lf.DataError, match="new"):
        g.predict(new)
    assert np.allclose(g.predict(new, allow_new_levels=True), pop)
    with pytest.raises(ValueError, match="'link'"):
        g.predict(nd, type="probability")


def test_predict_recomputes_formula_offset_and_scale(owl_fit: lf.GlmerResult, owls: pd.DataFrame) -> None:
    nd = owls.head(5)
    doubled = nd.assign(BroodSize=nd["BroodSize"] * 2)
    assert np.allclose(owl_fit.predict(doubled) - owl_fit.predict(nd), np.log(2.0))
    df = pd.read_csv(DATA / "glmm_grouseticks.csv")
    for c in ("YEAR", "BROOD", "LOCATION"):
        df[c] = df[c].astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gt = lf.glmer("TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD)", df, family="poisson")
    # scale() on three rows uses the fit's mean and SD, not those of the three rows
    assert np.allclose(gt.predict(df.iloc[[3, 50, 200]], re_form="~0"), gt.predict(re_form="~0").iloc[[3, 50, 200]])


def test_offset_values_are_dropped_for_newdata_with_a_warning(owls: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        go = lf.glmer("SiblingNegotiation ~ FoodTreatment + (1 | Nest)", owls, family="poisson",
                      offset=np.log(owls["BroodSize"].to_numpy()))
    with pytest.warns(LmmflowWarning, match="offset"):
        p = go.predict(owls.head(3), re_form="~0")
    assert np.allclose(p, go.design.X[:3] @ go.fixef.to_numpy())


def test_simulate(g: lf.GlmerResult, owl_fit: lf.GlmerResult) -> None:
    s = g.simulate(4, seed=1)
    assert s.shape == (56, 4) and list(s.columns) == ["sim_1", "sim_2", "sim_3", "sim_4"]
    assert s.equals(g.simulate(4, seed=1)) and not s.equals(g.simulate(4, seed=2))
    k = s.to_numpy() * g.prior_weights[:, None]
    assert np.allclose(k, np.round(k)) and ((s >= 0) & (s <= 1)).all().all()
    c = owl_fit.simulate(2, seed=3, re_form=None)
    assert np.allclose(c, np.round(c)) and (c >= 0).all().all()
    assert owl_fit.simulate(1, seed=3, newdata=owl_fit.data.head(7)).shape == (7, 1)
    with pytest.raises(ValueError, match="sigma"):
        g.simulate(1, newparams={"sigma": 2.0})


def test_refit_and_update(g: lf.GlmerResult, cbpp: pd.DataFrame) -> None:
    same = g.refit(g.y)
    assert same.objective == pytest.approx(g.objective, rel=1e-7)
    sim = g.simulate(1, seed=5)["sim_1"]
    r = g.refit(sim)
    assert isinstance(r, lf.GlmerResult) and np.allclose(r.y, sim) and r.family == "binomial"
    with pytest.raises(lf.DataError, match="one value per row"):
        g.refit(np.zeros(3))
    with pytest.raises(lf.DataError, match="proportions"):
        g.refit(np.full(56, 2.0))
    g0 = g.update("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", data=cbpp)
    assert g0.npar == 2 and g0.objective > g.objective


def test_coef_table_and_wald(g: lf.GlmerResult) -> None:
    from scipy import stats

    t = g.coef_table()
    assert list(t.columns) == ["estimate", "std_error", "z_value", "p_value"]
    assert np.allclose(t["z_value"], t["estimate"] / t["std_error"])
    assert np.allclose(t["p_value"], 2 * stats.norm.sf(np.abs(t["z_value"])))
    ci = g.confint()
    assert list(ci.index) == g.fixef_names
    assert np.allclose(ci["upper"] - ci["lower"], 2 * stats.norm.ppf(0.975) * t["std_error"])
    assert g.confint(level=0.5, parm=["period[T.2]"]).shape == (1, 2)
    with pytest.raises(ValueError, match="wald"):
        g.confint(method="bayes")


def test_lmm_only_inference_is_refused_clearly(g: lf.GlmerResult) -> None:
    from lmmflow.inference.kenward_roger import kenward_roger_info
    from lmmflow.inference.satterthwaite import satterthwaite_info
    from lmmflow.inference.ttests import coef_table

    for fn in (satterthwaite_info, kenward_roger_info, lambda m: coef_table(m, "satterthwaite"), lf.anova):
        with pytest.raises(TypeError, match="linear mixed models"):
            fn(g)


def test_anova_between_glmer_fits(g: lf.GlmerResult, cbpp: pd.DataFrame) -> None:
    g0 = lf.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cbpp, family="binomial")
    a = lf.anova(g, g0)
    assert list(a["npar"]) == [2, 5]
    assert a["chisq"].iloc[-1] == pytest.approx(g0.objective - g.objective)
    m = lf.lmer("incidence ~ period + (1 | herd)", cbpp, reml=False, quiet=True)
    with pytest.raises(TypeError, match="lmer fits with lf.glmer"):
        lf.anova(m, g)
    gp = lf.glmer(CBPP, cbpp, family="binomial", link="probit")
    with pytest.raises(ValueError, match="families/links"):
        lf.anova(g0, gp)


def test_tidy_glance_augment(g: lf.GlmerResult) -> None:
    fx = lf.tidy(g)
    assert list(fx.columns) == ["effect", "group", "term", "estimate", "std_error", "statistic", "p_value"]
    assert np.allclose(fx["statistic"], g.coef_table()["z_value"])
    fxc = lf.tidy(g, conf_int=True)
    assert np.allclose(fxc["conf_low"], g.confint()["lower"])
    rp = lf.tidy(g, effects="ran_pars")
    assert list(rp["term"]) == ["sd__(Intercept)"] and rp["estimate"].iloc[0] == pytest.approx(g.theta[0])
    rv = lf.tidy(g, effects="ran_vals")
    assert len(rv) == 15 and np.allclose(rv["std_error"], g.ranef_sd["herd"].iloc[:, 0])
    gl = lf.glance(g)
    assert list(gl.columns) == ["nobs", "sigma", "loglik", "aic", "bic", "deviance", "df_residual"]
    assert gl.loc[0, "deviance"] == pytest.approx(g.objective)
    au = lf.augment(g)
    for col in (".fitted", ".resid", ".fixed", ".mu", ".offset", ".sqrtXwt", ".sqrtrwt", ".weights", ".wtres"):
        assert col in au.columns
    assert np.allclose(au[".mu"], g.fitted) and np.allclose(au[".resid"], g.residuals)
    assert np.allclose(au[".fitted"], g.linear_predictor)


def test_summary_layout(g: lf.GlmerResult) -> None:
    text = str(g.summary())
    lines = text.splitlines()
    assert lines[0] == ("Generalized linear mixed model fit by maximum likelihood (Laplace Approximation) "
                        "['glmerMod']")
    assert lines[1] == " Family: binomial  ( logit )"
    for piece in ("AIC", "BIC", "logLik", "deviance", "df.resid", "Scaled residuals:", "Random effects:",
                  "Number of obs: 56, groups:  herd, 15", "Fixed effects:", "z value", "Pr(>|z|)"):
        assert piece in text, piece
    assert "Residual" not in text
    assert "glmerMod" in repr(g) and "<table" in g._repr_html_() and "z value" in g._repr_html_()


def test_summary_title_for_quadrature(cbpp: pd.DataFrame) -> None:
    g25 = lf.glmer(CBPP, cbpp, family="binomial", nagq=25)
    assert "(Adaptive Gauss-Hermite Quadrature, nAGQ = 25)" in str(g25.summary()).splitlines()[0]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"nagq": -1}, "nagq"), ({"nagq": 1.5}, "nagq"), ({"nagq": 30}, "at most 25"),
    ({"family": "gaussian"}, "lf.lmer"), ({"family": "binomial", "link": "identity"}, "link"),
])
def test_bad_arguments(cbpp: pd.DataFrame, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        lf.glmer(CBPP, cbpp, **{"family": "binomial", **kwargs})


def test_quadrature_needs_one_scalar_term(owls: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="single scalar"):
        lf.glmer("SiblingNegotiation ~ FoodTreatment + (1 | Nest) + (1 | SexParent)", owls, family="poisson",
                 nagq=5)


def test_family_objects(cbpp: pd.DataFrame, g: lf.GlmerResult) -> None:
    gp = lf.glmer(CBPP, cbpp, family=lf.binomial("probit"))
    assert gp.link == "probit"
    assert lf.glmer(CBPP, cbpp, family=lf.binomial()).objective == pytest.approx(g.objective, rel=1e-8)
    with pytest.raises(ValueError, match="give one of them"):
        lf.glmer(CBPP, cbpp, family=lf.binomial("probit"), link="logit")


def test_response_forms_give_one_fit(cbpp: pd.DataFrame, g: lf.GlmerResult) -> None:
    prop = cbpp.assign(prop=cbpp["incidence"] / cbpp["size"])
    gw = lf.glmer("prop ~ period + (1 | herd)", prop, family="binomial", weights=prop["size"].to_numpy())
    assert gw.objective == pytest.approx(g.objective, rel=1e-7)
    assert np.allclose(gw.fixef, g.fixef, atol=1e-5)
    v = pd.read_csv(DATA / "glmm_verbagg.csv").head(1500)
    v01 = v.assign(r01=(v["r2"] == "Y").astype(float), rb=v["r2"] == "Y")
    fits = [lf.glmer(f"{r} ~ Anger + (1 | id)", v01, family="binomial") for r in ("r2", "r01", "rb")]
    assert fits[0].objective == pytest.approx(fits[1].objective) == pytest.approx(fits[2].objective)


def test_na_exclude_pads_rows(cbpp: pd.DataFrame) -> None:
    df = cbpp.astype({"incidence": float})
    df.loc[2, "incidence"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ge = lf.glmer(CBPP, df, family="binomial", na_action="na.exclude")
    assert len(ge.fitted) == 56 and np.isnan(ge.fitted.iloc[2]) and ge.nobs == 55
    assert len(ge.resid("pearson")) == 56
    with pytest.warns(lf.DroppedRowsWarning):
        lf.glmer(CBPP, df, family="binomial")


@pytest.mark.parametrize("term", ["cs(1 + time | id)", "ar1(0 + group | id)", "homcs(1 + time | id)"])
def test_structured_covariance_is_refused_by_name(term: str) -> None:
    """glmer fits lme4's unstructured terms; a cs/ar1 structure (lmer's) is a ValueError naming it."""
    df = pd.read_csv(Path(__file__).parents[1] / "reference" / "data" / "glmm_binary_growth.csv")
    with pytest.raises(ValueError, match=term.split("(")[0] + r"\(\.\.\.\)"):
        lf.glmer(f"y ~ time + {term}", df, family="binomial")
