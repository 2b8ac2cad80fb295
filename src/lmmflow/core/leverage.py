"""Leverages from the blocked factor: ``||L^-1 a_i||^2`` for every row, with no n x n matrix.

For the penalized least squares system that :class:`~lmmflow.core.blocked.BlockedCholesky` factors,
``M = L L'``, and rows ``a_i = s_i [Lambda' z_i; x_i]`` (s_i a row scale, e.g. the square roots of prior
weights), the diagonal of ``A M^-1 A'`` is ``||L^-1 a_i||^2``.  Without x_i (the random effects only) it is
``s_i^2 z_i' Lambda (Lambda'Z'WZ Lambda + I)^-1 Lambda' z_i``, the leverage PIRLS's beta gradient needs; with
it, lme4's ``hatvalues``.

The first term is block diagonal, so its part is a per-level quadratic form, gathered by level.  The later
terms (Q effects in all, their factor ``L_r`` dense) see row i through a sparse vector ``r_i`` (its own levels,
minus the fill from its first-term level); with ``gram`` (default when Q <= 5,000) their part is
``r_i' (L_r L_r')^-1 r_i`` from the inverse formed once, so each row costs a few products of its nonzeros;
otherwise a triangular solve per row block.  Imports only numpy and scipy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .crossprod import CHUNK_ROWS, row_block, row_ranges

__all__ = ["leverages"]

_CHUNK_VALUES = 1 << 22  # values of the per-row work arrays (rows x effects of the later terms): 32 MiB
_GRAM_MAX = 5000  # later terms' effects up to which (L_r L_r')^-1 is formed (200 MiB at 5,000)
_GATHER_MAX = 4_000_000  # entries of the dense Q x q0 coupling up to which the random-effects part is gathered


def leverages(f: Any, X: Any = None, row_scale: np.ndarray | None = None, chunk_rows: int | None = None,
              gram: bool | None = None) -> np.ndarray:
    """``||L^-1 a_i||^2`` for every row of the factor's design (see the module docstring).

    Parameters
    ----------
    f : BlockedCholesky
        A factor formed at some theta (its ``lambdas``, per-level and dense blocks are used).
    X : numpy.ndarray or row source, optional
        The fixed-effects rows x_i (the factor's p columns).  None: the random-effects part only.
    row_scale : numpy.ndarray, optional
        s_i (None: 1).  The factor's own weights are not applied to the rows: pass ``f.cp.w_sqrt`` for an LMM's
        hat values.
    chunk_rows : int, optional
        Rows per block (default: as many as keep the work arrays near 32 MiB).
    gram : bool, optional
        Form ``(L_r L_r')^-1`` once (default when the later terms have at most 5,000 effects).

    Returns
    -------
    numpy.ndarray
        One value per row.

    Examples
    --------
    >>> import lmmflow as lf
    >>> d = lf.make_deviance("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> f = d.factor_at([0.9667, 0.0152, 0.2309])
    >>> h = leverages(f, d.cp.blocks[0].Z)  # X = [1, Days] is the term's own Z here
    >>> round(float(h.sum()), 2)
    29.02
    >>> bool(np.all(leverages(f) <= h + 1e-12))
    True
    """
    cp = f.cp
    blocks, K, n = cp.blocks, len(cp.blocks), cp.n
    p = 0 if X is None else int(X.shape[1])
    if p and p != cp.p:
        raise ValueError(f"X has {p} columns; the factor has {cp.p} fixed effects")
    lams = f.lambdas
    b0 = blocks[0]
    L0inv = f.L0inv  # (nlevels, p0, p0): the first term's per-level factors, inverted
    need_c0 = K > 1 or p > 0
    LX0 = f._level_major_lx0()[:p].reshape(p, b0.nlevels, b0.p) if p else None
    RX = f.LXX[:p, :p]
    Q = sum(b.q for b in blocks[1:])
    gram = Q <= _GRAM_MAX if gram is None else gram
    offsets = np.cumsum([0] + [b.q for b in blocks[1:]])
    P0 = None
    if not need_c0:  # the first term alone: z' P_level z with P = Lambda L0^-T L0^-1 Lambda' per level
        P0 = np.einsum("jqr,jqs->jrs", *(2 * [np.einsum("jqr,sr->jqs", L0inv, lams[0])]))
    elif p == 0 and row_scale is None and Q <= _GRAM_MAX and Q * b0.q <= _GATHER_MAX:
        return _gathered(f, Q, offsets)
    G = P = Lsp = None
    if K > 1:
        Lsp = sp.vstack([sp.csr_matrix(f.Lsp[k]) for k in range(1, K)], format="csr")
        if gram:
            Lr = np.zeros((Q, Q))
            for k in range(1, K):
                for j in range(1, k + 1):
                    Lr[offsets[k - 1]:offsets[k], offsets[j - 1]:offsets[j]] = f.Ld[(k, j)]
            Linv = sla.solve_triangular(Lr, np.eye(Q), lower=True, check_finite=False)
            del Lr
            G = Linv.T @ Linv  # (L_r L_r')^-1
            P = np.hstack([f.LX[k][:p] for k in range(1, K)]) @ Linv if p else None  # LX_r L_r^-1
            del Linv
    if chunk_rows is None:
        width = (Q if K > 1 else 0) + p + b0.p
        chunk_rows = int(min(CHUNK_ROWS, max(256, _CHUNK_VALUES // max(1, width))))
    out = np.empty(n)
    for a, e in row_ranges(n, chunk_rows):
        nb = e - a
        ws = row_scale[a:e] if row_scale is not None else None
        codes0 = b0.codes[a:e]
        if P0 is not None:
            Zc = _scaled(row_block(b0.Z, a, e), ws)
            h = np.zeros(nb)
            for r in range(b0.p):
                for s in range(r + 1):
                    v = Zc[:, r] * Zc[:, s]
                    h += (v if r == s else 2.0 * v) * np.take(np.ascontiguousarray(P0[:, r, s]), codes0)
            out[a:e] = h
            continue
        # the first term: block-diagonal, so row i's part of L^-1 a_i is L0_{level}^-1 lambda0' z_i
        z0 = _scaled(row_block(b0.Z, a, e), ws) @ lams[0]
        c0 = np.einsum("ipq,iq->ip", L0inv[codes0], z0)
        h = np.einsum("ip,ip->i", c0, c0)
        xr = None
        if p:
            xr = _scaled(row_block(X, a, e), ws).T - np.einsum("jip,ip->ji", LX0[:, codes0, :], c0)  # p x nb
        if K > 1:
            cols = np.repeat(np.arange(nb), b0.p)
            C0 = sp.csc_matrix((c0.ravel(), (((codes0 * b0.p)[:, None] + np.arange(b0.p)).ravel(), cols)),
                               shape=(b0.q, nb))
            parts = []
            for k in range(1, K):
                bk = blocks[k]
                zk = _scaled(row_block(bk.Z, a, e), ws) @ lams[k]
                rows = (offsets[k - 1] + (bk.codes[a:e] * bk.p)[:, None] + np.arange(bk.p)).ravel()
                parts.append(sp.csc_matrix((zk.ravel(), (rows, np.repeat(np.arange(nb), bk.p))), shape=(Q, nb)))
            R = (sum(parts[1:], parts[0]) - Lsp @ C0).tocsc()  # Q x nb, a few nonzeros per column
            if gram:
                GR = np.asarray(R.T @ G)  # nb x Q
                h += np.asarray(R.T.multiply(GR).sum(axis=1)).ravel()
                if p:
                    xr -= np.asarray(R.T @ P.T).T
            else:
                Rd = R.toarray()
                cr = np.empty_like(Rd)
                for k in range(1, K):
                    sk = slice(offsets[k - 1], offsets[k])
                    rhs = Rd[sk]
                    for j in range(1, k):
                        rhs = rhs - f.Ld[(k, j)] @ cr[offsets[j - 1]:offsets[j]]
                    cr[sk] = sla.solve_triangular(f.Ld[(k, k)], rhs, lower=True, check_finite=False)
                    if p:
                        xr -= f.LX[k][:p] @ cr[sk]
                h += np.einsum("ri,ri->i", cr, cr)
        if p:
            cx = sla.solve_triangular(RX, xr, lower=True, check_finite=False)
            h += np.einsum("ji,ji->i", cx, cx)
        out[a:e] = h
    return out


def _gathered(f: Any, Q: int, offsets: np.ndarray) -> np.ndarray:
    """The random-effects leverages of a model with several terms by per-row gathers (no row blocks).

    With K_c = L0_c^-1 Lambda0' (level c of the first term), Y_c = Lsp[:, c] K_c (Q x p0, the fill's columns of
    the level), G = (L_r L_r')^-1, U = G Y and v the row's entries of the later terms (Lambda_k' z_k at its
    levels), ``||L^-1 a||^2 = z0'(K_c'K_c + Y_c'U_c) z0 - 2 v'U_c z0 + v'G v``: a per-level p0 x p0 form, a
    Q x q0 table and a Q x Q table, read at each row's levels.
    """
    cp, lams = f.cp, f.lambdas
    blocks, K = cp.blocks, len(cp.blocks)
    b0 = blocks[0]
    p0, nl0 = b0.p, b0.nlevels
    G = _gram_inverse(f, Q, offsets)
    Kc = np.einsum("jqr,sr->jqs", f.L0inv, lams[0])  # (nl0, p0, p0): L0_c^-1 Lambda0'
    # two scalar terms of reweighted cross-products with a sparse coupling (students x raters, not VerbAgg's
    # persons x items, which is dense): U on the coupling's pattern only
    sparse_coupling = K == 2 and f.Lsp[1].nnz <= 0.25 * Q * b0.q
    pairs = f._pairs_of(1, 1, lower=False) if sparse_coupling and p0 == 1 else None
    if pairs is not None:
        return _gathered_on_pattern(f, G, Kc[:, 0, 0], pairs)
    Lsp = sp.vstack([sp.csr_matrix(f.Lsp[k]) for k in range(1, K)], format="csr")  # Q x q0, sparse
    # Y = Lsp blockdiag(K_c), sparse with Lsp's pattern; U = G Y by one sparse-dense product (nnz x Q flops)
    Ysp = (Lsp @ sp.block_diag(list(Kc), format="csr")).tocsr() if p0 > 1 else Lsp.multiply(
        Kc[:, 0, 0][None, :]).tocsr()
    U = np.asarray((Ysp.T @ G).T)  # Q x q0
    P = np.einsum("jqr,jqs->jrs", Kc, Kc)  # per-level p0 x p0
    for r in range(p0):
        for s_ in range(p0):  # + Y_c'U_c, summed over Y's nonzeros
            P[:, r, s_] += np.asarray(Ysp[:, r::p0].multiply(U[:, s_::p0]).sum(axis=0)).ravel()
    codes0 = np.asarray(b0.codes, dtype=np.int64)
    Z0 = b0.Z
    h = np.zeros(cp.n)
    for r in range(p0):
        for s_ in range(r + 1):
            v = Z0[:, r] * Z0[:, s_]
            h += (v if r == s_ else 2.0 * v) * np.take(np.ascontiguousarray(P[:, r, s_]), codes0)
    # the later terms' entries of the row: column index in 0..Q-1 and value (Lambda_k' z_k)_a
    ents = []
    for k in range(1, K):
        bk = blocks[k]
        V = np.asarray(bk.Z, dtype=float) @ lams[k]
        base = offsets[k - 1] + np.asarray(bk.codes, dtype=np.int64) * bk.p
        ents += [(base + a, V[:, a]) for a in range(bk.p)]
    Uf = np.ascontiguousarray(U).ravel()
    for col, v in ents:  # -2 v' U_c z0
        for r in range(p0):
            h -= 2.0 * v * Z0[:, r] * Uf[col * (nl0 * p0) + codes0 * p0 + r]
    Gf = G.ravel()
    for i, (col, v) in enumerate(ents):  # v' G v
        h += v * v * Gf[col * Q + col]
        for col2, v2 in ents[:i]:
            h += 2.0 * v * v2 * Gf[col * Q + col2]
    return h


def _gathered_on_pattern(f: Any, G: np.ndarray, k0: np.ndarray, pairs: Any) -> np.ndarray:
    """:func:`_gathered` for two scalar terms whose coupling L[1, 0] has the pattern of reweighted cross-products:
    U = G Y is needed only where Y (= L[1, 0] scaled by k0 per column) has entries, and each such entry sums
    over the entries of its column (the column pairs laid out once), so nothing of size Q x q0 is formed."""
    cp = f.cp
    b0, b1 = cp.blocks
    A = f.Lsp[1]  # CSR on the pattern of cp.pattern.off[(1, 0)]
    Q = b1.q
    y = A.data * k0[A.indices]
    u = np.bincount(pairs.e1, weights=G.ravel()[pairs.rows1 * Q + pairs.rows2] * y[pairs.e2], minlength=len(y))
    P = k0 * k0 + np.bincount(A.indices, weights=y * u, minlength=b0.nlevels)
    z0 = np.asarray(b0.Z[:, 0], dtype=float)
    v = np.asarray(b1.Z[:, 0], dtype=float) * f.lambdas[1][0, 0]
    codes0 = np.asarray(b0.codes, dtype=np.int64)
    pos = cp.pattern.where[(1, 0)][0]  # each row's entry of the coupling
    return z0 * z0 * P[codes0] - 2.0 * v * z0 * u[pos] + v * v * np.diagonal(G)[b1.codes]


def _gram_inverse(f: Any, Q: int, offsets: np.ndarray) -> np.ndarray:
    """(L_r L_r')^-1 for the later terms' dense factor L_r (Q x Q), by LAPACK's dpotri on the assembled factor."""
    cp = f.cp
    K = len(cp.blocks)
    Lr = np.zeros((Q, Q), order="F")
    for k in range(1, K):
        for j in range(1, k + 1):
            Lr[offsets[k - 1]:offsets[k], offsets[j - 1]:offsets[j]] = f.Ld[(k, j)]
    G, info = sla.lapack.dpotri(Lr, lower=1, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"dpotri failed (info={info})")
    iu = np.triu_indices(Q, 1)
    G[iu] = G.T[iu]  # dpotri fills the lower triangle
    return G


def _scaled(M: np.ndarray, ws: np.ndarray | None) -> np.ndarray:
    return np.asarray(M, dtype=float) if ws is None else np.asarray(M, dtype=float) * ws[:, None]
