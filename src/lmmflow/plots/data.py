"""Looking at the data before fitting: the spaghetti plot of individual trajectories."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..design import as_pandas
from ._common import alpha_for, sample_labels, single_axes, time_ticks

__all__ = ["local_linear", "spaghetti"]

#: More distinct times than this (or fewer than 3 observations per time on average) and ``mean="auto"``
#: smooths instead of joining the means at each time.
MAX_WAVES = 15


def local_linear(x: Any, y: Any, grid: Any = None, frac: float = 0.3, n_grid: int = 100) -> tuple[np.ndarray,
                                                                                                   np.ndarray]:
    """A local-linear smoother (LOWESS without the robustness steps): the mean of ``y`` as a smooth curve in ``x``.

    At each grid point a straight line is fitted by weighted least squares to the ``frac`` share of the
    observations nearest to it, with tricube weights that fall from 1 to 0 across that window.

    Parameters
    ----------
    x, y : array-like
        Observations (missing values are dropped).
    grid : array-like, optional
        Where to evaluate the curve; default ``n_grid`` points spanning the range of ``x``.
    frac : float
        Share of the observations in each local window, in (0, 1]; larger is smoother.
    n_grid : int

    Returns
    -------
    (ndarray, ndarray)
        The grid and the smoothed mean at each grid point.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0, 10, 200)
    >>> gx, gy = local_linear(x, 3 + 2 * x, n_grid=5)
    >>> np.round(gy, 6).tolist()  # a straight line is reproduced exactly
    [3.0, 8.0, 13.0, 18.0, 23.0]
    """
    if not 0 < frac <= 1:
        raise ValueError(f"frac must be in (0, 1], got {frac!r}")
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    if xs.size < 2:
        raise ValueError("local_linear needs at least two observations")
    g = np.linspace(xs.min(), xs.max(), n_grid) if grid is None else np.asarray(grid, dtype=float)
    k = min(xs.size, max(3, int(np.ceil(frac * xs.size))))
    out = np.empty(g.size)
    for i, g0 in enumerate(g):
        d = np.abs(xs - g0)
        h = np.partition(d, k - 1)[k - 1]
        h = h if h > 0 else (d[d > 0].min() if np.any(d > 0) else 1.0)
        w = np.clip(1 - (d / (h * 1.000001)) ** 3, 0, None) ** 3
        sw = w.sum()
        mx = (w * xs).sum() / sw
        my = (w * ys).sum() / sw
        sxx = (w * (xs - mx) ** 2).sum()
        slope = (w * (xs - mx) * (ys - my)).sum() / sxx if sxx > 1e-12 * max(sw, 1.0) else 0.0
        out[i] = my + slope * (g0 - mx)
    return g, out


def spaghetti(data: Any, x: str, y: str, unit: str, ax: Any = None, mean: bool | str = True,
              sample: int | None = None, seed: int | None = None, color: Any = "0.35", mean_color: Any = "C0",
              frac: float = 0.3) -> Any:
    """One line per unit through its observations, with the mean trajectory in bold.

    Look for the general trend, the spread at the start (intercept variance), lines fanning out or
    converging (slope variance), curvature and outlying units.

    Parameters
    ----------
    data : pandas.DataFrame, polars.DataFrame or dict
        Long-format data, one row per observation.
    x, y, unit : str
        Columns for time, the response and the unit identifier.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    mean : bool or {"auto", "points", "smooth"}
        The mean trajectory, over all units (not only the sampled ones). ``"points"`` joins the means of
        ``y`` at each distinct value of ``x`` (shared waves); ``"smooth"`` draws a local-linear smoother
        (:func:`local_linear`), right for unit-specific times, where joining the means point to point
        would zig-zag through single observations; ``True`` or ``"auto"`` chooses ``"points"`` for at most
        15 distinct times with 3 or more observations each on average, else ``"smooth"``; ``False`` none.
    sample : int, optional
        Draw only this many units, chosen at random (for thousands of units).
    seed : int, optional
        Seed for ``sample``.
    color, mean_color : matplotlib colours
        Of the unit lines (drawn with a transparency that falls with their number) and the mean line.
    frac : float
        Window of the smoother (share of the observations), with ``mean="smooth"``.

    Returns
    -------
    matplotlib.axes.Axes
        With one Line2D per unit drawn, then the mean line if ``mean`` (labelled ``"mean"`` when it joins
        the means at each time, ``"mean (smoothed)"`` when smoothed).

    Examples
    --------
    >>> import lmmflow as lf
    >>> df = lf.load_dataset("sleepstudy")
    >>> ax = lf.plots.spaghetti(df, x="Days", y="Reaction", unit="Subject")
    >>> len(ax.lines)  # 18 subjects + the mean
    19
    """
    df = as_pandas(data)
    missing = [c for c in (x, y, unit) if c not in df.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not in the data; columns are {list(df.columns)}")
    df = df[[unit, x, y]].dropna()
    groups = dict(tuple(df.groupby(unit, sort=True, observed=True)))
    labels = sample_labels(list(groups), sample, seed)
    ax = single_axes(ax)
    alpha = alpha_for(len(labels))
    for label in labels:
        g = groups[label].sort_values(x)
        ax.plot(g[x].to_numpy(), g[y].to_numpy(), color=color, alpha=alpha, lw=1.0)
    if mean not in (True, False, "auto", "points", "smooth"):
        raise ValueError(f"mean must be True, False, 'auto', 'points' or 'smooth', got {mean!r}")
    if mean is True or mean == "auto":
        n_x = df[x].nunique()
        mean = "points" if n_x <= MAX_WAVES and len(df) >= 3 * n_x else "smooth"
    if mean == "points":
        means = df.groupby(x, sort=True)[y].mean()
        ax.plot(means.index.to_numpy(), means.to_numpy(), color=mean_color, lw=2.8, marker="o", ms=5,
                zorder=3, label="mean")
        ax.legend(loc="best", frameon=False)
    elif mean == "smooth":
        gx, gy = local_linear(df[x].to_numpy(dtype=float), df[y].to_numpy(dtype=float), frac=frac)
        ax.plot(gx, gy, color=mean_color, lw=2.8, zorder=3, label="mean (smoothed)")
        ax.legend(loc="best", frameon=False)
    shown = f"{len(labels)} of {len(groups)}" if len(labels) < len(groups) else f"N = {len(groups)}"
    ax.set_title(f"Individual trajectories ({shown} {unit})")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    time_ticks(ax, df[x].to_numpy())
    return ax
