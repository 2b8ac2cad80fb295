"""Ports of lme4's test-simulate_formula.R (and test-lmer.R / test-isSingular.R simulate calls) that FAIL on current
lmmflow (not collected). They wait for issue 11 item 2 (simulate(newdata=, newparams=, weights/offset) and
simulation from a formula without a fit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf

from ._data import load


def test_simulate_newdata():
    """test-simulate_formula.R:151-152: simulate(fm1, nsim = 1, seed = 42, newdata = sleepstudy): 180 rows.
    """
    fm1 = lf.lmer("Reaction ~ Days + (Days | Subject)", load("sleepstudy"))
    assert len(fm1.simulate(1, seed=42, newdata=load("sleepstudy"))) == 180


def test_simulate_from_formula_needs_newparams():
    """test-simulate_formula.R:65-68: a one-sided formula without newparams is an informative error; with them
    (test-lmer.R:436-442) the draw has one value per row.
    """
    ss = load("sleepstudy")
    with pytest.raises((TypeError, ValueError), match="newparams"):
        lf.simulate("~1 + (1|Days)", newdata=ss)
    dd = pd.DataFrame({"group": np.repeat(np.arange(20), 20), "x1": np.random.default_rng(1).normal(size=400),
                       "x2": np.random.default_rng(2).normal(size=400)})
    y = lf.simulate("~ 1 + x1 * x2 + (1 + x1|group)", newdata=dd, seed=101,
                    newparams={"beta": [-7, 5, -100, 20], "theta": [2.5, 1.4, 6.3], "sigma": 2})
    assert len(y) == 400
