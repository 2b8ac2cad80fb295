"""Satterthwaite t tests for many responses of one one-term model at once (power simulation's hot loop).

lmerTest's test of a coefficient ``j`` needs, at each fit's ``varpar = (theta, sigma)``, the Hessian of
the deviance in ``varpar`` (``devfun_vp``: the REML criterion or deviance with sigma free) and the
gradient of ``Var(beta_j)``.  On the pattern-compressed form of :class:`lmmflow.scale.single_term.
SingleTermProfile` the deviance splits into

    dev(theta, sigma) = f1(theta) + f2(theta) / sigma^2 + (n - reml * p) log(2 pi sigma^2),
    f1 = log|L_Z|^2 + reml * log|R_X|^2,      f2 = pwrss(theta),

and ``Var(beta) = sigma^2 S(theta)^-1`` with ``S`` the Schur complement of X (``R_X'R_X``).  Every sigma
derivative is analytic; the theta derivatives of ``f1``, ``f2`` and ``S^-1`` are central differences on
a stencil, extrapolated once (Richardson, steps ``h`` and ``h/2``: error O(h^4)), evaluated for all
responses and all stencil points in a few batched array operations.  The asymptotic covariance of
``varpar`` is twice the pseudo-inverse of that Hessian over eigenvalues above 1e-8, as in
:func:`lmmflow.inference.satterthwaite.satterthwaite_info`; the results agree with lmmflow's analytic
Satterthwaite df (and so with lmerTest) to about 1e-8 relative.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from ..inference.satterthwaite import EIGEN_TOL

__all__ = ["satterthwaite_many"]

STEP = 1e-3  # the larger central-difference step in theta (the other is STEP / 2)
BATCH = 256  # responses evaluated together (bounds the memory of the stencil arrays)


def _stencil(d: int) -> np.ndarray:
    """Unit offsets: the centre, +-e_i, then (+-e_i +- e_j) for i < j in the order ++, +-, -+, --."""
    rows = [np.zeros(d)]
    for i in range(d):
        for s in (1.0, -1.0):
            e = np.zeros(d)
            e[i] = s
            rows.append(e)
    for i in range(d):
        for j in range(i + 1, d):
            for si, sj in ((1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)):
                e = np.zeros(d)
                e[i], e[j] = si, sj
                rows.append(e)
    return np.array(rows)


def _hess_grad(F: np.ndarray, d: int, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Hessian (R, d, d) and gradient (R, d) of the values ``F`` (R, S) on the stencil of step h."""
    R = F.shape[0]
    H = np.empty((R, d, d))
    g = np.empty((R, d))
    c = F[:, 0]
    for i in range(d):
        fp, fm = F[:, 1 + 2 * i], F[:, 2 + 2 * i]
        H[:, i, i] = (fp - 2.0 * c + fm) / (h * h)
        g[:, i] = (fp - fm) / (2.0 * h)
    k = 1 + 2 * d
    for i in range(d):
        for j in range(i + 1, d):
            pp, pm, mp, mm = (F[:, k + q] for q in range(4))
            H[:, i, j] = H[:, j, i] = (pp - pm - mp + mm) / (4.0 * h * h)
            k += 4
    return H, g


def _parts(prof: Any, theta: np.ndarray, resp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f1, f2 (R, S) and S^-1 (R, S, p, p) at points theta (R, S, d) for responses ``resp`` (R,)."""
    R, S, d = theta.shape
    px = prof.px
    logdet, g = prof._weights_many(theta.reshape(R * S, d))
    g = g.reshape(R, S, -1)
    sxx = prof.XX - (g @ prof.QXX).reshape(R, S, px, px)
    qxy = np.ascontiguousarray(prof.QXy[:, :, resp].transpose(2, 0, 1))  # (R, K, px)
    sxy = prof.Xy[:, resp].T[:, None, :] - g @ qxy  # (R, S, px)
    syy = prof.yy[resp][:, None] - np.einsum("rsk,kr->rs", g, prof.Qyy[:, resp])
    inv = np.linalg.inv(sxx)
    _, ldx = np.linalg.slogdet(sxx)
    pwrss = syy - np.einsum("rsp,rspq,rsq->rs", sxy, inv, sxy)
    f1 = logdet.reshape(R, S) + (ldx if prof.reml else 0.0)
    return f1, pwrss, inv


def satterthwaite_many(prof: Any, theta: np.ndarray, sigma: np.ndarray, beta: np.ndarray, j: int
                       ) -> dict[str, np.ndarray]:
    """Satterthwaite t tests of coefficient ``j`` for every response of ``prof`` (lmerTest's numbers).

    Parameters
    ----------
    prof : SingleTermProfile
        With the responses' sums in use (:meth:`~lmmflow.scale.single_term.SingleTermProfile.use`).
    theta : numpy.ndarray
        (R, d) each response's estimate of theta.
    sigma : numpy.ndarray
        (R,) each response's residual SD.
    beta : numpy.ndarray
        (R, p) each response's fixed effects.
    j : int
        The coefficient tested.

    Returns
    -------
    dict
        ``estimate``, ``std_error``, ``df``, ``t``, ``p`` (R,) and ``hessian_warning`` (R, bool: a negative
        or near-zero eigenvalue of the Hessian, where lmerTest warns).

    Examples
    --------
    >>> import numpy as np, lmmflow as lf
    >>> from lmmflow.fitting import cross_products as _cross_products
    >>> from lmmflow.scale.single_term import SingleTermProfile
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> prof = SingleTermProfile(_cross_products(m.design), m.design.X, reml=True)
    >>> prof.set_responses(m.design.y[:, None])
    >>> out = satterthwaite_many(prof, m.theta[None], np.array([m.sigma]), m.fixef.to_numpy()[None], 1)
    >>> round(float(out["df"][0]), 3), round(float(m.coef_table().loc["Days", "df"]), 3)
    (17.0, 17.0)
    """
    theta = np.atleast_2d(np.asarray(theta, dtype=float))
    sigma = np.asarray(sigma, dtype=float).ravel()
    beta = np.atleast_2d(np.asarray(beta, dtype=float))
    R, d = theta.shape
    out = {k: np.full(R, np.nan) for k in ("estimate", "std_error", "df", "t", "p")}
    out["hessian_warning"] = np.zeros(R, dtype=bool)
    ok = np.flatnonzero(np.all(np.isfinite(theta), axis=1) & np.isfinite(sigma) & np.all(np.isfinite(beta), axis=1))
    U = _stencil(d)
    nprime = prof.n - (prof.px if prof.reml else 0)
    for s in range(0, len(ok), BATCH):
        idx = ok[s:s + BATCH]
        with np.errstate(all="ignore"):
            res = _batch(prof, theta[idx], sigma[idx], beta[idx, j], j, idx, U, nprime)
        for k, v in res.items():
            out[k][idx] = v
    return out


def _batch(prof: Any, th: np.ndarray, sig: np.ndarray, bj: np.ndarray, j: int, resp: np.ndarray,
           U: np.ndarray, nprime: int) -> dict[str, np.ndarray]:
    R, d = th.shape
    est: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    inv0 = None
    for h in (STEP, STEP / 2):
        pts = th[:, None, :] + h * U[None, :, :]
        f1, f2, inv = _parts(prof, pts, resp)
        H1, _ = _hess_grad(f1, d, h)
        H2, g2 = _hess_grad(f2, d, h)
        _, gv = _hess_grad(inv[:, :, j, j], d, h)
        est.append((H1 + H2 / (sig ** 2)[:, None, None], g2, gv))
        if inv0 is None:
            inv0, pwrss = inv[:, 0], f2[:, 0]
    (Ha, ga, va), (Hb, gb, vb) = est
    Hth, g2, gv = (4.0 * Hb - Ha) / 3.0, (4.0 * gb - ga) / 3.0, (4.0 * vb - va) / 3.0
    H = np.empty((R, d + 1, d + 1))
    H[:, :d, :d] = Hth
    H[:, :d, d] = H[:, d, :d] = -2.0 * g2 / (sig ** 3)[:, None]
    H[:, d, d] = 6.0 * pwrss / sig ** 4 - 2.0 * nprime / sig ** 2
    H = 0.5 * (H + H.transpose(0, 2, 1))
    evals, evecs = np.linalg.eigh(H)
    warn = np.any(evals < -EIGEN_TOL, axis=1) | np.any(np.abs(evals) <= EIGEN_TOL, axis=1)
    pos = evals > EIGEN_TOL
    scaled = np.where(pos, 1.0 / np.where(pos, evals, 1.0), 0.0)
    A = 2.0 * np.einsum("rik,rk,rjk->rij", evecs, scaled, evecs)
    var = sig ** 2 * inv0[:, j, j]
    grad = np.empty((R, d + 1))
    grad[:, :d] = (sig ** 2)[:, None] * gv
    grad[:, d] = 2.0 * sig * inv0[:, j, j]
    denom = np.einsum("ri,rij,rj->r", grad, A, grad)
    df = np.where(denom > 0, 2.0 * var * var / np.where(denom > 0, denom, 1.0), math.inf)
    se = np.sqrt(var)
    t = bj / se
    p = 2.0 * stats.t.sf(np.abs(t), df)
    return {"estimate": bj, "std_error": se, "df": df, "t": t, "p": p, "hessian_warning": warn}
