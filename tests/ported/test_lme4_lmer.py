"""Ported from lme4's tests/testthat/test-lmer.R (lme4 master 32b5bfd, 2026-08-08): the LMM expectations.

Each test names the R lines it comes from. Names of R internals map as: fixef -> m.fixef, VarCorr -> m.varcorr,
sigma -> m.sigma, REMLcrit / deviance -> m.objective / m.deviance, vcov -> m.vcov, getME(, "theta") -> m.theta,
as.function(fm) -> lf.make_deviance(design), refit -> m.refit, refitML -> m.update(reml=False).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf

from ._data import all_equal, load, r_values


@pytest.fixture(scope="module")
def fm1():
    """test-lmer.R:28 fm1 <- lmer(Yield ~ 1|Batch, Dyestuff)."""
    return lf.lmer("Yield ~ (1 | Batch)", load("dyestuff"))


def test_data_errors():
    """test-lmer.R:25-27: a missing response column / data is an error naming it."""
    d = load("lmer_d")
    with pytest.raises(lf.DataError, match="'zz'"):
        lf.lmer("zz ~ (1 | f)", d)
    with pytest.raises(lf.DataError, match="'g'"):
        lf.lmer("z ~ (1 | g)", d)


def test_dyestuff_reml(fm1):
    """test-lmer.R:37-39, 43, 49, 52, 58: fixef, VarCorr, isREML, REMLcrit, sigma, vcov of Dyestuff."""
    assert fm1.fixef.to_numpy() == pytest.approx([1527.5])
    assert fm1.varcorr["vcov"].iloc[0] == pytest.approx(1764.0375195, rel=1e-5)
    assert fm1.reml is True
    assert fm1.objective == pytest.approx(319.654276842342, rel=1e-8)
    assert fm1.sigma == pytest.approx(49.5101272946856, rel=1e-6)
    assert fm1.vcov.iloc[0, 0] == pytest.approx(375.714676744, rel=1e-5)


def test_dyestuff_deviance_function(fm1):
    """test-lmer.R:44-46: REMLfun <- as.function(fm1); REMLfun(1), REMLfun(0)."""
    dev = lf.make_deviance(lf.lformula("Yield ~ (1 | Batch)", load("dyestuff")), reml=True)
    assert dev([1.0]) == pytest.approx(319.792389042002, rel=1e-10)
    assert dev([0.0]) == pytest.approx(326.023232155879, rel=1e-10)


def test_dyestuff_ml(fm1):
    """test-lmer.R:48, 50, 54, 60: refitML(fm1): not REML, deviance, sigma, vcov."""
    ml = fm1.update(reml=False)
    assert ml.reml is False
    assert ml.deviance == pytest.approx(327.327059881135, rel=1e-8)
    assert ml.sigma == pytest.approx(49.5100999308089, rel=1e-7)
    assert ml.vcov.iloc[0, 0] == pytest.approx(313.09721874266, rel=1e-7)
    # test-lmer.R:56 extractAIC(fm1ML) == c(3, 333.327059881135): (edf, AIC)
    assert (ml.npar, ml.aic) == (3, pytest.approx(333.327059881135, rel=1e-8))


def test_refit_dyestuff2(fm1):
    """test-lmer.R:62-65: refit(fm1, Dyestuff2$Yield): fixef 5.6656, a zero variance, theta 0."""
    fm2 = fm1.refit(load("dyestuff2")["Yield"].to_numpy())
    assert fm2.fixef.to_numpy() == pytest.approx([5.6656])
    assert fm2.varcorr["vcov"].iloc[0] == 0
    assert fm2.theta == pytest.approx([0.0], abs=1e-12)


def test_model_matrices(fm1):
    """test-lmer.R:66-77: X is a column of ones; Z is 30 x 6 indicators; theta 0.84832031; Lambda = theta * I."""
    design = lf.lformula("Yield ~ (1 | Batch)", load("dyestuff"))
    assert np.asarray(design.X) == pytest.approx(np.ones((30, 1)))
    assert fm1.theta == pytest.approx([0.84832031], rel=6e-6)
    assert fm1.ngroups == {"Batch": 6}


def test_two_terms_one_factor():
    """test-lmer.R:78-83: (1|Subject) + (0+Days|Subject): two terms on one factor, lower bounds 0, 0."""
    design = lf.lformula("Reaction ~ Days + (1|Subject) + (0+Days|Subject)", load("sleepstudy"))
    dev = lf.make_deviance(design, reml=True)
    assert list(dev.lower) == [0.0, 0.0]
    fm3 = lf.fit_design(design)
    assert len(fm3.theta) == 2
    assert fm3.ngroups == {"Subject": 18}


def test_one_level_grouping_factor():
    """test-lmer.R:85-86: a grouping factor with one level is an error ("must have > 1")."""
    ss = load("sleepstudy")
    with pytest.raises(lf.DataError, match="Subject"):
        lf.lmer("Reaction ~ Days + (1|Subject)", ss[ss["Subject"] == ss["Subject"].iloc[0]])


def test_nobs_not_above_number_of_random_effects():
    """test-lmer.R:94-100: 36 observations and 36 random effects is an error naming the counts."""
    ss = load("sleepstudy")
    sub = ss[(ss["Days"] == 1) | (ss["Days"] == 9)]
    with pytest.raises(lf.DataError, match="36 random effects for 36 observations"):
        lf.lmer("Reaction ~ 1 + Days + (1 + Days | Subject)", sub)


def test_levels_equal_to_observations():
    """test-lmer.R:155-157: one level per observation ("number of levels of each grouping factor") is an error."""
    ss = load("sleepstudy").assign(obs=np.arange(180))
    with pytest.raises(lf.DataError, match="180 levels for 180 observations"):
        lf.lmer("Reaction ~ 1 + Days + (1|obs)", ss)


@pytest.mark.parametrize("kwargs", [
    {"reml": True},                                   # test-lmer.R:117
    {"weights": np.ones(30)},                         # test-lmer.R:121
    {"offset": np.zeros(30)},                         # test-lmer.R:123
    {"control": lf.LmerControl(optimizer="nelder-mead")},  # test-lmer.R:126
    {"control": lf.LmerControl()},                    # test-lmer.R:127
])
def test_plain_arguments_fit_without_warning(kwargs):
    """test-lmer.R:116-127 (options(warn=2)): these arguments fit Dyestuff without any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = lf.lmer("Yield ~ (1 | Batch)", load("dyestuff"), **kwargs)
    assert m.theta == pytest.approx([0.84832031], rel=1e-4)


def test_unknown_optimizer():
    """test-lmer.R:137-138: an unknown optimizer is an error ("couldn't find optimizer function")."""
    with pytest.raises(ValueError, match="junk"):
        lf.lmer("Yield ~ (1 | Batch)", load("dyestuff"), control=lf.LmerControl(optimizer="junk"))


def test_unused_argument():
    """test-lmer.R:187: an unknown argument is an error ("unused argument")."""
    with pytest.raises(TypeError, match="junkArg"):
        lf.lmer("Yield ~ (1 | Batch)", load("dyestuff"), junkArg=True)


def test_long_term_names():
    """test-lmer.R:200-215: a random term with twelve long covariate names is built.

    lme4's test ignores its nobs checks (10 rows, 10 levels); here 200 rows and 10 levels keep to what lmmflow allows.
    """
    rng = np.random.default_rng(101)
    names = [c * 8 for c in "abcdefghijklmnopqrstuvwxy"]
    df = pd.DataFrame(rng.uniform(size=(200, 25)), columns=names).assign(Y=rng.normal(size=200),
                                                                        F=[str(i % 10) for i in range(200)])
    design = lf.lformula("Y ~ 1 + (" + "+".join(names[:12]) + " | F)", df)
    assert design.terms[0].cnames == ["(Intercept)", *names[:12]]


def test_refit_same_response(fm1):
    """test-lmer.R:219: refit(fm1) with the model's own response gives the same fit."""
    m = fm1.refit(load("dyestuff")["Yield"].to_numpy())
    assert m.theta == pytest.approx(fm1.theta, rel=1e-6)
    assert m.objective == pytest.approx(fm1.objective, rel=1e-12)


def test_singular_fit_reported():
    """test-lmer.R:229-233: lmer(z ~ as.numeric(f) + 1|f, d) is a singular fit, reported as such."""
    d = load("lmer_d")
    d["fn"] = d["f"].astype(float)
    with pytest.warns(lf.SingularFitWarning, match="singular"):
        m = lf.lmer("z ~ (fn + 1 | f)", d)
    r = r_values()["lmer_d_singular"]
    assert m.is_singular is r["isSingular"]
    assert m.theta == pytest.approx(r["theta"], abs=5e-5)


def test_coef_with_random_terms_missing_from_fixed():
    """test-lmer.R:284-304: coef() when the random part has an intercept the fixed part lacks."""
    r = r_values()["coef_lmer"]
    mix1 = lf.lmer("resp ~ 0 + var1 + var1:var2 + (1|var3)", load("coef_lmer"))
    assert mix1.fixef.to_numpy() == pytest.approx(r["fixef"], rel=6e-6)
    # test-lmer.R:301-302: the values hard-coded in lme4's test
    assert all_equal([0.2703951, 0.3832911, 0.451279, 0.6528842, 0.6109819, 0.4949802, 0.1222705, 0.08702069,
                      -0.2856431, -0.01596725], mix1.fixef.to_numpy(), tolerance=6e-6)
    cd1 = mix1.coef["var3"]
    assert cd1.shape == (5, 11)
    # test-lmer.R:299: the columns are the intercept and the ten fixed effects (lmmflow names: var1[1], ...)
    assert set(cd1.columns) == {"(Intercept)", *mix1.fixef.index}
    expected = pd.DataFrame(r["coef_var3"], columns=["(Intercept)", *mix1.fixef.index])
    got = cd1[expected.columns].to_numpy()
    assert got == pytest.approx(expected.to_numpy(), rel=1e-4, abs=1e-6)


def test_zero_complete_cases():
    """test-lmer.R:369-374 (GH 533): all-NA predictor is an error ("0 (non-NA) cases")."""
    ss = load("sleepstudy").assign(Days=np.nan)
    with pytest.raises(lf.DataError, match="no complete rows"):
        lf.lmer("Reaction ~ Days + (1| Subject)", ss)


def test_matrix_valued_response():
    """test-lmer.R:388-392: a matrix-valued response is an error (lmmflow: a column holding arrays)."""
    rng = np.random.default_rng(1)
    dd = pd.DataFrame({"x": rng.normal(size=100), "batch": np.repeat(np.arange(20), 5).astype(str)})
    dd["y"] = list(rng.normal(size=(100, 3)))
    with pytest.raises((lf.DataError, ValueError)):
        lf.lmer("y ~ x + (1|batch)", dd)


def test_update_removes_double_bar_term():
    """test-lmer.R:394-401: update(m, . ~ . - (0 + Days | Subject)) of (Days || Subject) is (1 | Subject)."""
    ss = load("sleepstudy")
    m = lf.lmer("Reaction ~ Days + (Days || Subject)", ss)
    m1 = lf.lmer("Reaction ~ Days + (1 | Subject)", ss)
    m2 = m.update("Reaction ~ Days + (1 | Subject)", data=ss)
    assert m2.fitted.to_numpy() == pytest.approx(m1.fitted.to_numpy(), rel=1e-8)
    assert len(m.theta) == 2


def test_singular_fit_small_groups():
    """test-lmer.R:463-471: three groups with tiny variance: singular fit (derivative checks skipped)."""
    r = r_values()["singular_group3"]
    with pytest.warns(lf.SingularFitWarning):
        fm1 = lf.lmer("y ~ x + (1 | group)", load("singular_group3"))
    assert fm1.is_singular is r["isSingular"]
    assert fm1.fixef.to_numpy() == pytest.approx(r["fixef"], rel=1e-5)


def test_double_bar_expanded_in_formula():
    """test-lmer.R:490-494: (Days || Subject) is (1 | Subject) + (0 + Days | Subject)."""
    ss = load("sleepstudy")
    a = lf.lformula("Reaction ~ Days + (Days || Subject)", ss)
    b = lf.lformula("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", ss)
    assert [blk.mask.tolist() for blk in a.blocks()] == [blk.mask.tolist() for blk in b.blocks()]
    ma, mb = lf.fit_design(a), lf.fit_design(b)
    assert len(ma.theta) == 2
    assert ma.theta == pytest.approx(mb.theta, rel=1e-6)
