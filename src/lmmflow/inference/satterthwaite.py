"""Satterthwaite's denominator degrees of freedom for t and F tests of fixed effects (lmerTest's method).

For a contrast ``L`` (a row), with ``C(varpar) = Var(beta)`` a function of lmerTest's variance
parameters ``varpar = (theta, sigma)``, ``g`` the gradient of ``L C L'`` in ``varpar`` and ``A`` the
asymptotic covariance of ``varpar`` (twice the Moore-Penrose inverse of the deviance's Hessian over
its eigenvalues above 1e-8, the REML criterion for REML fits):

    df = 2 (L C L')^2 / (g' A g).

A multi-row contrast is tested as lmerTest's ``contestMD``: ``L C L'`` is eigen-decomposed, the
F statistic is the mean of the squared rotated t statistics, and its df follows from their
Satterthwaite df ``nu_m`` as ``2 E / (E - q)`` with ``E = sum nu_m / (nu_m - 2)`` (2 if any
``nu_m <= 2``; their mean if they are all equal).

The Hessian and Jacobian are analytic (:mod:`lmmflow.inference.derivatives`), with cost independent
of the number of rows; crossed models beyond the exact size limit use Richardson finite differences
of the same exact functions.
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from ..exceptions import ConvergenceWarning
from .derivatives import TooLargeForExact, fd_varpar_derivatives, variance_derivatives, varpar_names

if TYPE_CHECKING:
    from ..results.model import LmerResult

__all__ = ["SatterthwaiteInfo", "contrast_ftest", "contrast_ttest", "satterthwaite_df", "satterthwaite_info"]

EIGEN_TOL = 1e-8

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class SatterthwaiteInfo:
    """What Satterthwaite's method needs from a fit (lmerTest's extra slots).

    Attributes
    ----------
    vcov_beta : numpy.ndarray
        Var(beta).
    vcov_varpar : numpy.ndarray
        ``A``: asymptotic covariance of ``(theta, sigma)``.
    jacobian : numpy.ndarray
        ``(len(varpar), p, p)``: derivatives of Var(beta) in ``(theta, sigma)``.
    hessian : numpy.ndarray
        Hessian of the deviance (REML criterion) in ``(theta, sigma)``.
    varpar_names : list of str
    sigma : float
    method : str
        ``"analytic"`` or ``"finite differences"``.
    """

    vcov_beta: np.ndarray
    vcov_varpar: np.ndarray
    jacobian: np.ndarray
    hessian: np.ndarray
    varpar_names: list[str]
    sigma: float
    method: str

    def df(self, L: Any) -> float:
        """Satterthwaite's df of the one-row contrast ``L``."""
        L = np.asarray(L, dtype=float).ravel()
        var = float(L @ self.vcov_beta @ L)
        grad = np.einsum("a,tab,b->t", L, self.jacobian, L)
        denom = float(grad @ self.vcov_varpar @ grad)
        return 2.0 * var * var / denom if denom > 0 else np.inf


def satterthwaite_info(m: LmerResult) -> SatterthwaiteInfo:
    """Hessian, its inverse and the Jacobian of Var(beta) for ``m`` (cached per fit).

    Warns as lmerTest does when the Hessian has negative or near-zero eigenvalues.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> satterthwaite_info(m).vcov_varpar.shape
    (4, 4)
    """
    from ..results.base import require_kind

    require_kind(m, "lmm", "Satterthwaite's df")
    hit = _CACHE.get(m)
    if hit is not None:
        return hit
    try:
        d = variance_derivatives(m)
        H, J, method = d.hessian_varpar, d.vcov_jacobian_varpar, "analytic"
    except TooLargeForExact:
        H, J = fd_varpar_derivatives(m)
        method = "finite differences"
    H = 0.5 * (H + H.T)
    if not (np.all(np.isfinite(H)) and np.all(np.isfinite(J))):
        raise ValueError("Satterthwaite: the Hessian of the deviance in the variance parameters is not finite "
                         "(a response or predictor on an extreme scale, or a degenerate fit); rescale the data")
    evals, evecs = np.linalg.eigh(H)
    neg = evals < -EIGEN_TOL
    zero = np.abs(evals) <= EIGEN_TOL
    if neg.any():
        warnings.warn(f"Model failed to converge with {int(neg.sum())} negative eigenvalue(s) of the Hessian: "
                      + " ".join(f"{v:.1e}" for v in evals[neg]), ConvergenceWarning, stacklevel=2)
    if zero.any():
        warnings.warn(f"Model may not have converged with {int(zero.sum())} eigenvalue(s) of the Hessian close "
                      "to zero: " + " ".join(f"{v:.1e}" for v in evals[zero]), ConvergenceWarning, stacklevel=2)
    pos = evals > EIGEN_TOL
    A = 2.0 * (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T
    info = SatterthwaiteInfo(vcov_beta=m.vcov.to_numpy(), vcov_varpar=A, jacobian=J, hessian=H,
                             varpar_names=varpar_names(m), sigma=m.sigma, method=method)
    _CACHE[m] = info
    return info


def satterthwaite_df(m: LmerResult) -> np.ndarray:
    """Satterthwaite's df for each fixed effect (the ``df`` column of lmerTest's summary).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (1 | Subject)", lf.load_dataset("sleepstudy"))
    >>> satterthwaite_df(m).round(2)
    array([ 22.81, 161.  ])
    """
    info = satterthwaite_info(m)
    p = info.vcov_beta.shape[0]
    return np.array([info.df(np.eye(p)[i]) for i in range(p)])


def contrast_ttest(m: LmerResult, L: Any) -> dict[str, float]:
    """t test of a one-row contrast ``L beta = 0`` with Satterthwaite's df (lmerTest's ``contest1D``).

    Returns
    -------
    dict
        estimate, std_error, df, t_value, p_value.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> round(contrast_ttest(m, [0, 1])["df"], 3)
    17.0
    """
    info = satterthwaite_info(m)
    L = np.asarray(L, dtype=float).ravel()
    est = float(L @ m.fixef.to_numpy())
    se = float(np.sqrt(L @ info.vcov_beta @ L))
    df = info.df(L)
    t = est / se
    return {"estimate": est, "std_error": se, "df": df, "t_value": t, "p_value": float(2 * stats.t.sf(abs(t), df))}


def fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    """Denominator df of an F statistic made of independent t statistics with df ``nu`` (lmerTest)."""
    nu = np.asarray(nu, dtype=float)
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2.0)))
    return 2.0 * E / (E - len(nu))


def contrast_ftest(m: LmerResult, L: Any, eps: float = np.sqrt(np.finfo(float).eps)) -> dict[str, float]:
    """F test of ``L beta = 0`` with Satterthwaite's df (lmerTest's ``contestMD``).

    The numerator df is the rank of ``L C L'`` (eigenvalues above ``eps`` times the largest).

    Returns
    -------
    dict
        sum_sq, mean_sq, num_df, den_df, f_value, p_value.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> r = contrast_ftest(m, [[0, 1]])
    >>> round(r["f_value"], 3), round(r["den_df"], 3)
    (45.853, 17.0)
    """
    info = satterthwaite_info(m)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    beta = m.fixef.to_numpy()
    s2 = info.sigma ** 2
    if L.shape[0] == 1:
        r = contrast_ttest(m, L[0])
        return _ftable(r["t_value"] ** 2, 1, r["df"], s2)
    VL = L @ info.vcov_beta @ L.T
    d, P = np.linalg.eigh(VL)
    order = np.argsort(d)[::-1]
    d, P = d[order], P[:, order]
    tol = max(eps * d[0], 0.0)
    q = int(np.sum(d > tol))
    if q == 0:
        return _ftable(np.nan, 0, np.nan, s2)
    PtL = (P.T @ L)[:q]
    if q == 1:
        r = contrast_ttest(m, PtL[0])
        return _ftable(r["t_value"] ** 2, 1, r["df"], s2)
    t2 = (PtL @ beta) ** 2 / d[:q]
    F = float(np.sum(t2) / q)
    nu = np.array([2.0 * d[i] ** 2 / _gag(info, PtL[i]) for i in range(q)])
    return _ftable(F, q, fstat_ddf(nu), s2)


def _gag(info: SatterthwaiteInfo, L: np.ndarray) -> float:
    grad = np.einsum("a,tab,b->t", L, info.jacobian, L)
    return float(grad @ info.vcov_varpar @ grad)


def _ftable(F: float, ndf: int, ddf: float, s2: float) -> dict[str, float]:
    ms = F * s2
    p = float(stats.f.sf(F, ndf, ddf)) if ndf > 0 and np.isfinite(F) else np.nan
    return {"sum_sq": ms * ndf, "mean_sq": ms, "num_df": ndf, "den_df": ddf, "f_value": F, "p_value": p}
