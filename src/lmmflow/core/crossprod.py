"""Cross-products of [Z X y], built once in one pass over the rows.

Everything the deviance needs at any theta is in these blocks, so the cost of one evaluation of the
objective does not depend on the number of rows (Bates et al. 2015, section 3; MixedModels.jl).
This module imports only numpy and scipy.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

__all__ = ["CHUNK_ROWS", "CrossProducts", "ReweightLayout", "ReBlock", "r_update", "row_block", "row_ranges",
           "theta_layout"]


CHUNK_ROWS = 1 << 16
"""Rows per block when the model matrices are read in row blocks (a few MiB of temporaries)."""

WORKSPACE_KEPT = 1 << 26
"""Bytes of row work arrays a thread keeps between :meth:`CrossProducts.reweight` calls (64 MiB)."""


def row_block(M: object, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of a per-row matrix: an array, or a source with ``rows(start, stop)``.

    Sources let the design hand over X and Z without holding them whole (``lmmflow.design.lazy``);
    the core needs only ``shape`` and ``rows``.
    """
    if isinstance(M, np.ndarray):
        return M[start:stop]
    return M.rows(start, stop)  # type: ignore[attr-defined]


QR_ROWS = 2048
"""Rows per Householder QR in :func:`r_update`: a block that stays in cache (InstEval's 73,421 x 28 matrix:
13 ms in blocks of 2,048 rows, 32 ms in blocks of 8,192 or whole)."""


def r_update(R: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The R factor of a QR decomposition of [A; rows] from R, the factor of A (TSQR steps of
    :data:`QR_ROWS` rows, up to row signs); an empty R starts one.  Column relations of a tall matrix are
    those of its R."""
    for a in range(0, max(len(rows), 1), QR_ROWS):
        block = rows[a:a + QR_ROWS]
        R = np.linalg.qr(block if not len(R) else np.vstack([R, block]), mode="r")
    return R


def row_ranges(n: int, chunk_rows: int | None = None, whole: bool = False) -> list[tuple[int, int]]:
    """Consecutive row ranges covering ``0..n`` (one range when ``whole``); ``chunk_rows`` defaults to
    :data:`CHUNK_ROWS`."""
    chunk_rows = chunk_rows or CHUNK_ROWS
    if whole or n <= chunk_rows:
        return [(0, n)]
    return [(a, min(n, a + chunk_rows)) for a in range(0, n, chunk_rows)]


@dataclass(frozen=True)
class ReBlock:
    """A random-effects term as the engine sees it: level codes, per-row values and lambda's pattern.

    Attributes
    ----------
    codes : numpy.ndarray
        Level code (0 .. nlevels-1) of each row.
    Z : numpy.ndarray or row source
        n x p values of the term's columns (an array, or an object with ``shape`` and
        ``rows(start, stop)``, read in row blocks).
    nlevels : int
        Number of levels.
    mask : numpy.ndarray
        p x p lower-triangular boolean: the free entries of the relative covariance factor lambda.
    structure : lmmflow.core.parammap.Structure or None
        The term's covariance structure (``cs``, ``ar1``...); None for lme4's unstructured parametrization
        of ``mask`` (see :mod:`lmmflow.core.parammap`).
    """

    codes: np.ndarray
    Z: np.ndarray
    nlevels: int
    mask: np.ndarray
    structure: object = None

    @property
    def p(self) -> int:
        """Random effects per level."""
        return self.Z.shape[1]

    @property
    def q(self) -> int:
        """Total number of random effects of the term."""
        return self.nlevels * self.p

    def sparse_z(self, weights_sqrt: np.ndarray | None = None) -> sp.csr_matrix:
        """The n x q sparse model matrix of the term, columns level-major as in lme4."""
        Z = np.asarray(self.Z, dtype=float)
        return _sparse_z(self.codes, Z if weights_sqrt is None else Z * weights_sqrt[:, None], self.nlevels)


def theta_layout(blocks: list[ReBlock]) -> tuple[list[slice], list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Where each term's elements sit in lme4's theta, and theta's lower bounds (for unstructured terms).

    Within a term, the free entries of lambda are taken column by column (lme4's order).  The model's own
    parameters, bounds and names (structured terms included) come from
    :class:`~lmmflow.core.parammap.ParameterMap`, which uses this same layout.

    Returns
    -------
    slices : list of slice
        The part of theta belonging to each term.
    positions : list of (rows, cols)
        For each term, the lambda entries its theta elements fill.
    lower : numpy.ndarray
        0 for diagonal entries (standard deviations), -inf for the others.
    """
    slices, positions, lower = [], [], []
    start = 0
    for b in blocks:
        cols, rows = np.nonzero(b.mask.T)
        positions.append((rows, cols))
        slices.append(slice(start, start + len(rows)))
        lower.extend(np.where(rows == cols, 0.0, -np.inf))
        start += len(rows)
    return slices, positions, np.asarray(lower, dtype=float)


@dataclass
class CrossProducts:
    """The blocks of [Z X y]'[Z X y] (with prior weights applied).

    Attributes
    ----------
    blocks : list of ReBlock
        Terms in engine order; the first is kept block-diagonal.
    diag : list of numpy.ndarray
        For each term, nlevels x p x p: the diagonal blocks of Z_k'Z_k (from :meth:`reweight`, a view of a
        level-minor p x p x nlevels array).
    off : dict
        ``(k, j)`` with j < k -> sparse Z_k'Z_j (q_k x q_j).
    xz : list of numpy.ndarray
        For each term, (p_x + 1) x q_k: [X y]'Z_k.
    xx : numpy.ndarray
        (p_x + 1) x (p_x + 1): [X y]'[X y].
    n : int
        Observations.
    p : int
        Fixed-effect columns.
    log_weights : float
        Sum of the log prior weights (0 without weights), which enters the log-likelihood.
    w_sqrt : numpy.ndarray or None
        Square roots of the prior weights.
    beta_offset : numpy.ndarray or None
        Coefficients the response was centred with (added back to beta).
    kept : numpy.ndarray or None
        With ``build(select=...)``: the fixed-effect columns kept.
    pattern : ReweightLayout or None
        Where each row's products land in ``off`` (found by the first :meth:`reweight`, shared by every
        reweighted copy).
    """

    blocks: list[ReBlock]
    diag: list[np.ndarray]
    off: dict[tuple[int, int], sp.csr_matrix]
    xz: list[np.ndarray]
    xx: np.ndarray
    n: int
    p: int
    log_weights: float = 0.0
    w_sqrt: np.ndarray | None = None
    beta_offset: np.ndarray | None = None
    kept: np.ndarray | None = field(default=None, repr=False)
    pattern: ReweightLayout | None = field(default=None, repr=False, compare=False)

    def reweight(self, weights: np.ndarray, y: np.ndarray, X: object, prior: bool = True) -> CrossProducts:
        """The cross-products of the same terms under new weights, with a new response and fixed-effects matrix.

        The layout is kept: ``off`` has the sparsity pattern of this object's off-diagonal blocks (its index
        arrays are shared, only the values are new), and the position of each row's products in them, with the
        products of the terms' columns, is found once (the first call, :class:`ReweightLayout`) and shared by
        every copy reweighted from this one.  What PIRLS needs at each step (:mod:`lmmflow.core.pirls`): the
        working weights change, the design does not.  Products are weighted by ``weights`` directly (not by
        square roots of them twice), and the response is not centred (``beta_offset`` is None).

        Parameters
        ----------
        weights : numpy.ndarray
            One non-negative weight per row.
        y : numpy.ndarray
            The response (offset already subtracted).
        X : numpy.ndarray or row source
            n x p fixed-effects matrix; p may differ from this object's (an n x 0 matrix leaves only y).
        prior : bool
            The weights are a model's prior weights: ``w_sqrt`` and ``log_weights`` are set (the Gaussian
            likelihood and :meth:`with_response` use them).  False for a working system (PIRLS's weights are not
            part of any Gaussian likelihood): ``w_sqrt`` is None and ``log_weights`` NaN, so a likelihood built on
            it shows as NaN and :meth:`with_response` refuses it.

        Returns
        -------
        CrossProducts

        Examples
        --------
        >>> import numpy as np
        >>> g = np.array([0, 0, 1, 1, 2])
        >>> blk = ReBlock(codes=g, Z=np.ones((5, 1)), nlevels=3, mask=np.ones((1, 1), bool))
        >>> X, y, w = np.ones((5, 1)), np.arange(5.0), np.array([1.0, 2.0, 0.5, 1.0, 3.0])
        >>> cp = CrossProducts.build([blk], X, y, center=False)
        >>> rw = cp.reweight(w, y, X)
        >>> ref = CrossProducts.build([blk], X, y, weights=w, center=False)
        >>> bool(np.allclose(rw.xx, ref.xx) and np.allclose(rw.diag[0], ref.diag[0]))
        True
        """
        w = np.asarray(weights, dtype=float)
        y = np.asarray(y, dtype=float)
        n = len(y)
        if w.shape != (n,) or n != self.n or X.shape[0] != n:  # type: ignore[attr-defined]
            raise ValueError(f"reweight needs {self.n} rows of weights, response and X "
                             f"(got {w.shape[0] if w.ndim else 0}, {n}, {X.shape[0]})")  # type: ignore[attr-defined]
        if self.pattern is None:
            self.pattern = ReweightLayout.of(self)  # a layout of the design, kept for the next call
        lay = self.pattern
        blocks = self.blocks
        p = X.shape[1]  # type: ignore[attr-defined]
        c = p + 1
        xx = np.zeros((c, c))
        # the diagonal blocks level-minor (p, p, levels): contiguous sums by level, and the layout the blocked
        # factor computes in (its level-minor view of diag is this array, not a copy)
        soa = [np.zeros((b.p, b.p, b.nlevels)) for b in blocks]
        xz = [np.zeros((c, b.q)) for b in blocks]
        data = {key: np.zeros(len(A.data)) for key, A in lay.off.items()}
        for a, e in row_ranges(n, whole=_held(X, blocks)):
            whole = e - a == n
            Xc, yc, wc = row_block(X, a, e), y[a:e], w[a:e]
            # [WX Wy] and a row temporary in this thread's work arrays: fresh ones of n rows would be page-faulted
            # in at every PIRLS step (as long as the arithmetic on them)
            M, tmp = lay.workspace(e - a, c)
            np.multiply(Xc, wc[:, None], out=M[:, :p])
            np.multiply(wc, yc, out=M[:, p])
            WX, wy = M[:, :p], M[:, p]
            xx[p, p] += float(wy @ yc)
            if p:
                xp = lay.x_products(X) if whole else None
                if xp is not None:  # X'WX from the column products X_a X_b (a <= b): one matrix-vector product
                    iu, XX = xp
                    xx[iu] = XX @ wc
                    xx[iu[1], iu[0]] = xx[iu]
                else:
                    xx[:p, :p] += Xc.T @ WX
                xx[:p, p] += WX.T @ yc
            Zs = [row_block(b.Z, a, e) for b in blocks]
            for k, (b, Zc) in enumerate(zip(blocks, Zs)):
                local, m, where = (b.codes, b.nlevels, slice(None)) if whole else _local_levels(b.codes[a:e],
                                                                                                 b.nlevels)
                d = soa[k]
                for i in range(b.p):
                    for j in range(i + 1):
                        d[i, j, where] += np.bincount(local, weights=lay.weighted(k, i, k, j, Zc, wc, whole, tmp),
                                                      minlength=m)
                if whole:  # Z_k'[WX Wy] with the sparse Z_k' kept in the layout
                    zt = lay.zt(k, b)
                    if c <= 8:  # column by column on the contiguous columns
                        for col in range(c):
                            xz[k][col] = zt @ M[:, col]
                    else:  # one product: many columns cost more in calls than the copy of M
                        xz[k][:] = (zt @ M).T
                else:
                    if p >= _SPARSE_ZX_COLUMNS:
                        zx = _z_cross_matrix(local, Zc, np.ascontiguousarray(WX), m)
                        xz[k][:p].reshape(p, b.nlevels, b.p)[:, where, :] += zx.transpose(2, 0, 1)
                    else:
                        for col in range(p):
                            xz[k][col].reshape(b.nlevels, b.p)[where] += _z_cross(local, Zc, WX[:, col], m)
                    xz[k][p].reshape(b.nlevels, b.p)[where] += _z_cross(local, Zc, wy, m)
                for j in range(k):
                    pos, vals = lay.where[(k, j)], data[(k, j)]
                    for ia in range(b.p):
                        for jc in range(blocks[j].p):
                            vals += np.bincount(pos[ia * blocks[j].p + jc, a:e], minlength=len(vals),
                                                weights=lay.weighted(k, ia, j, jc, (Zc, Zs[j]), wc, whole, tmp))
        for d in soa:
            for i in range(d.shape[0]):
                for j in range(i):
                    d[j, i] = d[i, j]
        diag = [d.transpose(2, 0, 1) for d in soa]  # (levels, p, p) views
        xx[p, :p] = xx[:p, p]
        off = {key: sp.csr_matrix((data[key], A.indices, A.indptr), shape=A.shape) for key, A in lay.off.items()}
        w_sqrt, log_w = (np.sqrt(w), float(np.sum(np.log(w[w > 0])))) if prior else (None, float("nan"))
        return CrossProducts(blocks=blocks, diag=diag, off=off, xz=xz, xx=xx, n=n, p=p, log_weights=log_w,
                             w_sqrt=w_sqrt, beta_offset=None, pattern=lay)

    def with_response(self, y: np.ndarray, X: object) -> CrossProducts:
        """The cross-products of the same design with a new response: only the y parts are recomputed.

        This is what makes refits (bootstrap, simulation studies, many outcomes) cheap.

        Parameters
        ----------
        y : numpy.ndarray
            The new response (offset already subtracted).
        X : numpy.ndarray or row source
            The fixed-effects matrix the cross-products were built from (kept columns only).
        """
        if np.isnan(self.log_weights):
            raise ValueError("these cross-products are a working system (reweight(prior=False)); build the "
                             "model's own to change its response")
        p = self.p
        y = np.asarray(y, dtype=float)
        ranges = row_ranges(len(y), whole=_held(X, self.blocks))
        xy, yy, zy, shift = _response_products(self.blocks, X, y, self.w_sqrt, self.xx[:p, :p],
                                               [A[:p] for A in self.xz], ranges)
        xz = []
        for A, v in zip(self.xz, zy):
            A = A.copy()
            A[p] = v
            xz.append(A)
        xx = self.xx.copy()
        xx[p, :p] = xx[:p, p] = xy
        xx[p, p] = yy
        return CrossProducts(blocks=self.blocks, diag=self.diag, off=self.off, xz=xz, xx=xx, n=self.n, p=p,
                             log_weights=self.log_weights, w_sqrt=self.w_sqrt, beta_offset=shift)

    @classmethod
    def build(cls, blocks: list[ReBlock], X: object, y: np.ndarray, weights: np.ndarray | None = None,
              center: bool | np.ndarray = True, select: Callable[[np.ndarray], np.ndarray] | None = None,
              chunk_rows: int | None = None) -> CrossProducts:
        """Compute every block in one pass over the rows (two when centring), without copying the data.

        Parameters
        ----------
        blocks : list of ReBlock
        X : numpy.ndarray or row source
            n x p fixed-effects matrix.  Arrays are used whole; a row source (``shape`` and
            ``rows(start, stop)``, e.g. :class:`lmmflow.design.lazy.RowMatrix`) is read ``chunk_rows``
            rows at a time, as are the terms' Z, so X and Z are never held whole.
        y : numpy.ndarray
            Response (offset already subtracted).
        weights : numpy.ndarray, optional
            Prior weights; rows are scaled by their square roots.
        center : bool or numpy.ndarray
            Replace y by its residual from an ordinary least squares fit on X (or, given an array b, by
            y - X b).  Theta, the random effects and the objective do not change (X b lies in the column
            space of X); beta is shifted back by ``beta_offset``.  This keeps y'y, from which the
            penalized residual sum of squares is obtained by subtraction, at the scale of the residuals,
            so a response with a large mean relative to its spread loses no precision.  The least-squares
            coefficients are refined once from the residuals of the first solution (computed row by row),
            and the centred products follow from the residuals' products.  Partitioned builds that are
            summed afterwards must pass the same array (or False) to every partition.
        select : callable, optional
            Given the R factor of X (from the row blocks, a TSQR), the indices of the columns to keep;
            the others (aliased fixed effects) are dropped before the response is centred.  The kept
            indices are in the result's ``kept``.
        chunk_rows : int, optional
            Rows per block for row sources (default :data:`CHUNK_ROWS`).
        """
        y = np.asarray(y, dtype=float)
        n, pfull = len(y), X.shape[1]
        w_sqrt = None
        log_w = 0.0
        if weights is not None:
            pos = weights > 0
            log_w = float(np.sum(np.log(weights[pos])))
            w_sqrt = np.sqrt(weights)
        fixed_shift = center if isinstance(center, np.ndarray) else None
        respond = center is not True  # y's products in the first pass, unless y is centred on its OLS fit
        ranges = row_ranges(n, chunk_rows, whole=_held(X, blocks))
        c = pfull + 1
        xx = np.zeros((c, c))
        diag = [np.zeros((b.nlevels, b.p, b.p)) for b in blocks]
        xz = [np.zeros((c, b.q)) for b in blocks]
        off: dict[tuple[int, int], sp.csr_matrix] = {}
        R = np.zeros((0, pfull)) if select is not None else None
        for a, e in ranges:
            Xc, yc, wc = _weighted_rows(X, y, w_sqrt, a, e)
            if fixed_shift is not None:
                yc = yc - Xc @ fixed_shift
            xx[:pfull, :pfull] += Xc.T @ Xc
            xx[:pfull, pfull] += Xc.T @ yc
            if respond:
                xx[pfull, pfull] += yc @ yc
            if R is not None and pfull:
                R = r_update(R, Xc)
            Zs = [_weighted_z(b, a, e, wc) for b in blocks]
            for k, (b, Zc) in enumerate(zip(blocks, Zs)):
                local, m, where = _local_levels(b.codes[a:e], b.nlevels)
                d = diag[k]
                for i in range(b.p):
                    for j in range(i + 1):
                        d[where, i, j] += np.bincount(local, weights=Zc[:, i] * Zc[:, j], minlength=m)
                if pfull >= _SPARSE_ZX_COLUMNS:  # one sparse product instead of a bincount per column
                    zx = _z_cross_matrix(local, Zc, Xc, m)  # (m, p, pfull)
                    xz[k][:pfull].reshape(pfull, b.nlevels, b.p)[:, where, :] += zx.transpose(2, 0, 1)
                else:
                    for col in range(pfull):
                        xz[k][col].reshape(b.nlevels, b.p)[where] += _z_cross(local, Zc, Xc[:, col], m)
                if respond:
                    xz[k][pfull].reshape(b.nlevels, b.p)[where] += _z_cross(local, Zc, yc, m)
                for j in range(k):
                    part = _zz_cross(b.codes[a:e], Zc, blocks[k], blocks[j].codes[a:e], Zs[j], blocks[j])
                    off[(k, j)] = part if (k, j) not in off else (off[(k, j)] + part).tocsr()
        for d in diag:
            for i in range(d.shape[1]):
                for j in range(i):
                    d[:, j, i] = d[:, i, j]
        kept = np.arange(pfull)
        if R is not None:
            kept = np.asarray(select(R), dtype=int)
            if len(kept) < pfull:
                idx = np.concatenate([kept, [pfull]])
                xx = np.ascontiguousarray(xx[np.ix_(idx, idx)])
                xz = [np.ascontiguousarray(A[idx]) for A in xz]
                X = X[:, kept] if isinstance(X, np.ndarray) else _ColumnSubset(X, kept)
                if fixed_shift is not None:
                    fixed_shift = fixed_shift[kept]
        p = len(kept)
        shift = fixed_shift
        if respond:
            xx[p, :p] = xx[:p, p]
        else:
            xy, yy, zy, shift = _response_products(blocks, X, y, w_sqrt, xx[:p, :p], [A[:p] for A in xz], ranges,
                                                   xty=xx[:p, p].copy())
            xx[:p, p] = xx[p, :p] = xy
            xx[p, p] = yy
            for A, v in zip(xz, zy):
                A[p] = v
        return cls(blocks=blocks, diag=diag, off=off, xz=xz, xx=xx, n=n, p=p, log_weights=log_w, w_sqrt=w_sqrt,
                   beta_offset=shift, kept=kept)


@dataclass(frozen=True)
class ReweightLayout:
    """What :meth:`CrossProducts.reweight` finds once: the off-diagonal blocks' pattern, where each row's
    products land in it, and the products of the terms' columns (which do not depend on the weights).

    Attributes
    ----------
    off : dict
        ``(k, j) ->`` the block in canonical CSR form (sorted indices, no duplicates): its ``indices`` and
        ``indptr`` are the pattern every reweighted copy shares.
    where : dict
        ``(k, j) ->`` (p_k p_j) x n integer array: the position in ``off[(k, j)].data`` of row r's product of
        column a of Z_k and column c of Z_j, at row ``a * p_j + c``.
    ones : list of tuple of bool
        For each term, which of its columns are all ones (an intercept: products with it are skipped).
    products : dict
        Filled on first use, for terms held as arrays: ``(k, a, j, c) ->`` the row products of column a of Z_k
        and column c of Z_j; ``("zt", k) ->`` the sparse Z_k'; ``"X" ->`` the column products of the last X
        passed (:meth:`x_products`).
    """

    off: dict[tuple[int, int], sp.csr_matrix]
    where: dict[tuple[int, int], np.ndarray]
    ones: list[tuple[bool, ...]]
    products: dict = field(default_factory=dict, repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    @classmethod
    def of(cls, cp: CrossProducts) -> ReweightLayout:
        """Find the positions for the cross-products ``cp`` (one sorted search per block and column pair)."""
        off, where = {}, {}
        blocks = cp.blocks
        for (k, j), A in cp.off.items():
            A = A.tocsr(copy=True)
            A.sum_duplicates()  # canonical: indices sorted within rows
            bk, bj = blocks[k], blocks[j]
            qj = bj.q
            keys = np.repeat(np.arange(A.shape[0], dtype=np.int64), np.diff(A.indptr)) * qj + A.indices
            ck = np.asarray(bk.codes, dtype=np.int64) * bk.p
            cj = np.asarray(bj.codes, dtype=np.int64) * bj.p
            pos_all = np.empty((bk.p * bj.p, len(ck)), dtype=np.int32 if len(keys) < 2**31 else np.int64)
            for a in range(bk.p):
                for c in range(bj.p):
                    want = (ck + a) * qj + cj + c
                    pos = np.searchsorted(keys, want)
                    if len(want) and (pos.max() >= len(keys) or np.any(keys[pos] != want)):
                        raise ValueError(f"the cross-products' block ({k}, {j}) lacks entries its rows fill")
                    pos_all[a * bj.p + c] = pos
            off[(k, j)], where[(k, j)] = A, pos_all
        ones = []
        for b in blocks:
            if isinstance(b.Z, np.ndarray):
                ones.append(tuple(bool(np.all(b.Z[:, i] == 1.0)) for i in range(b.p)))
            else:
                ones.append((False,) * b.p)
        return cls(off=off, where=where, ones=ones)

    def zt(self, k: int, b: ReBlock) -> sp.csr_matrix:
        """The sparse q_k x n matrix Z_k' of a term held as an array (cached)."""
        key = ("zt", k)
        out = self.products.get(key)
        if out is None:
            out = self.products[key] = b.sparse_z().T.tocsr()
        return out

    def workspace(self, rows: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
        """This thread's work arrays for ``rows`` rows: a Fortran-ordered rows x ``columns`` matrix and a row
        vector (kept between calls up to :data:`WORKSPACE_KEPT` bytes; contents undefined)."""
        kept = getattr(self._local, "ws", None)
        if kept is None:
            kept = self._local.ws = {}  # PIRLS alternates widths: X's columns with beta jointly, none with it fixed
        ws = kept.get((rows, columns))
        if ws is None:
            ws = (np.empty((rows, columns), order="F"), np.empty(rows))
            if 8 * rows * (columns + 1) + sum(8 * a.size + 8 * b.size for a, b in kept.values()) <= WORKSPACE_KEPT:
                kept[(rows, columns)] = ws
        return ws

    def x_products(self, X: object) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray] | None:
        """The products X_a X_b (a <= b) of the columns of an array X, as rows of one matrix, with their
        upper-triangle positions; cached for the array object last passed (PIRLS passes its own X, never
        modified, at every step).  None for a row source or when they would exceed 20 million values."""
        if not isinstance(X, np.ndarray):
            return None
        cached = self.products.get("X")
        if cached is not None and cached[0]() is X:
            return cached[1]
        p = X.shape[1]
        iu = np.triu_indices(p)
        if len(iu[0]) * X.shape[0] > 20_000_000:
            return None
        XT = np.ascontiguousarray(X.T)
        out = (iu, XT[iu[0]] * XT[iu[1]])
        self.products["X"] = (weakref.ref(X), out)
        return out

    def weighted(self, k: int, a: int, j: int, c: int, Z: object, w: np.ndarray, whole: bool,
                 out: np.ndarray) -> np.ndarray:
        """``w`` times column a of Z_k times column c of Z_j (``w`` itself when both are ones), in ``out``."""
        zz = self.product(k, a, j, c, Z, whole)
        return w if zz is None else np.multiply(w, zz, out=out)

    def product(self, k: int, a: int, j: int, c: int, Z: object, whole: bool) -> np.ndarray | None:
        """Column a of Z_k times column c of Z_j over the rows given (``Z``: Z_k's rows, or (Z_k's, Z_j's));
        None when both are ones.  Cached for whole arrays."""
        if self.ones[k][a] and self.ones[j][c]:
            return None
        Zk, Zj = Z if isinstance(Z, tuple) else (Z, Z)
        if not whole:
            return Zk[:, a] * Zj[:, c]
        key = (k, a, j, c)
        out = self.products.get(key)
        if out is None:
            out = self.products[key] = np.ascontiguousarray(Zk[:, a] * Zj[:, c])
        return out


def _held(X: object, blocks: list[ReBlock]) -> bool:
    """Whether X and every term's Z are arrays (used whole) rather than row sources (read in blocks)."""
    return isinstance(X, np.ndarray) and all(isinstance(b.Z, np.ndarray) for b in blocks)


class _ColumnSubset:
    """Some columns of a row source (the non-aliased fixed effects)."""

    def __init__(self, source: object, columns: np.ndarray):
        self.source, self.columns = source, np.asarray(columns, dtype=int)
        self.shape = (source.shape[0], len(self.columns))  # type: ignore[attr-defined]

    def rows(self, start: int, stop: int) -> np.ndarray:
        return row_block(self.source, start, stop)[:, self.columns]


def _weighted_rows(X: object, y: np.ndarray, w_sqrt: np.ndarray | None, a: int, e: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Rows a:e of X and y, scaled by the square-root weights."""
    Xc, yc = row_block(X, a, e), y[a:e]
    if w_sqrt is None:
        return Xc, yc, None
    wc = w_sqrt[a:e]
    return Xc * wc[:, None], yc * wc, wc


def _weighted_z(b: ReBlock, a: int, e: int, wc: np.ndarray | None) -> np.ndarray:
    Zc = row_block(b.Z, a, e)
    return Zc if wc is None else Zc * wc[:, None]


def _response_products(blocks: list[ReBlock], X: object, y: np.ndarray, w_sqrt: np.ndarray | None,
                       xtx: np.ndarray, zx: list[np.ndarray], ranges: list[tuple[int, int]],
                       xty: np.ndarray | None = None) -> tuple[np.ndarray, float, list[np.ndarray], np.ndarray | None]:
    """X'y, y'y and Z_k'y for y centred on its least-squares fit on X, and the fit's coefficients.

    With b0 from the normal equations (``xty`` = X'y, computed here when not given) and r = y - X b0
    computed row by row, one refinement d = (X'X)^-1 X'r gives the coefficients b0 + d; the centred
    response is r - X d, whose products follow from r's: X'r - X'X d, r'r - 2 d'X'r + d'X'X d and
    Z'r - Z'X d, all at the scale of the residuals.
    """
    p = xtx.shape[0]
    chol = None
    if p:
        c, info = sla.lapack.dpotrf(xtx, lower=1, clean=1)
        chol = c if info == 0 else None
    b0 = None
    if chol is not None:
        if xty is None:
            xty = np.zeros(p)
            for a, e in ranges:
                Xc, yc, _ = _weighted_rows(X, y, w_sqrt, a, e)
                xty += Xc.T @ yc
        b0 = _chol_solve(chol, xty)
    xr = np.zeros(p)
    rr = 0.0
    zr = [np.zeros(b.q) for b in blocks]
    for a, e in ranges:
        Xc, yc, wc = _weighted_rows(X, y, w_sqrt, a, e)
        r = yc - Xc @ b0 if b0 is not None else yc
        if p:
            xr += Xc.T @ r
        rr += float(r @ r)
        for k, b in enumerate(blocks):
            local, m, where = _local_levels(b.codes[a:e], b.nlevels)
            zr[k].reshape(b.nlevels, b.p)[where] += _z_cross(local, _weighted_z(b, a, e, wc), r, m)
    if b0 is None:
        return xr, rr, zr, None
    d = _chol_solve(chol, xr)
    xy = xr - xtx @ d
    yy = rr - 2.0 * float(d @ xr) + float(d @ xtx @ d)
    zy = [v - A.T @ d for v, A in zip(zr, zx)]
    return xy, yy, zy, b0 + d


def _chol_solve(chol: np.ndarray, v: np.ndarray) -> np.ndarray:
    x, info = sla.lapack.dpotrs(chol, v, lower=1)  # LAPACK directly: a fifth of cho_solve's call cost
    if info != 0:
        raise np.linalg.LinAlgError(f"dpotrs failed (info={info})")
    return x


def _local_levels(codes: np.ndarray, nlevels: int) -> tuple[np.ndarray, int, slice | np.ndarray]:
    """Codes of a block of rows renumbered over the levels the block touches.

    Returns (local codes, number of local levels, where those levels sit among all levels: a slice when
    the block's levels span a short range, as in data sorted by unit, else the sorted level array).  Sums
    by level then cost the block's size, not the number of levels: a fit of 8 million rows of 2 million
    units read in 65,536-row blocks would otherwise spend most of its time on level-sized arrays.
    """
    if len(codes) == 0:
        return codes, 0, slice(0, 0)
    lo, hi = int(codes.min()), int(codes.max())
    span = hi - lo + 1
    if span == nlevels and lo == 0:
        return codes, nlevels, slice(0, nlevels)
    if span <= 4 * len(codes):
        return codes - lo, span, slice(lo, hi + 1)
    uniq, local = np.unique(codes, return_inverse=True)
    return local.ravel(), len(uniq), uniq


def _z_cross(codes: np.ndarray, Z: np.ndarray, v: np.ndarray, nlevels: int) -> np.ndarray:
    """Z' v (levels x p) for rows with level ``codes`` and values ``Z``."""
    p = Z.shape[1]
    out = np.empty((nlevels, p))
    for a in range(p):
        out[:, a] = np.bincount(codes, weights=Z[:, a] * v, minlength=nlevels)
    return out


_SPARSE_ZX_COLUMNS = 6
"""From this many fixed-effects columns on, Z'X is one sparse-times-dense product (InstEval's 28 columns:
2.5 ms a term instead of 7.5 ms of bincounts); below, the bincounts' lower fixed cost wins."""


def _sparse_z(codes: np.ndarray, Z: np.ndarray, nlevels: int) -> sp.csr_matrix:
    """The n x (nlevels p) sparse matrix of rows with level ``codes`` and values ``Z``, level-major columns:
    each row holds its p values, so CSR needs no sorting."""
    n, p = Z.shape
    indices = (codes.astype(np.int64)[:, None] * p + np.arange(p)[None, :]).ravel()
    return sp.csr_matrix((np.ascontiguousarray(Z, dtype=float).ravel(), indices, np.arange(0, n * p + 1, p)),
                         shape=(n, nlevels * p))


def _z_cross_matrix(codes: np.ndarray, Z: np.ndarray, X: np.ndarray, nlevels: int) -> np.ndarray:
    """Z'X as a (levels, p, columns of X) array, for rows with level ``codes`` and values ``Z``: the
    transpose of the sparse Z is CSC with no copy, multiplied by X in row order."""
    p = Z.shape[1]
    return np.asarray(_sparse_z(codes, Z, nlevels).T @ X).reshape(nlevels, p, X.shape[1])


def _zz_cross(codes_k: np.ndarray, Zk: np.ndarray, bk: ReBlock, codes_j: np.ndarray, Zj: np.ndarray,
              bj: ReBlock) -> sp.csr_matrix:
    """Z_k' Z_j over some rows, as a sparse q_k x q_j matrix."""
    rows, cols, vals = [], [], []
    ck = codes_k.astype(np.int64) * bk.p
    cj = codes_j.astype(np.int64) * bj.p
    for a in range(bk.p):
        for c in range(bj.p):
            rows.append(ck + a)
            cols.append(cj + c)
            vals.append(Zk[:, a] * Zj[:, c])
    coo = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(bk.q, bj.q))
    return coo.tocsr()
