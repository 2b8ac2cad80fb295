"""Fixed-pattern products ``A_k diag(w) A_j'`` between random-effects terms that share the rows of a
scalar first term.

When every term is a scalar (intercept-only) term, the fill that the first (block-diagonal) term puts
into a later dense block is ``theta_k theta_j A_k0 diag(w) A_j0'`` with ``w`` depending only on theta_0.
The pattern of that product never changes, so it is laid out once as a sparse matrix ``T`` (one row
per non-zero of the product, one column per level of the first term) and each evaluation is one sparse
matrix-vector product ``T w`` instead of a sparse-sparse product.  Imports only numpy and scipy.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["PairProduct", "MAX_PAIRS"]

MAX_PAIRS = 6_000_000


class PairProduct:
    """The pattern and coefficients of ``A_k diag(w) A_j'`` (lower triangle only when k == j).

    Parameters
    ----------
    Ak, Aj : scipy.sparse matrix
        q_k x l and q_j x l, sharing the column space (levels of the first term).
    lower : bool
        Keep only entries with row >= column (for a symmetric diagonal block).

    Attributes
    ----------
    rows, cols : numpy.ndarray
        Positions of the product's non-zeros.
    T : scipy.sparse.csc_matrix
        ``product[rows, cols] = T @ w``.
    """

    def __init__(self, Ak: sp.spmatrix, Aj: sp.spmatrix, lower: bool):
        ak, aj = sp.csc_matrix(Ak), sp.csc_matrix(Aj)
        ak.sort_indices()
        aj.sort_indices()
        nl = ak.shape[1]
        ck, cj = np.diff(ak.indptr), np.diff(aj.indptr)
        col_of_k = np.repeat(np.arange(nl), ck)
        counts = cj[col_of_k]  # each entry of A_k pairs with every entry of A_j in its column
        total = int(counts.sum())
        left = np.repeat(np.arange(ak.nnz), counts)
        group_start = np.repeat(np.cumsum(counts) - counts, counts)
        right = aj.indptr[col_of_k[left]] + (np.arange(total) - group_start)
        rows, cols = ak.indices[left], aj.indices[right]
        vals = ak.data[left] * aj.data[right]
        colv = col_of_k[left]
        if lower:
            keep = rows >= cols
            rows, cols, vals, colv = rows[keep], cols[keep], vals[keep], colv[keep]
        flat = rows.astype(np.int64) * aj.shape[0] + cols
        size = ak.shape[0] * aj.shape[0]
        if size <= 64_000_000:
            # unique positions without sorting: mark, then number the marks in order
            seen = np.zeros(size, dtype=bool)
            seen[flat] = True
            uniq = np.flatnonzero(seen)
            ids = np.cumsum(seen, dtype=np.int64) - 1
            inv = ids[flat]
        else:
            uniq, inv = np.unique(flat, return_inverse=True)
        # the pairs come grouped by level (column) already, so T is built in CSC form without sorting
        indptr = np.concatenate([[0], np.cumsum(np.bincount(colv, minlength=nl))])
        self.T = sp.csc_matrix((vals, inv, indptr), shape=(len(uniq), nl))
        self.rows = (uniq // aj.shape[0]).astype(np.intp)
        self.cols = (uniq % aj.shape[0]).astype(np.intp)

    @staticmethod
    def n_pairs(Ak: sp.spmatrix, Aj: sp.spmatrix) -> int:
        """Number of index pairs the layout would hold (to decide whether it pays)."""
        ck = np.diff(sp.csc_matrix(Ak).indptr)
        cj = np.diff(sp.csc_matrix(Aj).indptr)
        return int(np.dot(ck, cj))

    def values(self, w: np.ndarray) -> np.ndarray:
        """The product's non-zero values for column weights ``w``."""
        return self.T @ w
