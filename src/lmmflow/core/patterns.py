"""The objective of a one-term model, compressed by the levels' patterns of observations.

With one random-effects term the factor of the penalized system is block-diagonal in the term's levels,
and the objective needs, for every level i with block ``A_i`` of Z'Z and ``C_i = Z_i'[X y]`` (p x c),

    G_i = Lambda (Lambda' A_i Lambda + I)^-1 Lambda'           (p x p)
    S   = [X y]'[X y] - sum_i C_i' G_i C_i                     (c x c, the [X y] block after elimination)
    log|L_Z|^2 = sum_i log det(Lambda' A_i Lambda + I).

``G_i`` depends on the level only through ``A_i``.  Levels with the same ``A_i`` (the same pattern of
observations: in a longitudinal design with five fixed waves there are at most 31 patterns, whatever the
number of units) share it, so ``C_i' G_i C_i`` summed over a pattern is ``sum_(a<=b) G[a, b] * Q[a, b]``
with ``Q[a, b] = sum_i sym(C_i[a]' C_i[b])`` formed once, before the optimizer starts.  An evaluation then
costs a few operations on (patterns x p x p) and (c x c) arrays instead of a pass over the levels.

This is the same function as :class:`~lmmflow.core.blocked.BlockedCholesky` evaluates (the tests check
agreement to rounding); :class:`~lmmflow.core.DevianceFunction` uses it for the objective when the
patterns are few, and the blocked factor for everything else.  Imports only numpy.
"""

from __future__ import annotations

import numpy as np

from .crossprod import CrossProducts
from .oneterm import level_weights, pair_index

__all__ = ["MAX_PATTERN_SHARE", "PatternObjective"]

MAX_PATTERN_SHARE = 0.125
"""Use the compressed objective when the patterns number at most this share of the levels."""
_CHUNK_LEVELS = 16_384


def _level_patterns(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``A`` (levels x p*p) and each level's pattern index."""
    if A.shape[1] == 1:
        uniq, inv = np.unique(A[:, 0], return_inverse=True)
        return uniq[:, None], inv.ravel()
    # rows compared as raw bytes (several times faster than np.unique(axis=0)); equal values with
    # different bytes (-0.0 and 0.0) only make two patterns of one, which costs time, not accuracy
    A = np.ascontiguousarray(A)
    keys = A.view(np.dtype((np.void, A.dtype.itemsize * A.shape[1]))).ravel()
    _, first, inv = np.unique(keys, return_index=True, return_inverse=True)
    return A[first], inv.ravel()


class PatternObjective:
    """log-determinants and penalized RSS of a one-term model at theta, from per-pattern sums.

    Parameters
    ----------
    cp : CrossProducts
        Cross-products of a model with one random-effects term.
    rows, cols : numpy.ndarray
        Which entries of the term's lambda the elements of theta fill.
    pattern_inverse : tuple of (numpy.ndarray, numpy.ndarray), optional
        Distinct blocks and each level's pattern, if already known (see :meth:`patterns`).

    Examples
    --------
    >>> import numpy as np
    >>> import lmmflow as lf
    >>> dev = lf.make_deviance("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> f = dev.factor
    >>> po = PatternObjective(dev.cp, *f.positions[0])
    >>> po.npat                                  # all 18 subjects were seen on the same ten days
    1
    >>> theta = np.array([0.9667, 0.0152, 0.2309])
    >>> f.update(theta)
    >>> bool(np.allclose(po(theta), (f.logdet_re(), f.logdet_rx(), f.pwrss()), rtol=1e-10))
    True
    """

    def __init__(self, cp: CrossProducts, rows: np.ndarray, cols: np.ndarray,
                 pattern_inverse: tuple[np.ndarray, np.ndarray] | None = None):
        if len(cp.blocks) != 1:
            raise ValueError("PatternObjective needs a model with one random-effects term")
        b = cp.blocks[0]
        p, c, nl = b.p, cp.p + 1, b.nlevels
        self.p, self.px = p, cp.p
        self.rows, self.cols = np.asarray(rows), np.asarray(cols)
        uniq, inv = pattern_inverse if pattern_inverse is not None else self.patterns(cp)
        self.npat = len(uniq)
        self.A = uniq.reshape(self.npat, p, p)
        self.counts = np.bincount(inv, minlength=self.npat).astype(float)
        self.pairs = pair_index(p)
        self.xx = cp.xx.copy()
        # Q[pattern, pair] = sum over the pattern's levels of sym(C_i[a]' C_i[e]), through BLAS per pattern
        C = cp.xz[0].reshape(c, nl, p)  # C[:, i, a] = Z_i[:, a]'[X y]
        order = np.argsort(inv, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(self.counts.astype(np.int64))])
        Q = np.zeros((self.npat, len(self.pairs), c, c))
        for k in range(self.npat):
            for start in range(bounds[k], bounds[k + 1], _CHUNK_LEVELS):
                Ck = C[:, order[start:min(start + _CHUNK_LEVELS, bounds[k + 1])], :]  # (c, m, p)
                for j, (a, e) in enumerate(self.pairs):
                    prod = Ck[:, :, a] @ Ck[:, :, e].T
                    Q[k, j] += prod if a == e else prod + prod.T
        self.Q = Q.reshape(self.npat * len(self.pairs), c * c)

    @staticmethod
    def patterns(cp: CrossProducts) -> tuple[np.ndarray, np.ndarray]:
        """The distinct blocks ``A_i`` of the first term (patterns x p*p) and each level's pattern."""
        b = cp.blocks[0]
        return _level_patterns(np.ascontiguousarray(cp.diag[0]).reshape(b.nlevels, b.p * b.p))

    @classmethod
    def maybe(cls, cp: CrossProducts, rows: np.ndarray, cols: np.ndarray,
              min_levels: int = 64) -> PatternObjective | None:
        """A compressed objective for ``cp`` if it has one term whose levels share few patterns, else None."""
        if len(cp.blocks) != 1 or cp.blocks[0].nlevels < min_levels:
            return None
        uniq, inv = cls.patterns(cp)
        if len(uniq) > MAX_PATTERN_SHARE * cp.blocks[0].nlevels:
            return None
        return cls(cp, rows, cols, (uniq, inv))

    def _weights(self, lam: np.ndarray) -> tuple[float, np.ndarray]:
        """sum of log det(M) over levels, and G = lam M^-1 lam' per pattern and pair (patterns x pairs), from
        the one-term kernel (:func:`lmmflow.core.oneterm.level_weights`)."""
        logdet, g = level_weights(lam, self.A, self.counts)
        if not np.isfinite(logdet):
            raise np.linalg.LinAlgError("not positive definite")
        return float(logdet), g

    def _trailing(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """log det of the random-effects block and the lower Cholesky factor of the [X y] Schur complement."""
        p, px = self.p, self.px
        lam = np.zeros((p, p))
        lam[self.rows, self.cols] = theta
        logdet, g = self._weights(lam)
        c = px + 1
        S = self.xx - (g.ravel() @ self.Q).reshape(c, c)
        return logdet, np.linalg.cholesky(S)

    def __call__(self, theta: np.ndarray) -> tuple[float, float, float]:
        """(log det of the random-effects block, log det R_X R_X', penalized RSS) at ``theta``."""
        logdet, R = self._trailing(theta)
        d = np.diagonal(R)
        return logdet, 2.0 * float(np.log(d[:self.px]).sum()), float(d[self.px] ** 2)

    def fixed_solution(self, theta: np.ndarray) -> tuple[tuple[float, float, float], np.ndarray, np.ndarray]:
        """The three parts of :meth:`__call__`, the fixed effects and R_X (p x p, lower) at ``theta``, from
        the same per-pattern sums (no per-level work): beta solves R_X' beta = the y row of the factor."""
        px = self.px
        logdet, R = self._trailing(theta)
        d = np.diagonal(R)
        rx = R[:px, :px].copy()
        beta = np.linalg.solve(rx.T, R[px, :px]) if px else np.zeros(0)
        return (logdet, 2.0 * float(np.log(d[:px]).sum()), float(d[px] ** 2)), beta, rx
