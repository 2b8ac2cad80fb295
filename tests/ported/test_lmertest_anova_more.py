"""Ports of lmerTest's tests/test_anova.R expectations that FAIL on current lmmflow.

Not collected (file name). They wait for issue 11 item 3 (type II anova) and item 1 (contrasts=, ordered factors'
polynomial contrasts, I(x^2)). Each test says why it fails now.
"""

from __future__ import annotations

import warnings

import numpy as np

import lmmflow as lf

from ._data import all_equal, load, num, r_values
from .test_lmertest_anova import COLS, TOL, assert_table


def lt(key):
    return r_values()["lmertest"][key]


def test_type2_tables():
    """test_anova.R:28, 68-75, 128-136, 142, 175-180: type II tables (== type III for one term, for recipe*temp,
    and for the balanced cake2), as lmerTest's.
    """
    ss, cake = load("sleepstudy"), load("cake")
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", ss)
    for t in ("2", "II", 2):
        assert_table(lf.anova(m, type=t), lt("anova_sleep")["t2"])
    m = lf.lmer("angle ~ recipe * temp + (1|recipe:replicate)", cake)
    an2, an3 = lf.anova(m, type=2), lf.anova(m, type=3)
    for col in COLS:
        assert all_equal(an3[col], an2[col], tolerance=TOL)
    assert_table(an2, lt("anova_cake_temp")["t2"])
    m = lf.lmer("angle ~ recipe * temperature + (1|recipe:replicate)", cake)
    assert_table(lf.anova(m, type=2), lt("anova_cake2")["t2"])


def test_power_in_I_names():
    """test_anova.R:301-316, test_summary.R:135-144: Reaction ~ Days - 1 + I(Days^2): fixef names Days, I(Days^2);
    Reaction ~ Days + I(Days^2): tables as lmerTest's.
    """
    ss = load("sleepstudy")
    m = lf.lmer("Reaction ~ Days - 1 + I(Days^2) + (Days | Subject)", ss)
    assert len(m.fixef_names) == 2 and m.fixef_names[0] == "Days"  # (the name of I(Days^2) is formulaic's)
    assert len(lf.anova(m)) == len(m.coef_table()) == len(m.coef_table(ddf="kenward-roger")) == 2
    m = lf.lmer("Reaction ~ Days + I(Days^2) + (Days | Subject)", ss)
    for t, key in ((1, "t1"), (3, "t3")):
        an = lf.anova(m, type=t)
        an.index = ["Days", "I(Days^2)"]  # lmmflow's row name for the power is formulaic's
        assert_table(an, lt("anova_days2")[key])


def test_contrasts_do_not_change_type3():
    """test_anova.R:210-223, 358-380: sum / SAS / polynomial / Helmert contrasts (and options(contrasts)) give the
    same type III table as treatment contrasts, on the unbalanced cake4.
    """
    r = lt("anova_cake4")
    cake = load("cake")
    cake4 = cake.iloc[np.asarray(r["rows"]) - 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.RankDeficiencyWarning)
        for contrasts in ({"recipe": "sum", "temperature": "treatment"}, {"recipe": "sum", "temperature": "poly"},
                          {"recipe": "helmert", "temperature": "poly"}):
            m = lf.lmer("angle ~ recipe * temperature + (1|recipe:replicate)", cake4, contrasts=contrasts)
            assert_table(lf.anova(m), r["t3"])
    m = lf.lmer("angle ~ recipe * temp + (1|recipe:replicate)", cake, contrasts={"recipe": "sum"})
    an2, an3 = lf.anova(m, type=2), lf.anova(m, type=3)
    for col in COLS:
        assert all_equal(an2[col], an3[col], tolerance=TOL)


def test_ordered_factor_polynomial_contrasts():
    """test_anova.R:140-149 with cake's ordered temperature: fixef names are .L, .Q, .C, ^4, ^5 as R's contr.poly.
    """
    import pandas as pd

    cake = load("cake")
    cake["temperature"] = pd.Categorical(cake["temperature"], categories=sorted(cake["temperature"].unique(),
                                                                                 key=float), ordered=True)
    m = lf.lmer("angle ~ recipe * temperature + (1|recipe:replicate)", cake)
    assert [n for n in m.fixef_names if n.startswith("temperature")][:5] == [
        "temperature.L", "temperature.Q", "temperature.C", "temperature^4", "temperature^5"]
    assert_table(lf.anova(m, type=3), lt("anova_cake_ordered")["t3"])
    assert num(lt("anova_cake_ordered")["t3"]["table"]).shape == (3, 6)
