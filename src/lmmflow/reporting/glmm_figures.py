"""The figures of a GLMM report: observed proportions or rates, response-scale curves, binned residuals,
random effects and shrinkage on the link scale."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .figures import _first_line, _unit_term, render_png

if TYPE_CHECKING:
    from .glmm_report import GlmmReport

__all__ = ["GLMM_FIGURES", "draw_glmm", "link_shrinkage"]

GLMM_FIGURES: dict[str, tuple[str, str]] = {
    "observed": ("Observed {what} over {x}",
                 "The observed {what} at each value of {x} over all units, with exact {interval} intervals; behind "
                 "it, a sample of units' observed sequences (0/1 values jittered)."),
    "response_curve": ("Fitted {mean} over {x}",
                       "The population curve (random effects at zero: a typical unit) on the response scale with a "
                       "Wald band formed on the link scale from the fixed effects' covariance and mapped back; grey "
                       "lines are units' own curves (their random effects included)."),
    "binned_residuals": ("Binned residuals",
                         "Mean residual (observed - fitted) in bins of the fitted values, with the ±1.96 SE band "
                         "(performance::binned_residuals). About 95% of the bins should lie inside (blue); bins "
                         "outside (red) at one end point to a missing curvature or interaction."),
    "caterpillar": ("Caterpillar plot of the random effects (link scale)",
                    "Each unit's predicted deviation (conditional mode) on the {scale} scale, with an interval from "
                    "its conditional SD; units sorted by their intercept."),
    "qq_ranef": ("Normal Q-Q plots of the random effects",
                 "Conditional modes against normal quantiles on the {scale} scale, one panel per term."),
    "shrinkage": ("Shrinkage on the link scale",
                  "Each unit's own observed {what} on the {scale} scale (no pooling, with 0.5 added to the counts "
                  "so that units with all 0 or all 1 stay finite) against the model's value for it (partial "
                  "pooling: the {scale} of its mean fitted value). Points below the diagonal on the right and above "
                  "it on the left were pulled toward the average, most for units with few observations."),
}


def link_shrinkage(g: Any, group: str, ax: Any = None) -> Any:
    """No pooling against partial pooling on the link scale, one point per level of ``group``."""
    from ..plots._common import single_axes

    data = g.data
    y = np.asarray(g.y, dtype=float)
    w = np.asarray(g.prior_weights, dtype=float)
    mu = np.asarray(g.fitted, dtype=float)
    mu = mu[np.isfinite(mu)]
    fam = g.family_object
    frame = pd.DataFrame({"g": data[group].to_numpy(), "events": y * w, "n": w, "mu": mu})
    agg = frame.groupby("g", sort=True, observed=True).agg(events=("events", "sum"), n=("n", "sum"),
                                                           mu=("mu", "mean"), k=("mu", "size"))
    if g.family == "binomial":
        raw = (agg["events"] + 0.5) / (agg["n"] + 1.0)
    else:
        raw = (agg["events"] + 0.5) / agg["n"]
    x = np.asarray(fam.linkfun(raw.to_numpy()), dtype=float)
    yv = np.asarray(fam.linkfun(agg["mu"].to_numpy()), dtype=float)
    ax = single_axes(ax)
    size = 8 + 40 * (agg["k"].to_numpy() / max(float(agg["k"].max()), 1.0))
    ax.scatter(x, yv, s=size, color="C0", alpha=0.6, edgecolors="none")
    lo, hi = float(np.nanmin([x.min(), yv.min()])), float(np.nanmax([x.max(), yv.max()]))
    ax.plot([lo, hi], [lo, hi], color="0.3", lw=0.9, ls="--", label="no shrinkage")
    ax.set_xlabel(f"observed, {g.link} scale (no pooling)")
    ax.set_ylabel(f"model, {g.link} scale (partial pooling)")
    ax.set_title(f"{group}: {len(agg)} units")
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    return ax


def draw_glmm(rep: GlmmReport, n_units: int = 20, seed: int | None = None, dpi: int = 110) -> None:
    """Draw the GLMM report's figures into ``rep.figure_png`` (notes for those skipped)."""
    from .. import plots

    v = rep.values
    g = rep.models["main"]
    time, unit = v["time"], v["unit"]
    term = _unit_term(g, unit)
    group, k = term.group, len(term.cnames)
    binomial = g.family == "binomial"
    what = "proportion" if binomial else "mean count"
    words = {"what": what, "mean": "probability" if binomial else "expected count",
             "interval": "binomial (Clopper-Pearson)" if binomial else "Poisson", "scale": g.link,
             "x": time or "the predictor"}
    model_frame = g.data.copy()
    model_frame["__y"] = np.asarray(g.y, dtype=float)
    model_frame["__w"] = np.asarray(g.prior_weights, dtype=float)
    xcol = time
    if xcol is None:
        preds = [p for p in (v.get("design") or {}).get("predictors", []) if p in model_frame.columns]
        xcol = preds[0] if preds else None
        words["x"] = xcol or "the predictor"
    jobs: list[tuple[str, Callable[[Any], Any], tuple[float, float]]] = []
    if xcol is not None:
        jobs.append(("observed", lambda fig: plots.observed_proportions(
            model_frame, xcol, "__y", unit=group if time else None, ax=fig.subplots(), seed=seed,
            kind="proportion" if binomial else "rate", trials="__w" if binomial else None), (6.4, 4.2)))
    if time is not None and pd.api.types.is_numeric_dtype(model_frame[time]):
        jobs.append(("response_curve", lambda fig: plots.response_curve(
            g, time, unit=group, ax=fig.subplots(), level=v["level"], n_units=n_units, seed=seed), (6.4, 4.2)))
    jobs.append(("binned_residuals", lambda fig: plots.binned_residuals(g, ax=fig.subplots()), (6.0, 4.0)))
    cat_height = min(max(3.2, 0.045 * term.nlevels + 1.2), 14.0)
    jobs.append(("caterpillar", lambda fig: plots.caterpillar_panels(
        g, group=group, level=v["level"], axes=fig.subplots(1, k, squeeze=False)[0]), (3.8 * k + 0.6, cat_height)))
    jobs.append(("qq_ranef", lambda fig: plots.qq_ranef(g, group=group, axes=fig.subplots(1, k, squeeze=False)[0]),
                 (3.6 * k, 3.4)))
    jobs.append(("shrinkage", lambda fig: link_shrinkage(g, group, ax=fig.subplots()), (5.2, 4.4)))
    for name, draw, size in jobs:
        title, caption = GLMM_FIGURES[name]
        try:
            png = render_png(draw, size, dpi=dpi)
        except (AttributeError, ImportError, ValueError, TypeError, KeyError, NotImplementedError) as exc:
            rep.notes.append(f"figure {name!r} skipped: {_first_line(exc)}")
            continue
        rep.figure_png[name] = png
        rep.figure_info[name] = {"title": title.format(**words), "caption": caption.format(**words)}
