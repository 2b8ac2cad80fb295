"""The objective of a small model from one dense matrix.

For a model with few random effects (sleepstudy has 36) the cost of an evaluation is the number of
numpy calls, not arithmetic.  Here the whole system [Z X y]'[Z X y] is one dense (q + p + 1) square
matrix Omega.  Omega is a quadratic function of theta, so it is laid out once as a fixed combination of
matrices, and an evaluation is one matrix-vector product (with (1, theta, theta_s theta_t)) and one
Cholesky (sleepstudy: 17 us, against 25 us forming Lambda'Z'Z Lambda each time).  Its gradient comes
from the same factor (:meth:`SmallDenseObjective.with_gradients`).  The blocked factor remains the
reference implementation (and serves solutions and everything large); the tests check that both give
the same objective and gradient.  Imports only numpy and scipy.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.lapack import dpotrf as _potrf
from scipy.linalg.lapack import dtrtri as _trtri
from scipy.linalg.lapack import dtrtrs as _trtrs

from .crossprod import CrossProducts

__all__ = ["MAX_DENSE_SIZE", "MAX_QUADRATIC_VALUES", "SmallDenseObjective"]

MAX_DENSE_SIZE = 150
MAX_QUADRATIC_VALUES = 2_000_000
"""Largest (terms x size^2) of Omega written as a quadratic form in theta (16 MB); larger small models form
Lambda'Z'Z Lambda by two products at each evaluation instead."""


class SmallDenseObjective:
    """log-determinants and penalized RSS of a small model at theta, from dense matrices.

    Parameters
    ----------
    cp : CrossProducts
    slices, positions : list
        Where each term's theta elements sit and which lambda entries they fill (``theta_layout``).
    """

    def __init__(self, cp: CrossProducts, slices: list[slice], positions: list[tuple[np.ndarray, np.ndarray]]):
        starts = np.concatenate([[0], np.cumsum([b.q for b in cp.blocks])]).astype(int)
        q, c = int(starts[-1]), cp.p + 1
        self.q, self.p = q, cp.p
        azz = np.zeros((q, q))
        rows, cols, tidx = [], [], []
        for k, b in enumerate(cp.blocks):
            base = starts[k] + np.arange(b.nlevels) * b.p
            for r in range(b.p):
                for s in range(b.p):
                    azz[base + r, base + s] = cp.diag[k][:, r, s]
            rr, cc = positions[k]
            for t, (r, s) in enumerate(zip(rr, cc)):
                rows.append(base + r)
                cols.append(base + s)
                tidx.append(np.full(b.nlevels, slices[k].start + t))
            for j in range(k):
                blk = cp.off[(k, j)].toarray()
                azz[starts[k]:starts[k + 1], starts[j]:starts[j + 1]] = blk
                azz[starts[j]:starts[j + 1], starts[k]:starts[k + 1]] = blk.T
        self.azz = azz
        self.azx = np.vstack([cp.xz[k].T for k in range(len(cp.blocks))])
        self.axx = cp.xx.copy()
        self.rows = np.concatenate(rows)
        self.cols = np.concatenate(cols)
        self.tidx = np.concatenate(tidx)
        self.diag = np.arange(q)
        self.n_theta = int(self.tidx.max()) + 1 if len(self.tidx) else 0
        self.work = np.empty((q + c, q + c))
        self._cuts = np.array([0, q], dtype=np.intp)
        self.terms = self._quadratic_terms() if self._quadratic_size() <= MAX_QUADRATIC_VALUES else None

    def _quadratic_size(self) -> int:
        k = self.n_theta
        return (1 + k + k * (k + 1) // 2) * (self.q + self.p + 1) ** 2

    def _quadratic_terms(self) -> np.ndarray:
        """Omega(theta) as a fixed combination: Omega = sum_i v_i T_i with v = (1, theta_t, theta_s theta_t).

        Lambda = sum_t theta_t E_t (E_t the indicator of theta_t's entries), so Omega's blocks are
        Lambda'Z'Z Lambda + I = I + sum_(s,t) theta_s theta_t E_s'Z'Z E_t and
        Lambda'Z'[X y] = sum_t theta_t E_t'Z'[X y].
        """
        q, k = self.q, self.n_theta
        N = q + self.p + 1
        # E_t moves row R_t[i] to column C_t[i] (one entry per level, distinct rows and columns), so
        # E_s'A E_t is A[R_s, R_t] placed at (C_s, C_t): index operations, no q x q products
        R = [self.rows[self.tidx == t] for t in range(k)]
        C = [self.cols[self.tidx == t] for t in range(k)]
        T = np.zeros((1 + k + k * (k + 1) // 2, N, N))
        T[0, :q, :q] = np.eye(q)
        T[0, q:, q:] = self.axx
        for t in range(k):
            T[1 + t, C[t], q:] = self.azx[R[t]]
            T[1 + t, q:, :q] = T[1 + t, :q, q:].T
        self._pairs = [(s, t) for s in range(k) for t in range(s, k)]
        # the coefficient vector (1, theta, theta_s theta_t), refilled in place at each evaluation
        self._pair_a = np.array([s for s, _ in self._pairs], dtype=np.intp)
        self._pair_b = np.array([t for _, t in self._pairs], dtype=np.intp)
        self._coef = np.zeros(1 + k + len(self._pairs))
        self._coef[0] = 1.0
        for i, (s, t) in enumerate(self._pairs):
            blk = T[1 + k + i, :q, :q]  # a view
            vals = self.azz[R[s][:, None], R[t][None, :]]
            blk[C[s][:, None], C[t][None, :]] = vals
            if s != t:  # and the transpose (positions of both may coincide: add)
                blk[C[t][:, None], C[s][None, :]] += vals.T
        return T.reshape(len(T), N * N)

    @staticmethod
    def fits(cp: CrossProducts) -> bool:
        """Whether a model is small enough for the dense path to pay."""
        return sum(b.q for b in cp.blocks) + cp.p + 1 <= MAX_DENSE_SIZE

    def _factor(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lambda, Lambda'Z'Z and the upper factor U (U'U = Omega) of the whole system at ``theta``."""
        q = self.q
        lam = np.zeros((q, q))
        lam[self.rows, self.cols] = theta[self.tidx]
        m = self.work
        la = lam.T @ self.azz
        top = la @ lam
        top[self.diag, self.diag] += 1.0
        m[:q, :q] = top
        b = lam.T @ self.azx
        m[:q, q:] = b
        m[q:, :q] = b.T
        m[q:, q:] = self.axx
        # C-ordered Omega is its own transpose; LAPACK sees the F-ordered view and returns U with U'U = Omega
        c, info = _potrf(m.T, lower=0, clean=0, overwrite_a=0)
        if info != 0:
            raise np.linalg.LinAlgError("not positive definite")
        return lam, la, c

    def _parts(self, c: np.ndarray) -> tuple[float, float, float]:
        q, p = self.q, self.p
        d = c.ravel()[::c.shape[0] + 1]  # the diagonal of the square factor (a strided view)
        if p:
            a, b = np.add.reduceat(np.log(d[:q + p]), self._cuts).tolist()  # one log, both sums
        else:
            a, b = float(np.log(d[:q]).sum()), 0.0
        return 2.0 * a, 2.0 * b, float(d[-1]) ** 2

    def _upper(self, theta: np.ndarray) -> np.ndarray:
        """The factor U (U'U = Omega, upper triangle; the other holds leftovers): from the quadratic form,
        or, where that layout would be too large, from Lambda formed at ``theta``."""
        if self.terms is None:
            return self._factor(theta)[2]
        v, k = self._coef, self.n_theta
        v[1:1 + k] = theta
        np.multiply(theta[self._pair_a], theta[self._pair_b], out=v[1 + k:])
        N = self.q + self.p + 1
        m = (v @ self.terms).reshape(N, N)
        c, info = _potrf(m, lower=0, clean=0, overwrite_a=1)  # symmetric: the C-ordered array is its transpose
        if info != 0:
            raise np.linalg.LinAlgError("not positive definite")
        return c

    def __call__(self, theta: np.ndarray) -> tuple[float, float, float]:
        """(log det of the random-effects block, log det R_X R_X', penalized RSS) at ``theta``."""
        return self._parts(self._upper(theta))

    def with_gradients(self, theta: np.ndarray) -> tuple[tuple[float, float, float], np.ndarray]:
        """The three parts and the gradients of log det of Omega's leading blocks (3 x n_theta).

        With Omega = [[Lambda'Z'Z Lambda + I, Lambda'Z'[X y]], [., [X y]'[X y]]] = L L', the parts are
        log-determinants of leading blocks: D1 (the q random effects), D2 (q + p) and D3 (all), with
        log|R_X|^2 = D2 - D1 and log(pwrss) = D3 - D2.  The derivative of Omega in theta_j is E + E'
        with E's first q columns P dLambda, P = [Lambda'Z'Z; [X y]'Z]; so

            d D_k / d theta_j = 2 sum over the entries (r, s) of Lambda holding theta_j of G_k[r, s],
            G_k = P[:k]' Omega_k^-1[:k, :q] = (W P)[:k]' W[:k, :q],  W = L^-1,

        which needs one triangular inverse and three small products, and holds on the boundary too.
        """
        q = self.q
        lam, la, u = self._factor(theta)
        w, info = _trtri(u, lower=0)  # upper inverse: W = L^-1 = (U^-1)'
        if info != 0:
            raise np.linalg.LinAlgError("singular factor")
        W = np.triu(w).T  # lower triangular (LAPACK leaves the other triangle as it found it)
        P = np.vstack([la, self.azx.T])  # (q + c) x q
        WP = W @ P
        sizes = (q, q + self.p, W.shape[0])
        grads = np.empty((3, self.n_theta))
        for i, k in enumerate(sizes):
            G = WP[:k].T @ W[:k, :q]
            grads[i] = 2.0 * np.bincount(self.tidx, weights=G[self.rows, self.cols], minlength=self.n_theta)
        return self._parts(u), grads

    def solution(self, theta: np.ndarray) -> tuple[tuple[float, float, float], np.ndarray, np.ndarray, np.ndarray]:
        """The penalized least-squares solution at ``theta`` from one factor of Omega.

        With Omega = U'U (U upper, blocks for u, beta and y), back substitution gives beta from
        U_22 beta = U_23 and u from U_11 u = U_13 - U_12 beta; R_X (lower, as the blocked factor's) is U_22'.

        Returns
        -------
        parts : tuple
            As :meth:`__call__`.
        beta : numpy.ndarray
            Fixed effects (of the response the cross-products hold).
        u : numpy.ndarray
            Spherical random effects, all terms, level-major (length q).
        rx : numpy.ndarray
            p x p lower factor R_X of the fixed-effects block.
        """
        q, p = self.q, self.p
        theta = np.asarray(theta, dtype=float)
        U = np.asfortranarray(np.triu(self._upper(theta)))
        beta, info_b = _trtrs(U[q:q + p, q:q + p], U[q:q + p, -1]) if p else (np.zeros(0), 0)
        u, info_u = _trtrs(U[:q, :q], U[:q, -1] - U[:q, q:q + p] @ beta)
        if info_b or info_u:
            raise np.linalg.LinAlgError("singular factor")
        return self._parts(U), beta, u, np.ascontiguousarray(U[q:q + p, q:q + p].T)
