"""The partition side of the Dask GLMM fit (:mod:`lmmflow.scale.dask_glmm`): a partition encoded once
(:class:`GlmmChunk`, rows in level order), and its share of a PIRLS iteration and, in the same pass, of the
exact beta gradient (:func:`chunk_pass`).  The row quantities come from :func:`lmmflow.core.pirls.working_values`,
as in memory; the per-level sums are sparse products with the partition's level indicator (one per weight
vector, all columns at once).
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

__all__ = ["GlmmChunk", "GlmmEncoder", "chunk_pass", "encode_partition", "pairs"]


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
    zcache: Any = None  # what the passes reuse (_Prepared), made on the first pass
    family: Family | None = None

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
    local = local.ravel()
    w = resp.weights if resp.weights is not None else np.ones(len(resp.y))
    w = np.asarray(w, dtype=float)
    y = np.asarray(resp.y, dtype=float)
    trials = getattr(resp, "trials", None)
    saturated = family.saturated(y, w, trials)
    # rows in level order (stable: a level's rows keep their order), so that a per-level sum is a sparse product
    order = np.argsort(local, kind="stable")
    X, Z, y, w, local = (np.ascontiguousarray(a[order]) for a in (X, Z, y, w, local))
    offset = None if frame.offset is None else np.asarray(frame.offset, dtype=float)[order]
    return GlmmChunk(X=X, Z=Z, uniq=uniq, local=local, y=y, w=w, offset=offset, saturated=saturated,
                     rows=row_constants(family, y, w), family=family)


def chunk_r(chunk: GlmmChunk | None) -> dict[str, Any]:
    """Rows, the R factor of X (for the aliasing check) and the levels of an encoded partition."""
    if chunk is None:
        return {"n": 0, "r": None, "uniq": np.zeros(0, dtype=np.intp)}
    return {"n": chunk.n, "r": np.linalg.qr(chunk.X, mode="r") if chunk.X.shape[1] else None, "uniq": chunk.uniq}


def relabel_chunk(chunk: GlmmChunk | None, perm: np.ndarray) -> GlmmChunk | None:
    """The chunk with its levels numbered by ``perm`` (global code -> the fit's internal code) and its rows
    re-sorted into the new level order."""
    if chunk is None:
        return None
    iu = perm[chunk.uniq]
    by_new = np.argsort(iu, kind="stable")          # new position -> old position
    rank = np.empty_like(by_new)
    rank[by_new] = np.arange(len(by_new))
    local = rank[chunk.local]
    order = np.argsort(local, kind="stable")
    X, Z, y, w, local = (np.ascontiguousarray(a[order]) for a in (chunk.X, chunk.Z, chunk.y, chunk.w, local))
    offset = None if chunk.offset is None else chunk.offset[order]
    return GlmmChunk(X=X, Z=Z, uniq=iu[by_new], local=local, y=y, w=w, offset=offset, saturated=chunk.saturated,
                     rows=row_constants(chunk.family, y, w), family=chunk.family)


def placement(uniq: np.ndarray) -> tuple[np.ndarray, int, slice]:
    """Where a partition's per-level sums go: ``uniq`` (sorted codes) as its leading codes and the run of
    consecutive codes that ends it (with the fit's numbering, a partition's levels are a run, after the few
    it shares with the partitions before it)."""
    if not len(uniq):
        return uniq, 0, slice(0, 0)
    d = uniq - np.arange(len(uniq))                  # non-decreasing; constant over the final run
    s = int(np.searchsorted(d, d[-1]))
    return uniq[:s], s, slice(int(uniq[s]), int(uniq[-1]) + 1)


def pairs(q: int) -> list[tuple[int, int]]:
    """The (a, b), a >= b, of a symmetric q x q matrix, in the order the packed per-level sums use."""
    return [(a, b) for a in range(q) for b in range(a + 1)]


@dataclass
class _Prepared:
    """What every pass over a partition reads, made once per partition (and per set of kept columns)."""

    kept: tuple[int, ...]
    X: np.ndarray                    # kept fixed-effect columns, C order
    XZ: np.ndarray                   # [X | Z], C order (the gradient's sums read both at once)
    Z: np.ndarray                    # C order
    zc: list[np.ndarray]             # contiguous columns of Z
    zz: np.ndarray                   # n x q(q+1)/2: z_a z_b per pair, C order
    S: Any                           # the level indicator (levels x rows, CSR), its values set per sum
    where: tuple[np.ndarray, int, slice]  # placement(uniq)
    xb_key: bytes = b""
    xb: np.ndarray | None = None


def _prepared(chunk: GlmmChunk, kept: np.ndarray) -> _Prepared:
    """The chunk's :class:`_Prepared` for these kept columns (made on the first pass, then reused)."""
    import scipy.sparse as sp

    key = tuple(int(k) for k in kept)
    prep = chunk.zcache
    if prep is not None and prep.kept == key:
        return prep
    X = np.ascontiguousarray(chunk.X if len(key) == chunk.X.shape[1] and key == tuple(range(len(key)))
                             else chunk.X[:, list(key)], dtype=float)
    Z = np.ascontiguousarray(chunk.Z, dtype=float)
    q = Z.shape[1]
    zc = [np.ascontiguousarray(Z[:, a]) for a in range(q)]
    zz = np.ascontiguousarray(np.column_stack([zc[a] * zc[b] for a, b in pairs(q)]))
    # rows are sorted by level (encode_partition): the CSR values are in row order, so a sum over each level
    # of w_i m_i (m a row of any n x k matrix) is one sparse product with w as the values
    nl, n = len(chunk.uniq), chunk.n
    if n > 1 and np.any(chunk.local[1:] < chunk.local[:-1]):
        raise ValueError("the partition's rows are not in level order (encode_partition sorts them)")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(chunk.local, minlength=nl))])
    S = sp.csr_matrix((np.ones(n), np.arange(n), indptr), shape=(nl, n))
    prep = _Prepared(kept=key, X=X, XZ=np.ascontiguousarray(np.hstack([X, Z])), Z=Z, zc=zc, zz=zz, S=S,
                     where=placement(chunk.uniq))
    chunk.zcache = prep
    return prep


def _level_sums(prep: _Prepared, w: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Per level of the partition, sum over its rows of w_i M_i (levels x M's columns)."""
    prep.S.data = w
    return prep.S @ M


def _re_eta(prep: _Prepared, chunk: GlmmChunk, lam: np.ndarray, U: np.ndarray) -> np.ndarray:
    """z_i' Lambda u_j per row, by per-level gathers (no n x q temporary)."""
    head, k, tail = prep.where
    Uc = U[tail] if k == 0 else np.concatenate([U[head], U[tail]])
    B = (Uc @ lam.T).T  # q x levels of the partition
    zc = prep.zc
    e = zc[0] * np.take(np.ascontiguousarray(B[0]), chunk.local)
    for a in range(1, len(zc)):
        e += zc[a] * np.take(np.ascontiguousarray(B[a]), chunk.local)
    return e


def chunk_pass(chunk: GlmmChunk | None, family: Family, kept: np.ndarray, beta: np.ndarray | None,
               lam: np.ndarray, U: np.ndarray | None, joint: bool, grad: int = 0) -> dict[str, Any] | None:
    """One partition's share of a PIRLS iteration at the current effects (and, with ``grad``, of the Laplace
    objective's exact beta gradient there).

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
    grad : int
        1: also return the per-level sums of the beta gradient (canonical links), which do not depend on the
        factor of this pass's weights: ``xz``, and with ``dW = dW/deta`` per pair (a, b) of effects
        ``sum dW z_a z_b x`` and ``sum dW z_a z_b z``, and the dense ``X' d dev/deta``; 2: also ``X'WX``.

    Returns
    -------
    dict or None
        ``aic`` (-2 log f(y | mu)), ``uniq``, ``lv`` (levels x columns: ``A`` = Z'WZ per level packed by
        :func:`pairs`, ``c`` = Z'W r, r the working response minus X beta and offset; with ``joint`` or
        ``grad`` then ``xz`` = Z'WX (q blocks of p); with ``grad`` then per pair ``[X | Z]' dW z_a z_b``);
        ``xx`` (joint, grad 2), ``xr`` (joint), ``xd`` (grad).
    """
    if chunk is None:
        return None
    prep = _prepared(chunk, kept)
    X = prep.X
    off = chunk.offset if chunk.offset is not None else 0.0
    if beta is None:
        eta = family.linkfun(family.initialize(chunk.y, chunk.w))
        zb = np.zeros(chunk.n)
        xb = eta - off
    else:
        if joint:
            xb = X @ beta
        else:  # beta is fixed over a Laplace evaluation's passes: X beta once
            key = np.asarray(beta, dtype=float).tobytes()
            if prep.xb is None or prep.xb_key != key:
                prep.xb, prep.xb_key = X @ beta, key
            xb = prep.xb
        zb = _re_eta(prep, chunk, lam, U)
        eta = off + xb + zb
    mu, me, wt, devsum, canon = working_values(family, eta, chunk.rows)
    # W times the working response minus offset (and minus X beta); canonical links: W (y - mu) / mu_eta = w (y - mu)
    wr = wt * (xb + zb if joint else zb)
    wr += chunk.w * (chunk.y - mu) if canon else wt * (chunk.y - mu) / me
    aic = chunk.saturated + devsum if beta is not None else 0.0
    parts = [_level_sums(prep, wt, prep.zz), _level_sums(prep, wr, prep.Z)]
    out: dict[str, Any] = {"aic": aic, "where": prep.where}
    if joint or grad:
        parts += [_level_sums(prep, wt * z, X) for z in prep.zc]
    if joint or grad > 1:
        out["xx"] = X.T @ (X * wt[:, None])
    if joint:
        out["xr"] = X.T @ wr
    if grad:
        dW = wt * (1.0 - 2.0 * mu) if family.name == "binomial" else wt
        zz = prep.zz
        parts += [_level_sums(prep, dW * zz[:, k], prep.XZ) for k in range(zz.shape[1])]
        out["xd"] = X.T @ (-2.0 * chunk.w * (chunk.y - mu) * me / family.variance(mu))
    out["lv"] = np.concatenate(parts, axis=1)
    return out
