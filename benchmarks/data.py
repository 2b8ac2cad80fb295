"""Loading a problem's data into pandas, and subsampling whole groups."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from .problems import Problem


class MissingDataError(FileNotFoundError):
    """A problem's CSV file is not there; the message says how to make it."""


def data_file(problem: Problem, quick: bool = False) -> Path:
    """The CSV file a problem reads, checked to exist.

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
