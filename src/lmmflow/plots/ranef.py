"""Random effects: caterpillar plots (conditional modes with intervals) and normal Q-Q plots."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..derived import find_term
from ._common import normal_quantile, panel_axes, single_axes
from .residuals import qq_on_axes

if TYPE_CHECKING:
    from ..results import LmerResult

__all__ = ["caterpillar", "caterpillar_panels", "qq_ranef"]

_MAX_TICK_LABELS = 40


def qq_ranef(m: LmerResult, group: str | None = None, axes: Any = None) -> np.ndarray:
    """Normal Q-Q plot of the predicted random effects, one panel per random-effect term.

    The model assumes normal random effects; heavy tails here matter less than in the residuals, and
    with fewer than about 20 units the plot says little. Points far off the line are units worth a look.

    Parameters
    ----------
    m : LmerResult
    group : str, optional
        Grouping factor; default the first (the one with most levels).
    axes : array of matplotlib.axes.Axes, optional
        At least as many Axes as the group has terms; default a new row of panels.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        One per term (``(Intercept)``, ``time``...), titled with the term's name.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> [ax.get_title() for ax in lf.plots.qq_ranef(m)]
    ['(Intercept) | Subject', 'Days | Subject']
    """
    term = find_term(m, group)
    re = m.ranef[term.group]
    out = panel_axes(len(term.cnames), axes, ncols=len(term.cnames), panel_size=(3.6, 3.4))
    for ax, name in zip(out, term.cnames):
        qq_on_axes(ax, re[name].to_numpy())
        ax.set_title(f"{name} | {term.group}")
    out[0].set_ylabel("Predicted random effect (BLUP)")
    return out


def _intervals(m: LmerResult, group: str, name: str, add_fixed: bool) -> tuple[np.ndarray, np.ndarray, float]:
    est = m.ranef[group][name].to_numpy()
    sd = m.ranef_sd[group][name].to_numpy()
    centre = float(m.fixef.get(name, 0.0)) if add_fixed else 0.0
    return est + centre, sd, centre


def _draw_caterpillar(ax: Any, est: np.ndarray, sd: np.ndarray, order: np.ndarray, labels: Any, z: float,
                      centre: float, add_fixed: bool) -> None:
    pos = np.arange(len(order))
    ax.errorbar(est[order], pos, xerr=z * sd[order], fmt="o", ms=3 if len(order) > 60 else 4, color="C0",
                ecolor="0.45", elinewidth=1, capsize=0)
    ax.axvline(centre, color="C3", lw=1, ls="--", label="fixed effect" if add_fixed else "zero")
    ax.set_ylim(-1, len(order))
    if len(order) <= _MAX_TICK_LABELS:
        ax.set_yticks(pos)
        ax.set_yticklabels([str(labels[i]) for i in order], fontsize=8 if len(order) > 20 else 9)
    else:
        ax.set_yticks([])


def _caterpillar_height(n: int) -> float:
    return float(min(max(3.0, 0.14 * n + 1.2), 9.0))


def caterpillar(m: LmerResult, group: str | None = None, term: str | None = None, ax: Any = None,
                level: float = 0.95, sort: bool = True, add_fixed: bool = False) -> Any:
    """Caterpillar plot: each unit's predicted random effect with an interval from its conditional SD.

    Intervals are ``estimate ± z * conditional SD`` (lme4's ``dotplot(ranef(m, condVar = TRUE))``). They
    describe the uncertainty of the prediction given the fitted variance parameters and, with
    ``add_fixed``, they do not include the uncertainty of the fixed effect.

    Parameters
    ----------
    m : LmerResult
    group : str, optional
        Grouping factor; default the first (the one with most levels).
    term : str, optional
        Which random effect (``"(Intercept)"``, ``"time"``); default the group's first.
    ax : matplotlib.axes.Axes, optional
        Default a new figure whose height grows with the number of units.
    level : float
        Coverage of the intervals.
    sort : bool
        Order units by their estimate (smallest at the bottom); else in level order.
    add_fixed : bool
        Show per-unit coefficients (fixed effect + random effect, lme4's ``coef``) around a line at the
        fixed effect, instead of deviations around zero.

    Returns
    -------
    matplotlib.axes.Axes
        The first Line2D holds the points (y = position 0..n-1, x = estimates in plotted order); unit labels
        are the y tick labels when there are at most 40 units.

    See Also
    --------
    caterpillar_panels : All terms side by side, units in one order.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> ax = lf.plots.caterpillar(m, term="Days")
    >>> x = ax.lines[0].get_xdata()
    >>> bool((x[1:] >= x[:-1]).all())
    True
    """
    t = find_term(m, group, column=term)
    name = term or t.cnames[0]
    est, sd, centre = _intervals(m, t.group, name, add_fixed)
    order = np.argsort(est, kind="stable") if sort else np.arange(len(est))
    ax = single_axes(ax, figsize=(5.2, _caterpillar_height(len(est))))
    _draw_caterpillar(ax, est, sd, order, t.levels, normal_quantile(level), centre, add_fixed)
    what = f"{name} (fixed + random)" if add_fixed else f"Random effect: {name}"
    ax.set_xlabel(f"{what}, {round(100 * level)}% interval")
    ax.set_ylabel(f"{t.group} (sorted)" if sort else t.group)
    ax.set_title(f"{name} | {t.group}: {len(est)} units")
    return ax


def caterpillar_panels(m: LmerResult, group: str | None = None, axes: Any = None, level: float = 0.95,
                       sort: bool = True, add_fixed: bool = False) -> np.ndarray:
    """Caterpillar plots of all of a group's random effects side by side, units in one order.

    Units are sorted by the first term (usually the intercept) in every panel, as lme4's ``dotplot``
    does, so a unit sits on the same row across panels.

    Parameters
    ----------
    m : LmerResult
    group : str, optional
    axes : array of matplotlib.axes.Axes, optional
        At least one per term; default a new row of panels sharing the y axis.
    level, sort, add_fixed
        As in :func:`caterpillar`.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        One per term.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> len(lf.plots.caterpillar_panels(m))
    2
    """
    t = find_term(m, group)
    z = normal_quantile(level)
    first, _, _ = _intervals(m, t.group, t.cnames[0], add_fixed)
    order = np.argsort(first, kind="stable") if sort else np.arange(len(first))
    out = panel_axes(len(t.cnames), axes, ncols=len(t.cnames),
                     panel_size=(3.8, _caterpillar_height(len(first))), sharey=True)
    for k, (ax, name) in enumerate(zip(out, t.cnames)):
        est, sd, centre = _intervals(m, t.group, name, add_fixed)
        _draw_caterpillar(ax, est, sd, order, t.levels, z, centre, add_fixed)
        ax.set_title(name)
        ax.set_xlabel(f"{'fixed + random' if add_fixed else 'random effect'}, {round(100 * level)}% interval")
        if k > 0:
            ax.tick_params(labelleft=False)
    out[0].set_ylabel(f"{t.group} (sorted by {t.cnames[0]})" if sort else t.group)
    return out
