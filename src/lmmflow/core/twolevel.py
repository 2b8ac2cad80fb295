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

from .blocked import batched_cholesky, batched_tri_inverse, sandwich
from .crossprod import CrossProducts
from .nested import MAX_GATHERED, NestedSchurObjective, _parents
from .schur import _levels_solve_upper, _solve_upper

__all__ = ["TwoLevelObjective"]


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
        return out

    @staticmethod
    def fits(cp: CrossProducts) -> bool:
        """Exactly two terms, the first nested in the second."""
        if len(cp.blocks) != 2:
            return False
        R = cp.blocks[1].p + cp.p + 1
        return cp.blocks[0].nlevels * R * R <= MAX_GATHERED and _parents(cp, 1) is not None

    def _factor(self, theta: np.ndarray) -> tuple:  # type: ignore[override]
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
        _, l11, _, _, low, _ = self._factor(np.asarray(theta, dtype=float))
        return self._parts(l11, low)
