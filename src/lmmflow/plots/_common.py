"""Helpers shared by the plot functions: new Axes when none is given, panel grids, small numerics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["alpha_for", "normal_quantile", "panel_axes", "sample_labels", "single_axes", "time_ticks", "unit_colors"]


def single_axes(ax: Any = None, figsize: tuple[float, float] = (6.4, 4.4)) -> Any:
    """``ax`` itself, or the Axes of a new figure (constrained layout) when ``ax`` is None."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new = plt.subplots(figsize=figsize, layout="constrained")
    return new


def panel_axes(n: int, axes: Any = None, ncols: int | None = None, panel_size: tuple[float, float] = (3.4, 3.0),
               sharex: bool = False, sharey: bool = False) -> np.ndarray:
    """A flat array of ``n`` Axes: the first ``n`` of ``axes`` if given, else a new grid (extra panels hidden).

    Raises
    ------
    ValueError
        ``axes`` has fewer than ``n`` Axes.
    """
    if axes is not None:
        flat = np.ravel(np.asarray(axes, dtype=object))
        if flat.size < n:
            raise ValueError(f"this plot needs {n} Axes, got {flat.size}")
        return flat[:n]
    import matplotlib.pyplot as plt

    ncols = ncols or min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
                             layout="constrained", squeeze=False, sharex=sharex, sharey=sharey)
    flat = grid.ravel()
    for extra in flat[n:]:
        extra.set_visible(False)
    return flat[:n]


def alpha_for(n_lines: int) -> float:
    """A line transparency that keeps a few lines solid and hundreds readable."""
    return float(min(0.9, max(0.06, 6.0 / math.sqrt(max(n_lines, 1)) / 3.0)))


def normal_quantile(level: float) -> float:
    """The two-sided normal quantile of a confidence level (1.96 for 0.95)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    return float(stats.norm.ppf(0.5 + level / 2.0))


def unit_colors(n: int) -> list[Any]:
    """Distinct colours for ``n`` units: tab10 / tab20, then evenly spaced viridis."""
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["viridis"](v) for v in np.linspace(0.0, 0.95, n)]


def sample_labels(labels: Sequence[Any], n: int | None, seed: int | None) -> list[Any]:
    """``n`` labels drawn at random without replacement (all, in order, when ``n`` is None or too big)."""
    labels = list(labels)
    if n is None or n >= len(labels):
        return labels
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(labels), size=n, replace=False))
    return [labels[i] for i in picked]


def time_ticks(ax: Any, values: Any, max_ticks: int = 12) -> None:
    """Put x ticks at the distinct observed times when there are few of them (waves 0..4)."""
    vals = np.asarray(values)
    if not np.issubdtype(vals.dtype, np.number):
        return
    uniq = np.unique(vals[np.isfinite(vals)])
    if 0 < uniq.size <= max_ticks:
        ax.set_xticks(uniq)
