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

MAX_PAIRS = 30_000_000  # about 360 MB of layout; beyond that, sparse products each time


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

    def __init__(self, Ak: sp.spmatrix, Aj: sp.spmatrix, lower: bool, chunk_pairs: int = 2_000_000):
        ak, aj = sp.csc_matrix(Ak), sp.csc_matrix(Aj)
        ak.sort_indices()
        aj.sort_indices()
        nl = ak.shape[1]
        qj = aj.shape[0]
        per_col = np.diff(ak.indptr) * np.diff(aj.indptr)
        # column chunks holding about chunk_pairs pairs each, so temporaries stay bounded
        bounds = np.searchsorted(np.cumsum(per_col), np.arange(chunk_pairs, per_col.sum() + chunk_pairs, chunk_pairs))
        edges = np.unique(np.concatenate([[0], np.minimum(bounds + 1, nl), [nl]]))
        size = ak.shape[0] * qj
        if len(edges) <= 2:
            # one chunk: a single pass, numbering the unique positions from the marks
            flat, vals, colv = self._pairs(ak, aj, lower, 0, nl)
            seen = np.zeros(size, dtype=bool) if size <= 256_000_000 else None
            if seen is not None:
                seen[flat] = True
                uniq = np.flatnonzero(seen)
                ids = np.cumsum(seen, dtype=np.int64) - 1
                inv = ids[flat]
            else:
                uniq, inv = np.unique(flat, return_inverse=True)
            parts = [(inv, vals, colv)]
        elif size <= 256_000_000:
            # unique positions without sorting: mark, then number the marks in order (two passes)
            seen = np.zeros(size, dtype=bool)
            for a, b in zip(edges[:-1], edges[1:]):
                seen[self._pairs(ak, aj, lower, a, b)[0]] = True
            uniq = np.flatnonzero(seen)
            del seen
            ids = np.full(size, -1, dtype=np.int32 if len(uniq) < 2**31 else np.int64)
            ids[uniq] = np.arange(len(uniq), dtype=ids.dtype)
            parts = []
            for a, b in zip(edges[:-1], edges[1:]):  # keep only the compact ids, not the flat positions
                flat, vals_c, col_c = self._pairs(ak, aj, lower, a, b)
                parts.append((ids[flat], vals_c, col_c.astype(np.int32)))
            inv = np.concatenate([i for i, _, _ in parts])
            del ids
        else:
            parts = [self._pairs(ak, aj, lower, a, b) for a, b in zip(edges[:-1], edges[1:])]
            uniq, inv = np.unique(np.concatenate([flat for flat, _, _ in parts]), return_inverse=True)
        vals = np.concatenate([v for _, v, _ in parts])
        colv = np.concatenate([c for _, _, c in parts])
        del parts
        # the pairs come grouped by level (column) already, so T is built in CSC form without sorting
        indptr = np.concatenate([[0], np.cumsum(np.bincount(colv, minlength=nl))])
        self.T = sp.csc_matrix((vals, inv, indptr), shape=(len(uniq), nl))
        self.rows = (uniq // qj).astype(np.intp)
        self.cols = (uniq % qj).astype(np.intp)

    @staticmethod
    def _pairs(ak: sp.csc_matrix, aj: sp.csc_matrix, lower: bool, c0: int, c1: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flat positions, values and columns of the pairs of entries sharing a column in [c0, c1)."""
        lo_k, hi_k = ak.indptr[c0], ak.indptr[c1]
        ck = np.diff(ak.indptr[c0:c1 + 1])
        cj = np.diff(aj.indptr[c0:c1 + 1])
        col_of_k = np.repeat(np.arange(c0, c1), ck)
        counts = cj[col_of_k - c0]  # each entry of A_k pairs with every entry of A_j in its column
        total = int(counts.sum())
        left = np.repeat(np.arange(lo_k, hi_k), counts)
        group_start = np.repeat(np.cumsum(counts) - counts, counts)
        right = aj.indptr[col_of_k[left - lo_k]] + (np.arange(total) - group_start)
        rows, cols = ak.indices[left], aj.indices[right]
        vals = ak.data[left] * aj.data[right]
        colv = col_of_k[left - lo_k]
        if lower:
            keep = rows >= cols
            rows, cols, vals, colv = rows[keep], cols[keep], vals[keep], colv[keep]
        return rows.astype(np.int64) * aj.shape[0] + cols, vals, colv

    @staticmethod
    def n_pairs(Ak: sp.spmatrix, Aj: sp.spmatrix) -> int:
        """Number of index pairs the layout would hold (to decide whether it pays)."""
        ck = np.diff(sp.csc_matrix(Ak).indptr)
        cj = np.diff(sp.csc_matrix(Aj).indptr)
        return int(np.dot(ck, cj))

    def values(self, w: np.ndarray) -> np.ndarray:
        """The product's non-zero values for column weights ``w``."""
        return self.T @ w
