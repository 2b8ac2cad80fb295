"""Likelihood profiles and profile confidence intervals of a GLMM (lme4's ``profile`` / ``confint`` for glmerMod).

The parameters are lme4's: the standard deviations and correlations of the random effects (``sd_...``,
``cor_...``; sigma is 1) and the fixed effects.  For each one, the profile fixes it at a sequence of values and
minimizes the model's objective (-2 log L by the Laplace approximation, or adaptive Gauss-Hermite quadrature
for ``nagq > 1``) over all the others, (theta, beta) jointly, with the conditional modes found by PIRLS at
every evaluation (warm-started), as lme4's ``devfun2`` for glmer does.  Then, as for linear mixed models
(:mod:`lmmflow.inference.profile`, whose machinery this module reuses):

    zeta(x) = sign(x - x_hat) sqrt(D(x) - D_min),

points placed by lme4's ``nextpar`` rule until |zeta| passes ``sqrt(chi2_{1-alphamax}(number of
parameters))``, and intervals from the inverse of a natural cubic interpolating spline of zeta.  An SD whose
profile reaches 0 before the cutoff reports 0 as its lower limit, as lme4 does.  A ``nagq = 0`` fit is not
profiled (lme4 neither): refit with ``nagq=1``.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from ..results.base import require_kind
from .intervals import all_parameter_names, sdcor_from_theta, select_parameters, theta_from_sdcor
from .profile import Profile, ProfileWarning, _bobyqa, _fill

if TYPE_CHECKING:
    from ..results.glmm import GlmerResult

__all__ = ["glmm_confint_profile", "glmm_profile"]


class _GlmmProfileObjective:
    """The fit's objective as a function of v = (SDs / correlations in theta's order, beta)."""

    def __init__(self, g: GlmerResult):
        from ..core.crossprod import theta_layout
        from ..core.pirls import GlmmObjective

        d = g.design
        blocks = d.blocks()
        trials = None if d.response is None else d.response.trials
        self.f = GlmmObjective(blocks, d.X, d.y, g.family_object, prior_weights=d.frame.weights,
                               offset=d.frame.offset, nagq=g.nagq, trials=trials)
        slices, positions, lower = theta_layout(blocks)
        self.layout = [(sl, r, c, b.p) for sl, (r, c), b in zip(slices, positions, blocks)]
        self.theta_lower = np.asarray(lower, dtype=float)
        self.nvp = len(lower)

    def __call__(self, v: np.ndarray) -> float:
        theta = theta_from_sdcor(self.layout, v[:self.nvp], 1.0)
        if theta is None:
            return math.inf
        try:
            with np.errstate(all="ignore"):
                val = float(self.f(theta, np.asarray(v[self.nvp:], dtype=float)))
        except (np.linalg.LinAlgError, ValueError, FloatingPointError, ArithmeticError):
            return math.inf
        return val if math.isfinite(val) else math.inf


def _profile_parameter(obj: _GlmmProfileObjective, i: int, est: np.ndarray, lower: np.ndarray,
                       upper: np.ndarray, step0: float, delta: float, cutoff: float, maxpts: int, maxmult: float,
                       base: float, lowest: list[float]) -> list[tuple[float, float, np.ndarray, np.ndarray]]:
    """Profile points (value, zeta, all parameters, start) of parameter i, both directions."""
    npar = len(est)
    others = np.array([k for k in range(npar) if k != i])
    xi = float(est[i])

    def full(x: float, y: np.ndarray) -> np.ndarray:
        v = np.empty(npar)
        v[i] = x
        v[others] = y
        return v

    def zeta(x: float, start: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        y, dev = _bobyqa(lambda y: obj(full(x, y)), start, lower[others], upper[others])
        if dev < lowest[0]:
            lowest[0] = dev
        z = math.copysign(math.sqrt(max(dev - base, 0.0)), x - xi) if math.isfinite(dev) else math.nan
        return z, full(x, y), y

    centre = (xi, 0.0, est.copy(), est[others].copy())
    x1 = min(max(xi + step0, lower[i]), upper[i])
    z1, row1, st1 = zeta(x1, est[others])
    second = (x1, z1, row1, st1)
    pts = _fill(zeta, centre, second, delta, cutoff, lower[i], upper[i], maxpts, maxmult)
    if xi > lower[i]:
        pts += _fill(zeta, second, centre, delta, cutoff, lower[i], upper[i], maxpts, maxmult)[2:]
    return pts


def glmm_profile(g: GlmerResult, which: Any = None, alphamax: float = 0.01, maxpts: int = 100,
                 delta_cutoff: float = 1 / 8, maxmult: float = 10.0, progress: bool = True) -> Profile:
    """Profile a GLMM's objective over each parameter (lme4's ``profile`` for a glmer fit).

    Parameters
    ----------
    g : GlmerResult
        A fit with ``nagq >= 1``.
    which : str, int or list, optional
        Parameters to profile: names, 0-based positions, ``"theta_"`` (the SDs and correlations) or
        ``"beta_"`` (the fixed effects); default all.
    alphamax : float
        The profile extends to |zeta| = sqrt(chi2_{1-alphamax}(number of parameters)).
    maxpts : int
        At most this many points per direction.
    delta_cutoff : float
        Target change in zeta between points, as a fraction of the cutoff (lme4's 1/8).
    maxmult : float
        A step grows at most by this factor.
    progress : bool
        Show a progress bar (tqdm) over the parameters.

    Returns
    -------
    Profile
        ``.confint(level)``, ``.zeta_frame()`` as for a linear mixed model's profile.

    Examples
    --------
    >>> import lmmflow as lf
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
    ...              family="binomial")
    >>> pr = glmm_profile(g, which="theta_", progress=False)
    >>> pr.confint().round(3).loc["sd_(Intercept)|herd"].tolist()
    [0.346, 1.1]
    """
    require_kind(g, "glmm", "glmm_profile")
    if g.nagq == 0:
        raise ValueError("a nagq=0 fit is not profiled (its objective is not the likelihood that was maximized): "
                         "refit with nagq=1 (g.update(nagq=1)) and profile that")
    obj = _GlmmProfileObjective(g)
    nvp = obj.nvp
    names = [nm for nm in all_parameter_names(g) if nm != "sigma"]
    targets = select_parameters(names, nvp, which)
    theta_hat = np.asarray(g.theta, dtype=float)
    beta_hat = g.fixef.to_numpy(dtype=float)
    est = np.concatenate([sdcor_from_theta(obj.layout, theta_hat, 1.0), beta_hat])
    base = obj(est)
    if not math.isfinite(base):
        raise ValueError("the objective is not finite at the estimates; cannot profile")
    lower = np.concatenate([[0.0 if np.isfinite(lo) else -1.0 for lo in obj.theta_lower], np.full(len(beta_hat),
                                                                                                   -np.inf)])
    upper = np.concatenate([[np.inf if np.isfinite(lo) else 1.0 for lo in obj.theta_lower],
                            np.full(len(beta_hat), np.inf)])
    se = np.sqrt(np.diag(g.vcov.to_numpy(dtype=float)))
    cutoff = math.sqrt(stats.chi2.ppf(1 - alphamax, len(names)))
    delta = cutoff * delta_cutoff
    if g.is_singular:
        warnings.warn("the fit is singular (a variance is at 0 or a correlation at +/-1): the profile of a "
                      "parameter at its bound starts there and its interval reports the bound as a limit",
                      ProfileWarning, stacklevel=2)
    lowest = [base]
    rows: list[dict[str, Any]] = []
    for nm in tqdm(targets, desc="profile", unit="param", disable=not progress, delay=1.0, leave=False):
        i = names.index(nm)
        if i < nvp:
            step0 = 1e-3 if est[i] == 0 else (0.01 * est[i] if est[i] > 0 else 0.01)
            step0 = step0 if lower[i] > -1 or est[i] + step0 < 1 else -0.01  # a correlation near 1 goes down
        else:
            step0 = delta * se[i - nvp]
        pts = _profile_parameter(obj, i, est, lower, upper, step0, delta, cutoff, maxpts, maxmult, base, lowest)
        for v, z, row, _ in sorted(pts, key=lambda t: t[0]):
            rows.append({"parameter": nm, "value": v, "zeta": z, **dict(zip(names, row))})
    if lowest[0] < base - 1e-6 * max(1.0, abs(base)):
        warnings.warn(f"profiling found an objective {base - lowest[0]:.3g} below the fit's: the fit may not have "
                      "converged; refit (e.g. from these estimates) and profile again", ProfileWarning, stacklevel=2)
    frame = pd.DataFrame(rows, columns=["parameter", "value", "zeta", *names])
    frame = frame.drop_duplicates(["parameter", "value"]).reset_index(drop=True)
    bounds = {nm: (float(lower[k]), float(upper[k])) for k, nm in enumerate(names)}
    return Profile(frame=frame, estimates=pd.Series(est, index=names, name="estimate"), base=base, cutoff=cutoff,
                   bounds=bounds)


def glmm_confint_profile(g: GlmerResult, level: float = 0.95, parm: Any = None, progress: bool = False,
                         **kwargs: Any) -> pd.DataFrame:
    """Profile confidence intervals of a GLMM: what ``g.confint(method="profile")`` returns.

    Parameters
    ----------
    g : GlmerResult
    level : float
    parm : str, int or list, optional
        As ``which`` of :func:`glmm_profile` (only those parameters are profiled).
    progress : bool
    **kwargs
        ``alphamax``, ``maxpts``, ``delta_cutoff``, ``maxmult`` for :func:`glmm_profile`.

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter (SDs / correlations, then fixed effects): lower, upper.

    Examples
    --------
    >>> import lmmflow as lf
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
    ...              family="binomial")
    >>> g.confint(method="profile", parm="period[T.2]").round(3).values.tolist()
    [[-1.617, -0.408]]
    """
    z = stats.norm.ppf((1 + float(level)) / 2)
    alphamax = kwargs.pop("alphamax", None)
    if alphamax is None:  # reach this level's |zeta| whatever the number of parameters (lme4's default 0.01)
        npar = len(g.fixef) + len(g.theta)
        alphamax = min(0.01, float(stats.chi2.sf(z * z * 1.05, npar)))
    pr = glmm_profile(g, which=parm, alphamax=alphamax, progress=progress, **kwargs)
    out = pr.confint(level=level)
    out.index.name = None
    return out
