"""The Schur-complement objective for nested terms: each level of the first term lies in one level of each other.

Students in schools (``(1 + time | school) + (1 + time | school:student)``), classes in schools in districts: the
first term (the one with most levels, engine order) is nested in every other, so each of its levels meets
exactly one level of each other term.  The coupling block A_r1 = [Z_r'Z_1; [X y]'Z_1] then has, for each level
l of the first term, a small dense column block on R = sum_k p_k + p + 1 rows (its parents' rows and the X, y
rows).  Everything of :class:`~lmmflow.core.schur.SchurObjective` is kept, with these blocks gathered per level:

    C_l = Lambda_R' A_R,l lambda_1 L_11,l^-T                      (R x p_1, batched over levels)
    S   = Lambda_r' A_rr Lambda_r + I - sum_l C_l C_l'             (the sum scattered by flat indices)

and the gradient's quadratic forms a' S_k^-1 b (S_k the leading blocks of S, whose inverses are three small
dense matrices) read the R x R entries each level touches.  No N_r x q_1 matrix is formed: the cost of an
evaluation grows with the number of levels times R^2 plus N_r^3.  Imports only numpy and scipy.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.lapack import dpotrf as _potrf
from scipy.linalg.lapack import dtrtri as _trtri

from .crossprod import CrossProducts
from .schur import MAX_TRAILING, SchurObjective, _levels_solve_upper, _solve_upper

__all__ = ["NestedSchurObjective"]

MAX_GATHERED = 20_000_000
"""Largest number of values levels x R x R held per evaluation (160 MB)."""
MAX_NESTED_TRAILING = 256
"""Largest trailing system for the nested variant: its dense factor costs N_r^3 / 3 per evaluation, which past a
few hundred (hundreds of schools with slopes) loses to the blocked factor's sparse fill (measured: 30 schools
0.13 s against 1.1 s; 300 schools 7.6 s against 4.3 s)."""


def _parents(cp: CrossProducts, k: int) -> np.ndarray | None:
    """For each level of the first term, the one level of term k it lies in; None if some level meets several."""
    b1, bk = cp.blocks[0], cp.blocks[k]
    off = cp.off[(k, 0)].tocsc()
    col_level = np.repeat(np.arange(b1.nlevels), b1.p)
    counts = np.diff(off.indptr)
    rows = off.indices // bk.p
    parent = np.full(b1.nlevels, -1, dtype=np.intp)
    lv = np.repeat(col_level, counts)
    first = np.full(b1.nlevels, -1, dtype=np.intp)
    first[lv[::-1]] = rows[::-1]  # some row each level touches (the first in column order)
    if len(rows) and np.any(rows != first[lv]):
        return None  # a level of the first term meets two levels of term k: crossed, not nested
    parent[:] = first
    if np.any(parent < 0):  # a level meeting no level of term k (all its values zero): leave it to others
        return None
    return parent


class NestedSchurObjective(SchurObjective):
    """:class:`~lmmflow.core.schur.SchurObjective` for a first term nested in every other term.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from lmmflow.api import make_deviance
    >>> rng = np.random.default_rng(0)
    >>> school, klass = np.repeat(np.arange(6), 32), np.repeat(np.arange(12), 16)   # classes in schools
    >>> student, t = np.repeat(np.arange(48), 4), np.tile(np.arange(4.0), 48)       # students in classes
    >>> df = pd.DataFrame({"y": rng.normal(size=192) + t, "t": t, "school": school, "klass": klass, "student": student})
    >>> f = make_deviance("y ~ t + (1 | school) + (1 | klass) + (1 + t | student)", df)
    >>> ns = NestedSchurObjective(f.cp, f.factor.slices, f.factor.positions)
    >>> theta = 0.8 * f.theta0
    >>> np.allclose(f._criterion(ns(theta)), f.blocked(theta))
    True
    """

    dense_trailing = True
    """The other terms' system is held dense (:class:`~lmmflow.core.twolevel.TwoLevelObjective` keeps it per level)."""

    def _coupling(self, cp: CrossProducts) -> np.ndarray:
        m1, p1, c = self.m1, self.p1, self.c
        parents = [_parents(cp, k) for k in range(1, len(cp.blocks))]
        if any(par is None for par in parents):
            raise ValueError("the first term is not nested in every other term")
        self.parents = parents
        lv = np.arange(m1)
        pieces, rows = [], []
        for k, (b, par) in enumerate(zip(self.rest, parents)):
            off = cp.off[(k + 1, 0)].tocsr()
            rk = (par[:, None] * b.p + np.arange(b.p)[None, :])  # (m1, p_k) rows of Z_k'Z_1
            ck = lv[:, None] * p1 + np.arange(p1)[None, :]  # (m1, p1) columns
            pieces.append(_gather(off, rk, ck))  # (m1, p_k, p1)
            rows.append(self.starts[k] + rk)
        pieces.append(cp.xz[0].reshape(c, m1, p1).transpose(1, 0, 2))  # (m1, c, p1)
        rows.append(np.broadcast_to(self.qr + np.arange(c), (m1, c)))
        self.g0 = np.ascontiguousarray(np.concatenate(pieces, axis=1))  # (m1, R, p1)
        self.rows = np.ascontiguousarray(np.concatenate(rows, axis=1))  # (m1, R) row of each gathered row
        self.rt = sum(b.p for b in self.rest)  # the first rt gathered rows are the terms' rows
        if self.dense_trailing:  # where each level's products land in the dense trailing block
            nr = self.nr
            self.flat = (self.rows[:, :, None] * nr + self.rows[:, None, :]).ravel()
            self.flat_rt = (self.rows[:, :, None] * self.qr + self.rows[:, None, :self.rt]).ravel()
        return np.zeros((0, 0))

    @staticmethod
    def fits(cp: CrossProducts) -> bool:
        """Several terms, the first nested in each of the others, and a small trailing system."""
        if len(cp.blocks) < 2:
            return False
        nr = sum(b.q for b in cp.blocks[1:]) + cp.p + 1
        R = sum(b.p for b in cp.blocks[1:]) + cp.p + 1
        if nr > min(MAX_TRAILING, MAX_NESTED_TRAILING) or cp.blocks[0].nlevels * R * R > MAX_GATHERED:
            return False
        return all(_parents(cp, k) is not None for k in range(1, len(cp.blocks)))

    def _left_gathered(self, lams: list[np.ndarray]) -> np.ndarray:
        """The R x R block-diagonal matrix diag(lambda_k', ..., I) acting on each level's gathered rows."""
        R = self.g0.shape[1]
        left = np.eye(R)
        a = 0
        for k, b in enumerate(self.rest):
            left[a:a + b.p, a:a + b.p] = lams[k + 1].T
            a += b.p
        return left

    def _factor(self, theta: np.ndarray) -> tuple:  # type: ignore[override]
        lams, l11, l11inv = self._first_term(theta)
        lam1 = lams[0]
        pg = np.matmul(self._left_gathered(lams), self.g0)  # (m1, R, p1): Lambda_R' A_R,l
        cg = np.matmul(pg @ lam1, l11inv.transpose(0, 2, 1))  # C_l
        srr = self._right_rest(lams, self._left_rest(lams, self.arr))
        srr[self._eye_rest, self._eye_rest] += 1.0
        outer = np.matmul(cg, np.ascontiguousarray(cg.transpose(0, 2, 1)))  # (a contiguous stack: 4x faster)
        srr -= np.bincount(self.flat, weights=outer.ravel(), minlength=self.nr * self.nr).reshape(self.nr, self.nr)
        lrr, info = _potrf(srr, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError("not positive definite")
        return lams, l11, l11inv, cg, lrr, pg

    def solution(self, theta: np.ndarray) -> tuple[tuple[float, float, float], np.ndarray, np.ndarray, np.ndarray]:
        """The penalized least-squares solution, as :meth:`SchurObjective.solution`, from the gathered rows."""
        _, l11, _, cg, lrr, _ = self._factor(np.asarray(theta, dtype=float))
        x = _solve_upper(lrr[:-1, :-1].T, lrr[-1, :-1])
        xg = np.append(x, 0.0)[self.rows[:, :-1]]  # each level's coupled rows of [u_r; beta]
        rhs = cg[:, -1, :] - np.einsum("lra,lr->la", cg[:, :-1, :], xg)
        u1 = _levels_solve_upper(l11, rhs)
        q, p = self.qr, self.p
        return self._parts(l11, lrr), x[q:q + p], np.concatenate([u1.ravel(), x[:q]]), lrr[q:q + p, q:q + p].copy()

    def with_gradients(self, theta: np.ndarray) -> tuple[tuple[float, float, float], np.ndarray]:
        theta = np.asarray(theta, dtype=float)
        lams, l11, l11inv, cg, lrr, pg = self._factor(theta)
        nr, qr, rt, p1 = self.nr, self.qr, self.rt, self.p1
        lam1 = lams[0]
        lrr_inv, info = _trtri(lrr, lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("singular factor")
        lrr_inv = np.tril(lrr_inv)
        # the inverses of S's three leading blocks, zero-padded to N_r x N_r
        cuts = (qr, qr + self.p, nr)
        sinv = []
        for k in cuts:
            w = np.zeros((nr, nr))
            if k:  # W_k' W_k with W_k the leading block of L^-1
                wk = lrr_inv[:k, :k]
                w[:k, :k] = wk.T @ wk
            sinv.append(w)
        # rows of term 1: the level's own block
        wp1_diag = l11inv @ np.matmul(lam1.T, self.d1)  # (m1, p1, p1)
        own1 = np.einsum("lia,lib->ab", wp1_diag, l11inv)
        # a_l = P_l - C_l (W P)_1,ll and b_l = -C_l L_11,l^-1 on each level's gathered rows
        a = pg - np.matmul(cg, wp1_diag)
        b = -np.matmul(cg, l11inv)
        # the rest's columns: rhs_r = Lambda_r' A_rr[:, :q_r] - sum_l C_l E_l, E_l = L_11,l^-1 lambda_1' A_Rt,l'
        e = np.matmul(l11inv, lam1.T @ self.g0[:, :rt, :].transpose(0, 2, 1))  # (m1, p1, rt)
        rhs_r = self._left_rest(lams, self.arr[:, :qr])
        rhs_r -= np.bincount(self.flat_rt, weights=np.matmul(cg, e).ravel(),
                             minlength=nr * qr).reshape(nr, qr)
        grads = np.zeros((3, self.n_theta))
        rows = self.rows
        for i, s in enumerate(sinv):
            sg = s[rows[:, :, None], rows[:, None, :]]  # (m1, R, R)
            g1 = own1 + a.reshape(-1, p1).T @ np.matmul(sg, b).reshape(-1, p1)
            r, c = self.positions[0]
            grads[i, self.slices[0]] = 2.0 * g1[r, c]
            for k, blk in enumerate(self.rest):
                lo, hi = self.starts[k], self.starts[k + 1]
                gk = rhs_r[:, lo:hi].reshape(-1, blk.p).T @ s[:, lo:hi].reshape(-1, blk.p)
                r, c = self.positions[k + 1]
                grads[i, self.slices[k + 1]] = 2.0 * gk[r, c]
        return self._parts(l11, lrr), grads


def _gather(off: object, rk: np.ndarray, ck: np.ndarray) -> np.ndarray:
    """Entries off[rk[l, a], ck[l, b]] of a sparse matrix as an (m, p_k, p_1) array."""
    rr = np.broadcast_to(rk[:, :, None], (rk.shape[0], rk.shape[1], ck.shape[1]))
    cc = np.broadcast_to(ck[:, None, :], rr.shape)
    return np.asarray(off[rr.ravel(), cc.ravel()]).reshape(rr.shape)  # type: ignore[index]
