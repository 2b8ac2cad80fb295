"""Ports of lmerTest's tests/test_contestMD.R expectations that FAIL on current lmmflow (not collected).

They wait for issue 11 item 3 (contrasts with rank-deficient or zero-row L).
"""

from __future__ import annotations

import numpy as np
import pytest

import lmmflow as lf

from ._data import all_equal, load, r_values

COLS = ["sum_sq", "mean_sq", "num_df", "den_df", "f_value", "p_value"]


@pytest.fixture(scope="module")
def fm():
    return lf.lmer("Reaction ~ Days + I(Days**2) + (1|Subject) + (0+Days|Subject)", load("sleepstudy"))


@pytest.mark.parametrize("ddf, key", [("kenward-roger", "rankdef_kr")])
def test_rank_deficient_L(fm, ddf, key):
    """test_contestMD.R:82-85: a 3-row L of rank 2 with Kenward-Roger: NumDF 2, lmerTest's values (the
    Satterthwaite version passes: test_lmertest_contestmd.py).
    """
    L = np.array([[1, 0, 1], [0, 1, 0], [1, -1, 1]], dtype=float)
    ans = lf.contrast(fm, L, ddf=ddf, joint=True)
    assert ans["num_df"].iloc[0] == 2
    ref = r_values()["lmertest"]["contestMD"][key]["values"]
    assert all_equal(ref, ans.iloc[0][COLS].to_numpy(dtype=float), tolerance=1e-4)


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_zero_row_L(fm, ddf):
    """test_contestMD.R:64-69: L with zero rows gives a table with zero rows.
    """
    assert len(lf.contrast(fm, np.zeros((0, 3)), ddf=ddf, joint=True)) == 0
