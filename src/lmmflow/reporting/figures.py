"""The report's figures: each drawn with :mod:`lmmflow.plots` onto its own matplotlib Figure, kept as PNG bytes.

Figures are made with ``matplotlib.figure.Figure`` directly (no pyplot), so the report neither needs nor
changes a GUI backend and leaves no figures open.  A figure that cannot be drawn (say the model has no
random slope for a variance-over-time plot) is skipped with a note in ``Report.notes``.
"""

from __future__ import annotations

import inspect
import io
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .workflow import Report

__all__ = ["FIGURES", "draw_all", "render_png"]

#: name -> (title, caption); the order is the order of the report's sections.
FIGURES: dict[str, tuple[str, str]] = {
    "spaghetti": ("Individual trajectories",
                  "One line per unit through its observations; the bold line joins the means at each time. Look "
                  "for the overall trend, the spread at the start, lines fanning out, curvature and outliers."),
    "residuals_vs_fitted": ("Residuals vs fitted",
                            "Pearson residuals against fitted values: an even band around zero is what the model "
                            "assumes; a funnel or a curve is not."),
    "qq_residuals": ("Normal Q-Q plot of the residuals",
                     "Points near the line mean roughly normal residuals; bends at the ends mean heavy tails or "
                     "skew."),
    "qq_ranef": ("Normal Q-Q plots of the random effects",
                 "Predicted random effects (BLUPs) against normal quantiles, one panel per term. Mild departures "
                 "matter less here than in the residuals."),
    "caterpillar": ("Caterpillar plot of the BLUPs",
                    "Each unit's predicted deviation from the average, with an interval from its conditional SD; "
                    "units sorted by their intercept."),
    "shrinkage": ("Shrinkage: OLS per unit vs BLUP",
                  "Each unit's own least-squares estimate (no pooling) against the mixed model's estimate (partial "
                  "pooling). Points off the diagonal were pulled toward the average; the pull is strongest for "
                  "extreme or noisy units."),
    "trajectories": ("Model-implied trajectories",
                     "Fitted lines for a random sample of units, with their observations as points."),
    "prediction_curve": ("Average trajectory",
                         "The population-level prediction (fixed effects only) with its confidence band."),
    "variance_over_time": ("Variance over time",
                           "With a random slope the variance of the outcome changes with time: the between-unit part "
                           "(intercepts and slopes) on top of the residual part."),
    "icc_over_time": ("ICC over time",
                      "The share of the variance at each time that lies between units; a random-intercept model "
                      "gives a single number instead."),
}


def render_png(draw: Callable[[Any], Any], figsize: tuple[float, float], dpi: int = 110) -> bytes:
    """Draw onto a new constrained-layout Figure and return it as PNG bytes.

    Parameters
    ----------
    draw : callable
        Called with the Figure; it adds its own Axes (``fig.subplots(...)``).
    figsize : (float, float)
        Inches.
    dpi : int

    Returns
    -------
    bytes

    Examples
    --------
    >>> png = render_png(lambda fig: fig.subplots().plot([0, 1], [0, 1]), (3, 2))
    >>> png[:4] == b"\\x89PNG"
    True
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        draw(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` with the keyword arguments it accepts (the others are dropped)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(*args, **kwargs)
    return fn(*args, **{k: v for k, v in kwargs.items() if k in params})


def _axes_kw(fn: Callable[..., Any], axes: Any) -> dict[str, Any]:
    params = inspect.signature(fn).parameters
    if "axes" in params:
        return {"axes": axes}
    return {"ax": axes if not hasattr(axes, "__len__") else axes[0]}


def _unit_term(m: Any, unit: str) -> Any:
    terms = [t for t in m.design.terms if t.group == unit] or list(m.design.terms)
    return terms[0]


def draw_all(rep: Report, n_trajectories: int = 30, seed: int | None = None, dpi: int = 110) -> None:
    """Draw every figure the model allows into ``rep.figure_png`` (notes for the ones skipped).

    Parameters
    ----------
    rep : Report
        Filled in place: ``figure_png``, ``figure_info`` and ``notes``.
    n_trajectories : int
        Units shown in the trajectory plot.
    seed : int, optional
        Seeds the units drawn for the trajectory (and, with many units, the spaghetti) plot.
    dpi : int
    """
    from .. import plots

    v = rep.values
    m = rep.models["main"]
    time, unit, response = v["time"], v["unit"], v["response"]
    term = _unit_term(m, unit)
    group = term.group
    k = len(term.cnames)
    n_units = term.nlevels
    slope = time is not None and time in term.cnames and "(Intercept)" in term.cnames

    def one(fn_name: str, *args: Any, **kw: Any) -> Callable[[Any], Any]:
        def draw(fig: Any) -> Any:
            return _call(getattr(plots, fn_name), *args, ax=fig.subplots(), **kw)
        return draw

    def panels(fn_name: str, n: int, **kw: Any) -> Callable[[Any], Any]:
        def draw(fig: Any) -> Any:
            fn = getattr(plots, fn_name)
            axes = fig.subplots(1, n, squeeze=False)[0]
            return _call(fn, m, **_axes_kw(fn, axes), **kw)
        return draw

    cat_height = min(max(3.2, 0.045 * n_units + 1.2), 14.0)
    jobs: list[tuple[str, Callable[[Any], Any], tuple[float, float]]] = []
    if time is not None:
        jobs.append(("spaghetti", one("spaghetti", rep.data, x=time, y=response, unit=unit,
                                      sample=400 if n_units > 400 else None, seed=seed), (6.4, 4.2)))
    else:
        rep.notes.append("spaghetti plot skipped: no time variable (pass time=)")
    jobs += [
        ("residuals_vs_fitted", one("residuals_vs_fitted", m), (6.0, 4.0)),
        ("qq_residuals", one("qq_residuals", m), (5.0, 4.0)),
        ("qq_ranef", panels("qq_ranef", k, group=group), (3.6 * k, 3.4)),
        ("caterpillar", panels("caterpillar_panels", k, group=group, level=v["level"]), (3.8 * k + 0.6, cat_height)),
        ("shrinkage", panels("shrinkage_panels", k, unit=group, group=group, seed=seed), (4.2 * k, 4.0)),
    ]
    if time is not None:
        jobs.append(("trajectories", one("trajectories", m, x=time, group=group, n=n_trajectories, seed=seed),
                     (6.4, 4.4)))
        jobs.append(("prediction_curve", one("prediction_curve", m, time, level=v["level"]), (6.0, 4.0)))
    if slope:
        jobs.append(("variance_over_time", one("variance_over_time", m, group=group, term=time), (6.0, 4.0)))
        jobs.append(("icc_over_time", one("icc_over_time", m, group=group, term=time), (6.0, 3.6)))
    for name, draw, size in jobs:
        title, caption = FIGURES[name]
        try:
            png = render_png(draw, size, dpi=dpi)
        except (AttributeError, ImportError, ValueError, TypeError, KeyError, NotImplementedError) as exc:
            rep.notes.append(f"figure {name!r} skipped: {_first_line(exc)}")
            continue
        rep.figure_png[name] = png
        rep.figure_info[name] = {"title": title, "caption": caption}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]

