"""Getting longitudinal data into shape: simulate it, reshape it from wide to long, read it from disk.

* :func:`simulate_growth`: long data from a random-intercept-and-slope growth model whose parameters
  you choose, so that a fit can be checked against the truth;
* :func:`wide_to_long`: one row per unit and one column per wave  ->  one row per observation, with
  each wave mapped to a numeric time (evenly spaced or not);
* :func:`read_data`: CSV or Parquet files (or a folder of Parquet files) into a pandas DataFrame;
* :func:`as_pandas`: the conversion the rest of the library applies to whatever frame it is given.

Nothing here modifies a frame it is given.
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
import warnings
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from .design.frame import DataError, as_pandas
from .exceptions import DroppedRowsWarning

__all__ = ["DataError", "as_pandas", "read_data", "simulate_growth", "wide_to_long"]

#: Key of ``DataFrame.attrs`` under which :func:`simulate_growth` stores the generating parameters.
TRUTH_KEY = "lmmflow_truth"
#: Key of ``DataFrame.attrs`` under which :func:`wide_to_long` stores the number of dropped cells.
DROPPED_KEY = "lmmflow_dropped"

_CSV_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_COMPRESSED = {".gz", ".bz2", ".zip", ".xz", ".zst"}
_PARQUET_SUFFIXES = {".parquet", ".pq", ".parq"}


# ---- simulation ----------------------------------------------------------------------------------------
def _finite_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DataError(f"{name} must be a real number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise DataError(f"{name} must be finite, got {value!r}")
    return out


def _check_times(times: Any, name: str = "times") -> np.ndarray:
    if isinstance(times, (str, bytes)) or not hasattr(times, "__len__"):
        raise DataError(f"{name} must be a sequence of numbers such as (0, 1, 2, 3, 4), got {times!r}")
    arr = np.asarray(list(times))
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"{name} must be a non-empty flat sequence of numbers, got {times!r}")
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise DataError(
            f"{name} must be numeric (the measurement times, e.g. months since baseline), got {list(times)!r}; "
            "map wave labels to numbers first"
        )
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} must be finite numbers, got {list(times)!r}")
    if np.unique(arr).size != arr.size:
        raise DataError(f"{name} must not repeat a time, got {list(times)!r}")
    return arr


def _check_names(**names: Any) -> None:
    for what, value in names.items():
        if not isinstance(value, str) or not value:
            raise DataError(f"{what} must be a non-empty string, got {value!r}")
    values = list(names.values())
    if len(set(values)) != len(values):
        raise DataError(f"column names must differ, got {names}")


@overload
def simulate_growth(n_units: int = ..., times: Sequence[float] = ..., intercept: float = ..., slope: float = ...,
                    tau00: float = ..., tau11: float = ..., tau01: float = ..., sigma: float = ...,
                    seed: int | np.random.Generator | None = ..., missing: float = ..., unit_col: str = ...,
                    time_col: str = ..., response_col: str = ...,
                    return_effects: Literal[False] = ...) -> pd.DataFrame: ...


@overload
def simulate_growth(n_units: int = ..., times: Sequence[float] = ..., intercept: float = ..., slope: float = ...,
                    tau00: float = ..., tau11: float = ..., tau01: float = ..., sigma: float = ...,
                    seed: int | np.random.Generator | None = ..., missing: float = ..., unit_col: str = ...,
                    time_col: str = ..., response_col: str = ...,
                    *, return_effects: Literal[True]) -> tuple[pd.DataFrame, pd.DataFrame]: ...


def simulate_growth(n_units: int = 200, times: Sequence[float] = (0, 1, 2, 3, 4), intercept: float = 50.0,
                    slope: float = 2.0, tau00: float = 100.0, tau11: float = 1.0, tau01: float = -2.0,
                    sigma: float = 5.0, seed: int | np.random.Generator | None = None, missing: float = 0.0,
                    unit_col: str = "id", time_col: str = "time", response_col: str = "y",
                    return_effects: bool = False) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate long-format data from a linear growth model with random intercepts and slopes.

    Each unit *i* gets a random intercept and slope drawn from a bivariate normal distribution, and
    each observation adds independent normal noise::

        y_it = (intercept + u0_i) + (slope + u1_i) * t + e_it
        (u0_i, u1_i) ~ N(0, [[tau00, tau01], [tau01, tau11]]),   e_it ~ N(0, sigma**2)

    The defaults are the worked tutorial's: 200 units, five waves at 0..4, average start 50, average
    gain 2 per wave, intercept SD 10, slope SD 1, intercept-slope covariance -2 (correlation -0.2) and
    residual SD 5.

    Parameters
    ----------
    n_units : int
        Number of units (persons).
    times : sequence of float
        Measurement times, the same for every unit; any spacing (``(0, 1, 3, 6, 12)`` for months),
        distinct values. The output is sorted by unit, then time.
    intercept, slope : float
        The fixed effects: the average value at time 0 and the average change per unit of time.
    tau00, tau11, tau01 : float
        Variance of the random intercepts, variance of the random slopes and their covariance. The
        matrix ``[[tau00, tau01], [tau01, tau11]]`` must be positive semi-definite, that is both
        variances >= 0 and ``tau01**2 <= tau00 * tau11``.
    sigma : float
        Residual standard deviation (> 0).
    seed : int, numpy.random.Generator or None
        Seed for :func:`numpy.random.default_rng` (or a generator to draw from). The random effects are
        drawn first, then the residuals, then the missing rows, so the same seed gives the same units
        whatever ``missing`` is.
    missing : float
        Fraction of observations, in [0, 1), removed completely at random (MCAR): exactly
        ``round(missing * n_units * len(times))`` rows are dropped from the output. Long data usually
        has no row for a missed wave, so the rows are removed rather than set to NaN.
    unit_col, time_col, response_col : str
        Column names.
    return_effects : bool
        Also return the true per-unit effects.

    Returns
    -------
    pandas.DataFrame
        Columns ``unit_col`` (strings, zero-padded so that they sort in numeric order: ``"001"`` ..
        ``"200"``; strings because a unit identifier is a label, never a number to compute with),
        ``time_col`` (integers when all ``times`` are whole numbers, else floats) and ``response_col``.
        ``df.attrs["lmmflow_truth"]`` holds the generating parameters: ``intercept``, ``slope``,
        ``tau00``, ``tau11``, ``tau01``, ``cor`` (``tau01 / sqrt(tau00 * tau11)``), ``sigma``,
        ``times``, ``n_units``, ``missing``, ``seed`` (the int seed, else None) and ``formula`` (the
        model that recovers them, e.g. ``"y ~ time + (1 + time | id)"``).
    pandas.DataFrame, only with ``return_effects=True``
        One row per unit (index: the unit ids) with columns ``u0``, ``u1`` (the random effects) and
        ``b0``, ``b1`` (the unit's own intercept and slope: fixed plus random).

    Raises
    ------
    lmmflow.DataError
        A bad argument (a ``ValueError``), named in the message.

    Examples
    --------
    >>> import lmmflow as lf
    >>> df = lf.simulate_growth(n_units=3, seed=1)
    >>> df.shape, list(df.columns)
    ((15, 3), ['id', 'time', 'y'])
    >>> df["id"].unique().tolist()
    ['1', '2', '3']
    >>> df.attrs["lmmflow_truth"]["tau00"]
    100.0

    Uneven times (months), a quarter of the observations missing:

    >>> df = lf.simulate_growth(n_units=100, times=[0, 1, 3, 6, 12], missing=0.25, seed=7)
    >>> len(df)
    375
    >>> sorted(df["time"].unique().tolist())
    [0, 1, 3, 6, 12]
    """
    if isinstance(n_units, bool) or not isinstance(n_units, numbers.Integral) or n_units < 1:
        raise DataError(f"n_units must be a positive integer, got {n_units!r}")
    n_units = int(n_units)
    t = np.sort(_check_times(times))
    intercept = _finite_number(intercept, "intercept")
    slope = _finite_number(slope, "slope")
    tau00 = _finite_number(tau00, "tau00")
    tau11 = _finite_number(tau11, "tau11")
    tau01 = _finite_number(tau01, "tau01")
    sigma = _finite_number(sigma, "sigma")
    missing = _finite_number(missing, "missing")
    if tau00 < 0 or tau11 < 0:
        raise DataError(f"tau00 and tau11 are variances and must be >= 0, got tau00={tau00}, tau11={tau11}")
    bound = math.sqrt(tau00 * tau11)
    if abs(tau01) > bound * (1 + 1e-12):
        raise DataError(
            f"the random-effects covariance matrix [[{tau00}, {tau01}], [{tau01}, {tau11}]] is not positive "
            f"semi-definite: |tau01| must be <= sqrt(tau00 * tau11) = {bound:.6g} (a correlation within [-1, 1]); "
            f"tau01={tau01} implies a correlation of "
            + (f"{tau01 / bound:.3g}" if bound > 0 else "+/-infinity")
        )
    if sigma <= 0:
        raise DataError(f"sigma (residual SD) must be > 0, got {sigma}")
    if not 0.0 <= missing < 1.0:
        raise DataError(f"missing is a fraction of rows and must be in [0, 1), got {missing}")
    _check_names(unit_col=unit_col, time_col=time_col, response_col=response_col)
    if seed is not None and not isinstance(seed, np.random.Generator) and (
            isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise DataError(f"seed must be an int, a numpy Generator or None, got {seed!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    # random effects: u0 = sqrt(tau00) z0,  u1 = (tau01 / sqrt(tau00)) z0 + sqrt(tau11 - tau01^2 / tau00) z1
    z = rng.standard_normal((n_units, 2))
    if tau00 > 0:
        a = tau01 / math.sqrt(tau00)
        b = math.sqrt(max(tau11 - a * a, 0.0))
        u0 = math.sqrt(tau00) * z[:, 0]
        u1 = a * z[:, 0] + b * z[:, 1]
    else:  # tau01 is 0 here (PSD)
        u0 = np.zeros(n_units)
        u1 = math.sqrt(tau11) * z[:, 1]
    n_t = t.size
    eps = sigma * rng.standard_normal((n_units, n_t))
    b0 = intercept + u0
    b1 = slope + u1
    y = b0[:, None] + b1[:, None] * t[None, :] + eps

    width = len(str(n_units))
    ids = np.array([str(i + 1).zfill(width) for i in range(n_units)], dtype=object)
    is_int = bool(np.all(t == np.round(t)))
    t_out = t.astype(np.int64) if is_int else t.astype(float)
    df = pd.DataFrame({
        unit_col: np.repeat(ids, n_t),
        time_col: np.tile(t_out, n_units),
        response_col: y.ravel(),
    })
    n_drop = round(missing * len(df))
    if n_drop >= len(df):
        raise DataError(f"missing={missing} would remove every row of the {len(df)} simulated; use a smaller fraction")
    if n_drop:
        drop = rng.choice(len(df), size=n_drop, replace=False)
        keep = np.ones(len(df), dtype=bool)
        keep[drop] = False
        df = df.loc[keep].reset_index(drop=True)
    df.attrs[TRUTH_KEY] = {
        "intercept": intercept, "slope": slope, "tau00": tau00, "tau11": tau11, "tau01": tau01,
        "cor": tau01 / bound if bound > 0 else 0.0, "sigma": sigma,
        "times": [v.item() for v in t_out], "n_units": n_units, "missing": missing,
        "seed": int(seed) if isinstance(seed, numbers.Integral) else None,
        "formula": f"{response_col} ~ {time_col} + (1 + {time_col} | {unit_col})",
    }
    if not return_effects:
        return df
    effects = pd.DataFrame({"u0": u0, "u1": u1, "b0": b0, "b1": b1}, index=pd.Index(ids, name=unit_col))
    return df, effects


# ---- wide to long --------------------------------------------------------------------------------------
def _missing_column_error(col: Any, what: str, columns: pd.Index) -> DataError:
    avail = [str(c) for c in columns]
    near = difflib.get_close_matches(str(col), avail, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in near)}?" if near else ""
    shown = avail if len(avail) <= 12 else [*avail[:12], "..."]
    return DataError(
        f"{what} {col!r} is not a column of the data (columns: {shown}{hint}); check the spelling, "
        "or pass the column names exactly as they appear in the frame"
    )


def wide_to_long(df: Any, id_col: Hashable, wave_cols: Mapping[Hashable, float] | Sequence[Hashable],
                 times: Sequence[float] | None = None, value_name: str = "y", time_name: str = "time",
                 keep: Sequence[Hashable] | None = None, wave_name: str | None = None,
                 dropna: bool = True) -> pd.DataFrame:
    """Reshape wide data (one row per unit, one column per wave) to long data (one row per observation).

    Parameters
    ----------
    df : pandas.DataFrame, polars.DataFrame or dict of columns
        Wide data. Not modified.
    id_col : str
        Unit identifier; must be present and unique in every row (one row per unit).
    wave_cols : mapping or sequence
        Either a mapping from wave column to its numeric time, e.g.
        ``{"score_base": 0, "score_m1": 1, "score_m3": 3, "score_m6": 6}`` (uneven spacing is kept: the
        slope is then change per month), or a sequence of wave columns with the times in ``times``.
    times : sequence of float, optional
        Times of the columns in a sequence ``wave_cols``; default ``0, 1, 2, ...`` in the order given.
        Must not be given with a mapping.
    value_name, time_name : str
        Names of the measurement and time columns of the result.
    keep : sequence of str, optional
        Per-unit columns to carry to every row of the unit (group, age at baseline, ...). Default: all
        columns other than ``id_col`` and the wave columns. ``keep=()`` keeps none.
    wave_name : str, optional
        Also add a column with this name holding the wave column each value came from.
    dropna : bool
        Drop the rows whose value is missing (default). The number dropped is stored in
        ``result.attrs["lmmflow_dropped"]`` (always, 0 included) and, when positive, announced with a
        :class:`UserWarning`, since missed waves are expected in longitudinal data but should be known.

    Returns
    -------
    pandas.DataFrame
        Columns ``id_col``, ``time_name``, ``value_name``, then ``wave_name`` if asked, then the kept
        columns; rows in the order of the units in ``df``, then by time; a fresh 0..n-1 index.

    Raises
    ------
    lmmflow.DataError
        A missing column (named, with the columns that exist), a repeated or missing id, times that
        are not finite numbers or repeat, or an output name that clashes with a kept column.

    Examples
    --------
    >>> import pandas as pd
    >>> import lmmflow as lf
    >>> wide = pd.DataFrame({"id": ["a", "b"], "group": ["tx", "ctl"],
    ...                      "y0": [48.0, 55.0], "y6": [52.0, None], "y12": [56.0, 57.0]})
    >>> long = lf.wide_to_long(wide, "id", {"y0": 0, "y6": 6, "y12": 12})  # warns: 1 missing cell dropped
    >>> long.head(3).to_dict("list")
    {'id': ['a', 'a', 'a'], 'time': [0, 6, 12], 'y': [48.0, 52.0, 56.0], 'group': ['tx', 'tx', 'tx']}
    >>> len(long), long.attrs["lmmflow_dropped"]
    (5, 1)
    """
    frame = as_pandas(df)
    cols = frame.columns
    if id_col not in cols:
        raise _missing_column_error(id_col, "id_col", cols)
    if isinstance(wave_cols, Mapping):
        if times is not None:
            raise DataError("give the times either as the values of a wave_cols mapping or in times=, not both")
        labels = list(wave_cols.keys())
        raw_times: list[Any] = list(wave_cols.values())
    else:
        if isinstance(wave_cols, (str, bytes)) or not isinstance(wave_cols, Sequence):
            raise DataError(
                f"wave_cols must be a mapping {{column: time}} or a list of columns, got {wave_cols!r}"
            )
        labels = list(wave_cols)
        raw_times = list(range(len(labels))) if times is None else list(times)
        if len(raw_times) != len(labels):
            raise DataError(
                f"{len(labels)} wave columns but {len(raw_times)} times; give one time per wave column"
            )
    if not labels:
        raise DataError("wave_cols is empty; name at least one wave column")
    if len(set(labels)) != len(labels):
        raise DataError(f"wave_cols names a column twice: {labels}")
    for col in labels:
        if col not in cols:
            raise _missing_column_error(col, "wave column", cols)
    if id_col in labels:
        raise DataError(f"id_col {id_col!r} is also listed as a wave column")
    for i, v in enumerate(raw_times):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
            raise DataError(
                f"the time of wave column {labels[i]!r} must be a finite number, got {v!r}; map each wave to "
                "its numeric time, e.g. {'y_t1': 0, 'y_t2': 1}"
            )
    t = _check_times(raw_times, "the wave times")

    if keep is None:
        kept = [c for c in cols if c != id_col and c not in set(labels)]
    else:
        if isinstance(keep, (str, bytes)):
            keep = [keep]
        kept = list(keep)
        for col in kept:
            if col not in cols:
                raise _missing_column_error(col, "keep column", cols)
        bad = [c for c in kept if c == id_col or c in set(labels)]
        if bad:
            raise DataError(f"keep must not include the id or wave columns, got {bad}")
    extra = (wave_name,) if wave_name is not None else ()
    for name in (value_name, time_name, *extra):
        if not isinstance(name, str) or not name:
            raise DataError(f"output column names must be non-empty strings, got {name!r}")
    out_names = [id_col, time_name, value_name, *extra]
    if len(set(out_names)) != len(out_names):
        raise DataError(f"the id, time, value and wave column names of the result must differ, got {out_names}")
    clash = [c for c in kept if c in set(out_names)]
    if clash:
        raise DataError(
            f"output column name(s) {clash} clash with kept columns of the data; choose another value_name/"
            "time_name/wave_name, or leave the clashing column out with keep="
        )

    ids = frame[id_col]
    if ids.isna().any():
        rows = np.flatnonzero(ids.isna().to_numpy())[:5].tolist()
        raise DataError(f"id_col {id_col!r} is missing in row(s) {rows}; every row of wide data needs its unit id")
    dup = ids.duplicated(keep=False)
    if dup.any():
        shown = ids[dup].drop_duplicates().head(5).tolist()
        raise DataError(
            f"id_col {id_col!r} is not unique: {shown} appear in more than one row. Wide data has one row per "
            "unit; if the data is already long (one row per observation) it needs no reshaping"
        )

    n, k = len(frame), len(labels)
    order = np.argsort(t, kind="stable")
    labels = [labels[j] for j in order]
    t = t[order]
    row = np.repeat(np.arange(n), k)
    out = pd.DataFrame({id_col: ids.take(row).reset_index(drop=True), time_name: np.tile(t, n)})
    waves = frame[labels]
    values = waves.to_numpy().ravel()  # row-major: unit 1's waves, unit 2's waves, ...
    dtypes = set(waves.dtypes)
    out[value_name] = pd.array(values, dtype=dtypes.pop()) if len(dtypes) == 1 else values
    if wave_name is not None:
        out[wave_name] = np.tile(np.array([str(c) for c in labels], dtype=object), n)
    for col in kept:
        out[col] = frame[col].take(row).reset_index(drop=True)
    missing_mask = pd.isna(out[value_name]).to_numpy()
    n_drop = int(missing_mask.sum()) if dropna else 0
    if n_drop:
        out = out.loc[~missing_mask].reset_index(drop=True)
        warnings.warn(
            f"wide_to_long dropped {n_drop} of {n * k} cells with a missing {value_name!r} (missed waves); "
            f"{len(out)} observations remain. The count is in result.attrs['{DROPPED_KEY}']",
            DroppedRowsWarning, stacklevel=2,
        )
    out.attrs[DROPPED_KEY] = n_drop
    return out


# ---- reading files -------------------------------------------------------------------------------------
def read_data(path: str | os.PathLike[str], **kwargs: Any) -> pd.DataFrame:
    """Read a CSV or Parquet file, or a folder of Parquet files, into a pandas DataFrame.

    The format follows the file name: ``.csv`` (also compressed: ``.csv.gz``, ``.csv.zip``, ...),
    ``.tsv``/``.tab`` (tab-separated), ``.parquet``/``.pq``/``.parq``; a directory is read as one
    Parquet data set (all its ``*.parquet`` files, hive partitions included).

    Parameters
    ----------
    path : str or path-like
        The file or directory.
    **kwargs
        Passed to :func:`pandas.read_csv` or :func:`pandas.read_parquet`.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    lmmflow.DataError
        An extension that is neither CSV nor Parquet, or a directory without Parquet files.
    ImportError
        Parquet without ``pyarrow`` installed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import lmmflow as lf
    >>> tmp = pathlib.Path(tempfile.mkdtemp()) / "growth.csv"
    >>> lf.simulate_growth(n_units=5, seed=1).to_csv(tmp, index=False)
    >>> lf.read_data(tmp).shape
    (25, 3)
    """
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        where = p.parent if str(p.parent) not in ("", ".") else Path.cwd()
        raise FileNotFoundError(
            f"no file or directory at {str(p)!r} (looked in {str(where.resolve())!r}); check the path"
        )
    if p.is_dir():
        files = [f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in _PARQUET_SUFFIXES]
        if not files:
            raise DataError(
                f"directory {str(p)!r} holds no Parquet files (*.parquet); read_data reads a directory only as "
                "a partitioned Parquet data set. For CSV files, read them one by one and concatenate"
            )
        return _read_parquet(p, **kwargs)
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext in _CSV_SUFFIXES:
        if _CSV_SUFFIXES[ext] != "," and "sep" not in kwargs and "delimiter" not in kwargs:
            kwargs["sep"] = _CSV_SUFFIXES[ext]
        try:
            return pd.read_csv(p, **kwargs)
        except pd.errors.EmptyDataError:
            raise DataError(f"{str(p)!r} is empty: it has no header row and no data") from None
        except pd.errors.ParserError as exc:
            detail = " ".join(str(exc).split())
            raise DataError(f"{str(p)!r} could not be read as {ext[1:].upper()}: {detail}") from None
    if ext in _PARQUET_SUFFIXES:
        return _read_parquet(p, **kwargs)
    supported = sorted(_CSV_SUFFIXES) + sorted(_PARQUET_SUFFIXES)
    raise DataError(
        f"cannot tell the format of {p.name!r} from its extension {ext or '(none)'!r}; read_data reads "
        f"{', '.join(supported)} (CSV also compressed, e.g. .csv.gz) and directories of Parquet files. "
        "Rename the file, or read it with pandas and pass the DataFrame"
    )


def _read_parquet(p: Path, **kwargs: Any) -> pd.DataFrame:
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:  # pragma: no cover - pyarrow is in the test environment
        raise ImportError(
            f"reading Parquet ({str(p)!r}) needs pyarrow: pip install 'lmmflow[parquet]'"
        ) from exc
    return pd.read_parquet(p, **kwargs)
