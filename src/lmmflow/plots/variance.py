"""How the variance of y and the ICC change over time in a random-slope model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..derived import variance_partition
from ._common import single_axes, time_ticks

if TYPE_CHECKING:
    from ..results import LmerResult

__all__ = ["icc_over_time", "variance_over_time"]


def variance_over_time(m: LmerResult, times: Any = None, ax: Any = None, term: str | None = None,
                       group: str | None = None) -> Any:
    """Var(y_t) = τ00 + 2tτ01 + t²τ11 + σ², stacked into the between-unit and the residual part.

    With a random slope, how much units differ depends on when you look: the between-unit part is a
    parabola in t, smallest at t = -τ01/τ11, and grows as trajectories fan out. Its minimum moves with the
    coding of time, which is why centring time changes the intercept variance and covariance but not
    this curve.

    Parameters
    ----------
    m : LmerResult
        A model with a random intercept and one random slope, ``(1 + time | id)``.
    times : array-like, optional
        Values of the slope variable; default its observed range.
    ax : matplotlib.axes.Axes, optional
    term, group : str, optional
        The slope's column and grouping factor (see :func:`lmmflow.derived.variance_partition`).

    Returns
    -------
    matplotlib.axes.Axes
        Two filled areas (PolyCollections: between-unit, then residual on top) and the total as a Line2D.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> ax = lf.plots.variance_over_time(m)
    >>> [c.get_label() for c in ax.collections]
    ['between units', 'residual (σ²)']
    """
    vp = variance_partition(m, times, term=term, group=group)
    name = vp.attrs["term"]
    t = vp["time"].to_numpy()
    ax = single_axes(ax)
    between, total = vp["between"].to_numpy(), vp["total"].to_numpy()
    ax.fill_between(t, 0.0, between, color="C0", alpha=0.55, lw=0, label="between units")
    ax.fill_between(t, between, total, color="C1", alpha=0.45, lw=0, label="residual (σ²)")
    ax.plot(t, total, color="0.2", lw=1.5, label="total Var(y)")
    if name in m.data.columns:
        time_ticks(ax, m.data[name].to_numpy())
    ax.set_ylim(0.0, 1.3 * float(np.max(total)))  # room for the legend above the stack
    ax.set_xlabel(name)
    ax.set_ylabel(f"Variance of {m.design.formula.response}")
    ax.set_title(r"Variance over time: $\tau_{00} + 2t\,\tau_{01} + t^2\tau_{11} + \sigma^2$", fontsize=10)
    ax.legend(loc="upper center", ncol=3, frameon=False, fontsize=8)
    return ax


def icc_over_time(m: LmerResult, times: Any = None, ax: Any = None, term: str | None = None,
                  group: str | None = None) -> Any:
    """ICC(t): the share of Var(y_t) that lies between units, as a curve over time.

    The ICC of a random-intercept model is one number; with a random slope it is
    (τ00 + 2tτ01 + t²τ11) / (τ00 + 2tτ01 + t²τ11 + σ²), and also the correlation of two observations of
    the same unit at the same time t.

    Parameters
    ----------
    m : LmerResult
        A model with a random intercept and one random slope.
    times, ax, term, group
        As in :func:`variance_over_time`.

    Returns
    -------
    matplotlib.axes.Axes
        The ICC curve as the first Line2D (y in [0, 1]), with points at the observed times when there
        are at most 30 of them.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> ax = lf.plots.icc_over_time(m)
    >>> [float(v) for v in ax.get_ylim()]
    [0.0, 1.0]
    """
    vp = variance_partition(m, times, term=term, group=group)
    name = vp.attrs["term"]
    ax = single_axes(ax, figsize=(5.6, 4.0))
    ax.plot(vp["time"], vp["icc"], color="C0", lw=2, label="ICC(t)")
    obs = np.unique(m.data[name].to_numpy(dtype=float)) if name in m.data.columns else np.empty(0)
    if 0 < obs.size <= 30 and times is None:
        at = variance_partition(m, obs, term=name, group=vp.attrs["group"])
        ax.scatter(at["time"], at["icc"], color="C0", s=22, zorder=3, label="observed times")
        time_ticks(ax, obs)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel(name)
    ax.set_ylabel("ICC (between-unit share of variance)")
    ax.set_title("Intraclass correlation over time")
    return ax
