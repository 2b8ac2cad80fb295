"""lmmflow.data: simulation with known parameters, wide-to-long reshaping, reading files."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lmmflow.data import DataError, as_pandas, read_data, simulate_growth, wide_to_long


# ---- simulate_growth -----------------------------------------------------------------------------------
def test_defaults_follow_the_tutorial():
    df = simulate_growth(seed=2024)
    assert list(df.columns) == ["id", "time", "y"]
    assert len(df) == 200 * 5
    assert df.groupby("id").size().eq(5).all()
    assert sorted(df["time"].unique().tolist()) == [0, 1, 2, 3, 4]
    truth = df.attrs["lmmflow_truth"]
    assert truth["intercept"] == 50.0 and truth["slope"] == 2.0
    assert (truth["tau00"], truth["tau11"], truth["tau01"], truth["sigma"]) == (100.0, 1.0, -2.0, 5.0)
    assert truth["cor"] == pytest.approx(-0.2)
    assert truth["formula"] == "y ~ time + (1 + time | id)"
    assert truth["seed"] == 2024
    # the tutorial's checkpoint: y roughly in the 30-70 range
    assert 40 < df["y"].mean() < 60


def test_ids_are_zero_padded_strings_in_numeric_order():
    df = simulate_growth(n_units=120, seed=1)
    ids = df["id"].unique().tolist()
    assert all(isinstance(i, str) for i in ids)
    assert ids[0] == "001" and ids[-1] == "120"
    assert ids == sorted(ids)
    assert df.equals(df.sort_values(["id", "time"]).reset_index(drop=True))


def test_seed_reproducibility():
    a = simulate_growth(n_units=30, seed=11)
    b = simulate_growth(n_units=30, seed=11)
    c = simulate_growth(n_units=30, seed=12)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["y"], c["y"])
    g1 = simulate_growth(n_units=30, seed=np.random.default_rng(5))
    g2 = simulate_growth(n_units=30, seed=np.random.default_rng(5))
    pd.testing.assert_frame_equal(g1, g2)
    assert g1.attrs["lmmflow_truth"]["seed"] is None


def test_missing_rows_are_a_subset_of_the_complete_data():
    full = simulate_growth(n_units=50, seed=3)
    part = simulate_growth(n_units=50, seed=3, missing=0.3)
    assert len(part) == len(full) - round(0.3 * len(full))
    merged = part.merge(full, on=["id", "time"], suffixes=("", "_full"), validate="one_to_one")
    assert len(merged) == len(part)
    np.testing.assert_allclose(merged["y"], merged["y_full"])  # same units and noise, rows removed
    assert part.attrs["lmmflow_truth"]["missing"] == 0.3


def test_missing_is_roughly_uniform_over_waves():
    df = simulate_growth(n_units=4000, seed=8, missing=0.5)
    share = df.groupby("time").size() / 4000
    np.testing.assert_allclose(share, 0.5, atol=0.03)


def test_uneven_and_fractional_times():
    df, eff = simulate_growth(n_units=10, times=[12, 0, 1, 3, 6], seed=1, return_effects=True)
    assert df["time"].dtype.kind == "i"
    assert df.groupby("id")["time"].apply(list).map(lambda v: v == [0, 1, 3, 6, 12]).all()
    dff = simulate_growth(n_units=5, times=[0, 0.5, 1.25], seed=1)
    assert dff["time"].dtype == float
    assert dff.attrs["lmmflow_truth"]["times"] == [0.0, 0.5, 1.25]


def test_effects_and_noise_add_up():
    df, eff = simulate_growth(n_units=8, times=[0, 2, 5], sigma=1e-9, seed=4, return_effects=True)
    assert list(eff.columns) == ["u0", "u1", "b0", "b1"]
    assert eff.index.tolist() == df["id"].unique().tolist()
    pred = eff.loc[df["id"], "b0"].to_numpy() + eff.loc[df["id"], "b1"].to_numpy() * df["time"].to_numpy()
    np.testing.assert_allclose(df["y"], pred, atol=1e-6)
    np.testing.assert_allclose(eff["b0"], 50 + eff["u0"])


def test_parameters_recovered_in_a_large_sample():
    n = 20000
    df, eff = simulate_growth(n_units=n, seed=2024, return_effects=True)
    # true per-unit effects: moments of the bivariate normal
    assert eff["u0"].var() == pytest.approx(100.0, rel=0.04)
    assert eff["u1"].var() == pytest.approx(1.0, rel=0.04)
    assert np.cov(eff["u0"], eff["u1"])[0, 1] == pytest.approx(-2.0, abs=0.25)
    # and from the data alone: per-unit OLS intercepts have variance tau00 + sigma^2 * (X'X)^-1[0, 0]
    t = np.arange(5.0)
    X = np.column_stack([np.ones(5), t])
    Y = df["y"].to_numpy().reshape(n, 5)
    B = np.linalg.lstsq(X, Y.T, rcond=None)[0].T
    xtx_inv = np.linalg.inv(X.T @ X)
    assert B[:, 0].mean() == pytest.approx(50.0, abs=0.3)
    assert B[:, 1].mean() == pytest.approx(2.0, abs=0.05)
    assert B[:, 0].var(ddof=1) == pytest.approx(100 + 25 * xtx_inv[0, 0], rel=0.04)
    assert B[:, 1].var(ddof=1) == pytest.approx(1 + 25 * xtx_inv[1, 1], rel=0.05)
    assert np.cov(B.T)[0, 1] == pytest.approx(-2 + 25 * xtx_inv[0, 1], abs=0.3)
    # residual variance: within-unit scatter around the unit's own line
    resid = Y - B @ X.T
    assert (resid ** 2).sum() / (n * (5 - 2)) == pytest.approx(25.0, rel=0.02)
    # marginal variance at each wave: tau00 + 2 t tau01 + t^2 tau11 + sigma^2
    expected = 100 + 2 * t * -2 + t ** 2 * 1 + 25
    np.testing.assert_allclose(Y.var(axis=0, ddof=1), expected, rtol=0.04)


def test_degenerate_but_valid_covariances():
    df, eff = simulate_growth(n_units=50, tau00=0.0, tau01=0.0, tau11=2.0, seed=1, return_effects=True)
    assert np.all(eff["u0"] == 0)
    df, eff = simulate_growth(n_units=50, tau00=4.0, tau11=1.0, tau01=2.0, seed=1, return_effects=True)  # rho = 1
    np.testing.assert_allclose(eff["u1"], eff["u0"] / 2)
    df = simulate_growth(n_units=1, times=[3], seed=1)
    assert len(df) == 1


def test_custom_column_names():
    df = simulate_growth(n_units=3, seed=1, unit_col="person", time_col="month", response_col="score")
    assert list(df.columns) == ["person", "month", "score"]
    assert df.attrs["lmmflow_truth"]["formula"] == "score ~ month + (1 + month | person)"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_units": 0}, "n_units"),
        ({"n_units": 2.5}, "n_units"),
        ({"n_units": True}, "n_units"),
        ({"times": []}, "times"),
        ({"times": "0123"}, "times"),
        ({"times": [0, 1, 1]}, "repeat"),
        ({"times": [0, float("nan")]}, "finite"),
        ({"times": ["a", "b"]}, "numeric"),
        ({"tau00": -1.0}, "variances"),
        ({"tau11": -0.1}, "variances"),
        ({"tau01": 20.0}, "positive semi-definite"),
        ({"tau00": 0.0, "tau01": 0.5}, "positive semi-definite"),
        ({"sigma": 0.0}, "sigma"),
        ({"sigma": -1.0}, "sigma"),
        ({"intercept": float("inf")}, "intercept"),
        ({"slope": "2"}, "slope"),
        ({"missing": 1.0}, "missing"),
        ({"missing": -0.1}, "missing"),
        ({"n_units": 1, "times": [0], "missing": 0.6}, "every row"),
        ({"seed": 1.5}, "seed"),
        ({"unit_col": ""}, "unit_col"),
        ({"time_col": "y"}, "differ"),
    ],
)
def test_simulate_growth_rejects_bad_input(kwargs, match):
    with pytest.raises(DataError, match=match):
        simulate_growth(**kwargs)
    assert issubclass(DataError, ValueError)


def test_psd_error_reports_the_implied_correlation():
    with pytest.raises(DataError, match=r"correlation of -2"):
        simulate_growth(tau00=1.0, tau11=1.0, tau01=-2.0)


# ---- wide_to_long --------------------------------------------------------------------------------------
@pytest.fixture
def wide() -> pd.DataFrame:
    return pd.DataFrame({
        "pid": ["p1", "p2", "p3"],
        "group": pd.Categorical(["tx", "ctl", "tx"]),
        "age": [30, 41, 52],
        "y_base": [48.0, 55.0, 60.0],
        "y_m1": [52.0, np.nan, 61.0],
        "y_m3": [56.0, 57.0, np.nan],
        "y_m12": [60.0, 59.0, 70.0],
    })


def test_wide_to_long_uneven_mapping(wide):
    before = wide.copy(deep=True)
    with pytest.warns(UserWarning, match="dropped 2 of 12"):
        long = wide_to_long(wide, "pid", {"y_base": 0, "y_m1": 1, "y_m3": 3, "y_m12": 12})
    pd.testing.assert_frame_equal(wide, before)  # input untouched
    assert list(long.columns) == ["pid", "time", "y", "group", "age"]
    assert len(long) == 10 and long.attrs["lmmflow_dropped"] == 2
    assert long.loc[long["pid"] == "p1", "time"].tolist() == [0, 1, 3, 12]
    assert long.loc[long["pid"] == "p2", "time"].tolist() == [0, 3, 12]
    assert long.loc[long["pid"] == "p3", "y"].tolist() == [60.0, 61.0, 70.0]
    assert isinstance(long["group"].dtype, pd.CategoricalDtype)
    assert long["age"].dtype.kind == "i"
    assert long.index.equals(pd.RangeIndex(len(long)))


def test_wide_to_long_sequence_default_times_keep_and_wave_name(wide):
    long = wide_to_long(wide, "pid", ["y_base", "y_m1", "y_m3", "y_m12"], keep=["age"], wave_name="wave",
                        value_name="score", time_name="t", dropna=False)
    assert list(long.columns) == ["pid", "t", "score", "wave", "age"]
    assert len(long) == 12 and long.attrs["lmmflow_dropped"] == 0
    assert long["t"].tolist()[:4] == [0, 1, 2, 3]
    assert long["wave"].tolist()[:4] == ["y_base", "y_m1", "y_m3", "y_m12"]
    long2 = wide_to_long(wide, "pid", ["y_m12", "y_base"], times=[12.0, 0.0], keep=(), dropna=False)
    assert list(long2.columns) == ["pid", "time", "y"]
    assert long2["time"].tolist()[:2] == [0.0, 12.0]  # sorted by time within unit
    assert long2["y"].tolist()[:2] == [48.0, 60.0]


def test_wide_to_long_no_warning_when_complete():
    df = pd.DataFrame({"id": [1, 2], "a": [1.0, 2.0], "b": [3.0, 4.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        long = wide_to_long(df, "id", {"a": 0, "b": 1})
    assert long.attrs["lmmflow_dropped"] == 0
    assert long["id"].tolist() == [1, 1, 2, 2]


def test_wide_to_long_round_trip():
    long = simulate_growth(n_units=40, times=[0, 1, 3, 6, 12], seed=9)
    wide = long.pivot(index="id", columns="time", values="y")
    wide.columns = [f"y_{c}" for c in wide.columns]
    wide = wide.reset_index()
    back = wide_to_long(wide, "id", {f"y_{t}": t for t in [0, 1, 3, 6, 12]})
    pd.testing.assert_frame_equal(back[["id", "time", "y"]], long[["id", "time", "y"]], check_dtype=False)


def test_wide_to_long_accepts_polars_and_dicts():
    pl = pytest.importorskip("polars")
    data = {"id": ["a", "b"], "w1": [1.0, 2.0], "w2": [3.0, None]}
    with pytest.warns(UserWarning):
        a = wide_to_long(pl.DataFrame(data), "id", ["w1", "w2"])
    with pytest.warns(UserWarning):
        b = wide_to_long(data, "id", ["w1", "w2"])
    assert len(a) == len(b) == 3
    assert a["y"].tolist() == b["y"].tolist() == [1.0, 3.0, 2.0]


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("nope", {"y_base": 0}), {}, "id_col 'nope' is not a column"),
        (("pid", {"y_base": 0, "y_m6": 6}), {}, "wave column 'y_m6' is not a column.*did you mean"),
        (("pid", {"y_base": 0, "y_m1": "one"}), {}, "'y_m1' must be a finite number"),
        (("pid", {"y_base": 0, "y_m1": float("inf")}), {}, "finite number"),
        (("pid", {"y_base": 0, "y_m1": True}), {}, "finite number"),
        (("pid", {"y_base": 0, "y_m1": 0}), {}, "must not repeat"),
        (("pid", ["y_base", "y_m1"]), {"times": [0]}, "2 wave columns but 1 times"),
        (("pid", {"y_base": 0}), {"times": [0]}, "not both"),
        (("pid", {}), {}, "empty"),
        (("pid", "y_base"), {}, "mapping"),
        (("pid", ["y_base", "y_base"]), {}, "twice"),
        (("pid", {"pid": 0, "y_base": 1}), {}, "also listed"),
        (("pid", {"y_base": 0}), {"keep": ["height"]}, "keep column 'height'"),
        (("pid", {"y_base": 0}), {"keep": ["y_base"]}, "must not include"),
        (("pid", {"y_base": 0}), {"value_name": "age"}, "clash"),
        (("pid", {"y_base": 0}), {"value_name": "time"}, "must differ"),
        (("pid", {"y_base": 0}), {"value_name": ""}, "non-empty"),
    ],
)
def test_wide_to_long_rejects_bad_input(wide, args, kwargs, match):
    with pytest.raises(DataError, match=match):
        wide_to_long(wide, *args, **kwargs)


def test_wide_to_long_rejects_repeated_or_missing_ids(wide):
    dup = pd.concat([wide, wide.iloc[[1]]], ignore_index=True)
    with pytest.raises(DataError, match=r"not unique: \['p2'\].*already long"):
        wide_to_long(dup, "pid", {"y_base": 0})
    gap = wide.assign(pid=["p1", None, "p3"])
    with pytest.raises(DataError, match=r"missing in row\(s\) \[1\]"):
        wide_to_long(gap, "pid", {"y_base": 0})


cells = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    grid=st.integers(1, 8).flatmap(lambda k: st.lists(st.lists(cells, min_size=k, max_size=k), min_size=1,
                                                      max_size=12)),
    times=st.lists(st.floats(-100, 100, allow_nan=False), min_size=8, max_size=8, unique=True),
)
def test_property_rows_equal_non_missing_cells(grid, times):
    k = len(grid[0])
    wide = pd.DataFrame(grid, columns=[f"w{j}" for j in range(k)], dtype=float)
    wide.insert(0, "unit", [f"u{i}" for i in range(len(grid))])
    mapping = {f"w{j}": times[j] for j in range(k)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        long = wide_to_long(wide, "unit", mapping)
    n_cells = int(wide.iloc[:, 1:].notna().to_numpy().sum())
    assert len(long) == n_cells
    assert long.attrs["lmmflow_dropped"] == wide.shape[0] * k - n_cells
    # every value is found in its wide cell, and times ascend within each unit
    for row in long.itertuples(index=False):
        col = next(c for c, t in mapping.items() if t == row.time)
        assert wide.loc[wide["unit"] == row.unit, col].item() == row.y
    assert long.groupby("unit", sort=False)["time"].apply(lambda s: s.is_monotonic_increasing).all()


@settings(max_examples=30, deadline=None)
@given(n_units=st.integers(1, 30), n_times=st.integers(1, 6), missing=st.floats(0, 0.95), seed=st.integers(0, 2**32))
def test_property_simulated_shape(n_units, n_times, missing, seed):
    n = n_units * n_times
    assume(round(missing * n) < n)
    df = simulate_growth(n_units=n_units, times=list(range(n_times)), missing=missing, seed=seed)
    assert len(df) == n - round(missing * n)
    assert df.groupby("id").size().max() <= n_times
    assert np.isfinite(df["y"]).all()


# ---- reading -------------------------------------------------------------------------------------------
def test_read_csv_tsv_and_compressed(tmp_path):
    df = simulate_growth(n_units=4, seed=1)
    df.to_csv(tmp_path / "a.csv", index=False)
    df.to_csv(tmp_path / "a.tsv", sep="\t", index=False)
    df.to_csv(tmp_path / "a.csv.gz", index=False)
    for name in ("a.csv", "a.tsv", "a.csv.gz"):
        got = read_data(tmp_path / name, dtype={"id": str})
        pd.testing.assert_frame_equal(got, df, check_dtype=False)
    assert read_data(str(tmp_path / "a.csv")).shape == (20, 3)


def test_read_parquet_file_and_directory(tmp_path):
    pytest.importorskip("pyarrow")
    df = simulate_growth(n_units=6, seed=2)
    df.to_parquet(tmp_path / "one.parquet", index=False)
    pd.testing.assert_frame_equal(read_data(tmp_path / "one.parquet"), df, check_dtype=False)
    folder = tmp_path / "parts"
    folder.mkdir()
    df.iloc[:10].to_parquet(folder / "part-0.parquet", index=False)
    df.iloc[10:].to_parquet(folder / "part-1.parquet", index=False)
    got = read_data(folder)
    assert len(got) == len(df)
    assert sorted(got["y"].tolist()) == sorted(df["y"].tolist())


def test_read_data_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file or directory"):
        read_data(tmp_path / "absent.csv")
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(DataError, match=r"'\.xlsx'.*\.csv"):
        read_data(tmp_path / "data.xlsx")
    (tmp_path / "noext").write_text("x")
    with pytest.raises(DataError, match="none"):
        read_data(tmp_path / "noext")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no Parquet files"):
        read_data(empty)
    (tmp_path / "zero.csv").write_text("")
    with pytest.raises(DataError, match=r"zero\.csv' is empty"):
        read_data(tmp_path / "zero.csv")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n1,2,3,4\n")
    with pytest.raises(DataError, match=r"ragged\.csv' could not be read as CSV"):
        read_data(tmp_path / "ragged.csv")


def test_as_pandas():
    df = pd.DataFrame({"a": [1, 2]})
    assert as_pandas(df) is df
    assert as_pandas({"a": np.array([1, 2]), "b": ["x", "y"]}).shape == (2, 2)
    pl = pytest.importorskip("polars")
    got = as_pandas(pl.DataFrame({"a": [1.5, math.pi]}))
    assert isinstance(got, pd.DataFrame) and got["a"].tolist() == [1.5, math.pi]
    with pytest.raises(ValueError, match="pandas or polars"):
        as_pandas([1, 2, 3])
