"""GLMM curves on the response scale: the population curve with a Wald band and a sample of units' curves."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._common import alpha_for, normal_quantile, sample_labels, single_axes, time_ticks
from .prediction import prediction_grid

__all__ = ["response_band", "response_curve"]


def _require_glmm(g: Any, what: str) -> None:
    if not hasattr(g, "family_object"):
        raise ValueError(f"{what} needs a GLMM fitted with lf.glmer; for an LMM use lf.plots.prediction_curve")


def response_band(g: Any, newdata: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """The population (random effects at 0) mean on the response scale with a Wald band.

    The standard error of the linear predictor x'β is √(x' V x) from ``g.vcov`` (the delta method for a linear
    function); the interval η ± z·SE is formed on the link scale and mapped through the inverse link, so a
    probability band stays in [0, 1] (as emmeans' ``type = "response"`` intervals). Offsets in the formula
    enter the fit, not the SE.

    Returns
    -------
    pandas.DataFrame
        ``eta``, ``se`` (of eta), ``fit``, ``lower``, ``upper`` (the last three on the response scale).

    Examples
    --------
    >>> import lmmflow as lf
    >>> df = lf.load_dataset("cbpp")
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", df, family="binomial")
    >>> band = response_band(g, df.drop_duplicates("period"))
    >>> bool(((band["lower"] < band["fit"]) & (band["fit"] < band["upper"])).all())
    True
    """
    _require_glmm(g, "response_band")
    eta = np.asarray(g.predict(newdata, re_form="~0", type="link"), dtype=float)
    X = g.design.fixed.encode(newdata)
    V = g.vcov.to_numpy()
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", X, V, X), 0.0))
    z = normal_quantile(level)
    inv = g.family_object.linkinv
    return pd.DataFrame({"eta": eta, "se": se, "fit": np.asarray(inv(eta), dtype=float),
                         "lower": np.asarray(inv(eta - z * se), dtype=float),
                         "upper": np.asarray(inv(eta + z * se), dtype=float)}, index=newdata.index)


def response_curve(g: Any, x: str, unit: str | None = None, ax: Any = None, level: float = 0.95,
                   n_units: int = 20, seed: int | None = None, n_points: int = 60) -> Any:
    """Fitted probability (binomial) or expected count (Poisson) over ``x``: population curve and units' curves.

    The population curve sets the random effects to zero (the curve of a typical unit, not the average of the
    units' curves, which is flatter for a logit model); its band is :func:`response_band`'s Wald band. Behind
    it, ``n_units`` units' conditional curves (their random effects included).

    Parameters
    ----------
    g : GlmerResult
    x : str
        Numeric column on the x axis (time).
    unit : str, optional
        Grouping factor whose units' curves are drawn (default: the first random-effects term's).
    ax : matplotlib.axes.Axes, optional
    level : float
        Coverage of the band.
    n_units : int
        Units' curves drawn (0: none).
    seed : int, optional
        Which units are drawn.
    n_points : int
        Grid size.

    Returns
    -------
    matplotlib.axes.Axes
        ``n_units`` Line2D for the units, then the band (PolyCollection) and the population Line2D labelled
        ``"population (random effects 0)"``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> d = lf.simulate_growth(n_units=40, seed=3)
    >>> d["hit"] = (d["y"] > d["y"].median()).astype(int)
    >>> g = lf.glmer("hit ~ time + (1 | id)", d, family="binomial")
    >>> ax = lf.plots.response_curve(g, "time", n_units=5, seed=1)
    >>> len(ax.lines)
    6
    """
    _require_glmm(g, "response_curve")
    grid = prediction_grid(g, x, n_points)
    band = response_band(g, grid, level)
    xs = grid[x].to_numpy(dtype=float)
    ax = single_axes(ax)
    if unit is None:
        unit = g.design.terms[0].group if g.design.terms else None
    data = g.data
    if n_units and unit is not None and unit in data.columns:
        labels = sample_labels(sorted(pd.unique(data[unit].dropna()), key=str), n_units, seed)
        alpha = alpha_for(len(labels))
        first = data.drop_duplicates(unit).set_index(unit)
        for label in labels:
            ugrid = grid.copy()
            for col in data.columns:
                if col != x and col in ugrid.columns:
                    ugrid[col] = first.loc[label, col] if col in first.columns else ugrid[col]
            ugrid[unit] = label
            if isinstance(data[unit].dtype, pd.CategoricalDtype):
                ugrid[unit] = pd.Categorical(ugrid[unit], categories=data[unit].cat.categories)
            mu = np.asarray(g.predict(ugrid, type="response", allow_new_levels=True), dtype=float)
            ax.plot(xs, mu, color="0.45", alpha=alpha, lw=0.9)
    ax.fill_between(xs, band["lower"].to_numpy(), band["upper"].to_numpy(), color="C0", alpha=0.3, lw=0,
                    label=f"{round(100 * level)}% Wald band")
    ax.plot(xs, band["fit"].to_numpy(), color="C0", lw=2.4, label="population (random effects 0)")
    binomial = getattr(g, "family", "") == "binomial"
    if binomial:
        ax.set_ylim(-0.02, 1.02)
    time_ticks(ax, data[x].to_numpy() if x in data.columns else xs)
    ax.set_xlabel(x)
    ax.set_ylabel("Fitted probability" if binomial else "Expected count")
    ax.legend(loc="best", frameon=False, fontsize=8)
    return ax
