"""Likelihood profiles: the signed square root of the deviance change (zeta) against each parameter."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._common import normal_quantile, panel_axes

__all__ = ["profile_zeta", "zeta_crossings"]


def _zeta_frame(prof: Any) -> pd.DataFrame:
    frame = prof.zeta_frame() if hasattr(prof, "zeta_frame") else prof
    if not isinstance(frame, pd.DataFrame):
        raise TypeError("profile_zeta takes the result of lf.profile(m) or a DataFrame with columns "
                        f"parameter, value, zeta; got {type(prof).__name__}")
    missing = {"parameter", "value", "zeta"} - set(frame.columns)
    if missing:
        raise ValueError(f"the zeta frame lacks column(s) {sorted(missing)}")
    return frame


def zeta_crossings(value: np.ndarray, zeta: np.ndarray, z: float) -> tuple[float, float]:
    """Where a profile's zeta crosses -z and +z (linear interpolation): the profile interval's ends.

    Returns NaN for an end the profile does not reach (it stopped at a boundary, e.g. a variance at 0).

    Examples
    --------
    >>> zeta_crossings(np.array([-2.0, 0.0, 2.0]), np.array([-2.0, 0.0, 2.0]), 1.0)
    (-1.0, 1.0)
    """
    order = np.argsort(value)
    v, s = np.asarray(value, dtype=float)[order], np.asarray(zeta, dtype=float)[order]
    ok = np.isfinite(v) & np.isfinite(s)
    v, s = v[ok], s[ok]
    ends = []
    for target in (-z, z):
        hit = np.flatnonzero(np.diff(np.sign(s - target)) != 0)
        if hit.size == 0:
            ends.append(float("nan"))
            continue
        i = hit[0] if target < 0 else hit[-1]
        s0, s1 = s[i], s[i + 1]
        ends.append(float(v[i] + (target - s0) * (v[i + 1] - v[i]) / (s1 - s0)) if s1 != s0 else float(v[i]))
    return ends[0], ends[1]


def profile_zeta(prof: Any, axes: Any = None, level: float = 0.95, ncols: int = 3) -> np.ndarray:
    """Profile zeta plots, one panel per parameter (lme4's ``xyplot`` of a profile).

    zeta is the signed square root of the change in deviance as the parameter moves from its estimate
    (the others re-optimized). A straight line means a quadratic log-likelihood, where Wald intervals are
    fine; curvature, as is usual for variance parameters, means the profile interval is asymmetric. The
    interval at ``level`` is where zeta crosses the dashed lines at ±z (±1.96 at 95%), marked by the
    dotted vertical lines.

    Parameters
    ----------
    prof : profile result or pandas.DataFrame
        The result of ``lf.profile(m)`` (anything with ``.zeta_frame()``) or its zeta frame: columns
        ``parameter``, ``value``, ``zeta``.
    axes : array of matplotlib.axes.Axes, optional
        At least one per parameter; default a new grid.
    level : float
        Where to draw the reference lines (z = 1.96 for 0.95).
    ncols : int
        Columns of the new grid.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        One per parameter in the frame's order, titled with its name; the first Line2D of each is the
        profile (sorted by value).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> v = np.linspace(-1, 1, 11)
    >>> frame = pd.DataFrame({"parameter": ["a"] * 11 + ["b"] * 11, "value": np.r_[v, v + 5],
    ...                       "zeta": np.r_[3 * v, 2 * v]})
    >>> [ax.get_title() for ax in profile_zeta(frame)]
    ['a', 'b']
    """
    frame = _zeta_frame(prof)
    z = normal_quantile(level)
    params = list(pd.unique(frame["parameter"]))
    out = panel_axes(len(params), axes, ncols=min(ncols, len(params)), panel_size=(3.2, 2.8))
    for k, (ax, name) in enumerate(zip(out, params)):
        part = frame[frame["parameter"] == name].sort_values("value")
        v, s = part["value"].to_numpy(dtype=float), part["zeta"].to_numpy(dtype=float)
        ax.plot(v, s, color="C0", lw=1.6, marker="o", ms=2.5)
        for h in (-z, z):
            ax.axhline(h, color="C3", lw=0.9, ls="--")
        ax.axhline(0.0, color="0.6", lw=0.7)
        for end in zeta_crossings(v, s, z):
            if np.isfinite(end):
                ax.axvline(end, color="0.4", lw=0.8, ls=":")
        ax.set_title(str(name), fontsize=9)
        if k % min(ncols, len(params)) == 0:
            ax.set_ylabel("ζ")
    return out
