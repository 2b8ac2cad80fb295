"""statsmodels ``MixedLM``: one grouping factor with a random intercept and/or correlated slopes.

Crossed or uncorrelated random effects are reported as "cannot express" (statsmodels would need a single
all-rows group with variance components, which is a different and far slower computation).  Large data
are subsampled by groups, because MixedLM takes minutes on a tenth of the 800k-row growth data; the
record then says so and its objective is not comparable with the other libraries'.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmmflow.formula import ParsedFormula, parse_formula, split_top_level

from ..data import subsample_groups
from ..problems import Problem
from .base import FitOutput

NAME = "statsmodels"
KINDS = ("fit", "warm")
AUTO_FRACTION = 0.1
"""Share of groups kept when ``fraction`` is ``"auto"`` and the data exceed :data:`AUTO_ROWS` rows."""
AUTO_ROWS = 200_000


def version() -> str:
    """statsmodels' version (importing it before the data are loaded)."""
    import statsmodels
    import statsmodels.formula.api  # noqa: F401  (loaded before the data, as the lmmflow adapter does)

    return statsmodels.__version__


def cannot_express(problem: Problem) -> str | None:
    """Why MixedLM cannot fit ``problem``, or ``None`` if it can.

    Parameters
    ----------
    problem : Problem

    Returns
    -------
    str or None
    """
    f = parse_formula(problem.formula)
    structured = sorted({term.kind for term in f.random if term.kind not in (None, "us")})
    if structured:
        return f"structured covariance {', '.join(f'{k}()' for k in structured)}; MixedLM has unstructured only"
    groups = _groups(f)
    if len(groups) != 1:
        return f"crossed/multiple grouping factors ({', '.join(groups) or 'none'}); MixedLM takes one"
    if len(f.random) != 1 or not f.random[0].correlated:
        return "uncorrelated or repeated random terms"
    return None


def _groups(f: ParsedFormula) -> tuple[str, ...]:
    """The distinct grouping factors of a parsed formula, in order of appearance."""
    return tuple(dict.fromkeys(term.group_name for term in f.random))


def _re_formula(expr: str) -> str:
    """statsmodels' ``re_formula`` for one lme4 random-term expression (``"1 + t"`` -> ``"~1 + t"``)."""
    parts = [p.strip() for p in split_top_level(expr, "+") if p.strip()]
    if not any(p in ("0", "-1") or p.replace(" ", "").endswith("-1") for p in parts):
        parts = [p for p in parts if p != "1"]
        parts.insert(0, "1")
    return "~" + " + ".join(parts)


def prepare(problem: Problem, frame: pd.DataFrame, options: dict[str, Any]) -> tuple[pd.DataFrame, float, str]:
    """Subsample groups of large data.

    Parameters
    ----------
    problem : Problem
    frame : pandas.DataFrame
    options : dict
        ``fraction``: share of groups to keep, or ``"auto"`` (default: :data:`AUTO_FRACTION` above
        :data:`AUTO_ROWS` rows, else all).

    Returns
    -------
    frame : pandas.DataFrame
    fraction : float
    note : str
    """
    fraction = options.get("fraction", "auto")
    if fraction == "auto":
        fraction = AUTO_FRACTION if len(frame) > AUTO_ROWS else 1.0
    fraction = float(fraction)
    if fraction >= 1:
        return frame, 1.0, ""
    group = _groups(parse_formula(problem.formula))[0]
    small = subsample_groups(frame, group, fraction)
    note = f"on {fraction:.0%} of the {group} groups ({len(small):,} of {len(frame):,} rows); objective not comparable"
    return small, fraction, note


def _theta(cov_re: np.ndarray, scale: float) -> list[float]:
    """lme4's theta: the lower Cholesky factor of cov_re / sigma^2, column by column."""
    rel = np.asarray(cov_re, dtype=float) / scale
    try:
        chol = np.linalg.cholesky(rel)
    except np.linalg.LinAlgError:
        return []
    return [float(v) for v in chol.T[np.triu_indices(len(chol))]]


def fit_model(problem: Problem, frame: pd.DataFrame) -> Any:
    """The timed part: ``statsmodels.formula.api.mixedlm(...).fit`` (default optimizers)."""
    import statsmodels.formula.api as smf

    f = parse_formula(problem.formula)
    term = f.random[0]
    model = smf.mixedlm(f"{f.response} ~ {f.fixed}", frame, groups=frame[term.group_name],
                        re_formula=_re_formula(term.expr))
    return model.fit(reml=problem.reml)


def summarize(res: Any) -> FitOutput:
    """The estimates of a fit from :func:`fit_model` (not timed); ``objective`` is ``-2 * llf``."""
    return FitOutput(objective=float(-2 * res.llf), fixef={k: float(v) for k, v in res.fe_params.items()},
                     sigma=float(np.sqrt(res.scale)), theta=_theta(res.cov_re, res.scale),
                     converged=bool(res.converged), info={"optimizer": str(res.method)})


def fit(problem: Problem, frame: pd.DataFrame) -> FitOutput:
    """Fit ``problem`` with ``statsmodels.formula.api.mixedlm`` (default optimizers).

    Parameters
    ----------
    problem : Problem
    frame : pandas.DataFrame

    Returns
    -------
    FitOutput
        ``objective`` is ``-2 * llf`` (REML or ML log-likelihood, as asked).
    """
    return summarize(fit_model(problem, frame))


def extra_info() -> dict[str, str]:
    """Versions of the numerical stack under statsmodels."""
    import scipy

    return {"numpy": np.__version__, "scipy": scipy.__version__, "pandas": pd.__version__}
