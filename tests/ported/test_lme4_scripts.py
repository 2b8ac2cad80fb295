"""Ported from lme4's tests/*.R scripts outside testthat (lme4 master 32b5bfd): REMLdev.R, offset.R, minval.R,
varcorr.R, priorWeights.R. R-generated data and R's values at the optimum come from make_ported.R."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lmmflow as lf

from ._data import all_equal, load, num, r_values


def test_reml_and_ml_deviance():
    """REMLdev.R:15-30: REMLcrit 1743.6282722424 (lme4's old value) == -2 logLik; refitML deviance 1751.939."""
    ss = load("sleepstudy")
    fm1 = lf.lmer("Reaction ~ Days + (Days|Subject)", ss)
    assert all_equal(1743.6282722424, fm1.objective)
    assert fm1.objective == pytest.approx(-2 * fm1.loglik, rel=1e-14)
    ml = fm1.update(reml=False)
    assert ml.deviance == pytest.approx(r_values()["remldev"]["ML"], rel=1e-9)
    assert ml.deviance == pytest.approx(-2 * ml.loglik, rel=1e-14)
    assert round(ml.deviance, 3) == 1751.939


def test_offset_argument_shifts_slope():
    """offset.R:19-29: an offset 3x lowers the slope by exactly 3; predictions with and without offset agree.
    (lme4 writes offset(3*x) in the formula; lmmflow's offset= argument here, the formula version is pending.)"""
    d = load("offset")
    r = r_values()["offset"]
    fm1 = lf.lmer("y ~ x + (1|block)", d)
    fm1off = lf.lmer("y ~ x + (1|block)", d, offset=3 * d["x"].to_numpy())
    assert all_equal(fm1.fixef.iloc[1] - 3, fm1off.fixef.iloc[1])
    assert fm1.fixef.to_numpy() == pytest.approx(r["fixef"], rel=1e-6)
    assert fm1off.fixef.to_numpy() == pytest.approx(r["fixef_off"], rel=1e-6)
    p0, p1 = fm1.predict(), fm1.predict(d)
    assert all_equal(p0, p1)
    assert all_equal(p1, fm1off.fitted)


def test_minval_small_variance():
    """minval.R:4-30: 3 groups x 8, SDs 0.15: VarCorr 0.029662698 (bobyqa), tolerance 1e-7."""
    fm3 = lf.lmer("y ~ (1|group)", load("minval"))
    assert all_equal(0.029662698, fm3.varcorr["vcov"].iloc[0], tolerance=1e-7)
    assert all_equal(r_values()["minval"]["vc_bobyqa"], fm3.varcorr["vcov"].iloc[0], tolerance=1e-7)


@pytest.mark.parametrize("key, formula, data, reml", [
    ("orthodont", "distance ~ age + (age|Subject)", "orthodont", True),               # varcorr.R:5
    ("penicillin_ml", "diameter ~ 1 + (1|plate) + (1|sample)", "penicillin", False),  # varcorr.R:8
])
def test_varcorr(key, formula, data, reml):
    """varcorr.R:4-9: VarCorr of Orthodont (age|Subject) and of Penicillin's ML fit, as R's."""
    r = r_values()["varcorr"][key]
    m = lf.lmer(formula, load(data), reml=reml)
    assert list(m.varcorr["group"]) == r["grp"]
    assert all_equal(r["vcov"], m.varcorr["vcov"], tolerance=1e-5)
    assert all_equal(r["sdcor"], m.varcorr["sdcor"], tolerance=1e-5)


@pytest.mark.parametrize("key, formula, reml", [
    ("ML1", "y ~ x + (1|g)", False), ("REML1", "y ~ x + (1|g)", True),
    ("ML2", "y ~ x + (x|g)", False), ("REML2", "y ~ x + (x|g)", True),
    ("ML3", "y ~ x + z + (x+z|g)", False), ("REML3", "y ~ x + z + (x+z|g)", True),
])
def test_prior_weights(key, formula, reml):
    """priorWeights.R:37-88: weights 1/v (lme's varFixed(~v)): SDs, correlations, coefficients and SEs as lme4's
    (lme4's test compares with nlme at tolerance 1e-2; here lme4's own values, make_ported.R)."""
    r = r_values()["prior_weights"][key]
    d = load("prior_weights")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.SingularFitWarning)
        m = lf.lmer(formula, d, weights=d["w"].to_numpy(), reml=reml)
    assert m.objective == pytest.approx(r["dev"], rel=1e-8)
    assert all_equal(r["sd"], m.varcorr["sdcor"], tolerance=1e-4)
    coef = num(r["coef"])
    assert all_equal(coef[:, 0], m.fixef.to_numpy(), tolerance=1e-5)
    assert all_equal(coef[:, 1], m.std_errors.to_numpy(), tolerance=1e-4)


def test_prior_weights_sleepstudy():
    """priorWeights.R:91-101: sleepstudy with weights 1/v, ML: SDs and fixef as lme4's."""
    r = r_values()["sleep_weights"]
    d = load("sleep_weights")
    m = lf.lmer("Reaction ~ Days + (Days|Subject)", d, weights=d["w"].to_numpy(), reml=False)
    assert m.deviance == pytest.approx(r["dev"], rel=1e-8)
    assert all_equal(r["sd"], m.varcorr["sdcor"], tolerance=1e-4)
    assert all_equal(r["fixef"], m.fixef.to_numpy(), tolerance=1e-6)


def test_weights_against_lme4_0():
    """priorWeights.R:119-148: weighted REML fit: fixef c(-0.7306540061, 2.0289540256) of lme4.0, tolerance 1e-3."""
    r = r_values()["weights_lme40"]
    d = load("weights_lme40")
    m = lf.lmer("y ~ x + (1|g)", d, weights=d["w"].to_numpy())
    assert all_equal([-0.7306540061, 2.0289540256], m.fixef.to_numpy(), tolerance=1e-3)
    assert all_equal(r["fixef"], m.fixef.to_numpy(), tolerance=1e-6)
    assert m.sigma == pytest.approx(r["sigma"], rel=1e-5)
    assert all_equal(r["se"], m.std_errors.to_numpy(), tolerance=1e-5)


def _getinfo(m):
    """refit.R:15-17: c(fixef, logLik, unlist(ranef), unlist(VarCorr))."""
    vc = [blk.ravel() for blk in m.re_covariances]
    return np.concatenate([m.fixef.to_numpy(), [m.loglik], *(r.to_numpy().ravel(order="F") for r in
                                                              m.ranef.values()), *vc])


def test_refit_same_and_simulated_and_ml():
    """refit.R:45-72: refit with the same response equals the fit (lme4: tolerance 6e-3; 1e-6 here); refit to a
    simulated response within 0.5 (mean relative difference); the ML refit within 0.05."""
    ss = load("sleepstudy")
    fm1 = lf.lmer("Reaction ~ Days + (Days|Subject)", ss)
    fm1R = fm1.refit(ss["Reaction"].to_numpy())
    assert all_equal(_getinfo(fm1), _getinfo(fm1R), tolerance=1e-6)
    fm1S = fm1.refit(fm1.simulate(1, seed=101).iloc[:, 0].to_numpy())
    assert all_equal(_getinfo(fm1), _getinfo(fm1S), tolerance=0.5)
    assert all_equal(_getinfo(fm1), _getinfo(fm1.update(reml=False)), tolerance=0.05)


def test_refit_new_response_equals_fit_to_it():
    """refit.R:104-125: refit(fit1, newresp = Y[,2]) differs from fit1 and equals a fit to Y[,2] (lme4:
    tolerance 0.005; 1e-6 here)."""
    import pandas as pd

    rng = np.random.default_rng(101)
    Y = rng.normal(size=(100, 2))
    d = pd.DataFrame({"y1": Y[:, 0], "x": rng.normal(size=100), "f": np.tile(np.arange(1, 11), 10)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.SingularFitWarning)
        fit1 = lf.lmer("y1 ~ x+(1|f)", d)
        fit2 = fit1.refit(Y[:, 1])
        u2 = lf.lmer("y1 ~ x+(1|f)", d.assign(y1=Y[:, 1]))
    assert not all_equal(_getinfo(fit1), _getinfo(fit2), tolerance=1e-3)
    assert all_equal(_getinfo(u2), _getinfo(fit2), tolerance=1e-6)


def test_boundary_crossed_positive_thetas():
    """boundary.R:13-27: (1|Operator)+(1|Part)+(1|Part:Operator) on dat20101314: all thetas > 0, equal across
    optimizers (tolerance 5e-5; compared with R's bobyqa fit, theta in lme4's order of the terms)."""
    r = r_values()["boundary"]
    fit = lf.lmer("y ~ (1|Operator)+(1|Part)+(1|Part:Operator)", load("boundary_dat"))
    assert (fit.theta > 0).all()
    assert fit.objective <= r["REML_b"] + 1e-8
    assert list(fit.varcorr["group"]) == ["Part:Operator", "Operator", "Part", "Residual"]  # lme4's order
    assert all_equal(r["theta_b"], fit.theta, tolerance=5e-5)


def test_boundary_koller_theta():
    """boundary.R:31-65: Koller's data set 13, y ~ (1|Var2): theta 0.21067645 (bobyqa), tolerance 1e-7."""
    fm5c = lf.lmer("y ~ (1|Var2)", load("koller13"))
    assert all_equal(0.21067645, fm5c.theta, tolerance=1e-7)
    assert fm5c.objective == pytest.approx(r_values()["boundary"]["REML_5c"], rel=1e-10)


def test_modular_pipeline_equals_lmer():
    """modFormula.R:11-42: lFormula -> mkLmerDevfun -> optimizeLmer -> mkMerMod equals lmer (lmmflow: lformula,
    make_deviance, optimize_theta, fit_design); residual range (-101.18, 132.547) (1e-5); predict(newdata) equals
    the fitted values."""
    ss = load("sleepstudy")
    design = lf.lformula("Reaction ~ Days + (Days|Subject)", ss)
    devfun = lf.make_deviance(design, reml=True)
    opt = lf.optimize_theta(devfun, devfun.theta0, devfun.lower)
    fm2 = lf.lmer("Reaction ~ Days + (Days|Subject)", ss)
    assert devfun(opt.theta) == pytest.approx(fm2.objective, rel=1e-9)
    fm1 = lf.fit_design(design)
    assert fm1.objective == pytest.approx(fm2.objective, rel=1e-12)
    assert all_equal(fm2.fixef, fm1.fixef, tolerance=1e-10)
    r = fm1.residuals
    assert all_equal([-101.18, 132.547], [r.min(), r.max()], tolerance=1e-5)
    assert all_equal(fm1.predict(ss.iloc[:10]), fm2.predict(ss.iloc[:10]), tolerance=1e-10)
    assert all_equal(fm1.predict(ss), fm1.predict(), tolerance=1e-12)


def test_is_reml():
    """is.R:3-13: isREML(fm1), !isREML(refitML(fm1)) (isLMM: lmmflow fits only LMMs)."""
    fm1 = lf.lmer("Reaction ~ Days + (Days|Subject)", load("sleepstudy"))
    assert fm1.reml is True
    assert fm1.update(reml=False).reml is False


def test_getme_beta_theta():
    """getME.R:13-31, 65: fixef == getME(, "beta") (intercept-only Penicillin, cake); theta of the sleepstudy fits;
    getME(, "sigma") == sigma."""
    fm1 = lf.lmer("diameter ~ (1|plate) + (1|sample)", load("penicillin"))
    assert fm1.fixef_names == ["(Intercept)"]
    assert len(fm1.theta) == 2
    fm2 = lf.lmer("angle ~ recipe * temperature + (1|recipe:replicate)", load("cake"))
    assert len(fm2.fixef) == 18 and len(fm2.theta) == 1
    assert len(lf.lmer("Reaction ~ Days + (Days|Subject)", load("sleepstudy")).theta) == 3
    assert len(lf.lmer("Reaction ~ Days + (1|Subject) + (0+Days|Subject)", load("sleepstudy")).theta) == 2
    assert fm1.sigma == pytest.approx(float(fm1.varcorr["sdcor"].iloc[-1]), rel=1e-14)


def test_confint_wald_parm_and_profile():
    """confint.R:9-13, 24-31: Wald interval of Days (7.437592, 13.496980) (1e-6), the same with parm="Days";
    profile intervals of the fixed effects close to Wald's (2e-3)."""
    fm1 = lf.lmer("Reaction ~ Days + (Days|Subject)", load("sleepstudy"))
    c0 = fm1.confint(method="wald")
    c0b = fm1.confint(method="wald", parm=["Days"])
    assert c0.loc["Days"].tolist() == c0b.loc["Days"].tolist()
    assert all_equal([7.437592, 13.496980], c0b.loc["Days"].to_numpy(), tolerance=1e-6)
    c1 = fm1.confint(method="profile", parm="beta_")
    assert all_equal(c0.loc[["(Intercept)", "Days"]].to_numpy(), c1.loc[["(Intercept)", "Days"]].to_numpy(),
                     tolerance=2e-3)


@pytest.mark.parametrize("boot_type", ["stud", "bca", "junk"])
def test_confint_bad_boot_type(boot_type):
    """confint.R:20-23: boot.type "stud", "bca" and "junk" are errors."""
    fm1 = lf.lmer("Reaction ~ Days + (Days|Subject)", load("sleepstudy"))
    with pytest.raises(ValueError):
        fm1.confint(method="boot", boot_type=boot_type, nsim=10, seed=101)
