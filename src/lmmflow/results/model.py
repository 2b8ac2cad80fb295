"""The fitted linear mixed model: an immutable result with lme4's accessors and statsmodels-like methods."""

from __future__ import annotations

from dataclasses import replace as _dc_replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..control import LmerControl
from ..core import DevianceFunction, ReBlock, Solution
from ..design import ModelDesign
from ..optim import OptSummary
from .base import MixedModelResult, value_copy

__all__ = ["LmerResult", "make_blocks"]

_value = value_copy  # (the name other modules and older code use)


def make_blocks(design: ModelDesign) -> list[ReBlock]:
    """The engine's view of a design's random-effects terms."""
    return design.blocks()


class LmerResult(MixedModelResult):
    """A fitted linear mixed model.

    Created by :func:`lmmflow.lmer`; all estimates are read-only properties computed from the
    optimum (and cached).  Methods that change something (``update``, ``refit``) return new results.
    Results are values: what an accessor returns (``fixef``, ``vcov``, ``ranef``, ``fitted``, ``data``,
    ``optinfo``...) is the caller's copy, so changing it changes nothing in the model.

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

    model_kind = "lmm"

    def __init__(self, design: ModelDesign, devfun: DevianceFunction, optinfo: OptSummary,
                 control: LmerControl, data_name: str = "data"):
        self.design = design
        self.devfun = devfun
        self._optinfo = optinfo
        self.control = control
        self.data_name = data_name
        self.solution: Solution = devfun.solve(optinfo.theta)

    # ---- basic facts ------------------------------------------------------------------------------

    @property
    def reml(self) -> bool:
        """True for a REML fit."""
        return self.devfun.reml

    @property
    def optinfo(self) -> OptSummary:
        """The optimizer's record (a copy)."""
        o = self._optinfo
        return _dc_replace(o, theta0=np.array(o.theta0, copy=True), theta=np.array(o.theta, copy=True),
                           gradient=None if o.gradient is None else np.array(o.gradient, copy=True),
                           hessian=None if o.hessian is None else np.array(o.hessian, copy=True),
                           log=tuple((np.array(t, copy=True), f) for t, f in o.log))

    @property
    def theta(self) -> np.ndarray:
        """Relative covariance parameters, named by ``m.design.theta_names()``.

        For lme4's bars (and ``us``/``diag`` terms) lme4's theta: the free entries of each term's
        lower-triangular relative covariance factor, column by column.  For a structured term its own
        parameters: ``cs`` the SDs relative to sigma and the common correlation, ``homcs``/``ar1`` one relative
        SD and the correlation; lme4's theta is ``m.devfun.pmap.theta(m.theta)``
        (:class:`~lmmflow.core.parammap.ParameterMap`).
        """
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
    def sigma(self) -> float:
        """Residual standard deviation."""
        return float(self.solution.sigma)

    # ---- fixed effects ----------------------------------------------------------------------------

    @cached_property
    def _fixef(self) -> pd.Series:
        return pd.Series(np.array(self.solution.beta, dtype=float), index=self.fixef_names, name="estimate")

    @cached_property
    def _vcov(self) -> pd.DataFrame:
        v = self.sigma ** 2 * self.solution.vcov_unscaled
        return pd.DataFrame(v, index=self.fixef_names, columns=self.fixef_names)

    # ---- random effects ---------------------------------------------------------------------------
    @cached_property
    def re_covariances(self) -> list[np.ndarray]:
        """Covariance matrix of each term's random effects, sigma^2 lambda lambda'."""
        lams = self.devfun.factor.lambdas_of(self.solution.theta)
        return [self.sigma ** 2 * lam @ lam.T for lam in lams]

    @cached_property
    def _varcorr(self) -> pd.DataFrame:
        from .tables import varcorr_frame

        return varcorr_frame(self)

    @cached_property
    def cond_sd_blocks(self) -> list[np.ndarray]:
        """Conditional standard deviations of the random effects per term (nlevels x p)."""
        f = self.devfun.factor_at(self.solution.theta)  # its own: the result's factor is never moved
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
        f = self.devfun.factor_at(self.solution.theta)
        blocks = f.inverse_diag_blocks()
        lams = f.lambdas_of(self.solution.theta)
        return [self.sigma ** 2 * np.einsum("pq,iqr,sr->ips", lam, V, lam) for V, lam in zip(blocks, lams)]

    @cached_property
    def is_singular(self) -> bool:
        """True when the fit is on the boundary: a variance is (nearly) zero or a correlation is +/-1."""
        f = self.devfun.factor
        for lam in f.lambdas_of(self.solution.theta):
            if np.any(np.abs(np.diag(lam)) < self.control.singular_tol):
                return True
        return False

    # ---- fitted values and residuals ---------------------------------------------------------------

    @cached_property
    def _fitted(self) -> pd.Series:
        return pd.Series(self._linear_predictor(), index=self.design.frame.data.index, name="fitted")

    @property
    def fitted(self) -> pd.Series:
        """Fitted values (fixed + random effects + offset) for the rows used, a copy (with
        ``na_action="na.exclude"``, for every row of the data, NaN where a value was missing, as R's ``fitted``)."""
        return self._na_pad(_value(self._fitted))

    @cached_property
    def _residuals(self) -> pd.Series:
        return pd.Series(self.design.y - self._fitted.to_numpy(), index=self.design.frame.data.index,
                         name="residuals")

    @property
    def residuals(self) -> pd.Series:
        """Response residuals, y - fitted, a copy (padded as ``fitted`` for ``na_action="na.exclude"``)."""
        return self._na_pad(_value(self._residuals))

    def resid(self, type: str = "response", scaled: bool = False) -> pd.Series:  # noqa: A002 - lme4's name
        """Residuals as lme4's ``residuals(m, type, scaled)``.

        Parameters
        ----------
        type : {"response", "working", "pearson", "deviance", "scaled"}
            ``"response"`` and ``"working"``: y - fitted.  ``"pearson"`` and ``"deviance"``: the response
            residuals times the square root of the prior weights, i.e. over the prior-weight SD
            (lme4's ``wtres``; NOT divided by sigma; equal to the response residuals without weights).
            ``"scaled"``: the response residuals over sigma (lme4's ``residuals(m, scaled = TRUE)``).
        scaled : bool
            Divide by sigma (lme4's ``scaled = TRUE``; ``resid("pearson", scaled=True)`` are the "scaled
            residuals" of ``summary``).

        Returns
        -------
        pandas.Series
            One per row used, indexed as the data.

        Examples
        --------
        >>> import lmmflow as lf
        >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
        >>> round(float(m.resid("scaled").iloc[0]), 4), round(float(m.resid().iloc[0]), 4)
        (-0.1604, -4.1037)
        """
        r = self._residuals.to_numpy()
        kinds = ("response", "working", "pearson", "deviance", "scaled")
        if type not in kinds:
            raise ValueError(f"type={type!r}: use one of {kinds} (lme4's residual types; 'scaled' is r / sigma)")
        if type in ("pearson", "deviance"):
            w = self.design.frame.weights
            if w is not None:
                r = r * np.sqrt(w)
        if scaled or type == "scaled":
            r = r / self.sigma
        return self._na_pad(pd.Series(np.array(r, dtype=float), index=self._residuals.index, name=type))

    # ---- derived fits -----------------------------------------------------------------------------
    def refit(self, new_y: Any) -> LmerResult:
        """Fit the same model to a new response (lme4's ``refit``), reusing the design.

        Parameters
        ----------
        new_y : array-like or pandas.Series
            One value per row used: a numpy array by position; a Series aligned on the data's index (the
            rows the fit used are taken from it), never by position.
        """
        from .builders import builder

        y = self._new_response(new_y)
        builder("check_response")(y, "new_y")
        return builder("fit_design")(self.design.with_response(y), reml=self.reml, control=self.control,
                                     cross=self.devfun.cp.with_response(self.design.less_offset(y),
                                                                          self.design.fixed.matrix),
                                     data_name=self.data_name)

    def update(self, formula: str | None = None, data: Any = None, reml: bool | None = None,
               control: LmerControl | None = None, weights: Any = None, offset: Any = None) -> LmerResult:
        """Refit with some of formula, data, REML/ML or control changed (lme4's ``update``).

        A refit on other data keeps the fit's contrasts, ``na_action`` and an offset read from a column;
        prior weights, and an offset given as values, cannot be carried to other rows: pass ``weights=`` /
        ``offset=`` for the new data (an error says so otherwise).

        Examples
        --------
        >>> import lmmflow as lf
        >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
        >>> round(m.update(reml=False).objective, 3)
        1751.939
        """
        from .builders import builder

        fit_design, lmer = builder("fit_design"), builder("lmer")
        reml = self.reml if reml is None else reml
        control = control or self.control
        if formula is None and data is None:
            return fit_design(self.design, reml=reml, control=control, cross=self.devfun.cp,
                              data_name=self.data_name)
        if data is None:
            raise ValueError("update(formula=...) needs data= as well: the result keeps only the columns it used")
        frame = self.design.frame
        if weights is None and frame.weights is not None:
            raise ValueError("this fit has prior weights: pass weights= (a column name, or one value per row of the "
                             "new data) to update() to refit on other data")
        if offset is None and frame.offset_column is not None:
            offset = frame.offset_column
        elif offset is None and frame.offset_values:
            raise ValueError("this fit's offset= was given as values: pass offset= (a column name, or one value per "
                             "row of the new data) to update() to refit on other data")
        return lmer(formula or self.formula, data, reml=reml, control=control, weights=weights, offset=offset,
                    contrasts=dict(self.design.fixed.contrasts) or None, na_action=frame.na_action)

    # ---- prediction and simulation ------------------------------------------------------------------
    def predict(self, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = False,
                interval: str | None = None, level: float = 0.95, se_fit: bool = False,
                na_action: str = "na.pass") -> pd.Series | pd.DataFrame:
        """Predictions for the fitted rows or new data (lme4's ``predict.merMod``).

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows to predict; default the rows used in the fit.  The fit's offset is added: recomputed from
            ``newdata`` when it was given to ``lf.lmer`` as a column name; an offset given as values is
            dropped for ``newdata`` (as lme4 drops it), with a warning.
        re_form : None, "~0", NA, or a formula of random terms
            The random effects included, as lme4's ``re.form``: ``None`` all (unit-level predictions);
            ``"~0"``, ``"NA"``, ``np.nan`` or ``False`` none (population level); ``"~(1 | plate)"`` or
            ``"~(0 + Days | Subject)"`` only those terms' listed effects.  A term the model lacks is an error.
        allow_new_levels : bool
            Levels not seen in the fit get the population-level prediction (random effect 0); with
            ``False`` (lme4's default) they raise.
        interval : {None, "confidence", "prediction"}
            Add an interval (see :func:`lmmflow.inference.predict_interval`).
        level : float
        se_fit : bool
            Return ``fit`` and ``se_fit`` (lme4's ``se.fit=TRUE``: the joint covariance of the fixed and
            random estimates).
        na_action : {"na.pass", "na.omit", "na.exclude", "na.fail"}
            Rows of ``newdata`` with a missing value in a column the prediction reads: NaN ("na.pass", the
            default, and "na.exclude"), dropped ("na.omit") or an error naming the columns ("na.fail").
            A categorical fixed-effect level the fit never saw is always an error naming column and level.

        Returns
        -------
        pandas.Series, or a DataFrame (fit, se_fit; with ``interval`` fit, lower, upper, se_fit).

        Examples
        --------
        >>> import lmmflow as lf
        >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
        >>> m.predict(lf.load_dataset("sleepstudy").head(2), re_form="~(1 | Subject)").round(3).tolist()
        [253.664, 264.131]
        """
        from .predict import predict

        return predict(self, newdata, re_form=re_form, allow_new_levels=allow_new_levels,
                       interval=interval, level=level, se_fit=se_fit, na_action=na_action)

    def simulate(self, nsim: int = 1, seed: Any = None, newdata: Any = None, newparams: dict[str, Any] | None = None,
                 re_form: Any = "~0", allow_new_levels: bool = False, use_u: bool = False) -> pd.DataFrame:
        """Simulate responses from the fitted model (lme4's ``simulate.merMod``).

        ``y = X beta + Z b + offset + sigma e`` with ``b = sigma Lambda(theta) u``, ``u ~ N(0, I)`` drawn anew for
        the random terms not conditioned on, and ``e ~ N(0, 1/w)`` (prior weights; lme4 1.1 ignores them here).

        Parameters
        ----------
        nsim : int
        seed : int or numpy.random.Generator, optional
            The same seed gives the same draws.
        newdata : DataFrame, optional
            Rows to simulate (default: the rows used in the fit; no offset or weights are read from newdata).
        newparams : dict, optional
            Any of ``beta``, ``theta``, ``sigma`` replacing the estimates (see :func:`lmmflow.simulate`).
        re_form : "~0" (default), NA, None or a formula of random terms
            As lme4's ``re.form``, the random terms *conditioned on*: their conditional modes are used and the
            other terms' random effects are drawn anew.  The default (lme4's ``NA``) draws every term's;
            ``None`` conditions on all of them (only new residuals); ``"~(1 | Subject)"`` conditions on that term.
        allow_new_levels : bool
            Let ``newdata`` have levels not in the fit: their random effects are drawn from the fitted
            distribution (with them conditioned on, 0).  With ``False`` (lme4's default) they raise.
        use_u : bool
            lme4's ``use.u``: ``True`` is ``re_form=None``.

        Returns
        -------
        pandas.DataFrame
            One column per simulation (``sim_1``, ...), indexed as the rows simulated.

        Examples
        --------
        >>> import lmmflow as lf
        >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
        >>> m.simulate(2, seed=1).shape
        (180, 2)
        >>> exact = m.simulate(1, seed=1, re_form=None, newparams={"sigma": 0.0})["sim_1"]
        >>> bool((exact - m.fitted).abs().max() < 1e-9)
        True
        """
        from .predict import simulate

        return simulate(self, nsim=nsim, seed=seed, use_u=use_u, newdata=newdata, newparams=newparams,
                        re_form=re_form, allow_new_levels=allow_new_levels)

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
