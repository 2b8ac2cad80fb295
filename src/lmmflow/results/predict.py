"""Predictions for new data and simulation of new responses from a fit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..design import as_pandas, encode_groups
from ..design.frame import DataError

if TYPE_CHECKING:
    from .model import LmerResult

__all__ = ["population_only", "predict", "random_part", "simulate"]


def population_only(re_form: Any) -> bool:
    """True when ``re_form`` asks for fixed effects only (lme4's ``re.form = NA`` or ``~0``)."""
    if re_form is None:
        return False
    if re_form is False:
        return True
    if isinstance(re_form, str):
        return re_form.replace(" ", "") in {"~0", "NA", "0", "~1-1"}
    if isinstance(re_form, float) and np.isnan(re_form):
        return True
    raise ValueError(f"re_form={re_form!r}: use None (all random effects) or '~0' (none)")


def random_part(m: LmerResult, data: pd.DataFrame, allow_new_levels: bool = True) -> np.ndarray:
    """Z b for new data (0 for levels the fit has not seen)."""
    out = np.zeros(len(data))
    for term, b in zip(m.design.terms, m.solution.b):
        missing = [c for c in term.group_cols if c not in data.columns]
        if missing:
            raise DataError(f"newdata lacks grouping column(s) {missing} of term | {term.group}; "
                            "add them or use re_form='~0' for population-level predictions")
        codes = encode_groups(term, data)
        new = codes < 0
        if new.any() and not allow_new_levels:
            levels = pd.unique(data.loc[new, list(term.group_cols)].astype(str).agg(":".join, axis=1))[:5]
            raise DataError(f"newdata has level(s) of {term.group!r} not in the fit (e.g. {list(levels)}); "
                            "pass allow_new_levels=True to predict them at the population level")
        Z = term.encode(data)
        vals = np.einsum("ip,ip->i", Z, b[np.where(new, 0, codes)])
        out += np.where(new, 0.0, vals)
    return out


def predict(m: LmerResult, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = True,
            interval: str | None = None, level: float = 0.95) -> pd.Series | pd.DataFrame:
    """Predictions; see :meth:`LmerResult.predict`."""
    if interval is not None:
        from ..inference.prediction import predict_interval

        return predict_interval(m, newdata, re_form=re_form, interval=interval, level=level,
                                allow_new_levels=allow_new_levels)
    pop = population_only(re_form)
    if newdata is None:
        vals = m._linear_predictor(with_re=not pop)
        return pd.Series(vals, index=m.data.index, name="predicted")
    data = as_pandas(newdata)
    X = m.design.fixed.encode(data)
    vals = X @ m.solution.beta
    if not pop:
        vals = vals + random_part(m, data, allow_new_levels)
    return pd.Series(vals, index=data.index, name="predicted")


def simulate(m: LmerResult, nsim: int = 1, seed: int | None = None, use_u: bool = False) -> pd.DataFrame:
    """Responses simulated from the fitted model: new random effects (unless ``use_u``) and residuals."""
    rng = np.random.default_rng(seed)
    n = m.nobs
    base = m._linear_predictor(with_re=False)
    w = m.weights
    scale = m.sigma / (np.sqrt(w) if w is not None else 1.0)
    lams = m.devfun.factor.lambdas_of(m.solution.theta)
    zero = np.zeros_like(m.solution.beta)
    out = np.empty((n, nsim))
    for s in range(nsim):
        if use_u:
            bs = m.solution.b
        else:
            bs = [rng.standard_normal((term.nlevels, term.p)) @ lam.T * m.sigma
                  for term, lam in zip(m.design.terms, lams)]
        y = base + m._linear_predictor(beta=zero, b=bs, add_offset=False)
        out[:, s] = y + scale * rng.standard_normal(n)
    return pd.DataFrame(out, index=m.data.index, columns=[f"sim_{i + 1}" for i in range(nsim)])
