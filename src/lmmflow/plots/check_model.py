"""The model-check panel of R's ``performance::check_model``, panel by panel.

==============================  ===================================================================
:func:`check_ppc`                density of the response against densities of ``m.simulate()`` draws
:func:`check_linearity`          residuals against fitted values, with a smoother
:func:`check_homogeneity`        sqrt(|standardized residuals|) against fitted values (scale-location)
:func:`check_influence`          leverage against standardized residuals with Cook's distance contours,
                                 or the Cook's distances of whole groups (``groups=``)
:func:`check_normality`          normal Q-Q plot of the standardized residuals with a 95% band
:func:`check_ranef_normality`    normal Q-Q plot of one random effect's conditional modes, with a band
:func:`check_model`              all of them in one figure
==============================  ===================================================================

Titles and subtitles are performance's: the subtitle says what a good model looks like.  Standardized
residuals are internally studentized, ``sqrt(w_i) e_i / (sigma sqrt(1 - h_i))`` with ``h_i`` the leverage
(:func:`lmmflow.hatvalues`), so Cook's distance is ``r_i^2 h_i / (p (1 - h_i))`` (lme4's definition).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats
from scipy.ndimage import gaussian_filter1d

from ._common import single_axes
from .residuals import normal_scores

if TYPE_CHECKING:
    from ..results import LmerResult

__all__ = ["check_homogeneity", "check_influence", "check_linearity", "check_model", "check_normality",
           "check_ppc", "check_ranef_normality"]

GREEN, BLUE, RED, GREY = "#3aaf85", "#1b6ca8", "#cd201f", "0.35"
_MAX_GROUPS = 30  # groups drawn in the influential-groups panel (the largest distances)
_SMOOTH_POINTS = 5000  # points the smoother uses at most (a fixed random subset beyond that)


# ---- helpers --------------------------------------------------------------------------------------------------
def _titles(ax: Any, title: str, subtitle: str) -> None:
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold", pad=16)
    ax.text(0.0, 1.015, subtitle, transform=ax.transAxes, fontsize=8.5, color=GREY, va="bottom", ha="left")
    ax.grid(True, color="0.92", lw=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _points(ax: Any, x: np.ndarray, y: np.ndarray, color: str = GREEN) -> None:
    n = len(x)
    ax.scatter(x, y, s=14 if n < 2000 else 4, color=color, alpha=0.6 if n < 2000 else 0.25, edgecolors="none",
               rasterized=n > 5000)


def density(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian kernel density of ``values`` on an evenly spaced ``grid``, with R's default bandwidth (nrd0).

    Binned (a histogram on the grid smoothed by a Gaussian filter), so it costs O(n + grid) for any n.

    Examples
    --------
    >>> g = np.linspace(-4, 4, 401)
    >>> d = density(np.random.default_rng(1).standard_normal(5000), g)
    >>> round(float(d.sum() * (g[1] - g[0])), 3), abs(float(g[d.argmax()])) < 0.3
    (1.0, True)
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    sd = np.std(v, ddof=1) if n > 1 else 0.0
    iqr = np.subtract(*np.quantile(v, [0.75, 0.25])) / 1.34 if n > 1 else 0.0
    lo = min(sd, iqr) if iqr > 0 else sd
    bw = 0.9 * (lo if lo > 0 else (abs(v[0]) if n and v[0] != 0 else 1.0)) * max(n, 1) ** -0.2
    step = grid[1] - grid[0]
    edges = np.concatenate([grid - step / 2, [grid[-1] + step / 2]])
    counts = np.histogram(v, bins=edges)[0].astype(float)
    dens = gaussian_filter1d(counts, bw / step, mode="constant")
    return dens / (max(n, 1) * step)


def smoother(x: np.ndarray, y: np.ndarray, points: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """A local linear (Gaussian kernel) smooth of y on x: the reference curve of the residual panels.

    The bandwidth is a tenth of the range of x, at least R's nrd0 bandwidth of x.

    Examples
    --------
    >>> x = np.linspace(0, 1, 200)
    >>> gx, gy = smoother(x, 2 * x + 1)
    >>> bool(np.allclose(gy, 2 * gx + 1))
    True
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) > _SMOOTH_POINTS:
        pick = np.random.default_rng(0).choice(len(x), _SMOOTH_POINTS, replace=False)
        x, y = x[pick], y[pick]
    span = float(np.ptp(x))
    if span == 0:
        return np.array([x[0]]), np.array([y.mean()])
    nrd0 = 0.9 * min(np.std(x, ddof=1), np.subtract(*np.quantile(x, [0.75, 0.25])) / 1.34 or np.inf) * len(x) ** -0.2
    h = max(span / 10.0, nrd0 if np.isfinite(nrd0) else 0.0)
    gx = np.linspace(x.min(), x.max(), points)
    d = (x[None, :] - gx[:, None]) / h
    w = np.exp(-0.5 * d * d)
    s0, s1, s2 = w.sum(1), (w * d).sum(1), (w * d * d).sum(1)
    t0, t1 = (w * y).sum(1), (w * d * y).sum(1)
    det = s0 * s2 - s1 * s1
    with np.errstate(invalid="ignore", divide="ignore"):
        gy = np.where(det > 1e-12 * s0 * s0, (s2 * t0 - s1 * t1) / det, t0 / s0)
    return gx, gy


def _std_residuals(m: LmerResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fitted values, internally studentized residuals and leverages."""
    from ..diagnostics.influence import hatvalues

    h = hatvalues(m).to_numpy()
    w = m.weights
    e = m.residuals.to_numpy() * (np.sqrt(w) if w is not None else 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = e / (m.sigma * np.sqrt(np.maximum(1.0 - h, 0.0)))
    return m.fitted.to_numpy(), r, h


def _qq_band(ax: Any, v: np.ndarray, level: float, color: str = GREEN) -> None:
    """Sorted values against normal scores, a line through the quartiles and a pointwise ``level`` band for the
    order statistics of a normal sample on that line (their Beta(i, n - i + 1) quantiles)."""
    v = np.sort(v[np.isfinite(v)])
    n = len(v)
    q = normal_scores(n)
    y1, y3 = np.quantile(v, [0.25, 0.75])
    x1, x3 = stats.norm.ppf([0.25, 0.75])
    slope = (y3 - y1) / (x3 - x1) if n > 1 else 1.0
    slope = slope if slope > 0 else (np.std(v) or 1.0)
    icept = y1 - slope * x1
    i = np.arange(1, n + 1)
    a = (1.0 - level) / 2.0
    lo = icept + slope * stats.norm.ppf(stats.beta.ppf(a, i, n - i + 1))
    hi = icept + slope * stats.norm.ppf(stats.beta.ppf(1.0 - a, i, n - i + 1))
    ax.fill_between(q, lo, hi, color=BLUE, alpha=0.15, lw=0, label=f"{level:.0%} band")
    ax.plot(q, icept + slope * q, color=BLUE, lw=1.3)
    outside = (v < lo) | (v > hi)
    _points(ax, q[~outside], v[~outside], color)
    if outside.any():
        _points(ax, q[outside], v[outside], RED)
    ax.set_xlabel("Standard normal distribution quantiles")
    ax.set_ylabel("Sample quantiles")


# ---- the panels ------------------------------------------------------------------------------------------------
def check_ppc(m: LmerResult, ax: Any = None, nsim: int = 50, seed: int | None = 0) -> Any:
    """Posterior predictive check: the density of the response against densities of simulated responses.

    Parameters
    ----------
    m : LmerResult
    ax : matplotlib.axes.Axes, optional
    nsim : int
        Simulated responses (``m.simulate``: new random effects and residuals).
    seed : int, optional

    Returns
    -------
    matplotlib.axes.Axes
        ``nsim`` blue lines (labelled ``"Model-predicted data"`` once) and the green observed line.

    Examples
    --------
    >>> import lmmflow as lf
    >>> import matplotlib.pyplot as plt
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> ax = lf.plots.check_ppc(m, nsim=20)
    >>> ax.get_title(loc="left"), len(ax.get_lines())
    ('Posterior Predictive Check', 21)
    >>> plt.close(ax.figure)
    """
    ax = single_axes(ax)
    y = m.design.y
    sims = m.simulate(nsim=nsim, seed=seed).to_numpy()
    lo, hi = min(np.nanmin(y), sims.min()), max(np.nanmax(y), sims.max())
    pad = 0.05 * (hi - lo or 1.0)
    grid = np.linspace(lo - pad, hi + pad, 512)
    for s in range(nsim):
        ax.plot(grid, density(sims[:, s], grid), color=BLUE, lw=0.8, alpha=0.35,
                label="Model-predicted data" if s == 0 else None)
    ax.plot(grid, density(y, grid), color=GREEN, lw=2.2, label="Observed data")
    ax.set_xlabel(m.design.formula.response)
    ax.set_ylabel("Density")
    ax.legend(loc="upper right", frameon=False, fontsize=8)
    _titles(ax, "Posterior Predictive Check", "Model-predicted lines should resemble observed data line")
    return ax


def check_linearity(m: LmerResult, ax: Any = None) -> Any:
    """Linearity: residuals against fitted values, with a smoother (see :func:`smoother`).

    Examples
    --------
    >>> import lmmflow as lf
    >>> import matplotlib.pyplot as plt
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> ax = lf.plots.check_linearity(m)
    >>> ax.get_xlabel()
    'Fitted values'
    >>> plt.close(ax.figure)
    """
    ax = single_axes(ax)
    x, r = m.fitted.to_numpy(), m.residuals.to_numpy()
    if m.weights is not None:
        r = r * np.sqrt(m.weights)
    _points(ax, x, r)
    ax.axhline(0.0, color=GREY, lw=1, ls="--")
    ax.plot(*smoother(x, r), color=BLUE, lw=2)
    ax.set_xlabel("Fitted values")
    ax.set_ylabel("Residuals")
    _titles(ax, "Linearity", "Reference line should be flat and horizontal")
    return ax


def check_homogeneity(m: LmerResult, ax: Any = None) -> Any:
    """Homogeneity of variance: sqrt(|standardized residuals|) against fitted values, with a smoother.

    Examples
    --------
    >>> import lmmflow as lf
    >>> import matplotlib.pyplot as plt
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> ax = lf.plots.check_homogeneity(m)
    >>> ax.get_ylabel()
    '$\\\\sqrt{|\\\\mathrm{Std.\\\\ residuals}|}$'
    >>> plt.close(ax.figure)
    """
    ax = single_axes(ax)
    x, r, _ = _std_residuals(m)
    y = np.sqrt(np.abs(r))
    _points(ax, x, y)
    ok = np.isfinite(y)
    ax.plot(*smoother(x[ok], y[ok]), color=BLUE, lw=2)
    ax.set_xlabel("Fitted values")
    ax.set_ylabel(r"$\sqrt{|\mathrm{Std.\ residuals}|}$")
    _titles(ax, "Homogeneity of Variance", "Reference line should be flat and horizontal")
    return ax


def check_influence(m: LmerResult, ax: Any = None, groups: Any = None, threshold: float | None = None,
                    label: int = 5, **kwargs: Any) -> Any:
    """Influential observations (leverage against standardized residuals, Cook's distance contours), or with
    ``groups=`` the Cook's distance of each group from leave-one-group-out refits (:func:`lmmflow.influence`).

    Parameters
    ----------
    m : LmerResult
    ax : matplotlib.axes.Axes, optional
    groups : str or array-like, optional
        Group the deletions (e.g. ``"Subject"``) instead of single observations.
    threshold : float, optional
        Cook's distance marked as influential: performance's ``qf(0.5, p, n - p)`` for observations,
        ``4 / G`` for G groups (the 30 largest distances are drawn).
    label : int
        Label at most this many of the points beyond the threshold (the largest distances).
    **kwargs
        Passed to :func:`lmmflow.influence` (``progress``, ``n_jobs``).

    Examples
    --------
    >>> import lmmflow as lf
    >>> import matplotlib.pyplot as plt
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> ax = lf.plots.check_influence(m)
    >>> ax.get_xlabel()
    'Leverage ($h_{ii}$)'
    >>> plt.close(ax.figure)
    >>> ax = lf.plots.check_influence(m, groups="Subject", progress=False)
    >>> ax.get_title(loc="left")
    'Influential Groups'
    >>> plt.close(ax.figure)
    """
    ax = single_axes(ax)
    if groups is not None:
        from ..diagnostics.influence import influence

        d = influence(m, groups, **kwargs).cooks_distance.sort_values()
        G = len(d)
        cut = 4.0 / G if threshold is None else threshold
        d = d.tail(_MAX_GROUPS)  # the largest distances (all others are smaller)
        pos = np.arange(len(d))
        big = d.to_numpy() > cut
        ax.hlines(pos, 0.0, d.to_numpy(), color=np.where(big, RED, BLUE), lw=1.5)
        ax.scatter(d.to_numpy(), pos, color=np.where(big, RED, GREEN), s=22, zorder=3)
        ax.axvline(cut, color=GREY, ls="--", lw=1)
        ax.set_yticks(pos, [str(v) for v in d.index], fontsize=7)
        ax.set_xlabel("Cook's distance (leave-one-group-out)")
        ax.set_ylabel(str(d.index.name or "group"))
        shown = f"; the {len(d)} largest of {G}" if len(d) < G else ""
        _titles(ax, "Influential Groups", f"Groups should be left of the dashed line ({cut:.2g}){shown}")
        return ax
    x, r, h = _std_residuals(m)
    p, n = m.design.fixed.p, m.nobs
    cut = float(stats.f.ppf(0.5, p, n - p)) if threshold is None else threshold
    cooks = r * r * h / (p * (1.0 - h))
    big = cooks > cut
    _points(ax, h[~big], r[~big])
    if big.any():
        _points(ax, h[big], r[big], RED)
    hmin, hmax = float(np.nanmin(h)), max(float(np.nanmax(h)), 1e-3)
    left = max(0.0, hmin - 0.15 * (hmax - hmin or hmax))
    hmax += 0.05 * (hmax - left)
    hs = np.linspace(max(left, hmax / 200), hmax, 200)
    bound = np.sqrt(cut * p * (1.0 - hs) / hs)
    top = max(float(np.nanmax(np.abs(r[np.isfinite(r)]))) * 1.1, 3.0)
    for sign in (1, -1):
        ax.plot(hs, sign * bound, color=BLUE, ls="--", lw=1.2, label=f"Cook's distance {cut:.2g}" if sign > 0 else None)
    ax.set_ylim(-top, top)
    ax.set_xlim(left, hmax)
    ax.axhline(0.0, color=GREY, lw=0.8)
    order = np.argsort(-np.where(np.isfinite(cooks), cooks, -np.inf))
    labels = m.data.index.to_numpy()
    for i in order[:label]:
        if big[i]:
            ax.annotate(str(labels[i]), (h[i], r[i]), fontsize=7, color=RED, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("Leverage ($h_{ii}$)")
    ax.set_ylabel("Std. residuals")
    _titles(ax, "Influential Observations", f"Points should be inside the contour lines (Cook's distance {cut:.2g})")
    return ax


def check_normality(m: LmerResult, ax: Any = None, level: float = 0.95) -> Any:
    """Normality of residuals: Q-Q plot of the standardized residuals, with a pointwise ``level`` band.

    Examples
    --------
    >>> import lmmflow as lf
    >>> import matplotlib.pyplot as plt
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> ax = lf.plots.check_normality(m)
    >>> ax.get_title(loc="left")
    'Normality of Residuals'
    >>> plt.close(ax.figure)
    """
    ax = single_axes(ax)
    _qq_band(ax, _std_residuals(m)[1], level)
    _titles(ax, "Normality of Residuals", "Dots should fall along the line")
    return ax


def check_ranef_normality(m: LmerResult, ax: Any = None, group: str | None = None, effect: str | None = None,
                          level: float = 0.95) -> Any:
    """Normality of one random effect: Q-Q plot of its conditional modes with a pointwise ``level`` band.

    Parameters
    ----------
    m : LmerResult
    ax : matplotlib.axes.Axes, optional
    group : str, optional
        Grouping factor (default the first); ``effect`` its column (default the first, ``(Intercept)``).

    Examples
    --------
    >>> import lmmflow as lf
    >>> import matplotlib.pyplot as plt
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> ax = lf.plots.check_ranef_normality(m, effect="Days")
    >>> ax.get_title(loc="left")
    'Normality of Random Effects (Subject)'
    >>> plt.close(ax.figure)
    """
    ax = single_axes(ax)
    re = m.ranef
    group = group or next(iter(re))
    if group not in re:
        raise ValueError(f"group={group!r} is not a grouping factor of the model; use one of {list(re)}")
    effect = effect or str(re[group].columns[0])
    if effect not in re[group].columns:
        raise ValueError(f"effect={effect!r} is not a random effect of {group!r}; use one of {list(re[group].columns)}")
    values = re[group][effect].to_numpy()
    if np.ptp(values) <= 1e-10 * max(1.0, float(np.max(np.abs(values)))):  # a zero variance: nothing to check
        _points(ax, normal_scores(len(values)), np.sort(values))
        ax.text(0.5, 0.6, "variance estimated as zero (singular fit):\nall conditional modes are equal",
                transform=ax.transAxes, ha="center", fontsize=9, color=RED)
        ax.set_xlabel("Standard normal distribution quantiles")
    else:
        _qq_band(ax, values, level)
    ax.set_ylabel(f"{effect}: conditional modes")
    _titles(ax, f"Normality of Random Effects ({group})", f"{effect}: dots should be plotted along the line")
    return ax


def check_model(m: LmerResult, groups: Any = None, nsim: int = 50, seed: int | None = 0, ncols: int = 2,
                panel_size: tuple[float, float] = (5.2, 3.8), **kwargs: Any) -> Any:
    """All model checks in one figure, as ``performance::check_model`` draws them.

    Posterior predictive check, linearity, homogeneity of variance, influential observations (or groups,
    with ``groups=``), normality of the residuals and a Q-Q panel for each random effect of each grouping
    factor.  Each panel is also a function of its own (``check_ppc``, ``check_linearity``, ...).

    Parameters
    ----------
    m : LmerResult
    groups : str or array-like, optional
        Show influential groups (leave-one-group-out Cook's distances) instead of observations.
    nsim, seed
        Simulated responses of the predictive check.
    ncols : int
        Panels per row.
    panel_size : (float, float)
        Inches per panel.
    **kwargs
        Passed to :func:`lmmflow.influence` with ``groups=`` (``progress``, ``n_jobs``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import lmmflow as lf
    >>> import matplotlib.pyplot as plt
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> fig = lf.plots.check_model(m)
    >>> [ax.get_title(loc="left") for ax in fig.axes if ax.get_visible()][:3]
    ['Posterior Predictive Check', 'Linearity', 'Homogeneity of Variance']
    >>> sum(ax.get_visible() for ax in fig.axes)
    7
    >>> plt.close(fig)
    """
    import matplotlib.pyplot as plt

    re_panels = [(g, str(c)) for g, frame in m.ranef.items() for c in frame.columns]
    n = 5 + len(re_panels)
    nrows = math.ceil(n / ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
                             layout="constrained", squeeze=False)
    axes = grid.ravel()
    check_ppc(m, ax=axes[0], nsim=nsim, seed=seed)
    check_linearity(m, ax=axes[1])
    check_homogeneity(m, ax=axes[2])
    check_influence(m, ax=axes[3], groups=groups, **kwargs)
    check_normality(m, ax=axes[4])
    for ax, (g, c) in zip(axes[5:], re_panels):
        check_ranef_normality(m, ax=ax, group=g, effect=c)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig
