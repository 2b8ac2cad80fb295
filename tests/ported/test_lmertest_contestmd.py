"""Ported from lmerTest's tests/test_contestMD.R, tests/test_zerovar.R and tests/zlmerTest_zeroDenom.R
(runehaubo/lmerTestR 35dc588). contestMD(fm, L) is lmmflow's lf.contrast(m, L, joint=True); values are lmerTest's
for the same models (make_ported.R). lme4's I(Days^2) is written I(Days**2)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lmmflow as lf

from ._data import all_equal, load, num, r_values

TOL = 1e-4
COLS = ["sum_sq", "mean_sq", "num_df", "den_df", "f_value", "p_value"]


def lt(key):
    return r_values()["lmertest"][key]


@pytest.fixture(scope="module")
def fm():
    """test_contestMD.R:21-22."""
    return lf.lmer("Reaction ~ Days + I(Days**2) + (1|Subject) + (0+Days|Subject)", load("sleepstudy"))


@pytest.mark.parametrize("rows, ddf, key", [
    ([0, 1, 2], "satterthwaite", "sat"),      # test_contestMD.R:24-28
    ([0, 1, 2], "kenward-roger", "kr"),       # test_contestMD.R:29-30
    ([1, 2], "satterthwaite", "sat23"),       # test_contestMD.R:34-36
    ([1, 2], "kenward-roger", "kr23"),        # test_contestMD.R:37-41
    ([2], "satterthwaite", "sat3"),           # test_contestMD.R:44-46
])
def test_contestMD_values(fm, rows, ddf, key):
    """test_contestMD.R:24-56: joint F tests of rows of diag(3): one row, NumDF = number of rows, lmerTest's values."""
    ans = lf.contrast(fm, np.eye(3)[rows], ddf=ddf, joint=True)
    assert len(ans) == 1
    assert ans["num_df"].iloc[0] == len(rows)
    assert all_equal(lt("contestMD")[key]["values"], ans.iloc[0][COLS].to_numpy(dtype=float), tolerance=TOL)


def test_contestMD_vector_L(fm):
    """test_contestMD.R:54-58: a vector L of length 3 is one row; lengths 2 and 4 are errors."""
    ans = lf.contrast(fm, [0, 0, 1], joint=True)
    assert len(ans) == 1 and ans["num_df"].iloc[0] == 1
    for L in ([1, 0], [1, 0, 1, 1]):
        with pytest.raises(ValueError):
            lf.contrast(fm, L, joint=True)
    with pytest.raises(ValueError):
        lf.contrast(fm, np.eye(3)[1:3, 1:3], joint=True)  # test_contestMD.R:72


def test_contestMD_rank_deficient_L_satterthwaite(fm):
    """test_contestMD.R:75-81: a 3-row L of rank 2: NumDF 2, lmerTest's values (Kenward-Roger's is pending)."""
    L = np.array([[1, 0, 1], [0, 1, 0], [1, -1, 1]], dtype=float)
    ans = lf.contrast(fm, L, joint=True)
    assert ans["num_df"].iloc[0] == 2
    assert all_equal(lt("contestMD")["rankdef"]["values"], ans.iloc[0][COLS].to_numpy(dtype=float), tolerance=TOL)


def test_contestMD_no_fixed_effects():
    """test_contestMD.R:88-96: a model without fixed effects: fixef is empty."""
    fm1 = lf.lmer("Reaction ~ 0 + (1|Subject) + (0+Days|Subject)", load("sleepstudy"))
    assert len(fm1.fixef) == 0


def test_contestMD_marginal_anova_row():
    """test_contestMD.R:100-110: on cake, contestMD of the recipe rows equals the type III anova row of recipe."""
    model = lf.lmer("angle ~ recipe * temp + (1|recipe:replicate)", load("cake"))
    L = np.eye(len(model.fixef))[1:3]
    ct = lf.contrast(model, L, joint=True)
    an = lf.anova(model, type=3)
    assert all_equal(an.loc["recipe", COLS].to_numpy(dtype=float), ct.iloc[0][COLS].to_numpy(dtype=float),
                     tolerance=1e-6)


def test_zero_variance_component_changes_nothing():
    """test_zerovar.R:7-41: an extra (1|g) estimated at 0 leaves the anova and coefficient tables unchanged;
    its SD is 0; lmerTest's tables."""
    d = load("zerovar")
    m0 = lf.lmer("Reaction ~ Days +  (Days | Subject)", d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.SingularFitWarning)
        m = lf.lmer("Reaction ~ Days +  (Days | Subject) + (1|g)", d)
    vc = m.varcorr
    assert all_equal(0, vc.loc[vc["group"] == "g", "sdcor"].to_numpy(), tolerance=1e-4)
    an0, an = lf.anova(m0), lf.anova(m)
    for col in COLS[:5]:
        assert all_equal(an0[col], an[col], tolerance=1e-4)
    for col in ("estimate", "std_error", "df", "t_value", "p_value"):
        assert all_equal(m0.coef_table()[col], m.coef_table()[col], tolerance=1e-4)
    ref = lt("zerovar")
    assert all_equal(num(ref["an"]["table"])[:, :5].ravel(), an[COLS[:5]].to_numpy(dtype=float).ravel(),
                     tolerance=1e-4)


@pytest.mark.parametrize("ddf, key", [("satterthwaite", "sat"), ("kenward-roger", "kr")])
def test_zero_denominator_potdata(ddf, key):
    """zlmerTest_zeroDenom.R:7-19: biomass ~ CO2*nutrients + (1|chamber): DenDF (2, 10, 10), p-values
    (0.0224955602, 1e-11, 0.020905569), and lmerTest's whole tables."""
    m = lf.lmer("biomass ~ CO2*nutrients + (1|chamber)", load("potdata"))
    an = lf.anova(m, ddf=ddf)
    assert all_equal([2, 10, 10], an["den_df"], tolerance=1e-5)
    assert all_equal([0.0224955602, 1e-11, 0.020905569], an["p_value"], tolerance=1e-5)
    table = num(lt("potdata")[key]["table"])
    for j, col in enumerate(COLS):
        assert all_equal(table[:, j], an[col].to_numpy(dtype=float), tolerance=1e-5), col
