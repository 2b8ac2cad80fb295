"""Ports of lmerTest's test_contest1D.R and test_ranova_step.R expectations that FAIL on current lmmflow.

Not collected (file name). They wait for issue 11 item 3 (contrasts with zero-row L) and item 1 (a/b expansion).
"""

from __future__ import annotations

import numpy as np
import pytest

import lmmflow as lf

from ._data import load


def test_contest1D_empty_L():
    """test_contest1D.R:43-45: an "empty" L (0 x 3) and a two-row L in contest1D are errors.

    FAILS NOW: a zero-row L returns an empty table (issue 11 item 3, zero-row L).
    """
    fm = lf.lmer("Reaction ~ Days + I(Days**2) + (1|Subject) + (0+Days|Subject)", load("sleepstudy"))
    with pytest.raises(ValueError, match="row"):
        lf.contrast(fm, np.zeros((0, 3)))


def test_ranova_nested_row_order():
    """test_ranova_step.R:157-160: ranova of (1|Assessor/TVset) lists (1 | TVset:Assessor) before (1 | Assessor),
    as lme4 expands a/b to (1|b:a) + (1|a).

    FAILS NOW: lmmflow expands a/b as (1|a) + (1|b:a), so the rows come the other way round (issue 11 item 1,
    formula semantics; the values agree, see test_lmertest_ranova.py).
    """
    from ._data import r_values

    fm = lf.lmer("Coloursaturation ~ TVset * Picture + (1|Assessor/TVset)", load("tvbo"))
    assert list(lf.ranova(fm).index) == ["<none>", "(1 | TVset:Assessor)", "(1 | Assessor)"]
    assert r_values()["lmertest"]["ranova_tvbo"]["rows"][1] == "(1 | Assessor:TVset)"
