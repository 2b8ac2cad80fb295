"""Loading a problem's data into pandas, subsampling whole groups, and the data sets written on first use."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from .problems import Problem


class MissingDataError(FileNotFoundError):
    """A problem's CSV file is not there; the message says how to make it."""


def make_waves(n_units: int, waves: int = 5, reps: int = 2, rho: float = 0.6, sd: float = 2.0,
               seed: int = 1) -> pd.DataFrame:
    """Growth-shaped data with an AR(1) random effect per unit and wave (the ``ar1_growth``/``cs_growth`` data).

    ``n_units`` units x ``waves`` waves x ``reps`` measurements; ``y = 10 + 0.5 time + b[unit, wave] + e`` with
    ``b[unit, ]`` ~ AR(1) across the waves (SD ``sd``, correlation ``rho``) and ``e`` ~ N(0, 1.5^2).

    Parameters
    ----------
    n_units, waves, reps : int
    rho, sd : float
    seed : int
        Seed of ``numpy.random.default_rng`` (the data are deterministic).

    Returns
    -------
    pandas.DataFrame
        Columns ``id`` (``u00000``...), ``wave`` (``w1``...), ``time`` (0, 1, ...), ``y``.
    """
    rng = np.random.default_rng(seed)
    i = np.arange(waves)
    cov = sd * sd * rho ** np.abs(i[:, None] - i[None, :])
    b = rng.standard_normal((n_units, waves)) @ np.linalg.cholesky(cov).T
    unit = np.repeat(np.arange(n_units), waves * reps)
    wave = np.tile(np.repeat(i, reps), n_units)
    y = 10 + 0.5 * wave + b[unit, wave] + rng.normal(0, 1.5, len(unit))
    return pd.DataFrame({"id": [f"u{u:05d}" for u in unit], "wave": [f"w{w + 1}" for w in wave],
                         "time": wave.astype(float), "y": np.round(y, 4)})


def make_ratings(scale: float = 1.0) -> pd.DataFrame:
    """The ratings data of ``shared/bench/make_data.py`` (the same draws, so the same rows as its ``ratings.csv``).

    Users crossed with items (skewed item popularity), a ``days`` covariate, user and item random intercepts
    and a user random slope on ``days``; at scale 1: 40,000 users x 4,000 items, 1,000,000 rows.

    Parameters
    ----------
    scale : float
        Share of the full size (``0.1``: 4,000 users x 400 items, 100,000 rows).

    Returns
    -------
    pandas.DataFrame
        Columns ``user``, ``item`` (integers), ``days``, ``rating``, rounded as in the CSV file.
    """
    rng = np.random.default_rng(11212026)
    nu, ni, nr = int(40_000 * scale), int(4_000 * scale), int(1_000_000 * scale)
    user = rng.integers(0, nu, size=nr)
    item = np.minimum((rng.pareto(1.2, size=nr) * ni / 20).astype(int), ni - 1)
    days = rng.uniform(0, 30, size=nr)
    bu, bi, su = rng.normal(0, 0.8, nu), rng.normal(0, 0.5, ni), rng.normal(0, 0.05, nu)
    rating = 3.5 + 0.01 * days + bu[user] + bi[item] + su[user] * days + rng.normal(0, 1, nr)
    return pd.DataFrame({"user": user, "item": item, "days": np.round(days, 3), "rating": np.round(rating, 4)})


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` atomically (a temporary file renamed), creating the folder.

    Parameters
    ----------
    frame : pandas.DataFrame
    path : pathlib.Path

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path


def write_waves(path: Path) -> Path:
    """Write the waves data to ``path``; the number of units is read from its name (``waves_4000.csv``)."""
    return write_csv(make_waves(int(path.stem.rsplit("_", 1)[1])), path)


MAKERS: dict[str, Callable[[Path], Path]] = {"write_waves": write_waves}
"""Functions that write a missing data file, by :attr:`benchmarks.problems.DataSet.maker` name."""


def data_file(problem: Problem, quick: bool = False) -> Path:
    """The CSV file a problem reads, checked to exist (written first where the data set has a maker).

    Parameters
    ----------
    problem : Problem
    quick : bool
        Use the small stand-in where the data set has one.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    MissingDataError
        If the file does not exist.
    """
    path = problem.dataset.file(quick)
    if not path.is_file() and problem.dataset.maker:
        MAKERS[problem.dataset.maker](path)
    if not path.is_file():
        raise MissingDataError(f"{path} not found; make it with: {problem.dataset.origin}")
    return path


def load_frame(problem: Problem, quick: bool = False) -> tuple[pd.DataFrame, float]:
    """Read a problem's CSV file; its categorical columns become ``category`` dtype.

    Parameters
    ----------
    problem : Problem
    quick : bool
        Use the small stand-in where there is one.

    Returns
    -------
    frame : pandas.DataFrame
    seconds : float
        Wall time of reading and converting.
    """
    path = data_file(problem, quick)
    start = time.perf_counter()
    frame = pd.read_csv(path)
    for col in problem.categorical:
        frame[col] = frame[col].astype("category")
    return frame, time.perf_counter() - start


def frame_bytes(frame: pd.DataFrame) -> int:
    """In-memory size of a data frame (``memory_usage(deep=True)``, index included).

    Parameters
    ----------
    frame : pandas.DataFrame

    Returns
    -------
    int
        Bytes.
    """
    return int(frame.memory_usage(index=True, deep=True).sum())


def subsample_groups(frame: pd.DataFrame, group: str, fraction: float, seed: int = 1) -> pd.DataFrame:
    """Keep a random share of the levels of ``group``, with all of their rows.

    Subsampling groups rather than rows keeps the design of the model (group sizes, balance) the same.

    Parameters
    ----------
    frame : pandas.DataFrame
    group : str
        The grouping column.
    fraction : float
        Share of levels to keep, in (0, 1].
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    pandas.DataFrame
        The kept rows, unused categories removed, a fresh index.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return frame
    levels = pd.unique(frame[group])
    rng = np.random.default_rng(seed)
    keep = rng.choice(levels, size=max(1, round(fraction * len(levels))), replace=False)
    out = frame[frame[group].isin(keep)].reset_index(drop=True)
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].cat.remove_unused_categories()
    return out
