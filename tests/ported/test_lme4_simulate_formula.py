"""Ported from lme4's tests/testthat/test-simulate_formula.R, tests/simulate.R and tests/predsim.R (lme4 master
32b5bfd): the expectations on simulating from an lmer fit that lmmflow supports today; simulation from a formula and
newparams is pending."""

from __future__ import annotations

import warnings

import numpy as np

import lmmflow as lf

from ._data import all_equal, load


def test_simulate_dimensions():
    """test-simulate_formula.R:144-149: simulate(fm1, nsim = 2, seed = 1) has one row per observation, 2 columns."""
    fm1 = lf.lmer("Reaction ~ Days + (Days | Subject)", load("sleepstudy"))
    s1 = fm1.simulate(2, seed=1)
    assert s1.shape == (180, 2)


def test_simulate_reproducible_and_changes_with_seed():
    """test-simulate_formula.R:112-116 (simulate(fm1, nsim=1, seed=1) twice) and :157-170 (different draws
    differ): the seed fixes the draw; another seed draws differently."""
    fm1 = lf.lmer("Reaction ~ Days + (Days | Subject)", load("sleepstudy"))
    a, b, c = fm1.simulate(1, seed=1), fm1.simulate(1, seed=1), fm1.simulate(1, seed=2)
    assert np.array_equal(a.to_numpy(), b.to_numpy())
    assert not np.allclose(a.to_numpy(), c.to_numpy())


# --- lme4 tests/simulate.R and tests/predsim.R -----------------------------------------------------------------------

def test_simulate_nsim_shapes():
    """simulate.R:12-20: simulate(fm1, seed=101, nsim=10) (with and without use.u): 10 columns of 180 values."""
    fm1 = lf.lmer("Reaction ~ Days + (1|Subject)", load("sleepstudy"))
    for use_u in (False, True):
        s = fm1.simulate(10, seed=101, use_u=use_u)
        assert s.shape == (180, 10)
        assert not s.isna().any().any()


def test_simulation_medians_are_predictions():
    """predsim.R:12-43: the medians of 1000 simulations with use.u=TRUE are predict(fm1) (tolerance 5e-3); with
    use.u=FALSE they are predict(fm1, re.form=NA) (8e-3)."""
    fm1 = lf.lmer("Reaction ~ Days + (1|Subject)", load("sleepstudy"))
    ss = fm1.simulate(1000, seed=101, use_u=True)
    assert all_equal(fm1.predict(), np.median(ss.to_numpy(), axis=1), tolerance=5e-3)
    ss2 = fm1.simulate(1000, seed=101, use_u=False)
    assert all_equal(fm1.predict(re_form="~0"), np.median(ss2.to_numpy(), axis=1), tolerance=8e-3)


def test_predict_newdata_interaction_and_nested_groups():
    """predsim.R:47-62: (1|f:g) and (1|f/g): predict() equals predict(newdata = the data), also with f and g
    numeric."""
    import pandas as pd

    rng = np.random.default_rng(101)
    d = pd.DataFrame([(f, g, r) for r in range(10) for g in "abcdefghij" for f in "abcdefghij"],
                     columns=["f", "g", "rep"])
    d["y"] = rng.normal(size=len(d))
    dn = d.assign(f=d["f"].map(ord) - 96, g=d["g"].map(ord) - 96)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.SingularFitWarning)
        for data in (d, dn):
            for formula in ("y~(1|f:g)", "y~(1|f/g)"):
                m = lf.lmer(formula, data)
                assert all_equal(m.predict(), m.predict(data), tolerance=1e-12)
