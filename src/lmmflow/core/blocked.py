"""The blocked Cholesky factor of the mixed-model equations, updated block by block for each theta.

For terms 1..K (engine order) and the [X y] block, the factor L of

    [ Lambda'Z'Z Lambda + I   Lambda'Z'X   Lambda'Z'y ]
    [ X'Z Lambda              X'X          X'y        ]
    [ y'Z Lambda              y'X          y'y        ]

is computed in blocks: the first term's diagonal block stays block-diagonal (one p x p factor per
level, computed for all levels at once); later terms' diagonal blocks are dense (they receive fill
from the first); the first column of blocks below the diagonal stays sparse; the [X y] rows are dense.
This module imports only numpy and scipy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .crossprod import CrossProducts
from .pairs import MAX_PAIRS, ColumnPairs, PairProduct
from .parammap import ParameterMap
from .stacked import stack_matmul, stack_matmul_t

__all__ = ["BlockedCholesky", "batched_cholesky", "batched_tri_inverse"]

MAX_DENSE = 30_000
_DENSE_FILL = 1_000_000  # entries of a coupling block L[k, 0] up to which the fill is formed by dense products
_CHUNK_VALUES = 1 << 15  # values per [X y]-by-level chunk in the objective-only pass (a few hundred KiB)
_PER_LEVEL = ("L0", "L0inv", "_LX0_soa", "LX", "Lsp", "Ld")


def batched_cholesky(M: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack of small symmetric positive definite matrices (m, p, p)."""
    p = M.shape[-1]
    if p == 1:
        return np.sqrt(M)
    if p == 2:
        L = np.zeros_like(M)
        a = np.sqrt(M[:, 0, 0])
        b = M[:, 1, 0] / a
        L[:, 0, 0] = a
        L[:, 1, 0] = b
        L[:, 1, 1] = np.sqrt(M[:, 1, 1] - b * b)
        return L
    return np.linalg.cholesky(M)


def batched_tri_inverse(L: np.ndarray) -> np.ndarray:
    """Inverses of a stack of lower-triangular matrices (m, p, p)."""
    p = L.shape[-1]
    if p == 1:
        return 1.0 / L
    if p == 2:
        inv = np.zeros_like(L)
        inv[:, 0, 0] = 1.0 / L[:, 0, 0]
        inv[:, 1, 1] = 1.0 / L[:, 1, 1]
        inv[:, 1, 0] = -L[:, 1, 0] * inv[:, 0, 0] * inv[:, 1, 1]
        return inv
    return np.linalg.inv(L)


def sandwich(lam: np.ndarray, A: np.ndarray) -> np.ndarray:
    """lambda' A_i lambda for a stack A (m, p, p), by p^3 vectorized products (faster than einsum)."""
    p = lam.shape[0]
    if p == 1:
        return A * (lam[0, 0] ** 2)
    B = np.zeros_like(A)
    for b in range(p):
        for r in range(b, p):  # lambda is lower triangular: lam[r, b] = 0 for r < b
            if lam[r, b] != 0.0:
                B[:, :, b] += A[:, :, r] * lam[r, b]
    M = np.zeros_like(A)
    for a in range(p):
        for q in range(a, p):
            if lam[q, a] != 0.0:
                M[:, a, :] += lam[q, a] * B[:, q, :]
    return M


def times_lambda(A: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """A (c, m, p) times lambda on the right, per level: out[c, i, :] = A[c, i, :] @ lam."""
    p = lam.shape[0]
    out = np.zeros_like(A)
    for b in range(p):
        for r in range(b, p):
            if lam[r, b] != 0.0:
                out[:, :, b] += A[:, :, r] * lam[r, b]
    return out


def times_lower_inv_t(A: np.ndarray, Linv: np.ndarray) -> np.ndarray:
    """A (c, m, p) times L_i^-T per level, with Linv (m, p, p) lower triangular: A[c, i, :] @ Linv[i].T."""
    p = Linv.shape[-1]
    out = np.zeros_like(A)
    for j in range(p):
        for k in range(j + 1):
            out[:, :, j] += A[:, :, k] * Linv[None, :, j, k]
    return out


def dense_cholesky(S: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a dense SPD matrix given by its lower triangle (C order), in place.

    The C-ordered lower triangle is the Fortran-ordered upper triangle of ``S.T``, so LAPACK's dpotrf
    works on it without a copy; the other triangle is zeroed.
    """
    S = np.ascontiguousarray(S)
    u, info = sla.lapack.dpotrf(S.T, lower=0, clean=1, overwrite_a=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"matrix not positive definite (dpotrf info={info})")
    return u.T


def _soa_sandwich(lam: np.ndarray, A: np.ndarray) -> np.ndarray:
    """lambda' A lambda with A level-minor (p, p, m)."""
    p = lam.shape[0]
    B = np.zeros_like(A)
    for b in range(p):
        for r in range(b, p):
            if lam[r, b] != 0.0:
                B[:, b] += A[:, r] * lam[r, b]
    M = np.zeros_like(A)
    for a in range(p):
        for q in range(a, p):
            if lam[q, a] != 0.0:
                M[a] += lam[q, a] * B[q]
    return M


def _soa_lx(lam: np.ndarray, Linv: np.ndarray, AX: np.ndarray) -> np.ndarray:
    """L^-1 lambda' A_X per level: level-minor stacks Linv (p, p, m) and A_X (c, p, m) give (c, p, m)."""
    p = lam.shape[0]
    AXl = np.empty(AX.shape)
    for bcol in range(p):
        np.multiply(AX[:, bcol], lam[bcol, bcol], out=AXl[:, bcol])
        for r in range(bcol + 1, p):
            if lam[r, bcol] != 0.0:
                AXl[:, bcol] += AX[:, r] * lam[r, bcol]
    LXs = np.empty(AX.shape)
    for j in range(p):
        np.multiply(AXl[:, j], Linv[j, j][None, :], out=LXs[:, j])
        for k in range(j):
            LXs[:, j] += AXl[:, k] * Linv[j, k][None, :]
    return LXs


def _soa_cholesky(M: np.ndarray) -> np.ndarray:
    """Cholesky factors of level-minor stacks (p, p, m)."""
    p = M.shape[0]
    if p == 1:
        return np.sqrt(M)
    if p == 2:
        L = np.zeros_like(M)
        a = np.sqrt(M[0, 0])
        b = M[1, 0] / a
        L[0, 0] = a
        L[1, 0] = b
        L[1, 1] = np.sqrt(M[1, 1] - b * b)
        return L
    return np.ascontiguousarray(np.linalg.cholesky(M.transpose(2, 0, 1)).transpose(1, 2, 0))


def _soa_tri_inverse(L: np.ndarray) -> np.ndarray:
    """Inverses of level-minor stacks of lower-triangular matrices (p, p, m)."""
    p = L.shape[0]
    if p == 1:
        return 1.0 / L
    if p == 2:
        inv = np.zeros_like(L)
        inv[0, 0] = 1.0 / L[0, 0]
        inv[1, 1] = 1.0 / L[1, 1]
        inv[1, 0] = -L[1, 0] * inv[0, 0] * inv[1, 1]
        return inv
    return np.ascontiguousarray(np.linalg.inv(L.transpose(2, 0, 1)).transpose(1, 2, 0))


class BlockedCholesky:
    """The factor L(theta) of the penalized least squares system, kept in blocks.

    Parameters
    ----------
    cp : CrossProducts
        The cross-products of [Z X y].
    pairs : bool
        Lay out the fill products of all-scalar crossed terms once, with the cross-products' values folded in
        (:class:`~lmmflow.core.pairs.PairProduct`), which pays when the cross-products stay fixed (an LMM).  A
        factor reweighted at every step (PIRLS) forms the fill otherwise: by dense products for a coupling block
        of up to a million entries, by the column pairs of the reweighted pattern
        (:class:`~lmmflow.core.pairs.ColumnPairs`) for scalar terms, else by sparse products.
    clip_pwrss : bool
        Take a penalized residual sum of squares that rounds to zero or below as 0 instead of failing: for
        PIRLS's working systems, whose response row only carries the modes (an LMM's must be positive).

    Attributes (after :meth:`update`)
    ----------------------------------
    lambdas : list of numpy.ndarray
        Each term's relative covariance factor (p x p, lower triangular).
    L0, L0inv : numpy.ndarray
        First term's per-level factors and their inverses (nlevels x p x p).
    Lsp : dict
        ``k -> `` sparse block L[k, 0] for k >= 1.
    Ld : dict
        ``(k, j) ->`` dense blocks for 1 <= j <= k.
    LX : list of numpy.ndarray
        [X y] rows of L in each term's columns, (p_x + 1) x q_k.
    LXX : numpy.ndarray
        The factor of the [X y] block, (p_x + 1) x (p_x + 1), lower.
    """

    def __init__(self, cp: CrossProducts, pairs: bool = True, clip_pwrss: bool = False):
        self.cp = cp
        self.clip_pwrss = clip_pwrss
        # the model's parameters -> Lambda (core/parammap.py); slices and positions are lme4's theta layout
        self.pmap = ParameterMap.of_blocks(cp.blocks)
        self.slices, self.positions, self.lower = self.pmap.slices, self.pmap.positions, self.pmap.lower
        for b in cp.blocks[1:]:
            if b.q > MAX_DENSE:
                raise MemoryError(
                    f"a random-effects term with {b.q} effects would need a dense {b.q} x {b.q} block "
                    "after the largest term; lmmflow keeps only the largest term block-diagonal. "
                    "Reduce the levels of the second-largest grouping factor, or fit it as a fixed effect."
                )
        self.scalar = [b.p == 1 for b in cp.blocks]
        self._column_pairs: dict = {}  # (k, j) -> (pattern, ColumnPairs): shared with fresh and reweighted copies
        self._buffers: dict[object, np.ndarray] = {}
        # called with a dense block's size before each large dense factorization or inversion; the fit
        # sets it to give LAPACK the cores that are idle at that moment (lmmflow.optim.threads)
        self.dense_hook: Callable[[int], None] | None = None
        self._logdet0: float | None = None
        b0 = cp.blocks[0]
        # a strided level-minor view of the (p_x + 1) x q0 block (no copy)
        self._xz0_soa = cp.xz[0].reshape(cp.p + 1, b0.nlevels, b0.p).transpose(0, 2, 1)
        # index arrays to scatter block-diagonal values into the dense blocks (terms after the first)
        self._diag_index = [None] + [self._block_diag_index(b.nlevels, b.p) for b in cp.blocks[1:]]
        # all-scalar crossed/nested terms: lay out the fill products once (see pairs.py)
        self.pairs: dict[tuple[int, int], PairProduct] = {}
        if pairs and len(cp.blocks) > 1 and all(self.scalar):
            todo = [(k, j) for k in range(1, len(cp.blocks)) for j in range(1, k + 1)]
            if sum(PairProduct.n_pairs(cp.off[(k, 0)], cp.off[(j, 0)]) for k, j in todo) <= MAX_PAIRS:
                # the fill's weights depend on a level only through its diagonal entry of Z_0'Z_0
                groups = np.unique(cp.diag[0][:, 0, 0], return_inverse=True)[1].ravel()
                self.pairs = {(k, j): PairProduct(cp.off[(k, 0)], cp.off[(j, 0)], lower=k == j, groups=groups)
                              for k, j in todo}

    # what update() sets (the factor at one theta and its work arrays); everything else is layout
    _STATE = _PER_LEVEL + ("theta", "lambdas", "LXX", "complete_theta", "_pending_theta", "_logdet0", "_buffers")

    def fresh(self) -> BlockedCholesky:
        """A factor of the same model with its own state: the layout (cross-products, theta positions, the
        fill's product layout) is shared, read-only; the factor, its work buffers and theta are its own.

        What a consumer that evaluates at another theta uses, so the factor it was made from (a result's)
        is never moved, not even for a moment (two threads may each work on their own).

        Examples
        --------
        >>> import lmmflow as lf
        >>> f = lf.make_deviance("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy")).factor
        >>> f.update(f.theta0())
        >>> g = f.fresh()
        >>> g.update(2 * f.theta0())
        >>> bool(f.logdet_re() < g.logdet_re()), f.theta.tolist()
        (True, [1.0, 0.0, 1.0])
        """
        new = object.__new__(type(self))
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k not in self._STATE})
        new._buffers = {}
        new._logdet0 = None
        return new

    def reweight(self, cp: CrossProducts) -> BlockedCholesky:
        """A factor of the same terms for new cross-products (other weights, response or fixed effects), keeping
        this one's layout: the parameter map, theta's positions and the index arrays are shared, nothing is
        laid out again.  What PIRLS does at every step (:meth:`CrossProducts.reweight` gives ``cp``); the new
        factor is formed by :meth:`update`.

        The grouped fill products of :class:`~lmmflow.core.pairs.PairProduct` hold the values of the
        cross-products they were laid out from, so the new factor forms the fill as the ``pairs`` parameter
        describes for a factor without them.

        Parameters
        ----------
        cp : CrossProducts
            Cross-products of the same random-effects terms (``blocks``) as this factor's.

        Examples
        --------
        >>> import lmmflow as lf
        >>> f = lf.make_deviance("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy")).factor
        >>> cp = f.cp
        >>> w = np.linspace(0.5, 2.0, cp.n)
        >>> g = f.reweight(cp.reweight(w, np.sin(np.arange(cp.n)), cp.blocks[0].Z))
        >>> g.update(f.theta0())
        >>> g.LXX.shape, g.pmap is f.pmap
        ((3, 3), True)
        """
        if len(cp.blocks) != len(self.cp.blocks) or any(
                a is not b and (a.nlevels != b.nlevels or a.p != b.p) for a, b in zip(cp.blocks, self.cp.blocks)):
            raise ValueError("reweight takes cross-products of the same random-effects terms")
        new = self.fresh()
        new.cp = cp
        b0 = cp.blocks[0]
        new._xz0_soa = cp.xz[0].reshape(cp.p + 1, b0.nlevels, b0.p).transpose(0, 2, 1)
        new.pairs = {}
        return new

    def _pairs_of(self, k: int, j: int, lower: bool | None = None) -> ColumnPairs | None:
        """The pairs layout of the fill L[k, 0] L[j, 0]' (``lower``: its lower triangle, default when k == j) for
        reweighted cross-products of scalar terms (whose coupling blocks keep the pattern found by
        :meth:`CrossProducts.reweight`); None otherwise, or when the pairs would exceed :data:`MAX_PAIRS`."""
        pattern = self.cp.pattern
        if pattern is None or not (self.scalar[0] and self.scalar[k] and self.scalar[j]):
            return None
        if not all(np.shares_memory(self.cp.off[(i, 0)].indices, pattern.off[(i, 0)].indices) for i in {k, j}):
            return None  # cross-products built directly (the layout was found from them): their own value order
        lower = k == j if lower is None else lower
        hit = self._column_pairs.get((k, j, lower))
        if hit is None or hit[0] is not pattern:
            A, B = pattern.off[(k, 0)], pattern.off[(j, 0)]
            lay = ColumnPairs(A, B, lower=lower) if PairProduct.n_pairs(A, B) <= MAX_PAIRS else None
            self._column_pairs[(k, j, lower)] = hit = (pattern, lay)
        return hit[1]

    def _a0_soa(self, start: int, stop: int) -> np.ndarray:
        """The first term's diagonal blocks of levels start:stop, level-minor (p, p, m) and contiguous, so
        every operation on them is a contiguous vector operation (a copy of that chunk only)."""
        return np.ascontiguousarray(self.cp.diag[0][start:stop].transpose(1, 2, 0))

    @staticmethod
    def _block_diag_index(nl: int, p: int) -> tuple[np.ndarray, np.ndarray]:
        base = np.arange(nl)[:, None, None] * p
        r = (base + np.arange(p)[None, :, None]).repeat(p, axis=2)
        c = (base + np.arange(p)[None, None, :]).repeat(p, axis=1)
        return r.ravel(), c.ravel()

    @property
    def n_theta(self) -> int:
        """Length of theta (the model's covariance parameters)."""
        return len(self.lower)

    def theta0(self) -> np.ndarray:
        """lme4's starting value: identity lambda (1 on diagonals, 0 elsewhere; correlations 0)."""
        return self.pmap.start.copy()

    def lambdas_of(self, theta: np.ndarray) -> list[np.ndarray]:
        """Each term's lambda (p x p lower triangular) from theta (the model's parameters), by the map."""
        return self.pmap.lambdas(np.asarray(theta, dtype=float))

    def _scaled_off(self, k: int, j: int) -> sp.csr_matrix:
        """Lambda_k' A[k, j] Lambda_j as a sparse matrix."""
        A = self.cp.off[(k, j)]
        lk, lj = self.lambdas[k], self.lambdas[j]
        if self.scalar[k] and self.scalar[j]:
            return A * (lk[0, 0] * lj[0, 0])
        bk, bj = self.cp.blocks[k], self.cp.blocks[j]
        Lk = sp.kron(sp.identity(bk.nlevels, format="csr"), sp.csr_matrix(lk), format="csr")
        Lj = sp.kron(sp.identity(bj.nlevels, format="csr"), sp.csr_matrix(lj), format="csr")
        return (Lk.T @ A @ Lj).tocsr()

    def _xz_scaled(self, k: int) -> np.ndarray:
        """[X y]'Z_k Lambda_k, (p_x + 1) x q_k."""
        b, lam = self.cp.blocks[k], self.lambdas[k]
        A = self.cp.xz[k]
        if self.scalar[k]:
            return A * lam[0, 0]
        c = A.shape[0]
        return times_lambda(A.reshape(c, b.nlevels, b.p), lam).reshape(c, b.q)

    def __getattr__(self, name: str) -> object:
        # after update(theta, objective_only=True) the per-level arrays are not kept; the first access
        # to one of them completes the factor at that theta
        pending = self.__dict__.get("_pending_theta")
        if name in _PER_LEVEL and pending is not None:
            self.update(pending)
            return getattr(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _first_term_objective(self, lam0: np.ndarray) -> np.ndarray:
        """log det of the first term's blocks (kept in ``_logdet0``) and the Schur complement in [X y].

        One pass over the levels in cache-sized chunks, keeping no per-level array: what the objective
        of a one-term model with a vector-valued term needs, at a fraction of the memory traffic.
        """
        cp = self.cp
        b0 = cp.blocks[0]
        p0, c = b0.p, cp.p + 1
        S_xx = cp.xx.copy()
        logdet = 0.0
        step = max(1, _CHUNK_VALUES // (c * p0))
        for start in range(0, b0.nlevels, step):
            stop = min(b0.nlevels, start + step)
            M = _soa_sandwich(lam0, self._a0_soa(start, stop))
            for a in range(p0):
                M[a, a] += 1.0
            L = _soa_cholesky(M)
            logdet += float(np.sum(np.log(L[np.arange(p0), np.arange(p0)])))
            LXs = _soa_lx(lam0, _soa_tri_inverse(L), self._xz0_soa[:, :, start:stop])
            flat = LXs.reshape(c, -1)
            S_xx -= flat @ flat.T
        self._logdet0 = logdet
        return S_xx

    def update(self, theta: np.ndarray, objective_only: bool = False) -> None:
        """Recompute the factor at ``theta``.

        With ``objective_only``, a one-term model keeps only what the objective and the solution need
        (the log-determinant and the [X y] block, from one pass over the levels in cache-sized chunks); the
        per-level arrays are rebuilt on first use.  ``objective_only="vector"`` does so only for a
        vector-valued term (a scalar term's whole-array update is as fast).
        """
        cp = self.cp
        theta = np.asarray(theta, dtype=float)
        self.theta = theta.copy()
        self.complete_theta: np.ndarray | None = None  # set once the whole factor is formed at theta
        self.lambdas = lams = self.lambdas_of(theta)
        self.__dict__.pop("_pending_theta", None)
        self._logdet0 = None
        if objective_only and len(cp.blocks) == 1 and (objective_only is True or not self.scalar[0]):
            for name in _PER_LEVEL:
                self.__dict__.pop(name, None)
            self.LXX = np.linalg.cholesky(self._first_term_objective(lams[0]))
            self._pending_theta = self.theta
            return
        b0, lam0, A0 = cp.blocks[0], lams[0], cp.diag[0]
        c = cp.p + 1
        if self.scalar[0]:
            t = lam0[0, 0]
            d0 = np.sqrt(t * t * A0[:, 0, 0] + 1.0)
            self.L0 = d0[:, None, None]
            self.L0inv = (1.0 / d0)[:, None, None]
            LX0 = cp.xz[0] * (t / d0)[None, :]
        else:
            # first term, p > 1: work on level-minor copies (p, p, nlevels) so every operation is a
            # contiguous vector operation over the levels
            p0 = b0.p
            M = _soa_sandwich(lam0, self._a0_soa(0, b0.nlevels))
            for a in range(p0):
                M[a, a] += 1.0
            L = _soa_cholesky(M)
            Linv = _soa_tri_inverse(L)
            self.L0 = L.transpose(2, 0, 1)
            self.L0inv = Linv.transpose(2, 0, 1)
            LXs = _soa_lx(lam0, Linv, self._xz0_soa)
            flat = LXs.reshape(c, -1)
            S_xx = cp.xx - flat @ flat.T
            self._LX0_soa = LXs
            LX0 = None  # level-major copy made only when needed (more terms, or the solution)
        if self.scalar[0]:
            S_xx = cp.xx - LX0 @ LX0.T
        self.LX = [LX0]
        if LX0 is None and len(cp.blocks) > 1:
            LX0 = self._level_major_lx0()
        self.Lsp: dict[int, sp.csr_matrix] = {}
        self.Ld: dict[tuple[int, int], np.ndarray] = {}
        right0 = None  # L0^-T as a sparse matrix: only a vector-valued coupling needs it
        if len(cp.blocks) > 1 and not all(self.scalar):
            if self.scalar[0]:
                right0 = sp.diags(1.0 / d0)
            else:
                right0 = sp.bsr_matrix(
                    (np.ascontiguousarray(self.L0inv.transpose(0, 2, 1)), np.arange(b0.nlevels),
                     np.arange(b0.nlevels + 1)), shape=(b0.q, b0.q)).tocsr()
        dense_fill: dict[int, np.ndarray | None] = {}
        for k in range(1, len(cp.blocks)):
            bk, lamk = cp.blocks[k], lams[k]
            if self.scalar[0] and self.scalar[k]:  # t_k t_0 A_k0 diag(1/d0): a scaling of A's values
                A = cp.off[(k, 0)].tocsr()  # no copy when it is CSR already
                col_scale = (lamk[0, 0] * lam0[0, 0]) / d0
                Lk0 = sp.csr_matrix((A.data * col_scale[A.indices], A.indices, A.indptr), shape=A.shape)
            else:
                Lk0 = (self._scaled_off(k, 0) @ right0).tocsr()
            self.Lsp[k] = Lk0
            # a small coupling block is multiplied dense (sparse products of a few hundred columns cost more in
            # overhead than the arithmetic: PIRLS forms this factor at every step)
            dense_fill[k] = Lk0.toarray() if not self.pairs and bk.q * b0.q <= _DENSE_FILL else None
            Fk = dense_fill[k]
            cpk = self._pairs_of(k, k) if Fk is None and not self.pairs else None
            S = self._dense_buffer(k)
            dk = np.arange(bk.q)
            if self.pairs:
                tk = lamk[0, 0]
                w0 = (lam0[0, 0] / d0) ** 2
                S[dk, dk] = tk * tk * cp.diag[k][:, 0, 0] + 1.0
                pk = self.pairs[(k, k)]
                S.reshape(-1)[pk.flat] -= (tk * tk) * pk.values(w0)  # S is C-contiguous: a view
            else:
                Akk = sandwich(lamk, cp.diag[k])
                r, cc = self._diag_index[k]
                S[r, cc] = Akk.ravel()
                S[dk, dk] += 1.0
                if Fk is not None:
                    S -= Fk @ Fk.T
                elif cpk is not None:  # lower triangle, by the pairs laid out once for this pattern
                    S.reshape(-1)[cpk.targets] -= cpk.product(Lk0.data, Lk0.data)
                else:
                    S -= (Lk0 @ Lk0.T).toarray()
            for j in range(1, k):
                if self.pairs:
                    M = self._scaled_off(k, j).toarray()
                    pkj = self.pairs[(k, j)]
                    M.reshape(-1)[pkj.flat] -= (lamk[0, 0] * lams[j][0, 0]) * pkj.values(w0)
                elif Fk is not None and dense_fill[j] is not None:
                    M = self._scaled_off(k, j).toarray() - Fk @ dense_fill[j].T
                elif cpk is not None and (cpkj := self._pairs_of(k, j)) is not None:
                    M = self._scaled_off(k, j).toarray()
                    M.reshape(-1)[cpkj.targets] -= cpkj.product(Lk0.data, self.Lsp[j].data)
                else:
                    M = self._scaled_off(k, j).toarray() - (Lk0 @ self.Lsp[j].T).toarray()
                for i in range(1, j):
                    M -= self.Ld[(k, i)] @ self.Ld[(j, i)].T
                Lkj = sla.solve_triangular(self.Ld[(j, j)], M.T, lower=True, check_finite=False).T
                self.Ld[(k, j)] = Lkj
                S -= Lkj @ Lkj.T
            if self.dense_hook is not None:
                self.dense_hook(bk.q)
            Lkk = dense_cholesky(S)
            self.Ld[(k, k)] = Lkk
            MX = self._xz_scaled(k) - (LX0 @ Fk.T if Fk is not None else (Lk0 @ LX0.T).T)
            for i in range(1, k):
                MX -= self.LX[i] @ self.Ld[(k, i)].T
            LXk = sla.solve_triangular(Lkk, MX.T, lower=True, check_finite=False).T
            self.LX.append(LXk)
            S_xx -= LXk @ LXk.T
        self.LXX = self._xy_factor(S_xx)
        self.complete_theta = self.theta

    def _xy_factor(self, S_xx: np.ndarray) -> np.ndarray:
        """The Cholesky factor of the [X y] block.  With ``clip_pwrss`` (a PIRLS working system, whose response
        row serves the modes only), a last pivot that rounds to zero or below, a working response fitted to
        rounding, is taken as 0 instead of failing."""
        try:
            return np.linalg.cholesky(S_xx)
        except np.linalg.LinAlgError:
            if not self.clip_pwrss:
                raise
        p = S_xx.shape[0] - 1
        L = np.zeros_like(S_xx)
        if p:
            L[:p, :p] = np.linalg.cholesky(S_xx[:p, :p])  # the fixed effects' block must be positive definite
            L[p, :p] = sla.solve_triangular(L[:p, :p], S_xx[:p, p], lower=True, check_finite=False)
        L[p, p] = np.sqrt(max(float(S_xx[p, p] - L[p, :p] @ L[p, :p]), 0.0))
        return L

    def release(self) -> None:
        """Drop work arrays and copies that can be rebuilt; the factor stays at its theta.

        A one-term model's per-level arrays (the largest part of the factor) are dropped too and rebuilt
        at the same theta on first use; a model with several terms keeps its dense blocks.
        """
        self._buffers = {k: v for k, v in self._buffers.items() if isinstance(k, int)}  # keep dense factors
        if "_pending_theta" in self.__dict__ or not hasattr(self, "theta"):
            return
        if len(self.cp.blocks) == 1:
            logdet = self.logdet_re() / 2.0
            for name in _PER_LEVEL:
                self.__dict__.pop(name, None)
            self._logdet0 = logdet
            self._pending_theta = self.theta
        elif getattr(self, "_LX0_soa", None) is not None and self.LX and self.LX[0] is not None:
            self.LX[0] = None  # the level-major copy; rebuilt from the level-minor one on demand

    def _dense_buffer(self, k: int) -> np.ndarray:
        """A zeroed q_k x q_k work array, reused between evaluations (a fresh one would page-fault
        inside LAPACK every time; the factor of the previous theta is overwritten)."""
        buf = self._buffers.get(k)
        q = self.cp.blocks[k].q
        if buf is None:
            buf = self._buffers[k] = np.zeros((q, q))
        else:
            buf.fill(0.0)
        return buf

    def _level_major_lx0(self) -> np.ndarray:
        """The [X y] rows of L in the first term's columns, level-major (c x q0)."""
        if self.LX[0] is None:
            c = self.cp.p + 1
            self.LX[0] = np.ascontiguousarray(self._LX0_soa.transpose(0, 2, 1)).reshape(c, -1)
        return self.LX[0]

    # ---- quantities of the current factor -------------------------------------------------------
    def logdet_re(self) -> float:
        """log det(Lambda'Z'Z Lambda + I) = 2 * sum of log diagonals of the random-effects blocks."""
        b0 = self.cp.blocks[0]
        if self._logdet0 is not None:
            return 2.0 * self._logdet0
        total = np.sum(np.log(self.L0[:, np.arange(b0.p), np.arange(b0.p)]))
        for k in range(1, len(self.cp.blocks)):
            total += np.sum(np.log(np.diag(self.Ld[(k, k)])))
        return 2.0 * float(total)

    def logdet_rx(self) -> float:
        """log det(R_X R_X'), the fixed-effects part of the REML correction."""
        p = self.cp.p
        return 2.0 * float(np.sum(np.log(np.diag(self.LXX)[:p]))) if p else 0.0

    def pwrss(self) -> float:
        """Penalized weighted residual sum of squares at the conditional modes."""
        return float(self.LXX[-1, -1] ** 2)

    def solve_fixef(self) -> np.ndarray:
        """beta-hat at the current theta."""
        p = self.cp.p
        if p == 0:
            return np.zeros(0)
        return sla.solve_triangular(self.LXX[:p, :p].T, self.LXX[p, :p], lower=False, check_finite=False)

    def solve_u(self, beta: np.ndarray) -> list[np.ndarray]:
        """Spherical conditional modes u of each term (flat, level-major) given beta."""
        cp, p = self.cp, self.cp.p
        K = len(cp.blocks)
        LXs = self.__dict__.get("_LX0_soa")
        if K == 1 and LXs is not None and self.LX[0] is None:
            # a vector-valued term alone, on its level-minor arrays: u_i = L_i^-T (L_i^-1 lambda' Z_i'(y - X beta))
            # without the level-major copy (what PIRLS needs at each step of a growth model)
            r = LXs[p] - np.tensordot(np.asarray(beta, dtype=float), LXs[:p], axes=(0, 0)) if p else LXs[p]
            Linv = self.L0inv.transpose(1, 2, 0)  # (p0, p0, levels), the level-minor array it is a view of
            out = Linv[0] * r[0]
            for b in range(1, r.shape[0]):
                out += Linv[b] * r[b]
            return [np.ascontiguousarray(out.T).ravel()]
        self._level_major_lx0()
        rhs = [self.LX[k][p] - self.LX[k][:p].T @ beta for k in range(K)]
        u: list[np.ndarray | None] = [None] * K
        for k in range(K - 1, 0, -1):
            r = rhs[k].copy()
            for m in range(k + 1, K):
                r -= self.Ld[(m, k)].T @ u[m]
            u[k] = sla.solve_triangular(self.Ld[(k, k)].T, r, lower=False, check_finite=False)
        r0 = rhs[0].copy()
        for m in range(1, K):
            r0 -= self.Lsp[m].T @ u[m]
        b0 = cp.blocks[0]
        u[0] = stack_matmul_t(self.L0inv, r0.reshape(b0.nlevels, b0.p, 1)).ravel()
        return u  # type: ignore[return-value]

    def solve_u_levels(self, beta: np.ndarray) -> list[np.ndarray]:
        """The spherical random effects u of a one-term model, level chunk by level chunk.

        Same values as :meth:`solve_u`, without keeping any per-level factor: for each chunk of levels the
        blocks L_i are recomputed and u_i = L_i^-T (L_i^-1 lambda' Z_i'(y - X beta)).
        """
        cp = self.cp
        b0 = cp.blocks[0]
        p0, c, nl = b0.p, cp.p + 1, b0.nlevels
        lam0 = self.lambdas[0]
        coef = np.append(-np.asarray(beta, dtype=float), 1.0)
        u = np.empty((nl, p0))
        step = max(1, _CHUNK_VALUES // (c * p0))
        for start in range(0, nl, step):
            stop = min(nl, start + step)
            M = _soa_sandwich(lam0, self._a0_soa(start, stop))
            for a in range(p0):
                M[a, a] += 1.0
            Linv = _soa_tri_inverse(_soa_cholesky(M))
            LXs = _soa_lx(lam0, Linv, self._xz0_soa[:, :, start:stop])  # (c, p0, m)
            rhs = np.tensordot(coef, LXs, axes=(0, 0))  # (p0, m)
            u[start:stop] = np.einsum("bam,bm->ma", Linv, rhs)
        return [u.ravel()]

    def solve_m(self, rhs: list[np.ndarray]) -> list[np.ndarray]:
        """Solve (Lambda'Z'Z Lambda + I) x = rhs, with rhs and x given per term (q_k x m, level-major)."""
        cp = self.cp
        K = len(cp.blocks)
        b0 = cp.blocks[0]
        m = rhs[0].shape[1]
        # forward: L y = rhs
        r0 = rhs[0].reshape(b0.nlevels, b0.p, m)
        y = [stack_matmul(self.L0inv, r0).reshape(b0.q, m)]
        for k in range(1, K):
            r = rhs[k] - self.Lsp[k] @ y[0]
            for j in range(1, k):
                r = r - self.Ld[(k, j)] @ y[j]
            y.append(sla.solve_triangular(self.Ld[(k, k)], r, lower=True, check_finite=False))
        # backward: L' x = y
        x: list[np.ndarray | None] = [None] * K
        for k in range(K - 1, 0, -1):
            r = y[k].copy()
            for j in range(k + 1, K):
                r -= self.Ld[(j, k)].T @ x[j]
            x[k] = sla.solve_triangular(self.Ld[(k, k)].T, r, lower=False, check_finite=False)
        r = y[0].copy()
        for j in range(1, K):
            r -= self.Lsp[j].T @ x[j]
        x[0] = stack_matmul_t(self.L0inv, r.reshape(b0.nlevels, b0.p, m)).reshape(b0.q, m)
        return x  # type: ignore[return-value]

    def b_of_u(self, u: list[np.ndarray], lambdas: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """Random effects b = Lambda u for each term, as nlevels x p arrays (with the factor's lambdas, or
        ``lambdas`` when given)."""
        out = []
        for b, lam, uk in zip(self.cp.blocks, self.lambdas if lambdas is None else lambdas, u):
            out.append(uk.reshape(b.nlevels, b.p) @ lam.T)
        return out

    def inverse_diag_blocks(self, chunk: int = 2048) -> list[np.ndarray]:
        """Per-level p x p diagonal blocks of (L_Z L_Z')^{-1} for each term (for conditional variances).

        The first term's columns are processed in chunks so memory stays bounded.
        """
        cp = self.cp
        K = len(cp.blocks)
        out = []
        b0 = cp.blocks[0]
        # term 0: (L^-1)_{00} = L0^-1 per level; deeper blocks from forward substitution
        V0 = stack_matmul_t(self.L0inv, self.L0inv)
        if K > 1:
            for start in range(0, b0.nlevels, max(1, chunk // b0.p)):
                stop = min(b0.nlevels, start + max(1, chunk // b0.p))
                nb = stop - start
                E = sp.bsr_matrix((np.ascontiguousarray(self.L0inv[start:stop]), np.arange(nb), np.arange(nb + 1)),
                                  shape=(nb * b0.p, nb * b0.p))
                cols = slice(start * b0.p, stop * b0.p)
                Y: dict[int, np.ndarray] = {}
                for m in range(1, K):
                    rhs = -np.asarray((self.Lsp[m][:, cols] @ E).toarray())
                    for j in range(1, m):
                        rhs -= self.Ld[(m, j)] @ Y[j]
                    Y[m] = sla.solve_triangular(self.Ld[(m, m)], rhs, lower=True, check_finite=False)
                    sq = Y[m].reshape(Y[m].shape[0], -1, b0.p)
                    V0[start:stop] += np.einsum("rip,riq->ipq", sq, sq)
        out.append(V0)
        for k in range(1, K):
            bk = cp.blocks[k]
            Linv = sla.solve_triangular(self.Ld[(k, k)], np.eye(bk.q), lower=True, check_finite=False)
            Y = {k: Linv}
            for m in range(k + 1, K):
                rhs = np.zeros((cp.blocks[m].q, bk.q))
                for j in range(k, m):
                    rhs -= self.Ld[(m, j)] @ Y[j]
                Y[m] = sla.solve_triangular(self.Ld[(m, m)], rhs, lower=True, check_finite=False)
            V = np.zeros((bk.nlevels, bk.p, bk.p))
            for m in range(k, K):
                sq = Y[m].reshape(Y[m].shape[0], bk.nlevels, bk.p)
                V += np.einsum("rip,riq->ipq", sq, sq)
            out.append(V)
        return out
