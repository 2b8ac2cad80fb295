"""The Gaussian criterion: -2 log-likelihood of a linear mixed model from its factor's pieces.

Every objective in lmmflow (the blocked factor, the small dense system, the per-pattern sums, the Schur
complements, the batched bootstrap and many-response objectives, the profiles) ends in the same formula
(Bates et al. 2015, eqs. 34 and 41), written here once:

    ML:    log|L_Z|^2 + n (1 + log(2 pi r^2 / n))                           - sum(log w)
    REML:  log|L_Z|^2 + log|R_X|^2 + (n - p) (1 + log(2 pi r^2 / (n - p)))  - sum(log w)

with r^2 the penalized residual sum of squares and w the prior weights; and, with sigma not profiled out
(lmerTest's ``devfun_vp``, the likelihood profiles),

    log|L_Z|^2 [+ log|R_X|^2] + d log(2 pi sigma^2) + r^2 / sigma^2 - sum(log w),   d = n or n - p.

The functions take floats or numpy arrays (one value per point of a batch).  Imports only numpy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["criterion_dof", "criterion_gradient", "gaussian_criterion", "gaussian_criterion_at_sigma"]

_TWO_PI = 2.0 * math.pi


def criterion_dof(n: int, p: int, reml: bool) -> int:
    """The criterion's degrees of freedom: ``n - p`` for REML, ``n`` for ML (sigma^2 = r^2 / dof).

    Examples
    --------
    >>> criterion_dof(180, 2, reml=True), criterion_dof(180, 2, reml=False)
    (178, 180)
    """
    return n - p if reml else n


def gaussian_criterion(logdet_re: Any, logdet_rx: Any, pwrss: Any, n: int, p: int, reml: bool,
                       log_weights: float = 0.0) -> Any:
    """The REML criterion (``reml=True``) or deviance with beta and sigma profiled out.

    Parameters
    ----------
    logdet_re : float or numpy.ndarray
        log det of the random-effects block of the factor, ``log|L_Z|^2``.
    logdet_rx : float or numpy.ndarray
        ``log|R_X|^2`` (read only for REML).
    pwrss : float or numpy.ndarray
        The penalized residual sum of squares r^2.
    n, p : int
        Observations and fixed effects.
    reml : bool
    log_weights : float
        Sum of the logarithms of the prior weights (0 without weights).

    Returns
    -------
    float or numpy.ndarray
        As the inputs (NaN or -inf where ``pwrss`` is not positive; callers map that to +inf).

    Examples
    --------
    >>> round(gaussian_criterion(10.0, 2.0, 5.0, n=20, p=2, reml=False), 6)
    39.031654
    >>> import numpy as np
    >>> gaussian_criterion(np.array([10.0, 10.0]), 2.0, np.array([5.0, 6.0]), 20, 2, True).round(3)
    array([40.025, 43.307])
    """
    if reml:
        dof = n - p
        if isinstance(pwrss, np.ndarray):
            val = logdet_re + logdet_rx + dof * (1.0 + np.log(_TWO_PI * pwrss / dof))
        else:
            val = logdet_re + logdet_rx + dof * (1.0 + math.log(_TWO_PI * pwrss / dof))
    elif isinstance(pwrss, np.ndarray):
        val = logdet_re + n * (1.0 + np.log(_TWO_PI * pwrss / n))
    else:
        val = logdet_re + n * (1.0 + math.log(_TWO_PI * pwrss / n))
    return val - log_weights


def gaussian_criterion_at_sigma(logdet_re: float, logdet_rx: float, pwrss: float, sigma: float, n: int, p: int,
                                reml: bool, log_weights: float = 0.0) -> float:
    """The criterion at a given residual SD (sigma not profiled out; lmerTest's ``devfun_vp``).

    Equal to :func:`gaussian_criterion` at ``sigma^2 = pwrss / dof`` (:func:`criterion_dof`).

    Examples
    --------
    >>> import math
    >>> a = gaussian_criterion_at_sigma(10.0, 2.0, 5.0, math.sqrt(5.0 / 18), n=20, p=2, reml=True)
    >>> round(a - gaussian_criterion(10.0, 2.0, 5.0, n=20, p=2, reml=True), 12)
    0.0
    """
    s2 = sigma * sigma
    val = logdet_re + criterion_dof(n, p, reml) * math.log(_TWO_PI * s2) + pwrss / s2
    if reml:
        val += logdet_rx
    return val - log_weights


def criterion_gradient(d_logdet: Any, d_log_pwrss: Any, dof: int) -> Any:
    """The criterion's derivative from its pieces' derivatives: ``d_logdet + dof * d log(r^2)``.

    ``d_logdet`` is the derivative of the log-determinants the criterion holds (``log|L_Z|^2``, plus
    ``log|R_X|^2`` for REML) and ``dof`` comes from :func:`criterion_dof`.

    Examples
    --------
    >>> import numpy as np
    >>> criterion_gradient(np.array([1.0, 2.0]), np.array([0.5, -0.5]), 10)
    array([ 6., -3.])
    """
    return d_logdet + dof * d_log_pwrss
