"""Standard errors and confidence intervals of GLMM predictions (``GlmerResult.predict(se_fit=, interval=)``).

lme4 1.1-31's ``predict`` ignores ``se.fit`` for glmer fits, so this follows what R users get elsewhere.

- Population level (``re_form="~0"``): the variance of the linear predictor is ``x' V x``, with V the fit's
  vcov. These are the numbers of ``emmeans`` and ``insight::get_predicted``.
- Conditional predictions (random effects included): the variance is that of lmmflow's LMM predictions and of
  lme4 >= 1.1-35's ``se.fit``, the joint covariance of ``(b_hat - b, beta_hat)``. It is computed from the final
  PIRLS system, with W the working weights at the modes, ``A = Lambda'Z'WZ Lambda + I`` and ``B = Lambda'Z'WX``:

      var = z~' A^-1 z~ + (x - B'A^-1 z~)' V (x - B'A^-1 z~),     z~ = Lambda' z.

  lme4 >= 1.1-35 puts the RX-based ``(X'WX - B'A^-1 B)^-1`` where this has V. The two differ by what vcov's
  Hessian and RX estimates differ by (0.4 % or less on the reference cases).
- A level not seen in the fit (``allow_new_levels=True``) gets random effect 0, and the variance ``z' Sigma z``
  of its random effect is added.

Intervals are ``eta -+ z_{(1+level)/2} se`` on the link scale. For ``type="response"`` they are transformed by
the inverse link, so they stay inside (0, 1) or (0, inf), and ``se_fit`` is the delta method's
``|dmu/deta| se`` (emmeans' response-scale SE; lme4 >= 1.1-35's). The uncertainty of theta is ignored, as in
all of these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

if TYPE_CHECKING:
    from ..results.glmm import GlmerResult

__all__ = ["glmm_predict_interval"]

PREDICTION_REFUSED = (
    "interval='prediction': a binomial or Poisson response has no normal prediction interval, and R offers "
    "no standard one for glmer. Draw new responses instead: sims = g.simulate(1000, newdata=new, "
    "re_form=...) and take sims.quantile([0.025, 0.975], axis=1); or use interval='confidence' for the mean")


def glmm_predict_interval(g: GlmerResult, newdata: Any = None, re_form: Any = None, type: str = "link",  # noqa: A002
                          interval: str | None = None, level: float = 0.95, allow_new_levels: bool = False,
                          na_action: str = "na.pass") -> pd.DataFrame:
    """GLMM predictions with standard errors and, optionally, confidence intervals (see the module docstring).

    Parameters
    ----------
    g : GlmerResult
    newdata : DataFrame, optional
        Rows to predict (default: the rows used in the fit).
    re_form : None, "~0" / NA, or a formula of random terms
        The random effects included, as :meth:`lmmflow.GlmerResult.predict`.
    type : {"link", "response"}
    interval : {None, "confidence"}
        ``"prediction"`` is refused: it names what to use instead (:meth:`~lmmflow.GlmerResult.simulate`).
    level : float
    allow_new_levels : bool
    na_action : {"na.pass", "na.omit", "na.exclude", "na.fail"}

    Returns
    -------
    pandas.DataFrame
        fit, se_fit (with ``interval``: fit, lower, upper, se_fit), indexed as ``newdata``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> df = lf.load_dataset("cbpp")
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", df, family="binomial")
    >>> glmm_predict_interval(g, df.head(2), re_form="~0", type="response", interval="confidence").round(3)
         fit  lower  upper  se_fit
    0  0.198  0.135  0.280   0.037
    1  0.084  0.047  0.144   0.024
    """
    from ..results.predict import finish_rows, parse_re_form, prediction_rows
    from .prediction import prediction_se

    if type not in ("link", "response"):
        raise ValueError(f"type={type!r}: use 'link' (the linear predictor) or 'response' (the mean)")
    if interval is not None:
        interval = str(interval).lower()
        if interval == "prediction":
            raise ValueError(PREDICTION_REFUSED)
        if interval != "confidence":
            raise ValueError(f"interval={interval!r}: use 'confidence' (a GLMM has no normal prediction interval)")
    level = float(level)
    if not 0 < level < 1:
        raise ValueError(f"level={level}: a confidence level strictly between 0 and 1")
    include = parse_re_form(re_form, g.design.terms, g.data)
    rows = prediction_rows(g, newdata, include, allow_new_levels, na_action)
    eta = rows.fit(g, include)
    se = prediction_se(g, rows, include, factor=g.working_factor() if include else None)
    fam = g.family_object
    if type == "link":
        fit, se_out = eta, se
    else:
        fit = np.asarray(fam.linkinv(eta), dtype=float)
        se_out = se * np.abs(np.asarray(fam.mu_eta(eta), dtype=float))
    if interval is None:
        return finish_rows(rows, pd.DataFrame({"fit": fit, "se_fit": se_out}, index=rows.index))
    q = stats.norm.ppf(0.5 + level / 2)
    lo, hi = eta - q * se, eta + q * se
    if type == "response":  # every link is increasing: the ends map to the ends
        lo, hi = np.asarray(fam.linkinv(lo), dtype=float), np.asarray(fam.linkinv(hi), dtype=float)
    out = pd.DataFrame({"fit": fit, "lower": lo, "upper": hi, "se_fit": se_out}, index=rows.index)
    return finish_rows(rows, out)
