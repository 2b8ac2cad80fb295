"""Ports of lme4's test-lmer.R and test-methods.R expectations that FAIL on current lmmflow (issue 11 items others fix).

Not collected by pytest (file name); rename into test_lme4_*.py once the fixes are merged. Each test says why it fails.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf

from ._data import load, r_values


def test_predictors_on_very_different_scales_warn():
    """test-lmer.R:110-113: Days * 1e6 warns "predictor variables are on very different scales".
    """
    ss = load("sleepstudy")
    ss["Days"] = ss["Days"] * 1e6
    with pytest.warns(lf.ConvergenceWarning, match="very different scales"):
        lf.lmer("Reaction ~ Days + (1|Subject)", ss)


def test_evaluation_limit_warns():
    """test-lmer.R:349-356: optCtrl maxeval=3 warns "convergence code 5" / "maximum number of function evaluations".
    """
    ss = load("sleepstudy")
    with pytest.warns(lf.ConvergenceWarning, match="evaluation"):
        m = lf.lmer("Reaction ~ Days + (Days|Subject)", ss, control=lf.LmerControl(maxeval=3))
    assert not m.optinfo.converged


def test_pixel_power_in_I():
    """test-methods.R:48, 463-464: fmPix with I(day^2) (R's power) gives R's estimates; predict == fitted.
    """
    px = load("pixel")
    fm = lf.lmer("pixel ~ day + I(day^2) + (day | Dog) + (1 | Side/Dog)", px)
    r = r_values()["fmPix"]
    assert fm.fixef.to_numpy() == pytest.approx(r["fixef"], rel=1e-5)
    ii = np.random.default_rng(1).choice(len(px), 16, replace=False)
    assert fm.predict(px.iloc[ii]).to_numpy() == pytest.approx(fm.fitted.to_numpy()[ii], rel=1e-12)


def test_sum_contrasts_in_fixed_and_random_no_warning():
    """test-methods.R:514-527 (GH 414): 0.5 * contr.sum(2) contrasts of fac used in (fac|grp): fit and predict
    without warnings.
    """
    dat = pd.DataFrame({"fac": np.tile(["a", "b"], 100), "grp": np.tile(np.repeat(np.arange(1, 26), 4), 2).astype(str)})
    # lme4's y is 0 throughout; lmmflow refuses a constant response (issue 11 item 4), so a normal draw here
    dat["y"] = np.random.default_rng(1).normal(size=200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", lf.SingularFitWarning)
        m = lf.lmer("y ~ fac + (fac|grp)", dat, contrasts={"fac": "sum"})
        m.predict(dat)
    assert m.fixef_names[1].startswith("fac")
