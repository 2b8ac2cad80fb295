"""Analytic gradient of the profiled deviance / REML criterion with respect to theta.

With M = Lambda'Z'Z Lambda + I = L L', u and beta the penalized least squares solution, r the
residual, V = I + Z Lambda Lambda'Z' and C = (X'V^-1 X)^-1, and dLambda the derivative of Lambda in
one element theta_j (term k, entry (r, c) of lambda_k, repeated over the levels):

    d log|M|          = 2 tr(M^-1 Lambda'Z'Z dLambda) = 2 [(l_k I - S_k) lambda_k^-1]_{c, r}
    d pwrss           = -2 r'Z dLambda u
    d log|X'V^-1 X|   = -2 tr(C F' dLambda G'),   G = M^-1 Lambda'Z'X,  F = Z'X - Z'Z Lambda G

where l_k is the number of levels and S_k the sum over levels of the diagonal blocks of M^-1 in term
k (the first identity uses M^-1 Lambda'Z'Z Lambda = I - M^-1, so it needs lambda_k invertible; at a
boundary point the gradient falls back to finite differences).  The diagonal blocks of M^-1 come from
the blocked factor by selected inversion: the dense trailing part is inverted with LAPACK's dpotri, the
block-diagonal first term by its per-level factors plus a sparse correction.  No n x n or q x q0
dense matrix is formed.  Imports only numpy and scipy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .criterion import criterion_dof
from .stacked import const_left, stack_inner, stack_matmul

if TYPE_CHECKING:
    from .deviance import DevianceFunction

__all__ = ["profiled_gradient", "sum_inverse_diag_blocks"]


def _trailing_inverse(f) -> np.ndarray:  # noqa: ANN001 - BlockedCholesky
    """(L_R L_R')^-1 for the dense trailing part (terms 1..K-1) of the factor, as one dense matrix."""
    cp = f.cp
    sizes = [b.q for b in cp.blocks[1:]]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    Q = int(starts[-1])
    LR = f._buffers.get("trailing")
    if LR is None or LR.shape != (Q, Q):
        LR = f._buffers["trailing"] = np.zeros((Q, Q))
    else:
        LR.fill(0.0)
    for k in range(1, len(cp.blocks)):
        for j in range(1, k + 1):
            LR[starts[k - 1]:starts[k], starts[j - 1]:starts[j]] = f.Ld[(k, j)]
    # C-ordered lower = Fortran-ordered upper of the transpose: no copy for LAPACK
    if f.dense_hook is not None:
        f.dense_hook(Q)
    inv, info = sla.lapack.dpotri(LR.T, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"dpotri failed (info={info})")
    return inv.T  # lower triangle holds the inverse; the upper triangle is not referenced


def sum_inverse_diag_blocks(f) -> list[np.ndarray]:  # noqa: ANN001 - BlockedCholesky
    """For each term, the sum over levels of the p x p diagonal blocks of M^-1 = (L L')^-1."""
    cp = f.cp
    b0 = cp.blocks[0]
    Linv = f.L0inv  # (nl, p, p)
    S0 = np.tensordot(Linv, Linv, axes=([0, 1], [0, 1]))
    if len(cp.blocks) == 1:
        return [S0]
    sigma_r = _trailing_inverse(f)  # lower triangle only
    sizes = [b.q for b in cp.blocks[1:]]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    out = [None]
    for k in range(1, len(cp.blocks)):
        bk = cp.blocks[k]
        blk = sigma_r[starts[k - 1]:starts[k], starts[k - 1]:starts[k]]
        blk = np.tril(blk) + np.tril(blk, -1).T if bk.p > 1 else blk
        d = blk.reshape(bk.nlevels, bk.p, bk.nlevels, bk.p)
        out.append(np.einsum("iaib->ab", d))
    if f.pairs:
        # all scalar terms: Y_k Y_j' = theta_k theta_j A_k0 diag(theta_0^2 / d0^4) A_j0' on a fixed pattern
        d0 = f.L0[:, 0, 0]
        w = (f.lambdas[0][0, 0] / d0 ** 2) ** 2
        total = 0.0
        for (k, j), pk in f.pairs.items():
            scale = f.lambdas[k][0, 0] * f.lambdas[j][0, 0]
            vals = scale * pk.values(w)
            Q = sigma_r.shape[1]
            whole = (k, j) == (1, 1) and Q == cp.blocks[1].q  # the block is all of sigma_r: same positions
            flat = pk.flat if whole else (starts[k - 1] + pk.rows) * Q + starts[j - 1] + pk.cols
            sub = sigma_r.reshape(-1)[flat]  # C-contiguous (the transpose of LAPACK's Fortran array)
            if k == j:  # off-diagonal entries stand for both triangles
                total += 2.0 * float(vals @ sub) - float(np.sum((vals * sub)[pk.rows == pk.cols]))
            else:
                total += 2.0 * float(vals @ sub)
        S0[0, 0] += total
        out[0] = S0
        return out
    sigma_r = np.tril(sigma_r) + np.tril(sigma_r, -1).T
    # first term: sum_l L0inv_l' (I + W_l' Sigma_R W_l) L0inv_l, W = rows of L below the first block
    W = sp.vstack([f.Lsp[k] for k in range(1, len(cp.blocks))]).tocsr()
    if b0.p == 1:
        Y = W @ sp.diags(Linv[:, 0, 0])
        Ys = [Y]
    else:
        blocks = sp.bsr_matrix((np.ascontiguousarray(Linv), np.arange(b0.nlevels), np.arange(b0.nlevels + 1)),
                               shape=(b0.q, b0.q)).tocsr()
        Y = (W @ blocks).tocsc()
        Ys = [Y[:, a::b0.p] for a in range(b0.p)]
    for a in range(b0.p):
        for b in range(a + 1):
            # <Sigma_R, Y_a Y_b'>, evaluated only where Y_a Y_b' is non-zero
            prod = (Ys[a].tocsr() @ Ys[b].tocsr().T).tocoo()
            val = float(np.dot(prod.data, sigma_r[prod.row, prod.col]))
            S0[a, b] += val
            if a != b:
                S0[b, a] += val
    out[0] = S0
    return out


def _zz_times(cp, vecs: list[np.ndarray]) -> list[np.ndarray]:  # noqa: ANN001
    """(Z'Z) v for v given per term as level-major arrays (q_k x m); returns the same layout."""
    K = len(cp.blocks)
    out = []
    for k in range(K):
        bk = cp.blocks[k]
        v = vecs[k].reshape(bk.nlevels, bk.p, -1)
        res = stack_matmul(cp.diag[k], v).reshape(bk.q, -1)
        for j in range(K):
            if j < k:
                res = res + cp.off[(k, j)] @ vecs[j]
            elif j > k:
                res = res + cp.off[(j, k)].T @ vecs[j]
        out.append(res)
    return out


def profiled_gradient(devfun: DevianceFunction, theta: np.ndarray, updated: bool = False) -> np.ndarray:
    """Gradient of the profiled objective at ``theta`` (analytic; finite differences on a boundary).

    Parameters
    ----------
    devfun : DevianceFunction
    theta : numpy.ndarray
    updated : bool
        The factor is already at ``theta`` (skip recomputing it).

    Returns
    -------
    numpy.ndarray
        d objective / d theta (the model's parameters: the gradient in lme4's theta chained through the
        parameter map, :meth:`~lmmflow.core.parammap.ParameterMap.chain`).
    """
    f, cp = devfun.factor, devfun.cp
    theta = np.asarray(theta, dtype=float)
    if not updated:
        f.update(theta)
    lams = f.lambdas
    if any(np.min(np.abs(np.diag(lam))) < 1e-10 for lam in lams):
        return _fd_gradient(devfun, theta)
    K = len(cp.blocks)
    n, p = cp.n, cp.p
    pwrss = f.pwrss()
    beta = f.solve_fixef()
    u = f.solve_u(beta)
    b = f.b_of_u(u)
    S = sum_inverse_diag_blocks(f)
    # residual cross-products Z'r = Z'y - Z'X beta - Z'Z b
    zzb = _zz_times(cp, [bk.reshape(-1, 1) for bk in b])
    zr = [cp.xz[k][p] - cp.xz[k][:p].T @ beta - zzb[k][:, 0] for k in range(K)]
    reml = devfun.reml
    dof = criterion_dof(n, p, reml)
    if reml and p:
        # G = M^-1 Lambda'Z'X, F = Z'X - Z'Z Lambda G
        rhs = []
        for k in range(K):
            bk = cp.blocks[k]
            zx = cp.xz[k][:p].T.reshape(bk.nlevels, bk.p, p)
            rhs.append(const_left(lams[k].T, zx).reshape(bk.q, p))
        G = f.solve_m(rhs)
        lg = [const_left(lams[k], G[k].reshape(cp.blocks[k].nlevels, cp.blocks[k].p, p))
              .reshape(cp.blocks[k].q, p) for k in range(K)]
        zzlg = _zz_times(cp, lg)
        F = [cp.xz[k][:p].T - zzlg[k] for k in range(K)]
        rx_inv = np.linalg.inv(f.LXX[:p, :p])
        C = rx_inv.T @ rx_inv
    grad = np.zeros(f.pmap.n_theta)  # in lme4's theta; chained to the model's parameters below
    for k in range(K):
        bk, lam = cp.blocks[k], lams[k]
        rows, cols = f.positions[k]
        sl = f.slices[k]
        t_logdet = 2.0 * (bk.nlevels * np.eye(bk.p) - S[k]) @ np.linalg.inv(lam)
        uk = u[k].reshape(bk.nlevels, bk.p)
        zrk = zr[k].reshape(bk.nlevels, bk.p)
        t_pwrss = -2.0 * zrk.T @ uk  # [r, c] = sum_l zr[l, r] u[l, c]
        if reml and p:
            GC = (G[k] @ C).reshape(bk.nlevels, bk.p, p)
            Fk = F[k].reshape(bk.nlevels, bk.p, p)
            t_rx = -2.0 * stack_inner(Fk, GC)
        for idx, (r, c) in enumerate(zip(rows, cols)):
            g = t_logdet[c, r]
            g += dof * t_pwrss[r, c] / pwrss
            if reml and p:
                g += t_rx[r, c]
            grad[sl.start + idx] = g
    return f.pmap.chain(theta, grad)


def _fd_gradient(devfun: DevianceFunction, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Finite-difference gradient (one-sided at a lower bound)."""
    lower = devfun.lower
    g = np.zeros(len(theta))
    for j in range(len(theta)):
        e = np.zeros(len(theta))
        e[j] = h
        if theta[j] - h < lower[j]:
            g[j] = (devfun(theta + e) - devfun(theta)) / h
        else:
            g[j] = (devfun(theta + e) - devfun(theta - e)) / (2 * h)
    return g
