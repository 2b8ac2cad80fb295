"""Confidence intervals for all parameters of a fit, with lme4's names: Wald, profile and bootstrap.

The parameters are, in lme4's order (``confint(m, oldNames = FALSE)``): for each random-effects term
the standard deviations and correlations in the order of theta (``sd_(Intercept)|Subject``,
``cor_Days.(Intercept)|Subject``, ``sd_Days|Subject``), then the residual standard deviation
``sigma``, then the fixed effects.  This module also holds the conversions between theta and that
standard-deviation / correlation scale that the profile and the bootstrap share.

With ``scale="vcov"`` the variance parameters are variances and covariances instead
(``var_(Intercept)|Subject``, ``cov_Days.(Intercept)|Subject``, ``var_Days|Subject``, ``var_Residual``),
and so are their intervals: a profile interval of a variance is the squared interval of its SD (the
profile is invariant to a monotone change of parameter), a covariance is profiled on its own, and
bootstrap intervals come from the replicates transformed to that scale.  An interval is never reported
on a scale other than the one asked for (broom.mixed's ``tidy(scales = "vcov", conf.int = TRUE)`` gives
SD-scale intervals next to variance estimates).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

if TYPE_CHECKING:
    from ..results.model import LmerResult

__all__ = ["all_parameter_names", "confint", "ran_pars_intervals", "sdcor_from_theta", "sdcor_to_vcov",
           "select_parameters", "theta_from_sdcor", "variance_layout", "variance_parameter_names", "wald_intervals"]

METHODS = ("profile", "wald", "boot")
SCALES = ("sdcor", "vcov")
RESIDUAL_VAR = "var_Residual"
"""The name of the residual variance (``sigma`` squared) on the ``vcov`` scale."""


# ---- names and the sd/cor scale ---------------------------------------------------------------------
def theta_positions(m: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each random-effects term, the (rows, cols) of lambda that theta's elements fill (lme4's order).

    An LMM reads them from its factor; a GLMM (no ``devfun``) from its design's blocks.
    """
    devfun = getattr(m, "devfun", None)
    if devfun is not None:
        return list(devfun.factor.positions)
    from ..core.crossprod import theta_layout

    return list(theta_layout(m.design.blocks())[1])


def variance_parameter_names(m: LmerResult) -> list[str]:
    """lme4's names of the covariance parameters, one per element of theta (``oldNames = FALSE``).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> variance_parameter_names(m)
    ['sd_(Intercept)|Subject', 'cor_Days.(Intercept)|Subject', 'sd_Days|Subject']
    """
    from ..results.tables import block_groups

    names = []
    for term, (rows, cols) in zip(m.design.terms, theta_positions(m)):
        groups = block_groups(term.group, len(term.blocks))
        block_of = {a: i for i, blk in enumerate(term.blocks) for a in blk}
        for r, c in zip(rows, cols):
            g = groups[block_of[int(r)]]
            if r == c:
                names.append(f"sd_{term.cnames[r]}|{g}")
            else:
                names.append(f"cor_{term.cnames[r]}.{term.cnames[c]}|{g}")
    return names


def check_scale(scale: str) -> str:
    """``"sdcor"`` or ``"vcov"`` (broom.mixed's ``scales`` values), or a ValueError."""
    s = str(scale).lower().replace("-", "").replace("_", "")
    if s not in SCALES:
        raise ValueError(f"scale={scale!r}: use 'sdcor' (standard deviations and correlations) or 'vcov' "
                         "(variances and covariances)")
    return s


def variance_layout(m: LmerResult) -> list[tuple[str, int, int]]:
    """For each element of theta: ``("sd", t, t)``, or ``("cor", i, j)`` with i, j the positions of its two SDs.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> variance_layout(m)
    [('sd', 0, 0), ('cor', 2, 0), ('sd', 2, 2)]
    """
    f = m.devfun.factor
    out: list[tuple[str, int, int]] = []
    for sl, (rows, cols) in zip(f.slices, f.positions):
        diag = {int(r): sl.start + k for k, (r, c) in enumerate(zip(rows, cols)) if r == c}
        for k, (r, c) in enumerate(zip(rows, cols)):
            t = sl.start + k
            out.append(("sd", t, t) if r == c else ("cor", diag[int(r)], diag[int(c)]))
    return out


def sdcor_to_vcov(layout: list[tuple[str, int, int]], values: np.ndarray) -> np.ndarray:
    """Variances, covariances and sigma^2 from SDs, correlations and sigma (the first ``len(layout) + 1`` columns).

    The remaining columns (fixed effects) are copied.  A covariance is 0 where one of its SDs is 0 (its
    correlation is then undefined, NaN, but the covariance is not).

    Parameters
    ----------
    layout : list
        From :func:`variance_layout`.
    values : numpy.ndarray
        ``(..., k)`` with ``k >= len(layout) + 1``: sd/cor in theta's order, sigma, anything else.

    Examples
    --------
    >>> sdcor_to_vcov([("sd", 0, 0), ("cor", 2, 0), ("sd", 2, 2)], np.array([2.0, 0.5, 3.0, 4.0, 7.0]))
    array([ 4.,  3.,  9., 16.,  7.])
    """
    v = np.asarray(values, dtype=float)
    out = v.copy()
    nt = len(layout)
    for t, (kind, i, j) in enumerate(layout):
        if kind == "sd":
            out[..., t] = v[..., t] ** 2
        else:
            prod = v[..., i] * v[..., j]
            with np.errstate(invalid="ignore"):
                out[..., t] = np.where(prod == 0, 0.0, v[..., t] * prod)
    out[..., nt] = v[..., nt] ** 2
    return out


def _vcov_name(name: str) -> str:
    if name == "sigma":
        return RESIDUAL_VAR
    if name.startswith("sd_"):
        return "var_" + name[3:]
    if name.startswith("cor_"):
        return "cov_" + name[4:]
    return name


def _positions(m: LmerResult) -> list[tuple[slice, np.ndarray, np.ndarray, int]]:
    f = m.devfun.factor
    return [(sl, rows, cols, b.p) for sl, (rows, cols), b in zip(f.slices, f.positions, f.cp.blocks)]


def sdcor_from_theta(layout: list[tuple[slice, np.ndarray, np.ndarray, int]], theta: np.ndarray,
                     sigma: np.ndarray | float) -> np.ndarray:
    """Standard deviations and correlations (theta's order) from theta and sigma, for one or many rows.

    Parameters
    ----------
    layout : list of (slice, rows, cols, p)
        Where each term's parameters sit in theta (from the factor's ``slices`` and ``positions``).
    theta : numpy.ndarray
        ``(d,)`` or ``(R, d)``.
    sigma : float or numpy.ndarray
        Residual SD, scalar or ``(R,)``.

    Returns
    -------
    numpy.ndarray
        The same shape as ``theta``: ``sd`` where theta is a diagonal element, ``cor`` elsewhere
        (NaN when one of the two SDs is 0).
    """
    th = np.atleast_2d(np.asarray(theta, dtype=float))
    sig = np.broadcast_to(np.asarray(sigma, dtype=float), (th.shape[0],))
    out = np.empty_like(th)
    for sl, rows, cols, p in layout:
        lam = np.zeros((th.shape[0], p, p))
        lam[:, rows, cols] = th[:, sl]
        cov = np.einsum("rab,rcb->rac", lam, lam) * (sig ** 2)[:, None, None]
        sd = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0.0))
        vals = []
        for r, c in zip(rows, cols):
            if r == c:
                vals.append(sd[:, r])
            else:
                den = sd[:, r] * sd[:, c]
                with np.errstate(invalid="ignore", divide="ignore"):
                    vals.append(np.where(den > 0, cov[:, r, c] / np.where(den > 0, den, 1.0), np.nan))
        out[:, sl] = np.column_stack(vals)
    return out if np.ndim(theta) == 2 else out[0]


def _psd_cholesky(cov: np.ndarray, tol: float = 1e-10) -> np.ndarray | None:
    """Lower Cholesky factor of a small positive semi-definite matrix (zero columns for zero pivots).

    Returns None when the matrix is not positive semi-definite.
    """
    p = cov.shape[0]
    L = np.zeros_like(cov)
    scale = max(float(np.max(np.abs(np.diag(cov)))), 1e-300)
    for j in range(p):
        d = cov[j, j] - L[j, :j] @ L[j, :j]
        if d < -tol * scale:
            return None
        if d <= tol * scale:
            # zero pivot: the rest of the column must vanish too
            resid = cov[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]
            if np.any(np.abs(resid) > np.sqrt(tol) * scale):
                return None
            continue
        L[j, j] = np.sqrt(d)
        L[j + 1:, j] = (cov[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L


def theta_from_sdcor(layout: list[tuple[slice, np.ndarray, np.ndarray, int]], sdcor: np.ndarray,
                     sigma: float) -> np.ndarray | None:
    """Theta from standard deviations / correlations and sigma (the inverse of :func:`sdcor_from_theta`).

    Returns None when the correlations do not form a positive semi-definite matrix.
    """
    v = np.asarray(sdcor, dtype=float)
    theta = np.empty_like(v)
    for sl, rows, cols, p in layout:
        vals = v[sl]
        sd = np.zeros(p)
        for val, r, c in zip(vals, rows, cols):
            if r == c:
                sd[r] = val
        cov = np.diag(sd ** 2)
        for val, r, c in zip(vals, rows, cols):
            if r != c:
                cov[r, c] = cov[c, r] = val * sd[r] * sd[c]
        L = _psd_cholesky(cov)
        if L is None:
            return None
        theta[sl] = L[rows, cols] / sigma
    return theta


# ---- parameter selection -------------------------------------------------------------------------------
def select_parameters(all_names: list[str], n_variance: int, parm: Any) -> list[str]:
    """lme4's ``parm`` / ``which``: None (all), ``"theta_"``, ``"beta_"``, names or 0-based positions.

    ``"theta_"`` selects the covariance parameters and ``sigma``; ``"beta_"`` the fixed effects.

    Examples
    --------
    >>> select_parameters(["sd_(Intercept)|g", "sigma", "(Intercept)"], 2, "beta_")
    ['(Intercept)']
    """
    if parm is None:
        return list(all_names)
    items = [parm] if isinstance(parm, (str, int, np.integer)) else list(parm)
    chosen: set[str] = set()
    for it in items:
        if isinstance(it, (int, np.integer)):
            if not -len(all_names) <= int(it) < len(all_names):
                raise ValueError(f"parm position {it} out of range: there are {len(all_names)} parameters")
            chosen.add(all_names[int(it)])
        elif it == "theta_":
            chosen.update(all_names[:n_variance])
        elif it == "beta_":
            chosen.update(all_names[n_variance:])
        elif it in all_names:
            chosen.add(it)
        else:
            raise ValueError(f"unknown parameter {it!r}; the parameters are {all_names} (or 'theta_', 'beta_')")
    return [nm for nm in all_names if nm in chosen]


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level={level}: a confidence level strictly between 0 and 1 (e.g. 0.95)")
    return level


def all_parameter_names(m: LmerResult, scale: str = "sdcor") -> list[str]:
    """Variance parameters, ``sigma``, then fixed effects: the rows of every interval table.

    With ``scale="vcov"``: ``var_``/``cov_`` instead of ``sd_``/``cor_``, and ``var_Residual`` for ``sigma``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> all_parameter_names(m, scale="vcov")[:4]
    ['var_(Intercept)|Subject', 'cov_Days.(Intercept)|Subject', 'var_Days|Subject', 'var_Residual']
    """
    names = [*variance_parameter_names(m), "sigma"]
    if check_scale(scale) == "vcov":
        names = [_vcov_name(nm) for nm in names]
    return [*names, *m.fixef_names]


# ---- Wald -----------------------------------------------------------------------------------------------
def wald_intervals(m: LmerResult, level: float = 0.95, ddf: str | None = None, scale: str = "sdcor") -> pd.DataFrame:
    """Wald intervals: fixed effects +/- a normal quantile times the standard error; NaN for variances.

    This is lme4's ``confint(m, method = "Wald")``, which gives no Wald interval for the variance
    parameters (their sampling distribution is far from normal; use the profile or the bootstrap).

    Parameters
    ----------
    m : LmerResult
    level : float
    ddf : {"satterthwaite", "kenward-roger", "residual"}, optional
        Use t quantiles with these degrees of freedom instead of the normal (lme4 uses the normal).
    scale : {"sdcor", "vcov"}
        Names of the (NaN) variance rows.

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter: lower, upper.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> wald_intervals(m).loc["Days"].round(3).tolist()
    [7.438, 13.497]
    """
    level = _check_level(level)
    a = (1.0 - level) / 2.0
    est = m.fixef.to_numpy()
    if ddf is None or str(ddf).lower() == "none":
        se = m.std_errors.to_numpy()
        q = stats.norm.ppf(1.0 - a) * np.ones_like(est)
    else:
        table = m.coef_table(ddf=ddf)
        se = table["std_error"].to_numpy()
        q = stats.t.ppf(1.0 - a, table["df"].to_numpy())
    vn = all_parameter_names(m, scale)[:len(variance_parameter_names(m)) + 1]
    lower = np.concatenate([np.full(len(vn), np.nan), est - q * se])
    upper = np.concatenate([np.full(len(vn), np.nan), est + q * se])
    return pd.DataFrame({"lower": lower, "upper": upper}, index=pd.Index(vn + m.fixef_names, name="parameter"))


# ---- the front door -----------------------------------------------------------------------------------
def confint(m: LmerResult, method: str = "profile", level: float = 0.95, parm: Any = None, scale: str = "sdcor",
            **kwargs: Any) -> pd.DataFrame:
    """Confidence intervals for the parameters of a fit (lme4's ``confint.merMod``).

    Parameters
    ----------
    m : LmerResult
    method : {"profile", "wald", "boot"}
        Likelihood-profile intervals (lme4's default; on the ML deviance, also for REML fits, as lme4),
        Wald intervals (fixed effects only; NaN rows for the variance parameters), or parametric-bootstrap
        intervals.
    level : float
        Confidence level, strictly between 0 and 1; used by every method (lme4 ignores it for
        ``method = "boot"``, lme4 issue #543).
    parm : None, list, "theta_" or "beta_"
        Which parameters: all (default), names, 0-based positions, the covariance parameters and sigma
        (``"theta_"``) or the fixed effects (``"beta_"``).  Names are those of ``scale``.
    scale : {"sdcor", "vcov"}
        The variance parameters as standard deviations and correlations (lme4's, the default) or as
        variances and covariances (``var_...``, ``cov_...``, ``var_Residual``), with intervals on that
        scale (see the module notes).
    **kwargs
        ``"wald"``: ``ddf`` for t-based intervals.  ``"profile"``: passed to :func:`lmmflow.profile`
        (``alphamax``, ``maxpts``, ``delta``, ``n_jobs``, ``client``).  ``"boot"``: passed to
        :func:`lmmflow.bootstrap` (``nsim``, default 500, ``seed``, ``n_jobs``, ``client``, ``use_u``) and
        ``boot_type`` (``"perc"``, ``"basic"``, ``"norm"``).  No progress bar unless ``progress=True``.

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter with lme4's names: lower, upper.  Bootstrap intervals carry
        ``attrs["nsim"]`` and ``attrs["n_failed"]`` (failed refits are also reported by a warning).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> m.confint(method="wald", level=0.9, parm="beta_").round(2).to_numpy().tolist()
    [[240.18, 262.63], [7.92, 13.01]]
    """
    level = _check_level(level)
    scale = check_scale(scale)
    meth = str(method).lower()
    if meth not in METHODS:
        raise ValueError(f"method={method!r}: use one of {METHODS}")
    names = all_parameter_names(m, scale)
    wanted = select_parameters(names, len(names) - len(m.fixef_names), parm)
    if meth == "wald":
        ddf = kwargs.pop("ddf", None)
        if kwargs:
            raise TypeError(f"confint(method='wald') got unexpected arguments {sorted(kwargs)}")
        return wald_intervals(m, level=level, ddf=ddf, scale=scale).loc[wanted]
    kwargs.pop("ddf", None)  # the tidy() front door passes it for every method
    if meth == "profile":
        from .profile import profile

        kwargs.setdefault("progress", False)
        prof = profile(m, which=wanted, scale=scale, **kwargs)
        return prof.confint(level=level).loc[wanted]
    from .bootstrap import bootstrap

    if "statistic" in kwargs:
        raise TypeError("confint(method='boot') bootstraps the model's parameters; for another statistic call "
                        "lf.bootstrap(m, statistic, ...).confint()")
    boot_type = kwargs.pop("boot_type", kwargs.pop("type", "perc"))
    kwargs.setdefault("nsim", 500)
    kwargs.setdefault("progress", False)
    res = bootstrap(m, **kwargs)
    out = res.confint(level=level, type=boot_type, scale=scale).loc[wanted]
    out.attrs.update({"nsim": res.nsim, "n_failed": res.failures.count})
    return out


def ran_pars_intervals(m: LmerResult, method: str = "profile", level: float = 0.95, scale: str = "sdcor",
                       **kwargs: Any) -> pd.DataFrame:
    """Intervals for the rows of ``m.varcorr`` (the ``ran_pars`` rows of :func:`lmmflow.tidy`), on ``scale``.

    Parameters
    ----------
    m : LmerResult
    method : {"profile", "boot", "wald"}
        ``"wald"`` gives NaN (as lme4: no Wald intervals for variance parameters).
    level : float
    scale : {"sdcor", "vcov"}
        The intervals of the ``sdcor`` column (SDs and correlations) or of the ``vcov`` column
        (variances and covariances) of ``m.varcorr``.
    **kwargs
        Passed to :func:`confint`.

    Returns
    -------
    pandas.DataFrame
        One row per row of ``m.varcorr``, in its order (same index): parameter (the name in
        :func:`confint`), estimate (the ``sdcor`` or ``vcov`` value), lower, upper.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Yield ~ 1 + (1 | Batch)", lf.load_dataset("dyestuff"))
    >>> r = ran_pars_intervals(m, "profile", scale="vcov")
    >>> r["parameter"].tolist()
    ['var_(Intercept)|Batch', 'var_Residual']
    >>> bool((r["lower"] < r["estimate"]).all() and (r["estimate"] < r["upper"]).all())
    True
    """
    scale = check_scale(scale)
    vc = m.varcorr
    names = []
    for _, r in vc.iterrows():
        v2 = r["var2"]
        if r["group"] == "Residual":
            nm = "sigma"
        elif v2 is None or (isinstance(v2, float) and np.isnan(v2)):
            nm = f"sd_{r['var1']}|{r['group']}"
        else:
            nm = f"cor_{v2}.{r['var1']}|{r['group']}"
        names.append(_vcov_name(nm) if scale == "vcov" else nm)
    ci = confint(m, method=method, level=level, parm="theta_", scale=scale, **kwargs)
    missing = [nm for nm in names if nm not in ci.index]
    if missing:
        raise RuntimeError(f"no interval for {missing}: the names of m.varcorr and confint() disagree")
    out = pd.DataFrame({"parameter": names, "estimate": vc["sdcor" if scale == "sdcor" else "vcov"].to_numpy(),
                        "lower": ci.loc[names, "lower"].to_numpy(), "upper": ci.loc[names, "upper"].to_numpy()},
                       index=vc.index)
    out.attrs.update(ci.attrs)
    return out
