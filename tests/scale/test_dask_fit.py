"""A fit on a Dask DataFrame or Parquet files equals the in-memory fit of the same rows."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.design import DataError

from .conftest import crossed_frame, growth_frame

dd = pytest.importorskip("dask.dataframe")


def assert_same_fit(md, m) -> None:
    """Objective to 1e-8, estimates to 1e-6, level tables and counts identical."""
    assert type(md).__name__ == "DaskLmerResult"
    assert (md.nobs, md.n_dropped) == (m.nobs, m.n_dropped)
    assert abs(md.objective - m.objective) <= 1e-8
    assert list(md.fixef.index) == list(m.fixef.index)
    np.testing.assert_allclose(md.fixef, m.fixef, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(md.std_errors, m.std_errors, rtol=1e-6)
    np.testing.assert_allclose(md.theta, m.theta, rtol=1e-6, atol=1e-6)
    assert md.sigma == pytest.approx(m.sigma, rel=1e-6)
    np.testing.assert_allclose(md.varcorr["vcov"], m.varcorr["vcov"], rtol=1e-6)
    assert md.ngroups == m.ngroups
    for g, re in m.ranef.items():
        assert list(md.ranef[g].index) == list(re.index)
        np.testing.assert_allclose(md.ranef[g], re, atol=1e-5)


def assert_same_rows(lazy, series: pd.Series) -> None:
    assert type(lazy).__module__.startswith("dask")
    got = lazy.compute().sort_index()
    np.testing.assert_array_equal(got.index, series.sort_index().index)
    np.testing.assert_allclose(got.to_numpy(), series.sort_index().to_numpy(), atol=1e-6)


def fit_both(formula, df, npartitions=4, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = lf.lmer(formula, df, **kw)
        md = lf.lmer(formula, dd.from_pandas(df, npartitions=npartitions), **kw)
    return md, m


def test_local_scheduler_rank_deficient():
    # runs before the cluster fixture exists: Dask's local scheduler
    df = lf.load_dataset("sleepstudy").assign(D2=lambda d: 2 * d["Days"])
    md, m = fit_both("Reaction ~ Days + D2 + (Days | Subject)", df, npartitions=3)
    assert md.design.fixed.dropped == m.design.fixed.dropped == ["D2"]
    assert_same_fit(md, m)


def test_random_slope_equals_in_memory(client):
    df = growth_frame()
    md, m = fit_both("y ~ time * group + (1 + time | id)", df)
    assert m.n_dropped > 0
    assert_same_fit(md, m)
    assert_same_rows(md.fitted, m.fitted)
    assert_same_rows(md.residuals, m.residuals)
    assert_same_rows(md.resid("pearson"), m.resid("pearson"))


def test_crossed_equals_in_memory(client):
    df = crossed_frame()
    md, m = fit_both("rating ~ days + (1 | user) + (1 | item)", df, npartitions=3, reml=False)
    assert_same_fit(md, m)
    assert_same_rows(md.fitted, m.fitted)


def test_parquet_directory_and_glob(tmp_path, client):
    df = growth_frame(seed=11)
    for i, part in enumerate(np.array_split(np.arange(len(df)), 3)):
        df.iloc[part].to_parquet(tmp_path / f"part-{i}.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = lf.lmer("y ~ time + (1 + time | id)", df)
        for source in (str(tmp_path), str(tmp_path / "part-*.parquet")):
            md = lf.lmer("y ~ time + (1 + time | id)", source)
            assert_same_fit(md, m)
    assert md.fitted.compute().shape == (m.nobs,)


def test_text_factors_nested_weights_offset(client):
    df = growth_frame(seed=5)
    md, m = fit_both("y ~ time + site + (1 | site/group)", df)
    assert "site[T.s1]" in md.fixef.index
    assert_same_fit(md, m)
    md, m = fit_both("y ~ time + (time || id)", df)
    assert_same_fit(md, m)
    md, m = fit_both("y ~ time + (1 | id)", df, weights="w", offset="off", reml=False)
    assert_same_fit(md, m)
    assert_same_rows(md.fitted, m.fitted)
    assert_same_rows(md.weights, pd.Series(m.weights, index=m.data.index))


def test_partition_without_complete_rows(client):
    df = growth_frame(seed=9, missing=False)
    df.loc[: len(df) // 4, "y"] = np.nan  # the first partition has no complete row
    md, m = fit_both("y ~ time + (1 | id)", df)
    assert_same_fit(md, m)


def test_summary_predict_update(client):
    df = growth_frame(seed=3)
    md, m = fit_both("y ~ time * group + (1 + time | id)", df)
    text = str(md.summary())
    assert "Scaled residuals" in text and "Number of obs" in text
    new = df.dropna().head(7).assign(id=lambda d: d["id"].where(d.index % 2 == 0, 10**6))
    with pytest.raises(DataError, match="allow_new_levels"):
        md.predict(new)
    np.testing.assert_allclose(md.predict(new, allow_new_levels=True), m.predict(new, allow_new_levels=True),
                               atol=1e-6)
    np.testing.assert_allclose(md.predict(dd.from_pandas(new, npartitions=2), allow_new_levels=True).compute(),
                               m.predict(new, allow_new_levels=True), atol=1e-6)
    np.testing.assert_allclose(md.predict(new, re_form="~0"), m.predict(new, re_form="~0"), atol=1e-6)
    assert_same_fit(md.update(reml=False), m.update(reml=False))
    assert md.data.compute().shape == m.data.shape
    with pytest.raises(NotImplementedError):
        md.refit(np.zeros(md.nobs))


def test_errors(client):
    ddf = dd.from_pandas(growth_frame(), npartitions=2)
    with pytest.raises(DataError, match="column name"):
        lf.lmer("y ~ time + (1 | id)", ddf, weights=np.ones(10))
    with pytest.raises(DataError, match="nope"):
        lf.lmer("y ~ nope + (1 | id)", ddf)
    with pytest.raises(DataError, match="random-effects term"):
        lf.lmer("y ~ time", ddf)
    with pytest.raises(DataError, match="only 1 level"):
        lf.lmer("y ~ time + (1 | one)", ddf.assign(one=1))


def test_driver_holds_no_per_row_arrays(client):
    """The driver keeps level-sized arrays only: no rows of X, Z, codes, y, weights or the frame, and
    cross-products whose shapes follow the levels and terms, not the 2,400 rows."""
    df = growth_frame(seed=13)
    md, m = fit_both("y ~ time * group + (1 + time | id)", df)
    nl, p = len(md.ranef["id"]), len(md.fixef)
    assert md.design.X.shape == (0, p)
    assert all(t.Z.shape[0] == 0 and t.codes.shape == (0,) for t in md.design.terms)
    assert md.devfun.cp.w_sqrt is None and md.design.frame.data is None and md.design.frame.rows is None
    with pytest.raises(AttributeError, match="per-row"):
        md.design.y  # noqa: B018
    cp = md.devfun.cp
    assert cp.diag[0].shape == (nl, 2, 2) and cp.xz[0].shape == (p + 1, 2 * nl) and cp.xx.shape == (p + 1, p + 1)
    sol = md.solution
    for name, value in [*vars(md).items(), *((f, getattr(sol, f)) for f in sol.__dataclass_fields__)]:
        assert not isinstance(value, np.ndarray) or value.shape[:1] != (md.nobs,), name


def test_ordered_categorical_is_refused_rather_than_coded_differently() -> None:
    """In memory an ordered categorical gets polynomial contrasts (as R); a Dask fit would code it by treatment,
    so it says so instead of returning other coefficients."""
    import dask.dataframe as dd

    df = lf.load_dataset("sleepstudy")
    df["dose"] = pd.Categorical(np.where(df["Days"] < 3, "low", np.where(df["Days"] < 7, "mid", "high")),
                                categories=["low", "mid", "high"], ordered=True)
    with pytest.raises(lf.DataError, match="ordered categorical column.*dose"):
        lf.lmer("Reaction ~ dose + (1 | Subject)", dd.from_pandas(df, npartitions=2))
