"""Fit a generalized linear mixed model on a Dask DataFrame or Parquet files: PIRLS one pass at a time.

The rows stay in the partitions.  A first pass gathers the levels (as for :func:`lmmflow.scale.dask_fit.lmer_dask`),
a second encodes every partition once (fixed-effect matrix, random-effects values, level codes, response
and prior weights, rows in level order; kept with ``persist``), reduces the R factor of X to find aliased columns
and numbers the levels by first appearance over the partitions.  After that, every PIRLS iteration is one pass
over the encoded partitions: each partition evaluates the linear predictor at the current fixed and random
effects, and returns its share of the penalized deviance and of the weighted cross-products (``Z'WZ`` per level,
``Z'Wr``; with the fixed effects inside PIRLS also ``X'WX`` and ``X'WZ``; in the last pass of a solve that needs
it, the sums of the exact beta gradient), for the levels it holds.  The driver adds them up (a partition's levels
are a run of codes: a slice) and solves the per-level systems: it holds arrays sized by the levels and the
numbers of effects, never per-row arrays.  Each solve starts from the modes of one IRLS step with the previous
solve's sums at the new parameters, so that one Newton step (two passes) usually reaches the modes.

Supported: one grouping factor with any number of effects per level (``(1 | g)``, ``(1 + x | g)``); binomial
(logit, probit, cloglog) and Poisson (log) families; prior weights and an offset given as column names.

The criterion and the algorithm are lme4's ``glmer(nAGQ = 1)`` and the fit is :func:`lmmflow.glmer`'s: a
:class:`DaskGlmmObjective` (the Laplace approximation ``-2 sum log f(y | mu) + |u|^2 + log det(Lambda'Z'WZ
Lambda + I)`` at the conditional modes, lme4's nAGQ = 0 objective, and for canonical links the exact beta gradient)
is minimized by :func:`lmmflow.optim.glmm.fit_glmm`, the in-memory fit's driver: the same two stages, the same
profiled-beta stage 2, Newton polish and Hessian.  The row quantities (mu, weights, deviance residuals) come from
:func:`lmmflow.core.pirls.working_values` and the family from :mod:`lmmflow.core.family`, as in memory.  PIRLS
runs until the modes stop moving (relative change below 1e-10), so the criterion is a smooth function of the
parameters.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..core.family import Family
from ..core.pirls import PirlsSolution
from ..design.fixed import FixedDesign, dropped_names, nonaliased_columns
from ..design.frame import DataError
from ..formula import FormulaError, cbind_parts, parse_formula
from ._dask import as_dask_frame, current_client, require_dask, share, stream_results
from .dask_design import (
    DaskDesign,
    EncodePlan,
    LevelSummary,
    build_plan,
    finish_design,
)
from .dask_glmm_passes import (
    GlmmChunk,
    GlmmEncoder,
    chunk_pass,
    chunk_r,
    encode_partition,
    glmm_partition_frame,
    pairs,
    relabel_chunk,
)
from .dask_glmm_result import DaskGlmerResult

__all__ = ["DaskGlmerResult", "DaskGlmmObjective", "GlmmChunk", "GlmmEncoder", "glmer_dask"]

_PIRLS_TOL = 1e-10
_PIRLS_MAXIT = 60


# ---- driver side ------------------------------------------------------------------------------------------
class _Passes:
    """Runs a function over the encoded partitions and hands the results to a reducer, in partition order."""

    def __init__(self, chunks: list[Any], client: Any) -> None:
        self.chunks, self.client = chunks, client
        self.count = 0
        self.progress: Any = None

    def run(self, fn: Any, consume: Any, *args: Any) -> None:
        self.count += 1
        if self.progress is not None:
            self.progress.update(1)
        if self.client is not None:
            futures = self.client.map(fn, self.chunks, *[[a] * len(self.chunks) for a in args], pure=False)
            for fut in futures:
                consume(fut.result())
            return
        for chunk in self.chunks:  # local scheduler: the encoded partitions are in this process already
            consume(fn(chunk, *args))


class _Sums:
    """A pass's sums over the partitions: per level (level-first while adding, one row per level), the aic and
    the dense fixed-effect blocks; :meth:`finish` gives the per-level blocks level-last (``(q, q, levels)``...),
    so that the driver's algebra runs on contiguous vectors of levels."""

    def __init__(self, nlevels: int, q: int, p: int, joint: bool, grad: int) -> None:
        self.nlevels, self.q, self.p, self.joint, self.grad = nlevels, q, p, joint, grad
        self.pairs = pairs(q)
        k = len(self.pairs)
        width = k + q + (p * q if joint or grad else 0) + (k * (p + q) if grad else 0)
        self.lv = np.zeros((nlevels, width))
        self.aic = 0.0
        self.xx = np.zeros((p, p)) if joint or grad > 1 else None
        self.xr = np.zeros(p) if joint else None
        self.xd = np.zeros(p) if grad else None

    def add(self, part: dict[str, Any] | None) -> None:
        if part is None:
            return
        head, k, tail = part["where"]
        lv = part["lv"]
        if k:
            self.lv[head] += lv[:k]
        self.lv[tail] += lv[k:]
        self.aic += part["aic"]
        for key in ("xx", "xr", "xd"):
            acc = getattr(self, key)
            if acc is not None:
                acc += part[key]

    def finish(self) -> _Sums:
        q, p, k, nl = self.q, self.p, len(self.pairs), self.nlevels
        T = np.ascontiguousarray(self.lv.T)
        self.lv = None  # type: ignore[assignment]
        self.A = np.empty((q, q, nl))
        for i, (a, b) in enumerate(self.pairs):
            self.A[a, b] = T[i]
            self.A[b, a] = T[i]
        self.c = T[k:k + q]
        at = k + q
        if self.joint or self.grad:
            self.xz = T[at:at + p * q].reshape(q, p, nl)   # xz[a, j] = sum w z_a x_j
            at += p * q
        if self.grad:
            G = T[at:].reshape(k, p + q, nl)                # per pair (a, b): sum dW z_a z_b [x | z]
            self.gx, self.gz = G[:, :p], G[:, p:]
        return self


def _chol(M: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of the q x q blocks of ``M`` (q x q x levels, level-last): loops over q, each step
    a vector over the levels (much faster than LAPACK per 2 x 2 block)."""
    q = M.shape[0]
    L = np.zeros_like(M)
    for j in range(q):
        d = M[j, j] - (L[j, :j] ** 2).sum(axis=0)
        if np.any(d <= 0):
            raise np.linalg.LinAlgError("a block of Lambda'Z'WZ Lambda + I is not positive definite")
        L[j, j] = np.sqrt(d)
        for i in range(j + 1, q):
            L[i, j] = (M[i, j] - (L[i, :j] * L[j, :j]).sum(axis=0)) / L[j, j]
    return L


def _forward(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve L y = b per level (b: q x ... x levels)."""
    y = np.empty_like(b)
    for i in range(L.shape[0]):
        r = b[i].copy()
        for k in range(i):
            r -= L[i, k] * y[k]
        y[i] = r / L[i, i]
    return y


def _backward(L: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Solve L' x = y per level (y: q x ... x levels)."""
    q = L.shape[0]
    x = np.empty_like(y)
    for i in range(q - 1, -1, -1):
        r = y[i].copy()
        for k in range(i + 1, q):
            r -= L[k, i] * x[k]
        x[i] = r / L[i, i]
    return x


def _lambda(theta: np.ndarray, q: int) -> np.ndarray:
    lam = np.zeros((q, q))
    rows, cols = np.tril_indices(q)
    order = np.lexsort((rows, cols))  # lme4: column by column
    lam[rows[order], cols[order]] = theta
    return lam


def _congruence(lam: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``lam' A_j lam`` for every level (A: q x q x levels): one small product over the stacked blocks."""
    q, nl = A.shape[0], A.shape[-1]
    return (np.kron(lam.T, lam.T) @ A.reshape(q * q, nl)).reshape(q, q, nl)


def _inverse(L: np.ndarray) -> np.ndarray:
    """(L L')^-1 per level, for lower Cholesky factors (q x q x levels)."""
    q, nl = L.shape[0], L.shape[-1]
    Li = _forward(L, np.broadcast_to(np.eye(q)[:, :, None], (q, q, nl)).copy())  # L^-1
    return np.einsum("kan,kbn->abn", Li, Li)


def _tr(lam: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``lam' B`` on the first axis of a level-last array."""
    return np.tensordot(lam.T, B, axes=1)


def _rows(B: np.ndarray) -> np.ndarray:
    """A q x p x levels array as p x (q levels), for sums over effects and levels by one product."""
    return B.transpose(1, 0, 2).reshape(B.shape[1], -1)


class DaskGlmmObjective:
    """The Laplace objective of a GLMM over encoded partitions, with the interface of
    :class:`lmmflow.core.pirls.GlmmObjective` that :func:`lmmflow.optim.glmm.fit_glmm` drives.

    Every PIRLS iteration is one pass over the partitions (:func:`chunk_pass`); the exact beta gradient comes
    from per-level sums of the last PIRLS pass (asked for when the step before it already meets the stopping
    rule).  Each evaluation starts from the modes predicted by one IRLS step with the last evaluation's sums at
    the new parameters (no pass), so that one step usually reaches the modes.  The driver holds arrays sized by
    the levels and the numbers of effects only, so :meth:`solve` returns a
    :class:`~lmmflow.core.pirls.PirlsSolution` without the per-row arrays (``eta``, ``mu`` and ``weights`` are
    empty).

    Parameters
    ----------
    passes : _Passes
    family : Family
    kept : numpy.ndarray
        Non-aliased fixed-effect columns.
    nlevels, q, p : int
        Levels of the grouping factor, effects per level, fixed effects.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import lmmflow as lf
    >>> from lmmflow.optim.glmm import fit_glmm
    >>> cbpp = dd.from_pandas(lf.load_dataset("cbpp"), npartitions=2)
    >>> obj = dask_glmm_objective("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    >>> round(fit_glmm(obj).objective, 3)
    184.053
    """

    nagq = 1

    def __init__(self, passes: _Passes, family: Family, kept: np.ndarray, nlevels: int, q: int, p: int) -> None:
        self.passes, self.family, self.kept = passes, family, kept
        self.nlevels, self.q, self.p = nlevels, q, p
        rows, cols = np.tril_indices(q)
        on_diag = (rows == cols)[np.lexsort((rows, cols))]
        self.lower = np.where(on_diag, 0.0, -np.inf)
        self.n_theta, self.n_beta = len(self.lower), p
        self.U = np.zeros((nlevels, q))                    # warm start (Laplace)
        self._start0: tuple[np.ndarray, np.ndarray] | None = None   # warm start for nagq = 0: (U, beta)
        self._last: tuple[_Sums, np.ndarray] | None = None  # the last evaluation's final sums and beta
        self.beta_hat: np.ndarray | None = None
        self.evaluations = 0
        self.response_levels: tuple[str, ...] | None = None  # a categorical response's levels
        self.perm = np.arange(nlevels)  # global level code -> the passes' numbering (U's rows)

    def theta0(self) -> np.ndarray:
        """lme4's starting theta: identity lambda."""
        return np.where(np.isfinite(self.lower), 1.0, 0.0)

    @property
    def has_beta_gradient(self) -> bool:
        """True for a canonical link (logit, log): :meth:`laplace_beta_gradient` is exact."""
        return self.family.link in ("logit", "log")

    def _sums(self, beta: np.ndarray | None, lam: np.ndarray, U: np.ndarray, joint: bool, grad: int = 0) -> _Sums:
        s = _Sums(self.nlevels, self.q, self.p, joint, grad)
        self.passes.run(chunk_pass, s.add, self.family, self.kept, beta, lam, U, joint, grad)
        return s.finish()

    @staticmethod
    def _factor(lam: np.ndarray, A: np.ndarray) -> np.ndarray:
        M = _congruence(lam, A)
        for i in range(M.shape[0]):
            M[i, i] += 1.0
        return _chol(M)

    def _step(self, s: _Sums, lam: np.ndarray, beta: np.ndarray | None, joint: bool,
              c: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """The IRLS solution (new U, levels x q, and with ``joint`` beta) from the sums (``c`` in place of
        ``s.c``)."""
        L = self._factor(lam, s.A)
        cu = _forward(L, lam.T @ (s.c if c is None else c))  # L^-1 Lambda' c_j
        if not joint:
            return np.ascontiguousarray(_backward(L, cu).T), beta
        rzx = _forward(L, _tr(lam, s.xz))  # L^-1 Lambda' Z'WX per level: q x p x levels
        R2 = _rows(rzx)
        new_beta = np.linalg.solve(s.xx - R2 @ R2.T, s.xr - R2 @ cu.reshape(-1))
        U = _backward(L, cu - np.tensordot(rzx, new_beta, axes=([1], [0])))
        return np.ascontiguousarray(U.T), new_beta

    def _predict(self, lam: np.ndarray, beta: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None] | None:
        """The modes (and, jointly, beta) after one IRLS step at the new parameters with the last evaluation's
        weights and sums: first-order accurate in the change of the parameters, and no pass."""
        if self._last is None:
            return None
        s0, beta0 = self._last
        if beta is None:
            return self._step(s0, lam, None, True) if s0.joint else None
        if s0.joint:  # its c holds X beta0's share: c - xz beta is the non-joint c at beta
            c = s0.c - np.tensordot(beta, s0.xz, axes=([0], [1]))
        elif s0.grad:
            c = s0.c - np.tensordot(beta - beta0, s0.xz, axes=([0], [1]))
        else:
            c = s0.c
        return self._step(s0, lam, beta, False, c)

    def _pirls(self, theta: np.ndarray, beta: np.ndarray | None, grad: int = 0) -> dict[str, Any]:
        """Conditional modes at ``theta`` and ``beta`` (None: beta jointly with the modes, lme4's nAGQ = 0);
        with ``grad`` the final sums hold the beta gradient's (:func:`chunk_pass`)."""
        joint = beta is None
        theta = np.asarray(theta, dtype=float)
        lam = _lambda(theta, self.q)
        beta = None if joint else np.asarray(beta, dtype=float)
        s = None
        with np.errstate(all="ignore"):
            try:
                pred = self._predict(lam, beta)
            except np.linalg.LinAlgError:
                pred = None
        if pred is not None and np.all(np.isfinite(pred[0])) and (not joint or np.all(np.isfinite(pred[1]))):
            U, beta = pred
            s = self._sums(beta, lam, U, joint)
            if not math.isfinite(s.aic):  # a prediction too far: start from the last modes
                s = None
        if s is None:
            if joint and self._start0 is None:  # R's mustart: the first IRLS step from the response alone
                U, beta = self._step(self._sums(None, lam, np.zeros((self.nlevels, self.q)), True), lam, None, True)
            elif joint:
                U, beta = self._start0[0].copy(), self._start0[1].copy()
            else:
                U = self.U.copy()
            s = self._sums(beta, lam, U, joint)
        pdev = s.aic + float((U * U).sum())
        it = 0
        # as GlmmObjective: Newton (canonical links) converges quadratically, so after a step below 1e-6 the
        # modes are within ~1e-12; Fisher scoring (probit, cloglog) converges linearly and runs to 1e-10
        stop = 1e-6 if self.has_beta_gradient else 1e-10

        def umax(U: np.ndarray) -> float:
            return float(np.abs(U).max()) if U.size else 0.0
        while it < _PIRLS_MAXIT and math.isfinite(pdev):
            it += 1
            U_new, beta_new = self._step(s, lam, beta, joint)
            for _half in range(20):
                du = float(np.abs(U_new - U).max()) if U.size else 0.0
                db = float(np.abs(beta_new - beta).max()) if joint else 0.0
                # a step that already meets the stopping rule: the pass is likely the last one, so it also
                # sums the gradient's parts (else one more pass at the modes)
                small = max(du, db) < stop * max(1.0, umax(U_new))
                s_new = self._sums(beta_new, lam, U_new, joint, grad if small else 0)
                pdev_new = s_new.aic + float((U_new * U_new).sum())
                # accept a decrease, or a change at the level of rounding (at the mode a full step moves the
                # penalized deviance by less than its last digits, up or down)
                if math.isfinite(pdev_new) and pdev_new <= pdev + 1e-10 * abs(pdev):
                    break
                U_new = (U + U_new) / 2
                if joint:
                    beta_new = (beta + beta_new) / 2
            else:
                break  # no descent: the modes are at the optimum to rounding
            U, beta, s, old, pdev = U_new, beta_new, s_new, pdev, pdev_new
            if abs(old - pdev) <= _PIRLS_TOL * abs(pdev) and small:
                break
        if grad and s.grad < grad and math.isfinite(pdev):
            s = self._sums(beta, lam, U, joint, grad)
        L = self._factor(lam, s.A)
        ld = 2 * float(np.log(L[np.arange(self.q), np.arange(self.q)]).sum())
        if math.isfinite(pdev):
            self._last = (s, np.asarray(beta, dtype=float).copy())
        if joint:
            self._start0 = (U.copy(), beta.copy())
            self.beta_hat = beta.copy()
        else:
            self.U = U.copy()
        self.evaluations += 1
        objective = pdev + ld if math.isfinite(pdev) else math.inf
        return {"theta": theta, "lam": lam, "U": U, "beta": beta, "L": L, "sums": s, "pdev": pdev, "logdet": ld,
                "objective": objective, "iterations": it, "joint": joint}

    def laplace(self, theta: np.ndarray, beta: np.ndarray) -> float:
        """-2 log L by the Laplace approximation at (theta, beta), the modes by PIRLS."""
        return self._pirls(theta, np.asarray(beta, dtype=float))["objective"]

    def nagq0(self, theta: np.ndarray) -> float:
        """The Laplace formula with beta estimated jointly with the modes (lme4's nAGQ = 0); sets ``beta_hat``."""
        return self._pirls(theta, None)["objective"]

    def __call__(self, theta: np.ndarray, beta: np.ndarray | None = None) -> float:
        """The Laplace objective (nagq = 1)."""
        return self.laplace(theta, beta)

    def laplace_beta_gradient(self, theta: np.ndarray, beta: np.ndarray,
                              hessian: bool = False) -> tuple[float, np.ndarray, np.ndarray | None]:
        """The Laplace objective, its exact gradient in beta and (optionally) beta's Fisher information at fixed
        theta, as :meth:`lmmflow.core.pirls.GlmmObjective.laplace_beta_gradient`, from the last PIRLS pass.

        With ``v_i = Lambda' z_i``, ``M_j`` the level's block of ``Lambda'Z'WZ Lambda + I``, the leverages
        ``h_i = v_i' M_j^-1 v_i`` and ``c_i = h_i dW_i/deta``: ``g = X'(d dev/deta + c) - sum_j (X'WV)_j M_j^-1
        (V'c)_j``, where ``X'c`` and ``(V'c)_j`` come from the per-level sums of ``dW z_a z_b [x | z]`` contracted
        with ``K_j = Lambda M_j^-1 Lambda'`` (so the pass need not know ``M_j``).
        """
        if not self.has_beta_gradient:
            raise ValueError("the analytic beta gradient needs a canonical link (logit, log)")
        beta = np.asarray(beta, dtype=float)
        st = self._pirls(theta, beta, grad=2 if hessian else 1)
        if not math.isfinite(st["objective"]):
            return st["objective"], np.full(self.p, np.nan), None
        s, lam, L = st["sums"], st["lam"], st["L"]
        Minv = _inverse(L)
        K = _congruence(lam.T, Minv)  # Lambda M^-1 Lambda' per level
        kw = np.stack([K[a, b] * (1.0 if a == b else 2.0) for a, b in s.pairs])   # pairs x levels
        xc = np.einsum("kn,kpn->p", kw, s.gx)                                      # X'c
        rv = lam.T @ np.einsum("kn,kcn->cn", kw, s.gz)                             # (V'c)_j: q x levels
        xv = _tr(lam, s.xz)                                                        # (X'WV)_j: q x p x levels
        y = np.einsum("abn,bn->an", Minv, rv)
        g = s.xd + xc - _rows(xv) @ y.reshape(-1)
        H = None
        if hessian:
            R2 = _rows(_forward(L, xv))
            H = 2.0 * (s.xx - R2 @ R2.T)
        return st["objective"], g, H

    def solve(self, theta: np.ndarray, beta: np.ndarray | None = None) -> PirlsSolution:
        """PIRLS at (theta, beta) (None: beta jointly) with the level-sized parts of the solution."""
        st = self._pirls(theta, None if beta is None else np.asarray(beta, dtype=float))
        lam, L = st["lam"], st["L"]
        U = st["U"][self.perm]  # in the levels' order
        cond = np.ascontiguousarray(_congruence(lam.T, _inverse(L)).transpose(2, 0, 1))[self.perm]
        RX = None
        if st["joint"]:
            R2 = _rows(_forward(L, _tr(lam, st["sums"].xz)))
            RX = np.linalg.cholesky(st["sums"].xx - R2 @ R2.T).T
        empty = np.zeros(0)
        return PirlsSolution(theta=st["theta"].copy(), beta=np.asarray(st["beta"], dtype=float).copy(),
                             u=[U.copy()], b=[U @ lam.T], eta=empty, mu=empty, weights=empty, lambdas=[lam],
                             cond_cov=[cond], cond_sd=[np.sqrt(np.diagonal(cond, axis1=1, axis2=2))],
                             objective=float(st["objective"]), pwrss=float(st["pdev"]), logdet=st["logdet"],
                             RX=RX, iterations=st["iterations"])


# ---- the levels and encoding passes ----------------------------------------------------------------------
def glmm_partition_levels(pdf: pd.DataFrame, plan: EncodePlan, family: str, nsample: int = 5) -> dict[str, Any]:
    """The levels pass for a GLMM (as :func:`lmmflow.scale.dask_design.partition_levels`, without reading the
    response as a Gaussian one)."""
    out: dict[str, Any] = {"n_input": len(pdf), "n": 0, "uniques": {}, "combos": {}, "sample": None,
                           "wy": 0.0, "w": 0.0}
    frame = glmm_partition_frame(pdf, plan, family)
    if frame is None:
        return out
    data = frame.data
    out["n"] = len(data)
    for col in plan.gather:
        s = data[col]
        out["uniques"][col] = (s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s).unique()
    for cols in plan.interactions:
        out["combos"][cols] = data[list(cols)].drop_duplicates().reset_index(drop=True)
    sample = data.head(nsample).copy()
    for col in sample.columns:  # the model frame drops unused categories; the prototype needs them all
        if col in pdf.columns and isinstance(pdf[col].dtype, pd.CategoricalDtype):
            sample[col] = sample[col].cat.set_categories(pdf[col].cat.categories)
    out["sample"] = sample
    return out


def _categorical_response(parsed: Any, ddf: Any, family: Family) -> str | None:
    """The response column when it is text or categorical (binomial two-level factor), else None."""
    resp = parsed.response
    plain = resp[1:-1] if resp.startswith("`") and resp.endswith("`") else resp
    if family.name != "binomial" or cbind_parts(resp) is not None or plain not in ddf.columns:
        return None
    dtype = ddf.dtypes[plain]
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return None
    return plain


def glmm_design(formula: str, data: Any, family: Family, weights: str | None = None,
                offset: str | None = None, client: Any = None) -> tuple[DaskDesign, tuple[str, ...] | None]:
    """The levels pass for a GLMM: the :class:`DaskDesign`, and a categorical response's global levels."""
    import dask

    require_dask()
    parsed = parse_formula(formula)
    if parsed.offsets or "." in parsed.fixed.replace(" ", "").split("+"):
        raise FormulaError(f"offset(...) terms and '.' in {formula!r} are not supported for Dask data yet: pass the "
                           "offset as a column with offset='name' and name the predictors")
    if not parsed.random:
        raise DataError(f"formula {formula!r} has no random-effects term such as (1 | group)")
    ddf = as_dask_frame(data)
    plan = build_plan(parsed, ddf, weights, offset)
    ycol = _categorical_response(parsed, ddf, family)
    if ycol is not None:
        plan = replace(plan, gather=tuple(dict.fromkeys((*plan.gather, ycol))))
    ddf = ddf[plan.read_columns]
    enc = share(plan, client)
    summary = LevelSummary()
    tasks = [dask.delayed(glmm_partition_levels, pure=True)(part, enc, family.name) for part in ddf.to_delayed()]
    stream_results(tasks, summary.add, client=client)
    design = finish_design(plan, summary, ddf, allow_n=True)  # lme4's glFormula
    if len(design.terms) != 1:
        raise NotImplementedError(
            f"GLMM fits from Dask data support one grouping factor (e.g. (1 + x | g)); {formula!r} has "
            f"{len(design.terms)} random-effects terms: fit an in-memory frame (ddf.compute()) for crossed or "
            "nested terms")
    levels = None
    if ycol is not None:
        parts = summary.uniques.get(ycol, [])
        allv = pd.Index(np.concatenate([np.asarray(p, dtype=object) for p in parts])).unique() if parts else []
        dtype = ddf.dtypes[ycol]
        if isinstance(dtype, pd.CategoricalDtype) and "__UNKNOWN_CATEGORIES__" not in list(
                dtype.categories.astype(str)):
            labels = [str(c) for c in dtype.categories]
        else:
            labels = sorted(str(v) for v in allv)
        if len(labels) != 2:
            raise DataError(f"the response {ycol!r} has {len(labels)} level(s) {labels[:6]}: a binomial response "
                            "needs exactly two (the second in sorted order is a success, as R's factor); recode it "
                            "to 0/1 or to two levels")
        levels = tuple(labels)
    return design, levels


def _numbering(parts: list[np.ndarray], nlevels: int) -> np.ndarray:
    """The fit's internal level numbering (global code -> internal code): levels by first appearance over the
    partitions, so that each partition's levels are a run of codes after the few it shares with the ones
    before it (its sums are then added to a slice of the driver's arrays, not gathered and scattered)."""
    perm = np.full(nlevels, -1, dtype=np.intp)
    nxt = 0
    for u in parts:
        new = u[perm[u] < 0]
        perm[new] = np.arange(nxt, nxt + len(new))
        nxt += len(new)
    unseen = perm < 0
    perm[unseen] = np.arange(nxt, nxt + int(unseen.sum()))
    return perm


def _encode(design: DaskDesign, family: Family, levels: tuple[str, ...] | None, client: Any
            ) -> tuple[list[Any], np.ndarray, int, np.ndarray]:
    """Encode every partition once (persisted), find the aliased fixed-effect columns and number the levels
    for the passes; returns the chunks, the kept columns, the rows used and the numbering (:func:`_numbering`)."""
    import dask

    from ..core.crossprod import r_update

    base = design.encoder(all_columns=True)
    enc = share(GlmmEncoder(plan=base.plan, fixed_spec=base.fixed_spec, kept=base.kept, term_specs=base.term_specs,
                            coders=base.coders, family=family.name), client)
    chunks = [dask.delayed(encode_partition, pure=True)(part, enc, family, levels)
              for part in design.source.to_delayed()]
    client = current_client(client)
    nlevels = design.terms[0].nlevels if len(design.terms) == 1 else 0
    if client is not None:
        futures = client.compute(chunks)
        rs = [f.result() for f in client.map(chunk_r, futures)]
        perm = _numbering([part["uniq"] for part in rs], nlevels)
        held: list[Any] = client.map(relabel_chunk, futures, [perm] * len(futures))
    else:
        held = list(dask.compute(*chunks, scheduler="threads"))
        rs = [chunk_r(c) for c in held]
        perm = _numbering([part["uniq"] for part in rs], nlevels)
        held = [relabel_chunk(c, perm) for c in held]
    pfull = len(design.fixed_names_full)
    R, n = np.zeros((0, pfull)), 0
    for part in rs:
        n += part["n"]
        if part["r"] is not None:
            R = r_update(R, part["r"])
    kept = nonaliased_columns(R) if pfull else np.arange(0)
    return held, np.asarray(kept), n, perm


def glmer_dask(formula: str, data: Any, family: Any = "binomial", link: str | None = None, nagq: int = 1,
               weights: str | None = None, offset: str | None = None, client: Any = None,
               quiet: bool = False, progress: bool = False) -> DaskGlmerResult:
    """Fit a GLMM (Laplace approximation, as lme4's ``glmer``) on a Dask DataFrame or Parquet files.

    Every PIRLS iteration is one pass over the partitions; the driver holds arrays sized by the levels of the
    grouping factor and the numbers of effects, never per-row arrays.  ``lf.glmer`` calls this for a Dask
    frame or a Parquet path.

    Parameters
    ----------
    formula : str
        An lme4 formula with one grouping factor, e.g. ``y ~ x + (1 + x | g)``; the response as for
        :func:`lmmflow.glmer` (0/1, a two-level factor, ``cbind(successes, failures)``, a proportion with
        ``weights=`` the trials, counts).
    data : dask.dataframe.DataFrame, str or os.PathLike
        A Dask frame, or a Parquet directory, file or glob.
    family : str or family object
        ``"binomial"`` or ``"poisson"``.
    link : str, optional
        Binomial: ``"logit"`` (default), ``"probit"``, ``"cloglog"``; Poisson: ``"log"``.
    nagq : int
        1 (the Laplace approximation); other values are not supported from Dask data.
    weights, offset : str, optional
        Column names: prior weights (binomial proportions: the trials) and an offset on the link scale.
    client : distributed.Client, optional
        Default: the running distributed client if any, else Dask's threaded scheduler.
    quiet : bool
        Do not warn about dropped rows or columns.
    progress : bool
        Show a progress bar of the passes over the partitions.

    Returns
    -------
    DaskGlmerResult

    Raises
    ------
    NotImplementedError
        More than one grouping factor, or ``nagq != 1``.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import lmmflow as lf
    >>> from lmmflow.scale.dask_glmm import glmer_dask
    >>> cbpp = dd.from_pandas(lf.load_dataset("cbpp"), npartitions=3)
    >>> g = glmer_dask("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    >>> round(g.objective, 3), g.theta.round(4).tolist()
    (184.053, [0.6423])
    """
    from tqdm.auto import tqdm

    from ..optim.glmm import fit_glmm
    from ..optim.threads import blas_threads

    if nagq != 1:
        raise NotImplementedError(f"nagq={nagq}: GLMM fits from Dask data use the Laplace approximation (nagq=1); "
                                  "fit an in-memory frame for adaptive quadrature or nagq=0")
    obj, design, n, times = _build(formula, data, family, link, weights, offset, client)
    term = design.terms[0]
    names, dropped = list(design.fixed.names), list(design.fixed.dropped)
    # trial points far from the optimum overflow exp() or give a non-finite deviance: the optimizer is told
    # (inf) and steps back, so numpy's warnings about them are noise
    bar_args = {"desc": "PIRLS passes", "unit": "pass", "disable": not progress}
    with np.errstate(all="ignore"), blas_threads(1), tqdm(**bar_args) as bar:
        # one BLAS thread: the per-partition products are small, and threads waiting on each other cost far
        # more than they gain (worst on a loaded machine)
        obj.passes.progress = bar
        fit = fit_glmm(obj, nagq=1)  # lmmflow.glmer's driver: the same two stages, Newton polish and Hessian
    result = DaskGlmerResult(
        formula=formula, family=obj.family.name, link=str(obj.family.link), nobs=n, objective=float(fit.objective),
        theta_=fit.theta.copy(), fixef_=pd.Series(fit.beta, index=names, name="estimate"),
        vcov_=pd.DataFrame(fit.vcov, index=names, columns=names),
        ranef_=pd.DataFrame(fit.solution.b[0], index=pd.Index(term.levels, name=term.group),
                            columns=list(term.cnames)),
        group=term.group, cnames=list(term.cnames), dropped=dropped,
        timings={"levels_pass": times[1] - times[0], "encode_pass": times[2] - times[1],
                 **{f"stage{i + 1}": st.elapsed for i, st in enumerate(fit.stages)}},
        passes=obj.passes.count + 2, evaluations=obj.evaluations, stages=fit.stages, source=design.source,
        encoder=_result_encoder(design, obj), family_object=obj.family, response_levels=obj.response_levels,
        offset_column=offset)
    if not quiet:
        from ..fitting import warn_fit

        warn_fit(dropped, design.frame.n_dropped)
    return result


def _family(family: Any, link: str | None) -> Family:
    from ..design.response import family_name

    name = family_name(family)
    link = link if link is not None else getattr(family, "link", None)
    link = link if link is not None else ("logit" if name == "binomial" else "log")
    try:
        return Family(name, link)
    except ValueError:
        raise ValueError(f"link={link!r} is not available for the {name} family: use one of "
                         f"{['logit', 'probit', 'cloglog'] if name == 'binomial' else ['log']}") from None


def _build(formula: str, data: Any, family: Any, link: str | None, weights: str | None, offset: str | None,
           client: Any) -> tuple[DaskGlmmObjective, DaskDesign, int, tuple[float, float, float]]:
    """The levels and encoding passes, then the objective over the encoded partitions."""
    fam = _family(family, link)
    t0 = time.perf_counter()
    design, levels = glmm_design(formula, data, fam, weights=weights, offset=offset, client=client)
    t1 = time.perf_counter()
    chunks, kept, n, perm = _encode(design, fam, levels, client)
    t2 = time.perf_counter()
    names = [design.fixed_names_full[j] for j in kept]
    dropped = dropped_names(design.fixed_names_full, kept)
    design.fixed = FixedDesign(X=np.zeros((0, len(kept))), names=names, spec=design.fixed.spec,
                               kept=kept, dropped=dropped)
    term = design.terms[0]
    obj = DaskGlmmObjective(_Passes(chunks, current_client(client)), fam, kept, term.nlevels, term.p, len(kept))
    obj.response_levels = levels
    obj.perm = perm
    return obj, design, n, (t0, t1, t2)


def _result_encoder(design: DaskDesign, obj: DaskGlmmObjective) -> GlmmEncoder:
    """The partition encoder of the fitted columns (aliased ones dropped) that the result's per-row values use."""
    base = design.encoder()
    return GlmmEncoder(plan=base.plan, fixed_spec=base.fixed_spec, kept=np.asarray(obj.kept),
                       term_specs=base.term_specs, coders=base.coders, family=obj.family.name)


def dask_glmm_objective(formula: str, data: Any, family: Any = "binomial", link: str | None = None,
                        weights: str | None = None, offset: str | None = None,
                        client: Any = None) -> DaskGlmmObjective:
    """The Laplace objective of a GLMM over Dask data, for :func:`lmmflow.optim.glmm.fit_glmm` (what
    :func:`glmer_dask` fits; arguments as there).

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import lmmflow as lf
    >>> obj = dask_glmm_objective("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                           dd.from_pandas(lf.load_dataset("cbpp"), npartitions=2))
    >>> obj.n_theta, obj.n_beta
    (1, 4)
    """
    return _build(formula, data, family, link, weights, offset, client)[0]
