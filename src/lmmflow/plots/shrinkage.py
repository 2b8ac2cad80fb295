"""Shrinkage: each unit's own OLS estimate (no pooling) against its mixed-model estimate (partial pooling)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.patches import FancyArrowPatch

from ..derived import find_term, lm_list
from ._common import panel_axes, sample_labels, single_axes

if TYPE_CHECKING:
    from ..design import ReTerm
    from ..results import LmerResult

__all__ = ["shrinkage", "shrinkage_frame", "shrinkage_panels"]


def _no_pooling(m: LmerResult, t: ReTerm, formula: str | None) -> pd.DataFrame:
    if formula is None:
        from formulaic import Formula

        # the union of the pieces' terms: (1 | id) + (0 + time | id) gives y ~ 1 + time
        pieces: list[str] = []
        for expr in t.exprs:
            pieces += [str(term) for term in Formula(expr) if str(term) != "1" and str(term) not in pieces]
        intercept = "1" if "(Intercept)" in t.cnames else "0"
        formula = f"{m.design.formula.response} ~ " + " + ".join([intercept, *pieces])
    return lm_list(formula, m.data, list(t.group_cols))


def shrinkage_frame(m: LmerResult, unit: str | None = None, formula: str | None = None) -> pd.DataFrame:
    """No-pooling and partial-pooling estimates side by side, one row per unit.

    Parameters
    ----------
    m : LmerResult
    unit : str, optional
        Grouping factor (``"id"``); default the first (the one with most levels).
    formula : str, optional
        The per-unit OLS formula; default the response on the group's random-effect terms
        (``y ~ 1 + time`` for ``(1 + time | id)``). The comparison is meant for growth models whose fixed
        part is the same as the random part; with extra fixed covariates, the mixed-model coefficients
        (lme4's ``coef``) are not per-unit regressions and the panels compare different things.

    Returns
    -------
    pandas.DataFrame
        Indexed by unit: ``ols_<term>`` and ``blup_<term>`` for each random-effect term, and ``n``. Units
        without an OLS fit have NaN in ``ols_`` columns.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> list(lf.plots.shrinkage_frame(m).columns)
    ['ols_(Intercept)', 'ols_Days', 'blup_(Intercept)', 'blup_Days', 'n']
    """
    t = find_term(m, unit)
    ols = _no_pooling(m, t, formula)
    coef = m.coef[t.group]
    out = pd.DataFrame(index=coef.index)
    for name in t.cnames:
        out[f"ols_{name}"] = ols[name].reindex(coef.index) if name in ols.columns else np.nan
    for name in t.cnames:
        out[f"blup_{name}"] = coef[name]
    out["n"] = np.bincount(t.codes, minlength=t.nlevels)
    return out


def _draw(ax: Any, frame: pd.DataFrame, name: str, fixed: float, max_units: int | None,
          seed: int | None) -> tuple[int, int]:
    ok = frame[f"ols_{name}"].notna()
    labels = sample_labels(list(frame.index[ok]), max_units, seed)
    x = frame.loc[labels, f"ols_{name}"].to_numpy()
    y = frame.loc[labels, f"blup_{name}"].to_numpy()
    alpha = float(np.clip(12.0 / np.sqrt(max(len(x), 1)) / 3.0, 0.15, 0.8))
    ax.axline((fixed, fixed), slope=1.0, color="0.5", lw=1, ls="--", label="no pooling (y = x)")
    ax.axhline(fixed, color="C3", lw=1.2, ls=":", label="fixed effect (complete pooling)")
    for xi, yi in zip(x, y):
        ax.add_patch(FancyArrowPatch((xi, xi), (xi, yi), arrowstyle="-|>", mutation_scale=7, lw=0.7,
                                     color="C0", alpha=alpha, shrinkA=0, shrinkB=0))
    ax.scatter(x, y, s=9, color="C0", alpha=min(1.0, alpha + 0.2), edgecolors="none", zorder=3,
               label="partial pooling (BLUP)")
    if len(x):
        lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
        pad = 0.05 * (hi - lo if hi > lo else 1.0)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
    return len(x), int(ok.sum())


def _same_decimals(a: float, b: float) -> str:
    """The label's two SDs with one number of decimals (three significant digits of the larger), so they compare.

    >>> _same_decimals(10.71, 9.534), _same_decimals(1.862, 0.6296)
    ('10.7, BLUP 9.5', '1.86, BLUP 0.63')
    """
    big = max(abs(v) for v in (a, b) if np.isfinite(v)) if np.isfinite([a, b]).any() else 0.0
    dec = int(min(6, max(0, 2 - np.floor(np.log10(big))))) if big > 0 else 2
    return f"{a:.{dec}f}, BLUP {b:.{dec}f}"


def shrinkage(m: LmerResult, unit: str | None = None, term: str | None = None, ax: Any = None,
              formula: str | None = None, max_units: int | None = 400, seed: int | None = None,
              legend: bool = True) -> Any:
    """Shrinkage of one coefficient: each unit's OLS estimate against its mixed-model estimate.

    Each unit is an arrow starting on the diagonal at its own OLS estimate (x = y = no pooling) and ending
    at its partial-pooling estimate (fixed effect + BLUP, y), so arrows point toward the horizontal line at
    the fixed effect (complete pooling). Long arrows mean strong shrinkage: units with extreme OLS
    estimates, few observations or noisy data borrow most from the others.

    Parameters
    ----------
    m : LmerResult
    unit : str, optional
        Grouping factor (``"id"``); default the first (the one with most levels).
    term : str, optional
        ``"(Intercept)"`` (the default when the group has one) or a slope such as ``"time"``.
    ax : matplotlib.axes.Axes, optional
    formula : str, optional
        Per-unit OLS formula, see :func:`shrinkage_frame`.
    max_units : int or None
        Draw at most this many units, a random sample (the title says so); None draws all.
    seed : int, optional
        Seed of that sample.
    legend : bool

    Returns
    -------
    matplotlib.axes.Axes
        One ``FancyArrowPatch`` per unit drawn (units without an OLS fit are skipped) and one scatter
        collection of the partial-pooling estimates.

    See Also
    --------
    shrinkage_panels : Intercepts and slopes side by side.
    lmmflow.lm_list : The no-pooling fits.

    Examples
    --------
    >>> import lmmflow as lf
    >>> from matplotlib.patches import FancyArrowPatch
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> ax = lf.plots.shrinkage(m, term="Days")
    >>> sum(isinstance(p, FancyArrowPatch) for p in ax.patches)
    18
    """
    frame = shrinkage_frame(m, unit, formula)
    t = find_term(m, unit)
    return _shrinkage_on(m, frame, t, term, single_axes(ax, figsize=(5.2, 5.0)), max_units, seed, legend)


def _shrinkage_on(m: LmerResult, frame: pd.DataFrame, t: ReTerm, term: str | None, ax: Any,
                  max_units: int | None, seed: int | None, legend: bool) -> Any:
    name = term or ("(Intercept)" if "(Intercept)" in t.cnames else t.cnames[0])
    if name not in t.cnames:
        raise ValueError(f"{name!r} is not a random effect of {t.group!r}; choose from {t.cnames}")
    fixed = float(m.fixef.get(name, 0.0))
    drawn, fitted = _draw(ax, frame, name, fixed, max_units, seed)
    sd_ols = float(np.nanstd(frame[f"ols_{name}"], ddof=1)) if fitted > 1 else np.nan
    sd_blup = float(np.std(frame[f"blup_{name}"], ddof=1)) if len(frame) > 1 else np.nan
    ax.set_xlabel(f"OLS estimate per {t.group} (no pooling)")
    ax.set_ylabel("Mixed-model estimate (partial pooling)")
    shown = f"{drawn} of {len(frame)}" if drawn < len(frame) else f"{drawn}"
    ax.set_title(f"Shrinkage of {name} ({shown} units)")
    ax.text(0.98, 0.02, f"SD across units: OLS {_same_decimals(sd_ols, sd_blup)}", transform=ax.transAxes,
            ha="right", va="bottom", fontsize=8, color="0.3")
    if legend:
        ax.legend(loc="upper left", frameon=False, fontsize=8)
    return ax


def shrinkage_panels(m: LmerResult, unit: str | None = None, axes: Any = None, formula: str | None = None,
                     max_units: int | None = 400, seed: int | None = None) -> np.ndarray:
    """Shrinkage of every random-effect term of a group (intercept and slope) side by side.

    Parameters
    ----------
    m : LmerResult
    unit : str, optional
    axes : array of matplotlib.axes.Axes, optional
        At least one per term; default a new row of panels.
    formula, max_units, seed
        As in :func:`shrinkage` (the same sample of units in every panel).

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        One per term, each as :func:`shrinkage` draws it.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> [ax.get_title() for ax in lf.plots.shrinkage_panels(m)]
    ['Shrinkage of (Intercept) (18 units)', 'Shrinkage of Days (18 units)']
    """
    t = find_term(m, unit)
    frame = shrinkage_frame(m, unit, formula)
    out = panel_axes(len(t.cnames), axes, ncols=len(t.cnames), panel_size=(4.6, 4.5))
    for k, (ax, name) in enumerate(zip(out, t.cnames)):
        _shrinkage_on(m, frame, t, name, ax, max_units, seed, legend=k == 0)
    return out
