"""Ported from lmerTest's tests/test_ranova_step.R (runehaubo/lmerTestR 35dc588): the ranova expectations.

lmmflow's ranova columns npar, loglik, aic, lrt, df, p_value are lmerTest's npar, logLik, AIC, LRT, Df, Pr(>Chisq);
values are lmerTest's for the same models (make_ported.R). step(), rand() and ranova(reduce.terms = FALSE) are not
in lmmflow (docs/lme4_users.md).
"""

from __future__ import annotations

import warnings

import pytest

import lmmflow as lf

from ._data import all_equal, load, num, r_values

TOL = 1e-4
COLS = ["npar", "loglik", "aic", "lrt", "df", "p_value"]


def assert_ranova(ours, ref, rows=True, tol=TOL):
    if rows:
        assert list(ours.index) == ref["rows"]
    table = num(ref["table"])
    assert len(ours) == len(table)
    for j, col in enumerate(COLS):
        assert all_equal(table[:, j], ours[col].to_numpy(dtype=float), tolerance=tol), col


def lt(key):
    return r_values()["lmertest"][key]


def test_ranova_random_slope():
    """test_ranova_step.R:27-44: ranova((Days|Subject)) has 2 rows, a 2-df test whose LRT is anova(fm1, fm2,
    refit=FALSE)'s Chisq."""
    ss = load("sleepstudy")
    fm1 = lf.lmer("Reaction ~ Days + (Days|Subject)", ss)
    an = lf.ranova(fm1)
    assert len(an) == 2 and an["df"].iloc[1] == 2
    assert_ranova(an, lt("ranova_slope")["r"])
    fm2 = lf.lmer("Reaction ~ Days + (1|Subject)", ss)
    ana = lf.anova(fm1, fm2, refit=False)
    assert an["lrt"].iloc[1] == pytest.approx(ana["chisq"].iloc[1], rel=TOL)


def test_ranova_ml_against_lm():
    """test_ranova_step.R:67-77: ML fit with (1|Subject): LRT and logLik against the linear model."""
    ss = load("sleepstudy")
    fm1 = lf.lmer("Reaction ~ Days + (1|Subject)", ss, reml=False)
    an1 = lf.ranova(fm1)
    assert_ranova(an1, lt("ranova_ml"), rows=False)
    assert an1["df"].iloc[1] == 1


def test_ranova_two_terms_one_factor():
    """test_ranova_step.R:96-99: (1 | Subject) + (0 + Days|Subject): three rows."""
    fm1 = lf.lmer("Reaction ~ Days + (1 | Subject) + (0 + Days|Subject)", load("sleepstudy"))
    an = lf.ranova(fm1)
    assert len(an) == 3
    assert_ranova(an, lt("ranova_two"), rows=False)


def test_ranova_double_bar():
    """test_ranova_step.R:147-149: (Days||Subject) as lmerTest's table."""
    fm1 = lf.lmer("Reaction ~ Days + (Days||Subject)", load("sleepstudy"))
    assert_ranova(lf.ranova(fm1), lt("ranova_dbl"), rows=False)


def _term_key(label: str) -> str:
    """'(1 | TVset:Assessor)' and '(1 | Assessor:TVset)' name the same term."""
    lhs, _, grp = label.strip("()").partition(" | ")
    return lhs + "|" + ":".join(sorted(grp.split(":"))) if grp else label


def test_ranova_tvbo_nested_spellings():
    """test_ranova_step.R:152-162: (1|Assessor:TVset) + (1|Assessor) and (1|Assessor/TVset) give the same table
    (rows matched by term: lmmflow lists a nested term's rows as (1|Assessor), (1|TVset:Assessor), lmerTest the other
    way round; the row order is pending)."""
    tv = load("tvbo")
    fm1 = lf.lmer("Coloursaturation ~ TVset*Picture + (1|Assessor:TVset) + (1|Assessor)", tv)
    fm2 = lf.lmer("Coloursaturation ~ TVset * Picture + (1|Assessor/TVset)", tv)
    an1, an2 = lf.ranova(fm1), lf.ranova(fm2)
    an2 = an2.set_axis([_term_key(x) for x in an2.index]).loc[[_term_key(x) for x in an1.index]]
    for col in COLS:
        assert all_equal(an1[col].to_numpy(dtype=float), an2[col].to_numpy(dtype=float), tolerance=TOL)
    assert_ranova(an1, lt("ranova_tvbo"))
    ref = lt("tvbo_anova")
    an = lf.anova(fm1)
    assert all_equal(num(ref["table"])[:, 4], an["f_value"].to_numpy(), tolerance=TOL)
    assert all_equal(num(ref["table"])[:, 3], an["den_df"].to_numpy(), tolerance=TOL)


def test_ranova_ham():
    """test_ranova_step.R:174-178: ranova of the ham model (formula as a string) as lmerTest's."""
    ham = load("ham").rename(columns={"Informed.liking": "Informed_liking"})
    fm = lf.lmer("Informed_liking ~ Product+Information+(1|Consumer) + (1|Product:Consumer) + "
                 "(1|Information:Consumer)", ham)
    assert_ranova(lf.ranova(fm), lt("ranova_ham"), rows=False)


def test_ranova_carrots():
    """test_ranova_step.R:200-206: (sens1 + sens2 | Consumer): ranova has 3 rows, as lmerTest's.

    lme4's default optimizer stops short on the full model ("failed to converge", logLik -1874.396); bobyqa and
    Nelder-Mead reach -1873.548 (make_ported.R), as lmmflow does: the <none> row is compared with that optimum, the
    two reduced models (which R fits to convergence) with lmerTest's table.
    """
    carrots = load("carrots")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.SingularFitWarning)
        warnings.simplefilter("ignore", lf.DroppedRowsWarning)  # 3 rows with NA Homesize, as R's na.omit
        model = lf.lmer("Preference ~ sens2 + Homesize + (sens1 + sens2 | Consumer)", carrots)
    an = lf.ranova(model)
    assert len(an) == 3
    ref = num(lt("ranova_carrots")["table"])
    assert an["loglik"].iloc[0] == pytest.approx(lt("carrots_bobyqa_loglik"), rel=1e-7)
    for col in ["npar", "loglik", "aic", "df"]:
        k = COLS.index(col)
        assert all_equal(ref[1:, k], an[col].to_numpy(dtype=float)[1:], tolerance=TOL), col
