"""Ported from lmerTest's tests/test_summary.R and tests/test_lmer.R (runehaubo/lmerTestR 35dc588).

lmerTest's checks are about the summary's structure; the coefficient tables are also compared with lmerTest's own
numbers for the same model (make_ported.R). lmmflow's columns estimate, std_error, df, t_value, p_value are
lmerTest's Estimate, Std. Error, df, t value, Pr(>|t|).
"""

from __future__ import annotations

import numpy as np
import pytest

import lmmflow as lf

from ._data import all_equal, load, num, r_values

TOL = 1e-4


@pytest.fixture(scope="module")
def fm():
    """test_summary.R:20."""
    return lf.lmer("Reaction ~ Days + (1|Subject) + (0+Days|Subject)", load("sleepstudy"))


def test_coefficient_table_columns(fm):
    """test_summary.R:22-37: the table has df and p-value columns, one row per fixed effect."""
    mat = fm.coef_table()
    assert list(mat.columns) == ["estimate", "std_error", "df", "t_value", "p_value"]
    assert list(mat.index) == list(fm.fixef.index)


@pytest.mark.parametrize("ddf, key", [("satterthwaite", "sat"), ("kenward-roger", "kr")])
def test_coefficient_table_values(fm, ddf, key):
    """test_summary.R:60-74, 95-103: Satterthwaite and Kenward-Roger tables as lmerTest's (all columns)."""
    ref = r_values()["lmertest"]["summary_fm"][key]
    tab = fm.coef_table(ddf=ddf)
    assert list(tab.index) == ref["rows"]
    table = num(ref["table"])
    for j, col in enumerate(["estimate", "std_error", "df", "t_value", "p_value"]):
        assert all_equal(table[:, j], tab[col].to_numpy(), tolerance=TOL), col


def test_correlation_printed_by_choice(fm):
    """test_summary.R:39-46: "Correlation of Fixed Effects:" printed by default, not with correlation=FALSE."""
    txt = "Correlation of Fixed Effects:"
    assert txt in str(fm.summary())
    assert txt not in str(fm.summary(correlation=False))


def test_summary_mentions_method(fm):
    """test_summary.R:84-103: the printout names the df method and has df, t value and Pr(>|t|) columns."""
    for ddf, name in (("satterthwaite", "Satterthwaite's method"), ("kenward-roger", "Kenward-Roger's method")):
        text = str(fm.summary(ddf=ddf))
        assert f"t-tests use {name}" in text
        for col in ("df", "t value", "Pr(>|t|)"):
            assert col in text


def test_summary_abbreviations_equal(fm):
    """test_summary.R:60-69: the default ddf is Satterthwaite's."""
    assert fm.coef_table().equals(fm.coef_table(ddf="satterthwaite"))


@pytest.mark.parametrize("formula, names", [
    ("Reaction ~ -1 + (Days | Subject)", []),                     # test_summary.R:108-119
    ("Reaction ~ (Days | Subject)", ["(Intercept)"]),             # test_summary.R:121-132
])
def test_summary_small_fixed_parts(formula, names):
    """test_summary.R:106-132: no fixed effects / intercept only: tables with 0 / 1 rows (both ddf)."""
    m = lf.lmer(formula, load("sleepstudy"))
    assert list(m.fixef.index) == names
    assert len(m.coef_table()) == len(m.coef_table(ddf="kenward-roger")) == len(names)
    str(m.summary())


def test_update_in_function():
    """test_lmer.R:57-72: update(fm1, data = tmp) inside a function equals the fit."""
    ss = load("sleepstudy")
    fm1 = lf.lmer("Reaction ~ Days + (Days|Subject)", ss)

    def myupdate(m, **kw):
        return m.update(**kw)

    fma, fmb = fm1.update(data=ss.copy()), myupdate(fm1, data=ss.copy())
    assert fma.objective == pytest.approx(fmb.objective, rel=1e-12)
    assert fma.fixef.to_numpy() == pytest.approx(fm1.fixef.to_numpy(), rel=1e-6)


def test_update_removes_fixed_term():
    """test_lmer.R:124-136: update(m, ~.-Days) equals lmer(Reaction ~ (Days | Subject)), tolerance 1e-6."""
    ss = load("sleepstudy")
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", ss)
    m1 = m.update("Reaction ~ (Days | Subject)", data=ss)
    m2 = lf.lmer("Reaction ~ (Days | Subject)", ss)
    assert m1.objective == pytest.approx(m2.objective, rel=1e-6)
    assert np.asarray(m1.theta) == pytest.approx(np.asarray(m2.theta), rel=1e-6)


def test_character_formula_ham():
    """test_lmer.R:74-84: a formula string over lines (ham), and its update without Product."""
    ham = load("ham").rename(columns={"Informed.liking": "Informed_liking"})
    form = """Informed_liking ~ Product+Information+
            (1|Consumer) + (1|Product:Consumer) + (1|Information:Consumer)"""
    m = lf.lmer(form, ham)
    m2 = m.update("Informed_liking ~ Information + (1|Consumer) + (1|Product:Consumer) + (1|Information:Consumer)",
                  data=ham)
    assert "Product" not in " ".join(m2.fixef_names)
    ref = r_values()["lmertest"]["ham_anova"]
    an = lf.anova(m)
    assert all_equal(num(ref["t3"]["table"])[:, 4], an["f_value"].to_numpy(), tolerance=TOL)
    assert all_equal(num(ref["t3"]["table"])[:, 3], an["den_df"].to_numpy(), tolerance=TOL)
    an_kr = lf.anova(m, ddf="kenward-roger")
    assert all_equal(num(ref["kr3"]["table"])[:, 3], an_kr["den_df"].to_numpy(), tolerance=TOL)


def test_deviance_function_only():
    """test_lmer.R:97-104: devFunOnly = TRUE returns a function of theta (lmmflow: lf.make_deviance)."""
    dev = lf.make_deviance(lf.lformula("Reaction ~ Days + (Days|Subject)", load("sleepstudy")), reml=True)
    fm1 = lf.lmer("Reaction ~ Days + (Days|Subject)", load("sleepstudy"))
    assert dev(fm1.theta) == pytest.approx(fm1.objective, rel=1e-12)
