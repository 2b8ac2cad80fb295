"""Ported from lme4's tests/lmer-1.R (lme4 master 32b5bfd; run by lme4 at testLevel > 1): the LMM expectations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lmmflow as lf

from ._data import all_equal, load, r_values


@pytest.fixture(scope="module")
def fits():
    ss = load("sleepstudy")
    return {"fm1": lf.lmer("Reaction ~ Days + (Days|Subject)", ss),
            "fm2": lf.lmer("Reaction ~ Days + (1|Subject) + (0+Days|Subject)", ss)}


def test_fixef_and_correlation(fits):
    """lmer-1.R:44-56: fixef of fm1 == fm2 == (251.405104848485, 10.467285959595) to 1e-13 (balanced data);
    corr((Intercept), Days) -0.1375 (tolerance 4e-4)."""
    fm1, fm2 = fits["fm1"], fits["fm2"]
    assert all_equal(fm1.fixef, fm2.fixef, tolerance=1e-13)
    assert all_equal([251.405104848485, 10.467285959595], fm1.fixef, tolerance=1e-13)
    v = fm1.vcov.to_numpy()
    assert all_equal(-0.1375, v[0, 1] / np.sqrt(v[0, 0] * v[1, 1]), tolerance=4e-4)


def test_ml_information_criteria(fits):
    """lmer-1.R:58-63: AIC and BIC of the ML refits: (1763.94, 1762, 1783.1, 1777.97), tolerance 1e-5."""
    fm1ML, fm2ML = fits["fm1"].update(reml=False), fits["fm2"].update(reml=False)
    assert all_equal([1763.94, 1762, 1783.1, 1777.97], [fm1ML.aic, fm2ML.aic, fm1ML.bic, fm2ML.bic], tolerance=1e-5)


def test_dyestuff2_coefficients():
    """lmer-1.R:65-69, 122-125: Dyestuff2: Estimate 5.6656, Std. Error 0.67838803150, t value 8.3515624346; with
    sigma_b = 0 every group's coefficient is the fixed effect."""
    with pytest.warns(lf.SingularFitWarning):
        fm3 = lf.lmer("Yield ~ (1|Batch)", load("dyestuff2"))
    tab = fm3.coef_table()
    assert all_equal([5.6656, 0.67838803150, 8.3515624346],
                     [tab["estimate"].iloc[0], tab["std_error"].iloc[0], tab["t_value"].iloc[0]])
    assert (fm3.coef["Batch"]["(Intercept)"] == fm3.fixef["(Intercept)"]).all()


def test_update_to_uncorrelated(fits):
    """lmer-1.R:73-80: update(fmX1, . ~ Days + (1|Subject) + (0+Days|Subject)) equals fitting that formula."""
    ss = load("sleepstudy")
    fm3 = fits["fm1"].update("Reaction ~ Days + (1|Subject) + (0+Days|Subject)", data=ss)
    assert fm3.objective == pytest.approx(fits["fm2"].objective, rel=1e-12)
    assert fm3.theta == pytest.approx(fits["fm2"].theta, rel=1e-8)


def test_log_model_ranef_shape():
    """lmer-1.R:118-122: log(Reaction) ~ log(Days+1) + (log(Days+1)|Subject), ML: ranef is 18 x 2."""
    m = lf.lmer("np.log(Reaction) ~ np.log(Days+1) + (np.log(Days+1)|Subject)", load("sleepstudy"), reml=False)
    assert m.ranef["Subject"].shape == (18, 2)


def test_small_random_intercept_model():
    """lmer-1.R:130-150: fixef 1.571312129; ranef (1.8046888, ..., 3.3720441) with postVar 0.311091076 (1e-5)."""
    fit1 = lf.lmer("y ~ 1 + (1 | group.id)", load("lmer1_fit1"))
    assert all_equal([1.571312129], fit1.fixef)
    assert all_equal([1.8046888, -1.8097665, 1.6146451, 1.5408268, -0.1331995, -3.3306655, -1.8259277, -0.8735145,
                      -0.3591311, 3.3720441], fit1.ranef["group.id"].to_numpy().ravel(), tolerance=1e-5)
    assert all_equal([0.311091076] * 10, fit1.ranef_sd["group.id"].to_numpy().ravel() ** 2, tolerance=1e-5)
    assert all_equal(r_values()["lmer1_fit1"]["ranef"], fit1.ranef["group.id"].to_numpy().ravel(), tolerance=1e-6)


def test_ranef_and_coef_are_frames(fits):
    """lmer-1.R:154-165: ranef and coef are one data frame per grouping factor."""
    for m in fits.values():
        assert list(m.ranef) == ["Subject"] and list(m.coef) == ["Subject"]
        assert m.ranef["Subject"].shape[0] == m.coef["Subject"].shape[0] == 18


def test_unidentifiable_habitat_models():
    """lmer-1.R:170-202: habitat nested in lagoon: (1|habitat:lagoon) and (1|habitat) are the same model (fixef
    and ranef equal, tolerance 1e-15 in lme4; 1e-10 here as the two fits run separately)."""
    dat = load("lmer1_lagoon")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r2_0 = lf.lmer("y ~ 0+lagoon + (1|habitat:lagoon)", dat)
        r2 = lf.lmer("y ~ 0+lagoon + (1|habitat)", dat)
    assert all_equal(r2.fixef, r2_0.fixef, tolerance=1e-10)
    assert all_equal(r2.ranef["habitat"].to_numpy(), r2_0.ranef["habitat:lagoon"].to_numpy(), tolerance=1e-8)
    r = r_values()["lmer1_lagoon"]
    assert all_equal(r["r2_fixef"], r2.fixef, tolerance=1e-10)
    assert r2.objective == pytest.approx(r["r2_REML"], rel=1e-10)


def test_habitat_vcov_and_fixef():
    """lmer-1.R:203-206: vcov(r2) = diag(9.9833/3) (lme4 prints 4 digits; tolerance 1e-5 here) and
    fixef(r2) - (1:4)*100 = (1.72, 0.28, 1.76, 0.8), tolerance 1e-13."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.SingularFitWarning)
        r2 = lf.lmer("y ~ 0+lagoon + (1|habitat)", load("lmer1_lagoon"))
    v = r2.vcov.to_numpy()
    assert all_equal(np.diag(np.full(4, 9.9833 / 3)), v, tolerance=1e-5)
    assert all_equal([1.72, 0.28, 1.76, 0.8], r2.fixef.to_numpy() - np.arange(1, 5) * 100, tolerance=1e-13)


def test_one_observation_per_group_is_error():
    """lmer-1.R:270-273: five groups of one observation each is an error."""
    import pandas as pd

    with pytest.raises(lf.DataError, match="group"):
        lf.lmer("y ~ 1 + (1|group)", pd.DataFrame({"group": list("abcde"), "y": [1.0, 2, 3, 4, 5]}))


def test_missing_response_and_group_rows_dropped():
    """lmer-1.R:315-318: NA in y (row 2) and in f (rows 3-4): the fit uses the 57 complete rows."""
    import pandas as pd

    d = pd.DataFrame({"y": np.arange(1, 61, dtype=float), "f": np.repeat(np.arange(1, 7), 10).astype(str)})
    d["f"] = d["f"].astype(object)
    d.loc[1, "y"] = np.nan
    d.loc[[2, 3], "f"] = np.nan
    with pytest.warns(lf.DroppedRowsWarning):
        m = lf.lmer("y~(1|f)", d)
    assert m.nobs == 57


# --- lme4 tests/lmer-0.R and tests/falsezero_dorie.R -----------------------------------------------------------------

def test_lmer0_small_random_slope():
    """lmer-0.R:18-23, 36-46: log(y) ~ x | z (lme4 reads it as log(y) ~ 1 + (x | z); written with the brackets
    here): fixef -0.834544 (tolerance 0.01), diag(vcov) 0.1760782 (9e-5)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.SingularFitWarning)
        fm = lf.lmer("np.log(y) ~ (x | z)", load("lmer0_X"))
    assert all_equal([-0.834544], fm.fixef, tolerance=0.01)
    assert all_equal([0.1760782], np.diag(fm.vcov.to_numpy()), tolerance=9e-5)
    assert all_equal(r_values()["lmer0"]["dV"], np.diag(fm.vcov.to_numpy()), tolerance=9e-5)


def test_lmer0_sleepstudy_vcov_cholesky(fits):
    """lmer-0.R:35-51: diag(vcov(fm1)) (46.5751, 2.38947) (4e-4); chol(vcov) (6.82377, 0, -0.212575, 1.53127)
    (2e-4)."""
    v = fits["fm1"].vcov.to_numpy()
    assert all_equal([46.5751, 2.38947], np.diag(v), tolerance=4e-4)
    c = np.linalg.cholesky(v).T  # R's chol(): upper triangular
    assert all_equal([6.82377, 0, -0.212575, 1.53127], c.ravel(order="F"), tolerance=2e-4)


def test_lmer0_unbalanced_crossed_ml():
    """lmer-0.R:65-114: lsDat[1:29, ] (empty cells, single observations), ML: the SDs of Part:Operator, Operator,
    Part and the residual, rows in lme4's order (Part and Operator have 5 levels each: lme4's rev(order(nlevels))
    lists Operator first). lme4's test hard-codes (1.040664, 0.6359187, 0.5291422, 0.4824796) from nloptwrap with
    ftol_abs = xtol_abs = 1e-6, which stops short; compared here with R's optimum (bobyqa, make_ported.R)."""
    import pandas as pd

    ls_dat = pd.DataFrame({
        "Operator": np.repeat(np.arange(1, 6), [3, 4, 8, 8, 8]).astype(str),
        "Part": np.array([2, 3, 5, 1, 1, 2, 3, 1, 1, 2, 2, 3, 3, 4, 5, 1, 2, 3, 3, 4, 4, 5, 5, 1, 2, 2, 3, 3, 4, 5,
                          5]).astype(str),
        "y": [0.34, -1.23, -2.46, -0.84, -1.57, -0.31, -0.18, -0.94, -0.81, 0.77, 0.4, -2.37, -2.78, 1.29, -0.95,
              -1.58, -2.06, -3.11, -3.2, -0.1, -0.49, -2.02, -0.75, 1.71, -0.85, -1.19, 0.13, 1.35, 1.92, 1.04,
              1.08]})
    fm3 = lf.lmer("y ~ (1|Part) + (1|Operator) + (1|Part:Operator)", ls_dat)
    assert fm3.nobs == 31
    fm4 = lf.lmer("y ~ (1|Part) + (1|Operator) + (1|Part:Operator)", ls_dat.iloc[:29], reml=False)
    assert list(fm4.varcorr["group"]) == ["Part:Operator", "Operator", "Part", "Residual"]  # lme4's order (ties)
    r = r_values()["lsd29"]
    assert list(fm4.varcorr["group"]) == r["grp"]
    assert all_equal(r["sdcor"], fm4.varcorr["sdcor"], tolerance=1e-5)
    assert fm4.deviance == pytest.approx(r["deviance"], rel=1e-10)


def test_false_zero_dorie():
    """falsezero_dorie.R:7-29: balanced one-way ML fit: theta equals the closed form
    sqrt(max((n - 1) R / n - 1/n, 0)) with R = S_b / S_w (tolerance 2e-5). (Data drawn with numpy, as R's draws
    do not matter to the identity.)"""
    import pandas as pd

    rng = np.random.default_rng(1)
    n, J = 5, 10
    g = np.repeat(np.arange(J), n)
    y = rng.normal(2 + rng.normal(0, 2 * 0.75, J)[g], 2)
    fit = lf.lmer("y ~ 1 + (1 | g)", pd.DataFrame({"y": y, "g": g.astype(str)}), reml=False)
    ybar_j = np.array([y[g == j].mean() for j in range(J)])
    S_w = np.sum((y - ybar_j[g]) ** 2)
    S_b = n * np.sum((ybar_j - y.mean()) ** 2)
    R = S_b / S_w
    assert all_equal(np.sqrt(max((n - 1) * R / n - 1 / n, 0)), fit.theta, tolerance=2e-5)
