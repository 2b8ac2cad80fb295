"""The partition side of the Dask GLMM fit (:mod:`lmmflow.scale.dask_glmm`): a partition encoded once
(:class:`GlmmChunk`), and its share of a PIRLS iteration (:func:`chunk_pass`) and of the exact beta gradient
(:func:`chunk_gradient`).  The row quantities come from :func:`lmmflow.core.pirls.working_values`, as in memory.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..core.family import Family
from ..core.pirls import RowConstants, row_constants, working_values
from ..design.frame import build_model_frame
from ..design.response import glm_response
from .dask_design import EncodePlan, PartitionEncoder, normalize_text

__all__ = ["GlmmChunk", "GlmmEncoder", "chunk_gradient", "chunk_pass", "encode_partition"]


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
    saturated : float
        -2 log-likelihood of the saturated model over these rows (the constant of the Laplace formula).
    rows : RowConstants or None
        The response's constants for the PIRLS row step (:func:`lmmflow.core.pirls.row_constants`).
    """

    X: np.ndarray
    Z: np.ndarray
    uniq: np.ndarray
    local: np.ndarray
    y: np.ndarray
    w: np.ndarray
    offset: np.ndarray | None
    saturated: float = 0.0
    rows: RowConstants | None = None
    zcache: Any = None

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


def encode_partition(pdf: pd.DataFrame, enc: Any, family: Family, levels: tuple[str, ...] | None) -> Any:
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
    trials = getattr(resp, "trials", None)
    return GlmmChunk(X=X, Z=Z, uniq=uniq, local=local.ravel(), y=resp.y, w=w,
                     offset=None if frame.offset is None else np.asarray(frame.offset, dtype=float),
                     saturated=family.saturated(resp.y, w, trials), rows=row_constants(family, resp.y, w))


def chunk_r(chunk: GlmmChunk | None) -> dict[str, Any]:
    """Rows and the R factor of X of an encoded partition (for the aliasing check)."""
    if chunk is None:
        return {"n": 0, "r": None, "ymax": 0.0}
    return {"n": chunk.n, "r": np.linalg.qr(chunk.X, mode="r") if chunk.X.shape[1] else None}


def _columns(X: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """X's kept columns (X itself when none is dropped: no copy per pass)."""
    return X if len(kept) == X.shape[1] and np.array_equal(kept, np.arange(X.shape[1])) else X[:, kept]


def _zcols(chunk: GlmmChunk) -> tuple[list[np.ndarray], dict[tuple[int, int], np.ndarray]]:
    """Contiguous columns of Z and their products Z_a Z_b (a >= b), made once per partition."""
    if chunk.zcache is None:
        q = chunk.Z.shape[1]
        zc = [np.ascontiguousarray(chunk.Z[:, a]) for a in range(q)]
        chunk.zcache = (zc, {(a, b): zc[a] * zc[b] for a in range(q) for b in range(a + 1)})
    return chunk.zcache


def _re_eta(chunk: GlmmChunk, lam: np.ndarray, U: np.ndarray) -> np.ndarray:
    """z_i' Lambda u_j per row, by per-level gathers (no n x q temporary)."""
    zc, _ = _zcols(chunk)
    B = U[chunk.uniq] @ lam.T
    e = zc[0] * np.take(np.ascontiguousarray(B[:, 0]), chunk.local)
    for a in range(1, len(zc)):
        e += zc[a] * np.take(np.ascontiguousarray(B[:, a]), chunk.local)
    return e


def chunk_pass(chunk: GlmmChunk | None, family: Family, kept: np.ndarray, beta: np.ndarray | None,
               lam: np.ndarray, U: np.ndarray | None, joint: bool) -> dict[str, Any] | None:
    """One partition's share of a PIRLS iteration at the current effects.

    Parameters
    ----------
    chunk : GlmmChunk or None
    family : Family
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
    X = _columns(chunk.X, kept)
    off = chunk.offset if chunk.offset is not None else 0.0
    if beta is None:
        eta = family.linkfun(family.initialize(chunk.y, chunk.w))
        zb = np.zeros(chunk.n)
        xb = eta - off
    else:
        xb = X @ beta
        zb = _re_eta(chunk, lam, U)
        eta = off + xb + zb
    mu, me, wt, devsum, canon = working_values(family, eta, chunk.rows)
    # W times the working response minus offset (and minus X beta); canonical links: W (y - mu) / mu_eta = w (y - mu)
    wr = wt * (xb + zb if joint else zb)
    wr += chunk.w * (chunk.y - mu) if canon else wt * (chunk.y - mu) / me
    aic = chunk.saturated + devsum if beta is not None else 0.0
    out: dict[str, Any] = {"aic": aic, "uniq": chunk.uniq}
    nl, q = len(chunk.uniq), chunk.Z.shape[1]
    zc, zz = _zcols(chunk)
    A = np.empty((nl, q, q))
    for a in range(q):
        for b in range(a + 1):
            A[:, a, b] = np.bincount(chunk.local, wt * zz[a, b], minlength=nl)
            A[:, b, a] = A[:, a, b]
    out["A"] = A
    out["c"] = np.stack([np.bincount(chunk.local, zc[a] * wr, minlength=nl) for a in range(q)], axis=1)
    if joint:
        wx = X * wt[:, None]
        out["xx"] = X.T @ wx
        out["xr"] = X.T @ wr
        p = X.shape[1]
        xz = np.empty((nl, p, q))
        for a in range(q):
            for j in range(p):
                xz[:, j, a] = np.bincount(chunk.local, wx[:, j] * zc[a], minlength=nl)
        out["xz"] = xz
    return out


def chunk_gradient(chunk: GlmmChunk | None, family: Family, kept: np.ndarray, beta: np.ndarray, lam: np.ndarray,
                   U: np.ndarray, Minv: np.ndarray, hessian: bool) -> dict[str, Any] | None:
    """One partition's share of the Laplace objective's exact beta gradient at the modes (canonical links).

    With ``v_i = Lambda' z_i``, the leverages ``h_i = v_i' M_j^-1 v_i`` (``M_j`` the level's block of
    ``Lambda'Z'WZ Lambda + I``, ``Minv`` its inverse, global numbering) and ``c_i = h_i dW_i/deta``, returns
    ``a = X'(d dev/deta + c)``, per level ``r = sum v_i c_i`` and ``xv = X'W V``, and with ``hessian`` ``xx = X'WX``;
    the driver forms ``g = a - sum_j xv_j M_j^-1 r_j`` (as :meth:`lmmflow.core.pirls.GlmmObjective.
    laplace_beta_gradient`).
    """
    if chunk is None:
        return None
    X = _columns(chunk.X, kept)
    off = chunk.offset if chunk.offset is not None else 0.0
    V = chunk.Z @ lam
    eta = off + X @ beta + _re_eta(chunk, lam, U)
    mu, me, W, _, _ = working_values(family, eta, chunk.rows)
    q = V.shape[1]
    h = np.zeros(chunk.n)
    Mj = Minv[chunk.uniq]
    for a in range(q):  # h_i = v_i' M_j^-1 v_i by per-level gathers
        for b in range(a + 1):
            h += (V[:, a] * V[:, b]) * np.take(np.ascontiguousarray(Mj[:, a, b]) * (1.0 if a == b else 2.0),
                                               chunk.local)
    dW = W * (1.0 - 2.0 * mu) if family.name == "binomial" else W
    c = h * dW
    ddev = -2.0 * chunk.w * (chunk.y - mu) * me / family.variance(mu)
    nl, p = len(chunk.uniq), X.shape[1]
    wx = X * W[:, None]
    xv = np.zeros((nl, p, q))
    for a in range(q):
        for j in range(p):
            xv[:, j, a] = np.bincount(chunk.local, wx[:, j] * V[:, a], minlength=nl)
    out = {"uniq": chunk.uniq, "a": X.T @ (ddev + c), "xv": xv,
           "r": np.stack([np.bincount(chunk.local, V[:, a] * c, minlength=nl) for a in range(q)], axis=1)}
    if hessian:
        out["xx"] = X.T @ wx
    return out
