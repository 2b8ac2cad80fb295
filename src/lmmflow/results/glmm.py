"""The fitted generalized linear mixed model (lme4's ``glmerMod``): :class:`GlmerResult`.

A result holds the design, the family and the estimates at the optimum (:class:`GlmmSolution`, handed over by the
fit driver in :mod:`lmmflow.glmm_api`); it never calls the code that built it except through the ``refitter`` it
was given (``refit``, ``update``).  The accessors shared with linear mixed models live in
:class:`lmmflow.results.base.MixedModelResult`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from dataclasses import replace as _dc_replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..design import ModelDesign
from .base import MixedModelResult

__all__ = ["GlmerResult", "GlmmSolution"]


@dataclass(frozen=True)
class GlmmSolution:
    """The estimates of a GLMM at its optimum (what the fit driver hands to :class:`GlmerResult`).

    Attributes
    ----------
    theta : numpy.ndarray
        Relative covariance parameters, lme4's order.
    beta : numpy.ndarray
        Fixed effects.
    b : list of numpy.ndarray
        Conditional modes per term (levels x effects), on the scale of the random effects.
    cond_cov : list of numpy.ndarray
        Conditional covariance of each level's random effects per term (levels x p x p), lme4's ``condVar``:
        Lambda (L'L)^-1 Lambda' with L the Cholesky factor of Lambda'Z'WZ Lambda + I at the modes.
    objective : float
        -2 log-likelihood (Laplace, quadrature, or Laplace at the nagq = 0 estimates).
    vcov : numpy.ndarray
        Covariance of the fixed-effect estimates.
    lambdas : list of numpy.ndarray
        Each term's relative covariance factor (p x p lower triangular).
    """

    theta: np.ndarray
    beta: np.ndarray
    b: list[np.ndarray]
    cond_cov: list[np.ndarray]
    objective: float
    vcov: np.ndarray
    lambdas: list[np.ndarray] = field(default_factory=list)


def _opt_copy(o: Any) -> Any:
    """An optimizer record the caller may change (its arrays copied)."""
    if o is None:
        return None
    arrays = {k: np.array(getattr(o, k), copy=True) for k in ("theta0", "theta", "gradient", "hessian")
              if getattr(o, k, None) is not None}
    log = tuple((np.array(t, copy=True), f) for t, f in getattr(o, "log", ()))
    try:
        return _dc_replace(o, **arrays, log=log)
    except TypeError:  # not an OptSummary
        return o


class GlmerResult(MixedModelResult):
    """A fitted generalized linear mixed model (binomial or Poisson), as lme4's ``glmer`` returns.

    Created by :func:`lmmflow.glmer`; estimates are read-only properties, and what they return is the
    caller's copy.

    Attributes
    ----------
    objective, deviance : float
        -2 log-likelihood at the optimum (the Laplace approximation for ``nagq=1``; adaptive Gauss-Hermite
        quadrature for ``nagq > 1``, with the saturated model's term; for ``nagq=0`` the Laplace approximation
        at its estimates).
    loglik, aic, bic, df_resid : float
        As lme4's ``logLik``, ``AIC``, ``BIC``, ``df.residual``.
    family, link : str
        ``"binomial"`` / ``"poisson"`` and the link's name.
    nagq : int
    stages : tuple of OptSummary
        Each optimization stage's record (``optinfo`` is the last).
    theta, fixef, vcov, varcorr, ranef, ranef_sd, coef, ngroups, nobs, is_singular, optinfo
        As for :class:`lmmflow.LmerResult` (``varcorr`` has no Residual row: sigma is 1).
    fitted : pandas.Series
        On the response scale (probabilities, expected counts).
    residuals : pandas.Series
        Deviance residuals (lme4's default for glmer); ``resid(type=...)`` for the others.

    Examples
    --------
    >>> import lmmflow as lf
    >>> df = lf.load_dataset("cbpp")
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", df, family="binomial")
    >>> round(g.objective, 2), g.family, g.link
    (184.05, 'binomial', 'logit')
    """

    model_kind = "glmm"

    def __init__(self, design: ModelDesign, family: Any, solution: GlmmSolution, nagq: int, optinfo: Any,
                 control: Any = None, data_name: str = "data",
                 refitter: Callable[..., GlmerResult] | None = None, fit_args: dict[str, Any] | None = None,
                 stages: tuple[Any, ...] = ()):
        self.design = design
        self._family = family
        self.solution = solution
        self.nagq = int(nagq)
        self._optinfo = optinfo
        self.control = control
        self.data_name = data_name
        self._refitter = refitter
        self._fit_args = dict(fit_args or {})
        self._stages = tuple(stages)

    # ---- basic facts ------------------------------------------------------------------------------
    @property
    def family(self) -> str:
        """The family's name: ``"binomial"`` or ``"poisson"``."""
        return str(self._family.name)

    @property
    def link(self) -> str:
        """The link's name: ``"logit"``, ``"probit"``, ``"cloglog"``, ``"log"``..."""
        return str(self._family.link)

    @property
    def family_object(self) -> Any:
        """The family object (links, variance, deviance residuals), as ``lf.binomial(link)`` builds it."""
        return self._family

    @property
    def reml(self) -> bool:
        """False: a GLMM is fitted by maximum likelihood."""
        return False

    @property
    def optinfo(self) -> Any:
        """The last optimization stage's record (a copy; lme4's ``optinfo``): its ``theta`` holds (theta, beta)."""
        return _opt_copy(self._optinfo)

    @property
    def stages(self) -> tuple[Any, ...]:
        """The optimizer's record of each stage (lme4's two: theta with beta in PIRLS, then (theta, beta))."""
        return tuple(_opt_copy(o) for o in self._stages)

    @property
    def theta(self) -> np.ndarray:
        """Relative covariance parameters (lme4's order)."""
        return np.array(self.solution.theta, dtype=float, copy=True)

    @property
    def objective(self) -> float:
        """-2 log-likelihood at the optimum."""
        return float(self.solution.objective)

    @property
    def npar(self) -> int:
        """Number of parameters: fixed effects and covariance parameters (no residual variance)."""
        return self.design.fixed.p + len(self.solution.theta)

    @property
    def sigma(self) -> float:
        """1.0: binomial and Poisson families have no scale parameter (lme4's ``sigma(m)``)."""
        return 1.0

    @property
    def y(self) -> np.ndarray:
        """The response as the family sees it: proportions of successes (binomial) or counts (a copy)."""
        return np.array(self.design.y, dtype=float, copy=True)

    @property
    def prior_weights(self) -> np.ndarray:
        """Prior weights of the rows used (binomial: the trials; 1 when none were given)."""
        w = self.design.frame.weights
        return np.ones(self.nobs) if w is None else np.array(w, dtype=float, copy=True)

    # ---- estimates ----------------------------------------------------------------------------------
    @cached_property
    def _fixef(self) -> pd.Series:
        return pd.Series(np.array(self.solution.beta, dtype=float), index=self.fixef_names, name="estimate")

    @cached_property
    def _vcov(self) -> pd.DataFrame:
        return pd.DataFrame(np.array(self.solution.vcov, dtype=float), index=self.fixef_names,
                            columns=self.fixef_names)

    @cached_property
    def lambdas(self) -> list[np.ndarray]:
        """Each term's relative covariance factor Lambda (p x p lower triangular) at theta."""
        if self.solution.lambdas:
            return [np.array(lam, dtype=float) for lam in self.solution.lambdas]
        from ..core.crossprod import theta_layout

        slices, positions, _ = theta_layout(self.design.blocks())
        out = []
        for t, sl, (r, c) in zip(self.design.terms, slices, positions):
            lam = np.zeros((t.p, t.p))
            lam[r, c] = self.solution.theta[sl]
            out.append(lam)
        return out

    @cached_property
    def re_covariances(self) -> list[np.ndarray]:
        """Covariance matrix of each term's random effects, Lambda Lambda' (sigma is 1)."""
        return [lam @ lam.T for lam in self.lambdas]

    @cached_property
    def _varcorr(self) -> pd.DataFrame:
        from .tables import varcorr_frame

        return varcorr_frame(self)

    @cached_property
    def cond_cov_blocks(self) -> list[np.ndarray]:
        """Conditional covariance matrices of each level's random effects per term (levels x p x p)."""
        return [np.array(c, dtype=float) for c in self.solution.cond_cov]

    @cached_property
    def cond_sd_blocks(self) -> list[np.ndarray]:
        """Conditional standard deviations of the random effects per term (levels x p), lme4's ``condVar``."""
        return [np.sqrt(np.maximum(np.diagonal(c, axis1=1, axis2=2), 0.0)) for c in self.cond_cov_blocks]

    @cached_property
    def is_singular(self) -> bool:
        """True on the boundary: a term's Cholesky factor has a (nearly) zero diagonal (lme4's ``isSingular``)."""
        tol = float(getattr(self.control, "singular_tol", 1e-4) or 1e-4)
        return any(bool(np.any(np.abs(np.diag(lam)) < tol)) for lam in self.lambdas)

    # ---- the PIRLS system at the optimum ------------------------------------------------------------
    @property
    def working_weights(self) -> np.ndarray:
        """The Fisher working weights at the modes, w (dmu/deta)^2 / V(mu) (lme4's ``weights(m, "working")``).

        Examples
        --------
        >>> import lmmflow as lf
        >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
        ...              family="binomial")
        >>> round(float(g.working_weights[0]), 4)
        2.985
        """
        fam = self._family
        me = np.asarray(fam.mu_eta(self._eta), dtype=float)
        var = np.asarray(fam.variance(self._mu), dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = self.prior_weights * me * me / var
        return np.where(np.isfinite(w), w, 0.0)

    def working_factor(self) -> Any:
        """A blocked Cholesky factor of the final PIRLS system at theta (a new one on each call).

        The penalized weighted least squares problem of the last PIRLS step: Lambda'Z'WZ Lambda + I, Lambda'Z'WX
        and X'WX with W the :attr:`working_weights` (lme4's ``L``, ``RZX`` and ``RX`` at convergence).  What the
        prediction standard errors and the hat values are computed from.

        Examples
        --------
        >>> import lmmflow as lf
        >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
        ...              family="binomial")
        >>> g.working_factor().LXX.shape
        (5, 5)
        """
        from ..core import CrossProducts, DevianceFunction

        # the working response of that step (eta less offset plus the working residuals) completes the system
        z = self._eta - (self.offset if self.offset is not None else 0.0) + np.nan_to_num(self._resid_values("working"))
        cp = CrossProducts.build(self.design.blocks(), self.design.X, z, self.working_weights, center=False)
        return DevianceFunction(cp, reml=False).factor_at(self.solution.theta)

    # ---- fitted values and residuals ---------------------------------------------------------------
    @cached_property
    def _eta(self) -> np.ndarray:
        return self._linear_predictor()

    @cached_property
    def _mu(self) -> np.ndarray:
        return np.asarray(self._family.linkinv(self._eta), dtype=float)

    @property
    def linear_predictor(self) -> pd.Series:
        """eta = X beta + Z b + offset for the rows used (a copy)."""
        return self._na_pad(pd.Series(self._eta.copy(), index=self.design.frame.data.index, name="eta"))

    @property
    def fitted(self) -> pd.Series:
        """Fitted values on the response scale (probabilities, expected counts) for the rows used (a copy)."""
        return self._na_pad(pd.Series(self._mu.copy(), index=self.design.frame.data.index, name="fitted"))

    @property
    def residuals(self) -> pd.Series:
        """Deviance residuals (lme4's default ``residuals`` for glmer)."""
        return self.resid("deviance")

    def resid(self, type: str = "deviance") -> pd.Series:  # noqa: A002 - lme4's name
        """Residuals as lme4's ``residuals(m, type)`` for glmer.

        Parameters
        ----------
        type : {"deviance", "pearson", "response", "working"}
            ``"deviance"``: sign(y - mu) sqrt(d_i) with d_i the family's deviance residual (lme4's default);
            ``"pearson"``: (y - mu) sqrt(w) / sqrt(V(mu)); ``"response"``: y - mu; ``"working"``:
            (y - mu) / (dmu/deta), on the link scale.  y is the proportion of successes for a binomial
            response with trials.

        Returns
        -------
        pandas.Series
            One per row used, indexed as the data.

        Examples
        --------
        >>> import lmmflow as lf
        >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
        ...              family="binomial")
        >>> round(float(g.resid("pearson").iloc[0]), 4), round(float(g.resid("response").iloc[0]), 4)
        (-1.3399, -0.1654)
        """
        return self._na_pad(pd.Series(self._resid_values(type), index=self.design.frame.data.index, name=type))

    def _resid_values(self, type: str) -> np.ndarray:  # noqa: A002
        """Residuals of the rows used (not padded), as :meth:`resid`."""
        kinds = ("deviance", "pearson", "response", "working")
        if type not in kinds:
            raise ValueError(f"type={type!r}: use one of {kinds} (lme4's residual types for glmer)")
        y, mu, w = self.design.y, self._mu, self.prior_weights
        fam = self._family
        if type == "response":
            r = y - mu
        elif type == "working":
            r = (y - mu) / np.asarray(fam.mu_eta(self._eta), dtype=float)
        elif type == "pearson":
            with np.errstate(divide="ignore", invalid="ignore"):
                r = (y - mu) * np.sqrt(w) / np.sqrt(np.asarray(fam.variance(mu), dtype=float))
        else:
            d = np.asarray(fam.dev_resids(y, mu, w), dtype=float)
            r = np.sign(y - mu) * np.sqrt(np.maximum(d, 0.0))
        return np.array(r, dtype=float)

    # ---- prediction and simulation ------------------------------------------------------------------
    def predict(self, newdata: Any = None, re_form: Any = None, type: str = "link",  # noqa: A002 - lme4's name
                allow_new_levels: bool = False, na_action: str = "na.pass", se_fit: bool = False,
                interval: str | None = None, level: float = 0.95) -> pd.Series | pd.DataFrame:
        """Predictions for the fitted rows or new data (lme4's ``predict.merMod`` for glmer).

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows to predict (default: the rows used).  ``scale()`` in the formula uses the fit's mean and SD;
            the formula's ``offset(...)`` terms are recomputed from ``newdata``, as lme4 does; an offset given
            as values to ``glmer(offset=)`` is left out for ``newdata`` (as lme4), with a warning.
        re_form : None, "~0", NA or a formula of random terms
            The random effects included (lme4's ``re.form``): ``None`` all, ``"~0"`` none.
        type : {"link", "response"}
            The linear predictor (lme4's default) or the mean (probabilities, expected counts).
        allow_new_levels : bool
            Levels not seen in the fit get random effect 0; with ``False`` (lme4's default) they raise.
        na_action : {"na.pass", "na.omit", "na.exclude", "na.fail"}
            Rows of ``newdata`` with missing values.
        se_fit : bool
            Return ``fit`` and ``se_fit``.  With ``re_form="~0"`` the SE is sqrt(x' V x) with V the fit's
            vcov (emmeans' and ``insight::get_predicted``'s); with random effects included, it is the joint
            covariance of the fixed and random estimates from the final PIRLS system (as
            :meth:`lmmflow.LmerResult.predict` and lme4 >= 1.1-35, with vcov in place of the RX-based block);
            a level the fit has not seen adds its random effect's variance.  For ``type="response"`` the SE is
            the delta method's |dmu/deta| times the link-scale SE.  See
            :mod:`lmmflow.inference.glmm_prediction`.
        interval : {None, "confidence"}
            A confidence interval for the prediction, formed on the link scale (eta -+ z SE) and transformed by
            the inverse link for ``type="response"``.  ``"prediction"`` is refused: a binomial or Poisson
            response has no normal prediction interval (draw responses with :meth:`simulate` instead).
        level : float
            Confidence level of ``interval``.

        Returns
        -------
        pandas.Series, or a DataFrame (fit, se_fit; with ``interval`` fit, lower, upper, se_fit).

        Examples
        --------
        >>> import lmmflow as lf
        >>> df = lf.load_dataset("cbpp")
        >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", df, family="binomial")
        >>> g.predict(df.head(2), re_form="~0", type="response").round(4).tolist()
        [0.198, 0.0839]
        >>> g.predict(df.head(2), type="response", interval="confidence").round(3).to_numpy().tolist()
        [[0.308, 0.177, 0.48, 0.079], [0.142, 0.068, 0.272, 0.051]]
        """
        from .predict import predict

        if type not in ("link", "response"):
            raise ValueError(f"type={type!r}: use 'link' (the linear predictor) or 'response' (the mean)")
        if se_fit or interval is not None:
            from ..inference.glmm_prediction import glmm_predict_interval

            return glmm_predict_interval(self, newdata, re_form=re_form, type=type, interval=interval, level=level,
                                         allow_new_levels=allow_new_levels, na_action=na_action)
        eta = predict(self, newdata, re_form=re_form, allow_new_levels=allow_new_levels, na_action=na_action)
        if type == "link":
            return eta
        vals = eta.to_numpy(dtype=float)
        ok = np.isfinite(vals)
        out = np.full(len(vals), np.nan)
        out[ok] = np.asarray(self._family.linkinv(vals[ok]), dtype=float)
        return pd.Series(out, index=eta.index, name="predicted")

    def simulate(self, nsim: int = 1, seed: Any = None, newdata: Any = None, re_form: Any = "~0",
                 allow_new_levels: bool = False, newparams: dict[str, Any] | None = None) -> pd.DataFrame:
        """Simulate responses from the fitted model (lme4's ``simulate`` for glmer).

        The random effects not conditioned on are drawn from N(0, Lambda Lambda'), then each response from
        the family at mu = linkinv(eta): binomial proportions of successes out of the prior weights (the
        trials; 0/1 for a binary response), Poisson counts.

        Parameters
        ----------
        nsim : int
        seed : int or numpy.random.Generator, optional
        newdata : DataFrame, optional
            Rows to simulate (trials 1 for a binomial family).
        re_form : "~0" (default), None or a formula of random terms
            The random terms conditioned on (their modes are used); the default draws every term's.
        allow_new_levels : bool
        newparams : dict, optional
            ``beta`` and/or ``theta`` replacing the estimates.

        Returns
        -------
        pandas.DataFrame
            One column per simulation (``sim_1``, ...).

        Examples
        --------
        >>> import lmmflow as lf
        >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
        ...              family="binomial")
        >>> g.simulate(3, seed=1).shape
        (56, 3)
        """
        from .predict import simulate

        if newparams and newparams.get("sigma") is not None:
            raise ValueError("newparams: a binomial or Poisson GLMM has no sigma; give beta and/or theta")
        return simulate(self, nsim=nsim, seed=seed, newdata=newdata, newparams=newparams, re_form=re_form,
                        allow_new_levels=allow_new_levels, family=self._family)

    # ---- derived fits -------------------------------------------------------------------------------
    def _need_refitter(self) -> Callable[..., GlmerResult]:
        if self._refitter is None:
            raise ValueError("this result was built without its fit driver: refit it with lf.glmer")
        return self._refitter

    def refit(self, new_y: Any) -> GlmerResult:
        """Fit the same model to a new response (lme4's ``refit``), reusing the design.

        Parameters
        ----------
        new_y : array-like or pandas.Series
            One value per row used, on the scale the family sees (0/1, proportions of successes out of the
            same trials, counts), e.g. a column of :meth:`simulate`.  A Series is aligned on the data's index.

        Examples
        --------
        >>> import lmmflow as lf
        >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
        ...              family="binomial")
        >>> round(g.refit(g.y).objective, 2)
        184.05
        """
        from ..design import DataError

        y = self._new_response(new_y)
        if self.family == "binomial" and ((y < 0) | (y > 1)).any():
            raise DataError("new_y for a binomial GLMM holds proportions of successes in [0, 1] (as simulate() "
                            "returns them), not counts")
        if self.family == "poisson" and (y < 0).any():
            raise DataError("new_y for a Poisson GLMM holds counts >= 0")
        return self._need_refitter()(self.design.with_response(y), **self._fit_args)

    def update(self, formula: str | None = None, data: Any = None, nagq: int | None = None,
               control: Any = None, weights: Any = None, offset: Any = None, **kwargs: Any) -> GlmerResult:
        """Refit with some of formula, data, nagq or control changed (lme4's ``update``).

        Examples
        --------
        >>> import lmmflow as lf
        >>> df = lf.load_dataset("cbpp")
        >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", df, family="binomial")
        >>> g0 = g.update("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", data=df)
        >>> g0.npar
        2
        """
        from ..design import lformula

        args = dict(self._fit_args)
        if nagq is not None:
            args["nagq"] = nagq
        if control is not None:
            args["control"] = control
        args.update(kwargs)
        frame = self.design.frame
        if formula is None and data is None and weights is None and offset is None:
            return self._need_refitter()(self.design, **args)
        if data is None:
            raise ValueError("update(formula=...) needs data= as well: the result keeps only the columns it used")
        if weights is None and frame.weights is not None and self.design.response is not None \
                and self.design.response.kind != "cbind":
            raise ValueError("this fit has prior weights: pass weights= (a column name, or one value per row of the "
                             "new data) to update() to refit on other data")
        if offset is None and frame.offset_column is not None:
            offset = frame.offset_column
        elif offset is None and frame.offset_values:
            raise ValueError("this fit's offset= was given as values: pass offset= (a column name, or one value per "
                             "row of the new data) to update() to refit on other data")
        design = lformula(formula or self.formula, data, weights=weights, offset=offset,
                          contrasts=dict(self.design.fixed.contrasts) or None, na_action=frame.na_action,
                          family=self._family)
        return self._need_refitter()(design, **args)

    # ---- inference front doors ----------------------------------------------------------------------
    def coef_table(self) -> pd.DataFrame:
        """Fixed effects with Wald z tests (lme4's ``summary(m)$coefficients`` for glmer).

        Returns
        -------
        pandas.DataFrame
            Indexed by coefficient: estimate, std_error, z_value, p_value.

        Examples
        --------
        >>> import lmmflow as lf
        >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
        ...              family="binomial")
        >>> list(g.coef_table().columns)
        ['estimate', 'std_error', 'z_value', 'p_value']
        """
        from scipy import stats

        est = self._fixef.to_numpy()
        se = np.sqrt(np.diag(self._vcov.to_numpy()))
        z = est / se
        p = 2.0 * stats.norm.sf(np.abs(z))
        return pd.DataFrame({"estimate": est, "std_error": se, "z_value": z, "p_value": p}, index=self.fixef_names)

    def confint(self, method: str = "wald", level: float = 0.95, parm: Any = None, **kwargs: Any) -> pd.DataFrame:
        """Confidence intervals (lme4's ``confint`` for glmer).

        Parameters
        ----------
        method : {"wald", "profile", "boot"}
            ``"wald"``: fixed effects, estimate +/- z SE (lme4 gives no Wald interval for the variance
            parameters).  ``"profile"`` and ``"boot"`` are computed by :mod:`lmmflow.inference` where installed.
        level : float
        parm : list of str, optional
            Parameters to keep.
        **kwargs
            Passed to the method (``nsim``, ``seed`` for the bootstrap).

        Returns
        -------
        pandas.DataFrame
            Indexed by parameter: lower, upper.

        Examples
        --------
        >>> import lmmflow as lf
        >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
        ...              family="binomial")
        >>> g.confint().round(3).loc["(Intercept)"].tolist()
        [-1.854, -0.943]
        """
        from ..inference.glmm_intervals import glmm_confint

        return glmm_confint(self, method=method, level=level, parm=parm, **kwargs)

    def summary(self, correlation: bool | None = None) -> Any:
        """glmer's summary layout: family and link, AIC/BIC/logLik/deviance/df.resid, scaled (Pearson)
        residuals, random effects, fixed effects with z value and Pr(>|z|).

        Examples
        --------
        >>> import lmmflow as lf
        >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
        ...              family="binomial")
        >>> print(str(g.summary()).splitlines()[0])
        Generalized linear mixed model fit by maximum likelihood (Laplace Approximation) ['glmerMod']
        """
        from .glmm_printing import GlmmSummary

        return GlmmSummary(self, correlation=correlation)

    def __repr__(self) -> str:
        from .glmm_printing import glmm_short_repr

        return glmm_short_repr(self)

    def _repr_html_(self) -> str:
        """The model as HTML tables (Jupyter shows this instead of the text repr)."""
        from .glmm_printing import glmm_html

        return glmm_html(self)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_eta") and k != "_mu"}

