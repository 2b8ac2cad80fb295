"""Likelihood profiles of a fitted model and profile confidence intervals (lme4's ``profile.merMod``).

For each parameter, on lme4's scale (standard deviations ``sd_``, correlations ``cor_``, the residual SD
``sigma``, and the fixed effects), the profile fixes the parameter at a sequence of values and
minimizes the ML deviance over all the others.  The signed square root of the increase over the
minimum,

    zeta(x) = sign(x - x_hat) * sqrt(D(x) - D_min),

is plotted against x (a straight line when the likelihood is quadratic) and inverted at +-z_{1-a/2}
for confidence intervals.  As in lme4 the profile is always of the ML deviance, so a REML fit is
refitted by ML first (lme4's ``devfun2`` calls ``refitML``); the intervals therefore match lme4's for
REML fits too.

* Variance parameters: the deviance as a function of (SDs, correlations, sigma), with the fixed effects
  profiled out exactly, ``log|L_Z|^2 + r^2(theta)/sigma^2 + n log(2 pi sigma^2)`` with
  ``theta = chol(Sigma)/sigma``; the other variance parameters are optimized with BOBYQA, started from
  the previous point.
* Fixed effect j: fixing beta_j adds ``(b - beta_j_hat(theta))^2 / [(X'V^-1X)^-1]_jj`` to the penalized
  residual sum of squares, which is the exact result of refitting with ``x_j b`` moved into an offset
  (lme4's method) and needs nothing but the blocked factor at theta.  So every evaluation costs one
  factor update, independent of the number of rows.

The points are placed as lme4 places them: from the estimate, each step aims at an increase of
``delta = cutoff / 8`` in zeta (by linear extrapolation of the last two points, capped at ten times the
previous step), until |zeta| passes ``cutoff = sqrt(chi2_{1-alphamax}(number of parameters))`` or the
parameter reaches a bound.  Intervals come from the inverse of a natural cubic interpolating spline of
zeta (lme4's ``interpSpline`` / ``backSpline``).

On the variance / covariance scale (``scale="vcov"``: ``var_...``, ``cov_...``, ``var_Residual``) a
variance's profile is its SD's profile with the values squared (the constrained optimum is the same set of
models, so zeta is unchanged and the interval is the squared SD interval).  A covariance ``c`` is not a
monotone function of one sd/cor parameter, so it is profiled on its own: with ``c`` fixed, the other
variance parameters are optimized with the term's second SD eliminated, ``sd_2 = |c| / (u sd_1)`` and
``cor = sign(c) u`` with ``u`` in (0, 1] (box constraints only; ``c = 0`` fixes ``cor = 0``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import interpolate, stats

from ..core import DevianceFunction
from ..core.criterion import gaussian_criterion, gaussian_criterion_at_sigma
from ..core.patterns import PatternObjective
from ..optim.threads import blas_threads
from .intervals import (
    all_parameter_names,
    check_scale,
    sdcor_from_theta,
    sdcor_to_vcov,
    select_parameters,
    theta_from_sdcor,
    variance_layout,
)
from .parallel import progress_map

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..results.model import LmerResult

__all__ = ["Profile", "ProfileWarning", "profile"]


class ProfileWarning(UserWarning):
    """Something about a profile needs attention: a singular fit, a lower deviance, a non-monotone profile."""


# ---- the objective on lme4's scale ---------------------------------------------------------------------------
class _Objective:
    """ML deviance as a function of (sd/cor..., sigma), and of theta with one fixed effect held fixed."""

    def __init__(self, mml: LmerResult):
        self.f = DevianceFunction(mml.devfun.cp, reml=False)
        fac = self.f.factor
        self.layout = [(sl, r, c, b.p) for sl, (r, c), b in zip(fac.slices, fac.positions, fac.cp.blocks)]
        self.n = mml.devfun.cp.n
        self.p = mml.devfun.cp.p
        self.log_w = mml.devfun.cp.log_weights
        self.ntheta = fac.n_theta
        self.theta_lower = fac.lower.copy()
        shift = mml.devfun.cp.beta_offset  # the engine works on y centred at an OLS fit
        self.beta_shift = np.zeros(self.p) if shift is None else np.asarray(shift, dtype=float)

    def solution(self, theta: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
        """(log det of the random-effects block, penalized RSS, beta, R_X) at theta, by the cheapest route.

        A one-term model with few patterns of observations reads them from its per-pattern sums, a model with
        a dense or Schur objective from that objective's factor; only the others update the blocked factor
        (whose cost grows with the number of levels).  Raises ``LinAlgError`` / ``ValueError`` where theta
        gives no factor.
        """
        small, p = self.f.small, self.p
        if isinstance(small, PatternObjective):
            parts, beta_c, rx = small.fixed_solution(theta)
        elif small is not None and hasattr(small, "solution"):
            parts, beta_c, _, rx = small.solution(theta)
        else:
            fac = self.f.factor
            fac.update(theta, objective_only="vector")  # one term: only the [X y] block is formed
            parts, beta_c, rx = (fac.logdet_re(), 0.0, fac.pwrss()), fac.solve_fixef(), fac.LXX[:p, :p]
        return float(parts[0]), float(parts[2]), np.asarray(beta_c, dtype=float) + self.beta_shift, rx

    def beta_at(self, v: np.ndarray) -> np.ndarray:
        """Fixed effects at v = (sd/cor in theta order, sigma)."""
        theta = theta_from_sdcor(self.layout, v[:-1], float(v[-1]))
        if theta is None:
            return np.full(self.p, np.nan)
        try:
            return self.solution(theta)[2]
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return np.full(self.p, np.nan)

    def variance(self, v: np.ndarray) -> float:
        """ML deviance at v = (sd/cor in theta order, sigma), fixed effects profiled out.

        The deviance function's fast objective (small dense or per-pattern, if the model has one) gives
        the value, else the blocked factor.
        """
        sigma = float(v[-1])
        if not sigma > 0:
            return math.inf
        theta = theta_from_sdcor(self.layout, v[:-1], sigma)
        if theta is None:
            return math.inf
        try:
            if self.f.small is not None:
                logdet_re, _, pwrss = self.f.small(theta)
            else:
                self.f.factor.update(theta, objective_only="vector")
                logdet_re, pwrss = self.f.factor.logdet_re(), self.f.factor.pwrss()
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return math.inf
        val = gaussian_criterion_at_sigma(logdet_re, 0.0, pwrss, sigma, self.n, self.p, False, self.log_w)
        return val if math.isfinite(val) else math.inf

    def fixed(self, theta: np.ndarray, j: int, b: float) -> tuple[float, float, np.ndarray]:
        """ML deviance with beta_j = b, profiled over the other fixed effects and sigma; also sigma and beta.

        Needs only the log-determinant, the penalized RSS, beta and R_X at theta (see :meth:`solution`).
        """
        try:
            logdet_re, pwrss0, beta, rx = self.solution(theta)
            rx_inv = np.linalg.inv(rx)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return math.inf, math.nan, np.full(self.p, np.nan)
        V = rx_inv.T @ rx_inv
        shift = (b - beta[j]) / V[j, j]
        pwrss = pwrss0 + (b - beta[j]) * shift
        val = gaussian_criterion(logdet_re, 0.0, pwrss, self.n, self.p, False, self.log_w)
        beta_j = beta + V[:, j] * shift
        beta_j[j] = b
        return (val if math.isfinite(val) else math.inf), math.sqrt(pwrss / self.n), beta_j


def _bobyqa(fn: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray, upper: np.ndarray,
            ) -> tuple[np.ndarray, float]:
    """Minimize fn over the box with NLopt's BOBYQA (lme4's profile optimizer), from x0."""
    import nlopt

    x0 = np.clip(np.asarray(x0, dtype=float), lower, upper)
    span = np.where(np.isfinite(upper - lower), upper - lower, np.inf)
    step = np.minimum(np.maximum(0.1 * np.abs(x0), 1e-3), 0.25 * span)
    best = [math.inf, x0.copy()]

    def tracked(x: np.ndarray, grad: np.ndarray) -> float:
        val = fn(x)
        if val < best[0]:
            best[0], best[1] = val, np.array(x, dtype=float)
        return min(val, 1e300)

    for _attempt in range(2):
        opt = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
        opt.set_lower_bounds(lower)
        opt.set_upper_bounds(upper)
        opt.set_min_objective(tracked)
        opt.set_xtol_rel(1e-10)
        opt.set_ftol_abs(1e-11)
        opt.set_maxeval(5000)
        opt.set_initial_step(step)
        try:
            opt.optimize(best[1] if np.isfinite(best[0]) else x0)
            break
        except (nlopt.RoundoffLimited, RuntimeError, ValueError):
            step = step / 10  # NLopt gave up on round-off: restart from the best point with a smaller radius
    x, val = best[1], best[0]
    return np.asarray(x, dtype=float), float(val)


# ---- the result ----------------------------------------------------------------------------------------------
@dataclass
class Profile:
    """The likelihood profile of a fit (lme4's ``thpr``).

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per profile point: ``parameter`` (which one was profiled), ``value`` (its value), ``zeta``,
        then one column per model parameter giving all parameters along the path.
    estimates : pandas.Series
        The ML estimates the profile is centred on (lme4's scale).
    base : float
        The ML deviance at the estimates.
    cutoff : float
        |zeta| beyond which a profile stops.
    bounds : dict
        ``name -> (lower, upper)`` bounds of each parameter (0 for SDs, +-1 for correlations).
    squared : tuple of str
        Parameters (variances, on the ``vcov`` scale) whose values are the squares of a profiled SD: their
        intervals are the squared SD intervals exactly (the spline is fitted on the SD).

    Examples
    --------
    >>> import lmmflow as lf
    >>> pr = lf.profile(lf.lmer("Yield ~ 1 + (1 | Batch)", lf.load_dataset("dyestuff")), progress=False)
    >>> pr.parameters
    ['sd_(Intercept)|Batch', 'sigma', '(Intercept)']
    >>> list(pr.zeta_frame().columns)
    ['parameter', 'value', 'zeta']
    >>> pr.confint(level=0.9).loc["sigma"].round(2).tolist()
    [39.73, 64.07]
    """

    frame: pd.DataFrame
    estimates: pd.Series
    base: float
    cutoff: float
    bounds: dict[str, tuple[float, float]]
    squared: tuple[str, ...] = ()
    _splines: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def parameters(self) -> list[str]:
        """The profiled parameters, in lme4's order."""
        return list(pd.unique(self.frame["parameter"]))

    def zeta_frame(self) -> pd.DataFrame:
        """Tidy profile for plotting: parameter, value, zeta (one row per point)."""
        return self.frame[["parameter", "value", "zeta"]].reset_index(drop=True)

    def _spline(self, name: str) -> tuple[Any, Any]:
        if name not in self._splines:
            rows = self.frame[self.frame["parameter"] == name]
            rows = rows[np.isfinite(rows["zeta"])].drop_duplicates("value").sort_values("value")
            x, z = rows["value"].to_numpy(), rows["zeta"].to_numpy()
            if name in self.squared:
                x = np.sqrt(np.maximum(x, 0.0))  # the SD that was profiled
            forward = backward = None
            if len(x) >= 3:
                forward = interpolate.CubicSpline(x, z, bc_type="natural")
                slope = forward(x, 1)
                if np.all(np.diff(z) > 0) and np.all(slope > 0):
                    backward = interpolate.CubicHermiteSpline(z, x, 1.0 / slope)
            if backward is None and len(x) >= 2:
                warnings.warn(f"the profile of {name} is not monotone (or too short) for a spline: using linear "
                              "interpolation", ProfileWarning, stacklevel=3)
                keep = np.concatenate([[True], np.diff(np.maximum.accumulate(z)) > 0])
                zs, xs = z[keep], x[keep]
                backward = lambda q, zs=zs, xs=xs: np.interp(q, zs, xs, left=np.nan, right=np.nan)  # noqa: E731
            self._splines[name] = (forward, backward)
        return self._splines[name]

    def confint(self, level: float = 0.95, parm: Any = None) -> pd.DataFrame:
        """Profile confidence intervals: the values where zeta = -+ z_{(1+level)/2} (lme4's ``confint.thpr``).

        Where the profile does not reach the cutoff before a bound (an SD whose profile starts at 0, or a
        correlation profile that reaches +-1), the bound is reported, as lme4 does.

        Parameters
        ----------
        level : float
        parm : list of str, optional
            Subset of the profiled parameters.

        Returns
        -------
        pandas.DataFrame
            Indexed by parameter: lower, upper.
        """
        level = float(level)
        if not 0 < level < 1:
            raise ValueError(f"level={level}: a confidence level strictly between 0 and 1")
        z = stats.norm.ppf((1 + level) / 2)
        if z > self.cutoff:
            warnings.warn(f"level={level} needs |zeta| up to {z:.3g}, beyond the profile's cutoff "
                          f"{self.cutoff:.3g}; compute the profile with a smaller alphamax", ProfileWarning,
                          stacklevel=2)
        names = self.parameters
        names = names if parm is None else select_parameters(names, 0, parm)
        lo, hi = [], []
        for nm in names:
            _, back = self._spline(nm)
            rows = self.frame[self.frame["parameter"] == nm]
            zr = rows["zeta"].to_numpy()
            if back is None:
                lo.append(np.nan)
                hi.append(np.nan)
                continue
            zmin, zmax = np.nanmin(zr), np.nanmax(zr)
            b_lo, b_hi = self.bounds.get(nm, (-np.inf, np.inf))
            power = 2 if nm in self.squared else 1
            lo.append(float(back(-z)) ** power if -z >= zmin else (b_lo if np.isfinite(b_lo) else np.nan))
            hi.append(float(back(z)) ** power if z <= zmax else (b_hi if np.isfinite(b_hi) else np.nan))
        return pd.DataFrame({"lower": lo, "upper": hi}, index=pd.Index(names, name="parameter"))

    def __repr__(self) -> str:
        counts = self.frame.groupby("parameter", sort=False).size()
        return (f"Profile of {len(counts)} parameters ({len(self.frame)} points, cutoff |zeta| = "
                f"{self.cutoff:.3g}); .confint(), .zeta_frame()")


# ---- building the profile -----------------------------------------------------------------------------------
def _next_value(v1: float, v2: float, z1: float, z2: float, delta: float, lowcut: float, upcut: float,
                maxmult: float, minstep: float = 1e-6) -> float:
    """lme4's ``nextpar``: extrapolate the last two points to gain ``delta`` in zeta."""
    num = v2 - v1
    denom = z2 - z1
    if not np.isfinite(denom) or denom == 0:
        step = minstep
    else:
        step = delta * num / denom
        if step < 0:
            step = minstep
        elif abs(step) > maxmult * abs(num):
            step = maxmult * abs(num)
    return float(min(upcut, max(lowcut, v2 + math.copysign(step, num))))


def _fill(zeta_fn: Callable[[float, np.ndarray], tuple[float, np.ndarray, np.ndarray]],
          first: tuple[float, float, np.ndarray, np.ndarray], second: tuple[float, float, np.ndarray, np.ndarray],
          delta: float, cutoff: float, lowcut: float, upcut: float, maxpts: int, maxmult: float,
          ) -> list[tuple[float, float, np.ndarray, np.ndarray]]:
    """Points (value, zeta, row, start) continuing in the direction from ``first`` to ``second``."""
    pts = [first, second]
    while len(pts) < maxpts:
        v1, z1 = pts[-2][0], pts[-2][1]
        v2, z2, _, start = pts[-1]
        if not (lowcut < v2 < upcut) or (np.isfinite(z2) and abs(z2) > cutoff):
            break
        if len(pts) >= 5 and all(abs(pts[-i][1] - pts[-i - 1][1]) < 1e-7 for i in (1, 2, 3)):
            break  # zeta no longer changes (e.g. an SD reached 0 and this parameter is not identified)
        v = _next_value(v1, v2, z1, z2, delta, lowcut, upcut, maxmult)
        if v == v2:
            break
        z, row, st = zeta_fn(v, start)
        pts.append((v, z, row, st))
    return pts


def profile(m: LmerResult, which: Any = None, alphamax: float = 0.01, maxpts: int = 100,
            delta: float | None = None, progress: bool = True, delta_cutoff: float = 1 / 8,
            maxmult: float = 10.0, n_jobs: int = 1, client: Any = None, scale: str = "sdcor") -> Profile:
    """Profile the likelihood of a fit over each parameter (lme4's ``profile``).

    Parameters
    ----------
    m : LmerResult or GlmerResult
        A REML fit is refitted by ML first (lme4 does the same).  A GLMM (``lf.glmer`` fit) is profiled by
        :func:`lmmflow.inference.glmm_profile.glmm_profile` (``n_jobs``, ``client``, ``delta`` and
        ``scale="vcov"`` do not apply there).
    which : None, list, "theta_" or "beta_"
        Parameters to profile (names as lme4's ``oldNames = FALSE``, 0-based positions, ``"theta_"`` for
        the variance parameters and sigma, ``"beta_"`` for the fixed effects); default all.
    alphamax : float
        The profile extends to |zeta| = sqrt(chi2 quantile 1 - alphamax with as many df as parameters).
    maxpts : int
        At most this many points per direction.
    delta : float, optional
        Target increase of zeta between points (default cutoff / 8).
    progress : bool
        Show a progress bar (tqdm) when the profile takes longer than a second.
    delta_cutoff, maxmult : float
        lme4's step controls.
    n_jobs : int
        Profile the parameters in this many local processes (``-1``: one per core).  Each parameter's
        profile is computed exactly as in the serial run, so the result is the same.
    client : dask.distributed.Client, optional
        Profile the parameters as tasks on a Dask cluster instead (the ML fit's cross-products are sent
        to each worker once).
    scale : {"sdcor", "vcov"}
        Profile the standard deviations and correlations (lme4's) or the variances and covariances
        (names ``var_...``, ``cov_...``, ``var_Residual``; every column of ``frame`` is then on that scale).

    Returns
    -------
    Profile
        ``.frame`` (all points), ``.zeta_frame()`` (parameter, value, zeta), ``.confint(level)``.

    Warns
    -----
    ProfileWarning
        For a singular ML fit (an SD at 0 or a correlation at +-1): that parameter's profile starts at its
        bound, and the interval reports the bound as its limit (lme4 gives the same).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Yield ~ 1 + (1 | Batch)", lf.load_dataset("dyestuff"))
    >>> pr = lf.profile(m, progress=False)
    >>> pr.confint().round(2).to_numpy().tolist()
    [[12.2, 84.06], [38.23, 67.66], [1486.45, 1568.55]]
    """
    if getattr(m, "model_kind", "lmm") == "glmm":  # a glmer fit: the Laplace / AGQ objective's profile
        if n_jobs != 1 or client is not None or scale != "sdcor" or delta is not None:
            raise ValueError("profile of a GLMM: n_jobs, client, delta and scale='vcov' are not supported; use "
                             "which, alphamax, maxpts, delta_cutoff, maxmult, progress")
        from .glmm_profile import glmm_profile

        return glmm_profile(m, which=which, alphamax=alphamax, maxpts=maxpts, delta_cutoff=delta_cutoff,
                            maxmult=maxmult, progress=progress)
    structured = [k for k in m.devfun.pmap.kinds if k not in ("us", "diag")]
    if structured:
        raise NotImplementedError(
            f"the likelihood profile works on lme4's unstructured sd/cor parameters; this model has a "
            f"{structured[0]} covariance structure: use confint(method='boot') or method='wald' (fixed effects), "
            "or refit with us(...) terms")
    scale = check_scale(scale)
    mml = m.update(reml=False) if m.reml else m
    obj = _Objective(mml)
    names = all_parameter_names(mml)
    out_names = all_parameter_names(mml, scale)
    nvp = obj.ntheta + 1
    targets = select_parameters(out_names, nvp, which)
    layout = variance_layout(mml)
    theta_hat = mml.solution.theta.copy()
    sig_hat = mml.sigma
    est = np.concatenate([sdcor_from_theta(obj.layout, theta_hat, sig_hat), [sig_hat], mml.solution.beta])
    est = np.where(np.isnan(est), 0.0, est)
    base = float(mml.objective)
    check = obj.variance(est[:nvp])
    if not abs(check - base) <= 1e-5 * max(1.0, abs(base)):
        raise RuntimeError(f"the deviance on the sd/cor scale ({check:.8g}) does not reproduce the fit's "
                           f"({base:.8g}); cannot profile")
    lower = np.array([0.0 if np.isfinite(lo) else -1.0 for lo in obj.theta_lower] + [0.0])
    upper = np.array([np.inf if np.isfinite(lo) else 1.0 for lo in obj.theta_lower] + [np.inf])
    vcov = scale == "vcov"
    tasks = []
    for nm in targets:
        i = out_names.index(nm)
        if i >= nvp:
            tasks.append(("fixed", i - nvp, 0, 0))
        elif vcov and i < nvp - 1 and layout[i][0] == "cor":
            tasks.append(("cov", i, layout[i][1], layout[i][2]))
        else:
            tasks.append(("variance", i, 0, 0))
    bounds = {nm: (float(lower[i]), float(upper[i])) for i, nm in enumerate(out_names[:nvp])}
    if vcov:  # variances >= 0, covariances unbounded
        bounds.update({out_names[t[1]]: (-np.inf, np.inf) for t in tasks if t[0] == "cov"})
    bounds.update({nm: (-np.inf, np.inf) for nm in out_names[nvp:]})
    cutoff = math.sqrt(stats.chi2.ppf(1 - alphamax, len(names)))
    delta = cutoff * delta_cutoff if delta is None else float(delta)
    on_bound = [out_names[i] for i in range(nvp) if est[i] <= lower[i] or est[i] >= upper[i]]
    if on_bound or mml.is_singular:
        where = (f"{', '.join(on_bound)} at a bound" if on_bound
                 else "a covariance matrix of the random effects is singular: its correlations are linearly dependent")
        warnings.warn(f"the ML fit is singular ({where}): the profile of a parameter at its bound starts there and its "
                      "interval reports the bound as a limit; the profiles of the others may stop short of the "
                      "cutoff (NaN limits) and their intervals are unreliable", ProfileWarning, stacklevel=2)
    payload = _ProfileWork(obj=obj, names=names, nvp=nvp, est=est, lower=lower, upper=upper, delta=delta,
                           cutoff=cutoff, maxpts=maxpts, maxmult=maxmult, theta_hat=theta_hat,
                           std_errors=mml.std_errors.to_numpy(dtype=float), base=base,
                           blas=getattr(m.control, "blas_threads", 1))
    done = progress_map(_profile_one, tasks, total=len(targets), desc="profile", unit="param", progress=progress,
                        count=lambda r: 1, n_jobs=n_jobs, client=client, payload=payload)
    rows: list[dict[str, Any]] = []
    for name, task, (pts, _) in zip(targets, tasks, done):
        for v, z, row in sorted(pts, key=lambda t: t[0]):
            if vcov:
                row = sdcor_to_vcov(layout, row)
                if task[0] == "variance":
                    v = v * v  # the SD's profile on the variance scale (a monotone map: same zeta)
            rows.append({"parameter": name, "value": v, "zeta": z, **dict(zip(out_names, row))})
    lowest = min([base] + [low for _, low in done])
    if lowest < base - 1e-6 * max(1.0, abs(base)):
        warnings.warn(f"profiling found a deviance {base - lowest:.3g} below the fit's: the ML fit may not have "
                      "converged; refit and profile again", ProfileWarning, stacklevel=2)
    frame = pd.DataFrame(rows, columns=["parameter", "value", "zeta", *out_names])
    frame = frame.drop_duplicates(["parameter", "value"]).reset_index(drop=True)
    est_out = sdcor_to_vcov(layout, est) if vcov else est
    squared = tuple(nm for nm, task in zip(targets, tasks) if vcov and task[0] == "variance")
    return Profile(frame=frame, estimates=pd.Series(est_out, index=out_names, name="estimate"), base=base,
                   cutoff=cutoff, bounds=bounds, squared=squared)


@dataclass
class _ProfileWork:
    """What every parameter's profile reads (sent once to each worker when run in parallel)."""

    obj: _Objective
    names: list[str]
    nvp: int
    est: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    delta: float
    cutoff: float
    maxpts: int
    maxmult: float
    theta_hat: np.ndarray
    std_errors: np.ndarray
    base: float
    blas: Any


def _profile_one(work: _ProfileWork, task: tuple[str, int, int, int],
                 ) -> tuple[list[tuple[float, float, np.ndarray]], float]:
    """One parameter's profile points (value, zeta, row of all parameters on the sd/cor scale) and the lowest
    deviance seen.  ``task``: ``("variance", i, 0, 0)``, ``("fixed", j, 0, 0)`` or ``("cov", i, r, c)`` (the
    covariance of theta element i, whose SDs are elements r and c)."""
    base = work.base
    lowest = [base]

    def record(dev: float) -> float:
        if dev < lowest[0] - 1e-6 * max(1.0, abs(base)):
            lowest[0] = dev
        return max(dev - base, 0.0)

    kind, w, r, c = task
    nvp = work.nvp
    with blas_threads(work.blas):
        if kind == "variance":
            pts = _profile_variance(work.obj, w, work.est, work.lower, work.upper, work.delta, work.cutoff,
                                    work.maxpts, work.maxmult, record)
        elif kind == "cov":
            pts = _profile_covariance(work.obj, w, r, c, work.est, work.lower, work.upper, work.delta,
                                      work.cutoff, work.maxpts, work.maxmult, record)
        else:
            pts = _profile_fixed(work.obj, w, work.est, work.theta_hat, work.std_errors[w],
                                 work.delta, work.cutoff, work.maxpts, work.maxmult, record, nvp)
    return [(v, z, row) for v, z, row, _ in pts], lowest[0]


def _profile_variance(obj: _Objective, w: int, est: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                      delta: float, cutoff: float, maxpts: int, maxmult: float,
                      record: Callable[[float], float]) -> list[tuple[float, float, np.ndarray, np.ndarray]]:
    nvp = len(lower)
    others = np.array([i for i in range(nvp) if i != w])
    pw = float(est[w])

    def zeta(x: float, start: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        def fn(y: np.ndarray) -> float:
            v = np.empty(nvp)
            v[w] = x
            v[others] = y
            return obj.variance(v)

        y, dev = _bobyqa(fn, start, lower[others], upper[others])
        v = np.empty(nvp)
        v[w] = x
        v[others] = y
        beta = obj.beta_at(v)
        z = math.copysign(math.sqrt(record(dev)), x - pw) if math.isfinite(dev) else math.nan
        return z, np.concatenate([v, beta]), y

    centre = (pw, 0.0, est.copy(), est[others].copy())
    shift = 1e-3 if pw == 0 else pw * 1.01
    shift = min(max(shift, lower[w]), upper[w])
    z1, row1, st1 = zeta(shift, est[others])
    second = (shift, z1, row1, st1)
    pts = _fill(zeta, centre, second, delta, cutoff, lower[w], upper[w], maxpts, maxmult)
    if pw > lower[w]:
        pts += _fill(zeta, second, centre, delta, cutoff, lower[w], upper[w], maxpts, maxmult)[2:]
    return pts


def _profile_covariance(obj: _Objective, w: int, r: int, c: int, est: np.ndarray, lower: np.ndarray,
                        upper: np.ndarray, delta: float, cutoff: float, maxpts: int, maxmult: float,
                        record: Callable[[float], float]) -> list[tuple[float, float, np.ndarray, np.ndarray]]:
    """Profile of the covariance ``cor_w * sd_r * sd_c`` (see the module notes for the parameterization)."""
    nvp = len(lower)
    free = np.array([i for i in range(nvp) if i not in (w, c)])  # x != 0: sd_c and cor_w follow from (x, sd_r, u)
    free0 = np.array([i for i in range(nvp) if i != w])  # x == 0: cor_w = 0, the SDs free
    cov_hat = float(est[w] * est[r] * est[c])
    floor = 1e-3 * float(est[nvp - 1])  # an SD of this size stands in for one at 0 when a start is built

    def assemble(x: float, y: np.ndarray) -> np.ndarray | None:
        v = np.empty(nvp)
        if x == 0:
            v[free0] = y
            v[w] = 0.0
            return v
        v[free] = y[:-1]
        u, a = float(y[-1]), float(v[r])
        if not (u > 0 and a > 0):
            return None
        v[w] = math.copysign(u, x)
        v[c] = abs(x) / (u * a)
        return v

    def start_for(x: float, v: np.ndarray) -> np.ndarray:
        if x == 0:
            return v[free0].copy()
        sr, sc = max(float(v[r]), floor), max(float(v[c]), floor)
        u = abs(x) / (sr * sc)
        if u > 0.99:  # |cor| would exceed 1: grow both SDs until it is 0.99
            k = math.sqrt(u / 0.99)
            sr, u = sr * k, 0.99
        y = np.concatenate([v[free], [u]])
        y[list(free).index(r)] = sr
        return y

    def zeta(x: float, start: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        if x == 0:
            lo, hi = lower[free0], upper[free0]
        else:
            lo, hi = np.r_[lower[free], 1e-12], np.r_[upper[free], 1.0]

        def fn(y: np.ndarray) -> float:
            v = assemble(x, y)
            return math.inf if v is None else obj.variance(v)

        y, dev = _bobyqa(fn, start_for(x, start), lo, hi)
        v = assemble(x, y)
        if v is None or not math.isfinite(dev):
            return math.nan, np.full(nvp + obj.p, np.nan), start
        z = math.copysign(math.sqrt(record(dev)), x - cov_hat)
        return z, np.concatenate([v, obj.beta_at(v)]), v

    centre = (cov_hat, 0.0, est.copy(), est[:nvp].copy())
    step = 0.01 * abs(cov_hat) if cov_hat != 0 else 1e-3 * max(float(est[r] * est[c]), floor * floor)
    z1, row1, st1 = zeta(cov_hat + step, est[:nvp].copy())
    second = (cov_hat + step, z1, row1, st1)
    pts = _fill(zeta, centre, second, delta, cutoff, -np.inf, np.inf, maxpts, maxmult)
    pts += _fill(zeta, second, centre, delta, cutoff, -np.inf, np.inf, maxpts, maxmult)[2:]
    return pts


def _profile_fixed(obj: _Objective, j: int, est: np.ndarray, theta_hat: np.ndarray, se: float, delta: float,
                   cutoff: float, maxpts: int, maxmult: float, record: Callable[[float], float],
                   nvp: int) -> list[tuple[float, float, np.ndarray, np.ndarray]]:
    bj = float(est[nvp + j])
    lo = obj.theta_lower
    hi = np.full(len(lo), np.inf)

    def zeta(b: float, start: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        th, dev = _bobyqa(lambda t: obj.fixed(t, j, b)[0], start, lo, hi)
        dev, sigma, beta = obj.fixed(th, j, b)
        z = math.copysign(math.sqrt(record(dev)), b - bj) if math.isfinite(dev) else math.nan
        row = np.concatenate([sdcor_from_theta(obj.layout, th, sigma), [sigma], beta])
        return z, row, th

    centre = (bj, 0.0, est.copy(), theta_hat.copy())
    z1, row1, st1 = zeta(bj + delta * se, theta_hat)
    second = (bj + delta * se, z1, row1, st1)
    pts = _fill(zeta, centre, second, delta, cutoff, -np.inf, np.inf, maxpts, maxmult)
    pts += _fill(zeta, second, centre, delta, cutoff, -np.inf, np.inf, maxpts, maxmult)[2:]
    return pts
