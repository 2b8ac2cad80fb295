"""fit_many equals separate lf.lmer fits, serially, over local processes and on Dask."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.api import _cross_products
from lmmflow.core import DevianceFunction
from lmmflow.scale.single_term import SingleTermProfile

from .conftest import crossed_frame, growth_frame

FORMULA = "y ~ time * group + (1 + time | id)"


@pytest.fixture(scope="module")
def growth():
    df = growth_frame(n_ids=400, seed=21, missing=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = lf.lmer(FORMULA, df)
    Y = m.simulate(12, seed=4)
    Y.iloc[:3, 2] = np.nan  # two missingness patterns besides the complete one
    Y.iloc[:3, 5] = np.nan
    Y.iloc[7, 8] = np.nan
    return df, Y


def separate(df, Y, name, formula=FORMULA, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lf.lmer(formula.replace("y ~", f"{name} ~", 1), pd.concat([df, Y], axis=1), **kw)


@pytest.mark.parametrize("r", [0.0, 0.3])
def test_single_term_profile_equals_devfun(r):
    df = growth_frame(n_ids=300, seed=2, missing=False)
    for formula, kw in ((FORMULA, {}), ("y ~ time + (time || id)", {"weights": "w"}), ("y ~ time + (1 | id)", {})):
        d = lf.lformula(formula, df, **kw)
        cp = _cross_products(d)
        prof = SingleTermProfile(cp, d.X, reml=r == 0.0)
        prof.set_responses(d.y[:, None])
        f = DevianceFunction(cp, reml=r == 0.0)
        theta = f.theta0 * (1.3 + r)
        assert prof.objective(theta, 0) == pytest.approx(f(theta), rel=1e-11)
        est, sol = prof.estimates(theta, 0), f.solve(theta)
        np.testing.assert_allclose(est["beta"], sol.beta, rtol=1e-9)
        assert est["sigma"] == pytest.approx(sol.sigma, rel=1e-10)


def test_profile_method_equals_separate_fits(growth):
    df, Y = growth
    mf = lf.fit_many(FORMULA, df, Y, progress=False)
    assert mf.method == "profile" and len(mf) == 12 and mf.fits["converged"].all()
    assert len(mf._groups) == 3
    for name in ["sim_1", "sim_3", "sim_6", "sim_9"]:
        m, rec = separate(df, Y, name), mf.records[name]
        assert rec.nobs == m.nobs
        # optimizer precision: the objective is flat at its optimum, so theta (and the standard errors
        # that depend on it) can differ by ~1e-5 between two BOBYQA runs on objectives that differ by rounding
        assert abs(rec.objective - m.objective) <= 1e-8
        np.testing.assert_allclose(rec.beta, m.fixef, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(rec.std_errors, m.std_errors, rtol=1e-5)
        assert rec.sigma == pytest.approx(m.sigma, rel=1e-6)
        np.testing.assert_allclose(rec.theta, m.theta, atol=2e-5)
    full = mf["sim_3"]
    assert isinstance(full, lf.LmerResult)
    np.testing.assert_allclose(full.fixef, mf.fixef.loc["sim_3"], rtol=1e-9)
    tidy = mf.tidy()
    assert list(tidy.columns[:5]) == ["response", "term", "estimate", "std_error", "statistic"]
    assert len(tidy) == 12 * 4


def test_profile_keeps_a_chosen_derivative_free_optimizer(growth):
    df, Y = growth
    ctl = lf.LmerControl(optimizer="newuoa")
    mf = lf.fit_many(FORMULA, df, Y.iloc[:, :2], progress=False, control=ctl)
    assert mf["sim_1"].optinfo.optimizer == "newuoa (fit_many)"
    for name in mf:
        m, rec = separate(df, Y, name, control=ctl), mf.records[name]
        assert abs(rec.objective - m.objective) <= 1e-8
        np.testing.assert_allclose(rec.theta, m.theta, atol=2e-5)


def test_exact_method_equals_separate_fits(growth):
    df, Y = growth
    mf = lf.fit_many(FORMULA, df, Y.iloc[:, :4], progress=False, method="exact")
    assert mf.method == "exact"
    for name in mf:
        m, rec = separate(df, Y, name), mf.records[name]
        assert abs(rec.objective - m.objective) <= 1e-9
        np.testing.assert_allclose(rec.beta, m.fixef, rtol=1e-9)
        np.testing.assert_allclose(rec.theta, m.theta, atol=1e-9)


def test_crossed_model_uses_exact(growth):
    df = crossed_frame(n=1500)
    rng = np.random.default_rng(0)
    df["r2"] = df["rating"] + rng.normal(0, 0.3, len(df))
    mf = lf.fit_many("rating ~ days + (1 | user) + (1 | item)", df, ["rating", "r2"], reml=False, progress=False)
    assert mf.method == "exact"
    m = separate(df, df[[]], "r2", "y ~ days + (1 | user) + (1 | item)", reml=False)
    assert abs(mf.records["r2"].objective - m.objective) <= 1e-9


def test_local_processes_equal_serial(growth):
    df, Y = growth
    Y = pd.concat([Y] * 6, axis=1).set_axis([f"r{i}" for i in range(72)], axis=1)  # two chunks
    a = lf.fit_many(FORMULA, df, Y, progress=False)
    b = lf.fit_many(FORMULA, df, Y, progress=False, n_jobs=2)
    pd.testing.assert_frame_equal(a.fixef, b.fixef)
    pd.testing.assert_frame_equal(a.fits, b.fits)


def test_dask_client_equals_serial(growth, client):
    df, Y = growth
    a = lf.fit_many(FORMULA, df, Y, progress=False)
    b = lf.fit_many(FORMULA, df, Y, progress=False, client=client)
    # identical up to BLAS reduction order (Dask's workers run single-threaded BLAS)
    pd.testing.assert_frame_equal(a.fixef, b.fixef, check_exact=False, rtol=1e-10)
    pd.testing.assert_frame_equal(a.fits, b.fits, check_exact=False, rtol=1e-10)
    e = lf.fit_many(FORMULA, df, Y.iloc[:, :2], progress=False, client=client, method="exact")
    np.testing.assert_allclose(e.fixef, a.fixef.iloc[:2], rtol=1e-6)


def test_bad_input(growth):
    df, Y = growth
    with pytest.raises(ValueError, match="not in the data"):
        lf.fit_many(FORMULA, df, ["nope"], progress=False)
    with pytest.raises(ValueError, match="rows"):
        lf.fit_many(FORMULA, df, Y.to_numpy()[:10], progress=False)
    with pytest.raises(ValueError, match="one random-effects term"):
        lf.fit_many("y ~ time + (1 | id) + (1 | site)", df, Y.iloc[:, :1], method="profile", progress=False)


@pytest.mark.parametrize("formula", ["y ~ time + (1 | id)", "y ~ time + (1 + time + I(time**2) | id)"])
def test_batched_newton_equals_separate_fits_other_terms(growth, formula):
    """The batched path for a scalar term and a three-coefficient term; a response with no
    between-unit variation (a singular fit, theta on its bound) is finished by BOBYQA and still matches."""
    df, Y = growth
    Y = Y.iloc[:, :3].copy()
    Y.iloc[:, 1] = 50 + 2.0 * df["time"].to_numpy() + np.random.default_rng(3).normal(0, 5, len(df))
    mf = lf.fit_many(formula, df, Y, progress=False)
    assert mf[Y.columns[0]].optinfo.optimizer == "newton (fit_many)"
    for name in Y.columns:
        m, rec = separate(df, Y, name, formula=formula), mf.records[name]
        assert rec.converged
        assert abs(rec.objective - m.objective) <= 1e-8
        np.testing.assert_allclose(rec.beta, m.fixef, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(rec.theta, m.theta, atol=2e-5)


def test_objective_many_equals_objective(growth):
    """The batched objective equals the one-point objective at any (theta, response) pairs."""
    df, Y = growth
    d = lf.lformula(FORMULA, df.assign(y=Y.iloc[:, 0].to_numpy()))
    prof = SingleTermProfile(_cross_products(d), d.X, reml=True)
    prof.set_responses(Y.iloc[:, :4].to_numpy())
    rng = np.random.default_rng(5)
    theta = np.column_stack([rng.uniform(0.1, 3, 12), rng.uniform(-1, 1, 12), rng.uniform(0.05, 1, 12)])
    rep = rng.integers(0, 4, 12)
    want = [prof.objective(t, r) for t, r in zip(theta, rep)]
    np.testing.assert_allclose(prof.objective_many(theta, rep), want, rtol=1e-13)
