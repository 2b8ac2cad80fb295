"""Model-implied trajectories of individual units: observed points and each unit's fitted line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..derived import find_term
from ._common import panel_axes, sample_labels, single_axes, time_ticks, unit_colors

if TYPE_CHECKING:
    from ..design import ReTerm
    from ..results import LmerResult

__all__ = ["trajectories", "trajectory_panels"]


def time_column(m: LmerResult, t: ReTerm, x: str | None) -> str:
    """The column to put on the x axis: ``x``, else the first random slope (or fixed effect) that is a column."""
    cols = m.data.columns
    if x is not None:
        if x not in cols:
            raise ValueError(f"{x!r} is not a column of the model frame; columns are {list(cols)}")
        return x
    for name in [*t.cnames, *m.fixef_names]:
        if name in cols and name not in t.group_cols and pd.api.types.is_numeric_dtype(m.data[name]):
            return name
    raise ValueError("cannot tell which column is time; pass x='time'")


def _as_label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _pick_units(t: ReTerm, units: Any, n: int, seed: int | None) -> list[int]:
    """Codes of the units to draw: the given labels, else ``n`` at random."""
    if units is None:
        return sample_labels(range(t.nlevels), n, seed)
    if isinstance(units, str) or np.isscalar(units):
        units = [units]
    wanted = [_as_label(u) for u in units]
    codes = pd.Index(t.levels).get_indexer(wanted)
    unknown = [w for w, c in zip(wanted, codes) if c < 0]
    if unknown:
        raise ValueError(f"unit(s) {unknown} not among the levels of {t.group!r} (e.g. {list(t.levels[:5])})")
    return [int(c) for c in codes]


def _unit_rows(m: LmerResult, t: ReTerm, x: str, codes: list[int]) -> tuple[list[dict[str, np.ndarray]], Any]:
    xs = m.data[x].to_numpy(dtype=float)
    y = m.design.y
    fitted = m.fitted.to_numpy()
    pop = m.predict(re_form="~0").to_numpy()
    parts = []
    for c in codes:
        rows = np.flatnonzero(t.codes == c)
        rows = rows[np.argsort(xs[rows], kind="stable")]
        parts.append({"x": xs[rows], "y": y[rows], "fitted": fitted[rows], "pop": pop[rows]})
    allx = np.concatenate([p["x"] for p in parts]) if parts else np.empty(0)
    allpop = np.concatenate([p["pop"] for p in parts]) if parts else np.empty(0)
    population = pd.Series(allpop).groupby(allx).mean()
    return parts, population


def trajectories(m: LmerResult, units: Any = None, n: int = 9, seed: int | None = None, ax: Any = None,
                 x: str | None = None, group: str | None = None, population: bool = True) -> Any:
    """Model-implied trajectories of a few units on one Axes, one colour per unit.

    Each unit gets its observed points and a line through its fitted values (fixed effects + its
    BLUPs) at its observed times; the population (fixed-effects) trajectory is dashed. One Axes keeps
    the units comparable on one scale and suits up to a few dozen units; for a closer look at each unit
    use :func:`trajectory_panels` (small multiples).

    Parameters
    ----------
    m : LmerResult
    units : label or list of labels, optional
        Which units (as in the data: ``[3, 17]`` or ``["308"]``); default ``n`` chosen at random.
    n : int
        Number of units to sample when ``units`` is None.
    seed : int, optional
        Seed of the sample.
    ax : matplotlib.axes.Axes, optional
    x : str, optional
        The time column; default the group's first random slope that is a data column.
    group : str, optional
        Grouping factor; default the first (the one with most levels).
    population : bool
        Draw the fixed-effects trajectory (mean of the population predictions at each observed time).

    Returns
    -------
    matplotlib.axes.Axes
        Per unit one scatter collection (its observations) and one Line2D (its fitted values), in the
        order drawn; then the population line (labelled ``"population (fixed effects)"``).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> ax = lf.plots.trajectories(m, n=4, seed=1)
    >>> len(ax.lines), sum(len(c.get_offsets()) for c in ax.collections)
    (5, 40)
    """
    t = find_term(m, group)
    xcol = time_column(m, t, x)
    codes = _pick_units(t, units, n, seed)
    parts, pop = _unit_rows(m, t, xcol, codes)
    ax = single_axes(ax, figsize=(6.8, 4.6))
    for c, part, colour in zip(codes, parts, unit_colors(len(codes))):
        ax.scatter(part["x"], part["y"], s=18, color=colour, alpha=0.75, edgecolors="none")
        ax.plot(part["x"], part["fitted"], color=colour, lw=1.6, label=str(t.levels[c]))
    if population and len(pop):
        ax.plot(pop.index.to_numpy(), pop.to_numpy(), color="k", lw=2.4, ls="--",
                label="population (fixed effects)", zorder=4)
    if len(codes) <= 12:
        ax.legend(title=t.group, fontsize=7, title_fontsize=8, frameon=False, loc="center left",
                  bbox_to_anchor=(1.0, 0.5))
    time_ticks(ax, np.concatenate([p["x"] for p in parts]))
    ax.set_xlabel(xcol)
    ax.set_ylabel(m.design.formula.response)
    ax.set_title(f"Model-implied trajectories: {len(codes)} of {t.nlevels} {t.group}\n"
                 "(points: observed; lines: fitted)", fontsize=10)
    return ax


def trajectory_panels(m: LmerResult, units: Any = None, n: int = 9, seed: int | None = None, axes: Any = None,
                      x: str | None = None, group: str | None = None, ncols: int = 3) -> np.ndarray:
    """Small multiples: one panel per unit with its observations, fitted line and the population line.

    Parameters
    ----------
    m : LmerResult
    units, n, seed, x, group
        As in :func:`trajectories`.
    axes : array of matplotlib.axes.Axes, optional
        At least one per unit; default a new grid with shared axes.
    ncols : int
        Columns of the new grid.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        One per unit, titled with its label; each has a scatter collection and two lines (the unit's
        fitted values, then the dashed population line).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> [ax.get_title() for ax in lf.plots.trajectory_panels(m, units=[308, 309])]
    ['Subject 308', 'Subject 309']
    """
    t = find_term(m, group)
    xcol = time_column(m, t, x)
    codes = _pick_units(t, units, n, seed)
    parts, _ = _unit_rows(m, t, xcol, codes)
    out = panel_axes(len(codes), axes, ncols=min(ncols, len(codes)), panel_size=(2.8, 2.4), sharex=True,
                     sharey=True)
    for ax, c, part in zip(out, codes, parts):
        ax.scatter(part["x"], part["y"], s=14, color="0.3", alpha=0.8, edgecolors="none")
        ax.plot(part["x"], part["fitted"], color="C0", lw=1.8, label="unit (fixed + BLUP)")
        ax.plot(part["x"], part["pop"], color="C3", lw=1.2, ls="--", label="population")
        ax.set_title(f"{t.group} {t.levels[c]}", fontsize=9)
    ncol = min(ncols, len(codes))
    for k, ax in enumerate(out):
        if k % ncol == 0:
            ax.set_ylabel(m.design.formula.response)
        if k >= len(out) - ncol:
            ax.set_xlabel(xcol)
    time_ticks(out[0], np.concatenate([p["x"] for p in parts]))
    out[0].legend(fontsize=7, frameon=False, loc="best")
    return out
