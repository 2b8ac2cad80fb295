"""Two nested terms (students in schools, any number of schools): the Schur objective with no dense trailing block.

With the first term nested in the second and no other term, eliminating the first term (as in
:class:`~lmmflow.core.nested.NestedSchurObjective`) leaves the second term's system block diagonal, one
p_2 x p_2 block per level, bordered by the X, y rows:

    S = [[D, B'], [B, E]],   D = blockdiag(D_s),   E: (p + 1) x (p + 1)

so the factor is per-level again (L_22,s = chol D_s, L_32,s = B_s L_22,s^-T) with one small dense block
(L_33 = chol(E - sum_s L_32,s L_32,s')).  The gradient's inverses of S's leading blocks are read the same way,
level by level, from D_s^-1 and the inverse of the small block:

    S_k^-1 = [[D^-1 + U F_k^-1 U', -U F_k^-1], [-F_k^-1 U', F_k^-1]],   U = D^-1 B_k',   F_k = L_33,k L_33,k'

An evaluation costs a few batched products over the levels of both terms: nothing grows with the number of
schools squared.  Imports only numpy and scipy.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.lapack import dpotrf as _potrf
from scipy.linalg.lapack import dtrtri as _trtri

from .blocked import batched_cholesky, batched_tri_inverse, sandwich
from .crossprod import CrossProducts
from .nested import MAX_GATHERED, NestedSchurObjective, _parents
from .schur import _levels_solve_upper, _solve_upper
from .soa import soa_chol, soa_inv_logdet, soa_left, soa_mm, soa_right, soa_tri_inv

__all__ = ["TwoLevelObjective"]

SOA_MAX_P = 3
"""Largest p_1, p_2 held as a structure of arrays (closed forms unrolled over entries: p^3 ufunc calls)."""


def _by_parent(values: np.ndarray, parent: np.ndarray, m: int, cache: dict | None = None) -> np.ndarray:
    """Sum the (n, a, b) stack over the rows sharing a parent: an (m, a, b) stack (``cache`` keeps the scatter
    indices of each shape between evaluations)."""
    n, a, b = values.shape
    idx = None if cache is None else cache.get((a, b))
    if idx is None:
        idx = (parent[:, None] * (a * b) + np.arange(a * b)[None, :]).ravel()
        if cache is not None:
            cache[(a, b)] = idx
    return np.bincount(idx, weights=values.reshape(n, -1).ravel(), minlength=m * a * b).reshape(m, a, b)


class TwoLevelObjective(NestedSchurObjective):
    """The Schur objective for exactly two terms, the first nested in the second.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from lmmflow.api import make_deviance
    >>> rng = np.random.default_rng(0)
    >>> school, student = np.repeat(np.arange(8), 24), np.repeat(np.arange(48), 4)
    >>> t = np.tile(np.arange(4.0), 48)
    >>> df = pd.DataFrame({"y": rng.normal(size=192) + t, "t": t, "school": school, "student": student})
    >>> f = make_deviance("y ~ t + (1 + t | school) + (1 + t | student)", df)
    >>> tl = TwoLevelObjective(f.cp, f.factor.slices, f.factor.positions)
    >>> theta = np.array([0.5, 0.1, 0.3, 0.9, -0.2, 0.4])
    >>> np.allclose(f._criterion(tl(theta)), f.blocked(theta))
    True
    """

    dense_trailing = False

    def _trailing(self, cp: CrossProducts) -> np.ndarray:
        b2 = cp.blocks[1]
        self.m2, self.p2 = b2.nlevels, b2.p
        self.d2 = cp.diag[1]  # (m2, p2, p2)
        self.xz2 = cp.xz[1].reshape(self.c, self.m2, self.p2).transpose(1, 0, 2).copy()  # (m2, c, p2)
        self.xx = cp.xx
        return np.zeros((0, 0))  # no dense trailing block

    def _coupling(self, cp: CrossProducts) -> np.ndarray:
        out = super()._coupling(cp)
        self.par = self.parents[0]
        self._scatter: dict = {}  # _by_parent's indices by shape
        self.soa = self._padded_layout()
        return out

    def _padded_layout(self) -> bool:
        """Hold the per-level data as a structure of arrays on a (schools x slots) grid, when it pays.

        Student l of school s sits in slot s * n + (its rank in the school), n the largest school; the empty
        slots hold zero cross-products, so their factors are the identity and add nothing (log 1 = 0, zero
        coupling), and each school's sums are sums over a contiguous run of slots.  Kept for small p_1, p_2
        (the closed forms are unrolled over entries) and schools of similar size (at most twice the slots)."""
        par, m1, m2, p1, p2 = self.par, self.m1, self.m2, self.p1, self.p2
        counts = np.bincount(par, minlength=m2)
        n = int(counts.max()) if m1 else 0
        if p1 > SOA_MAX_P or p2 > SOA_MAX_P or m2 * n > 2 * m1 + 1024 or np.any(counts == 0):
            return False
        order = np.argsort(par, kind="stable")
        rank = np.empty(m1, dtype=np.intp)
        rank[order] = np.arange(m1) - np.repeat(np.cumsum(counts) - counts, counts)
        self.slot = par * n + rank
        self.n_slots = n
        N = m2 * n
        R = self.g0.shape[1]
        # gathered rows of each student (school rows, X rows, y row), and the school rows again: those give
        # sum_l C_l E_l in the same product as the school sums of C_l C_l'
        self.sg = np.zeros((R + p2, p1, N))
        self.sg[:R, :, self.slot] = self.g0.transpose(1, 2, 0)
        self.sg[R:] = self.sg[:p2]
        self.sd1 = np.zeros((p1, p1, N))
        self.sd1[:, :, self.slot] = self.d1.transpose(1, 2, 0)
        self.sd2 = np.ascontiguousarray(self.d2.transpose(1, 2, 0))  # (p2, p2, m2)
        self.sxz2 = np.ascontiguousarray(self.xz2.transpose(1, 2, 0))  # (c, p2, m2)
        self.g0 = np.zeros((0, R, p1))  # the stacked copy is not used on this path
        return True

    @staticmethod
    def fits(cp: CrossProducts) -> bool:
        """Exactly two terms, the first nested in the second."""
        if len(cp.blocks) != 2:
            return False
        R = cp.blocks[1].p + cp.p + 1
        return cp.blocks[0].nlevels * R * R <= MAX_GATHERED and _parents(cp, 1) is not None

    def _factor(self, theta: np.ndarray) -> tuple:  # type: ignore[override]
        if self.soa:
            raise RuntimeError("the structure-of-arrays layout has its own factor (_soa_factor)")
        lams, l11, l11inv = self._first_term(theta)
        lam1, lam2 = lams
        p2, m2 = self.p2, self.m2
        pg = np.matmul(self._left_gathered(lams), self.g0)  # (m1, R, p1)
        cg = np.matmul(pg, np.matmul(lam1, l11inv.transpose(0, 2, 1)))  # C_l = P_l lambda_1 L_11,l^-T
        cgt = np.ascontiguousarray(cg.transpose(0, 2, 1))
        outer = np.matmul(cg, cgt)  # (m1, R, R)
        agg = _by_parent(outer[:, :, :p2], self.par, m2, self._scatter)  # (m2, R, p2): school, X rows; school columns
        sd = sandwich(lam2, self.d2) - agg[:, :p2, :]
        i2 = np.arange(p2)
        sd[:, i2, i2] += 1.0
        sb = self.xz2 @ lam2 - agg[:, p2:, :]  # (m2, c, p2)
        e = self.xx - outer[:, p2:, p2:].sum(axis=0)
        l22 = batched_cholesky(sd)
        l22inv = batched_tri_inverse(l22)
        l32 = np.matmul(sb, l22inv.transpose(0, 2, 1))  # (m2, c, p2)
        f = e - np.einsum("sia,sja->ij", l32, l32)
        l33 = np.linalg.cholesky(f)
        return lams, l11, l11inv, cg, (l22, l22inv, sb, l33), pg

    def _parts(self, l11: np.ndarray, low: tuple) -> tuple[float, float, float]:  # type: ignore[override]
        l22, _, _, l33 = low
        d1 = np.log(l11.reshape(self.m1, -1)[:, ::self.p1 + 1]).sum()
        d2 = np.log(l22.reshape(self.m2, -1)[:, ::self.p2 + 1]).sum()
        d3 = np.diagonal(l33)
        b = float(np.log(d3[:self.p]).sum()) if self.p else 0.0
        return 2.0 * float(d1 + d2), 2.0 * b, float(d3[-1]) ** 2

    def with_gradients(self, theta: np.ndarray) -> tuple[tuple[float, float, float], np.ndarray]:
        theta = np.asarray(theta, dtype=float)
        if self.soa:
            return self._soa_with_gradients(theta)
        lams, l11, l11inv, cg, low, pg = self._factor(theta)
        l22, l22inv, sb, l33 = low
        lam1, lam2 = lams
        p1, p2, c, m2 = self.p1, self.p2, self.c, self.m2
        R = p2 + c
        dinv = np.matmul(l22inv.transpose(0, 2, 1), l22inv)  # (m2, p2, p2)
        l33inv = np.linalg.inv(l33)
        # quantities of the first term (as in the nested objective)
        wp1_diag = l11inv @ np.matmul(lam1.T, self.d1)
        own1 = np.einsum("lia,lib->ab", wp1_diag, l11inv)
        a = pg - np.matmul(cg, wp1_diag)
        b = -np.matmul(cg, l11inv)
        e_l = np.matmul(l11inv, lam1.T @ self.g0[:, :p2, :].transpose(0, 2, 1))  # (m1, p1, p2)
        rhs = np.empty((m2, R, p2))
        rhs[:, :p2] = np.matmul(lam2.T, self.d2)
        rhs[:, p2:] = self.xz2
        rhs -= _by_parent(np.matmul(cg, e_l), self.par, m2, self._scatter)
        grads = np.zeros((3, self.n_theta))
        for i, ck in enumerate((0, self.p, c)):
            blk = np.zeros((m2, R, R))
            blk[:, :p2, :p2] = dinv
            if ck:
                w = l33inv[:ck, :ck]
                finv = w.T @ w
                u = np.matmul(dinv, sb[:, :ck, :].transpose(0, 2, 1))  # (m2, p2, ck)
                uf = u @ finv
                blk[:, :p2, :p2] += np.matmul(uf, u.transpose(0, 2, 1))
                blk[:, :p2, p2:p2 + ck] = -uf
                blk[:, p2:p2 + ck, :p2] = -uf.transpose(0, 2, 1)
                blk[:, p2:p2 + ck, p2:p2 + ck] = finv
            sg = blk[self.par]  # (m1, R, R)
            g1 = own1 + a.reshape(-1, p1).T @ np.matmul(sg, b).reshape(-1, p1)
            g2 = rhs.reshape(-1, p2).T @ blk[:, :, :p2].reshape(-1, p2)
            r, cc = self.positions[0]
            grads[i, self.slices[0]] = 2.0 * g1[r, cc]
            r, cc = self.positions[1]
            grads[i, self.slices[1]] = 2.0 * g2[r, cc]
        return self._parts(l11, low), grads

    def solution(self, theta: np.ndarray) -> tuple[tuple[float, float, float], np.ndarray, np.ndarray, np.ndarray]:
        """The penalized least-squares solution, level by level: beta from the small block, then each level of
        the second term, then each level of the first (see :meth:`SchurObjective.solution`)."""
        if self.soa:
            return self._soa_solution(np.asarray(theta, dtype=float))
        _, l11, _, cg, low, _ = self._factor(np.asarray(theta, dtype=float))
        l22, _, sb, l33 = low
        p = self.p
        beta = _solve_upper(l33[:p, :p].T, l33[p, :p])
        l22inv = batched_tri_inverse(l22)
        l32 = np.matmul(sb, l22inv.transpose(0, 2, 1))  # (m2, c, p2)
        u2 = _levels_solve_upper(l22, l32[:, p, :] - l32[:, :p, :].transpose(0, 2, 1) @ beta)
        coupled = np.concatenate([u2[self.par], np.broadcast_to(beta, (self.m1, p))], axis=1)  # (m1, p2 + p)
        rhs = cg[:, -1, :] - np.einsum("lra,lr->la", cg[:, :-1, :], coupled)
        u1 = _levels_solve_upper(l11, rhs)
        return self._parts(l11, low), beta, np.concatenate([u1.ravel(), u2.ravel()]), l33[:p, :p].copy()

    def __call__(self, theta: np.ndarray) -> tuple[float, float, float]:
        if self.soa:
            return self._soa_parts(self._soa_factor(np.asarray(theta, dtype=float)))
        _, l11, _, _, low, _ = self._factor(np.asarray(theta, dtype=float))
        return self._parts(l11, low)

    # ------------------------------------------------------------ structure of arrays
    # The same algebra as _factor / with_gradients / solution, with every per-level stack held as (rows, cols,
    # levels) (module soa): an entry of all levels is one contiguous vector, the school sums are sums over runs
    # of slots (one batched product over schools where a product of two per-level stacks is summed)

    def _by_school(self, A: np.ndarray) -> np.ndarray:
        """A per-level stack (rows, cols, N) as (m2, rows, cols * n): each school's levels side by side."""
        r, k, _ = A.shape
        return A.reshape(r, k, self.m2, self.n_slots).transpose(2, 0, 1, 3).reshape(self.m2, r, k * self.n_slots)

    def _soa_factor(self, theta: np.ndarray, gradient: bool = False) -> dict:
        """The factor on the padded layout.  With M_l = lambda_1' D_1,l lambda_1 + I and Q_l = P_l lambda_1
        (P_l the level's gathered rows, school rows times lambda_2'), C_l C_l' = Q_l M_l^-1 Q_l' = -B_l Q_l' with
        B_l = -Q_l M_l^-1, so each school's sum is one product of its levels side by side; with ``gradient``,
        the same product also gives sum_l C_l E_l = -sum_l B_l (lambda_1' A_2,l')."""
        lam1, lam2 = self._lambdas(theta)
        p1, p2, c = self.p1, self.p2, self.c
        t1 = soa_left(lam1.T, self.sd1)  # lambda_1' D_1,l
        M = soa_right(t1, lam1)
        for i in range(p1):
            M[i, i] += 1.0
        minv, logdet1 = soa_inv_logdet(M)  # M_l^-1 = L_11,l^-T L_11,l^-1 and sum_l log|M_l|
        R = p2 + c
        qx = soa_right(self.sg if gradient else self.sg[:R], lam1)  # A_R,l lambda_1 (and A_2,l lambda_1)
        qx[:p2] = soa_left(lam2.T, qx[:p2])
        Q = qx[:R]  # Q_l = P_l lambda_1
        np.negative(minv, out=minv)
        B = soa_mm(Q, minv)  # -Q_l M_l^-1
        prod = np.matmul(self._by_school(B), self._by_school(qx).transpose(0, 2, 1)).transpose(1, 2, 0)
        outer = -prod[:, :p2 + c]  # sum over a school's C_l C_l' (R, R, m2)
        sd = soa_right(soa_left(lam2.T, self.sd2), lam2) - outer[:p2, :p2]
        for i in range(p2):
            sd[i, i] += 1.0
        sb = soa_right(self.sxz2, lam2) - outer[p2:, :p2]  # (c, p2, m2)
        e = self.xx - outer[p2:, p2:].sum(axis=2)
        dinv, logdet2 = soa_inv_logdet(sd)  # D_s^-1, sum_s log|D_s|
        f = e - soa_mm(sb, dinv).reshape(c, p2 * self.m2) @ sb.reshape(c, p2 * self.m2).T  # E - sum_s L_32 L_32'
        l33, info = _potrf(f, lower=1, clean=1)
        if info != 0:
            raise np.linalg.LinAlgError("not positive definite")
        return {"lam1": lam1, "lam2": lam2, "t1": t1, "M": M, "nminv": minv, "logdet": logdet1 + logdet2,
                "Q": Q, "B": B, "ce": prod[:, p2 + c:] if gradient else None, "sb": sb, "sd": sd, "dinv": dinv,
                "l33": l33}

    def _soa_parts(self, fac: dict) -> tuple[float, float, float]:
        d3 = np.diagonal(fac["l33"])
        b = float(np.log(d3[:self.p]).sum()) if self.p else 0.0
        return fac["logdet"], 2.0 * b, float(d3[-1]) ** 2

    def _soa_with_gradients(self, theta: np.ndarray) -> tuple[tuple[float, float, float], np.ndarray]:
        fac = self._soa_factor(theta, gradient=True)
        lam2, dinv, sb, b = fac["lam2"], fac["dinv"], fac["sb"], fac["B"]
        p1, p2, c, m2 = self.p1, self.p2, self.c, self.m2
        R = p2 + c
        l33inv, info = _trtri(fac["l33"], lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("singular factor")
        t1 = fac["t1"]
        own1 = -np.matmul(t1, fac["nminv"].transpose(0, 2, 1)).sum(axis=0)  # sum_l D_1,l lambda_1 M_l^-1
        # a_l = P_l - C_l L_11,l^-1 lambda_1' D_1,l = P_l + B_l lambda_1' D_1,l and b_l = -C_l L_11,l^-1 = B_l
        a = soa_mm(b, t1)
        a[:p2] += soa_left(lam2.T, self.sg[:p2])  # P_l: the school rows times lambda_2'
        a[p2:] += self.sg[p2:R]
        rhs = np.empty((R, p2, m2))
        rhs[:p2] = soa_left(lam2.T, self.sd2)
        rhs[p2:] = self.sxz2
        rhs += fac["ce"]  # minus sum_l C_l E_l
        # The inverse of the k-th leading block of S, read on a school's rows, is D0 + Y F_k Y' with
        # D0 = diag(D_s^-1, 0), Y = [U; -I], U = D_s^-1 B_s' and F_k = W_k' W_k (W_k: L_33^-1's leading k x k
        # block, zero-padded): a' (D0 + Y F_k Y') b = a_2' D_s^-1 b_2 + (Y'a)' F_k (Y'b), and F_k is the same
        # for every school, so each gradient is a sum over all levels (one product) contracted with F_k
        n = self.n_slots
        ut = soa_mm(sb, dinv)  # U' (c, p2, m2)
        a4, b4 = a.reshape(R, p1, m2, n), b.reshape(R, p1, m2, n)
        ut4 = ut[..., None]
        ya = soa_mm(ut4, a4[:p2])
        ya -= a4[p2:]
        yb = soa_mm(ut4, b4[:p2])
        yb -= b4[p2:]
        h1 = (ya.reshape(c * p1, -1) @ yb.reshape(c * p1, -1).T).reshape(c, p1, c, p1)
        db = soa_mm(dinv[..., None], b4[:p2])
        g10 = own1 + np.matmul(a[:p2], db.reshape(p2, p1, -1).transpose(0, 2, 1)).sum(axis=0)
        yr = soa_mm(ut, rhs[:p2])
        yr -= rhs[p2:]
        h2 = (yr.reshape(c * p2, m2) @ ut.reshape(c * p2, m2).T).reshape(c, p2, c, p2)
        g20 = np.matmul(rhs[:p2], dinv.transpose(0, 2, 1)).sum(axis=0)
        h1 = h1.transpose(0, 2, 1, 3)  # (c, c, p1, p1): [i, j] the sum for entry (i, j) of F_k
        h2 = h2.transpose(0, 2, 1, 3)
        g1s, g2s = [g10], [g20]
        for ck in (self.p, c):
            w = l33inv[:ck, :ck]
            finv = (w.T @ w)[:, :, None, None]
            g1s.append(g10 + (finv * h1[:ck, :ck]).sum(axis=(0, 1)))
            g2s.append(g20 + (finv * h2[:ck, :ck]).sum(axis=(0, 1)))
        grads = np.zeros((3, self.n_theta))
        r1, c1 = self.positions[0]
        r2, c2 = self.positions[1]
        for i in range(3):
            grads[i, self.slices[0]] = 2.0 * g1s[i][r1, c1]
            grads[i, self.slices[1]] = 2.0 * g2s[i][r2, c2]
        return self._soa_parts(fac), grads

    def _soa_solution(self, theta: np.ndarray) -> tuple[tuple[float, float, float], np.ndarray, np.ndarray,
                                                       np.ndarray]:
        fac = self._soa_factor(theta)
        l33 = fac["l33"]
        k11 = soa_tri_inv(soa_chol(fac["M"]))
        k22 = soa_tri_inv(soa_chol(fac["sd"]))
        l32 = soa_mm(fac["sb"], k22.transpose(1, 0, 2))  # (c, p2, m2)
        cg = soa_mm(fac["Q"], k11.transpose(1, 0, 2))  # C_l = Q_l L_11,l^-T
        p, n = self.p, self.n_slots
        beta = _solve_upper(l33[:p, :p].T, l33[p, :p])
        r2 = l32[p] - np.tensordot(beta, l32[:p], axes=1)  # (p2, m2)
        u2 = (k22 * r2[:, None, :]).sum(axis=0)  # L_22,s^-T r_s
        coupled = np.concatenate([np.repeat(u2, n, axis=1),
                                  np.broadcast_to(beta[:, None], (p, u2.shape[1] * n))])  # (p2 + p, N)
        r1 = cg[-1] - (cg[:-1] * coupled[:, None, :]).sum(axis=0)  # (p1, N)
        u1 = (k11 * r1[:, None, :]).sum(axis=0)[:, self.slot]  # L_11,l^-T r_l, in the levels' order
        return self._soa_parts(fac), beta, np.concatenate([u1.T.ravel(), u2.T.ravel()]), l33[:p, :p].copy()
