"""The one-term kernel: per-block weights of a model with one random-effects term.

With one term, the penalized system is block diagonal in the term's levels.  For a level with block
``A_i`` of Z'Z and the term's relative covariance factor ``Lambda`` (p x p, lower triangular),

    M_i = Lambda' A_i Lambda + I,        G_i = Lambda M_i^-1 Lambda'         (p x p)

give everything the profiled objective needs: ``log|L_Z|^2 = sum_i log det M_i`` and the [X y] block after
elimination, ``S = [X y]'[X y] - sum_i C_i' G_i C_i`` (``C_i = Z_i'[X y]``), written as a sum over the pairs
``a <= b`` of ``G_i[a, b] * sym(C_i[a]' C_i[b])``.  Blocks may be levels, or patterns of levels that share
``A_i`` (then each pattern's log-determinant counts once per level).

:func:`level_weights` computes ``log det M`` and ``G``'s pairs for many values of Lambda and many blocks at
once (closed forms for p = 1 and 2, batched Cholesky factors otherwise), for sums over patterns;
:func:`level_factors` gives the same in factor form, ``G_i = R_i' R_i`` with ``R_i = L_i^-1 Lambda'``, for
products level by level.  Both form M from one helper.  Every one-term objective calls them:
:class:`~lmmflow.core.patterns.PatternObjective` (the fit and the likelihood profiles),
:class:`~lmmflow.scale.single_term.SingleTermProfile` (fit_many, power, the pattern bootstrap) and the
bootstrap's per-level batch.  Imports only numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["level_factors", "level_weights", "pair_index"]


def pair_index(p: int) -> list[tuple[int, int]]:
    """The pairs ``(a, b)``, ``a <= b``, of a p x p symmetric block, in the order of :func:`level_weights`.

    Examples
    --------
    >>> pair_index(2)
    [(0, 0), (0, 1), (1, 1)]
    """
    return [(a, b) for a in range(p) for b in range(a, p)]


def level_weights(lam: np.ndarray, A: np.ndarray, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``sum_i counts_i log det M_i`` and the pairs of ``G_i`` for N factors Lambda and K blocks A_i.

    Parameters
    ----------
    lam : numpy.ndarray
        (N, p, p): the term's lower-triangular relative covariance factors; or (p, p), one point.
    A : numpy.ndarray
        (K, p, p): the blocks of Z'Z (levels, or patterns of levels).
    counts : numpy.ndarray, optional
        (K,): how many levels each block stands for (default one each).

    Returns
    -------
    logdet : numpy.ndarray or float
        (N,): the log-determinant of the random-effects block, ``log|L_Z|^2``; NaN where some M_i is not
        positive definite.  A float for one point.
    g : numpy.ndarray
        (N, K, number of pairs): ``G_i[a, b]`` for the pairs of :func:`pair_index`; (K, pairs) for one point.

    Examples
    --------
    >>> import numpy as np
    >>> lam = np.array([[[2.0]]])
    >>> A = np.array([[[3.0]], [[1.0]]])
    >>> logdet, g = level_weights(lam, A, np.array([4.0, 1.0]))
    >>> bool(np.isclose(logdet[0], 4 * np.log(13) + np.log(5))), g[0, :, 0].round(4).tolist()
    (True, [0.3077, 0.8])
    """
    p, K = lam.shape[-1], A.shape[0]
    w = np.ones(K) if counts is None else counts
    if lam.ndim == 2:  # one point: scalars of lambda against (K,) arrays (the optimizer's hot loop)
        lam_ab = (lambda a, b: float(lam[a, b]))  # noqa: E731
        a_ab = (lambda a, b: A[:, a, b])  # noqa: E731
    else:  # N points: (N, 1) against (1, K)
        lam_ab = (lambda a, b: lam[:, a, b, None])  # noqa: E731
        a_ab = (lambda a, b: A[None, :, a, b])  # noqa: E731
    if p == 1:  # M = lambda^2 A + 1 >= 1
        t2 = lam_ab(0, 0) ** 2
        m = t2 * a_ab(0, 0) + 1.0
        return np.log(m) @ w, (t2 / m)[..., None]
    if p == 2:  # closed forms: a few operations on (K,) or (N, K) arrays
        l00, l10, l11 = lam_ab(0, 0), lam_ab(1, 0), lam_ab(1, 1)
        m00, m01, m11 = _m2(l00, l10, l11, a_ab(0, 0), a_ab(0, 1), a_ab(1, 1))
        det = m00 * m11 - m01 * m01
        if not (np.all(m00 > 0) and np.all(det > 0)):
            det = np.where((m00 > 0) & (det > 0), det, np.nan)
        i00, i01, i11 = m11 / det, -m01 / det, m00 / det
        r0, r1 = l10 * i00 + l11 * i01, l10 * i01 + l11 * i11
        g = np.empty(det.shape + (3,))
        g[..., 0] = (l00 * l00) * i00  # pairs (0,0), (0,1), (1,1)
        g[..., 1] = l00 * r0
        g[..., 2] = r0 * l10 + r1 * l11
        return np.log(det) @ w, g
    with np.errstate(invalid="ignore", divide="ignore"):
        logdet, W = _general_factors(lam if lam.ndim == 3 else lam[None], A, w)  # G = W'W, W = L^-1 lam'
    G = W.transpose(0, 1, 3, 2) @ W
    g = np.stack([G[:, :, a, b] for a, b in pair_index(p)], axis=2)
    return (logdet, g) if lam.ndim == 3 else (logdet[0], g[0])


def level_factors(lam: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sum_i log det M_i`` and ``R_i = L_i^-1 Lambda'`` (``G_i = R_i' R_i``, L_i the Cholesky factor of M_i).

    The factor form of :func:`level_weights`, for products level by level: ``R_i C_i`` is the level's rows
    of the factor of the penalized system in the [X y] columns.

    Parameters
    ----------
    lam : numpy.ndarray
        (N, p, p), as for :func:`level_weights`.
    A : numpy.ndarray
        (K, p, p).

    Returns
    -------
    logdet : numpy.ndarray
        (N,); NaN where some M_i is not positive definite.
    R : numpy.ndarray
        (N, p, p, K), block-minor: ``R[n, a, b]`` is a contiguous array over the blocks.

    Examples
    --------
    >>> import numpy as np
    >>> lam = np.array([[[1.0, 0.0], [0.5, 2.0]]])
    >>> A = np.array([[[4.0, 1.0], [1.0, 3.0]]])
    >>> logdet, R = level_factors(lam, A)
    >>> G = R[0, :, :, 0].T @ R[0, :, :, 0]
    >>> M = lam[0].T @ A[0] @ lam[0] + np.eye(2)
    >>> bool(np.allclose(G, lam[0] @ np.linalg.inv(M) @ lam[0].T))
    True
    >>> bool(np.isclose(logdet[0], np.log(np.linalg.det(M))))
    True
    """
    N, p = lam.shape[0], lam.shape[1]
    K = A.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        if p == 1:
            L00 = np.sqrt(lam[:, 0, 0, None] ** 2 * A[None, :, 0, 0] + 1.0)  # (N, K)
            return 2.0 * np.sum(np.log(L00), axis=1), (lam[:, 0, 0, None] / L00)[:, None, None, :]
        if p == 2:  # closed forms: L = [[L00, 0], [L10, L11]], R = L^-1 lam'
            l00, l10, l11 = lam[:, 0, 0, None], lam[:, 1, 0, None], lam[:, 1, 1, None]
            m00, m01, m11 = _m2(l00, l10, l11, A[None, :, 0, 0], A[None, :, 0, 1], A[None, :, 1, 1])
            L00 = np.sqrt(m00)
            L10 = m01 / L00
            L11 = np.sqrt(m11 - L10 * L10)
            R = np.empty((N, 2, 2, K))
            R[:, 0, 0] = l00 / L00
            R[:, 0, 1] = l10 / L00
            R[:, 1, 0] = -(L10 / L11) * R[:, 0, 0]
            R[:, 1, 1] = (l11 - L10 * R[:, 0, 1]) / L11
            return 2.0 * np.sum(np.log(L00) + np.log(L11), axis=1), R
        logdet, W = _general_factors(lam, A, np.ones(K))
        return logdet, np.ascontiguousarray(W.transpose(0, 2, 3, 1))


def _m2(l00: Any, l10: Any, l11: Any, a00: np.ndarray, a01: np.ndarray, a11: np.ndarray,
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The entries (0,0), (0,1), (1,1) of M = lam' A lam + I for p = 2, from lambda's and A's entries."""
    t10 = a01 * l00 + a11 * l10
    m00 = l00 * (a00 * l00 + a01 * l10) + l10 * t10 + 1.0
    return m00, l11 * t10, (l11 * l11) * a11 + 1.0


def _general_factors(lam: np.ndarray, A: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Any p: ``sum_i w_i log det M_i`` (N,) and ``W_i = L_i^-1 lam'`` (N, K, p, p), by batched Cholesky
    factors; NaN for the points where some M_i has none."""
    N, p = lam.shape[0], lam.shape[1]
    M = np.einsum("nba,kbc,ncd->nkad", lam, A, lam)
    tri = np.arange(p)
    M[:, :, tri, tri] += 1.0
    try:
        L = np.linalg.cholesky(M)
        ok = None
    except np.linalg.LinAlgError:  # some point has no factor: those points get NaN
        L = np.full_like(M, np.nan)
        ok = np.zeros(N, dtype=bool)
        for n in range(N):
            try:
                L[n] = np.linalg.cholesky(M[n])
                ok[n] = True
            except np.linalg.LinAlgError:
                pass
    logdet = 2.0 * (np.log(L[:, :, tri, tri]).sum(axis=2) @ w)
    if ok is None:
        W = np.linalg.solve(L, np.broadcast_to(lam.transpose(0, 2, 1)[:, None], M.shape))
    else:
        W = np.stack([np.linalg.solve(L[n], np.broadcast_to(lam[n].T, L[n].shape)) if ok[n] else L[n]
                      for n in range(N)])
    return logdet, W
