"""Residual diagnostics: residuals against fitted values, normal Q-Q plots of residuals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from ._common import single_axes

if TYPE_CHECKING:
    from ..results import LmerResult

__all__ = ["binned_means", "normal_scores", "qq_residuals", "qq_on_axes", "residuals_vs_fitted"]

_RESID_LABEL = {"pearson": "Pearson residuals", "response": "Residuals (y - fitted)"}


def _residuals(m: LmerResult, type: str) -> np.ndarray:  # noqa: A002 - lme4's argument name
    if type not in _RESID_LABEL:
        raise ValueError(f"type={type!r}: use 'pearson' or 'response'")
    return m.resid(type).to_numpy()


def binned_means(x: np.ndarray, y: np.ndarray, bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``x`` and of ``y`` within quantile bins of ``x``: a simple smoother.

    Parameters
    ----------
    x, y : numpy.ndarray
    bins : int, optional
        Number of bins; default about n/40, between 5 and 25 (fewer when there are few distinct x).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Bin centres (means of ``x``) and means of ``y``, in increasing ``x``.

    Examples
    --------
    >>> bx, by = binned_means(np.arange(100.0), np.ones(100), bins=4)
    >>> bx.tolist(), by.tolist()
    ([12.0, 37.0, 62.0, 87.0], [1.0, 1.0, 1.0, 1.0])
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if bins is None:
        bins = int(np.clip(len(x) // 40, 5, 25))
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    chunks = [c for c in np.array_split(np.arange(len(xs)), min(bins, max(len(xs), 1))) if len(c)]
    bx = np.array([xs[c].mean() for c in chunks])
    by = np.array([ys[c].mean() for c in chunks])
    return bx, by


def residuals_vs_fitted(m: LmerResult, ax: Any = None, type: str = "pearson",  # noqa: A002
                        smoother: bool = True, bins: int | None = None) -> Any:
    """Residuals against fitted values, with a zero line and a binned-mean smoother (lme4's ``plot(m)``).

    Look for an even band around zero: a funnel means the residual variance changes with the mean, a
    curve in the smoother means a missing nonlinear term.

    Parameters
    ----------
    m : LmerResult
    ax : matplotlib.axes.Axes, optional
    type : {"pearson", "response"}
        Which residuals (Pearson residuals are scaled by sigma and prior weights).
    smoother : bool
        Add the mean residual within quantile bins of the fitted values (see :func:`binned_means`).
    bins : int, optional
        Number of bins of the smoother.

    Returns
    -------
    matplotlib.axes.Axes
        One scatter collection (a point per observation); lines: the smoother (labelled ``"binned mean"``).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> ax = lf.plots.residuals_vs_fitted(m)
    >>> len(ax.collections[0].get_offsets())
    180
    """
    ax = single_axes(ax)
    fitted = m.fitted.to_numpy()
    r = _residuals(m, type)
    ax.scatter(fitted, r, s=10 if len(r) < 2000 else 4, alpha=0.5 if len(r) < 2000 else 0.25, color="0.25",
               edgecolors="none", rasterized=len(r) > 5000)
    ax.axhline(0.0, color="0.5", lw=1, ls="--", zorder=0)
    if smoother and len(r) >= 5:
        bx, by = binned_means(fitted, r, bins)
        ax.plot(bx, by, color="C3", lw=2, marker="o", ms=3.5, label="binned mean")
        ax.legend(loc="best", frameon=False)
    ax.set_xlabel("Fitted values")
    ax.set_ylabel(_RESID_LABEL[type])
    ax.set_title("Residuals vs fitted")
    return ax


def normal_scores(n: int) -> np.ndarray:
    """Expected normal order statistics as R's ``qqnorm`` uses them (``ppoints``: a = 3/8 when n <= 10)."""
    a = 0.375 if n <= 10 else 0.5
    return stats.norm.ppf((np.arange(1, n + 1) - a) / (n + 1 - 2 * a))


def qq_on_axes(ax: Any, values: np.ndarray, color: Any = "0.25") -> None:
    """Sorted ``values`` against normal scores, with R's ``qqline`` (through the quartiles)."""
    v = np.sort(np.asarray(values, dtype=float))
    v = v[np.isfinite(v)]
    q = normal_scores(len(v))
    ax.scatter(q, v, s=12 if len(v) < 2000 else 4, color=color, alpha=0.7, edgecolors="none",
               rasterized=len(v) > 5000)
    if len(v) >= 2:
        y1, y3 = np.quantile(v, [0.25, 0.75])
        x1, x3 = stats.norm.ppf([0.25, 0.75])
        slope = (y3 - y1) / (x3 - x1)
        if slope > 0:
            ax.axline((x1, y1), slope=slope, color="C3", lw=1.2, label="line through quartiles")
    ax.set_xlabel("Theoretical normal quantiles")


def qq_residuals(m: LmerResult, ax: Any = None, type: str = "pearson") -> Any:  # noqa: A002
    """Normal Q-Q plot of the residuals, with a line through the quartiles.

    Points along the line: residuals close to normal. An S shape means heavy or light tails; a bend at
    one end, skewness.

    Parameters
    ----------
    m : LmerResult
    ax : matplotlib.axes.Axes, optional
    type : {"pearson", "response"}

    Returns
    -------
    matplotlib.axes.Axes
        One scatter collection (a point per observation) and the reference line.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> ax = lf.plots.qq_residuals(m)
    >>> ax.get_ylabel()
    'Pearson residuals'
    """
    ax = single_axes(ax, figsize=(4.8, 4.4))
    qq_on_axes(ax, _residuals(m, type))
    ax.set_ylabel(_RESID_LABEL[type])
    ax.set_title("Normal Q-Q plot of residuals")
    return ax
