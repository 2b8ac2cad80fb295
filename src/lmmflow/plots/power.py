"""The power curve of a simulation study (simr's ``plot(powerCurve)``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import single_axes

__all__ = ["power_curve"]


def power_curve(result: Any, ax: Any = None, target: float = 0.8, color: Any = "C0") -> Any:
    """Power against the number of units (or values) with the binomial intervals and a target line.

    Parameters
    ----------
    result : PowerResult
        From :func:`lmmflow.power`; with ``along=`` for a curve (one design gives one point, at its
        number of units).
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    target : float or None
        Power drawn as a dashed horizontal line (simr's 80%); None for none.
    color : matplotlib colour

    Returns
    -------
    matplotlib.axes.Axes
        With the power line (label ``"power"``, one point per design, the intervals as error bars) and
        the target line (label ``"target"``).

    Examples
    --------
    >>> import lmmflow as lf
    >>> df = lf.simulate_growth(n_units=20, seed=1)[["id", "time"]]
    >>> res = lf.power(formula="y ~ time + (1 | id)", data=df, nsim=20, seed=1, progress=False,
    ...                params={"beta": [0, 0.5], "theta": [1.0], "sigma": 2}, along="n_units", values=[5, 20])
    >>> ax = lf.plots.power_curve(res)
    >>> ax.get_ylabel(), len(ax.lines[0].get_xdata())
    ('power', 2)
    """
    t = result.table
    if result.along is None:
        x = t["n_units"].to_numpy(dtype=float)
        xlabel = "number of units"
    else:
        x = t["value"].to_numpy(dtype=float)
        xlabel = (f"number of levels of {result.along_column}" if result.along_kind == "units"
                  else f"number of values of {result.along_column}")
    p = t["power"].to_numpy(dtype=float)
    err = np.vstack([p - t["lower"].to_numpy(dtype=float), t["upper"].to_numpy(dtype=float) - p])
    ax = single_axes(ax)
    ax.errorbar(x, p, yerr=err, color=color, marker="o", ms=5, lw=1.8, capsize=4, label="power")
    if target is not None:
        ax.axhline(target, color="0.4", ls="--", lw=1.0, label="target")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("power")
    pct = int(round(result.level * 100))
    ax.set_title(f"Power for '{result.test}' ({pct}% CI, {result.nsim} simulations each)")
    if len(x) > 1 and np.all(x == np.round(x)):
        ax.set_xticks(x)
    ax.legend(loc="lower right", frameon=False)
    return ax
