"""Fixed-pattern products ``A_k diag(w) A_j'`` between random-effects terms that share the rows of a
scalar first term.

When every term is a scalar (intercept-only) term, the fill that the first (block-diagonal) term puts
into a later dense block is ``theta_k theta_j A_k0 diag(w) A_j0'``, where ``w`` depends on theta_0 and,
per level of the first term, only on that level's diagonal entry of ``Z_0'Z_0`` (its number of
observations, without weights).  So levels with equal diagonal entries share their weight: grouping
them, the product is ``sum over groups g of w_g P_g`` with ``P_g`` the product restricted to the levels
of group g.  The pattern never changes, so it is laid out once as a sparse matrix ``T`` (one row per
non-zero of the product, one column per group) and each evaluation is one sparse matrix-vector product
``T w``.  InstEval's 2,972 students fall into 86 groups, so ``T`` holds 0.6 times the entries of a
per-student layout and is built by one sparse product.  Imports only numpy and scipy.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["ColumnPairs", "PairProduct", "MAX_PAIRS"]

MAX_PAIRS = 30_000_000  # index pairs (per level); beyond that, sparse products at every evaluation


class PairProduct:
    """The pattern and coefficients of ``A_k diag(w) A_j'`` (lower triangle only when k == j).

    Parameters
    ----------
    Ak, Aj : scipy.sparse matrix
        q_k x l and q_j x l, sharing the column space (levels of the first term).
    lower : bool
        Keep only entries with row >= column (for a symmetric diagonal block).
    groups : numpy.ndarray, optional
        Group of each of the l columns (0 .. G-1); the weights passed to :meth:`values` must be equal
        within a group.  Default: every column its own group.

    Attributes
    ----------
    rows, cols : numpy.ndarray
        Positions of the product's non-zeros (sorted row-major).
    flat : numpy.ndarray
        The same positions in the flattened (C-ordered) q_k x q_j block: a scatter or gather through
        them is three times as fast as through (rows, cols).
    T : scipy.sparse.csc_matrix
        ``product[rows, cols] = T @ w_groups`` (one column per group).
    """

    def __init__(self, Ak: sp.spmatrix, Aj: sp.spmatrix, lower: bool, groups: np.ndarray | None = None):
        ak = sp.csr_matrix(Ak)
        aj = sp.csc_matrix(Aj)
        nl = ak.shape[1]
        qj = aj.shape[0]
        if groups is None:
            groups = np.arange(nl)
        groups = np.asarray(groups, dtype=np.int64)
        G = int(groups.max()) + 1 if nl else 1
        first = np.full(G, -1, dtype=np.int64)
        first[groups[::-1]] = np.arange(nl)[::-1]  # a representative level of each group
        self.rep = first
        # E' (G*qj x l): column c holds column c of Aj, moved to rows group(c)*qj + j; then E' Ak' gives every
        # group's product stacked, R'[g*qj + j, i] = sum over c in g of Ak[i, c] Aj[j, c], a CSR matrix whose
        # entries come grouped by group: T is built in CSC form with no sorting, and its product with the
        # weights is a column-by-column accumulation
        counts = np.diff(aj.indptr)
        col_group = np.repeat(groups, counts)
        Et = sp.csr_matrix((aj.data, (col_group * qj + aj.indices.astype(np.int64), np.repeat(np.arange(nl), counts))),
                           shape=(G * qj, nl))
        Rt = Et @ sp.csr_matrix(ak.T)
        del Et
        counts = np.diff(Rt.indptr)  # entries of each row g*qj + j
        small = np.int32 if max(qj, ak.shape[0]) < 2**31 else np.int64
        col = np.repeat(np.tile(np.arange(qj, dtype=small), G), counts)  # j of each entry
        row, vals = Rt.indices, Rt.data
        if lower:  # entries with col <= row
            keep = col <= row
            if len(keep):  # kept entries of each row, from the running count at the row boundaries
                kept = np.cumsum(keep, dtype=np.int32 if len(keep) < 2**31 else np.int64)
                ind = Rt.indptr
                counts = np.diff(np.where(ind > 0, kept[np.maximum(ind - 1, 0)], 0))
                del kept
            row, col, vals = row[keep], col[keep], vals[keep]
            del keep
        del Rt
        indptr = np.concatenate([[0], np.cumsum(counts.reshape(G, qj).sum(axis=1))])  # entries in group order
        del counts
        pos = row.astype(np.int64) * qj + col
        size = ak.shape[0] * qj
        if size <= 256_000_000:  # number the positions through a dense mark: no sort
            seen = np.zeros(size, dtype=bool)
            seen[pos] = True
            uniq = np.flatnonzero(seen)
            ids = np.cumsum(seen, dtype=np.int32 if len(uniq) < 2**31 else np.int64)[pos] - 1
            del seen
        else:
            uniq, ids = np.unique(pos, return_inverse=True)
        del pos, row, col
        self.T = sp.csc_matrix((vals, ids, indptr), shape=(len(uniq), G))
        self.flat = uniq.astype(np.intp)  # row * q_j + col: positions in the C-ordered q_k x q_j block
        self.rows = self.flat // qj
        self.cols = self.flat % qj

    @staticmethod
    def n_pairs(Ak: sp.spmatrix, Aj: sp.spmatrix) -> int:
        """Number of index pairs of a per-level layout (an upper bound of the grouped layout's size)."""
        ck = np.diff(sp.csc_matrix(Ak).indptr)
        cj = np.diff(sp.csc_matrix(Aj).indptr)
        return int(np.dot(ck, cj))

    def values(self, w: np.ndarray) -> np.ndarray:
        """The product's non-zero values for per-level weights ``w`` (equal within each group)."""
        return self.T @ w[self.rep]


class ColumnPairs:
    """The pairs of non-zeros of two sparse matrices that share a column, for any values on their patterns.

    Where :class:`PairProduct` folds the values into its layout (the cross-products of an LMM never change),
    this keeps positions only, so it serves matrices whose values change on a fixed pattern: the coupling
    blocks of the factor PIRLS forms at every step.  ``A_k diag(w) A_j'`` (with the weights folded into the
    values) is then a product of gathered values summed by target, and the same pairs give ``G A_j`` on the
    pattern of ``A_k`` (the leverages' coupling).

    Parameters
    ----------
    Ak, Aj : scipy.sparse.csr_matrix
        q_k x l and q_j x l in canonical CSR form (their ``data`` order is the order of the values passed).
    lower : bool
        Keep only pairs with row of A_k >= row of A_j (a symmetric diagonal block's lower triangle).

    Attributes
    ----------
    e1, e2 : numpy.ndarray
        Positions in ``Ak.data`` and ``Aj.data`` of each pair's entries.
    rows1, rows2 : numpy.ndarray
        Their rows.
    targets : numpy.ndarray
        ``rows1 * q_j + rows2``: positions in the C-ordered q_k x q_j product, one per distinct target.
    n_pairs : int

    Examples
    --------
    >>> A = sp.csr_matrix(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> cp = ColumnPairs(A, A, lower=False)
    >>> out = np.zeros(4)
    >>> out[cp.targets] = cp.product(A.data, A.data)
    >>> bool(np.allclose(out.reshape(2, 2), (A @ A.T).toarray()))
    True
    """

    def __init__(self, Ak: sp.csr_matrix, Aj: sp.csr_matrix, lower: bool):
        qj = Aj.shape[0]
        ids_k, rows_k, ptr_k = _column_entries(Ak)
        ids_j, rows_j, ptr_j = _column_entries(Aj)
        nk, nj = np.diff(ptr_k), np.diff(ptr_j)
        col_k = np.repeat(np.arange(len(nk)), nk)  # column of each A_k entry, in column order
        reps = nj[col_k]  # pairs each A_k entry makes
        total = int(reps.sum())
        t = np.repeat(np.arange(len(col_k)), reps)
        first = np.concatenate([[0], np.cumsum(reps)[:-1]]) if len(reps) else np.zeros(0, dtype=np.int64)
        jpos = ptr_j[col_k][t] + (np.arange(total) - first[t])
        e1, r1 = ids_k[t], rows_k[t]
        e2, r2 = ids_j[jpos], rows_j[jpos]
        if lower:
            keep = r1 >= r2
            e1, r1, e2, r2 = e1[keep], r1[keep], e2[keep], r2[keep]
        flat = r1.astype(np.int64) * qj + r2
        order = np.argsort(flat, kind="stable")
        self.e1, self.e2, self.rows1, self.rows2 = e1[order], e2[order], r1[order], r2[order]
        flat = flat[order]
        self.n_pairs = len(flat)
        self._starts = np.flatnonzero(np.concatenate([[True], flat[1:] != flat[:-1]])) if len(flat) else flat
        self.targets = flat[self._starts] if len(flat) else flat

    def product(self, dk: np.ndarray, dj: np.ndarray) -> np.ndarray:
        """The values of ``A_k A_j'`` at :attr:`targets`, for values ``dk`` and ``dj`` on the two patterns."""
        if not self.n_pairs:
            return np.zeros(0)
        return np.add.reduceat(dk[self.e1] * dj[self.e2], self._starts)


def _column_entries(A: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a CSR matrix: the positions of its entries in ``data``, their rows, and each column's range, in
    column order."""
    ids = sp.csr_matrix((np.arange(A.nnz, dtype=np.int64), A.indices, A.indptr), shape=A.shape).tocsc()
    ids.sort_indices()
    return ids.data.astype(np.int64), ids.indices.astype(np.int64), ids.indptr.astype(np.int64)
