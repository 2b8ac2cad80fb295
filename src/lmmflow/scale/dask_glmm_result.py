"""The result of a GLMM fitted from Dask data (:func:`lmmflow.scale.dask_glmm.glmer_dask`): the estimates on the
driver, and the per-row quantities (fitted values, residuals, predictions) as lazy Dask Series with the
partitions of the input, computed by the workers from the encoder and the random effects."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..core.family import Family
from ..design.response import glm_response
from .dask_glmm_passes import _response_frame

__all__ = ["DaskGlmerResult", "glmm_partition_predict", "glmm_partition_values"]

_KINDS = ("link", "fitted", "response", "deviance", "pearson", "working")


def _lambda(theta: np.ndarray, q: int) -> np.ndarray:
    lam = np.zeros((q, q))
    rows, cols = np.tril_indices(q)
    order = np.lexsort((rows, cols))  # lme4: column by column
    lam[rows[order], cols[order]] = theta
    return lam


def _residuals(kind: str, fam: Family, y: np.ndarray, mu: np.ndarray, eta: np.ndarray, w: np.ndarray) -> np.ndarray:
    """lme4's residuals for glmer (as :meth:`lmmflow.GlmerResult.resid`)."""
    if kind == "response":
        return y - mu
    if kind == "working":
        return (y - mu) / np.asarray(fam.mu_eta(eta), dtype=float)
    if kind == "pearson":
        with np.errstate(divide="ignore", invalid="ignore"):
            return (y - mu) * np.sqrt(w) / np.sqrt(np.asarray(fam.variance(mu), dtype=float))
    d = np.asarray(fam.dev_resids(y, mu, w), dtype=float)
    return np.sign(y - mu) * np.sqrt(np.maximum(d, 0.0))


def glmm_partition_values(pdf: pd.DataFrame, shared: tuple[Any, np.ndarray, Family, tuple[str, ...] | None],
                          beta: np.ndarray, kind: str, population: bool = False) -> pd.Series:
    """Per-row values of a Dask GLMM fit for one partition's rows used (runs on the workers).

    Parameters
    ----------
    pdf : pandas.DataFrame
        The partition.
    shared : (GlmmEncoder, numpy.ndarray, Family, tuple or None)
        The encoder (kept columns), the random effects (levels x effects), the family, and a categorical
        response's levels.
    beta : numpy.ndarray
    kind : {"link", "fitted", "deviance", "pearson", "response", "working"}
        The linear predictor (with the offset), the mean, or a residual type (lme4's for glmer).
    population : bool
        Leave the random effects out (``link`` and ``fitted`` only).

    Returns
    -------
    pandas.Series indexed as the partition's rows used.
    """
    enc, b, fam, levels = shared
    frame = enc.frame(pdf)
    if frame is None:
        return pd.Series(np.zeros(0), index=pdf.index[:0], name=kind)
    eta = enc.fixed(frame) @ beta
    if not population:
        (codes, Z), = enc.terms(frame)
        eta = eta + np.einsum("ip,ip->i", Z, b[codes])
    if frame.offset is not None:
        eta = eta + np.asarray(frame.offset, dtype=float)
    if kind == "link":
        return pd.Series(eta, index=frame.data.index, name=kind)
    mu = np.asarray(fam.linkinv(eta), dtype=float)
    if kind == "fitted":
        return pd.Series(mu, index=frame.data.index, name=kind)
    response = enc.plan.parsed.response
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fit warned once
        resp = glm_response(response, _response_frame(frame.data, response, levels), fam.name,
                            weights=frame.weights)
    y = np.asarray(resp.y, dtype=float)
    w = np.asarray(resp.weights, dtype=float) if resp.weights is not None else np.ones(len(y))
    return pd.Series(_residuals(kind, fam, y, mu, eta, w), index=frame.data.index, name=kind)


def glmm_partition_predict(pdf: pd.DataFrame, shared: tuple[Any, np.ndarray, Family, tuple[str, ...] | None],
                           beta: np.ndarray, population: bool, response: bool, allow_new_levels: bool,
                           offset: str | None) -> pd.Series:
    """Predictions of a Dask GLMM fit for new rows (one partition): ``X beta`` + the random effects of levels
    in the fit (none for new levels, with ``allow_new_levels``) + the offset column, on the link or the
    response scale."""
    from .result import _partition_predict

    enc, b, fam, _ = shared
    if offset is not None and offset not in pdf.columns:
        from ..design.frame import DataError

        raise DataError(f"the fit's offset is the column {offset!r}, which newdata lacks; add it")
    eta = _partition_predict(pdf, (enc, [b]), beta, population, allow_new_levels).to_numpy(dtype=float)
    if offset is not None:
        eta = eta + pdf[offset].to_numpy(dtype=float)
    if response:
        ok = np.isfinite(eta)
        out = np.full(len(eta), np.nan)
        out[ok] = np.asarray(fam.linkinv(eta[ok]), dtype=float)
        eta = out
    return pd.Series(eta, index=pdf.index, name="predicted")


@dataclass
class DaskGlmerResult:
    """A GLMM fitted from Dask data: the estimates, with the level-sized parts on the driver.

    Attributes are read-only views of copies: changing a returned array does not change the result.  Per-row
    quantities (:attr:`fitted`, :attr:`residuals`, :meth:`resid`, :meth:`predict` without ``newdata`` or with a
    Dask ``newdata``) are lazy Dask Series with the partitions of the input (rows with missing values left
    out, as in the fit); call ``.compute()`` for values.

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
        Fixed-effects block of ``2 H^-1``, H the Hessian of the objective in (theta, beta) (as lmmflow.glmer's).
    ranef : pandas.DataFrame
        Conditional modes ``b = Lambda u``, one row per level.
    timings : dict
        Seconds per stage (``levels_pass``, ``encode_pass``, ``stage1``, ``stage2``, ``hessian``).
    passes : int
        Passes over the partitions.
    evaluations : int
        PIRLS solves (objective and gradient evaluations).
    stages : tuple of OptSummary
        The optimizer's record of each stage (as :attr:`lmmflow.GlmerResult.stages`).

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import lmmflow as lf
    >>> from lmmflow.scale.dask_glmm import glmer_dask
    >>> cbpp = dd.from_pandas(lf.load_dataset("cbpp"), npartitions=2)
    >>> g = glmer_dask("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    >>> g.fitted.npartitions, round(float(g.fitted.compute().iloc[0]), 4)
    (2, 0.3082)
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
    stages: tuple[Any, ...] = ()
    source: Any = field(default=None, repr=False)
    encoder: Any = field(default=None, repr=False)
    family_object: Any = field(default=None, repr=False)
    response_levels: tuple[str, ...] | None = None
    offset_column: str | None = None

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

    # ---- per-row quantities (lazy) -----------------------------------------------------------------------
    def _shared(self) -> Any:
        """The encoder, the random effects, the family and the response levels, shared by the tasks (scattered
        to a running cluster)."""
        from ._dask import share

        return share(self._local())

    def _local(self) -> tuple[Any, np.ndarray, Any, tuple[str, ...] | None]:
        """What the per-row functions read: the encoder, the random effects, the family, the response levels."""
        if self.source is None or self.encoder is None:
            raise NotImplementedError("this result keeps no link to its data (built without glmer_dask): "
                                      "per-row values are not available")
        return self.encoder, self.ranef_.to_numpy(dtype=float), self.family_object, self.response_levels

    def _lazy(self, kind: str, population: bool = False) -> Any:
        if kind not in _KINDS:
            raise ValueError(f"kind={kind!r}: use one of {_KINDS}")
        src = self.source
        meta = pd.Series(np.zeros(0), name=kind, index=src._meta.index)
        return src.map_partitions(glmm_partition_values, self._shared(), self.fixef_.to_numpy(dtype=float), kind,
                                  population, meta=meta, align_dataframes=False)

    @property
    def linear_predictor(self) -> Any:
        """eta = X beta + Z b + offset for the rows used, a lazy Dask Series."""
        return self._lazy("link")

    @property
    def fitted(self) -> Any:
        """Fitted values on the response scale (probabilities, expected counts), a lazy Dask Series."""
        return self._lazy("fitted")

    @property
    def residuals(self) -> Any:
        """Deviance residuals (lme4's default ``residuals`` for glmer), a lazy Dask Series."""
        return self._lazy("deviance")

    def resid(self, type: str = "deviance") -> Any:  # noqa: A002 - lme4's name
        """Residuals as :meth:`lmmflow.GlmerResult.resid`, as a lazy Dask Series.

        Parameters
        ----------
        type : {"deviance", "pearson", "response", "working"}

        Returns
        -------
        dask.dataframe.Series
        """
        kinds = ("deviance", "pearson", "response", "working")
        if type not in kinds:
            raise ValueError(f"type={type!r}: use one of {kinds} (lme4's residual types for glmer)")
        return self._lazy(type)

    def predict(self, newdata: Any = None, re_form: Any = None, type: str = "link",  # noqa: A002 - lme4's name
                allow_new_levels: bool = False) -> Any:
        """Predictions on the link or the response scale: lazy for the fitted rows or a Dask ``newdata``,
        a pandas Series for a pandas ``newdata``.

        Parameters
        ----------
        newdata : pandas or Dask DataFrame, optional
            Rows to predict (default: the rows used).  The fit's offset column is read from it.
        re_form : None, "~0" or NA
            All random effects (None) or none.
        type : {"link", "response"}
            The linear predictor or the mean.
        allow_new_levels : bool
            Levels not in the fit get random effect 0; with ``False`` (lme4's default) they raise.

        Returns
        -------
        dask.dataframe.Series or pandas.Series
        """
        from ..results.predict import population_only
        from ._dask import is_dask_frame

        if type not in ("link", "response"):
            raise ValueError(f"type={type!r}: use 'link' (the linear predictor) or 'response' (the mean)")
        pop = population_only(re_form)
        beta = self.fixef_.to_numpy(dtype=float)
        if newdata is None:
            return self._lazy("link" if type == "link" else "fitted", pop).rename("predicted")
        args = (beta, pop, type == "response", allow_new_levels, self.offset_column)
        if is_dask_frame(newdata):
            meta = pd.Series(np.zeros(0), name="predicted", index=newdata._meta.index)
            return newdata.map_partitions(glmm_partition_predict, self._shared(), *args, meta=meta,
                                          align_dataframes=False)
        if not isinstance(newdata, pd.DataFrame):
            raise TypeError(f"newdata must be a pandas or Dask DataFrame, not {newdata.__class__.__name__}")
        return glmm_partition_predict(newdata, self._local(), *args)

    def __repr__(self) -> str:
        return (f"DaskGlmerResult({self.formula!r}, family={self.family}({self.link}), nobs={self.nobs}, "
                f"logLik={self.loglik:.4f})")
