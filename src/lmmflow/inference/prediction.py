"""Standard errors and intervals of predictions from a fit (``predict(..., se_fit=True)``, ``interval=...``).

For a row with fixed-effects values x and random-effects values z (the columns ``re_form`` includes), the
prediction is ``x'beta_hat + z'b_hat`` and, as lme4's ``predict(se.fit=TRUE)`` (lme4 >= 1.1-35), its variance
is ``[z x]' C [z x]`` with C the joint covariance of the estimates ``(b_hat - b, beta_hat)`` from the
mixed-model equations: with ``A = Lambda'Z'WZ Lambda + I`` and ``B = Lambda'Z'WX``,

    var = sigma^2 z~' A^-1 z~ + (x - B'A^-1 z~)' V_beta (x - B'A^-1 z~),   z~ = Lambda' z,

which includes the covariance of the fixed and random estimates (the sum of the two parts alone can be
many times too large: lme4's own test gives 0.027 where that sum gives 0.452).  ``re_form="~0"`` gives
``x' V_beta x``.

A level the fit has not seen (``allow_new_levels=True``) has no estimate: its random effect is predicted
as 0, and its variance ``z' Sigma z`` (the random effect's distribution) is added.  lme4 adds nothing for
such rows (it pads C with zeros), which understates the uncertainty of a new unit's prediction.

A prediction interval adds the residual variance ``sigma^2`` (over the prior weight for the fitted rows)
and, for the random terms left out by ``re_form``, their variance ``z' Sigma z``.  Intervals are
``fit -+ z_{(1+level)/2} * se`` with the normal quantile; the uncertainty of the covariance parameters is
ignored, as in lme4 and merTools.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ..core.crossprod import row_block, row_ranges
from ..design.frame import DataError

if TYPE_CHECKING:
    from ..results.model import LmerResult
    from ..results.predict import PredictionRows

__all__ = ["predict_interval", "prediction_se"]

INTERVALS = ("confidence", "prediction")

_CHUNK_VALUES = 1 << 22
"""Values of A^-1 z~ held at once when several terms need cross blocks of A^-1 (32 MiB)."""


def _lambda_t_times(lam: np.ndarray, M: np.ndarray, nlevels: int) -> np.ndarray:
    """(I kron Lambda)' M for M with q = nlevels * p rows (level-major)."""
    p = lam.shape[0]
    cols = M.shape[1]
    return np.einsum("ba,lbc->lac", lam, M.reshape(nlevels, p, cols)).reshape(nlevels * p, cols)


def prediction_se(m: LmerResult, rows: PredictionRows, include: dict[int, np.ndarray], factor: Any = None
                  ) -> np.ndarray:
    """Standard error of each prediction (lme4's ``se.fit``; new levels add ``z' Sigma z``).

    Parameters
    ----------
    m : LmerResult
    rows : PredictionRows
        The rows predicted, as :func:`lmmflow.results.predict.prediction_rows` forms them.
    include : dict
        Term index -> mask of the columns included (:func:`lmmflow.results.predict.parse_re_form`).
    factor : BlockedCholesky, optional
        The factor of the mixed-model equations at theta (default: the LMM's own); a GLMM passes that of
        its final PIRLS system (:meth:`lmmflow.GlmerResult.working_factor`).
    """
    X = rows.X
    V = m.vcov.to_numpy()
    sigma2 = m.sigma ** 2
    n = X.shape[0]
    if not include:
        return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", X, V, X), 0.0))
    f = factor if factor is not None else m.devfun.factor_at(m.solution.theta)  # its own: the result's is not moved
    cp = f.cp
    lams = f.lambdas
    px = X.shape[1]
    # M = A^-1 B (q x p), per term; B_k = Lambda_k' Z_k'W X
    B = [_lambda_t_times(lam, cp.xz[k][:px].T.copy(), cp.blocks[k].nlevels) for k, lam in enumerate(lams)]
    M = f.solve_m(B) if px else [np.zeros((b.q, 0)) for b in cp.blocks]
    # z~ of each row per included term: (n x p_k) values at the row's level (zero for new levels)
    zt: dict[int, np.ndarray] = {}
    extra = np.zeros(n)
    for k, mask in include.items():
        Z = rows.Z[k] * mask
        codes = rows.codes[k]
        new = codes < 0
        if new.any():  # a new level: no estimate, the random effect's own variance
            cov = m.re_covariances[k]
            extra += np.where(new, np.einsum("ia,ab,ib->i", Z, cov, Z), 0.0)
            Z = np.where(new[:, None], 0.0, Z)
        zt[k] = Z @ lams[k]  # row i: (Lambda' z_i)' = z_i' Lambda
    w = np.zeros((n, px))
    for k, z in zt.items():
        lv = np.maximum(rows.codes[k], 0)
        p = cp.blocks[k].p
        Mk = M[k].reshape(cp.blocks[k].nlevels, p, px)
        w += np.einsum("ia,iac->ic", z, Mk[lv])
    d = X - w
    var = np.einsum("ij,jk,ik->i", d, V, d) + extra
    var += sigma2 * _quad_a_inverse(f, cp, zt, rows.codes)
    return np.sqrt(np.maximum(var, 0.0))


def _quad_a_inverse(f: Any, cp: Any, zt: dict[int, np.ndarray], codes: dict[int, np.ndarray]) -> np.ndarray:
    """z~_i' A^-1 z~_i for each row."""
    n = next(iter(zt.values())).shape[0]
    if len(zt) == 1:  # one term: the per-level diagonal blocks of A^-1 are all it needs
        (k, z), = zt.items()
        Vk = f.inverse_diag_blocks()[k]
        lv = np.maximum(codes[k], 0)
        return np.einsum("ia,iab,ib->i", z, Vk[lv], z)
    q = sum(b.q for b in cp.blocks)
    step = max(1, _CHUNK_VALUES // max(q, 1))
    out = np.empty(n)
    for a in range(0, n, step):
        e = min(n, a + step)
        rhs = [np.zeros((b.q, e - a)) for b in cp.blocks]
        for k, z in zt.items():
            p = cp.blocks[k].p
            lv = np.maximum(codes[k][a:e], 0)
            cols = np.arange(e - a)
            for j in range(p):
                rhs[k][lv * p + j, cols] = z[a:e, j]
        sol = f.solve_m(rhs)
        out[a:e] = sum(np.einsum("qc,qc->c", r, s) for r, s in zip(rhs, sol))
    return out


def predict_interval(m: LmerResult, newdata: Any = None, re_form: Any = None, interval: str | None = "confidence",
                     level: float = 0.95, allow_new_levels: bool = False, na_action: str = "na.pass"
                     ) -> pd.DataFrame:
    """Predictions with standard errors, and confidence or prediction intervals.

    Parameters
    ----------
    m : LmerResult
    newdata : DataFrame, optional
        Rows to predict (default: the rows used in the fit).
    re_form : None, "~0" / NA, or a formula of random terms
        As :meth:`lmmflow.LmerResult.predict`: the random effects included.
    interval : {"confidence", "prediction", None}
        An interval for the mean of the prediction, for a new observation, or none (``fit`` and
        ``se_fit`` only, lme4's ``se.fit=TRUE``).
    level : float
    allow_new_levels : bool
        Rows of levels not seen in the fit get the population prediction for that term and its variance;
        with ``False`` they raise.
    na_action : {"na.pass", "na.omit", "na.exclude", "na.fail"}
        Rows of ``newdata`` with missing values, as :meth:`lmmflow.LmerResult.predict`.

    Returns
    -------
    pandas.DataFrame
        fit, se_fit (with ``interval``: fit, lower, upper, se_fit), indexed as ``newdata``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> new = lf.load_dataset("sleepstudy").head(2)
    >>> m.predict(new, re_form="~0", interval="confidence").round(1).to_numpy().tolist()
    [[251.4, 238.0, 264.8, 6.8], [261.9, 248.6, 275.2, 6.8]]
    >>> m.predict(new, se_fit=True).round(2).to_numpy().tolist()
    [[253.66, 12.25], [273.33, 10.54]]
    """
    from ..results.predict import finish_rows, parse_re_form, prediction_rows

    if getattr(m, "model_kind", None) == "glmm":
        raise TypeError("predict_interval is for linear mixed models (lf.lmer fits); for a glmer fit use "
                        "g.predict(newdata, se_fit=True) or g.predict(newdata, interval='confidence')")
    if interval is not None:
        interval = str(interval).lower()
        if interval not in INTERVALS:
            raise ValueError(f"interval={interval!r}: use 'confidence' or 'prediction'")
    level = float(level)
    if not 0 < level < 1:
        raise ValueError(f"level={level}: a confidence level strictly between 0 and 1")
    include = parse_re_form(re_form, m.design.terms, m.data)
    rows = prediction_rows(m, newdata, include, allow_new_levels, na_action, all_terms=True)
    fit = rows.fit(m, include)
    se = prediction_se(m, rows, include)
    if interval is None:
        return finish_rows(rows, pd.DataFrame({"fit": fit, "se_fit": se}, index=rows.index))
    var = se ** 2
    if interval == "prediction":
        for k, term in enumerate(m.design.terms):  # random effects left out: their distribution
            left = ~include.get(k, np.zeros(term.p, dtype=bool))
            if left.any():
                if k not in rows.Z:
                    raise DataError(f"a prediction interval adds the variance of the random term | {term.group} "
                                    f"left out by re_form, and newdata lacks the columns of its effects "
                                    f"{term.cnames}: add them")
                Z = rows.Z[k] * left
                var += np.einsum("ia,ab,ib->i", Z, m.re_covariances[k], Z)
        w = rows.weights
        var += m.sigma ** 2 / w if w is not None else m.sigma ** 2
    se = np.sqrt(var)
    q = stats.norm.ppf(0.5 + level / 2)
    out = pd.DataFrame({"fit": fit, "lower": fit - q * se, "upper": fit + q * se, "se_fit": se}, index=rows.index)
    return finish_rows(rows, out)


def fitted_rows_z(m: LmerResult) -> list[np.ndarray]:
    """Each term's Z for the fitted rows (row blocks joined for a design read in blocks)."""
    out = []
    for term in m.design.terms:
        parts = [row_block(term.matrix, a, e) for a, e in row_ranges(m.nobs, whole=not m.design.streamed)]
        out.append(np.concatenate(parts) if len(parts) > 1 else np.asarray(parts[0]))
    return out
