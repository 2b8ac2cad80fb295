"""Ported from lmerTest's tests/test_contest1D.R and tests/test_contestMD.R (runehaubo/lmerTestR 35dc588).

lmerTest's contest1D(fm, L) / contestMD(fm, L) are lmmflow's lf.contrast(m, L) / lf.contrast(m, L, joint=True). The
values are lmerTest's for the same models (make_ported.R). lme4's I(Days^2) is written I(Days**2) (Python's power).
"""

from __future__ import annotations

import numpy as np
import pytest

import lmmflow as lf

from ._data import all_equal, load, r_values

TOL = 1e-4


@pytest.fixture(scope="module")
def fm():
    """test_contest1D.R:22-23."""
    return lf.lmer("Reaction ~ Days + I(Days**2) + (1|Subject) + (0+Days|Subject)", load("sleepstudy"))


@pytest.mark.parametrize("ddf, key", [("satterthwaite", "sat"), ("kenward-roger", "kr")])
def test_contest1D_values(fm, ddf, key):
    """test_contest1D.R:25-30: contest1D(fm, c(0, 1, 0)) (and with ddf="Kenward-Roger") as lmerTest's."""
    ref = r_values()["lmertest"]["contest1D"][key]
    row = lf.contrast(fm, [0, 1, 0], ddf=ddf).iloc[0]
    assert all_equal(ref["values"], row[["estimate", "std_error", "df", "t_value", "p_value"]].to_numpy(dtype=float),
                     tolerance=TOL)


@pytest.mark.parametrize("L", [[0, 1, 1, 1], [0, 1], [[0, 1, 0, 0]], [[0], [1]]])
def test_contest1D_bad_L(fm, L):
    """test_contest1D.R:32-42: L of the wrong length or shape is an error (the empty L of :43-44 is pending)."""
    with pytest.raises(ValueError):
        lf.contrast(fm, np.asarray(L, dtype=float))


def test_contest1D_matrix_forms(fm):
    """test_contest1D.R:39: L as a one-row matrix gives the same test as the vector."""
    a = lf.contrast(fm, [0, 1, 0])
    b = lf.contrast(fm, np.array([[0.0, 1.0, 0.0]]))
    assert a["t_value"].to_numpy() == pytest.approx(b["t_value"].to_numpy())


def test_unit_contrasts_equal_coefficient_table(fm):
    """test_contest1D.R:50-69: contest1D with the rows of the identity reproduces the coefficient table (both ddf)."""
    for ddf in ("satterthwaite", "kenward-roger"):
        ct = lf.contrast(fm, np.eye(3), ddf=ddf)
        tab = fm.coef_table(ddf=ddf)
        for col in ("estimate", "std_error", "t_value", "df", "p_value"):
            assert all_equal(tab[col].to_numpy(), ct[col].to_numpy(), tolerance=TOL)


def test_no_fixed_effects_kr():
    """test_contest1D.R:71-77: a model without fixed effects: fixef is empty."""
    fm1 = lf.lmer("Reaction ~ 0 + (1|Subject) + (0+Days|Subject)", load("sleepstudy"))
    assert len(fm1.fixef) == 0
    assert len(fm1.coef_table(ddf="kenward-roger")) == 0


def test_t_squared_equals_F():
    """test_contest1D.R:80-93: contest1D(fm, cbind(0, 1)) as lmerTest's; its t^2 equals contestMD's F."""
    ref = r_values()["lmertest"]["contest_rhs"]
    m = lf.lmer("Reaction ~ Days + (Days|Subject)", load("sleepstudy"))
    ct1 = lf.contrast(m, [[0, 1]])
    assert all_equal(ref["t"]["values"], ct1.iloc[0][["estimate", "std_error", "df", "t_value", "p_value"]]
                     .to_numpy(dtype=float), tolerance=TOL)
    ct2 = lf.contrast(m, [[0, 1]], joint=True)
    assert ct1["t_value"].iloc[0] ** 2 == pytest.approx(ct2["f_value"].iloc[0], rel=1e-6)
    assert ct2["den_df"].iloc[0] == pytest.approx(ct1["df"].iloc[0], rel=1e-6)
