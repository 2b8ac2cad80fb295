"""lf.simulate(formula, newdata, newparams): lme4's simulate(formula, newdata=, newparams=) for linear mixed models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.simulate import RandomDraw, draw_responses, simulation_design, theta_names

F = "~ Days + (Days | Subject)"
PARAMS = {"beta": [250.0, 10.0], "theta": [1.0, 0.1, 0.3], "sigma": 25.0}


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return lf.load_dataset("sleepstudy")


def test_shape_columns_index_and_seed(sleep: pd.DataFrame) -> None:
    data = sleep.drop(columns="Reaction").set_index(pd.RangeIndex(100, 280))
    a = lf.simulate(F, data, PARAMS, nsim=4, seed=3)
    b = lf.simulate("Reaction ~ Days + (Days | Subject)", data, PARAMS, nsim=4, seed=3)
    assert list(a.columns) == ["sim_1", "sim_2", "sim_3", "sim_4"]
    assert a.index.equals(data.index)
    pd.testing.assert_frame_equal(a, b)  # the response need not exist and is not read
    assert not a.equals(lf.simulate(F, data, PARAMS, nsim=4, seed=4))


def test_no_variance_gives_x_beta_exactly(sleep: pd.DataFrame) -> None:
    out = lf.simulate(F, sleep, {"beta": {"Days": 10.0, "(Intercept)": 250.0}, "theta": [0, 0, 0], "sigma": 0},
                      nsim=2, seed=1)
    np.testing.assert_array_equal(out["sim_1"], 250.0 + 10.0 * sleep["Days"])
    np.testing.assert_array_equal(out["sim_2"], out["sim_1"])


def test_offset_is_added(sleep: pd.DataFrame) -> None:
    out = lf.simulate(F, sleep.assign(o=3.0), {"beta": [1, 0], "theta": [0, 0, 0], "sigma": 0}, offset="o")
    np.testing.assert_array_equal(out["sim_1"], 4.0)


def test_random_effects_only_theta_zero_sigma(sleep: pd.DataFrame) -> None:
    # sigma = 0 and no residual: each subject's draws lie on one line (intercept + slope * Days)
    out = lf.simulate(F, sleep, {"beta": [0, 0], "theta": [1, 0.5, 0.5], "sigma": 0}, seed=2)
    assert np.abs(out["sim_1"]).max() == 0.0  # b = sigma * Lambda u: zero with sigma = 0 (lme4's scaling)
    out = lf.simulate(F, sleep, {"beta": [0, 0], "theta": [1, 0.5, 0.5], "sigma": 1e-12}, seed=2)
    assert np.abs(out["sim_1"]).max() < 1e-9


def test_moments_match_the_model(sleep: pd.DataFrame) -> None:
    # Var(y_ij) = sigma^2 (lambda lambda')[z, z] + sigma^2 over many draws; mean X beta
    theta = np.array([1.2, 0.1, 0.25])
    sims = lf.simulate(F, sleep, {"beta": [250, 10], "theta": theta, "sigma": 20}, nsim=4000, seed=11).to_numpy()
    lam = np.array([[theta[0], 0], [theta[1], theta[2]]])
    Z = np.column_stack([np.ones(len(sleep)), sleep["Days"]])
    var = 400 * (np.einsum("ia,ab,ib->i", Z, lam @ lam.T, Z) + 1)
    mean = 250 + 10 * sleep["Days"].to_numpy()
    se_mean = np.sqrt(var / 4000)
    assert np.all(np.abs(sims.mean(axis=1) - mean) < 5 * se_mean)
    assert np.all(np.abs(sims.var(axis=1, ddof=1) / var - 1) < 5 * np.sqrt(2 / 4000))
    # rows of one subject share the random effects: covariance of Days 0 and Days 9 of subject 1
    cov = np.cov(sims[0], sims[9])[0, 1]
    expect = 400 * (Z[0] @ lam @ lam.T @ Z[9])
    assert abs(cov - expect) < 0.1 * np.sqrt(var[0] * var[9])


def test_weights_scale_the_residual(sleep: pd.DataFrame) -> None:
    w = np.where(np.arange(len(sleep)) % 2 == 0, 1.0, 4.0)
    sims = lf.simulate(F, sleep, {"beta": [0, 0], "theta": [0, 0, 0], "sigma": 2}, nsim=3000, seed=5,
                       weights=w).to_numpy()
    sd = sims.std(axis=1)
    np.testing.assert_allclose(sd[w == 1].mean(), 2.0, rtol=0.02)
    np.testing.assert_allclose(sd[w == 4].mean(), 1.0, rtol=0.02)


@pytest.mark.parametrize(("params", "match"), [
    ({"beta": [1.0], "theta": [1, 0, 1], "sigma": 1}, r"1 value\(s\) for 2 fixed effect"),
    ({"beta": {"(Intercept)": 1.0}, "theta": [1, 0, 1], "sigma": 1}, r"missing \['Days'\]"),
    ({"beta": {"(Intercept)": 1, "Days": 1, "x": 2}, "theta": [1, 0, 1], "sigma": 1}, r"unknown \['x'\]"),
    ({"beta": [1, 2], "theta": [1, 0], "sigma": 1}, r"need 3 in lme4's order"),
    ({"beta": [1, 2], "theta": [-1, 0, 1], "sigma": 1}, r"must be >= 0"),
    ({"beta": [1, 2], "theta": [1, 0, 1]}, r"lacks \['sigma'\]"),
    ({"beta": [1, 2], "theta": [1, 0, 1], "sigma": -1}, r"sigma"),
    ({"beta": [1, 2], "theta": [1, 0, 1], "sigma": 1, "phi": 2}, r"unknown entries \['phi'\]"),
])
def test_newparams_errors_name_what_is_wrong(sleep: pd.DataFrame, params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        lf.simulate(F, sleep, params)


def test_data_errors(sleep: pd.DataFrame) -> None:
    with pytest.raises(lf.DataError, match="'Subject'"):
        lf.simulate(F, sleep.drop(columns="Subject"), PARAMS)
    with pytest.raises(lf.FormulaError, match="random-effects term"):
        lf.simulate("~ Days", sleep, PARAMS)
    with pytest.raises(ValueError, match="nsim"):
        lf.simulate(F, sleep, PARAMS, nsim=0)


def test_missing_rows_are_dropped_with_a_warning(sleep: pd.DataFrame) -> None:
    data = sleep.copy()
    data.loc[3, "Days"] = np.nan
    with pytest.warns(lf.DroppedRowsWarning, match="1 row"):
        out = lf.simulate(F, data, PARAMS, seed=1)
    assert len(out) == 179 and 3 not in out.index


def test_theta_by_name_and_names(sleep: pd.DataFrame) -> None:
    d = simulation_design(F, sleep)
    names = theta_names(d)
    assert names == ["Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days"]
    by_name = dict(zip(names, PARAMS["theta"]))
    a = lf.simulate(F, sleep, {**PARAMS, "theta": by_name}, seed=9)
    pd.testing.assert_frame_equal(a, lf.simulate(F, sleep, PARAMS, seed=9))


def test_theta_order_matches_a_fit(sleep: pd.DataFrame) -> None:
    # simulating at a fit's estimates with sigma tiny: the draws' spread between subjects follows m.theta's order
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    assert theta_names(m.design) == theta_names(simulation_design(F, sleep))


def test_draw_responses_is_the_core_of_the_fit_method(sleep: pd.DataFrame) -> None:
    # lf.simulate at a fit's parameters draws what m.simulate draws from the same seed
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    p = {"beta": m.fixef.to_numpy(), "theta": m.theta, "sigma": m.sigma}
    pd.testing.assert_frame_equal(lf.simulate(F, sleep, p, nsim=3, seed=8), m.simulate(3, seed=8))


def test_draw_responses_new_levels_and_generator() -> None:
    d = RandomDraw(Z=np.ones((4, 1)), codes=np.array([0, 0, 1, 1]), nlevels=2, lam=np.ones((1, 1)))
    a = draw_responses(np.zeros(4), [d], sigma=1.0, nsim=2, rng=np.random.default_rng(1))
    b = draw_responses(np.zeros(4), [d], sigma=1.0, nsim=2, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, 2)
