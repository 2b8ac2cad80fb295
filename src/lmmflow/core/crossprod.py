"""Cross-products of [Z X y], built once in one pass over the rows.

Everything the deviance needs at any theta is in these blocks, so the cost of one evaluation of the
objective does not depend on the number of rows (Bates et al. 2015, section 3; MixedModels.jl).
This module imports only numpy and scipy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["CrossProducts", "ReBlock", "theta_layout"]


@dataclass(frozen=True)
class ReBlock:
    """A random-effects term as the engine sees it: level codes, per-row values and lambda's pattern.

    Attributes
    ----------
    codes : numpy.ndarray
        Level code (0 .. nlevels-1) of each row.
    Z : numpy.ndarray
        n x p values of the term's columns.
    nlevels : int
        Number of levels.
    mask : numpy.ndarray
        p x p lower-triangular boolean: the free entries of the relative covariance factor lambda.
    """

    codes: np.ndarray
    Z: np.ndarray
    nlevels: int
    mask: np.ndarray

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
        n, p = self.Z.shape
        vals = self.Z if weights_sqrt is None else self.Z * weights_sqrt[:, None]
        indices = (self.codes[:, None] * p + np.arange(p)[None, :]).ravel()
        indptr = np.arange(0, n * p + 1, p)
        return sp.csr_matrix((vals.ravel(), indices, indptr), shape=(n, self.q))


def theta_layout(blocks: list[ReBlock]) -> tuple[list[slice], list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Where each term's parameters sit in theta, and theta's lower bounds.

    Within a term, the free entries of lambda are taken column by column (lme4's order).

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
        For each term, nlevels x p x p: the diagonal blocks of Z_k'Z_k.
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

    def with_response(self, y: np.ndarray, X: np.ndarray) -> CrossProducts:
        """The cross-products of the same design with a new response: only the y parts are recomputed.

        This is what makes refits (bootstrap, simulation studies, many outcomes) cheap.

        Parameters
        ----------
        y : numpy.ndarray
            The new response (offset already subtracted).
        X : numpy.ndarray
            The fixed-effects matrix the cross-products were built from.
        """
        yw = y if self.w_sqrt is None else y * self.w_sqrt
        xw = X if self.w_sqrt is None else X * self.w_sqrt[:, None]
        shift = _ols_shift(self.xx[:-1, :-1], xw, yw)
        yw = yw - xw @ shift if shift is not None else yw
        xz = []
        for A, b in zip(self.xz, self.blocks):
            A = A.copy()
            A[-1] = _z_cross(b, yw, self.w_sqrt)
            xz.append(A)
        xx = self.xx.copy()
        xx[-1, :-1] = xx[:-1, -1] = xw.T @ yw
        xx[-1, -1] = yw @ yw
        return CrossProducts(blocks=self.blocks, diag=self.diag, off=self.off, xz=xz, xx=xx, n=self.n, p=self.p,
                             log_weights=self.log_weights, w_sqrt=self.w_sqrt, beta_offset=shift)

    @classmethod
    def build(cls, blocks: list[ReBlock], X: np.ndarray, y: np.ndarray,
              weights: np.ndarray | None = None, center: bool | np.ndarray = True) -> CrossProducts:
        """Compute every block in one pass over the rows, without copying the data.

        Parameters
        ----------
        blocks : list of ReBlock
        X : numpy.ndarray
            n x p fixed-effects matrix.
        y : numpy.ndarray
            Response (offset already subtracted).
        weights : numpy.ndarray, optional
            Prior weights; rows are scaled by their square roots.
        center : bool or numpy.ndarray
            Replace y by its residual from an ordinary least squares fit on X (or, given an array b, by
            y - X b).  Theta, the random effects and the objective do not change (X b lies in the column
            space of X); beta is shifted back by ``beta_offset``.  This keeps y'y, from which the
            penalized residual sum of squares is obtained by subtraction, at the scale of the residuals,
            so a response with a large mean relative to its spread loses no precision.  Partitioned
            builds that are summed afterwards must pass the same array (or False) to every partition.
        """
        n, p = X.shape
        w_sqrt = None
        log_w = 0.0
        if weights is not None:
            pos = weights > 0
            log_w = float(np.sum(np.log(weights[pos])))
            w_sqrt = np.sqrt(weights)
            X = X * w_sqrt[:, None]
            y = y * w_sqrt
        xx = np.empty((p + 1, p + 1))
        xx[:p, :p] = X.T @ X
        shift = None
        if isinstance(center, np.ndarray):
            shift = center
        elif center:
            shift = _ols_shift(xx[:p, :p], X, y)
        if shift is not None:
            y = y - X @ shift
        xx[:p, p] = xx[p, :p] = X.T @ y
        xx[p, p] = y @ y
        diag, xz = [], []
        for b in blocks:
            d = np.empty((b.nlevels, b.p, b.p))
            for i in range(b.p):
                zi = b.Z[:, i] if w_sqrt is None else b.Z[:, i] * w_sqrt
                for j in range(i + 1):
                    zj = b.Z[:, j] if w_sqrt is None else b.Z[:, j] * w_sqrt
                    d[:, i, j] = np.bincount(b.codes, weights=zi * zj, minlength=b.nlevels)
                    d[:, j, i] = d[:, i, j]
            diag.append(d)
            A = np.empty((p + 1, b.q))
            for c in range(p):
                A[c] = _z_cross(b, X[:, c], w_sqrt)
            A[p] = _z_cross(b, y, w_sqrt)
            xz.append(A)
        off = {}
        for k in range(len(blocks)):
            for j in range(k):
                off[(k, j)] = _zz_cross(blocks[k], blocks[j], w_sqrt)
        return cls(blocks=blocks, diag=diag, off=off, xz=xz, xx=xx, n=n, p=p, log_weights=log_w, w_sqrt=w_sqrt,
                   beta_offset=shift)


def _ols_shift(xtx: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Least-squares coefficients of y on X (two refinement steps), or None when X is empty."""
    p = X.shape[1]
    if p == 0:
        return None
    try:
        c = np.linalg.cholesky(xtx)
    except np.linalg.LinAlgError:
        return None
    b = np.zeros(p)
    r = y
    for _ in range(2):  # iterative refinement: the second pass recovers digits lost in X'X
        step = np.linalg.solve(c.T, np.linalg.solve(c, X.T @ r))
        b = b + step
        r = y - X @ b
    return b


def _z_cross(b: ReBlock, v: np.ndarray, w_sqrt: np.ndarray | None) -> np.ndarray:
    """Z_k' v (level-major, length q_k) for a column v already scaled by the weights."""
    out = np.empty((b.nlevels, b.p))
    for a in range(b.p):
        z = b.Z[:, a] if w_sqrt is None else b.Z[:, a] * w_sqrt
        out[:, a] = np.bincount(b.codes, weights=z * v, minlength=b.nlevels)
    return out.ravel()


def _zz_cross(bk: ReBlock, bj: ReBlock, w_sqrt: np.ndarray | None) -> sp.csr_matrix:
    """Z_k' Z_j as a sparse q_k x q_j matrix."""
    rows, cols, vals = [], [], []
    for a in range(bk.p):
        za = bk.Z[:, a] if w_sqrt is None else bk.Z[:, a] * w_sqrt
        for c in range(bj.p):
            zc = bj.Z[:, c] if w_sqrt is None else bj.Z[:, c] * w_sqrt
            rows.append(bk.codes * bk.p + a)
            cols.append(bj.codes * bj.p + c)
            vals.append(za * zc)
    coo = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(bk.q, bj.q))
    return coo.tocsr()
