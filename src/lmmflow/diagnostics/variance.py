"""Variance explained by a linear mixed model: Nakagawa's R² and the intraclass correlation (ICC).

Following Nakagawa, Johnson & Schielzeth (2017), with Johnson's (2014) extension to random slopes:

    var_f = var(X beta)                                   (sample variance, n - 1, as R's ``var``)
    var_r = sum over random terms k of mean_i z_ik' Sigma_k z_ik
    var_e = sigma^2

where ``z_ik`` is row i of term k's random-effects columns and ``Sigma_k = sigma^2 lambda_k lambda_k'``
its covariance matrix (for a random intercept ``var_r`` is just its variance).  Then

    R²_marginal    = var_f / (var_f + var_r + var_e)
    R²_conditional = (var_f + var_r) / (var_f + var_r + var_e)
    ICC_adjusted   = var_r / (var_r + var_e)
    ICC_unadjusted = var_r / (var_f + var_r + var_e)

These are the numbers the R package performance computes for these models (the reference results
include random-slope models, for which var_r is Johnson's mean over rows, in the R² and the ICC
alike).  For a singular fit performance returns NA; lmmflow warns and returns the values computed
from the (boundary) estimates, which for a zero variance gives 0 contribution of that term.  Prior
weights are ignored (var_e is sigma^2).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import SingularFitWarning

if TYPE_CHECKING:
    from ..results.model import LmerResult

__all__ = ["SingularFitWarning", "icc", "r2", "variance_decomposition"]


def variance_decomposition(m: LmerResult) -> dict[str, float]:
    """The three variance components of Nakagawa's R²: fixed, random and residual.

    Parameters
    ----------
    m : LmerResult

    Returns
    -------
    dict
        ``{"fixed": var_f, "random": var_r, "residual": var_e}``; ``"by_term"`` holds var_r per term.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (1 | Subject)", lf.load_dataset("sleepstudy"))
    >>> v = variance_decomposition(m)
    >>> round(v["random"], 1), round(v["residual"], 1)
    (1378.2, 960.5)
    """
    var_f, zz = _fixed_variance_and_zz(m)
    by_term: dict[str, float] = {}
    for term, S, ztz in zip(m.design.terms, m.re_covariances, zz):
        # mean_i z_i' S z_i = <S, Z'Z> / n
        v = float(np.sum(S * ztz) / m.nobs)
        by_term[term.group] = by_term.get(term.group, 0.0) + v
    return {"fixed": var_f, "random": float(sum(by_term.values())), "residual": m.sigma ** 2,
            "by_term": by_term}


def _fixed_variance_and_zz(m: LmerResult) -> tuple[float, list[np.ndarray]]:
    """var(X beta) (ddof 1) and each term's Z'Z, in row blocks (X and Z are never held whole); Z'Z is the
    sum of the cross-products' per-level blocks when there are no prior weights.

    A fit whose rows are not in memory (Dask) gives both from its cross-products: X'X and the per-level
    blocks of Z'Z, which needs an intercept (the column sums of X) and no prior weights.
    """
    from ..core.crossprod import row_block, row_ranges

    n = m.nobs
    d = m.design
    if getattr(d.frame, "data", None) is None:
        cp, names = m.devfun.cp, list(m.fixef.index)
        if m.weights is not None or "(Intercept)" not in names:
            raise ValueError("r2 / icc of a fit on Dask data need an intercept and no prior weights (they are "
                             "computed from the cross-products there); fit a sample in memory instead")
        beta = m.fixef.to_numpy()
        xtx = cp.xx[:-1, :-1]
        total = float(xtx[names.index("(Intercept)")] @ beta)
        ss = float(beta @ xtx @ beta) - total * total / n
        return (ss / (n - 1) if n > 1 else 0.0), [D.sum(axis=0) for D in cp.diag]
    eta = m._linear_predictor(with_re=False, add_offset=False)
    var_f = float(np.var(eta, ddof=1)) if n > 1 else 0.0
    if m.weights is None:  # the cross-products hold each level's block of Z'Z: no pass over the rows
        return var_f, [D.sum(axis=0) for D in m.devfun.cp.diag]
    zz = [np.zeros((t.p, t.p)) for t in d.terms]  # unweighted Z'Z (the cross-products are weighted)
    for a, e in row_ranges(n, whole=not d.streamed):
        for k, term in enumerate(d.terms):
            Zc = row_block(term.matrix, a, e)
            zz[k] += Zc.T @ Zc
    return var_f, zz


def _glmm(m: Any, approximation: str) -> bool:
    """True for a GLMM; a linear mixed model with a non-default ``approximation`` is an error."""
    if getattr(m, "model_kind", "lmm") == "glmm":
        return True
    if approximation != "lognormal":
        raise ValueError(f"approximation={approximation!r} applies to Poisson GLMMs (lf.glmer fits); a linear "
                         "mixed model's residual variance is sigma^2")
    return False


def _warn_singular(m: Any, what: str, stacklevel: int = 3) -> None:
    """Warn that ``what`` is computed from a singular fit's boundary estimates (performance returns NA)."""
    if m.is_singular:
        warnings.warn(f"{what} of a singular (boundary) fit: a variance is (nearly) zero or a correlation is "
                      "+/-1; the value is computed from the boundary estimates (the R package performance "
                      "returns NA here)", SingularFitWarning, stacklevel=stacklevel)


def _r2_shares(v: dict[str, Any]) -> dict[str, float]:
    """Marginal and conditional R² from a decomposition's fixed, random and residual variances."""
    total = v["fixed"] + v["random"] + v["residual"]
    return {"marginal": v["fixed"] / total, "conditional": (v["fixed"] + v["random"]) / total}


def _icc_shares(v: dict[str, Any]) -> dict[str, float]:
    """Adjusted and unadjusted ICC from a decomposition's fixed, random and residual variances."""
    total = v["fixed"] + v["random"] + v["residual"]
    return {"adjusted": v["random"] / (v["random"] + v["residual"]), "unadjusted": v["random"] / total}


def r2(m: LmerResult, approximation: str = "lognormal") -> dict[str, float]:
    """Nakagawa's marginal and conditional R² (fixed effects; fixed plus random effects).

    For a GLMM (an :func:`lmmflow.glmer` fit) the residual variance is the family's distribution-specific
    variance, as ``performance::r2_nakagawa``: see :func:`lmmflow.diagnostics.glmm_variance.glmm_r2`.

    Parameters
    ----------
    m : LmerResult or GlmerResult
    approximation : {"lognormal", "delta", "trigamma"}
        A Poisson GLMM's distribution-specific variance; a linear mixed model takes only the default.

    Returns
    -------
    dict
        ``{"marginal": ..., "conditional": ...}``.

    Warns
    -----
    SingularFitWarning
        For a singular fit (the values are still returned).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> {k: round(v, 4) for k, v in r2(m).items()}
    {'marginal': 0.2787, 'conditional': 0.7992}
    """
    if _glmm(m, approximation):
        from .glmm_variance import glmm_r2

        return glmm_r2(m, approximation)
    _warn_singular(m, "R2")
    return _r2_shares(variance_decomposition(m))


def icc(m: LmerResult, approximation: str = "lognormal") -> dict[str, float]:
    """Intraclass correlation: adjusted (random / (random + residual)) and unadjusted (over the total).

    With random slopes the random variance is Johnson's mean over rows of ``z' Sigma z``, as for
    :func:`r2`; the adjusted ICC then depends on the covariate values in the data.  For a GLMM the
    residual variance is the distribution-specific variance (``performance::icc``, on the latent scale).

    Parameters
    ----------
    m : LmerResult or GlmerResult
    approximation : {"lognormal", "delta", "trigamma"}
        A Poisson GLMM's distribution-specific variance; a linear mixed model takes only the default.

    Returns
    -------
    dict
        ``{"adjusted": ..., "unadjusted": ...}``.

    Warns
    -----
    SingularFitWarning
        For a singular fit (the values are still returned).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (1 | Subject)", lf.load_dataset("sleepstudy"))
    >>> {k: round(v, 4) for k, v in icc(m).items()}
    {'adjusted': 0.5893, 'unadjusted': 0.4244}
    """
    if _glmm(m, approximation):
        from .glmm_variance import glmm_icc

        return glmm_icc(m, approximation)
    _warn_singular(m, "ICC")
    return _icc_shares(variance_decomposition(m))
