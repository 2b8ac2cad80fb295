"""Confidence and prediction intervals for predictions from a fit (``predict(..., interval=...)``).

For a new row with fixed-effects values x and random-effects values z_k (term k):

* population level (``re_form="~0"``): the prediction is ``x'beta_hat``.  Its confidence interval uses
  ``var = x' V_beta x``; a prediction interval for a new observation of a *new* unit adds the
  random-effect variance and the residual variance, ``+ sum_k z_k' Sigma_k z_k + sigma^2``.
* unit level (``re_form=None``, the use case of merTools' ``predictInterval``): the prediction is
  ``x'beta_hat + sum_k z_k' b_hat_k[level]`` and ``var = x' V_beta x + sum_k z_k' C_k[level] z_k`` with
  ``C_k[level]`` the conditional covariance of that level's random effects (lme4's ``condVar``); a
  prediction interval adds ``sigma^2``.  A level not seen in the fit (``allow_new_levels=True``) gets
  the population prediction for that term and its variance ``z_k' Sigma_k z_k`` instead.

Intervals are ``fit -+ z_{(1+level)/2} * sqrt(var)`` with the normal quantile.  As in merTools, the
uncertainty of the covariance parameters is ignored, and so is the covariance between ``beta_hat`` and
the conditional modes (the unit-level variance is the sum of the two parts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ..design import as_pandas, encode_groups
from ..results.predict import population_only, random_part

if TYPE_CHECKING:
    from ..results.model import LmerResult

__all__ = ["predict_interval"]

INTERVALS = ("confidence", "prediction")


def predict_interval(m: LmerResult, newdata: Any = None, re_form: Any = None, interval: str = "confidence",
                     level: float = 0.95, allow_new_levels: bool = True) -> pd.DataFrame:
    """Predictions with confidence or prediction intervals.

    Parameters
    ----------
    m : LmerResult
    newdata : DataFrame, optional
        Rows to predict (default: the rows used in the fit).
    re_form : None or "~0"
        ``None``: unit-level predictions (with each row's random effects); ``"~0"`` (or ``"NA"``,
        ``False``): population-level predictions.
    interval : {"confidence", "prediction"}
        An interval for the mean of the prediction, or for a new observation.
    level : float
    allow_new_levels : bool
        Rows of levels not seen in the fit get the population prediction with the random-effect variance;
        with ``False`` they raise.

    Returns
    -------
    pandas.DataFrame
        fit, lower, upper (and se_fit, the standard deviation used), indexed as ``newdata``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> new = lf.load_dataset("sleepstudy").head(2)
    >>> m.predict(new, re_form="~0", interval="confidence").round(1).to_numpy().tolist()
    [[251.4, 238.0, 264.8, 6.8], [261.9, 248.6, 275.2, 6.8]]
    """
    interval = str(interval).lower()
    if interval not in INTERVALS:
        raise ValueError(f"interval={interval!r}: use 'confidence' or 'prediction'")
    level = float(level)
    if not 0 < level < 1:
        raise ValueError(f"level={level}: a confidence level strictly between 0 and 1")
    pop = population_only(re_form)
    if newdata is None:
        data = m.data
        X = m.design.X
        offset = m.offset if m.offset is not None else 0.0
    else:
        data = as_pandas(newdata)
        X = m.design.fixed.encode(data)
        offset = 0.0
    beta = m.solution.beta
    V = m.vcov.to_numpy()
    fit = X @ beta + offset
    var = np.einsum("ij,jk,ik->i", X, V, X)
    if not pop:
        fit = fit + random_part(m, data, allow_new_levels)
    sigma2 = m.sigma ** 2
    covs = m.re_covariances
    cond = m.cond_cov_blocks if not pop else None
    for k, term in enumerate(m.design.terms):
        if pop and interval == "confidence":
            break
        Z = term.encode(data) if newdata is not None else term.Z
        marginal = np.einsum("ia,ab,ib->i", Z, covs[k], Z)
        if pop:
            var += marginal
            continue
        codes = encode_groups(term, data) if newdata is not None else term.codes
        new = codes < 0
        C = cond[k][np.where(new, 0, codes)]
        var += np.where(new, marginal, np.einsum("ia,iab,ib->i", Z, C, Z))
    if interval == "prediction":
        w = m.weights if newdata is None else None
        var += sigma2 / w if w is not None else sigma2
    se = np.sqrt(np.maximum(var, 0.0))
    q = stats.norm.ppf(0.5 + level / 2)
    return pd.DataFrame({"fit": fit, "lower": fit - q * se, "upper": fit + q * se, "se_fit": se},
                         index=data.index)
