"""Looking at the data before fitting: the spaghetti plot of individual trajectories."""

from __future__ import annotations

from typing import Any

from ..design import as_pandas
from ._common import alpha_for, sample_labels, single_axes, time_ticks

__all__ = ["spaghetti"]


def spaghetti(data: Any, x: str, y: str, unit: str, ax: Any = None, mean: bool = True, sample: int | None = None,
              seed: int | None = None, color: Any = "0.35", mean_color: Any = "C0") -> Any:
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
    mean : bool
        Draw the mean of ``y`` at each distinct value of ``x`` (over all units, not only the sampled
        ones). With irregular measurement times, round ``x`` to waves first so that the means have
        enough points each.
    sample : int, optional
        Draw only this many units, chosen at random (for thousands of units).
    seed : int, optional
        Seed for ``sample``.
    color, mean_color : matplotlib colours
        Of the unit lines (drawn with a transparency that falls with their number) and the mean line.

    Returns
    -------
    matplotlib.axes.Axes
        With one Line2D per unit drawn, then the mean line (labelled ``"mean"``) if ``mean``.

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
    if mean:
        means = df.groupby(x, sort=True)[y].mean()
        ax.plot(means.index.to_numpy(), means.to_numpy(), color=mean_color, lw=2.8, marker="o", ms=5,
                zorder=3, label="mean")
        ax.legend(loc="best", frameon=False)
    shown = f"{len(labels)} of {len(groups)}" if len(labels) < len(groups) else f"N = {len(groups)}"
    ax.set_title(f"Individual trajectories ({shown} {unit})")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    time_ticks(ax, df[x].to_numpy())
    return ax
