"""lm_list, unit_coefficients, share_positive_slopes and variance_partition (lmmflow.derived)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmmflow as lf
from lmmflow.derived import variance_partition


def simulate(n_units=40, times=(0, 1, 2, 3, 4), seed=4, slope_sd=1.0, sigma=5.0):
    rng = np.random.default_rng(seed)
    cov = [[100.0, -2.0 * slope_sd], [-2.0 * slope_sd, slope_sd ** 2]]
    u = rng.multivariate_normal([0.0, 0.0], cov, size=n_units)
    t = np.asarray(times, dtype=float)
    ids = np.repeat(np.arange(1, n_units + 1), len(t))
    time = np.tile(t, n_units)
    y = 50 + u[ids - 1, 0] + (2 + u[ids - 1, 1]) * time + rng.normal(0, sigma, len(ids))
    return pd.DataFrame({"id": ids, "time": time, "y": y})


@pytest.fixture(scope="module")
def growth():
    return simulate()


@pytest.fixture(scope="module")
def model(growth):
    return lf.lmer("y ~ time + (1 + time | id)", growth)


# ---- lm_list ---------------------------------------------------------------------------------------
def test_lm_list_matches_ols_per_unit(growth):
    import statsmodels.api as sm

    out = lf.lm_list("y ~ time", growth, "id")
    assert list(out.columns) == ["(Intercept)", "time", "se_(Intercept)", "se_time", "n", "df_resid", "sigma"]
    assert out.index.name == "id" and out.index[0] == "1" and len(out) == 40
    rss, dfs = 0.0, 0
    for unit in (1, 7, 40):
        d = growth[growth["id"] == unit]
        fit = sm.OLS(d["y"].to_numpy(), sm.add_constant(d["time"].to_numpy())).fit()
        row = out.loc[str(unit)]
        np.testing.assert_allclose(row[["(Intercept)", "time"]].to_numpy(dtype=float), fit.params)
        assert row["n"] == 5 and row["df_resid"] == 3
        assert row["sigma"] == pytest.approx(np.sqrt(fit.scale))
    for _, d in growth.groupby("id"):
        fit = sm.OLS(d["y"].to_numpy(), sm.add_constant(d["time"].to_numpy())).fit()
        rss += fit.ssr
        dfs += int(fit.df_resid)
    pooled = np.sqrt(rss / dfs)
    assert out.attrs["sigma_pooled"] == pytest.approx(pooled)
    d = growth[growth["id"] == 7]
    fit = sm.OLS(d["y"].to_numpy(), sm.add_constant(d["time"].to_numpy())).fit()
    np.testing.assert_allclose(out.loc["7", ["se_(Intercept)", "se_time"]].to_numpy(dtype=float),
                               fit.bse * pooled / np.sqrt(fit.scale))
    own = lf.lm_list("y ~ time", growth, "id", pool=False)
    np.testing.assert_allclose(own.loc["7", ["se_(Intercept)", "se_time"]].to_numpy(dtype=float), fit.bse)


def test_lm_list_bar_syntax_and_polars_like_input(growth):
    a = lf.lm_list("y ~ time | id", growth)
    b = lf.lm_list("y ~ time", growth.to_dict(orient="list"), group="id")
    pd.testing.assert_frame_equal(a, b)


def test_lm_list_too_few_points_and_rank_deficient_units(growth):
    df = growth.copy()
    df = df[~((df["id"] == 2) & (df["time"] > 0))]          # one point: fewer rows than coefficients
    df.loc[(df["id"] == 5), "time"] = 1.0                  # one distinct time: slope not estimable
    df.loc[df.index[(df["id"] == 9).to_numpy()][:3], "time"] = [0.0, 4.0, 2.0]
    df.loc[df.index[(df["id"] == 9).to_numpy()][3:], "time"] = [np.nan, np.nan]  # missing rows dropped
    out = lf.lm_list("y ~ time", df, "id")
    assert out.attrs["n_insufficient"] == 2
    assert out.attrs["insufficient"] == ["2", "5"]
    assert out.attrs["n_dropped"] == 2
    assert out.loc[["2", "5"], ["(Intercept)", "time", "se_time"]].isna().all().all()
    assert out.loc["2", "n"] == 1 and out.loc["9", "n"] == 3
    assert np.isfinite(out.loc["9", "time"])
    assert out.drop(index=["2", "5"])[["(Intercept)", "time"]].notna().all().all()


def test_lm_list_exactly_determined_unit_has_no_sigma(growth):
    df = growth[~((growth["id"] == 3) & (growth["time"] > 1))]
    out = lf.lm_list("y ~ time", df, "id")
    assert out.loc["3", "df_resid"] == 0 and np.isnan(out.loc["3", "sigma"])
    assert np.isfinite(out.loc["3", "se_time"])  # pooled sigma still gives an SE
    assert out.attrs["n_insufficient"] == 0


def test_lm_list_ignores_the_callers_index(growth):
    out = lf.lm_list("y ~ time", growth.set_index(np.zeros(len(growth), dtype=int)), "id")
    pd.testing.assert_frame_equal(out, lf.lm_list("y ~ time", growth, "id"))


def test_lm_list_labels_line_up_with_model(growth, model):
    out = lf.lm_list("y ~ time", growth, "id")
    assert list(out.index) == list(model.coef["id"].index)


def test_lm_list_interaction_group_and_errors(growth):
    df = growth.assign(site=np.where(growth["id"] <= 20, "a", "b"))
    out = lf.lm_list("y ~ time", df, ["site", "id"])
    assert len(out) == 40 and out.index.name == "site:id" and out.index[0] == "a:1"
    with pytest.raises(ValueError, match="grouping column"):
        lf.lm_list("y ~ time", growth)
    with pytest.raises(ValueError, match="school"):
        lf.lm_list("y ~ time", growth, "school")
    with pytest.raises(ValueError, match="random-effect"):
        lf.lm_list("y ~ time + (1 | id)", growth, "id")


# ---- unit_coefficients ------------------------------------------------------------------------------
def test_unit_coefficients(model):
    uc = lf.unit_coefficients(model)
    pd.testing.assert_frame_equal(uc[["(Intercept)", "time"]], model.coef["id"])
    np.testing.assert_allclose(uc["se_time"], model.ranef_sd["id"]["time"])
    assert (uc["n"] == 5).all()


# ---- share_positive_slopes --------------------------------------------------------------------------
def test_share_positive_slopes_two_ways(model):
    s = lf.share_positive_slopes(model, "time")
    vc = model.varcorr
    tau11 = vc.loc[(vc.var1 == "time") & vc.var2.isna(), "vcov"].item()
    assert s["from_distribution"] == pytest.approx(stats.norm.cdf(model.fixef["time"] / np.sqrt(tau11)))
    assert s["from_blups"] == pytest.approx(np.mean(model.fixef["time"] + model.ranef["id"]["time"] > 0))
    assert s["slope_sd"] == pytest.approx(np.sqrt(tau11))
    assert s["n_units"] == 40
    assert s["blup_sd"] < s["slope_sd"]  # shrinkage


def test_shares_agree_with_many_units_and_informative_data():
    df = simulate(n_units=400, times=np.arange(0, 12), seed=3, slope_sd=1.5, sigma=2.0)
    m = lf.lmer("y ~ time + (1 + time | id)", df)
    s = lf.share_positive_slopes(m, "time")
    assert 0.8 < s["from_distribution"] < 0.99
    assert s["from_blups"] == pytest.approx(s["from_distribution"], abs=0.04)


def test_share_positive_slopes_needs_random_slope(growth):
    m = lf.lmer("y ~ time + (1 | id)", growth)
    with pytest.raises(ValueError, match="random slope"):
        lf.share_positive_slopes(m, "time")


# ---- variance_partition -----------------------------------------------------------------------------
def test_variance_partition(model):
    vp = variance_partition(model, times=[0.0, 2.0, 4.0])
    cov = model.re_covariances[0]
    t = np.array([0.0, 2.0, 4.0])
    between = cov[0, 0] + 2 * t * cov[0, 1] + t ** 2 * cov[1, 1]
    np.testing.assert_allclose(vp["between"], between)
    np.testing.assert_allclose(vp["total"], between + model.sigma ** 2)
    np.testing.assert_allclose(vp["icc"], between / (between + model.sigma ** 2))
    assert vp.attrs == {"term": "time", "group": "id"}
    default = variance_partition(model)
    assert len(default) == 101 and default["time"].iloc[0] == 0 and default["time"].iloc[-1] == 4


def test_public_names():
    assert lf.lm_list is lf.derived.lm_list
    assert callable(lf.unit_coefficients) and callable(lf.share_positive_slopes)
