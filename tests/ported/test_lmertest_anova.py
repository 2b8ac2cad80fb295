"""Ported from lmerTest's tests/test_anova.R (runehaubo/lmerTestR 35dc588): the expectations lmmflow supports.

lmerTest's stopifnot() checks compare tables with each other; here the tables are also compared with lmerTest's own
numbers for the same models (make_ported.R, ported.json "lmertest"). lmmflow's columns sum_sq, mean_sq, num_df, den_df,
f_value, p_value are lmerTest's Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F). Type II tables, contrasts=, I(x^2)
and ddf="lme4" tables are in test_lmertest_anova_more.py or not ported (docs/lme4_users.md).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf

from ._data import all_equal, load, num, r_values

TOL = 1e-4  # lmerTest's TOL in test_anova.R
COLS = ["sum_sq", "mean_sq", "num_df", "den_df", "f_value", "p_value"]


def lt(key):
    return r_values()["lmertest"][key]


def assert_table(ours, ref, tol=TOL):
    """An lmmflow anova table against lmerTest's (all.equal per column, tolerance tol)."""
    rows = ref["rows"] if isinstance(ref["rows"], list) else [ref["rows"]]
    assert list(ours.index) == rows
    table = num(ref["table"])
    for j, col in enumerate(COLS):
        assert all_equal(table[:, j], ours[col].to_numpy(dtype=float), tolerance=tol), col


@pytest.fixture(scope="module")
def m_sleep():
    return lf.lmer("Reaction ~ Days + (Days | Subject)", load("sleepstudy"))


def test_sleepstudy_anova(m_sleep):
    """test_anova.R:22-35, 58-86: default = Satterthwaite = type III; type 1 == type 3 (one term); KR table."""
    r = lt("anova_sleep")
    an1 = lf.anova(m_sleep)
    pd.testing.assert_frame_equal(pd.DataFrame(an1), pd.DataFrame(lf.anova(m_sleep, ddf="satterthwaite", type=3)))
    for t in ("1", "I", 1):
        pd.testing.assert_frame_equal(pd.DataFrame(lf.anova(m_sleep, type=t)),
                                      pd.DataFrame(lf.anova(m_sleep, type="I")))
    for t in ("3", "III", 3):
        pd.testing.assert_frame_equal(pd.DataFrame(lf.anova(m_sleep, type=t)), pd.DataFrame(an1))
    assert_table(an1, r["t3"])
    assert_table(lf.anova(m_sleep, type=1), r["t1"])
    assert_table(lf.anova(m_sleep, ddf="kenward-roger"), r["kr3"])


@pytest.mark.parametrize("kwargs", [{"type": 0}, {"ddf": "lme5"}])
def test_invalid_arguments(m_sleep, kwargs):
    """test_anova.R:45-47, 87-88: type=0 is an error, as is an unknown ddf (lmmflow accepts "KR" and "i" as
    spellings of Kenward-Roger and type I, which lmerTest's match.arg refuses; see docs/lme4_users.md)."""
    with pytest.raises(ValueError):
        lf.anova(m_sleep, **kwargs)


@pytest.fixture(scope="module")
def cake():
    return load("cake")


def test_cake_recipe_temp(cake):
    """test_anova.R:111-137: angle ~ recipe * temp: NumDF (2, 1, 2), DenDF (254.0157612, 222, 222); the KR table has
    the same Sum Sq, Mean Sq and F; type 1 differs from type 3."""
    r = lt("anova_cake_temp")
    m = lf.lmer("angle ~ recipe * temp + (1|recipe:replicate)", cake)
    an = lf.anova(m)
    assert all_equal([2, 1, 2], an["num_df"], tolerance=1e-6)
    assert all_equal([254.0157612, 222, 222], an["den_df"], tolerance=TOL)
    an_kr = lf.anova(m, ddf="kenward-roger")
    for col in ("sum_sq", "mean_sq", "f_value"):
        assert all_equal(an[col], an_kr[col], tolerance=TOL)
    an1 = lf.anova(m, type=1)
    assert not all_equal(an1["f_value"], an["f_value"], tolerance=1e-8)
    assert_table(an, r["t3"])
    assert_table(an1, r["t1"])
    assert_table(an_kr, r["kr3"])
    assert_table(lf.anova(m, type=1, ddf="kenward-roger"), r["kr1"])


def test_cake_temperature_factor(cake):
    """test_anova.R:140-181: angle ~ recipe * temperature (balanced): type 1 == type 3; NumDF (2, 5, 10),
    DenDF (42, 210, 210). (lmerTest's temperature is an ordered factor with polynomial contrasts; lmmflow reads the
    exported column as unordered with treatment contrasts, lmerTest's cake2: the F tables are the same.)"""
    m = lf.lmer("angle ~ recipe * temperature + (1|recipe:replicate)", cake)
    an1, an3 = lf.anova(m, type=1), lf.anova(m, type=3)
    for col in COLS:
        assert all_equal(an1[col], an3[col], tolerance=TOL)
    assert all_equal([2, 5, 10], an1["num_df"], tolerance=TOL)
    assert all_equal([42, 210, 210], an1["den_df"], tolerance=TOL)
    assert_table(an1, lt("anova_cake_ordered")["t1"])
    assert_table(an3, lt("anova_cake_ordered")["t3"])
    assert_table(an1, lt("anova_cake2")["t1"])
    assert_table(an3, lt("anova_cake2")["t3"])


def test_cake_no_intercept(cake):
    """test_anova.R:185-194: angle ~ 0 + recipe * temp: types 1 and 3 and KR as lmerTest's."""
    r = lt("anova_cake_noint")
    m = lf.lmer("angle ~ 0 + recipe * temp + (1|recipe:replicate)", cake)
    assert_table(lf.anova(m, type=1), r["t1"])
    assert_table(lf.anova(m, type=3), r["t3"])
    assert_table(lf.anova(m, ddf="kenward-roger"), r["kr3"])


def test_cake_ml(cake):
    """test_anova.R:197-204: ML fit: Satterthwaite tables as lmerTest's; Kenward-Roger of an ML fit is an error."""
    r = lt("anova_cake_ml")
    m = lf.lmer("angle ~ recipe * temp + (1|recipe:replicate)", cake, reml=False)
    assert_table(lf.anova(m, type=1), r["t1"])
    assert_table(lf.anova(m, type=3), r["t3"])
    with pytest.raises(ValueError, match="REML"):
        lf.anova(m, ddf="kenward-roger")


def test_no_fixed_effects():
    """test_anova.R:231-246: Reaction ~ -1 + (Days | Subject): no fixed effects, empty tables."""
    m = lf.lmer("Reaction ~ -1 + (Days | Subject)", load("sleepstudy"))
    assert len(m.fixef) == 0
    for kwargs in ({"type": 1}, {"type": 3}, {"ddf": "kenward-roger"}):
        assert len(lf.anova(m, **kwargs)) == 0


def test_intercept_only():
    """test_anova.R:249-266: Reaction ~ (Days | Subject): only the intercept, empty tables."""
    m = lf.lmer("Reaction ~ (Days | Subject)", load("sleepstudy"))
    assert m.fixef_names == ["(Intercept)"]
    for kwargs in ({}, {"type": 1}, {"type": 3}, {"ddf": "kenward-roger"}):
        assert len(lf.anova(m, **kwargs)) == 0


def test_slope_without_intercept():
    """test_anova.R:273-298: Reaction ~ Days - 1 + (Days | Subject): one row, NumDF 1, DenDF 17."""
    r = lt("anova_days_noint")
    m = lf.lmer("Reaction ~ Days - 1 + (Days | Subject)", load("sleepstudy"))
    assert m.fixef_names == ["Days"]
    an = lf.anova(m)
    assert len(an) == len(lf.anova(m, type=1)) == len(lf.anova(m, ddf="kenward-roger")) == 1
    assert all_equal([1, 17], [an["num_df"].iloc[0], an["den_df"].iloc[0]], tolerance=TOL)
    assert_table(an, r["t3"])
    assert_table(lf.anova(m, ddf="kenward-roger"), r["kr3"])


def test_quadratic_term_python_power():
    """test_anova.R:325-340: Reaction ~ Days + I(Days^2) + (Days | Subject) (written I(Days**2), Python's power;
    the ^ spelling is pending): types 1 and 3 and KR as lmerTest's; KR DenDF and F equal lmerTest's type 3."""
    r = lt("anova_days2")
    m = lf.lmer("Reaction ~ Days + I(Days**2) + (Days | Subject)", load("sleepstudy"))
    for key, kwargs in (("t1", {"type": 1}), ("t3", {"type": 3}), ("kr3", {"ddf": "kenward-roger"})):
        an = lf.anova(m, **kwargs)
        an.index = ["Days", "I(Days^2)"]
        assert_table(an, r[key])


def test_unbalanced_cake4():
    """test_anova.R:347-380 (an1): cake4 (3 temperatures, 3 empty cells): the type III table as lmerTest's."""
    r = lt("anova_cake4")
    cake = load("cake")
    cake4 = cake.iloc[np.asarray(r["rows"]) - 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.RankDeficiencyWarning)
        m = lf.lmer("angle ~ recipe * temperature + (1|recipe:replicate)", cake4)
    assert_table(lf.anova(m), r["t3"])
    assert_table(lf.anova(m, type=1), r["t1"])


def test_anova_two_models_refit_false(m_sleep):
    """test_anova.R:98-103: anova(m, m2, refit=FALSE): two rows, the first the smaller model."""
    m2 = lf.lmer("Reaction ~ Days + I(Days**2) + (Days | Subject)", load("sleepstudy"))
    an = lf.anova(m_sleep, m2, refit=False, names=["m", "m2"])
    assert len(an) == 2
    assert an.index[0] == "m"
