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


# ---- LmerResult.simulate: lme4's simulate.merMod -----------------------------------------------------------

@pytest.fixture(scope="module")
def fm1(sleep: pd.DataFrame) -> lf.LmerResult:
    return lf.lmer("Reaction ~ Days + (Days | Subject)", sleep)


@pytest.fixture(scope="module")
def pen() -> lf.LmerResult:
    return lf.lmer("diameter ~ (1 | plate) + (1 | sample)", lf.load_dataset("penicillin"))


def test_fit_simulate_dimensions_and_newdata(fm1: lf.LmerResult, sleep: pd.DataFrame) -> None:
    # lme4 tests/testthat/test-simulate_formula.R:144-153 and tests/simulate.R:16-20
    s1 = fm1.simulate(nsim=2, seed=1)
    assert s1.shape == (180, 2)
    s2 = fm1.simulate(nsim=1, seed=42, newdata=sleep)
    assert s2.shape == (180, 1)
    s3 = fm1.simulate(seed=101, nsim=10)
    s4 = fm1.simulate(seed=101, use_u=True, nsim=10)
    assert s3.shape == s4.shape == (180, 10)
    # test-simulate_formula.R:193-200: the same seed gives the same draws
    pd.testing.assert_frame_equal(fm1.simulate(seed=101, re_form=None), fm1.simulate(seed=101, re_form=None))


def test_use_u_is_re_form_none(fm1: lf.LmerResult) -> None:
    # lme4's .simulateFun: use.u=TRUE means re.form=NULL (condition on every random effect)
    pd.testing.assert_frame_equal(fm1.simulate(3, seed=4, use_u=True), fm1.simulate(3, seed=4, re_form=None))
    with pytest.raises(ValueError, match="only one of use_u and re_form"):
        fm1.simulate(seed=1, use_u=True, re_form="~(1 | Subject)")


def test_conditioning_on_all_terms_with_tiny_sigma_gives_the_fitted_values(fm1: lf.LmerResult) -> None:
    out = fm1.simulate(2, seed=3, re_form=None, newparams={"sigma": 1e-12})
    np.testing.assert_allclose(out["sim_1"], fm1.fitted, rtol=1e-12)
    # and no random effects with theta = 0: X beta exactly (lme4's re.form = NA with theta 0)
    flat = fm1.simulate(1, seed=3, newparams={"theta": [0.0, 0.0, 0.0], "sigma": 0.0})
    np.testing.assert_allclose(flat["sim_1"], fm1.predict(re_form="~0"), rtol=1e-14)


def test_re_form_na_draws_every_term(fm1: lf.LmerResult) -> None:
    # re_form "~0" (lme4's default NA): the random effects are new each time, so subjects' means vary around
    # X beta; re_form=None: around the fitted values
    sims = fm1.simulate(3000, seed=7).to_numpy()
    pop = fm1.predict(re_form="~0").to_numpy()
    Z = np.column_stack([np.ones(180), fm1.data["Days"]])
    var = np.einsum("ia,ab,ib->i", Z, fm1.re_covariances[0], Z) + fm1.sigma ** 2
    assert np.all(np.abs(sims.mean(axis=1) - pop) < 5 * np.sqrt(var / 3000))
    np.testing.assert_allclose(sims.var(axis=1).mean() / var.mean(), 1.0, atol=0.05)
    cond = fm1.simulate(3000, seed=7, re_form=None).to_numpy()
    assert np.all(np.abs(cond.mean(axis=1) - fm1.fitted.to_numpy()) < 5 * fm1.sigma / np.sqrt(3000))
    np.testing.assert_allclose(cond.var(axis=1).mean(), fm1.sigma ** 2, rtol=0.05)


def test_re_form_one_term_conditions_on_it_and_draws_the_other(pen: lf.LmerResult) -> None:
    sims = pen.simulate(4000, seed=2, re_form="~(1 | plate)").to_numpy()
    mean = pen.predict(re_form="~(1 | plate)").to_numpy()
    k = [t.group for t in pen.design.terms].index("sample")
    var = pen.re_covariances[k][0, 0] + pen.sigma ** 2
    assert np.all(np.abs(sims.mean(axis=1) - mean) < 5 * np.sqrt(var / 4000))
    np.testing.assert_allclose(sims.var(axis=1).mean(), var, rtol=0.05)
    with pytest.raises(lf.FormulaError, match="grouping factor 'nope'"):
        pen.simulate(re_form="~(1 | nope)")


def test_re_form_listing_part_of_a_term_is_an_error(fm1: lf.LmerResult) -> None:
    with pytest.raises(lf.FormulaError, match="whole random terms"):
        fm1.simulate(re_form="~(1 | Subject)")


def test_new_levels_in_newdata(fm1: lf.LmerResult) -> None:
    new = pd.DataFrame({"Days": [0.0, 0.0], "Subject": ["new1", "new2"]})
    with pytest.raises(lf.DataError, match="not in the fit"):
        fm1.simulate(newdata=new)
    sims = fm1.simulate(4000, seed=5, newdata=new, allow_new_levels=True).to_numpy()
    # a new unit's draws vary by its random intercept as well as the residual; two new units independently
    var = fm1.re_covariances[0][0, 0] + fm1.sigma ** 2
    np.testing.assert_allclose(sims.var(axis=1), var, rtol=0.08)
    assert abs(np.corrcoef(sims)[0, 1]) < 0.1


def test_newparams(fm1: lf.LmerResult) -> None:
    out = fm1.simulate(1, seed=1, newparams={"beta": {"(Intercept)": 0.0, "Days": 1.0}, "theta": [0, 0, 0],
                                             "sigma": 0.0})
    np.testing.assert_allclose(out["sim_1"], fm1.data["Days"])
    with pytest.raises(ValueError, match="fixed effect"):
        fm1.simulate(newparams={"beta": [1.0]})
    with pytest.raises(ValueError, match="unknown entries"):
        fm1.simulate(newparams={"phi": 1.0})
    with pytest.raises(ValueError, match="conditional modes belong to the fitted theta"):
        fm1.simulate(re_form=None, newparams={"theta": [1, 0, 1]})


def test_weights_scale_the_residual_of_a_weighted_fit(sleep: pd.DataFrame) -> None:
    w = np.where(np.arange(180) % 2 == 0, 1.0, 4.0)
    m = lf.lmer("Reaction ~ Days + (1 | Subject)", sleep, weights=w)
    sims = m.simulate(3000, seed=9, re_form=None).to_numpy()
    sd = sims.std(axis=1)
    np.testing.assert_allclose(sd[w == 1].mean(), m.sigma, rtol=0.03)
    np.testing.assert_allclose(sd[w == 4].mean(), m.sigma / 2, rtol=0.03)


def test_offset_of_the_fit_is_in_the_draws(sleep: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (1 | Subject)", sleep.assign(o=100.0), offset="o")
    out = m.simulate(1, seed=1, re_form=None, newparams={"sigma": 0.0})
    np.testing.assert_allclose(out["sim_1"], m.fitted)
    nd = pd.DataFrame({"Days": [0.0], "Subject": ["308"], "o": [50.0]})
    got = m.simulate(1, seed=1, newdata=nd, re_form=None, newparams={"sigma": 0.0})["sim_1"].iloc[0]
    assert got == pytest.approx(m.predict(nd).iloc[0])


# ---- lme4's suite, the formula path (gaussian versions of its tests) ---------------------------------------

def test_numeric_grouping_and_slope_lme4_suite() -> None:
    # test-predict.R:298-306 ("simulation works with non-factor"): a numeric slope and grouping column
    rng = np.random.default_rng(12345)
    dd = pd.DataFrame({"a": np.repeat(np.arange(1, 11), 100), "b": rng.standard_normal(1000)})
    out = lf.simulate("~1+(b|a)", dd, {"beta": {"(Intercept)": 1.0}, "theta": [1, 1, 1], "sigma": 1.0})
    assert isinstance(out, pd.DataFrame) and out.shape == (1000, 1)


def test_factor_slope_then_fit_and_predict_lme4_suite() -> None:
    # test-predict.R:394-407 ("sparse contrasts don't mess up predict()")
    dd = pd.DataFrame([(f, r1, r2) for r2 in (1, 2) for r1 in ("1", "2") for f in range(1, 102)],
                      columns=["f", "rep1", "rep2"])
    dd["y"] = lf.simulate("~1 + (rep1|f)", dd, {"beta": [1.0], "theta": [1.0, 1.0, 1.0], "sigma": 1.0},
                          seed=101)["sim_1"]
    m1 = lf.lmer("y ~ 1 + (1|f)", dd)
    np.testing.assert_array_equal(m1.predict(), m1.predict(dd))


def test_formula_path_weights_and_offset_lme4_suite() -> None:
    # test-simulate_formula.R:174-188 (weights and offset on the formula path)
    rng = np.random.default_rng(1)
    d1 = pd.DataFrame({"x": rng.standard_normal(60), "f": np.repeat(np.arange(6), 10), "w": 10.0})
    p = {"theta": [0.01], "beta": [1.0, 1.0], "sigma": 1.0}
    assert len(lf.simulate("~x + (1|f)", d1, p, weights=d1["w"], seed=1)) == 60
    s_off = lf.simulate("~x + (1|f)", d1, p, weights="w", offset=np.full(60, 0.1), seed=1)
    s0 = lf.simulate("~x + (1|f)", d1, p, weights="w", seed=1)
    np.testing.assert_allclose(s_off["sim_1"] - s0["sim_1"], 0.1)


def test_formula_path_needs_newparams_lme4_suite(sleep: pd.DataFrame) -> None:
    # test-simulate_formula.R:65-73 ("one-sided formula without family/newparams gives an informative error")
    with pytest.raises(ValueError, match="newparams must be a dict"):
        lf.simulate("~1 + (1|Days)", sleep, None)  # type: ignore[arg-type]


def test_series_weights_must_align(sleep: pd.DataFrame) -> None:
    w = pd.Series(1.0, index=sleep.index[::-1] + 1000)
    with pytest.raises(lf.DataError, match="index is not newdata's"):
        lf.simulate(F, sleep, PARAMS, weights=w)
