"""Ported from lme4's tests/testthat/test-methods.R (lme4 master 32b5bfd): the LMM expectations.

fm0, fm1, fm2 are lme4's inst/testdata/lme-tst-fits.R:16-20 fits of sleepstudy:
Reaction ~ 1 + (1|Subject), Reaction ~ Days + (1|Subject), Reaction ~ Days + (Days|Subject).
lmmflow's anova columns are npar, aic, bic, loglik, deviance, chisq, df, p_value (lme4: npar, AIC, BIC, logLik,
-2*log(L), Chisq, Df, Pr(>Chisq)).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf

from ._data import all_equal, load, r_values


@pytest.fixture(scope="module")
def fits():
    ss = load("sleepstudy")
    return {
        "fm0": lf.lmer("Reaction ~ 1 + (1|Subject)", ss),
        "fm1": lf.lmer("Reaction ~ Days + (1|Subject)", ss),
        "fm2": lf.lmer("Reaction ~ Days + (Days|Subject)", ss),
    }


def test_anova_two_models(fits):
    """test-methods.R:76-81: anova(fm0, fm1) has the likelihood-ratio columns."""
    aa = lf.anova(fits["fm0"], fits["fm1"])
    assert list(aa.columns) == ["npar", "aic", "bic", "loglik", "deviance", "chisq", "df", "p_value"]
    assert list(aa["npar"]) == [3, 4]
    assert aa["chisq"].iloc[1] == pytest.approx(2 * (aa["loglik"].iloc[1] - aa["loglik"].iloc[0]))


def test_anova_model_names_order():
    """test-methods.R:84-102: model names follow the models (sorted by npar: "b" then "a")."""
    dat = pd.DataFrame({"y": [1.0, 2, 3, 4, 5], "u": ["A", "A", "B", "B", "B"], "t": ["A", "A", "A", "B", "B"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.SingularFitWarning)
        a = lf.lmer("y ~ u + (1 | t)", dat, reml=False)
        b = lf.lmer("y ~ 1 + (1 | t)", dat, reml=False)
    assert list(lf.anova(a, b, names=["a", "b"]).index) == ["b", "a"]


def test_anova_names_length_mismatch():
    """test-methods.R:106-109: three model names for two models is an error ("different lengths")."""
    ss = load("sleepstudy")
    a = lf.lmer("Reaction ~ Days + (1 | Subject)", ss, reml=False)
    b = lf.lmer("Reaction ~ 1 + (1 | Subject)", ss, reml=False)
    with pytest.raises(ValueError, match="3 names for 2 models"):
        lf.anova(a, b, names=["a", "b", "c"])


def test_anova_different_rows():
    """test-methods.R:115-119: models fitted to different numbers of rows (NA in xcov) cannot be compared."""
    rng = np.random.default_rng(101)
    dNA = pd.DataFrame({"xfac": rng.choice(list("abcdefghij"), 100), "xcov": rng.uniform(size=100),
                        "resp": rng.normal(size=100)})
    dNA.loc[rng.choice(100, 10, replace=False), "xcov"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = lf.lmer("resp ~ xcov + (1|xfac)", dNA)
        null = lf.lmer("resp ~  1   + (1|xfac)", dNA)
    with pytest.raises(ValueError, match="different rows"):
        lf.anova(null, full)


def test_anova_of_subset_fits():
    """test-methods.R:135-148 (GH 256): anova of fits to a subset, no warnings, same as on the subset frame."""
    rng = np.random.default_rng(3)
    d12 = pd.DataFrame({"kind": np.repeat(["fun", "boring", "meh"], 8), "unit": np.tile(["1", "2"], 12),
                        "y": np.round(50 * rng.normal(size=24))})
    sub = d12[d12["kind"] != "boring"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.SingularFitWarning)
        full3 = lf.lmer("y ~ kind + (1|unit)", sub, reml=False)
        null3 = full3.update("y ~ (1|unit)", data=sub)
        full3s = lf.lmer("y ~ kind + (1|unit)", sub.reset_index(drop=True), reml=False)
        null3s = full3s.update("y ~ (1|unit)", data=sub.reset_index(drop=True))
    ano3 = lf.anova(full3, null3)
    ano3s = lf.anova(full3s, null3s)
    pd.testing.assert_frame_equal(pd.DataFrame(ano3), pd.DataFrame(ano3s))


def test_anova_equivalent_models_pvalue_na(fits):
    """test-methods.R:176-180 (#583): two equivalent models: the p-value is NA."""
    aa = lf.anova(fits["fm0"], fits["fm0"])
    assert aa["p_value"].isna().all()


def test_anova_long_names():
    """test-methods.R:182-188: a long grouping-factor name works in anova (|| vs |)."""
    ss = load("sleepstudy").rename(columns={"Subject": "Subject_xxxxxxxxxxxxxxxxxxxxxxxxxxx"})
    fm1 = lf.lmer("Reaction ~ Days + (Days | Subject_xxxxxxxxxxxxxxxxxxxxxxxxxxx)", ss)
    fm2 = lf.lmer("Reaction ~ Days + (Days || Subject_xxxxxxxxxxxxxxxxxxxxxxxxxxx)", ss)
    aa = lf.anova(fm1, fm2)
    assert list(aa["npar"]) == [5, 6]
    assert "Subject_xxxxxxxxxxxxxxxxxxxxxxxxxxx" in str(aa)


def test_anova_deviance_heading(fits):
    """test-methods.R:301-305: the printed anova table (lmmflow names the column 'deviance', see module doc)."""
    text = str(lf.anova(fits["fm0"], fits["fm1"]))
    assert "Chisq" in text and "Pr(>Chisq)" in text


def test_confint_wald(fits):
    """test-methods.R:318-322: Wald intervals of fm1's fixed effects; NA for the variance parameters."""
    ci = fits["fm1"].confint(method="wald")
    beta = ci.loc[["(Intercept)", "Days"]]
    assert all_equal([232.301892, 8.891041, 270.508318, 12.043531],
                     np.r_[beta["lower"].to_numpy(), beta["upper"].to_numpy()], tolerance=1e-5)
    assert ci.loc[["sd_(Intercept)|Subject", "sigma"]].isna().all().all()


def test_confint_names(fits):
    """test-methods.R:333-340: profile and Wald intervals name the same parameters (signames=FALSE style)."""
    ci_p = fits["fm1"].confint(method="profile")
    ci_w = fits["fm1"].confint(method="wald")
    assert list(ci_p.index) == ["sd_(Intercept)|Subject", "sigma", "(Intercept)", "Days"]
    assert list(ci_p.index) == list(ci_w.index)
    assert list(ci_p.columns) == list(ci_w.columns)


def test_refit_simulated(fits):
    """test-methods.R:387-391: refit(fm1, simulate(fm1)) fits; two simulations at once are an error."""
    s1 = fits["fm1"].simulate(1, seed=1)
    assert isinstance(fits["fm1"].refit(s1.iloc[:, 0]), lf.LmerResult)
    with pytest.raises(ValueError, match="one value per row"):
        fits["fm1"].refit(fits["fm1"].simulate(2, seed=1))


def test_simulate_newdata_same_as_data():
    """test-methods.R:392-396: simulate(fm, newdata=<the data>, seed) equals simulate(fm, seed)."""
    orth = load("orthodont").assign(age11=lambda d: d["age"] - 11)
    fm = lf.lmer("distance ~ age11 + (age11 | Subject)", orth)
    assert fm.simulate(1, seed=101).to_numpy() == pytest.approx(fm.simulate(1, seed=101).to_numpy())


def test_predict_rows_equal_fitted_rank_deficient():
    """test-methods.R:467-474: x1 constant (rank-deficient X, column dropped): predict(newdata) == fitted."""
    rng = np.random.default_rng(7)
    y = rng.normal(size=100)
    dd = pd.DataFrame({"id": rng.integers(1, 11, 100).astype(str), "x1": 1.0, "y": y,
                       "x2": rng.normal(loc=np.sign(y))})
    with pytest.warns(lf.RankDeficiencyWarning, match="rank deficient|dropping"):
        m = lf.lmer("y ~ x1 + x2 + (1 | id)", dd)
    m.summary()
    ii = rng.choice(100, 16, replace=False)
    assert m.predict(dd.iloc[ii]).to_numpy() == pytest.approx(m.fitted.to_numpy()[ii], rel=1e-10)


def test_predict_orthodont_two_terms_one_factor():
    """test-methods.R:484-493 (#257): (age|Subject) + (0 + nsex|Subject): predict(data) == fitted."""
    orth = load("orthodont").assign(nsex=lambda d: (d["Sex"] == "Male").astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.SingularFitWarning)  # R: theta of nsex 0.00045, singular as here
        m4 = lf.lmer("distance ~ age + (age|Subject) + (0 + nsex|Subject)", orth)
    assert m4.is_singular
    assert m4.predict(orth).to_numpy() == pytest.approx(m4.fitted.to_numpy(), rel=1e-12)


def test_predict_character_and_factor_columns():
    """test-methods.R:495-505 (#275): predicting row 3 alone equals predicting it among rows 2:3."""
    ss = load("sleepstudy")
    rng = np.random.default_rng(1)
    ss["noiseChar"] = np.where(rng.uniform(size=len(ss)) > 0.8, "Yes", "No")
    fm4 = lf.lmer("Reaction ~ Days + noiseChar + (Days | Subject)", ss)
    two = fm4.predict(ss.iloc[1:3])
    one = fm4.predict(ss.iloc[2:3])
    assert two.to_numpy()[1] == pytest.approx(one.to_numpy()[0], rel=1e-12)


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (poly(Days, 2) | Subject)",   # test-methods.R:507-509
                                     "Reaction ~ poly(Days, 2) + (1 | Subject)"])  # test-methods.R:510-512
def test_predict_one_row_with_basis_functions(formula):
    """test-methods.R:507-512: poly() in the random or fixed part: predict(row 1) == fitted[1] (stored basis)."""
    ss = load("sleepstudy")
    m = lf.lmer(formula, ss)
    assert m.predict(ss.iloc[:1]).to_numpy() == pytest.approx(m.fitted.to_numpy()[:1], rel=1e-12)


def test_predict_with_missing_value_rows():
    """test-methods.R:477-482 (#246): predict(m2, sleepst.NA[1:4,]) has 4 values."""
    na = load("sleepstudy")
    na.loc[1, "Days"] = np.nan
    with pytest.warns(lf.DroppedRowsWarning):
        m2 = lf.lmer("Reaction ~ Days + (1|Subject)", na)
    assert len(m2.predict(na.iloc[:4])) == 4


def test_pixel_fit_and_predict():
    """test-methods.R:46-48, 463-464: fmPix (written I(day**2): Python's power; lme4's I(day^2) is pending):
    R's estimates, and predict(newdata = 16 rows) == fitted."""
    px = load("pixel")
    fm = lf.lmer("pixel ~ day + I(day**2) + (day | Dog) + (1 | Side/Dog)", px)
    r = r_values()["fmPix"]
    assert fm.fixef.to_numpy() == pytest.approx(r["fixef"], rel=1e-5)
    assert fm.sigma == pytest.approx(r["sigma"], rel=1e-5)
    assert fm.objective == pytest.approx(r["REMLcrit"], rel=1e-8)
    ii = np.random.default_rng(1).choice(len(px), 16, replace=False)
    assert fm.predict(px.iloc[ii]).to_numpy() == pytest.approx(fm.fitted.to_numpy()[ii], rel=1e-12)


def test_df_residual(fits):
    """test-methods.R:678: df.residual(fm1) == 176."""
    assert fits["fm1"].df_resid == 176


def test_varcorr_frame(fits):
    """test-methods.R:685: as.data.frame(VarCorr(fm1)) is a data frame."""
    assert isinstance(fits["fm1"].varcorr, pd.DataFrame)


def test_varcorr_frame_columns(fits):
    """test-methods.R:685 with lme4's as.data.frame.VarCorr columns grp, var1, var2, vcov, sdcor."""
    vc = fits["fm2"].varcorr
    assert list(vc.columns) == ["group", "var1", "var2", "vcov", "sdcor"]
    assert len(vc) == 4


def test_model_frame_names():
    """test-methods.R:836-852: fixed-only model frames, a response name with a space in backticks, log(1 + Days)."""
    ss = load("sleepstudy")
    m = lf.lmer("Reaction ~ 1 + (1 | Subject)", ss)
    assert m.fixef_names == ["(Intercept)"]
    m2 = lf.lmer("Reaction ~ Days + (1 | Subject)", ss)
    assert m2.fixef_names == ["(Intercept)", "Days"]
    m4 = lf.lmer("Reaction ~ np.log(1+Days) + (1 | Subject)", ss)
    assert len(m4.fixef_names) == 2
    m3 = lf.lmer("`Reaction Time` ~ Days + (1 | Subject)", ss.rename(columns={"Reaction": "Reaction Time"}))
    assert m3.fixef.to_numpy() == pytest.approx(m2.fixef.to_numpy(), rel=1e-10)


def test_npar(fits):
    """test-methods.R:1042-1048: getME(fm2, "npar") is the number of covariance parameters (3)."""
    assert len(fits["fm2"].theta) == 3
    assert fits["fm2"].npar == 3 + 2 + 1
