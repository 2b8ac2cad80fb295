"""Quantities derived from data and fits that the longitudinal workflow reports.

* :func:`lm_list`: one ordinary least-squares fit per unit (lme4's ``lmList``), the *no pooling* estimates;
* :func:`unit_coefficients`: each unit's model-implied coefficients (fixed + predicted random effects,
  the *partial pooling* estimates) with their conditional standard deviations;
* :func:`share_positive_slopes`: how many units improve, from the fitted distribution and from the BLUPs;
* :func:`variance_partition`: Var(y_t) split into between-unit and residual parts, and ICC(t), for a model
  with a random intercept and a random slope.

Unit labels are strings, as in ``m.ranef`` and ``m.coef`` (grouping columns are categorical whatever their
type), so the frames returned here line up with each other by index.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from .design import as_pandas, group_codes
from .formula import FormulaError, split_top_level

if TYPE_CHECKING:
    from .design import ReTerm
    from .results import LmerResult

__all__ = ["find_term", "lm_list", "share_positive_slopes", "unit_coefficients", "variance_partition"]


# ---- helpers shared with lmmflow.plots ------------------------------------------------------------------
def find_term(m: LmerResult, group: str | None = None, column: str | None = None) -> ReTerm:
    """The random-effects term of ``m`` for a grouping factor.

    Parameters
    ----------
    m : LmerResult
    group : str, optional
        Grouping factor name as in ``m.ranef`` (``"id"``, ``"batch:cask"``). Default: the term that has
        ``column`` if given, else the first term (the grouping factor with most levels).
    column : str, optional
        A random-effect column the term must have (``"time"``).

    Returns
    -------
    ReTerm
        The term, with ``.group``, ``.group_cols``, ``.cnames``, ``.levels`` and per-row ``.codes``.

    Raises
    ------
    ValueError
        No term for ``group``, or none with ``column``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> find_term(m).group, find_term(m).cnames
    ('Subject', ['(Intercept)', 'Days'])
    """
    terms = list(m.design.terms)
    if group is not None:
        terms = [t for t in terms if t.group == group]
        if not terms:
            raise ValueError(f"no random-effects term for group {group!r}; the model has "
                             f"{[t.group for t in m.design.terms]}")
    if column is not None:
        with_col = [t for t in terms if column in t.cnames]
        if not with_col:
            have = {t.group: t.cnames for t in terms}
            raise ValueError(f"no random effect named {column!r} (random effects: {have}); "
                             "a random slope is needed, e.g. (1 + time | id)")
        terms = with_col
    return terms[0]


def _term_index(m: LmerResult, term: ReTerm) -> int:
    return next(i for i, t in enumerate(m.design.terms) if t is term)


def _split_group(formula: str, group: str | list[str] | None) -> tuple[str, list[str]]:
    """``"y ~ x | g"`` -> (``"y ~ x"``, [``"g"``]); a ``group`` argument wins over the bar."""
    lhs, sep, rhs = formula.partition("~")
    if not sep:
        raise FormulaError(f"formula {formula!r} needs a response: write 'y ~ time'")
    pieces = split_top_level(rhs, "|")
    if len(pieces) > 2 or ("(" in rhs and "|" in rhs):
        raise FormulaError(f"lm_list takes a fixed-effects formula such as 'y ~ time' (optionally 'y ~ time | id'),"
                           f" not random-effect terms: {formula!r}")
    if len(pieces) == 2:
        rhs = pieces[0]
        if group is None:
            group = [g.strip() for g in pieces[1].split(":")]
    if group is None:
        raise ValueError("lm_list needs the grouping column: lm_list('y ~ time', df, 'id') or 'y ~ time | id'")
    groups = [group] if isinstance(group, str) else list(group)
    return f"{lhs.strip()} ~ {rhs.strip()}", groups


# ---- no pooling: one OLS per unit --------------------------------------------------------------------------
def lm_list(formula: str, data: Any, group: str | list[str] | None = None, pool: bool = True) -> pd.DataFrame:
    """One ordinary least-squares fit per unit (lme4's ``lmList``): the no-pooling estimates.

    Parameters
    ----------
    formula : str
        A fixed-effects formula, ``"y ~ time"``; ``"y ~ time | id"`` names the unit column as well.
        The model matrix is built once on all rows (so ``poly(time, 2)`` or categorical codings are the same
        for every unit) and then split by unit.
    data : pandas.DataFrame, polars.DataFrame or dict
        Long-format data. Rows with missing values in the used columns are dropped.
    group : str or list of str, optional
        The unit column (several columns: their interaction). Required unless the formula has ``| id``.
    pool : bool
        Standard errors from the residual SD pooled over all units (lme4's default ``pool = TRUE``, steadier
        with few points per unit); ``False`` uses each unit's own residual SD.

    Returns
    -------
    pandas.DataFrame
        Indexed by unit label (strings, sorted as lme4 sorts levels, like ``m.ranef``), with one column per
        coefficient (``(Intercept)``, ``time``), ``se_<coefficient>`` for each, ``n`` (rows used),
        ``df_resid`` and ``sigma`` (the unit's own residual SD; NaN with no residual df). Units whose
        model matrix has fewer rows than columns, or is rank deficient (e.g. a single distinct time), get
        NaN coefficients. ``attrs`` holds ``n_insufficient`` (how many such units), ``insufficient`` (their
        labels), ``sigma_pooled``, ``n_dropped`` (rows with missing values), ``formula`` and ``group``.

    See Also
    --------
    unit_coefficients : The partial-pooling counterpart from a mixed model.

    Examples
    --------
    >>> import lmmflow as lf
    >>> ols = lf.lm_list("Reaction ~ Days", lf.load_dataset("sleepstudy"), "Subject")
    >>> ols.shape, list(ols.columns[:2])
    ((18, 7), ['(Intercept)', 'Days'])
    >>> round(float(ols.loc["308", "Days"]), 3)
    21.765
    """
    from formulaic import model_matrix

    from .design.fixed import rename_intercept

    fixed_formula, groups = _split_group(formula, group)
    df = as_pandas(data).reset_index(drop=True)  # positions, whatever the caller's index
    missing = [g for g in groups if g not in df.columns]
    if missing:
        raise ValueError(f"unit column(s) {missing} not in the data; columns are {list(df.columns)}")
    try:
        mm = model_matrix(fixed_formula, df)
    except Exception as exc:  # formulaic raises several kinds of errors
        raise FormulaError(f"cannot build {fixed_formula!r} for lm_list: {exc}") from exc
    y = np.asarray(mm.lhs, dtype=float)
    if y.ndim == 2:
        if y.shape[1] != 1:
            raise FormulaError(f"the response of {fixed_formula!r} must be one numeric column")
        y = y[:, 0]
    X = np.asarray(mm.rhs, dtype=float)
    names = rename_intercept([str(c) for c in mm.rhs.columns])
    rows = df.loc[mm.rhs.index, groups]
    keep = rows.notna().all(axis=1).to_numpy()
    X, y, rows = X[keep], y[keep], rows[keep]
    n_dropped = len(df) - len(y)
    codes, levels = group_codes(rows, groups)
    p = X.shape[1]
    nunits = len(levels)
    coefs = np.full((nunits, p), np.nan)
    unscaled_var = np.full((nunits, p), np.nan)
    counts = np.bincount(codes, minlength=nunits)
    df_resid = np.zeros(nunits, dtype=int)
    rss = np.full(nunits, np.nan)
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    for u in range(nunits):
        idx = order[starts[u]:starts[u + 1]]
        Xu, yu = X[idx], y[idx]
        if len(idx) < p or np.linalg.matrix_rank(Xu) < p:
            continue
        beta, _, _, _ = np.linalg.lstsq(Xu, yu, rcond=None)
        coefs[u] = beta
        unscaled_var[u] = np.diag(np.linalg.inv(Xu.T @ Xu))
        df_resid[u] = len(idx) - p
        rss[u] = float(np.sum((yu - Xu @ beta) ** 2))
    fitted_ok = np.isfinite(coefs[:, 0]) if p else counts > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma_unit = np.where(df_resid > 0, np.sqrt(rss / np.maximum(df_resid, 1)), np.nan)
    total_df = int(df_resid[fitted_ok].sum())
    sigma_pooled = math.sqrt(float(np.nansum(rss[fitted_ok])) / total_df) if total_df > 0 else math.nan
    scale = np.full(nunits, sigma_pooled) if pool else sigma_unit
    se = np.sqrt(unscaled_var) * scale[:, None]

    index = pd.Index(levels, name=":".join(groups))
    out = pd.DataFrame(coefs, index=index, columns=names)
    for j, name in enumerate(names):
        out[f"se_{name}"] = se[:, j]
    out["n"] = counts
    out["df_resid"] = df_resid
    out["sigma"] = sigma_unit
    insufficient = [str(lv) for lv, ok in zip(levels, fitted_ok) if not ok]
    out.attrs.update({"n_insufficient": len(insufficient), "insufficient": insufficient,
                      "sigma_pooled": sigma_pooled, "n_dropped": int(n_dropped), "formula": fixed_formula,
                      "group": ":".join(groups), "pool": bool(pool)})
    return out


# ---- partial pooling: per-unit coefficients from the mixed model ----------------------------------------------
def unit_coefficients(m: LmerResult, group: str | None = None) -> pd.DataFrame:
    """Each unit's coefficients from the mixed model (fixed effects + BLUPs), with conditional SDs.

    These are lme4's ``coef(m)``: the partial-pooling estimates, pulled from each unit's own OLS fit toward
    the fixed effects (see :func:`lm_list`).

    Parameters
    ----------
    m : LmerResult
    group : str, optional
        Grouping factor; default the first (the one with most levels).

    Returns
    -------
    pandas.DataFrame
        Indexed by unit label: one column per coefficient, then ``se_<term>`` for each random-effect term
        (the conditional SD of the unit's random effect, ``m.ranef_sd``; it does not include the uncertainty
        of the fixed effects), and ``n`` (observations of the unit used in the fit).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> uc = lf.unit_coefficients(m)
    >>> list(uc.columns)
    ['(Intercept)', 'Days', 'se_(Intercept)', 'se_Days', 'n']
    >>> round(float(uc.loc["308", "Days"]), 2)
    19.67
    """
    term = find_term(m, group)
    out = m.coef[term.group].copy()
    sds = m.ranef_sd[term.group]
    for name in term.cnames:
        out[f"se_{name}"] = sds[name].to_numpy()
    out["n"] = np.bincount(term.codes, minlength=term.nlevels)
    return out


def _random_slope_parts(m: LmerResult, term_name: str, group: str | None) -> tuple[ReTerm, np.ndarray, int]:
    term = find_term(m, group, column=term_name)
    cov = m.re_covariances[_term_index(m, term)]
    return term, cov, term.cnames.index(term_name)


def share_positive_slopes(m: LmerResult, term: str = "time", group: str | None = None) -> dict[str, Any]:
    """Share of units whose slope on ``term`` is positive, two ways.

    * ``from_distribution``: the model's answer for the population of units, P(γ10 + u1 > 0) with
      u1 ~ N(0, τ11), that is Φ(γ10 / √τ11).
    * ``from_blups``: the share of the sampled units whose BLUP-based slope γ10 + û1 is above zero.

    They answer different questions and differ for two reasons. BLUPs are shrunken toward γ10: their
    spread is smaller than √τ11 (the less informative a unit's data, the stronger the pull), so fewer of
    them cross zero than the fitted distribution implies and the BLUP share tends to sit closer to 0 or 1.
    And the units are a finite sample: one unit with a clearly negative slope moves the BLUP share by 1/n
    (in sleepstudy, below, one subject of 18 has a negative slope). With many points per unit the shrinkage
    fades and, with many units, the two agree. Report ``from_distribution`` as the estimate for the
    population; ``from_blups`` describes these units' predicted slopes.

    Parameters
    ----------
    m : LmerResult
        A model with a random slope on ``term``, e.g. ``y ~ time + (1 + time | id)``. The slope's mean is
        taken to be the fixed effect of ``term`` (no interactions with ``term`` in the fixed part).
    term : str
        The slope's column name.
    group : str, optional
        Grouping factor; default the one that has a random effect named ``term``.

    Returns
    -------
    dict
        ``from_distribution``, ``from_blups`` (floats in [0, 1]), ``slope_mean`` (γ10), ``slope_sd``
        (√τ11), ``blup_sd`` (SD of the BLUP-based slopes) and ``n_units``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> s = lf.share_positive_slopes(m, "Days")
    >>> round(s["from_distribution"], 3), round(s["from_blups"], 3)
    (0.961, 0.944)
    """
    t, cov, j = _random_slope_parts(m, term, group)
    if term not in m.fixef.index:
        raise ValueError(f"{term!r} has a random slope but no fixed effect; its mean is taken as 0, "
                         "which is rarely intended: add it to the fixed part")
    mean = float(m.fixef[term])
    sd = math.sqrt(max(float(cov[j, j]), 0.0))
    if sd > 0:
        p_dist = float(stats.norm.sf(0.0, loc=mean, scale=sd))
    else:  # singular fit: every unit has the mean slope
        p_dist = 1.0 if mean > 0 else (0.0 if mean < 0 else 0.5)
    slopes = m.coef[t.group][term].to_numpy()
    return {"from_distribution": p_dist, "from_blups": float(np.mean(slopes > 0)), "slope_mean": mean,
            "slope_sd": sd, "blup_sd": float(np.std(slopes, ddof=1)) if len(slopes) > 1 else math.nan,
            "n_units": int(len(slopes))}


def variance_partition(m: LmerResult, times: Any = None, term: str | None = None,
                       group: str | None = None) -> pd.DataFrame:
    """Var(y_t) = τ00 + 2tτ01 + t²τ11 + σ², split into between-unit and residual parts, and ICC(t).

    With a random slope the share of variance due to units changes with time (it is smallest near
    t = -τ01/τ11); a single ICC from a random-intercept model hides that.

    Parameters
    ----------
    m : LmerResult
        A model with a random intercept and one random slope, ``(1 + time | id)`` or ``(1 + time || id)``.
    times : array-like, optional
        Values of the slope variable; default 101 points over its observed range.
    term : str, optional
        The slope's column; default the term's only non-intercept random effect.
    group : str, optional
        Grouping factor; default the first one with a random slope.

    Returns
    -------
    pandas.DataFrame
        Columns ``time``, ``between`` (τ00 + 2tτ01 + t²τ11), ``residual`` (σ²), ``total`` and ``icc``
        (between / total); ``attrs`` names the slope's ``term`` and ``group``. Other random-effects terms
        of the model are not included.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> vp = lf.derived.variance_partition(m, times=[0, 9])
    >>> vp["icc"].round(2).tolist()
    [0.48, 0.85]
    """
    if term is None:
        slopes = [t for t in m.design.terms if (group is None or t.group == group) and len(t.cnames) == 2
                  and "(Intercept)" in t.cnames]
        if not slopes:
            raise ValueError("variance_partition needs a term with a random intercept and one random slope, "
                             "such as (1 + time | id)")
        term = next(c for c in slopes[0].cnames if c != "(Intercept)")
        group = slopes[0].group
    t, cov, j = _random_slope_parts(m, term, group)
    if "(Intercept)" not in t.cnames or len(t.cnames) != 2:
        raise ValueError(f"variance_partition needs exactly a random intercept and a slope; term | {t.group} has "
                         f"{t.cnames}")
    i = t.cnames.index("(Intercept)")
    if times is None:
        if term not in m.data.columns:
            raise ValueError(f"{term!r} is not a data column; pass times=")
        x = m.data[term].to_numpy(dtype=float)
        times = np.linspace(np.min(x), np.max(x), 101)
    tt = np.asarray(times, dtype=float).ravel()
    between = cov[i, i] + 2.0 * tt * cov[i, j] + tt ** 2 * cov[j, j]
    resid = np.full_like(tt, m.sigma ** 2)
    total = between + resid
    out = pd.DataFrame({"time": tt, "between": between, "residual": resid, "total": total, "icc": between / total})
    out.attrs.update({"term": term, "group": t.group})
    return out
