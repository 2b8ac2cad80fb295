"""Kenward-Roger's adjusted covariance of the fixed effects and denominator df (pbkrtest's method).

With the variance components ``phi`` (each term's variances and covariances, then the residual
variance; ``V = sum_i phi_i G_i``), ``Phi = Var(beta)`` at the REML estimates and (pbkrtest's names)

    P_i  = -X'V^-1 G_i V^-1 X,      Q_ij = X'V^-1 G_i V^-1 G_j V^-1 X,
    I_ij = tr(P G_i P G_j) / 2       (expected REML information; P the REML projection),
    W    = I^-1,
    U    = sum_ij W_ij (Q_ij - P_i Phi P_j),

the adjusted covariance is ``Phi_A = Phi + 2 Phi U Phi`` (``R_ij = 0``: the covariance is linear in
``phi``, pbkrtest's default) and, for a contrast ``L`` of rank q with ``Theta = L'(L Phi L')^-1 L``,

    A1 = sum_ij W_ij tr(Theta Phi P_i Phi) tr(Theta Phi P_j Phi),
    A2 = sum_ij W_ij tr(Theta Phi P_i Phi Theta Phi P_j Phi),

from which pbkrtest's ``B, g, c1..c3, rho`` give the denominator df ``4 + (q + 2) / (q rho - 1)``
and the F scaling ``df (1 - A2 / q) / (df - 2)``.

pbkrtest forms the n x n matrices ``G_i`` and ``V^-1``; here every quantity comes from
:func:`lmmflow.inference.derivatives.variance_derivatives` (Woodbury's identity on the blocked
factor), at a cost independent of the number of rows.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from .derivatives import TooLargeForExact, variance_derivatives

if TYPE_CHECKING:
    from ..results.model import LmerResult

__all__ = ["KenwardRogerInfo", "kenward_roger", "kenward_roger_info", "kr_ddf", "kr_ftest"]

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class KenwardRogerInfo:
    """pbkrtest's ``vcovAdj`` with its attributes.

    Attributes
    ----------
    vcov : numpy.ndarray
        ``Phi``, the unadjusted Var(beta).
    vcov_adj : numpy.ndarray
        ``Phi_A``, the adjusted covariance.
    P : numpy.ndarray
        ``(k, p, p)``: pbkrtest's ``P_i = -X'V^-1 G_i V^-1 X``.
    W : numpy.ndarray
        Inverse expected information of the variance components.
    names : list of str
        The variance components.
    condition : float
        Smallest absolute eigenvalue of twice the information (pbkrtest's ``condi``).
    """

    vcov: np.ndarray
    vcov_adj: np.ndarray
    P: np.ndarray
    W: np.ndarray
    names: list[str]
    condition: float

    def adjust(self, L: Any) -> dict[str, float]:
        """df, F scaling, A1 and A2 for a contrast matrix ``L`` (pbkrtest's ``.KR_adjust``)."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        Phi = self.vcov
        q = int(np.linalg.matrix_rank(L))
        Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
        TP = Theta @ Phi
        u = np.einsum("ab,ibc,cd->iad", TP, self.P, Phi)  # Theta Phi P_i Phi
        tr_u = np.einsum("iaa->i", u)
        A1 = float(tr_u @ self.W @ tr_u)
        A2 = float(np.einsum("ij,iab,jba->", self.W, u, u))
        B = (A1 + 6.0 * A2) / (2.0 * q)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        den = 3.0 * q + 2.0 * (1.0 - g)
        c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
        V0 = 1.0 + c1 * B
        V1 = 1.0 - c2 * B
        V2 = 1.0 - c3 * B
        V0 = 0.0 if abs(V0) < 1e-10 else V0
        x = 1.0 - A2 / q
        ratio = 1.0 if abs(x) < 1e-14 and abs(V1) < 1e-14 else x / V1
        rho = ratio ** 2 * V0 / V2 / q
        df = 4.0 + (q + 2.0) / (q * rho - 1.0)
        scaling = 1.0 if abs(df - 2.0) < 1e-2 else df * (1.0 - A2 / q) / (df - 2.0)
        return {"df": df, "scaling": scaling, "A1": A1, "A2": A2, "q": q}


def kenward_roger_info(m: LmerResult) -> KenwardRogerInfo:
    """The adjusted covariance and its ingredients for a REML fit (cached per fit).

    Raises
    ------
    ValueError
        For an ML fit.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (1 | Subject)", lf.load_dataset("sleepstudy"))
    >>> kenward_roger_info(m).names
    ['var((Intercept))|Subject', 'var(Residual)']
    """
    from ..results.base import require_kind

    require_kind(m, "lmm", "Kenward-Roger's df")
    if not m.reml:
        raise ValueError("Kenward-Roger needs a REML fit; refit with reml=True (m.update(reml=True))")
    hit = _CACHE.get(m)
    if hit is not None:
        return hit
    try:
        d = variance_derivatives(m)
    except TooLargeForExact as exc:
        raise NotImplementedError(
            f"Kenward-Roger is computed exactly and this model is too large for that ({exc}); "
            "use ddf='satterthwaite'") from exc
    Phi = m.vcov.to_numpy()
    IE2 = d.tr_pgpg  # twice the expected information, as pbkrtest's IE2
    if not (np.all(np.isfinite(IE2)) and np.all(np.isfinite(Phi))):
        raise ValueError("Kenward-Roger: the information matrix of the variance parameters is not finite "
                         "(a response or predictor on an extreme scale, or a degenerate fit); rescale the data "
                         "or use ddf='satterthwaite'")
    evals = np.linalg.eigvalsh(IE2)
    condi = float(np.min(np.abs(evals)))
    W = 2.0 * _inverse(IE2, condi)
    W = 0.5 * (W + W.T)
    P = -d.P
    PPhi = np.einsum("iab,bc->iac", P, Phi)
    U = np.einsum("ij,ijab->ab", W, d.Q) - np.einsum("ij,iab,jbc->ac", W, PPhi, P)
    U = 0.5 * (U + U.T)
    adj = Phi + 2.0 * Phi @ U @ Phi
    info = KenwardRogerInfo(vcov=Phi, vcov_adj=0.5 * (adj + adj.T), P=P, W=W, names=d.names, condition=condi)
    _CACHE[m] = info
    return info


def _inverse(IE2: np.ndarray, condi: float) -> np.ndarray:
    """pbkrtest's ``if (condi > 1e-10) solve(IE2) else ginv(IE2)``, with the generalized inverse also where the
    solve meets an exactly singular matrix whose smallest eigenvalue passed the absolute 1e-10 (data on a tiny
    scale make every entry large)."""
    if condi > 1e-10:
        try:
            return np.linalg.inv(IE2)
        except np.linalg.LinAlgError:
            pass
    return np.linalg.pinv(IE2)


def kenward_roger(m: LmerResult) -> tuple[np.ndarray, np.ndarray]:
    """Kenward-Roger's adjusted Var(beta) and the df of each coefficient's t test.

    Returns
    -------
    vcov_adj : numpy.ndarray
    df : numpy.ndarray

    Raises
    ------
    ValueError
        For an ML fit ("Kenward-Roger needs a REML fit; refit with reml=True").

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (1 | Subject)", lf.load_dataset("sleepstudy"))
    >>> v, df = kenward_roger(m)
    >>> df.round(2)
    array([ 22.81, 161.  ])
    """
    info = kenward_roger_info(m)
    p = info.vcov.shape[0]
    df = np.array([kr_ddf(m, np.eye(p)[i]) for i in range(p)])
    return info.vcov_adj.copy(), df


def kr_ddf(m: LmerResult, L: Any) -> float:
    """Kenward-Roger denominator df for testing ``L beta = 0`` (pbkrtest's ``Lb_ddf``)."""
    return kenward_roger_info(m).adjust(L)["df"]


def kr_ftest(m: LmerResult, L: Any) -> dict[str, float]:
    """Kenward-Roger F test of ``L beta = 0`` (pbkrtest's ``KRmodcomp``, as lmerTest's anova reports it).

    The Wald statistic uses the adjusted covariance; ``f_value`` is scaled, ``sum_sq`` and ``mean_sq``
    are from the unscaled F times sigma^2.

    Returns
    -------
    dict
        sum_sq, mean_sq, num_df, den_df, f_value, p_value, scaling.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> r = kr_ftest(m, [[0, 1]])
    >>> round(r["f_value"], 3), round(r["den_df"], 3)
    (45.853, 17.0)
    """
    info = kenward_roger_info(m)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    a = info.adjust(L)
    Lb = L @ m.fixef.to_numpy()
    wald = float(Lb @ np.linalg.lstsq(L @ info.vcov_adj @ L.T, Lb, rcond=None)[0])
    q = a["q"]
    FU = wald / q
    F = a["scaling"] * FU
    ms = FU * m.sigma ** 2
    return {"sum_sq": ms * q, "mean_sq": ms, "num_df": q, "den_df": a["df"], "f_value": F,
            "p_value": float(stats.f.sf(F, q, a["df"])), "scaling": a["scaling"]}
