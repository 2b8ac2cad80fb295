"""Inference on a fit from a Dask DataFrame: the in-memory numbers, or a clear error, never silent garbage."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf

from .conftest import growth_frame

dd = pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")


def fit_both(formula: str, df: pd.DataFrame, npartitions: int = 3, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lf.lmer(formula, dd.from_pandas(df, npartitions=npartitions), **kw), lf.lmer(formula, df, **kw)


@pytest.fixture(scope="module")
def growth() -> pd.DataFrame:
    return growth_frame(n_ids=300, seed=17)


def test_t_and_f_tests_equal_in_memory(client, growth):
    md, m = fit_both("y ~ time * group + (1 + time | id)", growth)
    for ddf in ("satterthwaite", "kenward-roger"):
        pd.testing.assert_frame_equal(md.coef_table(ddf=ddf), m.coef_table(ddf=ddf), check_exact=False, rtol=1e-5)
        # numeric terms only: type III (each term's own coefficient) and type I from X'X, without the rows
        for kind in ("III", "I"):
            pd.testing.assert_frame_equal(pd.DataFrame(lf.anova(md, ddf=ddf, type=kind)),
                                          pd.DataFrame(lf.anova(m, ddf=ddf, type=kind)), check_exact=False, rtol=1e-5)


def test_type3_with_factors_raises_clearly(client, growth):
    md, m = fit_both("y ~ time + site + (1 | id)", growth)
    with pytest.raises(NotImplementedError, match="lf.contrast"):
        lf.anova(md)
    L = np.eye(len(md.fixef_names))[2:]  # the site coefficients
    pd.testing.assert_frame_equal(pd.DataFrame(lf.contrast(md, L, joint=True)),
                                  pd.DataFrame(lf.contrast(m, L, joint=True)), check_exact=False, rtol=1e-5)


def test_lrt_checks_rows_and_matches_in_memory(client, growth):
    ddf = dd.from_pandas(growth, npartitions=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        md0 = lf.lmer("y ~ time + (1 | id)", ddf)
        md1 = lf.lmer("y ~ time + (1 + time | id)", ddf)
        m0 = lf.lmer("y ~ time + (1 | id)", growth)
        m1 = lf.lmer("y ~ time + (1 + time | id)", growth)
    a, b = lf.anova(md0, md1), lf.anova(m0, m1)
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b), check_exact=False, rtol=1e-6)
    assert "ML" in a.attrs["note"]
    # a model fit to fewer rows (the first id dropped) is refused, as are mixed Dask / in-memory comparisons
    fewer = lf.lmer("y ~ time + (1 + time | id)", ddf[ddf["id"] != 0], quiet=True)
    with pytest.raises(ValueError, match="different rows"):
        lf.anova(md0, fewer)
    # the same number of rows but not the same rows: caught by the hash of the rows used
    swapped = growth.copy()
    drop_a = swapped.index[swapped["y"].notna() & swapped["time"].notna()][:2]
    same_n = lf.lmer("y ~ time + (1 + time | id)", dd.from_pandas(swapped.drop(index=drop_a[0]), npartitions=3),
                      quiet=True)
    other_n = lf.lmer("y ~ time + (1 + time | id)", dd.from_pandas(swapped.drop(index=drop_a[1]), npartitions=3),
                       quiet=True)
    assert same_n.nobs == other_n.nobs
    with pytest.raises(ValueError, match="different rows"):
        lf.anova(same_n, other_n)
    with pytest.raises(ValueError, match="Dask"):
        lf.anova(md0, m1)
    t = lf.compare_models(md0, md1)
    np.testing.assert_allclose(t["aic"], lf.compare_models(m0, m1)["aic"], rtol=1e-9)


def test_ranova_including_the_linear_model(client, growth):
    md, m = fit_both("y ~ time + (1 | id)", growth, weights="w")
    a, b = lf.ranova(md), lf.ranova(m)
    # removing the only term leaves the linear model, whose log-likelihood comes from the cross-products
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b), check_exact=False, rtol=1e-7)
    for reml in (True, False):
        md, m = fit_both("y ~ time + (time || id)", growth, reml=reml)
        pd.testing.assert_frame_equal(pd.DataFrame(lf.ranova(md)), pd.DataFrame(lf.ranova(m)), check_exact=False,
                                      rtol=1e-6)


def test_intervals_and_the_bootstrap(client, growth):
    md, m = fit_both("y ~ time + (1 + time | id)", growth)
    for scale in ("sdcor", "vcov"):
        pd.testing.assert_frame_equal(md.confint(method="profile", scale=scale), m.confint(method="profile",
                                                                                           scale=scale),
                                      check_exact=False, rtol=1e-5)
    new = growth.dropna().head(5)
    pd.testing.assert_frame_equal(md.predict(new, interval="prediction"), m.predict(new, interval="prediction"),
                                  check_exact=False, rtol=1e-6)
    with pytest.raises(NotImplementedError, match="in-memory frame"):
        lf.bootstrap(md, nsim=5, seed=1, progress=False)


def test_r2_and_icc_equal_in_memory(client, growth):
    """Nakagawa's R2 and the ICC of a Dask fit come from its cross-products (X'X, per-level Z'Z)."""
    md, m = fit_both("y ~ time * group + (1 + time | id)", growth)
    for key, val in lf.r2(m).items():
        assert lf.r2(md)[key] == pytest.approx(val, rel=1e-6)
    for key, val in lf.icc(m).items():
        assert lf.icc(md)[key] == pytest.approx(val, rel=1e-6)
    mw, _ = fit_both("y ~ time + (1 | id)", growth.assign(w=1.5), weights="w")
    with pytest.raises(ValueError, match="no prior weights"):
        lf.r2(mw)
