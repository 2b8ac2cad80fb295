"""Damped Newton minimization of many small objectives at once (bootstrap refits, many responses).

When the same model is fitted to many responses (the replicates of a parametric bootstrap, the outcomes
of ``fit_many``), each fit is a minimization over a handful of covariance parameters, and one evaluation
of all the objectives together costs little more than one of them: the work is a few array operations
over (points x levels or patterns).  :func:`batched_newton` minimizes them all together: central
differences give every active fit's gradient and Hessian from one batched call (1 + 2d + d(d-1) points),
the Hessian's eigenvalues are bounded away from zero (a modified Newton step), and a backtracking line
search, four step lengths per batched call, keeps every step a descent.  A fit that cannot go on (a
point pressed against a bound, a failed factorization) is flagged, for the caller to refit it with a
derivative-free optimizer.  Imports only numpy.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["BatchedObjective", "batched_cholesky", "batched_newton"]


class BatchedObjective(Protocol):
    """Objectives of many fits: ``objective(theta, fit)`` at points theta (N, d) of fits ``fit`` (N,)."""

    def objective(self, theta: np.ndarray, rep: np.ndarray) -> np.ndarray:  # pragma: no cover - protocol
        ...


def batched_cholesky(S: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack (N, c, c); rows that are not positive definite get NaN."""
    N, c, _ = S.shape
    L = np.zeros_like(S)
    for j in range(c):
        d = S[:, j, j] - np.einsum("nk,nk->n", L[:, j, :j], L[:, j, :j])
        with np.errstate(invalid="ignore"):
            L[:, j, j] = np.sqrt(np.where(d > 0, d, np.nan))
        if j + 1 < c:
            L[:, j + 1:, j] = (S[:, j + 1:, j] - np.einsum("nik,nk->ni", L[:, j + 1:, :j], L[:, j, :j])) \
                / L[:, j, j][:, None]
    return L



def _fd_pattern(d: int) -> np.ndarray:
    """Offsets for central-difference gradient and Hessian: 0, +-e_a, +-(e_a + e_b) for a < b."""
    eye = np.eye(d)
    pairs = [eye[a] + eye[b] for a in range(d) for b in range(a)]
    rows = [np.zeros(d), *eye, *(-eye)]
    rows += pairs + [-r for r in pairs]
    return np.asarray(rows)


def batched_newton(ev: BatchedObjective, theta0: np.ndarray, lower: np.ndarray, R: int, maxit: int = 30,
                    tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimize every replicate's objective from theta0 by damped Newton steps, all replicates at once.

    Returns theta (R, d), objective (R,) and a success flag (R,).
    """
    d = len(theta0)
    pat = _fd_pattern(d)
    npts = len(pat)
    pair_idx = [(a, b) for a in range(d) for b in range(a)]
    x = np.tile(theta0, (R, 1))
    fx = ev.objective(x, np.arange(R))
    status = np.where(np.isfinite(fx), 0, 2)  # 0 running, 1 converged, 2 failed
    for _ in range(maxit):
        act = np.flatnonzero(status == 0)
        if act.size == 0:
            break
        xa = x[act]
        h = 1e-4 * np.maximum(np.abs(xa), 0.05)
        pts = xa[:, None, :] + pat[None, :, :] * h[:, None, :]
        vals = ev.objective(pts.reshape(-1, d), np.repeat(act, npts)).reshape(act.size, npts)
        f0, fp, fm = vals[:, 0], vals[:, 1:1 + d], vals[:, 1 + d:1 + 2 * d]
        g = (fp - fm) / (2 * h)
        hd = (fp - 2 * f0[:, None] + fm) / h ** 2
        H = np.zeros((act.size, d, d))
        H[:, np.arange(d), np.arange(d)] = hd
        npair = len(pair_idx)
        for k, (a, b) in enumerate(pair_idx):
            fpp, fmm = vals[:, 1 + 2 * d + k], vals[:, 1 + 2 * d + npair + k]
            H[:, a, b] = H[:, b, a] = (fpp - 2 * f0 + fmm - hd[:, a] * h[:, a] ** 2 - hd[:, b] * h[:, b] ** 2) / (
                2 * h[:, a] * h[:, b])
        bad = ~np.isfinite(vals).all(axis=1)
        H[bad] = np.eye(d)
        g[bad] = 0.0
        w, V = np.linalg.eigh(H)
        wmax = np.maximum(np.abs(w).max(axis=1), 1e-300)
        pd_ok = w.min(axis=1) > 1e-8 * wmax
        wmod = np.maximum(np.abs(w), 1e-8 * wmax[:, None])
        step = -np.einsum("nab,nb->na", V, np.einsum("nba,nb->na", V, g) / wmod)
        dec = -np.einsum("na,na->n", g, step)
        status[act[bad]] = 2
        # converged: the remaining Newton step is negligible; take it when it stays feasible
        conv = ~bad & pd_ok & (dec < tol)
        xn = xa + step
        feas = np.all(xn >= lower, axis=1)
        done = act[conv]
        x[done[feas[conv]]] = xn[conv & feas]
        status[done] = 1
        # the others: backtracking line search (Armijo), four step lengths per objective call
        todo = ~bad & ~conv
        _line_search(ev, x, fx, status, act[todo], step[todo], -dec[todo], lower)
    status[status == 0] = 2
    # a converged SD that is tiny but not 0: put it on the bound when that is no worse (a boundary optimum)
    diag = np.isfinite(lower)
    tiny = (status == 1) & np.any(diag & (x < 1e-5), axis=1)
    if tiny.any():
        idx = np.flatnonzero(tiny)
        xs = x[idx].copy()
        xs[:, diag] = np.where(xs[:, diag] < 1e-5, lower[diag], xs[:, diag])
        fs = ev.objective(xs, idx)
        better = fs <= fx[idx] + 1e-10
        x[idx[better]] = xs[better]
        fx[idx[better]] = fs[better]
    return x, fx, status == 1


def _line_search(ev: BatchedObjective, x: np.ndarray, fx: np.ndarray, status: np.ndarray, idx: np.ndarray,
                 st: np.ndarray, gs: np.ndarray, lower: np.ndarray, tries: int = 4, rounds: int = 6) -> None:
    """Backtracking (Armijo) along the steps ``st`` of replicates ``idx``; updates x, fx, status in place.

    A step that would leave the feasible region is first shortened to stay 10% inside it; a replicate whose
    step must shrink below 1e-6 (pressed against a bound) or that finds no decrease is marked failed.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(st < 0, (x[idx] - lower) / -st, np.inf).min(axis=1)
    alpha = np.minimum(1.0, 0.9 * room)
    stuck = alpha < 1e-6
    status[idx[stuck]] = 2
    pending = ~stuck
    shrink = 0.5 ** np.arange(tries)
    d = x.shape[1]
    for _ in range(rounds):
        k = np.flatnonzero(pending)
        if k.size == 0:
            return
        cand = alpha[k, None] * shrink[None, :]  # (K, tries)
        xt = x[idx[k]][:, None, :] + cand[:, :, None] * st[k][:, None, :]
        ft = ev.objective(xt.reshape(-1, d), np.repeat(idx[k], tries)).reshape(k.size, tries)
        good = np.isfinite(ft) & (ft <= fx[idx[k]][:, None] + 1e-4 * cand * gs[k][:, None])
        has = good.any(axis=1)
        first = np.argmax(good, axis=1)
        acc = k[has]
        x[idx[acc]] = xt[has, first[has]]
        fx[idx[acc]] = ft[has, first[has]]
        pending[acc] = False
        alpha[k[~has]] *= 0.5 ** tries
    status[idx[pending]] = 2
