"""A starting theta from moments, for models whose random-effects terms are all scalar.

lme4 starts every fit at theta = 1.  For crossed or nested random intercepts fitted by a gradient method
that start costs several evaluations, each a dense Cholesky and its inverse (InstEval: 11 against 6).  The
cross-products already hold what a method-of-moments estimate needs.  With r = (I - H) y the response
centred on its least-squares fit on X (as :class:`~lmmflow.core.CrossProducts` stores it), V = sum_j
sigma_j^2 Z_j Z_j' + sigma^2 I the model's covariance and D_k = Z_k'Z_k (diagonal for a scalar term),

    E[ r'Z_k D_k^-1 Z_k'r ] = sum_j sigma_j^2 ||D_k^-1/2 Z_k'(I - H) Z_j||_F^2 + sigma^2 tr(D_k^-1 Z_k'(I - H) Z_k)
    E[ r'r ]                = sum_j sigma_j^2 tr(Z_j'(I - H) Z_j)                + sigma^2 (n - p)

exactly (Henderson's method I with the fixed effects accounted for).  Every term is a function of
Z_k'Z_j, Z_k'X and X'X: with G_k = Z_k'X and F = (X'X)^-1, Z_k'(I - H) Z_j = Z_k'Z_j - G_k F G_j', whose
squared norm expands into a sum over the non-zeros of Z_k'Z_j and p x p traces, so no q_k x q_j dense
matrix is formed.  These K + 1 linear equations give the variances; theta_k = sqrt(sigma_k^2 / sigma^2).
It is only a start: the optimizer reaches the same optimum, and the start is recorded in the
optimizer's summary.  Imports only numpy and scipy.
"""

from __future__ import annotations

import numpy as np

from .crossprod import CrossProducts

__all__ = ["moment_theta"]

_FLOOR = 0.05
"""Smallest starting value: a start on the bound would be a stationary point of the analytic gradient."""


def moment_theta(cp: CrossProducts) -> np.ndarray | None:
    """theta from the moment equations above, or None when they do not apply or have no usable solution.

    Parameters
    ----------
    cp : CrossProducts
        Of a model whose every random-effects term is scalar (one effect per level).

    Returns
    -------
    numpy.ndarray or None
        One value per term, each at least 0.05.

    Examples
    --------
    >>> import lmmflow as lf
    >>> from lmmflow.api import make_deviance
    >>> dev = make_deviance("diameter ~ 1 + (1 | plate) + (1 | sample)", lf.load_dataset("penicillin"))
    >>> moment_theta(dev.cp).round(2).tolist()
    [1.54, 3.51]
    """
    K, p = len(cp.blocks), cp.p
    if K == 0 or any(b.p != 1 for b in cp.blocks):
        return None
    n_l = [cp.diag[k][:, 0, 0] for k in range(K)]
    if any(not np.all(nl > 0) for nl in n_l):
        return None
    G = [cp.xz[k][:p].T for k in range(K)]  # Z_k'X, q_k x p
    if p:
        try:
            F = np.linalg.inv(np.linalg.cholesky(cp.xx[:p, :p]))
        except np.linalg.LinAlgError:
            return None
        F = F.T @ F  # (X'X)^-1
    else:
        F = np.zeros((0, 0))
    Q = [g.T @ g for g in G]  # G_j'G_j
    H = [(g @ F) / nl[:, None] for g, nl in zip(G, n_l)]  # D_k^-1 G_k F
    trFQ = [float(np.sum(F * q)) for q in Q]  # tr(F G_j'G_j) = tr(G_j F G_j'), 0 without fixed effects
    A = np.zeros((K + 1, K + 1))
    rhs = np.zeros(K + 1)
    for k in range(K):
        nl = n_l[k]
        Pk = G[k].T @ H[k]  # G_k'D_k^-1 G_k F
        PkF = Pk @ F
        rhs[k] = float(np.sum(cp.xz[k][p] ** 2 / nl))
        for j in range(K):
            third = float(np.sum(PkF * Q[j].T))  # tr(F G_k'D_k^-1 G_k F G_j'G_j)
            if j == k:
                first, second = float(nl.sum()), trFQ[k]
            else:
                B = cp.off[(k, j)] if k > j else cp.off[(j, k)].T.tocsr()
                first = float(np.asarray(B.multiply(B).sum(axis=1)).ravel() @ (1.0 / nl))
                second = float(np.sum((B.T @ H[k]) * G[j]))
            A[k, j] = first - 2.0 * second + third
        A[k, K] = len(nl) - float(np.trace(Pk))
        A[K, k] = float(nl.sum()) - trFQ[k]
    A[K, K] = cp.n - p
    rhs[K] = float(cp.xx[p, p])
    try:
        sol = np.linalg.solve(A, rhs)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(sol)) or sol[K] <= 0:
        return None
    return np.sqrt(np.maximum(sol[:K] / sol[K], _FLOOR ** 2))
