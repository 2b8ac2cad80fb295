"""Ports of lme4's tests/*.R script expectations that FAIL on current lmmflow (not collected).

They wait for issue 11 item 1 (offset() inside the formula).
"""

from __future__ import annotations

import pytest

import lmmflow as lf

from ._data import all_equal, load, r_values


def test_offset_in_formula():
    """offset.R:19-29: y ~ x + (1|block) + offset(3*x): slope lowered by 3; predict(newdata) includes the offset.
    """
    d = load("offset")
    fm1 = lf.lmer("y ~ x + (1|block)", d)
    fm1off = lf.lmer("y ~ x + (1|block) + offset(3*x)", d)
    assert fm1off.fixef.to_numpy() == pytest.approx(r_values()["offset"]["fixef_off"], rel=1e-6)
    assert all_equal(fm1.fixef.iloc[1] - 3, fm1off.fixef.iloc[1])
    assert all_equal(fm1.predict(d), fm1off.predict(d))
