"""Ported from lme4's tests/testthat/test-lmList.R (lme4 master 32b5bfd): lmList (lmmflow: lf.lm_list)."""

from __future__ import annotations

import numpy as np

import lmmflow as lf

from ._data import all_equal, load


def test_basic_lmlist():
    """test-lmList.R:9-29: coefficients of Reaction ~ Days | Subject (signif 8, tolerance 1e-7), the same with
    pool=FALSE; the pooled residual SE 25.5918156267 (1e-10)."""
    ss = load("sleepstudy")
    fm1 = lf.lm_list("Reaction ~ Days | Subject", ss)
    fm1_ = lf.lm_list("Reaction ~ Days | Subject", ss, pool=False)
    icpt = [244.19267, 205.05495, 203.48423, 289.68509, 285.73897, 264.25161, 275.01911, 240.16291, 263.03469,
            290.10413, 215.11177, 225.8346, 261.14701, 276.37207, 254.96815, 210.44909, 253.63604, 267.0448]
    days = [21.764702, 2.2617855, 6.1148988, 3.0080727, 5.2660188, 9.5667679, 9.1420455, 12.253141, -2.8810339,
            19.025974, 13.493933, 19.504017, 6.4334976, 13.566549, 11.348109, 18.056151, 9.1884448, 11.298073]
    got = np.column_stack([fm1["(Intercept)"], fm1["Days"]])
    assert all_equal(np.column_stack([icpt, days]), got, tolerance=1e-7)
    assert all_equal(got, np.column_stack([fm1_["(Intercept)"], fm1_["Days"]]))
    assert all_equal(25.5918156267, fm1.attrs["sigma_pooled"], tolerance=1e-10)


def test_orthodont_lmlist_mean_coefficients():
    """test-lmList.R:44-49: fixef(lmList(distance ~ age | Subject)) = the mean coefficients (16.7611111111111,
    0.660185185185185)."""
    fm2 = lf.lm_list("distance ~ age | Subject", load("orthodont"))
    assert all_equal([16.7611111111111, 0.660185185185185], [fm2["(Intercept)"].mean(), fm2["age"].mean()])
