"""The objective of models whose first term is coupled densely to the rest: a dense Schur complement.

Crossed designs where every level of the first grouping factor meets most levels of the others (subjects
crossed with items in a psycholinguistic experiment, each subject seeing every item) make the blocks
Z_k'Z_1 dense.  The blocked factor (:mod:`lmmflow.core.blocked`) keeps them sparse, which pays for InstEval
(2% dense) but costs sparse-product overhead where they are dense.  Here, with the system ordered as
[term 1 | other terms, X, y] and Omega = [[Lambda'Z'Z Lambda + I, Lambda'Z'[X y]], [., [X y]'[X y]]] = L L':

    L_11 = chol(lambda_1' (Z_1'Z_1)_l lambda_1 + I)            per level of term 1 (small, batched)
    L_r1 = Lambda_r' A_r1 Lambda_1 L_11^-T                      dense (N_r x q_1)
    L_rr = chol(Lambda_r' A_rr Lambda_r + I_q_r - L_r1 L_r1')  dense (N_r x N_r): one syrk, one potrf

with A_r1 = [Z_r'Z_1; [X y]'Z_1] and A_rr the trailing block of the cross-products (N_r = q - q_1 + p + 1).
The three parts of the criterion are the log-determinants of Omega's leading blocks, read off L's diagonal.

The gradient needs no inverse of lambda (it holds on the boundary, where maximal models end): with
W = L^-1 and P = [Lambda'Z'Z; [X y]'Z] (Omega's first q columns before the right factor Lambda),

    d log|Omega_k| / d theta_j = 2 sum over the entries (r, s) of Lambda holding theta_j of G_k[r, s],
    G_k = (W P)[:k]' W[:k, :q]

(as :meth:`lmmflow.core.dense.SmallDenseObjective.with_gradients`), and only the diagonal p x p blocks of
G_k are needed.  Since G_k = S_k lambda with S_k = Z'Z - (W P)[:k]' (W P)[:k] (per level; d log|Omega_k| / d Sigma),
the blocks are summed over each term's levels as S_k and no columns of W are formed; S_k[c, c] is also the
curvature along a zero column c of lambda (:meth:`SchurObjective.with_curvature`).  Everything is formed
transposed (term 1's levels as rows, so its per-level products are contiguous batched products): with
X = L_11^-1 lambda_1' A_1r (L_r1' = X Lambda_r), X'X is formed once (one syrk) and gives both
S_rr = Lambda_r' (A_rr - X'X) Lambda_r + I and the rest's rows of P_r - L_r1 (W P)_1, and one in-place triangular
product with L_rr^-1 gives (W P)_r.  The work arrays of an evaluation are kept between calls (per thread).
Imports only numpy and scipy.
"""

from __future__ import annotations

import threading

import numpy as np
from scipy.linalg import solve_triangular
from scipy.linalg.blas import dsyrk as _syrk
from scipy.linalg.blas import dtrmm as _trmm
from scipy.linalg.lapack import dpotrf as _potrf
from scipy.linalg.lapack import dtrtri as _trtri

from .blocked import batched_cholesky, batched_tri_inverse, sandwich
from .crossprod import CrossProducts

__all__ = ["SchurObjective"]

MAX_TRAILING = 2500
"""Largest trailing dense system N_r (its square is held twice: 100 MB at the limit)."""
MAX_COUPLING_VALUES = 30_000_000
"""Largest dense coupling block N_r x q_1 (240 MB)."""
WORKSPACE_KEPT = 32 * 2 ** 20
"""Largest work-array set (bytes) an objective keeps between evaluations (kb07 56 x 32: 2.2 MB; 300 x 100: 30 MB)."""
MIN_DENSITY = 0.2
"""Share of nonzero entries in Z_k'Z_1 (k > 1) above which the dense coupling beats sparse fill."""


def _solve_upper(upper: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with upper @ x = b for an upper-triangular ``upper``."""
    return solve_triangular(upper, b, lower=False, check_finite=False) if len(b) else np.zeros(0)


def _levels_solve_upper(lower: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per level, x_l with L_l' x_l = b_l for a stack of lower-triangular L (m, p, p) and b (m, p)."""
    return np.linalg.solve(lower.transpose(0, 2, 1), b[:, :, None])[:, :, 0]


def _lower_inverses(low: np.ndarray) -> np.ndarray:
    """Inverses of a stack of lower-triangular matrices (m, p, p) by forward substitution, one row of every level at
    a time (p small products: kb07's 56 levels of 4 x 4 in a third of numpy's general inverse's time)."""
    p = low.shape[-1]
    inv = np.zeros_like(low)
    d = 1.0 / np.diagonal(low, axis1=1, axis2=2)  # (m, p)
    inv[:, 0, 0] = d[:, 0]
    for i in range(1, p):
        inv[:, i, :i] = -np.matmul(low[:, i:i + 1, :i], inv[:, :i, :i])[:, 0, :] * d[:, i:i + 1]
        inv[:, i, i] = d[:, i]
    return inv


class SchurObjective:
    """log-determinants and penalized RSS at theta, and their gradients, by a dense Schur complement.

    Parameters
    ----------
    cp : CrossProducts
        At least two terms.
    slices, positions : list
        Where each term's theta elements sit and which lambda entries they fill (``theta_layout``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from lmmflow.api import make_deviance
    >>> rng = np.random.default_rng(0)
    >>> s, i = np.repeat(np.arange(12), 10), np.tile(np.arange(10), 12)
    >>> x = rng.choice([-0.5, 0.5], 120)
    >>> df = pd.DataFrame({"y": rng.normal(size=120) + x, "x": x, "s": s, "i": i})
    >>> f = make_deviance("y ~ x + (1 + x | s) + (1 + x | i)", df)
    >>> so = SchurObjective(f.cp, f.factor.slices, f.factor.positions)
    >>> theta = np.array([0.8, 0.1, 0.5, 0.6, -0.2, 0.4])
    >>> np.allclose(f._criterion(so(theta)), f.blocked(theta))
    True
    """

    def __init__(self, cp: CrossProducts, slices: list[slice], positions: list[tuple[np.ndarray, np.ndarray]]):
        blocks = cp.blocks
        b1 = blocks[0]
        self.m1, self.p1, self.q1 = b1.nlevels, b1.p, b1.q
        self.p = cp.p
        self.c = cp.p + 1
        self.rest = blocks[1:]
        self.qr = sum(b.q for b in self.rest)
        self.nr = self.qr + self.c
        self.slices, self.positions = slices, positions
        self.n_theta = slices[-1].stop if slices else 0
        starts = np.concatenate([[0], np.cumsum([b.q for b in self.rest])]).astype(int)
        self.starts = starts
        # constant blocks of the cross-products in the [term 1 | rest, X, y] order
        self.d1 = cp.diag[0]
        self.arr = self._trailing(cp)
        self._eye_rest = np.arange(self.qr)
        self._diag = np.arange(self.nr)
        self.ar1 = self._coupling(cp)
        self._sums: list[np.ndarray] | None = None  # see _level_sums
        self._local = threading.local()  # see _workspace

    def _coupling(self, cp: CrossProducts) -> np.ndarray:
        """A_1r = [Z_1'Z_r | Z_1'[X y]] = A_r1', dense (q_1 x N_r): held with the levels of term 1 as rows, so
        each level's block is a contiguous p_1 x N_r slab (the per-level products are contiguous stacks)."""
        a1r = np.zeros((self.q1, self.nr))
        for k in range(1, len(cp.blocks)):
            a1r[:, self.starts[k - 1]:self.starts[k]] = cp.off[(k, 0)].T.toarray()
        a1r[:, self.qr:] = cp.xz[0].T
        return a1r

    def _trailing(self, cp: CrossProducts) -> np.ndarray:
        """A_rr: the cross-products of [Z_r X y] (N_r x N_r, both triangles)."""
        blocks, starts = cp.blocks, self.starts
        arr = np.zeros((self.nr, self.nr))
        for k in range(1, len(blocks)):
            b = blocks[k]
            a, z = starts[k - 1], starts[k]
            blk = arr[a:z, a:z].reshape(b.nlevels, b.p, b.nlevels, b.p)
            lv = np.arange(b.nlevels)
            blk[lv, :, lv, :] = cp.diag[k]
            for j in range(1, k):
                off = cp.off[(k, j)].toarray()
                arr[a:z, starts[j - 1]:starts[j]] = off
                arr[starts[j - 1]:starts[j], a:z] = off.T
            arr[self.qr:, a:z] = cp.xz[k]
            arr[a:z, self.qr:] = cp.xz[k].T
        arr[self.qr:, self.qr:] = cp.xx
        return arr

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()  # the per-thread work arrays are not pickled (a fitted model is)
        state.pop("_local", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def _level_sums(self) -> list[np.ndarray]:
        """Each term's per-level diagonal blocks of Z'Z summed over its levels (p x p each): the constant parts
        of the curvature matrices S_k of :meth:`with_curvature`."""
        if self._sums is None:
            sums = [self.d1.sum(axis=0)]
            for k, b in enumerate(self.rest):
                a, z = self.starts[k], self.starts[k + 1]
                sums.append(np.einsum("iaib->ab", self.arr[a:z, a:z].reshape(b.nlevels, b.p, b.nlevels, b.p)))
            self._sums = sums
        return self._sums

    @staticmethod
    def fits(cp: CrossProducts) -> bool:
        """Whether the dense coupling pays: several terms, a trailing system of moderate size, and the
        first term's coupling to the others dense enough that sparse fill would not save work."""
        if len(cp.blocks) < 2:
            return False
        q1 = cp.blocks[0].q
        nr = sum(b.q for b in cp.blocks[1:]) + cp.p + 1
        if nr > MAX_TRAILING or nr * q1 > MAX_COUPLING_VALUES:
            return False
        nnz = sum(cp.off[(k, 0)].nnz for k in range(1, len(cp.blocks)))
        size = sum(b.q for b in cp.blocks[1:]) * q1
        return size > 0 and nnz >= MIN_DENSITY * size

    # ------------------------------------------------------------------ lambda
    def _lambdas(self, theta: np.ndarray) -> list[np.ndarray]:
        out = []
        p_of = [self.p1, *[b.p for b in self.rest]]
        for k, (sl, (r, c)) in enumerate(zip(self.slices, self.positions)):
            lam = np.zeros((p_of[k], p_of[k]))
            lam[r, c] = theta[sl]
            out.append(lam)
        return out

    def _first_term(self, theta: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """Every term's lambda, and the first term's per-level factors L_11 = chol(lambda_1' (Z_1'Z_1)_l lambda_1
        + I) with their inverses (m1, p1, p1)."""
        lams = self._lambdas(theta)
        lam1 = lams[0]
        # two batched products beat sandwich's p^3 vector operations from p = 3 on (56 levels, p = 4: 7 vs 80 us)
        m11 = sandwich(lam1, self.d1) if self.p1 <= 2 else lam1.T @ self.d1 @ lam1
        idx = np.arange(self.p1)
        m11[:, idx, idx] += 1.0
        l11 = batched_cholesky(m11)
        return lams, l11, batched_tri_inverse(l11) if self.p1 <= 2 else _lower_inverses(l11)

    def _left_rest(self, lams: list[np.ndarray], M: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Lambda_r' M for the rest's rows of M (N_r x cols); the X, y rows are unchanged (into ``out``, C-ordered,
        when given)."""
        out = np.empty_like(M) if out is None else out
        out[self.qr:] = M[self.qr:]
        for k, b in enumerate(self.rest):
            a, z = self.starts[k], self.starts[k + 1]
            part = M[a:z].reshape(b.nlevels, b.p, -1)
            np.matmul(lams[k + 1].T, part, out=out[a:z].reshape(b.nlevels, b.p, -1))
        return out

    def _right_rest(self, lams: list[np.ndarray], M: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """M Lambda_r for the rest's columns of M (rows x N_r) (into ``out``, C-ordered, when given)."""
        out = np.empty_like(M) if out is None else out
        out[:, self.qr:] = M[:, self.qr:]
        for k, b in enumerate(self.rest):
            a, z = self.starts[k], self.starts[k + 1]
            part = M[:, a:z].reshape(M.shape[0], b.nlevels, b.p)
            np.matmul(part, lams[k + 1], out=out[:, a:z].reshape(M.shape[0], b.nlevels, b.p))
        return out

    # ------------------------------------------------------------------ factor
    def _factor(self, theta: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray]:
        """lambdas, L_11 (m1, p1, p1), its inverse, X = L_11^-1 lambda_1' A_1r (q1 x N_r, term 1's levels as
        rows), L_rr (lower, N_r x N_r) and B = A_rr - X'X (N_r x N_r).

        L_r1' = X Lambda_r, so S_rr = Lambda_r' B Lambda_r + I: the q1-long product X'X does not depend on
        Lambda_r, and (W P)_r needs it again (as B's first rows times Lambda_r), so it is formed once."""
        lams, l11, l11inv = self._first_term(theta)
        m1, p1, nr = self.m1, self.p1, self.nr
        ws = self._workspace()
        x = ws["x"]
        np.matmul(l11inv @ lams[0].T, self.ar1.reshape(m1, p1, nr), out=x.reshape(m1, p1, nr))
        # X'X in the lower triangle (Fortran views of X and of the workspace: no copies; the other triangle stays
        # zero), then B = A_rr - X'X with both triangles
        k = _syrk(1.0, x.T, beta=0.0, c=ws["xx"], lower=1, overwrite_c=1)
        b = np.subtract(self.arr, k, out=ws["b"])
        b -= k.T
        b[self._diag, self._diag] += k[self._diag, self._diag]
        srr = self._right_rest(lams, self._left_rest(lams, b, out=ws["left"]), out=ws["srr"])
        srr[self._eye_rest, self._eye_rest] += 1.0
        lrr, info = _potrf(srr.T, lower=0, clean=1, overwrite_a=1)  # in place: the C-ordered lower factor's transpose
        if info != 0:
            raise np.linalg.LinAlgError("not positive definite")
        return lams, l11, l11inv, x, lrr.T, b

    def _workspace(self) -> dict:
        """This thread's work arrays of one evaluation, allocated once: fresh temporaries of these sizes would be
        returned to the system after each evaluation and page-faulted back at the next (hundreds of faults, as
        long as the evaluation itself, at kb07's size).  Kept only up to WORKSPACE_KEPT bytes (a fitted model
        holds its objective); larger ones are allocated per call, where the arithmetic outweighs the faults."""
        ws = getattr(self._local, "ws", None)
        if ws is None:
            q1, nr, qr = self.q1, self.nr, self.qr
            ws = {"x": np.empty((q1, nr)), "xx": np.zeros((nr, nr), order="F"), "b": np.empty((nr, nr)),
                  "left": np.empty((nr, nr)), "srr": np.empty((nr, nr)), "lr1t": np.empty((q1, nr)),
                  "tmp": np.empty((q1, nr)), "rhs": np.empty((q1 + qr, nr)),
                  "flat": [np.empty((self.p1, nr, self.m1))] + [np.empty((b.p, nr, b.nlevels)) for b in self.rest]}
            if 8 * (4 * nr * nr + 6 * q1 * nr + 2 * qr * nr) <= WORKSPACE_KEPT:
                self._local.ws = ws
        return ws

    def _parts(self, l11: np.ndarray, lrr: np.ndarray) -> tuple[float, float, float]:
        d1 = np.log(l11.reshape(self.m1, -1)[:, ::self.p1 + 1]).sum()
        d = np.diagonal(lrr)
        a = float(d1 + np.log(d[:self.qr]).sum())
        b = float(np.log(d[self.qr:self.qr + self.p]).sum()) if self.p else 0.0
        return 2.0 * a, 2.0 * b, float(d[-1]) ** 2

    def __call__(self, theta: np.ndarray) -> tuple[float, float, float]:
        """(log det of the random-effects block, log det R_X R_X', penalized RSS) at ``theta``."""
        _, l11, _, _, lrr, _ = self._factor(np.asarray(theta, dtype=float))
        return self._parts(l11, lrr)

    def solution(self, theta: np.ndarray) -> tuple[tuple[float, float, float], np.ndarray, np.ndarray, np.ndarray]:
        """The penalized least-squares solution at ``theta`` from the same factor (no blocked factor).

        With L = [[L_11, 0], [L_r1, L_rr]] and the y row last, [u_r; beta] solves L_rr[:-1, :-1]' x = the y row
        of L_rr, then each level of the first term L_11,l' u_1,l = (y row of L_r1) - L_r1[:-1, l]' [u_r; beta].

        Returns
        -------
        parts : tuple
            As :meth:`__call__`.
        beta : numpy.ndarray
        u : numpy.ndarray
            Spherical random effects of every term, in engine order (level-major within a term).
        rx : numpy.ndarray
            p x p lower factor R_X of the fixed-effects block.
        """
        lams, l11, _, x, lrr, _ = self._factor(np.asarray(theta, dtype=float))
        lr1 = self._right_rest(lams, x).T
        top = lrr[:-1, :-1]
        x = _solve_upper(top.T, lrr[-1, :-1])
        rhs = (lr1[-1] - lr1[:-1].T @ x).reshape(self.m1, self.p1)
        u1 = _levels_solve_upper(l11, rhs)
        q, p = self.qr, self.p
        return self._parts(l11, lrr), x[q:q + p], np.concatenate([u1.ravel(), x[:q]]), lrr[q:q + p, q:q + p].copy()

    # ------------------------------------------------------------------ gradient
    @property
    def has_curvature(self) -> bool:
        """Whether :meth:`with_curvature` holds for this object (subclasses with their own
        :meth:`with_gradients` do not inherit it)."""
        return type(self).with_gradients is SchurObjective.with_gradients

    def with_gradients(self, theta: np.ndarray) -> tuple[tuple[float, float, float], np.ndarray]:
        """The three parts and the gradients of log det of Omega's leading blocks (3 x n_theta): rows
        for the random-effects block (q), with the fixed effects (q + p), and the whole system."""
        parts, grads, _ = self.with_curvature(theta)
        return parts, grads

    def with_curvature(self, theta: np.ndarray) -> tuple[tuple[float, float, float], np.ndarray, np.ndarray]:
        """:meth:`with_gradients`, and for each theta entry on lambda's diagonal the coefficient S_k[c, c]
        (3 x n_theta, 0 for the entries below the diagonal): where that entry's column of lambda is zero,
        log|Omega_k| = log|Omega_k|(0) + t^2 S_k[c, c] + O(t^4) as the entry moves to t, so the sign of the
        objective's slope off the bound is known without an evaluation.

        With M = A - P' Omega^-1 P (A = Z'Z), d log|Omega| / d Sigma = M per level (Sigma = lambda lambda') and
        the gradient is 2 M lambda (Omega^-1 Omega = I gives Omega^-1 P lambda = E_q - Omega^-1 E_q, so
        P' Omega^-1[:, :q] = (A - P' Omega^-1 P) lambda); P' Omega_k^-1 P = (W P)[:k]' (W P)[:k], summed over
        the levels of a term: S_k.  (W P)_1's term-1 columns are block diagonal, its other columns are X, so the
        first rows contribute to S by d1 - (W P)_11' (W P)_11 and B = A_rr - X'X; the rest's rows (W P)_r solve
        one triangular product with L_rr^-1.  Everything is formed transposed, term 1's levels as rows.
        """
        theta = np.asarray(theta, dtype=float)
        lams, l11, l11inv, x, lrr, bmat = self._factor(theta)
        parts = self._parts(l11, lrr)  # before lrr is inverted in place
        m1, p1, q1, nr, qr = self.m1, self.p1, self.q1, self.nr, self.qr
        ws = self._workspace()
        lr1t3 = self._right_rest(lams, x, out=ws["lr1t"]).reshape(m1, p1, nr)  # L_r1'
        # (W P)_1 = L_11^-1 P_1: its term-1 columns are block diagonal (the level's own block), the rest X
        wp1_diag = l11inv @ np.matmul(lams[0].T, self.d1)  # (m1, p1, p1)
        # (P_r - L_r1 (W P)_1)': term 1's columns, then the rest's (Lambda_r' B)'
        rhs = ws["rhs"]
        top = self._right_rest(lams, self.ar1, out=rhs[:q1])
        tmp = ws["tmp"]
        np.matmul(wp1_diag.transpose(0, 2, 1), lr1t3, out=tmp.reshape(m1, p1, nr))
        top -= tmp
        self._right_rest(lams, bmat[:qr], out=rhs[q1:])
        # (W P)_r' = rhs L_rr^-T, as BLAS's triangular product L_rr^-1 rhs' on the Fortran view of rhs, in place:
        # an inverse and a product cost less than the triangular solve at these sizes (N_r = 137: 0.31 against
        # 0.40 ms).  lrr.T is the upper factor U = L_rr' (potrf cleaned its other triangle, which trtri leaves as
        # it is), inverted in place; L_rr^-1 = (U^-1)'
        uinv, info = _trtri(lrr.T, lower=0, overwrite_c=1)
        if info != 0:
            raise np.linalg.LinAlgError("singular factor")
        wpr = _trmm(1.0, uinv, rhs.T, side=0, lower=0, trans_a=1, overwrite_b=1).T  # (q x N_r)
        # S_k per term: the constant part, then minus the rest's rows of (W P) up to each of the three cuts
        w1 = wp1_diag.reshape(q1, p1)
        s_terms = [self._level_sums()[0] - w1.T @ w1]
        views = [wpr[:q1].reshape(m1, p1, nr)]
        for k, b in enumerate(self.rest):
            a, z = self.starts[k], self.starts[k + 1]
            # Sum_l (A_rr - X'X)_ll = B's diagonal blocks
            s_terms.append(np.einsum("iaib->ab", bmat[a:z, a:z].reshape(b.nlevels, b.p, b.nlevels, b.p)))
            views.append(wpr[q1 + a:q1 + z].reshape(b.nlevels, b.p, nr))
        grads = np.zeros((3, self.n_theta))
        curv = np.zeros((3, self.n_theta))
        # each term's rows of (W P)_r' copied once with the row index of (W P) in the middle, (p, N_r, levels): the
        # rows of a cut are then one contiguous (p, rows x levels) block, and its sum over levels one product
        flat = ws["flat"]
        for v, c in zip(views, flat):
            np.copyto(c, v.transpose(1, 2, 0))
        lo = 0
        for i, hi in enumerate((qr, qr + self.p, nr)):
            for t, (s, c) in enumerate(zip(s_terms, flat)):
                if hi > lo:
                    block = c[:, lo:hi].reshape(c.shape[0], -1)
                    s -= block @ block.T
                r, col = self.positions[t]
                grads[i, self.slices[t]] = 2.0 * (s @ lams[t])[r, col]
                curv[i, self.slices[t]] = np.where(r == col, s[col, col], 0.0)
            lo = hi
        return parts, grads, curv
