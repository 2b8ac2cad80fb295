"""What every fitted mixed model answers, LMM or GLMM: the shared base of :class:`LmerResult` and :class:`GlmerResult`.

A subclass provides the estimates (``_fixef``, ``_vcov``, ``_varcorr``, ``cond_sd_blocks``, ``objective``,
``npar``, ``theta``, ``is_singular``) and its ``design``; the base turns them into lme4's accessors, each returning
the caller's copy (results are values).  ``model_kind`` says what inference applies: ``"lmm"`` (t tests with
Satterthwaite / Kenward-Roger df, sigma, REML) or ``"glmm"`` (z tests, no residual variance);
:func:`require_kind` is how an inference function refuses a result it does not support.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ..design import ModelDesign

__all__ = ["MixedModelResult", "require_kind", "value_copy"]

_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3 or bool(getattr(pd.options.mode, "copy_on_write", False))


def value_copy(obj: Any) -> Any:
    """A copy the caller may change without changing the model (results are values).

    pandas objects: a shallow copy under copy-on-write (pandas 3: O(1), a write copies), else a deep copy;
    arrays are copied; dicts of frames copy each frame.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros(2)
    >>> value_copy(a) is a
    False
    """
    if isinstance(obj, dict):
        return {k: value_copy(v) for k, v in obj.items()}
    if isinstance(obj, (pd.Series, pd.DataFrame)):
        return obj.copy(deep=not _COPY_ON_WRITE)
    if isinstance(obj, np.ndarray):
        return obj.copy()
    return obj


def require_kind(m: Any, kind: str, what: str) -> None:
    """Refuse a result of another kind: ``what`` (e.g. "Satterthwaite's df") needs a ``kind`` ("lmm"/"glmm") fit.

    Examples
    --------
    >>> class Fake:
    ...     model_kind = "glmm"
    >>> try:
    ...     require_kind(Fake(), "lmm", "Satterthwaite's df")
    ... except TypeError as e:
    ...     print(str(e)[:60])
    Satterthwaite's df is for linear mixed models (lf.lmer fits)
    """
    have = getattr(m, "model_kind", None)
    if have == kind:
        return
    names = {"lmm": "linear mixed models (lf.lmer fits)", "glmm": "generalized linear mixed models (lf.glmer fits)"}
    got = names.get(str(have), type(m).__name__)
    hint = (": a GLMM's fixed effects are tested with z tests (g.coef_table(), lf.anova(g0, g1) for a likelihood-ratio "
            "test)" if kind == "lmm" and have == "glmm" else "")
    raise TypeError(f"{what} is for {names.get(kind, kind)}, not {got}{hint}")


class MixedModelResult:
    """The accessors LMM and GLMM results share (lme4's ``merMod`` methods), computed from a subclass's estimates.

    Attributes
    ----------
    model_kind : str
        ``"lmm"`` or ``"glmm"``: which inference functions apply.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (1 | Subject)", lf.load_dataset("sleepstudy"))
    >>> isinstance(m, MixedModelResult), m.model_kind
    (True, 'lmm')
    """

    model_kind: ClassVar[str] = "mixed"
    design: ModelDesign
    _fixef: pd.Series
    _vcov: pd.DataFrame
    _varcorr: pd.DataFrame
    solution: Any  # beta and b (a list of levels x effects per term) at the optimum

    @cached_property
    def _ranef(self) -> dict[str, pd.DataFrame]:
        from .tables import ranef_frames

        return ranef_frames(self)

    @cached_property
    def _ranef_sd(self) -> dict[str, pd.DataFrame]:
        from .tables import ranef_frames

        return ranef_frames(self, cond_sd=True)

    def _new_response(self, new_y: Any) -> np.ndarray:
        """``new_y`` for refit: a Series aligned on the rows used, else one finite number per row used."""
        from ..design.frame import DataError, align_series

        if isinstance(new_y, pd.Series):
            # a Series is aligned on the index of the rows used (it may also cover the rows the fit dropped)
            new_y = align_series(new_y, self.design.frame.data.index, "new_y", "the model's rows").to_numpy()
        try:
            y = np.asarray(new_y, dtype=float).ravel()
        except (TypeError, ValueError) as exc:
            raise DataError(f"new_y must be numeric, one value per row used ({self.nobs})") from exc
        if y.shape != (self.nobs,):
            raise DataError(f"new_y must have one value per row used ({self.nobs}), got shape {y.shape}")
        if not np.isfinite(y).all():
            raise DataError(f"new_y has {int((~np.isfinite(y)).sum())} missing or infinite value(s)")
        return y

    # ---- basic facts ------------------------------------------------------------------------------
    @property
    def formula(self) -> str:
        """The model formula as given."""
        return self.design.formula.formula

    @property
    def data(self) -> pd.DataFrame:
        """The model frame: the columns and rows used by the fit (a copy)."""
        return value_copy(self.design.frame.data)

    @property
    def nobs(self) -> int:
        """Number of observations used."""
        return self.design.n

    @property
    def n_dropped(self) -> int:
        """Rows dropped for missing values."""
        return self.design.frame.n_dropped

    @property
    def ngroups(self) -> dict[str, int]:
        """Number of levels of each grouping factor."""
        return {t.group: t.nlevels for t in self.design.terms}

    @property
    def objective(self) -> float:  # pragma: no cover - every subclass defines it
        """The criterion at the optimum (-2 log-likelihood, or the REML criterion)."""
        raise NotImplementedError

    @property
    def npar(self) -> int:  # pragma: no cover - every subclass defines it
        """Number of parameters counted by AIC and BIC."""
        raise NotImplementedError

    @property
    def loglik(self) -> float:
        """Log-likelihood at the optimum (the REML log-likelihood for REML fits, as lme4's ``logLik``)."""
        return -0.5 * self.objective

    @property
    def deviance(self) -> float:
        """-2 log-likelihood (of the criterion that was optimized)."""
        return self.objective

    @property
    def aic(self) -> float:
        """Akaike's information criterion."""
        return -2.0 * self.loglik + 2.0 * self.npar

    @property
    def bic(self) -> float:
        """Bayesian information criterion."""
        return -2.0 * self.loglik + math.log(self.nobs) * self.npar

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom as lme4 prints them (n - number of parameters)."""
        return self.nobs - self.npar

    @property
    def weights(self) -> np.ndarray | None:
        """Prior weights of the rows used, if any (a copy; a binomial GLMM's are the trials)."""
        return value_copy(self.design.frame.weights)

    @property
    def offset(self) -> np.ndarray | None:
        """Offset of the rows used, if any (a copy)."""
        return value_copy(self.design.frame.offset)

    # ---- fixed effects ----------------------------------------------------------------------------
    @property
    def fixef_names(self) -> list[str]:
        """Names of the fixed effects."""
        return list(self.design.fixed.names)

    @property
    def fixef(self) -> pd.Series:
        """Fixed-effect estimates (a copy)."""
        return value_copy(self._fixef)

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effect estimates (a copy)."""
        return value_copy(self._vcov)

    @property
    def std_errors(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        return pd.Series(np.sqrt(np.diag(self._vcov.to_numpy())), index=self.fixef_names, name="std_error")

    # ---- random effects ---------------------------------------------------------------------------
    @property
    def varcorr(self) -> pd.DataFrame:
        """Variance components as lme4's ``as.data.frame(VarCorr(m))`` (a copy)."""
        return value_copy(self._varcorr)

    @property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects per grouping factor (levels x terms; a copy)."""
        return value_copy(self._ranef)

    @property
    def ranef_sd(self) -> dict[str, pd.DataFrame]:
        """Conditional standard deviations of the random effects (lme4's ``condVar``), as ``ranef`` (a copy)."""
        return value_copy(self._ranef_sd)

    def _coef_frames(self) -> dict[str, pd.DataFrame]:
        out = {}
        for g, re in self._ranef.items():
            frame = pd.DataFrame({name: np.full(len(re), val) for name, val in self._fixef.items()}, index=re.index)
            for col in re.columns:
                frame[col] = (frame[col] if col in frame.columns else 0.0) + re[col].to_numpy()
            out[g] = frame
        return out

    @property
    def coef(self) -> dict[str, pd.DataFrame]:
        """Per-group coefficients: fixed effects plus each group's random effects (lme4's ``coef``; a copy)."""
        return value_copy(self._coef_frames())

    # ---- rows ---------------------------------------------------------------------------------------
    def _linear_predictor(self, with_re: bool = True, beta: np.ndarray | None = None,
                          b: list[np.ndarray] | None = None, add_offset: bool = True) -> np.ndarray:
        """X beta (+ Z b) (+ offset) for the rows used, formed in row blocks for large data.

        ``beta`` and ``b`` default to the estimates; a design read in row blocks is never held whole.
        """
        from ..core.crossprod import row_block, row_ranges

        d = self.design
        beta = self.solution.beta if beta is None else beta
        b = self.solution.b if b is None else b
        eta = np.empty(self.nobs)
        for a, e in row_ranges(self.nobs, whole=not d.streamed):
            v = row_block(d.fixed.matrix, a, e) @ beta
            if with_re:
                for term, bk in zip(d.terms, b):
                    v = v + np.einsum("ip,ip->i", row_block(term.matrix, a, e), bk[term.codes[a:e]])
            eta[a:e] = v
        off = self.design.frame.offset
        if add_offset and off is not None:
            eta += off
        return eta

    def _na_pad(self, values: pd.Series) -> pd.Series:
        """``values`` for the rows used, padded with NaN to the data's rows for an ``na_action="na.exclude"`` fit."""
        from .predict import _pads

        frame = self.design.frame
        if not _pads(frame):
            return values
        full = np.full(frame.n_input, np.nan)
        full[frame.rows] = values.to_numpy()
        return pd.Series(full, index=frame.input_index, name=values.name)
