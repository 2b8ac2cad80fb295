"""The one-term kernel: per-block weights of a model with one random-effects term.

With one term, the penalized system is block diagonal in the term's levels.  For a level with block
``A_i`` of Z'Z and the term's relative covariance factor ``Lambda`` (p x p, lower triangular),

    M_i = Lambda' A_i Lambda + I,        G_i = Lambda M_i^-1 Lambda'         (p x p)

give everything the profiled objective needs: ``log|L_Z|^2 = sum_i log det M_i`` and the [X y] block after
elimination, ``S = [X y]'[X y] - sum_i C_i' G_i C_i`` (``C_i = Z_i'[X y]``), written as a sum over the pairs
``a <= b`` of ``G_i[a, b] * sym(C_i[a]' C_i[b])``.  Blocks may be levels, or patterns of levels that share
``A_i`` (then each pattern's log-determinant counts once per level).

:func:`level_weights` computes ``log det M`` and ``G``'s pairs for many values of Lambda and many blocks at
once (closed forms for p = 1 and 2, batched Cholesky factors otherwise).  Every one-term objective calls it:
:class:`~lmmflow.core.patterns.PatternObjective` (the fit and the likelihood profiles),
:class:`~lmmflow.scale.single_term.SingleTermProfile` (fit_many, power, the pattern bootstrap) and the
bootstrap's per-level batch.  Imports only numpy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["level_weights", "pair_index"]


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
        (N, p, p): the term's lower-triangular relative covariance factors.
    A : numpy.ndarray
        (K, p, p): the blocks of Z'Z (levels, or patterns of levels).
    counts : numpy.ndarray, optional
        (K,): how many levels each block stands for (default one each).

    Returns
    -------
    logdet : numpy.ndarray
        (N,): the log-determinant of the random-effects block, ``log|L_Z|^2``; NaN where some M_i is not
        positive definite.
    g : numpy.ndarray
        (N, K, number of pairs): ``G_i[a, b]`` for the pairs of :func:`pair_index`.

    Examples
    --------
    >>> import numpy as np
    >>> lam = np.array([[[2.0]]])
    >>> A = np.array([[[3.0]], [[1.0]]])
    >>> logdet, g = level_weights(lam, A, np.array([4.0, 1.0]))
    >>> bool(np.isclose(logdet[0], 4 * np.log(13) + np.log(5))), g[0, :, 0].round(4).tolist()
    (True, [0.3077, 0.8])
    """
    N, p = lam.shape[0], lam.shape[1]
    K = A.shape[0]
    w = np.ones(K) if counts is None else counts
    with np.errstate(invalid="ignore", divide="ignore"):
        if p == 1:
            t2 = lam[:, 0, 0, None] ** 2
            m = t2 * A[None, :, 0, 0] + 1.0  # (N, K)
            m = np.where(m > 0, m, np.nan)
            return np.log(m) @ w, (t2 / m)[:, :, None]
        if p == 2:  # closed forms: a few operations on (N, K) arrays
            l00, l10, l11 = lam[:, 0, 0, None], lam[:, 1, 0, None], lam[:, 1, 1, None]
            a00, a01, a11 = A[None, :, 0, 0], A[None, :, 0, 1], A[None, :, 1, 1]
            m00 = l00 * (a00 * l00 + a01 * l10) + l10 * (a01 * l00 + a11 * l10) + 1.0
            m01 = l11 * (l00 * a01 + l10 * a11)
            m11 = l11 * l11 * a11 + 1.0
            det = m00 * m11 - m01 * m01
            det = np.where((m00 > 0) & (det > 0), det, np.nan)
            i00, i01, i11 = m11 / det, -m01 / det, m00 / det
            r0, r1 = l10 * i00 + l11 * i01, l10 * i01 + l11 * i11
            g = np.stack([l00 * l00 * i00, l00 * r0, r0 * l10 + r1 * l11], axis=2)  # (0,0), (0,1), (1,1)
            return np.log(det) @ w, g
        M = np.einsum("nba,kbc,ncd->nkad", lam, A, lam)
        tri = np.arange(p)
        M[:, :, tri, tri] += 1.0
        try:  # G = lam M^-1 lam' = W'W with W = L^-1 lam', L the Cholesky factor of M
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
        W = np.linalg.solve(L, np.broadcast_to(lam.transpose(0, 2, 1)[:, None], M.shape)) if ok is None else \
            np.stack([np.linalg.solve(L[n], np.broadcast_to(lam[n].T, L[n].shape)) if ok[n] else L[n]
                      for n in range(N)])
        G = W.transpose(0, 1, 3, 2) @ W
        return logdet, np.stack([G[:, :, a, b] for a, b in pair_index(p)], axis=2)
