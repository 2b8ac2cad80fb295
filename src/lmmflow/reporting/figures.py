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

__all__ = ["DESIGN_FIGURES", "FIGURES", "draw_all", "figure_text", "render_png"]

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
    "by_predictor": ("The response against each predictor",
                     "Observations (grey points) against each predictor of the fixed part, with the fixed-effects "
                     "prediction and its confidence band (other predictors at their mean or reference level); a "
                     "categorical predictor is shown as box plots per level. There is no time axis here: no "
                     "lines join the observations."),
    "by_group": ("The response in each group",
                 "Box plots of the observations of each level of the grouping factor, sorted by the median: the "
                 "spread between the boxes is what the random intercepts describe."),
    "caterpillar_other": ("Caterpillar plots of the other grouping factors",
                          "Predicted random intercepts (BLUPs) of each further grouping factor, with intervals from "
                          "their conditional SDs."),
}

#: Captions that change with the design (kind -> name -> (title, caption)).
DESIGN_FIGURES: dict[str, dict[str, tuple[str, str]]] = {
    "times": {
        "spaghetti": ("Individual trajectories",
                      "One line per unit through its observations, at that unit's own times. The bold line is a "
                      "local-linear smooth of all observations: with times that differ between units, joining "
                      "the means at each time would zig-zag through single points. Look for the overall trend, "
                      "the spread, lines fanning out, curvature and outliers."),
    },
    "grouped": {
        "caterpillar": ("Caterpillar plot of the BLUPs",
                        "Each group's predicted deviation from the fixed effects, with an interval from its "
                        "conditional SD; groups sorted by their intercept."),
        "shrinkage": ("Shrinkage: OLS per group vs BLUP",
                      "Each group's own least-squares estimate (no pooling) against the mixed model's estimate "
                      "(partial pooling). Points off the diagonal were pulled toward the average; the pull is "
                      "strongest for extreme or small groups."),
    },
}
DESIGN_FIGURES["crossed"] = DESIGN_FIGURES["grouped"]


def figure_text(name: str, kind: str = "waves") -> tuple[str, str]:
    """The title and caption of figure ``name`` for a design ``kind`` (see :data:`FIGURES`).

    Examples
    --------
    >>> figure_text("spaghetti", "times")[1].startswith("One line per unit through its observations, at")
    True
    """
    return DESIGN_FIGURES.get(kind, {}).get(name, FIGURES[name])


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
    kind = (v.get("design") or {}).get("kind", "waves" if time is not None else "grouped")
    longitudinal = kind in ("waves", "times") and time is not None
    jobs: list[tuple[str, Callable[[Any], Any], tuple[float, float]]] = []
    if longitudinal:
        mean = "smooth" if kind == "times" else "points"  # unit-specific times: a smooth, not a zig-zag
        jobs.append(("spaghetti", one("spaghetti", rep.data, x=time, y=response, unit=unit, mean=mean,
                                      sample=400 if n_units > 400 else None, seed=seed), (6.4, 4.2)))
    else:
        preds = [p for p in (v.get("design") or {}).get("predictors", []) if p in m.data.columns][:4]
        if preds:
            jobs.append(("by_predictor", lambda fig: _by_predictor(fig, m, preds, v["level"]),
                         (min(3.6 * len(preds) + 0.6, 14.0), 3.8)))
        jobs.append(("by_group", lambda fig: _by_group(fig, m, group, seed), (7.0, 3.8)))
    jobs += [
        ("residuals_vs_fitted", one("residuals_vs_fitted", m), (6.0, 4.0)),
        ("qq_residuals", one("qq_residuals", m), (5.0, 4.0)),
        ("qq_ranef", panels("qq_ranef", k, group=group), (3.6 * k, 3.4)),
        ("caterpillar", panels("caterpillar_panels", k, group=group, level=v["level"]), (3.8 * k + 0.6, cat_height)),
    ]
    others = list(dict.fromkeys(t.group for t in m.design.terms if t.group != group))
    if others and not longitudinal:
        height = min(max(3.2, 0.045 * max(t.nlevels for t in m.design.terms if t.group in others) + 1.2), 14.0)
        jobs.append(("caterpillar_other", lambda fig: _caterpillar_other(fig, m, others, v["level"]),
                     (3.8 * len(others) + 0.6, height)))
    extra = [n for n in m.fixef.index if n not in term.cnames]
    if extra:  # per-group OLS on the random terms would not hold these effects: the panels would mislead
        rep.notes.append(f"shrinkage plot skipped: the fixed part has effects ({', '.join(map(str, extra[:4]))}) "
                         f"that are not in the random term of {group}, so per-{group} least-squares estimates "
                         "and the mixed model's coefficients would not estimate the same thing")
    else:
        jobs.append(("shrinkage", panels("shrinkage_panels", k, unit=group, group=group, seed=seed),
                     (4.2 * k, 4.0)))
    if longitudinal:
        jobs.append(("trajectories", one("trajectories", m, x=time, group=group, n=n_trajectories, seed=seed),
                     (6.4, 4.4)))
        jobs.append(("prediction_curve", one("prediction_curve", m, time, level=v["level"]), (6.0, 4.0)))
        if slope:
            jobs.append(("variance_over_time", one("variance_over_time", m, group=group, term=time), (6.0, 4.0)))
            jobs.append(("icc_over_time", one("icc_over_time", m, group=group, term=time), (6.0, 3.6)))
    for name, draw, size in jobs:
        title, caption = figure_text(name, kind)
        if not longitudinal:
            draw = _speak_of_groups(draw)
        try:
            png = render_png(draw, size, dpi=dpi)
        except (AttributeError, ImportError, ValueError, TypeError, KeyError, NotImplementedError) as exc:
            rep.notes.append(f"figure {name!r} skipped: {_first_line(exc)}")
            continue
        rep.figure_png[name] = png
        rep.figure_info[name] = {"title": title, "caption": caption}


def _speak_of_groups(draw: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Wrap a drawing so that the axes' titles and labels say "levels"/"group" where the plots say "units"."""
    import re

    def words(text: str) -> str:
        return re.sub(r"\bunit\b", "group", re.sub(r"\bunits\b", "levels", text))

    def wrapped(fig: Any) -> Any:
        out = draw(fig)
        for ax in fig.axes:
            ax.set_title(words(ax.get_title()))
            ax.set_xlabel(words(ax.get_xlabel()))
            ax.set_ylabel(words(ax.get_ylabel()))
            legend = ax.get_legend()
            if legend is not None:
                for t in legend.get_texts():
                    t.set_text(words(t.get_text()))
        return out
    return wrapped


def _by_predictor(fig: Any, m: Any, preds: list[str], level: float) -> Any:
    """One panel per predictor: the effect curve over the observations, or box plots for a categorical one."""
    import pandas as pd

    from .. import plots

    axes = fig.subplots(1, len(preds), squeeze=False)[0]
    y = m.design.y
    response = m.design.formula.response
    for ax, p in zip(axes, preds):
        col = m.data[p]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col) and col.nunique() > 2:
            plots.prediction_curve(m, p, ax=ax, level=level)
            ax.set_title(f"{response} by {p}", fontsize=10)
            if ax.get_legend() is not None and ax is not axes[0]:
                ax.get_legend().remove()
        else:
            levels = list(pd.unique(col.dropna()))
            try:
                levels = sorted(levels)
            except TypeError:
                pass
            data = [y[(col == lev).to_numpy()] for lev in levels]
            ax.boxplot(data, showfliers=True)
            ax.set_xticks(range(1, len(levels) + 1), [str(lev) for lev in levels], rotation=30 if len(levels) > 6
                          else 0)
            ax.set_xlabel(p)
            ax.set_ylabel(response)
            ax.set_title(f"{response} by {p}", fontsize=10)
    return axes


def _by_group(fig: Any, m: Any, group: str, seed: int | None, max_groups: int = 60) -> Any:
    """Box plots of the response per level of ``group``, sorted by the median (a sample of 60 if more)."""
    import numpy as np
    import pandas as pd

    t = next(t for t in m.design.terms if t.group == group)
    frame = pd.DataFrame({"g": np.asarray(t.codes), "y": m.design.y})
    med = frame.groupby("g")["y"].median().sort_values()
    codes = list(med.index)
    if len(codes) > max_groups:
        rng = np.random.default_rng(seed)
        keep = set(rng.choice(codes, size=max_groups, replace=False).tolist())
        codes = [c for c in codes if c in keep]
    ax = fig.subplots()
    data = [frame.loc[frame["g"] == c, "y"].to_numpy() for c in codes]
    ax.boxplot(data, showfliers=False, widths=0.6)
    labels = [str(t.levels[c]) for c in codes]
    if len(codes) <= 30:
        ax.set_xticks(range(1, len(codes) + 1), labels, rotation=90, fontsize=7)
    else:
        ax.set_xticks([])
    sampled = f"; a random {max_groups} of {t.nlevels}" if len(med) > max_groups else ""
    ax.set_xlabel(f"{group} (sorted by median{sampled})")
    ax.set_ylabel(m.design.formula.response)
    ax.set_title(f"{m.design.formula.response} in each level of {group}", fontsize=10)
    return ax


def _caterpillar_other(fig: Any, m: Any, groups: list[str], level: float) -> Any:
    from .. import plots

    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    for ax, g in zip(axes, groups):
        plots.caterpillar(m, group=g, ax=ax, level=level)
    return axes


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]

