"""Ports of lme4's test-resids.R and test-weights.R expectations that FAIL on current lmmflow.

Not collected (file name). They wait for issue 11 item 3 (residual types as lme4's) and item 2 (na_action).
"""

from __future__ import annotations

import numpy as np
import pytest

import lmmflow as lf

from ._data import all_equal, load, r_values


@pytest.fixture(scope="module")
def fm_resid():
    return lf.lmer("Reaction ~ Days + (Days|Subject)", load("sleepstudy"))


def test_scaled_residual_range(fm_resid):
    """test-resids.R:13: range(resid(fm1, scaled=TRUE)) (R's values at the optimum, make_ported.R).
    """
    r = fm_resid.resid("scaled")
    assert all_equal(r_values()["resids"]["range_scaled"], [r.min(), r.max()], tolerance=1e-6)


def test_residual_types_equal_without_weights(fm_resid):
    """test-resids.R:14-17: without weights, response == working == deviance == pearson residuals.
    """
    resp = fm_resid.resid("response").to_numpy()
    for kind in ("working", "deviance", "pearson"):
        assert fm_resid.resid(kind).to_numpy() == pytest.approx(resp, rel=1e-12)


def test_residuals_na_exclude():
    """test-resids.R:20-27 and test-weights.R:20-35: with na.exclude, residuals (and weights) have one value per
    data row, NA at the rows with missing values.
    """
    ss = load("sleepstudy")
    ss.loc[[9, 49], "Days"] = np.nan
    fm = lf.lmer("Reaction ~ Days + (Days|Subject)", ss, na_action="na.exclude")
    r = fm.resid()
    assert len(r) == len(ss)
    assert r.iloc[[9, 49]].isna().all()
    assert r.drop(index=r.index[[9, 49]]).notna().all()
