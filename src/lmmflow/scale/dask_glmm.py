"""Fit a generalized linear mixed model on a Dask DataFrame or Parquet files: PIRLS one pass at a time.

The rows stay in the partitions.  A first pass gathers the levels (as for :func:`lmmflow.scale.dask_fit.lmer_dask`),
a second encodes every partition once (fixed-effect matrix, random-effects values, global level codes, response
and prior weights; kept with ``persist``) and reduces the R factor of X to find aliased columns.  After that,
every PIRLS iteration is one pass over the encoded partitions: each partition evaluates the linear predictor
at the current fixed and random effects, and returns its share of the penalized deviance and of the weighted
cross-products (``Z'WZ`` per level, ``Z'Wr``; with the fixed effects inside PIRLS also ``X'WX`` and ``X'WZ``),
for the levels it holds.  The driver adds them up and solves the per-level systems: it holds arrays sized by
the levels and the numbers of effects, never per-row arrays.

Supported: one grouping factor with any number of effects per level (``(1 | g)``, ``(1 + x | g)``); binomial
(logit, probit, cloglog) and Poisson (log) families; prior weights and an offset given as column names.

The criterion and the algorithm are lme4's ``glmer(nAGQ = 1)``: the Laplace approximation
``-2 sum log f(y | mu) + |u|^2 + log det(Lambda'Z'WZ Lambda + I)`` at the conditional modes, first minimized over
theta with beta inside PIRLS (lme4's ``nAGQ = 0`` stage, for the start), then over (theta, beta) with u alone
inside PIRLS.  PIRLS runs until the modes stop moving (relative change below 1e-10), so the criterion is a
smooth function of the parameters and the estimates are the optimum's, not a loose PIRLS's.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ..design.fixed import FixedDesign, dropped_names, nonaliased_columns
from ..design.frame import DataError, build_model_frame
from ..design.response import glm_response
from ..formula import FormulaError, cbind_parts, parse_formula
from ._dask import as_dask_frame, current_client, require_dask, share, stream_results
from ._glmm_family import GlmFamily
from .dask_design import (
    DaskDesign,
    EncodePlan,
    LevelSummary,
    PartitionEncoder,
    build_plan,
    finish_design,
    normalize_text,
)

__all__ = ["DaskGlmerResult", "GlmmChunk", "GlmmEncoder", "glmer_dask"]

_PIRLS_TOL = 1e-10
_PIRLS_MAXIT = 60


@dataclass
class GlmmChunk:
    """One partition, encoded once: the rows the PIRLS passes read.

    Attributes
    ----------
    X : numpy.ndarray
        Fixed-effect columns (all of them; aliased ones are dropped per pass by index).
    Z : numpy.ndarray
        Random-effects values, n x q.
    uniq : numpy.ndarray
        Global codes of the levels present.
    local : numpy.ndarray
        Each row's index into ``uniq``.
    y, w : numpy.ndarray
        Response (binomial: proportion) and prior weights (binomial: trials).
    offset : numpy.ndarray or None
    aic_const : float
        The part of ``-2 sum log f(y | mu)`` that does not depend on mu (binomial coefficients, ``lgamma``).
    """

    X: np.ndarray
    Z: np.ndarray
    uniq: np.ndarray
    local: np.ndarray
    y: np.ndarray
    w: np.ndarray
    offset: np.ndarray | None
    aic_const: float = 0.0
    a: np.ndarray | None = None
    b: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Rows."""
        return len(self.y)


# ---- worker side ------------------------------------------------------------------------------------------
def _response_frame(data: pd.DataFrame, response: str, levels: tuple[str, ...] | None) -> pd.DataFrame:
    """The model frame with a categorical response given its global levels (so one partition with one level
    still codes the second global level as a success)."""
    if levels is None:
        return data
    data = data.copy()
    data[response] = pd.Categorical(data[response].astype(str), categories=list(levels))
    return data


@dataclass(frozen=True)
class GlmmEncoder(PartitionEncoder):
    """A :class:`~lmmflow.scale.dask_design.PartitionEncoder` whose model frame reads the response as the
    family does (a two-level factor, ``cbind(...)``) rather than as a Gaussian one."""

    family: str = "binomial"

    def frame(self, pdf: pd.DataFrame) -> Any:
        """The partition's model frame, or None when it has no complete rows."""
        return glmm_partition_frame(pdf, self.plan, self.family)


def glmm_partition_frame(pdf: pd.DataFrame, plan: EncodePlan, family: str) -> Any:
    """A partition's model frame by the in-memory GLMM rules, or None when no row is complete."""
    if len(pdf) == 0:
        return None
    pdf = normalize_text(pdf[plan.read_columns])
    if not pdf.notna().all(axis=1).any():
        return None
    return build_model_frame(plan.parsed, pdf, weights=plan.weights, offset=plan.offset, family=family)


def encode_partition(pdf: pd.DataFrame, enc: Any, family: GlmFamily, levels: tuple[str, ...] | None) -> Any:
    """A partition as a :class:`GlmmChunk` (None when it has no complete rows)."""
    frame = enc.frame(pdf)
    if frame is None:
        return None
    response = enc.plan.parsed.response
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the driver warns once, from the levels pass
        resp = glm_response(response, _response_frame(frame.data, response, levels), family.name,
                            weights=frame.weights)
    X = enc.fixed(frame)
    (codes, Z), = enc.terms(frame)
    uniq, local = np.unique(codes, return_inverse=True)
    w = resp.weights if resp.weights is not None else np.ones(len(resp.y))
    w = np.asarray(w, dtype=float)
    return GlmmChunk(X=X, Z=Z, uniq=uniq, local=local.ravel(), y=resp.y, w=w,
                     offset=None if frame.offset is None else np.asarray(frame.offset, dtype=float),
                     aic_const=family.aic_constant(resp.y, w), a=family.counts(resp.y, w)[0],
                     b=family.counts(resp.y, w)[1])


def chunk_r(chunk: GlmmChunk | None) -> dict[str, Any]:
    """Rows and the R factor of X of an encoded partition (for the aliasing check)."""
    if chunk is None:
        return {"n": 0, "r": None, "ymax": 0.0}
    return {"n": chunk.n, "r": np.linalg.qr(chunk.X, mode="r") if chunk.X.shape[1] else None}


def chunk_pass(chunk: GlmmChunk | None, family: GlmFamily, kept: np.ndarray, beta: np.ndarray | None,
               lam: np.ndarray, U: np.ndarray | None, joint: bool) -> dict[str, Any] | None:
    """One partition's share of a PIRLS iteration at the current effects.

    Parameters
    ----------
    chunk : GlmmChunk or None
    family : GlmFamily
    kept : numpy.ndarray
        Non-aliased fixed-effect columns.
    beta : numpy.ndarray or None
        Fixed effects; None: start from R's ``mustart`` (the first iteration).
    lam : numpy.ndarray
        The q x q lower-triangular relative covariance factor.
    U : numpy.ndarray or None
        Spherical random effects, nlevels x q (global numbering).
    joint : bool
        Also return the fixed-effect blocks (beta inside PIRLS).

    Returns
    -------
    dict or None
        ``aic`` (-2 log f(y | mu)), ``uniq``, ``A`` (Z'WZ per level), ``c`` (Z'W r per level, r the working
        response minus X beta and offset); with ``joint``: ``xx``, ``xz`` (X'WZ per level), ``xr``.
    """
    if chunk is None:
        return None
    X = chunk.X[:, kept]
    off = chunk.offset if chunk.offset is not None else 0.0
    if beta is None:
        mu = family.mustart(chunk.y, chunk.w)
        eta = family.linkfun(mu)
        zb = np.zeros(chunk.n)
        xb = eta - off
    else:
        xb = X @ beta
        zb = np.einsum("ij,ij->i", chunk.Z, (U[chunk.uniq] @ lam.T)[chunk.local]) if U is not None else 0.0
        eta = off + xb + zb
    mu = family.linkinv(eta)
    me = family.mu_eta(eta)
    wt = chunk.w * me * me / family.variance(mu)
    resid = (chunk.y - mu) / me
    r = zb + resid if not joint else xb + zb + resid  # working response minus offset (and minus X beta)
    aic = family.aic_fast(mu, chunk.a, chunk.b, chunk.aic_const) if beta is not None else 0.0
    out: dict[str, Any] = {"aic": aic, "uniq": chunk.uniq}
    nl, q = len(chunk.uniq), chunk.Z.shape[1]
    wz = chunk.Z * wt[:, None]
    A = np.zeros((nl, q, q))
    for a in range(q):
        for b in range(a + 1):
            A[:, a, b] = np.bincount(chunk.local, wz[:, a] * chunk.Z[:, b], minlength=nl)
            A[:, b, a] = A[:, a, b]
    out["A"] = A
    out["c"] = np.stack([np.bincount(chunk.local, wz[:, a] * r, minlength=nl) for a in range(q)], axis=1)
    if joint:
        wx = X * wt[:, None]
        out["xx"] = X.T @ wx
        out["xr"] = wx.T @ r
        p = X.shape[1]
        xz = np.zeros((nl, p, q))
        for a in range(q):
            for j in range(p):
                xz[:, j, a] = np.bincount(chunk.local, wx[:, j] * chunk.Z[:, a], minlength=nl)
        out["xz"] = xz
    return out


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


@dataclass
class _Sums:
    nlevels: int
    q: int
    p: int
    joint: bool
    aic: float = 0.0
    A: np.ndarray = field(init=False)
    c: np.ndarray = field(init=False)
    xx: np.ndarray = field(init=False)
    xr: np.ndarray = field(init=False)
    xz: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.A = np.zeros((self.nlevels, self.q, self.q))
        self.c = np.zeros((self.nlevels, self.q))
        if self.joint:
            self.xx = np.zeros((self.p, self.p))
            self.xr = np.zeros(self.p)
            self.xz = np.zeros((self.nlevels, self.p, self.q))

    def add(self, part: dict[str, Any] | None) -> None:
        if part is None:
            return
        u = part["uniq"]
        self.aic += part["aic"]
        self.A[u] += part["A"]
        self.c[u] += part["c"]
        if self.joint:
            self.xx += part["xx"]
            self.xr += part["xr"]
            self.xz[u] += part["xz"]


def _chol(M: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack of small q x q matrices (loops over q, vectorized over the stack: much
    faster than LAPACK per 2 x 2 block)."""
    q = M.shape[1]
    L = np.zeros_like(M)
    for j in range(q):
        d = M[:, j, j] - (L[:, j, :j] ** 2).sum(axis=1)
        if np.any(d <= 0):
            raise np.linalg.LinAlgError("a block of Lambda'Z'WZ Lambda + I is not positive definite")
        L[:, j, j] = np.sqrt(d)
        for i in range(j + 1, q):
            L[:, i, j] = (M[:, i, j] - (L[:, i, :j] * L[:, j, :j]).sum(axis=1)) / L[:, j, j]
    return L


def _forward(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve L y = b for each level (b: levels x q)."""
    y = np.empty_like(b)
    for i in range(L.shape[1]):
        y[:, i] = (b[:, i] - (L[:, i, :i] * y[:, :i]).sum(axis=1)) / L[:, i, i]
    return y


def _backward(L: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Solve L' x = y for each level."""
    q = L.shape[1]
    x = np.empty_like(y)
    for i in range(q - 1, -1, -1):
        x[:, i] = (y[:, i] - (L[:, i + 1:, i] * x[:, i + 1:]).sum(axis=1)) / L[:, i, i]
    return x


def _lambda(theta: np.ndarray, q: int) -> np.ndarray:
    lam = np.zeros((q, q))
    lam[np.tril_indices(q)[1], np.tril_indices(q)[0]] = 0.0
    rows, cols = np.tril_indices(q)
    order = np.lexsort((rows, cols))  # lme4: column by column
    lam[rows[order], cols[order]] = theta
    return lam


class GlmmDeviance:
    """The Laplace deviance of a GLMM over encoded partitions, evaluated pass by pass.

    Parameters
    ----------
    passes : _Passes
    family : GlmFamily
    kept : numpy.ndarray
    nlevels, q, p : int
    """

    def __init__(self, passes: _Passes, family: GlmFamily, kept: np.ndarray, nlevels: int, q: int, p: int) -> None:
        self.passes, self.family, self.kept = passes, family, kept
        self.nlevels, self.q, self.p = nlevels, q, p
        self.U = np.zeros((nlevels, q))
        self.beta: np.ndarray | None = None
        self.beta_scale = np.ones(p)
        self.evaluations = 0

    def _sums(self, beta: np.ndarray | None, lam: np.ndarray, U: np.ndarray, joint: bool) -> _Sums:
        s = _Sums(self.nlevels, self.q, self.p, joint)
        self.passes.run(chunk_pass, s.add, self.family, self.kept, beta, lam, U, joint)
        return s

    @staticmethod
    def _factor(lam: np.ndarray, A: np.ndarray) -> np.ndarray:
        M = np.einsum("ba,jbc,cd->jad", lam, A, lam, optimize=True)
        M += np.eye(lam.shape[0])
        return _chol(M)

    def _step(self, s: _Sums, lam: np.ndarray, beta: np.ndarray | None, joint: bool
              ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The IRLS solution (new U and, with ``joint``, beta) from the sums; also the factor."""
        L = self._factor(lam, s.A)
        lc = s.c @ lam  # Lambda' c_j
        cu = _forward(L, lc)
        if not joint:
            return _backward(L, cu), beta, L
        lzx = np.einsum("ba,jpb->jap", lam, s.xz)  # Lambda' Z'WX per level: q x p
        rzx = np.stack([_forward(L, lzx[:, :, j]) for j in range(lzx.shape[2])], axis=2)
        xtx = s.xx - np.einsum("jap,jaq->pq", rzx, rzx)
        xtr = s.xr - np.einsum("jap,ja->p", rzx, cu)
        new_beta = np.linalg.solve(xtx, xtr)
        self.beta_scale = np.sqrt(np.abs(np.diag(np.linalg.inv(xtx))))  # standard errors of the nAGQ = 0 fit
        rhs = cu - np.einsum("jap,p->ja", rzx, new_beta)
        return _backward(L, rhs), new_beta, L

    def pirls(self, theta: np.ndarray, beta: np.ndarray | None, joint: bool) -> tuple[float, np.ndarray]:
        """Conditional modes at ``theta`` (and ``beta`` unless ``joint``); returns (Laplace deviance, beta)."""
        lam = _lambda(theta, self.q)
        U = self.U.copy()
        if joint and self.beta is None:  # R's mustart: the first IRLS step from the response alone
            s = self._sums(None, lam, U, True)
            U, beta, _ = self._step(s, lam, None, True)
        elif joint:
            beta = self.beta.copy()
        s = self._sums(beta, lam, U, joint)
        pdev = s.aic + float((U * U).sum())
        for _ in range(_PIRLS_MAXIT):
            U_new, beta_new, _ = self._step(s, lam, beta, joint)
            for _half in range(20):
                s_new = self._sums(beta_new, lam, U_new, joint)
                pdev_new = s_new.aic + float((U_new * U_new).sum())
                # accept a decrease, or a change at the level of rounding (at the mode a full step moves the
                # penalized deviance by less than its last digits, up or down)
                if math.isfinite(pdev_new) and pdev_new <= pdev + 1e-10 * abs(pdev):
                    break
                U_new = (U + U_new) / 2
                if joint:
                    beta_new = (beta + beta_new) / 2
            else:
                raise FloatingPointError("PIRLS step halving failed to reduce the penalized deviance")
            du = float(np.abs(U_new - U).max()) if U.size else 0.0
            db = float(np.abs(beta_new - beta).max()) if joint else 0.0
            U, beta, s, old, pdev = U_new, beta_new, s_new, pdev, pdev_new
            if abs(old - pdev) <= _PIRLS_TOL * abs(pdev) and max(du, db) < 1e-10:
                break
        L = self._factor(lam, s.A)
        ld = 2 * float(np.log(np.diagonal(L, axis1=1, axis2=2)).sum())
        self.U = U
        if joint:
            self.beta = beta
        self.evaluations += 1
        return pdev + ld, beta

    def laplace(self, theta: np.ndarray, beta: np.ndarray) -> float:
        """The Laplace deviance at (theta, beta), u at its conditional mode."""
        return self.pirls(np.asarray(theta, dtype=float), np.asarray(beta, dtype=float), joint=False)[0]


def _minimize(fn: Any, x0: np.ndarray, lower: np.ndarray, ftol: float, step: np.ndarray,
              maxeval: int = 100_000, xtol: float = 1e-10) -> tuple[np.ndarray, float, int]:
    import nlopt

    count = [0]
    best: list[Any] = [np.array(x0, dtype=float), math.inf]

    def f(x: np.ndarray, grad: np.ndarray) -> float:
        count[0] += 1
        try:
            v = fn(x)
        except (FloatingPointError, np.linalg.LinAlgError):
            v = math.inf
        if v < best[1]:
            best[0], best[1] = np.array(x, dtype=float), v
        return v if math.isfinite(v) else 1e300

    opt = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
    opt.set_lower_bounds(lower)
    opt.set_min_objective(f)
    opt.set_ftol_rel(ftol)
    opt.set_xtol_abs(xtol * step / step.max())
    opt.set_maxeval(maxeval)
    opt.set_initial_step(step)
    try:
        opt.optimize(np.maximum(x0, lower))
    except nlopt.RoundoffLimited:
        pass
    return best[0], float(best[1]), count[0]


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


def _categorical_response(parsed: Any, ddf: Any, family: GlmFamily) -> str | None:
    """The response column when it is text or categorical (binomial two-level factor), else None."""
    resp = parsed.response
    plain = resp[1:-1] if resp.startswith("`") and resp.endswith("`") else resp
    if family.name != "binomial" or cbind_parts(resp) is not None or plain not in ddf.columns:
        return None
    dtype = ddf.dtypes[plain]
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return None
    return plain


def glmm_design(formula: str, data: Any, family: GlmFamily, weights: str | None = None,
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
    design = finish_design(plan, summary, ddf)
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


def _encode(design: DaskDesign, family: GlmFamily, levels: tuple[str, ...] | None, client: Any
            ) -> tuple[list[Any], np.ndarray, int]:
    """Encode every partition once (persisted) and find the aliased fixed-effect columns; returns the chunks,
    the kept columns and the rows used."""
    import dask

    from ..core.crossprod import r_update

    base = design.encoder(all_columns=True)
    enc = share(GlmmEncoder(plan=base.plan, fixed_spec=base.fixed_spec, kept=base.kept, term_specs=base.term_specs,
                            coders=base.coders, family=family.name), client)
    chunks = [dask.delayed(encode_partition, pure=True)(part, enc, family, levels)
              for part in design.source.to_delayed()]
    client = current_client(client)
    if client is not None:
        futures = client.compute(chunks)
        rs = [f.result() for f in client.map(chunk_r, futures)]
        held: list[Any] = futures
    else:
        held = list(dask.compute(*chunks, scheduler="threads"))
        rs = [chunk_r(c) for c in held]
    pfull = len(design.fixed_names_full)
    R, n = np.zeros((0, pfull)), 0
    for part in rs:
        n += part["n"]
        if part["r"] is not None:
            R = r_update(R, part["r"])
    kept = nonaliased_columns(R) if pfull else np.arange(0)
    return held, np.asarray(kept), n


# ---- the result ------------------------------------------------------------------------------------------
@dataclass
class DaskGlmerResult:
    """A GLMM fitted from Dask data: the estimates, with the level-sized parts on the driver.

    Attributes are read-only views of copies: changing a returned array does not change the result.

    Attributes
    ----------
    formula : str
    family, link : str
    nobs : int
        Rows used.
    objective : float
        -2 log-likelihood (Laplace approximation).
    theta : numpy.ndarray
        lme4's order (the lower Cholesky factor of the relative covariance, column by column).
    fixef : pandas.Series
    vcov : pandas.DataFrame
        Fixed-effects block of ``2 H^-1``, H the finite-difference Hessian of the objective in (theta, beta).
    ranef : pandas.DataFrame
        Conditional modes ``b = Lambda u``, one row per level.
    timings : dict
        Seconds per stage (``levels_pass``, ``encode_pass``, ``stage1``, ``stage2``, ``hessian``).
    passes : int
        Passes over the partitions.
    """

    formula: str
    family: str
    link: str
    nobs: int
    objective: float
    theta_: np.ndarray
    fixef_: pd.Series
    vcov_: pd.DataFrame
    ranef_: pd.DataFrame
    group: str
    cnames: list[str]
    dropped: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    passes: int = 0
    evaluations: int = 0

    @property
    def loglik(self) -> float:
        """The Laplace log-likelihood, ``-objective / 2``."""
        return -self.objective / 2

    @property
    def df(self) -> int:
        """Parameters: covariance parameters plus fixed effects."""
        return len(self.theta_) + len(self.fixef_)

    @property
    def aic(self) -> float:
        """``objective + 2 df``."""
        return self.objective + 2 * self.df

    @property
    def bic(self) -> float:
        """``objective + df log(nobs)``."""
        return self.objective + self.df * math.log(self.nobs)

    @property
    def theta(self) -> np.ndarray:
        """Covariance parameters (a copy)."""
        return self.theta_.copy()

    @property
    def fixef(self) -> pd.Series:
        """Fixed effects (a copy)."""
        return self.fixef_.copy()

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the fixed effects (a copy)."""
        return self.vcov_.copy()

    @property
    def ranef(self) -> pd.DataFrame:
        """Conditional modes of the random effects, one row per level (a copy)."""
        return self.ranef_.copy()

    @property
    def varcorr(self) -> pd.DataFrame:
        """Variances and covariances: group, var1, var2, vcov, sdcor (as lme4's ``as.data.frame(VarCorr(m))``)."""
        lam = _lambda(self.theta_, len(self.cnames))
        cov = lam @ lam.T
        sd = np.sqrt(np.diag(cov))
        rows = [(self.group, c, None, cov[i, i], sd[i]) for i, c in enumerate(self.cnames)]
        for j in range(len(self.cnames)):
            for i in range(j + 1, len(self.cnames)):
                cor = cov[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else 0.0
                rows.append((self.group, self.cnames[j], self.cnames[i], cov[i, j], cor))
        return pd.DataFrame(rows, columns=["group", "var1", "var2", "vcov", "sdcor"])

    def coef_table(self) -> pd.DataFrame:
        """Wald z table: estimate, std_error, z_value, p_value per coefficient."""
        from scipy.stats import norm

        se = np.sqrt(np.diag(self.vcov_.to_numpy()))
        est = self.fixef_.to_numpy()
        z = est / se
        return pd.DataFrame({"estimate": est, "std_error": se, "z_value": z, "p_value": 2 * norm.sf(np.abs(z))},
                            index=self.fixef_.index)

    def __repr__(self) -> str:
        return (f"DaskGlmerResult({self.formula!r}, family={self.family}({self.link}), nobs={self.nobs}, "
                f"logLik={self.loglik:.4f})")


def _hessian(fn: Any, x: np.ndarray, lower: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Central-difference gradient and Hessian of ``fn`` with steps ``h``, at ``x`` or, where the stencil would
    cross a bound, at a centre moved inside it; returns (centre, gradient, Hessian)."""
    k = len(x)
    c = x.copy()
    c = np.where(c - h < lower, lower + h, c)
    f0 = fn(c)
    fp = np.array([fn(c + h[i] * np.eye(k)[i]) for i in range(k)])
    fm = np.array([fn(c - h[i] * np.eye(k)[i]) for i in range(k)])
    H = np.diag((fp - 2 * f0 + fm) / h ** 2)
    for i in range(k):
        for j in range(i):
            ei, ej = h[i] * np.eye(k)[i], h[j] * np.eye(k)[j]
            v = (fn(c + ei + ej) - fn(c + ei - ej) - fn(c - ei + ej) + fn(c - ei - ej)) / (4 * h[i] * h[j])
            H[i, j] = H[j, i] = v
    return c, (fp - fm) / (2 * h), H


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

    from ..design.response import family_name
    from ..optim.threads import blas_threads

    if nagq != 1:
        raise NotImplementedError(f"nagq={nagq}: GLMM fits from Dask data use the Laplace approximation (nagq=1); "
                                  "fit an in-memory frame for adaptive quadrature or nagq=0")
    fam = GlmFamily(family_name(family), link if link is not None else getattr(family, "link", None))
    t0 = time.perf_counter()
    design, levels = glmm_design(formula, data, fam, weights=weights, offset=offset, client=client)
    t1 = time.perf_counter()
    chunks, kept, n = _encode(design, fam, levels, client)
    t2 = time.perf_counter()
    names = [design.fixed_names_full[j] for j in kept]
    dropped = dropped_names(design.fixed_names_full, kept)
    design.fixed = FixedDesign(X=np.zeros((0, len(kept))), names=names, spec=design.fixed.spec,
                               kept=kept, dropped=dropped)
    term = design.terms[0]
    q, p = term.p, len(kept)
    dev = GlmmDeviance(_Passes(chunks, current_client(client)), fam, kept, term.nlevels, q, p)
    # trial points far from the optimum overflow exp() or give a non-finite deviance: the optimizer is told
    # (inf) and steps back, so numpy's warnings about them are noise
    bar_args = {"desc": "PIRLS passes", "unit": "pass", "disable": not progress}
    with np.errstate(all="ignore"), blas_threads(1), tqdm(**bar_args) as bar:
        # one BLAS thread: the per-partition products are small, and threads waiting on each other cost far
        # more than they gain (worst on a loaded machine)
        dev.passes.progress = bar
        return _fit(dev, design, fam, term, kept, names, dropped, n, formula, quiet, (t0, t1, t2))


def _fit(dev: GlmmDeviance, design: DaskDesign, fam: GlmFamily, term: Any, kept: np.ndarray, names: list[str],
         dropped: list[str], n: int, formula: str, quiet: bool, times: tuple[float, float, float]
         ) -> DaskGlmerResult:
    """The two optimization stages, the Hessian and the result (see :func:`glmer_dask`)."""
    from ..exceptions import DroppedRowsWarning, RankDeficiencyWarning

    t0, t1, t2 = times
    q, p = term.p, len(kept)
    rows, cols = np.tril_indices(q)
    on_diag = (rows == cols)[np.lexsort((rows, cols))]
    lower_t = np.where(on_diag, 0.0, -np.inf)
    theta0 = np.where(on_diag, 1.0, 0.0)
    # stage 1: theta with beta inside PIRLS (lme4's nAGQ = 0 fit), for the start of stage 2
    theta1, _, n1 = _minimize(lambda t: dev.pirls(t, None, joint=True)[0], theta0, lower_t, 1e-6,
                              np.full(len(theta0), 0.25))
    dev.pirls(theta1, None, joint=True)
    beta1 = dev.beta.copy()
    t3 = time.perf_counter()
    lower = np.concatenate([lower_t, np.full(p, -np.inf)])
    k = len(theta0)

    def f2(x: np.ndarray) -> float:
        return dev.laplace(x[:k], x[k:])

    # bobyqa's first steps: a quarter for theta (lme4's scale), a standard error of the stage-1 fit for beta
    step = np.concatenate([np.full(k, 0.25), np.maximum(dev.beta_scale, 1e-8)])
    # stopped by the trust region's radius, not by a small change of the objective (which comes early on a flat
    # optimum): the estimates then agree with lme4's tight optimum to ~1e-6
    x, fmin, n2 = _minimize(f2, np.concatenate([theta1, beta1]), lower, 0.0, step, xtol=1e-7)
    t4 = time.perf_counter()
    # steps of a tenth of a standard error for beta (the objective changes by ~0.01: well above its rounding,
    # small enough for the quadratic term to dominate), 0.01 for theta
    _, _, H = _hessian(f2, x, lower, np.concatenate([np.full(k, 1e-2), 0.1 * np.maximum(dev.beta_scale, 1e-8)]))
    t5 = time.perf_counter()
    objective = f2(x)  # the modes at the optimum
    try:
        vc = 2 * np.linalg.inv(H)[k:, k:]
    except np.linalg.LinAlgError:
        vc = np.full((p, p), np.nan)
    lam = _lambda(x[:k], q)
    b = dev.U @ lam.T
    result = DaskGlmerResult(
        formula=formula, family=fam.name, link=str(fam.link), nobs=n, objective=float(objective),
        theta_=x[:k].copy(), fixef_=pd.Series(x[k:], index=names, name="estimate"),
        vcov_=pd.DataFrame(vc, index=names, columns=names),
        ranef_=pd.DataFrame(b, index=pd.Index(term.levels, name=term.group), columns=list(term.cnames)),
        group=term.group, cnames=list(term.cnames), dropped=dropped,
        timings={"levels_pass": t1 - t0, "encode_pass": t2 - t1, "stage1": t3 - t2, "stage2": t4 - t3,
                 "hessian": t5 - t4},
        passes=dev.passes.count + 2, evaluations=n1 + n2)
    if not quiet:
        if dropped:
            warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} column(s): "
                          f"{dropped}", RankDeficiencyWarning, stacklevel=2)
        if design.frame.n_dropped:
            warnings.warn(f"{design.frame.n_dropped} row(s) with missing values in the model's columns were "
                          "dropped", DroppedRowsWarning, stacklevel=2)
    return result
