"""Fit a linear mixed model on a Dask DataFrame or on Parquet files: one pass for the levels, one for the
cross-products, then the usual optimizer on the driver.

Everything after the pass over the rows works on the cross-products of [Z X y] (see
:mod:`lmmflow.core.crossprod`), and those are sums over rows: each partition computes its share with the
global level codes, and the driver adds them up.  The driver holds arrays sized by the levels and the
number of effects (the first term's nlevels x p x p diagonal blocks, [X y]'Z, the sparse blocks between
terms), never per-row arrays; each partition returns its blocks only for the levels it contains, so the
reduction moves as little as the data allows.  Aliased fixed-effect columns are found from the R factor
of X, combined across partitions (a TSQR), with the same rule as in memory.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..control import LmerControl
from ..core import CrossProducts, ReBlock
from ..core.crossprod import r_update
from ..design.fixed import FixedDesign, dropped_names, nonaliased_columns
from ..formula import FormulaError, parse_formula
from ._dask import as_dask_frame, require_dask, share, stream_results
from .dask_design import DaskDesign, PartitionEncoder, build_plan, finish_design, partition_levels
from .dask_design import LevelSummary as _LevelSummary

__all__ = ["CrossAccumulator", "dask_cross_products", "lmer_dask", "partition_cross"]


def partition_cross(pdf: pd.DataFrame, enc: PartitionEncoder, masks: list[np.ndarray],
                    shift: np.ndarray | None = None) -> dict[str, Any]:
    """One partition's share of the cross-products, for the levels it contains.

    Parameters
    ----------
    pdf : pandas.DataFrame
        The partition.
    enc : PartitionEncoder
        Encodes all fixed-effect columns (aliased ones are dropped after the reduction).
    masks : list of numpy.ndarray
        Each term's lambda pattern.
    shift : numpy.ndarray, optional
        Coefficients subtracted from y (``y - X shift``), the same in every partition.

    Returns
    -------
    dict
        ``n_input``, ``n``, ``uniq`` (each term's global codes present), ``diag``, ``xz``, ``xx``, ``off``
        (blocks on the partition's local level numbering), ``log_w`` and ``r`` (the R factor of X).
    """
    out: dict[str, Any] = {"n_input": len(pdf), "n": 0}
    frame = enc.frame(pdf)
    if frame is None:
        return out
    y = enc.response(frame)
    if frame.offset is not None:
        y = y - frame.offset
    X = enc.fixed(frame)
    blocks, uniqs = [], []
    for (codes, Z), mask in zip(enc.terms(frame), masks):
        uniq, local = np.unique(codes, return_inverse=True)
        blocks.append(ReBlock(codes=local.astype(np.int64).ravel(), Z=Z, nlevels=len(uniq), mask=mask))
        uniqs.append(uniq)
    center = shift if shift is not None and np.any(shift) else False
    cp = CrossProducts.build(blocks, X, y, frame.weights, center=center)
    out.update(n=len(y), uniq=uniqs, diag=cp.diag, xz=cp.xz, xx=cp.xx, off=cp.off, log_w=cp.log_weights,
               r=np.linalg.qr(X, mode="r") if X.shape[1] else np.zeros((0, 0)))
    return out


class CrossAccumulator:
    """Adds up the partitions' cross-products on the global level numbering.

    Parameters
    ----------
    nlevels, sizes : list of int
        Levels and effects per level of each term (engine order).
    pfull : int
        Fixed-effect columns before aliased ones are dropped.

    Examples
    --------
    >>> acc = CrossAccumulator([3], [1], pfull=1)
    >>> acc.xz[0].shape
    (2, 3, 1)
    """

    def __init__(self, nlevels: list[int], sizes: list[int], pfull: int):
        self.nlevels, self.sizes, self.pfull = list(nlevels), list(sizes), pfull
        c = pfull + 1
        self.diag = [np.zeros((nl, p, p)) for nl, p in zip(nlevels, sizes)]
        self.xz = [np.zeros((c, nl, p)) for nl, p in zip(nlevels, sizes)]
        self.xx = np.zeros((c, c))
        q = [nl * p for nl, p in zip(nlevels, sizes)]
        self.off = {(k, j): sp.csr_matrix((q[k], q[j])) for k in range(len(q)) for j in range(k)}
        self.r = np.zeros((0, pfull))
        self.n = self.n_input = 0
        self.log_w = 0.0

    def _global_index(self, k: int, uniq: np.ndarray, local: np.ndarray) -> np.ndarray:
        p = self.sizes[k]
        return uniq[local // p] * p + local % p

    def add(self, part: dict[str, Any]) -> None:
        """Fold one partition's result in (the order of partitions does not matter)."""
        self.n_input += part["n_input"]
        if not part["n"]:
            return
        self.n += part["n"]
        self.log_w += part["log_w"]
        self.xx += part["xx"]
        c = self.pfull + 1
        for k, uniq in enumerate(part["uniq"]):
            self.diag[k][uniq] += part["diag"][k]
            self.xz[k][:, uniq, :] += part["xz"][k].reshape(c, len(uniq), self.sizes[k])
        for (k, j), A in part["off"].items():
            coo = A.tocoo()
            rows = self._global_index(k, part["uniq"][k], coo.row)
            cols = self._global_index(j, part["uniq"][j], coo.col)
            self.off[(k, j)] = (self.off[(k, j)]
                                + sp.csr_matrix((coo.data, (rows, cols)), shape=self.off[(k, j)].shape)).tocsr()
        if self.pfull:
            self.r = r_update(self.r, part["r"])

    def cross_products(self, masks: list[np.ndarray], kept: np.ndarray,
                       shift: np.ndarray | None = None) -> CrossProducts:
        """The model's :class:`CrossProducts` with only the ``kept`` fixed-effect columns (y last).

        ``shift`` (on all columns) is what the partitions subtracted from y; it must lie on kept columns.
        """
        idx = np.concatenate([np.asarray(kept, dtype=int), [self.pfull]])
        blocks = [ReBlock(codes=np.zeros(0, dtype=np.int64), Z=np.zeros((0, p)), nlevels=nl, mask=m)
                  for nl, p, m in zip(self.nlevels, self.sizes, masks)]
        every = len(idx) == self.pfull + 1  # nothing dropped: views, no copies of the level-sized arrays
        xz = [A.reshape(self.pfull + 1, -1) if every else np.ascontiguousarray(A.reshape(self.pfull + 1, -1)[idx])
              for A in self.xz]
        offset = None
        if shift is not None and np.any(shift):
            if np.any(np.delete(shift, kept)):
                raise RuntimeError("the response shift lies on a dropped (aliased) column")
            offset = np.asarray(shift, dtype=float)[kept]
        return CrossProducts(blocks=blocks, diag=self.diag, off=self.off, xz=xz,
                             xx=np.ascontiguousarray(self.xx[np.ix_(idx, idx)]), n=self.n, p=len(kept),
                             log_weights=self.log_w, w_sqrt=None, beta_offset=offset)


def _levels_pass(ddf: Any, plan: Any, client: Any) -> _LevelSummary:
    import dask

    enc = share(plan, client)
    tasks = [dask.delayed(partition_levels, pure=True)(part, enc) for part in ddf.to_delayed()]
    summary = _LevelSummary()
    stream_results(tasks, summary.add, client=client)
    return summary


def dask_cross_products(design: DaskDesign, client: Any = None) -> tuple[CrossProducts, DaskDesign]:
    """The cross-products pass: each partition's blocks, reduced on the driver.

    Parameters
    ----------
    design : DaskDesign
        From the levels pass; its fixed part still has all of formulaic's columns.
    client : distributed.Client, optional
        Default: the running client if any, else Dask's local scheduler.

    Returns
    -------
    CrossProducts
        With the non-aliased fixed-effect columns.
    DaskDesign
        The design with aliased fixed-effect columns dropped (``fixed.kept``, ``fixed.dropped``).
    """
    import dask

    masks = [t.theta_mask for t in design.terms]
    enc = share(design.encoder(all_columns=True), client)
    shift = design.shift
    tasks = [dask.delayed(partition_cross, pure=True)(part, enc, masks, shift) for part in design.source.to_delayed()]
    acc = CrossAccumulator([t.nlevels for t in design.terms], [t.p for t in design.terms],
                           len(design.fixed_names_full))
    stream_results(tasks, acc.add, client=client)
    names = design.fixed_names_full
    kept = nonaliased_columns(acc.r) if names else np.arange(0)
    dropped = dropped_names(names, kept)
    fixed = FixedDesign(X=np.zeros((0, len(kept))), names=[names[j] for j in kept], spec=design.fixed.spec,
                        kept=np.asarray(kept), dropped=dropped)
    design.fixed = fixed
    design.n = acc.n
    return acc.cross_products(masks, kept, shift), design


def dask_design(formula: str, data: Any, weights: str | None = None, offset: str | None = None,
                client: Any = None) -> DaskDesign:
    """The levels pass: parse, gather the global levels, and fix every encoding.

    Parameters
    ----------
    formula : str
    data : dask.dataframe.DataFrame or path to Parquet files
    weights, offset : str, optional
        Column names.
    client : distributed.Client, optional

    Returns
    -------
    DaskDesign
    """
    require_dask()
    parsed = parse_formula(formula)
    if parsed.offsets or "." in parsed.fixed.replace(" ", "").split("+"):
        raise FormulaError(f"offset(...) terms and '.' in {formula!r} are not supported for Dask data yet: pass the "
                           "offset as a column with offset='name' and name the predictors")
    kinds = [t.kind for t in parsed.random if t.kind is not None]
    if kinds:
        raise FormulaError(f"{kinds[0]}(...) covariance structures in {formula!r} are not supported for Dask data "
                           "yet: fit a pandas frame, or write the term with lme4's bars ((x | g), (x || g))")
    if not parsed.random:
        from ..design.frame import DataError

        raise DataError(f"formula {formula!r} has no random-effects term such as (1 | group)")
    ddf = as_dask_frame(data)
    plan = build_plan(parsed, ddf, weights, offset)
    ddf = ddf[plan.read_columns]
    summary = _levels_pass(ddf, plan, client)
    return finish_design(plan, summary, ddf)


def lmer_dask(formula: str, data: Any, reml: bool = True, weights: str | None = None, offset: str | None = None,
              control: LmerControl | None = None, client: Any = None, quiet: bool = False) -> Any:
    """Fit a linear mixed model on a Dask DataFrame or Parquet files, partition by partition.

    Two passes over the rows run on the Dask workers: the first gathers the levels of every grouping
    factor and categorical column, the second computes each partition's cross-products of [Z X y] with
    the global level codes.  The driver adds them up and optimizes as :func:`lmmflow.lmer` does, so the
    result equals the in-memory fit of the same rows (to rounding in the sums).  ``lf.lmer`` calls this
    for a Dask frame or a Parquet path.

    Parameters
    ----------
    formula : str
        An lme4 formula, as for :func:`lmmflow.lmer`.
    data : dask.dataframe.DataFrame, str or os.PathLike
        A Dask frame, or a Parquet directory, file or glob (only the columns used are read).
    reml : bool
    weights, offset : str, optional
        Column names (one value per row cannot be lined up with the partitions).
    control : LmerControl, optional
    client : distributed.Client, optional
        Default: the running distributed client if any, else Dask's local scheduler.
    quiet : bool
        Do not warn about dropped rows or columns or a singular fit.

    Returns
    -------
    DaskLmerResult
        Estimates as :class:`lmmflow.LmerResult`; ``fitted``, ``residuals`` and ``data`` are lazy Dask
        objects computed on demand.

    Raises
    ------
    ImportError
        Dask is not installed: ``pip install 'lmmflow[dask]'``.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import lmmflow as lf
    >>> ddf = dd.from_pandas(lf.load_dataset("sleepstudy"), npartitions=3)
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", ddf)
    >>> round(m.objective, 3), round(m.sigma, 3)
    (1743.628, 25.592)
    >>> m.fitted.compute().shape
    (180,)
    """
    from ..api import fit_design
    from ..fitting import warn_fit
    from .result import DaskLmerResult

    t0 = time.perf_counter()
    design = dask_design(formula, data, weights=weights, offset=offset, client=client)
    t1 = time.perf_counter()
    cp, design = dask_cross_products(design, client=client)
    t2 = time.perf_counter()
    m = fit_design(design, reml=reml, control=control, cross=cp)  # type: ignore[arg-type]
    res = DaskLmerResult.from_result(m)
    res.timings = {"levels_pass": t1 - t0, "cross_products_pass": t2 - t1, "optimize": time.perf_counter() - t2}
    if not quiet:
        warn_fit(design.fixed.dropped, design.frame.n_dropped, res.is_singular, "m")
    return res
