"""The result of a fit on Dask: LmerResult's estimates, with per-row quantities as lazy Dask objects."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..results.model import LmerResult
from .dask_design import DaskDesign, PartitionEncoder

__all__ = ["DaskLmerResult", "partition_values"]

_KINDS = ("fitted", "residuals", "pearson", "population", "weights", "offset", "frame")


def partition_values(pdf: pd.DataFrame, shared: tuple[PartitionEncoder, list[np.ndarray]], beta: np.ndarray,
                     sigma: float, kind: str) -> pd.Series | pd.DataFrame:
    """Per-row values of a fit for one partition's rows used (runs on the workers).

    Parameters
    ----------
    pdf : pandas.DataFrame
        The partition.
    shared : (PartitionEncoder, list of numpy.ndarray)
        The encoder, and the random effects per term (nlevels x p), sent once to each worker.
    beta : numpy.ndarray
    sigma : float
    kind : {"fitted", "residuals", "pearson", "population", "weights", "offset", "frame"}
        Fitted values (fixed + random + offset), response residuals, Pearson residuals, fixed-effects-only
        predictions (+ offset), prior weights, offset, or the model frame itself.

    Returns
    -------
    pandas.Series (or the model frame for ``kind="frame"``), indexed as the partition's rows used.
    """
    enc, b = shared
    frame = enc.frame(pdf)
    if frame is None:
        if kind == "frame":
            return pdf.loc[pdf.index[:0], enc.plan.columns]
        return pd.Series(np.zeros(0), index=pdf.index[:0], name=kind)
    if kind == "frame":
        return frame.data
    if kind in ("weights", "offset"):
        vals = frame.weights if kind == "weights" else frame.offset
        return pd.Series(vals, index=frame.data.index, name=kind)
    eta = enc.fixed(frame) @ beta
    if kind != "population":
        for (codes, Z), bk in zip(enc.terms(frame), b):
            eta = eta + np.einsum("ip,ip->i", Z, bk[codes])
    if frame.offset is not None:
        eta = eta + frame.offset
    if kind in ("fitted", "population"):
        return pd.Series(eta, index=frame.data.index, name=kind)
    r = enc.response(frame) - eta
    if kind == "pearson":
        r = r * (np.sqrt(frame.weights) if frame.weights is not None else 1.0) / sigma
    return pd.Series(r, index=frame.data.index, name=kind)


def _partition_predict(pdf: pd.DataFrame, shared: tuple[PartitionEncoder, list[np.ndarray]], beta: np.ndarray,
                       population: bool, allow_new_levels: bool) -> pd.Series:
    """Predictions for new rows (levels not in the fit get no random effect)."""
    enc, b = shared
    X = np.asarray(enc.fixed_spec.get_model_matrix(pdf, na_action="ignore"), dtype=float)
    eta = X[:, enc.kept] @ beta if enc.kept is not None else X @ beta
    if not population:
        for specs, coder, bk in zip(enc.term_specs, enc.coders, b):
            codes = coder.codes(pdf)
            new = codes < 0
            if new.any() and not allow_new_levels:
                from ..design.frame import DataError

                raise DataError(f"newdata has level(s) of {':'.join(coder.cols)!r} not in the fit; pass "
                                "allow_new_levels=True to predict them at the population level")
            Z = np.column_stack([np.asarray(s.get_model_matrix(pdf, na_action="ignore"), dtype=float) for s in specs])
            vals = np.einsum("ip,ip->i", Z, bk[np.where(new, 0, codes)])
            eta = eta + np.where(new, 0.0, vals)
    return pd.Series(eta, index=pdf.index, name="predicted")


class DaskLmerResult(LmerResult):
    """A linear mixed model fitted on a Dask DataFrame (or Parquet files) by :func:`lmmflow.lmer`.

    Estimates (``fixef``, ``vcov``, ``varcorr``, ``ranef``, ``theta``, ``sigma``, ``coef_table``,
    ``summary``...) work as for :class:`lmmflow.LmerResult`; they come from the cross-products and the
    level tables.  Per-row quantities are lazy Dask objects with the partitions of the input: ``fitted``,
    ``residuals``, ``resid(type)``, ``predict()``, ``weights``, ``offset`` and ``data`` (the model frame);
    call ``.compute()`` (or write them with ``.to_parquet``) to get values.  Each access builds a new
    lazy object; with a distributed client running, the level tables and random effects it needs are
    scattered to the workers then (so compute it on that client).  ``refit`` and ``simulate`` need the
    response on the driver: fit in memory for those.

    ``timings`` holds the seconds spent in the levels pass, the cross-products pass and the optimizer
    (with the result's construction).

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)",
    ...             dd.from_pandas(lf.load_dataset("sleepstudy"), npartitions=2))
    >>> type(m).__name__, m.nobs
    ('DaskLmerResult', 180)
    >>> abs(float(m.residuals.mean().compute())) < 1e-8
    True
    """

    design: DaskDesign  # type: ignore[assignment]
    timings: dict[str, float]

    @classmethod
    def from_result(cls, m: LmerResult) -> DaskLmerResult:
        """Re-type a result fitted on a :class:`DaskDesign` (no recomputation)."""
        out = cls.__new__(cls)
        out.__dict__.update(m.__dict__)
        return out

    # ---- lazy per-row quantities ---------------------------------------------------------------------
    def _delayed_args(self) -> Any:
        """The encoder and the random effects, shared by the tasks (scattered to a running cluster)."""
        from ._dask import share

        return share((self.design.encoder(), [np.asarray(x) for x in self.solution.b]))

    def _lazy(self, kind: str) -> Any:
        if kind not in _KINDS:
            raise ValueError(f"kind={kind!r}: use one of {_KINDS}")
        args = self._delayed_args()
        src = self.design.source
        if kind == "frame":
            meta = src._meta[self.design.plan.columns]
        else:
            meta = pd.Series(np.zeros(0), name=kind, index=src._meta.index)
        return src.map_partitions(partition_values, args, self.solution.beta, self.sigma, kind, meta=meta,
                                  align_dataframes=False)

    @property
    def data(self) -> Any:
        """The model frame as a lazy Dask DataFrame (columns used, incomplete rows dropped)."""
        return self._lazy("frame")

    @property
    def fitted(self) -> Any:  # type: ignore[override]
        """Fitted values (fixed + random effects + offset), a lazy Dask Series."""
        return self._lazy("fitted")

    @property
    def residuals(self) -> Any:  # type: ignore[override]
        """Response residuals, y - fitted, a lazy Dask Series."""
        return self._lazy("residuals")

    def resid(self, type: str = "response", scaled: bool = False) -> Any:  # noqa: A002 - lme4's argument name
        """Residuals as :meth:`lmmflow.LmerResult.resid`, as a lazy Dask Series."""
        kinds = ("response", "working", "pearson", "deviance", "scaled")
        if type not in kinds:
            raise ValueError(f"type={type!r}: use one of {kinds}")
        if type in ("pearson", "deviance"):  # the partitions give sqrt(w) r / sigma
            r = self._lazy("pearson")
            return r if scaled else r * self.sigma
        r = self.residuals
        return r / self.sigma if scaled or type == "scaled" else r

    @property
    def weights(self) -> Any:
        """Prior weights of the rows used (a lazy Dask Series), or None."""
        return self._lazy("weights") if self.design.plan.weights is not None else None

    @property
    def offset(self) -> Any:
        """Offset of the rows used (a lazy Dask Series), or None."""
        return self._lazy("offset") if self.design.plan.offset is not None else None

    def _linear_predictor(self, with_re: bool = True) -> Any:
        return self._lazy("fitted" if with_re else "population")

    def predict(self, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = False,
                interval: str | None = None, level: float = 0.95) -> Any:
        """Predictions: lazy for the fitted rows or a Dask ``newdata``, in memory for a pandas ``newdata``.

        Parameters
        ----------
        newdata : pandas or Dask DataFrame, optional
        re_form : None or "~0"
            As :meth:`lmmflow.LmerResult.predict`.
        allow_new_levels : bool
        interval : None
            Intervals are available for pandas ``newdata`` only.
        level : float
        """
        from ..results.predict import population_only
        from ._dask import is_dask_frame

        pop = population_only(re_form)
        if newdata is None:
            if interval is not None:
                raise NotImplementedError("prediction intervals for the fitted rows of a Dask fit: pass the "
                                          "rows as pandas newdata")
            return self._lazy("population" if pop else "fitted").rename("predicted")
        if is_dask_frame(newdata):
            if interval is not None:
                raise NotImplementedError("prediction intervals on a Dask newdata are not available")
            meta = pd.Series(np.zeros(0), name="predicted", index=newdata._meta.index)
            return newdata.map_partitions(_partition_predict, self._delayed_args(), self.solution.beta, pop,
                                          allow_new_levels,
                                          meta=meta, align_dataframes=False)
        return super().predict(newdata, re_form=re_form, allow_new_levels=allow_new_levels, interval=interval,
                               level=level)

    # ---- what needs the rows on the driver ------------------------------------------------------------
    def refit(self, new_y: Any) -> LmerResult:
        """Not available: a new response needs a pass over the rows; fit it with ``lf.lmer``."""
        raise NotImplementedError("refit() needs the rows on the driver; put the new response in the Dask frame "
                                  "and call lf.lmer(formula, ddf)")

    def simulate(self, nsim: int = 1, seed: int | None = None, use_u: bool = False) -> pd.DataFrame:
        """Not available on a Dask fit (it would return one value per row on the driver)."""
        raise NotImplementedError("simulate() returns one value per row on the driver; fit a sample in memory")

    def update(self, formula: str | None = None, data: Any = None, reml: bool | None = None,
               control: Any = None) -> LmerResult:
        """Refit with the criterion, control, formula or data changed (same cross-products when possible)."""
        from ..results.builders import builder

        fit_design, lmer = builder("fit_design"), builder("lmer")
        reml = self.reml if reml is None else reml
        control = control or self.control
        if formula is None and data is None:
            m = fit_design(self.design, reml=reml, control=control, cross=self.devfun.cp,  # type: ignore[arg-type]
                           data_name=self.data_name)
            return DaskLmerResult.from_result(m)
        return lmer(formula or self.formula, self.design.source if data is None else data, reml=reml,
                    control=control)

    def summary(self, ddf: str = "satterthwaite", correlation: bool | None = None) -> Any:
        """lme4's summary; the scaled-residual quantiles are Dask's (approximate) quantiles."""
        from ..results.printing import Summary

        return Summary(_SummaryView(self), ddf=ddf, correlation=correlation)


class _SummaryView:
    """The result as the summary printer sees it: Pearson residuals reduced to their five quantiles."""

    def __init__(self, m: DaskLmerResult):
        self._m = m

    def __getattr__(self, name: str) -> Any:
        return getattr(self._m, name)

    def resid(self, type: str = "response", scaled: bool = False) -> pd.Series:  # noqa: A002
        r = self._m.resid(type, scaled=scaled)
        q = r.quantile([0.0, 0.25, 0.5, 0.75, 1.0]).compute()
        return pd.Series(np.asarray(q, dtype=float))
