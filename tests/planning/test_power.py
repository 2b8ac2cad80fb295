"""lf.power: paths, results, errors (the agreement with R is in test_reference.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmmflow as lf
from lmmflow.planning.power import _pvalues

FORMULA = "y ~ time + (1 + time | id)"
PARAMS = {"beta": {"(Intercept)": 50.0, "time": 1.2}, "theta": [1.0, 0.05, 0.4], "sigma": 5.0}


@pytest.fixture(scope="module")
def design() -> pd.DataFrame:
    return lf.simulate_growth(n_units=20, seed=3)[["id", "time"]]


@pytest.fixture(scope="module")
def fit() -> lf.LmerResult:
    return lf.lmer(FORMULA, lf.simulate_growth(n_units=30, seed=2))


def _spec(design, **kw):
    args = {"formula": FORMULA, "data": design, "params": PARAMS, "nsim": 40, "seed": 1, "progress": False}
    args.update(kw)
    return lf.power(**args)


def test_fitted_model_result_table_and_text(fit):
    res = lf.power(fit, "time", nsim=60, seed=5, progress=False)
    t = res.to_frame()
    assert list(t.columns) == ["value", "nobs", "n_units", "nsim", "successes", "failed", "warnings", "singular",
                               "power", "lower", "upper", "errors"]
    row = t.iloc[0]
    assert (row.nobs, row.n_units, row.nsim) == (150, 30, 60)
    assert row.power == row.successes / 60 == res.power
    ci = stats.binomtest(int(row.successes), 60).proportion_ci(0.95, method="exact")
    assert res.ci == pytest.approx((ci.low, ci.high))
    lines = str(res).splitlines()
    assert lines[0] == "Power for predictor 'time', (95% confidence interval):"
    assert lines[1] == f"      {100 * row.power:.2f}% ({100 * row.lower:.2f}, {100 * row.upper:.2f})"
    assert "Test: Satterthwaite t test (package lmerTest)" in lines
    assert f"      Effect size for time is {fit.fixef['time']:.4g}" in lines
    assert "Based on 60 simulations, (" in str(res) and "alpha = 0.05, nrow = 150" in str(res)
    assert repr(res) == str(res)
    html = res._repr_html_()
    assert html.startswith("<p><b>Power for predictor 'time'</b>") and "<table>" in html
    assert len(res.pvalues[None]) == 60


def test_results_are_values(fit):
    res = lf.power(fit, "time", nsim=10, seed=5, progress=False)
    t = res.to_frame()
    t.loc[0, "power"] = -1.0
    assert res.power >= 0


def test_same_seed_same_result_and_default_test(design):
    a = _spec(design, seed=11)
    b = _spec(design, seed=11, test="time")
    assert a.test == "time"
    np.testing.assert_array_equal(a.pvalues[None], b.pvalues[None])
    c = _spec(design, seed=12)
    assert not np.array_equal(a.pvalues[None], c.pvalues[None])


def test_fast_path_equals_full_refits(design):
    """The vectorised path (fit_many + batched Satterthwaite) gives the full fits' p-values."""
    Y = lf.simulate(FORMULA, design, PARAMS, nsim=12, seed=3).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = _pvalues(FORMULA, design, Y, "time")
        full = _pvalues(FORMULA, design, Y, "time", general=True)
    np.testing.assert_allclose(fast["p"], full["p"], rtol=1e-5)
    np.testing.assert_array_equal(fast["singular"], full["singular"])


def test_power_curve_along_units_and_within(design):
    res = _spec(design, along="n_units", values=[10, 20, 40], nsim=30)
    t = res.to_frame()
    assert t["value"].tolist() == [10, 20, 40]
    assert t["n_units"].tolist() == [10, 20, 40]
    assert t["nobs"].tolist() == [50, 100, 200]
    assert isinstance(res.power, np.ndarray) and res.ci.shape == (3, 2)
    text = str(res)
    assert "by number of levels in id:" in text and "40: " in text and "- 200 rows" in text
    same = _spec(design, along="id", values=[10, 20, 40], nsim=30)
    np.testing.assert_array_equal(same.to_frame()["power"], t["power"])
    within = _spec(design, along="time", values=[3, 5], nsim=20)
    assert within.to_frame()["nobs"].tolist() == [60, 100]
    assert "by number of values of time:" in str(within)


@pytest.mark.parametrize("method", ["lrt", "kr"])
def test_other_methods(design, method):
    res = _spec(design, method=method, nsim=8)
    assert res.method == method
    assert res.to_frame()["failed"].iloc[0] == 0
    assert ("Likelihood ratio" if method == "lrt" else "Kenward-Roger") in str(res)


def test_callable_test_and_bool_results(design):
    def slope_positive(m):
        return bool(m.fixef["time"] > 0)

    res = _spec(design, test=slope_positive, nsim=10)
    assert res.method == "custom" and res.test == "slope_positive"
    assert res.to_frame()["successes"].iloc[0] == 10  # slope 1.2: every estimate positive
    p = _spec(design, test=lambda m: m.coef_table().loc["time", "p_value"], nsim=6, seed=4)
    q = _spec(design, test="time", nsim=6, seed=4)
    np.testing.assert_allclose(p.pvalues[None], q.pvalues[None], rtol=1e-5)


def test_several_random_terms_take_full_refits():
    df = lf.simulate_growth(n_units=15, seed=4)[["id", "time"]]
    df["site"] = (df["id"].astype(int) % 3).astype(str)
    res = lf.power(formula="y ~ time + (1 | id) + (1 | site)", data=df, nsim=6, seed=1, progress=False,
                   params={"beta": [0.0, 1.0], "theta": [1.0, 0.5], "sigma": 2.0})
    assert res.to_frame()["nsim"].iloc[0] == 6 and res.to_frame()["failed"].iloc[0] == 0


def test_failed_fits_are_counted_not_dropped(design):
    def broken(m):
        raise RuntimeError("no test here")

    res = _spec(design, test=broken, nsim=5)
    row = res.to_frame().iloc[0]
    assert (row.failed, row.successes, row.power) == (5, 0, 0.0)
    assert "RuntimeError: no test here" in row.errors
    assert "5 errors" in str(res)


def test_parallel_jobs_give_the_same_numbers(design):
    a = _spec(design, method="kr", nsim=8, seed=9)
    b = _spec(design, method="kr", nsim=8, seed=9, n_jobs=2)
    np.testing.assert_allclose(a.pvalues[None], b.pvalues[None], rtol=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "wald"}, "method='wald'"),
    ({"test": "age"}, "test='age' is neither a fixed effect"),
    ({"test": "time:age"}, "test='time:age' is neither a fixed effect"),
    ({"nsim": 0}, "nsim must be a positive whole number"),
    ({"alpha": 1.5}, "alpha and level"),
    ({"values": [10]}, "values= needs along="),
    ({"along": "n_units"}, "needs values="),
    ({"along": "school", "values": [3]}, "along='school' is neither"),
    ({"along": "time", "values": [9]}, "9 values asked for"),
    ({"along": "n_units", "values": [0]}, "positive whole numbers"),
    ({"params": {"beta": [1.0], "theta": [1, 0, 1], "sigma": 1}}, "beta"),
    ({"params": {"beta": [1.0, 2.0], "theta": [1.0], "sigma": 1}}, "theta"),
    ({"params": {"beta": [1.0, 2.0], "theta": [1, 0, 1]}}, "sigma"),
    ({"params": {"beta": [1.0, 2.0], "theta": [1, 0, 1], "sigma": 0}}, "sigma"),
    ({"method": "lrt", "test": lambda m: 0.5}, "callable test"),
])
def test_clear_errors(design, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        _spec(design, **kwargs)


def test_model_and_specification_are_exclusive(fit, design):
    with pytest.raises(ValueError, match="either a fitted model or formula"):
        lf.power(fit, formula=FORMULA, data=design, params=PARAMS, progress=False)
    with pytest.raises(ValueError, match="give a fitted model, or formula="):
        lf.power(formula=FORMULA, data=design, progress=False)


def _weighted(design):
    rng = np.random.default_rng(5)
    return design.assign(w=rng.uniform(0.5, 2.0, len(design)), off=rng.normal(0, 1, len(design)))


@pytest.mark.parametrize("method", ["satterthwaite", "lrt"])
def test_weights_and_offset_fast_path_equals_full_refits(design, method):
    d = _weighted(design)
    Y = lf.simulate(FORMULA, d, PARAMS, nsim=8, seed=3, weights="w", offset="off").to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = _pvalues(FORMULA, d, Y, "time", method=method, weights="w", offset="off")
        if method == "lrt":
            full = []
            for j in range(Y.shape[1]):
                dj = d.assign(y=Y[:, j])
                m1 = lf.lmer(FORMULA, dj, weights="w", offset="off", reml=False)
                m0 = lf.lmer("y ~ 1 + (1 + time | id)", dj, weights="w", offset="off", reml=False)
                full.append(stats.chi2.sf(m0.objective - m1.objective, 1))
            full = np.array(full)
        else:
            full = _pvalues(FORMULA, d, Y, "time", weights="w", offset="off", general=True)["p"]
            fits = [lf.lmer(FORMULA, d.assign(y=Y[:, j]), weights="w", offset="off") for j in range(2)]
            by_lmer = [m.coef_table().loc["time", "p_value"] for m in fits]
            np.testing.assert_allclose(full[:2], by_lmer, rtol=1e-6)
    np.testing.assert_allclose(fast["p"], full, rtol=1e-5)


def test_weighted_fit_and_curve(design):
    d = _weighted(design).assign(y=lf.simulate(FORMULA, design, PARAMS, seed=1)["sim_1"].to_numpy())
    m = lf.lmer(FORMULA, d, weights="w", offset="off")
    res = lf.power(m, nsim=10, seed=1, progress=False, along="n_units", values=[10, 30])
    assert res.to_frame()["failed"].tolist() == [0, 0]
    with pytest.raises(ValueError, match="weights and offset are the fit's"):
        lf.power(m, nsim=5, weights="w", progress=False)
    with pytest.raises(ValueError, match="weights='v' is not a column"):
        _spec(design, weights="v")
    with pytest.raises(ValueError, match="offset has 3 values"):
        _spec(design, offset=[1.0, 2.0, 3.0])


def test_lrt_names_a_term_not_a_factor_coefficient():
    df = lf.simulate_growth(n_units=12, seed=3)[["id", "time"]]
    df["g"] = np.where(df["id"].astype(int) % 2 == 0, "a", "b")
    res = lf.power(formula="y ~ time + g + (1 | id)", data=df, test="g", method="lrt", nsim=5, seed=1,
                   params={"beta": [0, 1, 1], "theta": [1], "sigma": 1}, progress=False)
    assert res.test == "g"
    with pytest.raises(ValueError, match="neither a fixed effect"):
        lf.power(formula="y ~ time + g + (1 | id)", data=df, test="g[T.b]", method="lrt", nsim=5, progress=False,
                 params={"beta": [0, 1, 1], "theta": [1], "sigma": 1})


@pytest.mark.parametrize("method", ["satterthwaite", "kr"])
def test_f_test_of_a_factor(method):
    df = lf.simulate_growth(n_units=12, seed=3)[["id", "time"]]
    df["g"] = np.array(["a", "b", "c"])[df["id"].astype(int) % 3]
    res = lf.power(formula="y ~ time + g + (1 | id)", data=df, test="g", method=method, nsim=6, seed=1,
                   params={"beta": [0, 1, 1, 2], "theta": [1], "sigma": 1}, progress=False)
    assert res.statistic == "F" and res.effect is None
    assert f"{'Satterthwaite' if method == 'satterthwaite' else 'Kenward-Roger'} F test" in str(res)
    assert res.to_frame()["failed"].iloc[0] == 0


def test_dask_client_gives_the_same_numbers(design):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cl:
        with distributed.Client(cl) as client:
            for method in ("kr", "satterthwaite"):
                a = _spec(design, method=method, nsim=8, seed=9)
                b = _spec(design, method=method, nsim=8, seed=9, client=client)
                np.testing.assert_allclose(a.pvalues[None], b.pvalues[None], rtol=1e-12)
