"""Binned residual plots for binary and count outcomes (performance::binned_residuals, Gelman & Hill 2007).

Raw residuals of a binary outcome are two bands of points that say nothing; averaged over bins of the fitted
values they show whether the model's probabilities are right on average. About 95% of the bin means should lie
within their ±1.96 SE band.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._common import single_axes

__all__ = ["binned_residuals", "binned_residuals_frame"]


def _fitted_and_response(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    if y is None:
        if not hasattr(x, "family_object") or not hasattr(x, "fitted"):
            raise ValueError("binned_residuals needs a fitted GLMM (lf.glmer) or arrays: binned_residuals_frame("
                             "fitted, y) with the fitted means and the 0/1 (or count) response")
        fitted = np.asarray(x.fitted, dtype=float)
        fitted = fitted[np.isfinite(fitted)]
        y = np.asarray(x.y, dtype=float)
    else:
        fitted = np.asarray(x, dtype=float).ravel()
        y = np.asarray(y, dtype=float).ravel()
    if fitted.shape != y.shape:
        raise ValueError(f"fitted ({fitted.size} values) and y ({y.size} values) differ in length")
    ok = np.isfinite(fitted) & np.isfinite(y)
    return fitted[ok], y[ok]


def binned_residuals_frame(x: Any, y: Any = None, n_bins: int | None = None, level: float = 0.95) -> pd.DataFrame:
    """Mean response residual in bins of the fitted values, as performance::binned_residuals.

    The fitted values are cut into ``n_bins`` bins of (nearly) equal counts at their quantiles (R's
    ``cut(pred, breaks)``, intervals closed on the right, tied breaks merged); bins with fewer than two
    observations are dropped, as performance drops them.

    Parameters
    ----------
    x : GlmerResult or array-like
        A fitted GLMM (its fitted means and response are used), or the fitted means themselves.
    y : array-like, optional
        The response on the fitted values' scale (0/1 or proportions for binomial, counts for Poisson) when
        ``x`` is an array.
    n_bins : int, optional
        Default ``round(sqrt(n))``.
    level : float
        Coverage of the band (0.95: ±1.96 SE).

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``xbar`` (mean fitted value), ``ybar`` (mean residual y - fitted), ``n``, ``x_lo``,
        ``x_hi`` (range of the fitted values), ``se`` (the band's half-width, z * SD / sqrt(n), performance's
        ``se`` column), ``ci_low``, ``ci_high`` (ybar ± the half-width) and ``inside`` (``|ybar| <= se``,
        performance's ``group == "yes"``).

    Notes
    -----
    performance 0.10 subtracts the response's minimum from it before taking residuals (its
    ``.recode_to_zero``); lmmflow uses the response as fitted, which is the same for 0/1 outcomes and for counts
    that include a zero.

    Examples
    --------
    >>> import numpy as np
    >>> fitted = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    >>> y = np.array([0, 0, 1, 1, 1, 1, 0, 1])
    >>> b = binned_residuals_frame(fitted, y, n_bins=2)
    >>> b[["xbar", "ybar", "n"]].round(3).values.tolist()
    [[0.25, 0.25, 4.0], [0.75, 0.0, 4.0]]
    """
    fitted, resp = _fitted_and_response(x, y)
    n = fitted.size
    if n < 2:
        raise ValueError(f"binned residuals need at least 2 observations, got {n}")
    if n_bins is None:
        n_bins = int(np.round(np.sqrt(n)))
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive whole number, got {n_bins!r}")
    n_bins = int(n_bins)
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    z = float(stats.norm.ppf(0.5 + level / 2))
    resid = resp - fitted
    idx = np.floor(n * np.arange(1, n_bins) / n_bins).astype(int)  # R's 1-based positions in sort(pred)
    idx = idx[idx >= 1]
    breaks = np.unique(np.concatenate([[-np.inf], np.sort(fitted)[idx - 1], [np.inf]]))
    code = np.searchsorted(breaks, fitted, side="left")  # bin k holds breaks[k-1] < x <= breaks[k]
    rows = []
    for k in range(1, len(breaks)):
        sel = code == k
        m = int(sel.sum())
        if m < 2:  # performance's complete.cases drops empty bins and single-observation bins (sd is NA)
            continue
        xs, rs = fitted[sel], resid[sel]
        half = z * float(np.std(rs, ddof=1)) / np.sqrt(m)
        ybar = float(rs.mean())
        rows.append({"xbar": float(xs.mean()), "ybar": ybar, "n": m, "x_lo": float(xs.min()),
                     "x_hi": float(xs.max()), "se": half, "ci_low": ybar - half, "ci_high": ybar + half,
                     "inside": bool(abs(ybar) <= abs(half))})
    cols = ["xbar", "ybar", "n", "x_lo", "x_hi", "se", "ci_low", "ci_high", "inside"]
    return pd.DataFrame(rows, columns=cols)


def binned_residuals(x: Any, y: Any = None, n_bins: int | None = None, level: float = 0.95, ax: Any = None) -> Any:
    """Binned residual plot: mean residual per bin of fitted values with its ±z·SE band.

    Bins whose mean lies outside the band are drawn in red. For a well-calibrated binary or count model
    about ``level`` of the bins lie inside; a run of bins outside at one end says the model misses a
    non-linearity or an interaction there.

    Parameters
    ----------
    x : GlmerResult or array-like
        A fitted GLMM, or its fitted means (then give ``y``).
    y : array-like, optional
        The response when ``x`` is an array.
    n_bins : int, optional
        Default ``round(sqrt(n))`` (see :func:`binned_residuals_frame`).
    level : float
        Coverage of the band.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Two Line2D for the band's upper and lower edges, a Line2D at zero and one scatter collection of the
        bin means; the title gives the share of bins inside the band.

    Examples
    --------
    >>> import numpy as np
    >>> import lmmflow as lf
    >>> rng = np.random.default_rng(1)
    >>> p = rng.uniform(0.05, 0.95, 400)
    >>> ax = lf.plots.binned_residuals(p, rng.binomial(1, p))
    >>> ax.get_xlabel()
    'Estimated probability (fitted value)'
    """
    frame = binned_residuals_frame(x, y, n_bins=n_bins, level=level)
    ax = single_axes(ax)
    xb = frame["xbar"].to_numpy()
    ax.plot(xb, frame["se"].to_numpy(), color="0.45", lw=1.0)
    ax.plot(xb, -frame["se"].to_numpy(), color="0.45", lw=1.0)
    ax.axhline(0.0, color="0.2", lw=0.8, ls="--")
    inside = frame["inside"].to_numpy(dtype=bool)
    ax.scatter(xb, frame["ybar"].to_numpy(), c=np.where(inside, "C0", "C3"), s=18, zorder=3)
    binomial = getattr(x, "family", "binomial") == "binomial" if y is None else bool(
        np.all((np.asarray(y, dtype=float) >= 0) & (np.asarray(y, dtype=float) <= 1)))
    ax.set_xlabel("Estimated probability (fitted value)" if binomial else "Expected count (fitted value)")
    ax.set_ylabel("Average residual")
    share = float(inside.mean()) if inside.size else float("nan")
    ax.set_title(f"Binned residuals: {share:.0%} of {inside.size} bins inside the "
                 f"{round(100 * level)}% band")
    return ax
