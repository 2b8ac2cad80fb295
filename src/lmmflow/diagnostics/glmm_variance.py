"""Nakagawa's R² and the ICC of a generalized linear mixed model, as the R package performance computes them.

Nakagawa, Johnson & Schielzeth (2017): the variance decomposition of :mod:`lmmflow.diagnostics.variance`
on the link scale, with the residual variance replaced by the *distribution-specific* variance of the
family and link (insight's ``get_variance``, used by ``performance::r2_nakagawa`` and ``icc``):

    var_f = var(X beta)                               (n - 1, the offset left out)
    var_r = sum over random terms of mean_i z_i' Sigma_k z_i     (Johnson's extension to random slopes)
    var_d = pi^2 / 3 (binomial logit), 1 (probit), pi^2 / 6 (cloglog)
            log(1 + 1/lambda)   (Poisson log, "lognormal", performance's default)
            1 / lambda          ("delta")
            trigamma(lambda)    ("trigamma")

with ``lambda = exp(beta_0)`` the intercept of the *null model* (the same random-effects terms, the same
offset and prior weights, only an intercept as fixed effects; insight refits it with the model's ``nAGQ``).
Then R²_marginal = var_f / (var_f + var_r + var_d), R²_conditional = (var_f + var_r) / (...),
ICC_adjusted = var_r / (var_r + var_d), ICC_unadjusted = var_r / (var_f + var_r + var_d).

performance 0.10.2 (the version the reference values come from) implements only the lognormal
approximation; the delta and trigamma variants follow Nakagawa et al. (2017, Table 1) and the names
later performance versions give them (``approximation=``).
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from ..exceptions import LmmflowWarning
from .variance import _icc_shares, _r2_shares, _warn_singular

if TYPE_CHECKING:
    from ..results.glmm import GlmerResult

__all__ = ["APPROXIMATIONS", "distribution_variance", "glmm_icc", "glmm_r2", "glmm_variance_decomposition",
           "null_model_intercept"]

APPROXIMATIONS = ("lognormal", "delta", "trigamma")
_BINOMIAL = {"logit": math.pi ** 2 / 3, "probit": 1.0, "cloglog": math.pi ** 2 / 6}


def _check_approximation(approximation: str) -> str:
    key = str(approximation).lower()
    if key not in APPROXIMATIONS:
        raise ValueError(f"approximation={approximation!r}: use one of {APPROXIMATIONS} (the Poisson "
                         "distribution-specific variance log(1 + 1/lambda), 1/lambda or trigamma(lambda))")
    return key


def null_model_intercept(g: GlmerResult) -> float:
    """The intercept of the null model: the same random terms, offset and weights, no fixed covariates.

    lambda = exp(intercept) is the mean count the Poisson distribution-specific variance uses (insight's
    ``null_model``).  The null model is fitted at the array level with the model's ``nagq``.

    Parameters
    ----------
    g : GlmerResult

    Returns
    -------
    float

    Examples
    --------
    >>> import lmmflow as lf
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
    ...              family="binomial")
    >>> round(null_model_intercept(g), 3)
    -2.046
    """
    from ..core.pirls import GlmmObjective
    from ..optim.glmm import fit_glmm

    d = g.design
    trials = None if d.response is None else d.response.trials
    obj = GlmmObjective(d.blocks(), np.ones((g.nobs, 1)), d.y, g.family_object, prior_weights=d.frame.weights,
                        offset=d.frame.offset, nagq=g.nagq, trials=trials)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_glmm(obj, nagq=g.nagq, warn=False)
    return float(np.asarray(fit.beta, dtype=float)[0])


def distribution_variance(g: GlmerResult, approximation: str = "lognormal") -> float:
    """The distribution-specific variance of the family and link (insight's ``var.distribution``).

    Parameters
    ----------
    g : GlmerResult
    approximation : {"lognormal", "delta", "trigamma"}
        For a Poisson family: log(1 + 1/lambda) (performance's default), 1/lambda or trigamma(lambda), with
        lambda from the null model's intercept.  Ignored for the binomial family.

    Returns
    -------
    float

    Examples
    --------
    >>> import lmmflow as lf
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
    ...              family="binomial")
    >>> round(distribution_variance(g), 4)
    3.2899
    """
    approximation = _check_approximation(approximation)
    fam, link = g.family, g.link
    if fam == "binomial":
        if link not in _BINOMIAL:
            raise ValueError(f"no distribution-specific variance for the binomial link {link!r} "
                             f"(performance has them for {sorted(_BINOMIAL)})")
        return _BINOMIAL[link]
    if fam == "poisson" and link == "log":
        lam = math.exp(null_model_intercept(g))
        if lam < 6:
            warnings.warn(f"the null model's mean count lambda = {lam:.1f} is small (< 6): the "
                          f"{approximation} approximation of the distribution-specific variance may be "
                          "unreliable (performance warns the same)", LmmflowWarning, stacklevel=3)
        if approximation == "lognormal":
            return math.log1p(1.0 / lam)
        if approximation == "delta":
            return 1.0 / lam
        return float(special.polygamma(1, lam))
    raise ValueError(f"no distribution-specific variance for family {fam!r} with link {link!r}: performance "
                     "defines it for binomial (logit, probit, cloglog) and Poisson (log)")


def _zz(g: GlmerResult) -> list[np.ndarray]:
    """Each term's unweighted Z'Z (p x p), in row blocks."""
    from ..core.crossprod import row_block, row_ranges

    d = g.design
    zz = [np.zeros((t.p, t.p)) for t in d.terms]
    for a, e in row_ranges(g.nobs, whole=not d.streamed):
        for k, term in enumerate(d.terms):
            Zc = np.asarray(row_block(term.matrix, a, e), dtype=float)
            zz[k] += Zc.T @ Zc
    return zz


def glmm_variance_decomposition(g: GlmerResult, approximation: str = "lognormal") -> dict[str, Any]:
    """The variance components of Nakagawa's R² for a GLMM: fixed, random, distribution-specific.

    Parameters
    ----------
    g : GlmerResult
    approximation : {"lognormal", "delta", "trigamma"}
        See :func:`distribution_variance`.

    Returns
    -------
    dict
        ``{"fixed", "random", "distribution", "residual", "by_term"}``; ``residual`` equals
        ``distribution`` (binomial and Poisson have no dispersion parameter), as insight's ``get_variance``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
    ...              family="binomial")
    >>> v = glmm_variance_decomposition(g)
    >>> round(v["fixed"], 4), round(v["random"], 4)
    (0.3458, 0.4125)
    """
    eta = g._linear_predictor(with_re=False, add_offset=False)
    n = g.nobs
    var_f = float(np.var(eta, ddof=1)) if n > 1 else 0.0
    by_term: dict[str, float] = {}
    for term, S, ztz in zip(g.design.terms, g.re_covariances, _zz(g)):
        by_term[term.group] = by_term.get(term.group, 0.0) + float(np.sum(S * ztz) / n)
    var_d = distribution_variance(g, approximation)
    return {"fixed": var_f, "random": float(sum(by_term.values())), "distribution": var_d, "residual": var_d,
            "by_term": by_term}


def glmm_r2(g: GlmerResult, approximation: str = "lognormal") -> dict[str, float]:
    """Nakagawa's marginal and conditional R² of a GLMM (``performance::r2_nakagawa``).

    Parameters
    ----------
    g : GlmerResult
    approximation : {"lognormal", "delta", "trigamma"}
        The Poisson distribution-specific variance (see :func:`distribution_variance`).

    Returns
    -------
    dict
        ``{"marginal": ..., "conditional": ...}``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
    ...              family="binomial")
    >>> {k: round(v, 4) for k, v in glmm_r2(g).items()}
    {'marginal': 0.0854, 'conditional': 0.1873}
    """
    _warn_singular(g, "R2", stacklevel=4)  # called through lf.r2
    return _r2_shares(glmm_variance_decomposition(g, approximation))


def glmm_icc(g: GlmerResult, approximation: str = "lognormal") -> dict[str, float]:
    """Adjusted and unadjusted ICC of a GLMM on the latent (link) scale (``performance::icc``).

    Parameters
    ----------
    g : GlmerResult
    approximation : {"lognormal", "delta", "trigamma"}

    Returns
    -------
    dict
        ``{"adjusted": var_r / (var_r + var_d), "unadjusted": var_r / (var_f + var_r + var_d)}``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
    ...              family="binomial")
    >>> {k: round(v, 4) for k, v in glmm_icc(g).items()}
    {'adjusted': 0.1114, 'unadjusted': 0.1019}
    """
    _warn_singular(g, "ICC", stacklevel=4)  # called through lf.icc
    return _icc_shares(glmm_variance_decomposition(g, approximation))
