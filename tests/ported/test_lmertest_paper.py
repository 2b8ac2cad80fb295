"""Ported from lmerTest's tests/test_lmerTest_paper.R (runehaubo/lmerTestR 35dc588): the JSS paper's tables,
saved by lmerTest in testdata/test_paper_objects.RData (exported by make_ported.R), at lmerTest's TOL 1e-4.
step() (8.4) is not in lmmflow; the type II KR table (8.2) waits for type II anova."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lmmflow as lf

from ._data import all_equal, load, num, r_values

TOL = 1e-4
COLS = ["sum_sq", "mean_sq", "num_df", "den_df", "f_value", "p_value"]


def paper(key):
    return num(r_values()["lmertest"]["paper"][key])


def test_tvbo_anova_8_2():
    """test_lmerTest_paper.R:14-18, 57: Sharpnessofmovement ~ TVset * Picture + (1|Assessor) + (1|Assessor:TVset)
    + (1|Assessor:Picture): the type III Satterthwaite table of the paper."""
    tv = lf.lmer("Sharpnessofmovement ~ TVset * Picture + (1 | Assessor) + (1 | Assessor:TVset) + "
                 "(1 | Assessor:Picture)", load("tvbo"))
    an = lf.anova(tv)
    ref = paper("an8.2")
    for j, col in enumerate(COLS):
        assert all_equal(ref[:, j], an[col].to_numpy(dtype=float), tolerance=TOL), col


def test_carrots_summary_8_3():
    """test_lmerTest_paper.R:24-27, 58: Preference ~ sens1 + sens2 + (1 + sens1 + sens2 | Consumer) + (1|Product):
    the paper's coefficient table."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.SingularFitWarning)
        warnings.simplefilter("ignore", lf.DroppedRowsWarning)  # 3 rows with missing values, as R's na.omit
        m = lf.lmer("Preference ~ sens1 + sens2 + (1 + sens1 + sens2 | Consumer) + (1 | Product)", load("carrots"))
    tab = m.coef_table()
    ref = paper("sum8.3")
    for j, col in enumerate(["estimate", "std_error", "df", "t_value", "p_value"]):
        assert all_equal(ref[:, j], tab[col].to_numpy(dtype=float), tolerance=TOL), col


@pytest.fixture(scope="module")
def tv8():
    """test_lmerTest_paper.R:30-35: eight random terms."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.SingularFitWarning)
        return lf.lmer("Sharpnessofmovement ~ TVset * Picture + (1 | Assessor:TVset) + (1 | Assessor:Picture) + "
                       "(1 | Assessor:Picture:TVset) + (1 | Repeat) + (1 | Repeat:Picture) + (1 | Repeat:TVset) + "
                       "(1 | Repeat:TVset:Picture) + (1 | Assessor)", load("tvbo"))


def test_tvbo_contest_8_5(tv8):
    """test_lmerTest_paper.R:44-46, 64-65: contest(tv, L) with L the six TVset:Picture coefficients: the paper's
    joint F test (Sum Sq 90.767, NumDF 6, DenDF 138, F 4.1777, p 0.00068)."""
    L = np.hstack([np.zeros((6, 6)), np.eye(6)])
    ct = lf.contrast(tv8, L, joint=True)
    assert all_equal(paper("con2_8.5"), ct.iloc[0][COLS].to_numpy(dtype=float), tolerance=TOL)


def test_carrots_ranova():
    """test_lmerTest_paper.R:52 (ran_C): ranova of the carrots model as the paper's saved table (npar, logLik,
    AIC, LRT, Df, p).  The saved table's last row (the model without (1 | Product)) was fitted by the lme4 of
    2017 to a local optimum, REML log-likelihood -1878.686; lme4 1.1-31 (tests/reference/make_carrots_ranova.R)
    and lmmflow reach -1877.885 there, so that row is compared with the current lme4's table."""
    import json
    from pathlib import Path

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.SingularFitWarning)
        warnings.simplefilter("ignore", lf.DroppedRowsWarning)  # 3 rows with missing values, as R's na.omit
        m = lf.lmer("Preference ~ sens1 + sens2 + (1 + sens1 + sens2 | Consumer) + (1 | Product)", load("carrots"))
    an = lf.ranova(m)
    ref = paper("ran_C")
    current = Path(__file__).resolve().parents[1] / "reference" / "carrots_ranova.json"
    now = np.array(json.loads(current.read_text())["ran_C"], dtype=float)
    assert len(an) == len(ref) == len(now)
    assert ref[-1, 1] < now[-1, 1] - 0.8  # the paper's fit of that row is 0.80 lower in log-likelihood
    for j, col in enumerate(["npar", "loglik", "aic", "lrt", "df", "p_value"]):
        got = an[col].to_numpy(dtype=float)
        assert all_equal(ref[:-1, j], got[:-1], tolerance=TOL), col
        assert all_equal(now[-1:, j], got[-1:], tolerance=TOL), col
