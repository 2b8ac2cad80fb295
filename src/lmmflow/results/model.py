"""The fitted linear mixed model: an immutable result with lme4's accessors and statsmodels-like methods."""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..control import LmerControl
from ..core import DevianceFunction, ReBlock, Solution
from ..core.crossprod import row_block, row_ranges
from ..design import ModelDesign
from ..optim import OptSummary

__all__ = ["LmerResult", "make_blocks"]


def make_blocks(design: ModelDesign) -> list[ReBlock]:
    """The engine's view of a design's random-effects terms."""
    return design.blocks()


class LmerResult:
    """A fitted linear mixed model.

    Created by :func:`lmmflow.lmer`; all estimates are read-only properties computed from the
    optimum (and cached).  Methods that change something (``update``, ``refit``) return new results.

    Attributes
    ----------
    objective : float
        REML criterion (REML fits) or deviance (ML fits) at the optimum.
    loglik, aic, bic : float
        Log-likelihood (the REML log-likelihood for REML fits, as lme4) and information criteria.
    nobs : int
        Observations used.
    ngroups : dict
        Levels of each grouping factor.
    sigma : float
        Residual standard deviation.
    theta : numpy.ndarray
        Relative covariance parameters (lme4's order).
    fixef : pandas.Series
        Fixed-effect estimates.
    vcov : pandas.DataFrame
        Covariance matrix of the fixed effects.
    varcorr : pandas.DataFrame
        Variance components: group, var1, var2, vcov, sdcor.
    ranef : dict of pandas.DataFrame
        Conditional modes per grouping factor (levels x terms); ``ranef_sd`` holds their conditional SDs.
    coef : dict of pandas.DataFrame
        Per-group coefficients (fixed + random).
    fitted, residuals : pandas.Series
        For the rows used, indexed as in the caller's data.
    is_singular : bool
    optinfo : OptSummary
        The optimizer's record.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> round(m.objective, 3), round(m.sigma, 3)
    (1743.628, 25.592)
    """

    def __init__(self, design: ModelDesign, devfun: DevianceFunction, optinfo: OptSummary,
                 control: LmerControl, data_name: str = "data"):
        self.design = design
        self.devfun = devfun
        self.optinfo = optinfo
        self.control = control
        self.data_name = data_name
        self.solution: Solution = devfun.solve(optinfo.theta)

    # ---- basic facts ------------------------------------------------------------------------------
    @property
    def formula(self) -> str:
        """The model formula as given."""
        return self.design.formula.formula

    @property
    def reml(self) -> bool:
        """True for a REML fit."""
        return self.devfun.reml

    @property
    def data(self) -> pd.DataFrame:
        """The model frame: the columns and rows used by the fit."""
        return self.design.frame.data

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
    def theta(self) -> np.ndarray:
        """Relative covariance parameters."""
        return self.solution.theta.copy()

    @property
    def objective(self) -> float:
        """REML criterion (REML fits) or deviance (ML fits)."""
        return float(self.solution.objective)

    @property
    def npar(self) -> int:
        """Number of parameters: fixed effects, covariance parameters and the residual variance."""
        return self.design.fixed.p + len(self.solution.theta) + 1

    @property
    def loglik(self) -> float:
        """Log-likelihood at the optimum (REML log-likelihood for REML fits, as lme4's ``logLik``)."""
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
    def sigma(self) -> float:
        """Residual standard deviation."""
        return float(self.solution.sigma)

    @property
    def weights(self) -> np.ndarray | None:
        """Prior weights of the rows used, if any."""
        return self.design.frame.weights

    @property
    def offset(self) -> np.ndarray | None:
        """Offset of the rows used, if any."""
        return self.design.frame.offset

    # ---- fixed effects ----------------------------------------------------------------------------
    @property
    def fixef_names(self) -> list[str]:
        """Names of the fixed effects."""
        return list(self.design.fixed.names)

    @cached_property
    def fixef(self) -> pd.Series:
        """Fixed-effect estimates."""
        return pd.Series(self.solution.beta, index=self.fixef_names, name="estimate")

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effect estimates, sigma^2 (X'V^-1X)^-1 on the sigma=1 scale."""
        v = self.sigma ** 2 * self.solution.vcov_unscaled
        return pd.DataFrame(v, index=self.fixef_names, columns=self.fixef_names)

    @property
    def std_errors(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.fixef_names, name="std_error")

    # ---- random effects ---------------------------------------------------------------------------
    @cached_property
    def re_covariances(self) -> list[np.ndarray]:
        """Covariance matrix of each term's random effects, sigma^2 lambda lambda'."""
        lams = self.devfun.factor.lambdas_of(self.solution.theta)
        return [self.sigma ** 2 * lam @ lam.T for lam in lams]

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """Variance components as lme4's ``as.data.frame(VarCorr(m))``."""
        from .tables import varcorr_frame

        return varcorr_frame(self)

    @cached_property
    def cond_sd_blocks(self) -> list[np.ndarray]:
        """Conditional standard deviations of the random effects per term (nlevels x p)."""
        f = self.devfun.factor
        f.update(self.solution.theta)
        blocks = f.inverse_diag_blocks()
        lams = f.lambdas_of(self.solution.theta)
        out = []
        for V, lam in zip(blocks, lams):
            cov = np.einsum("pq,iqr,sr->ips", lam, V, lam)
            out.append(self.sigma * np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0.0)))
        return out

    @cached_property
    def cond_cov_blocks(self) -> list[np.ndarray]:
        """Conditional covariance matrices of each level's random effects per term (nlevels x p x p)."""
        f = self.devfun.factor
        f.update(self.solution.theta)
        blocks = f.inverse_diag_blocks()
        lams = f.lambdas_of(self.solution.theta)
        return [self.sigma ** 2 * np.einsum("pq,iqr,sr->ips", lam, V, lam) for V, lam in zip(blocks, lams)]

    @cached_property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects per grouping factor (levels x terms)."""
        from .tables import ranef_frames

        return ranef_frames(self)

    @cached_property
    def ranef_sd(self) -> dict[str, pd.DataFrame]:
        """Conditional standard deviations of the random effects (lme4's ``condVar``), as ``ranef``."""
        from .tables import ranef_frames

        return ranef_frames(self, cond_sd=True)

    @cached_property
    def coef(self) -> dict[str, pd.DataFrame]:
        """Per-group coefficients: fixed effects plus each group's random effects (lme4's ``coef``)."""
        out = {}
        for g, re in self.ranef.items():
            frame = pd.DataFrame({name: np.full(len(re), val) for name, val in self.fixef.items()}, index=re.index)
            for col in re.columns:
                frame[col] = (frame[col] if col in frame.columns else 0.0) + re[col].to_numpy()
            out[g] = frame
        return out

    @cached_property
    def is_singular(self) -> bool:
        """True when the fit is on the boundary: a variance is (nearly) zero or a correlation is +/-1."""
        f = self.devfun.factor
        for lam in f.lambdas_of(self.solution.theta):
            if np.any(np.abs(np.diag(lam)) < self.control.singular_tol):
                return True
        return False

    # ---- fitted values and residuals ---------------------------------------------------------------
    def _linear_predictor(self, with_re: bool = True, beta: np.ndarray | None = None,
                          b: list[np.ndarray] | None = None, add_offset: bool = True) -> np.ndarray:
        """X beta (+ Z b) (+ offset) for the rows used, formed in row blocks for large data.

        ``beta`` and ``b`` default to the estimates; a design read in row blocks is never held whole.
        """
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
        if add_offset and self.offset is not None:
            eta += self.offset
        return eta

    @cached_property
    def fitted(self) -> pd.Series:
        """Fitted values (fixed + random effects + offset) for the rows used."""
        return pd.Series(self._linear_predictor(), index=self.data.index, name="fitted")

    @cached_property
    def residuals(self) -> pd.Series:
        """Response residuals, y - fitted."""
        return pd.Series(self.design.y - self.fitted.to_numpy(), index=self.data.index, name="residuals")

    def resid(self, type: str = "response") -> pd.Series:  # noqa: A002 - lme4's argument name
        """Residuals of a kind: ``"response"`` or ``"pearson"`` (scaled by sigma and prior weights)."""
        r = self.residuals
        if type == "response":
            return r
        if type == "pearson":
            w = self.weights
            scaled = r.to_numpy() * (np.sqrt(w) if w is not None else 1.0) / self.sigma
            return pd.Series(scaled, index=r.index, name="pearson")
        raise ValueError(f"type={type!r}: use 'response' or 'pearson'")

    # ---- derived fits -----------------------------------------------------------------------------
    def refit(self, new_y: Any) -> LmerResult:
        """Fit the same model to a new response (lme4's ``refit``), reusing the design.

        Parameters
        ----------
        new_y : array-like
            One value per row used.
        """
        from ..api import fit_design

        y = np.asarray(new_y, dtype=float).ravel()
        if y.shape != (self.nobs,):
            raise ValueError(f"new_y must have one value per row used ({self.nobs}), got shape {y.shape}")
        if not np.isfinite(y).all():
            raise ValueError("new_y has missing or infinite values")
        return fit_design(self.design.with_response(y), reml=self.reml, control=self.control,
                          cross=self.devfun.cp.with_response(y - (self.offset if self.offset is not None else 0.0),
                                                               self.design.fixed.matrix),
                          data_name=self.data_name)

    def update(self, formula: str | None = None, data: Any = None, reml: bool | None = None,
               control: LmerControl | None = None) -> LmerResult:
        """Refit with some of formula, data, REML/ML or control changed (lme4's ``update``).

        Examples
        --------
        >>> import lmmflow as lf
        >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
        >>> round(m.update(reml=False).objective, 3)
        1751.939
        """
        from ..api import fit_design, lmer

        reml = self.reml if reml is None else reml
        control = control or self.control
        if formula is None and data is None:
            return fit_design(self.design, reml=reml, control=control, cross=self.devfun.cp,
                              data_name=self.data_name)
        if data is None:
            raise ValueError("update(formula=...) needs data= as well: the result keeps only the columns it used")
        return lmer(formula or self.formula, data, reml=reml, control=control)

    # ---- prediction and simulation ------------------------------------------------------------------
    def predict(self, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = True,
                interval: str | None = None, level: float = 0.95) -> pd.Series | pd.DataFrame:
        """Predictions for the fitted rows or new data.

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows to predict; default the rows used in the fit.
        re_form : None, "~0" or False
            ``None`` includes all random effects (unit-level predictions); ``"~0"``, ``"NA"`` or ``False``
            gives population-level predictions (fixed effects only).
        allow_new_levels : bool
            Levels not seen in the fit get the population-level prediction (random effect 0); with
            ``False`` they raise.
        interval : {None, "confidence", "prediction"}
            Add an interval (see :func:`lmmflow.inference.predict_interval`).
        level : float

        Returns
        -------
        pandas.Series, or a DataFrame with fit, lower, upper when ``interval`` is given.
        """
        from .predict import predict

        return predict(self, newdata, re_form=re_form, allow_new_levels=allow_new_levels,
                       interval=interval, level=level)

    def simulate(self, nsim: int = 1, seed: int | None = None, use_u: bool = False) -> pd.DataFrame:
        """Simulate responses from the fitted model (lme4's ``simulate``).

        Parameters
        ----------
        nsim : int
        seed : int, optional
        use_u : bool
            Keep the random effects at their conditional modes (only new residuals) instead of drawing them.

        Returns
        -------
        pandas.DataFrame
            One column per simulation (``sim_1``, ...), one row per observation used.
        """
        from .predict import simulate

        return simulate(self, nsim=nsim, seed=seed, use_u=use_u)

    # ---- inference front doors ----------------------------------------------------------------------
    def coef_table(self, ddf: str = "satterthwaite") -> pd.DataFrame:
        """Fixed effects with standard errors, df, t and p values.

        Parameters
        ----------
        ddf : {"satterthwaite", "kenward-roger", "residual", "none"}
            Satterthwaite's (default, as lmerTest) or Kenward-Roger's (REML fits) approximation, the
            residual df (n - p), or no df at all (normal p-values, ``df`` infinite).

        Returns
        -------
        pandas.DataFrame
            Indexed by coefficient: estimate, std_error, df, t_value, p_value.
        """
        from ..inference.ttests import coef_table

        return coef_table(self, ddf=ddf)

    def confint(self, method: str = "profile", level: float = 0.95, parm: Any = None, **kwargs: Any) -> pd.DataFrame:
        """Confidence intervals with lme4's parameter names.

        Parameters
        ----------
        method : {"profile", "wald", "boot"}
        level : float
        parm : list of str, "theta_", "beta_", or None (all)
        **kwargs
            Passed to the method (``nsim``, ``seed``, ``boot_type`` for the bootstrap).

        Returns
        -------
        pandas.DataFrame
            Indexed by parameter (``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``, ``sigma``,
            then fixed effects): lower, upper.
        """
        from ..inference.intervals import confint

        return confint(self, method=method, level=level, parm=parm, **kwargs)

    def summary(self, ddf: str = "satterthwaite", correlation: bool | None = None) -> Summary:
        """lme4's summary layout (with lmerTest's df and p-values unless ``ddf="none"``)."""
        from .printing import Summary

        return Summary(self, ddf=ddf, correlation=correlation)

    def __repr__(self) -> str:
        from .printing import short_repr

        return short_repr(self)

    def _repr_html_(self) -> str:
        """The model as HTML tables (Jupyter shows this instead of the text repr)."""
        from .html import model_html

        return model_html(self)


from .printing import Summary  # noqa: E402  (type used in annotations)
