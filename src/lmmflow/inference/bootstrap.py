"""Parametric bootstrap of a fitted model (lme4's ``bootMer``), fast enough to run by default.

Each replicate simulates a response from the fitted model (new random effects and residuals, or only new
residuals with ``use_u=True``), refits the same model to it and records a statistic.  Nothing about the
design is rebuilt: a new response changes only the response parts of the cross-products ``[Z X y]'[Z X y]``
(``Z'y``, ``X'y``, ``y'y``), which are computed for a whole chunk of replicates with one sparse product.

The refits start from the fitted theta.  For a model with one random-effects term (the common case:
``(1 | g)``, ``(x | g)``, ``(x || g)``) a chunk of replicates is refitted *together*: the profiled objective
of all replicates, at all the points a Newton step needs (central differences for the gradient and
Hessian), is evaluated in one vectorized pass over ``replicates x levels`` arrays; each replicate takes its
own damped Newton steps with a backtracking line search until the Newton decrement is below 1e-9 on the
-2 log-likelihood scale.  A replicate whose Newton iteration fails (an estimate at a boundary, an
indefinite Hessian at the end, no convergence in 30 steps) is refitted on its own with the ordinary
optimizer (L-BFGS-B with the analytic gradient), as are all replicates of models with several terms.
Either way the estimates agree with a separate ``refit`` to optimizer precision.

Replicate ``i`` draws its random numbers from ``numpy.random.SeedSequence(seed).spawn(nsim)[i]``, and
chunks have a fixed size, so the replicates are identical whatever ``n_jobs`` is and wherever they run
(local processes or a Dask cluster, see :mod:`lmmflow.inference.parallel`).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ..core import CrossProducts, DevianceFunction
from ..core.criterion import criterion_dof, gaussian_criterion
from ..core.oneterm import level_factors
from ..core.parammap import ParameterMap
from ..optim import OptSummary, optimize_theta
from ..optim.batched import batched_cholesky, batched_newton
from ..optim.threads import blas_threads
from .intervals import all_parameter_names, check_scale, sdcor_from_theta, sdcor_to_vcov, variance_layout
from .parallel import progress_map

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..results.model import LmerResult

__all__ = ["BootstrapFailures", "BootstrapResult", "BootstrapWarning", "bootstrap"]

CHUNK = 100  # replicates per task at most (fixed for a model, so results do not depend on n_jobs)
CHUNK_VALUES = 5_000_000  # ... and at most this many simulated values (rows x replicates) per task
MAX_BATCH_PARAMS = 10  # batched Newton for single-term models with at most this many theta elements


class BootstrapWarning(UserWarning):
    """Some bootstrap refits failed (they are counted in ``result.failures``)."""


@dataclass(frozen=True)
class BootstrapFailures:
    """The refits that failed: how many, which replicates and why.

    Attributes
    ----------
    count : int
    replicates : tuple of int
        0-based replicate numbers.
    messages : tuple of str
        One message per failed replicate.
    """

    count: int = 0
    replicates: tuple[int, ...] = ()
    messages: tuple[str, ...] = ()

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

    def to_frame(self) -> pd.DataFrame:
        """A table with one row per failed replicate: replicate, message."""
        return pd.DataFrame({"replicate": list(self.replicates), "message": list(self.messages)})


# ---- the payload every chunk needs ------------------------------------------------------------------
@dataclass
class _Payload:
    cp: CrossProducts
    X: np.ndarray
    mu: np.ndarray  # X beta (offset excluded: the engine works on y - offset)
    term_codes: list[np.ndarray]
    term_Z: list[np.ndarray]
    re_chol: list[np.ndarray]  # sigma * lambda per term: b = N(0, I) @ re_chol'
    b_hat: list[np.ndarray]
    resid_scale: np.ndarray | float
    reml: bool
    theta_hat: np.ndarray
    lower: np.ndarray
    layout: list[tuple[slice, np.ndarray, np.ndarray, int]]
    control: Any
    use_u: bool
    statistic: Callable[[Any], Any] | None = None
    design: Any = None
    offset: np.ndarray | None = None
    data_name: str = "data"
    batched: bool = True
    zt: list[Any] = field(default_factory=list)
    patterns: Any = None  # SingleTermProfile when the one term's levels share few patterns of observations


def _payload(m: LmerResult, statistic: Callable[[Any], Any] | None, use_u: bool) -> _Payload:
    cp = m.devfun.cp
    f = m.devfun.factor
    lams = f.lambdas_of(m.solution.theta)
    w = m.weights
    # the batched Newton refits work on lme4's theta: structured covariances (cs, ar1) refit one by one
    batched = len(cp.blocks) == 1 and f.n_theta <= MAX_BATCH_PARAMS and f.pmap.identity
    layout = [(sl, rows, cols, b.p) for sl, (rows, cols), b in zip(f.slices, f.positions, cp.blocks)]
    zt = [b.sparse_z(cp.w_sqrt).T.tocsr() for b in cp.blocks]
    return _Payload(
        cp=cp, X=m.design.X, mu=m.design.X @ m.solution.beta,
        term_codes=[t.codes for t in m.design.terms], term_Z=[t.Z for t in m.design.terms],
        re_chol=[m.sigma * lam for lam in lams], b_hat=[np.asarray(b) for b in m.solution.b],
        resid_scale=m.sigma / np.sqrt(w) if w is not None else m.sigma, reml=m.reml,
        theta_hat=m.solution.theta.copy(), lower=f.lower.copy(), layout=layout,
        control=m.control.replace(check_conv=False, theta0=None), use_u=use_u,
        statistic=statistic, design=m.design if statistic is not None else None, offset=m.offset,
        data_name=m.data_name,
        batched=batched, zt=zt, patterns=_pattern_profile(m) if batched else None)


def _pattern_profile(m: LmerResult) -> Any:
    """The model's one-term objective compressed by level pattern (see ``lmmflow.core.patterns``), if its
    levels are many and share few patterns; else None (the batched objective then works per level)."""
    from ..core.patterns import PatternObjective
    from ..scale.single_term import SingleTermProfile

    if PatternObjective.maybe(m.devfun.cp, *m.devfun.factor.positions[0]) is None:
        return None
    return SingleTermProfile(m.devfun.cp, m.design.X, reml=m.reml)


def chunk_size(nobs: int) -> int:
    """Replicates per task: 100, fewer for large data so a task's simulated responses stay near 40 MB."""
    return int(max(1, min(CHUNK, CHUNK_VALUES // max(nobs, 1))))


def _simulate(pl: _Payload, seeds: list[np.random.SeedSequence]) -> np.ndarray:
    """Responses (offset removed), one column per replicate, each from its own seed."""
    n = len(pl.mu)
    Y = np.empty((n, len(seeds)))
    for j, ss in enumerate(seeds):
        rng = np.random.default_rng(ss)
        y = pl.mu.copy()
        for codes, Z, C, b_hat in zip(pl.term_codes, pl.term_Z, pl.re_chol, pl.b_hat):
            b = b_hat if pl.use_u else rng.standard_normal(b_hat.shape) @ C.T
            y += np.einsum("ip,ip->i", Z, b[codes])
        Y[:, j] = y + pl.resid_scale * rng.standard_normal(n)
    return Y


# ---- batched objective for one random-effects term ------------------------------------------------------
class _SingleTermBatch:
    """The profiled objective of one-term models for many (theta, response) pairs at once."""

    def __init__(self, cp: CrossProducts, reml: bool, layout: list[tuple[slice, np.ndarray, np.ndarray, int]]):
        b = cp.blocks[0]
        self.nl, self.p, self.px = b.nlevels, b.p, cp.p
        self.c = self.px + 1
        self.A = cp.diag[0]  # (nl, p, p)
        self.cX = cp.xz[0][:self.px].reshape(self.px, self.nl, self.p).transpose(1, 2, 0)  # (nl, p, px)
        self.cXt = np.ascontiguousarray(self.cX.transpose(1, 2, 0))  # (p, px, nl)
        self.XX = cp.xx[:self.px, :self.px]
        self.n, self.reml, self.log_w = cp.n, reml, cp.log_weights
        _, self.rows, self.cols, _ = layout[0]
        self.max_points = max(1, int(3e6 // (self.nl * self.p * self.c)))

    def set_responses(self, zy: np.ndarray, xy: np.ndarray, yy: np.ndarray) -> None:
        """Response parts for R replicates: Z'y (q, R), X'y (px, R), y'y (R,)."""
        R = zy.shape[1]
        self.cy = zy.T.reshape(R, self.nl, self.p)
        xx = np.empty((R, self.c, self.c))
        xx[:, :self.px, :self.px] = self.XX
        xx[:, self.px, :self.px] = xx[:, :self.px, self.px] = xy.T
        xx[:, self.px, self.px] = yy
        self.xx = xx

    def _factor(self, theta: np.ndarray, rep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log|L_Z|^2 and the factor of the [X y] block for points (N, d) of replicates rep (N,).

        Per level, the one-term kernel (:func:`lmmflow.core.oneterm.level_factors`) gives R_i with
        G_i = R_i' R_i; the level's rows of the factor in the [X y] columns are W_i = R_i C_i
        (C_i = Z_i'[X y]), and the [X y] block is ``[X y]'[X y] - sum_i W_i' W_i``.
        """
        N, p, px = len(theta), self.p, self.px
        lam = np.zeros((N, p, p))
        lam[:, self.rows, self.cols] = theta
        logdet, R = level_factors(lam, self.A)  # (N,), (N, p, p, nl)
        # laid out with the levels innermost, so every product below runs over contiguous (N, levels) arrays
        C = np.empty((p, self.c, N, self.nl))  # C[b, :, n, i] = Z_i[:, b]'[X y] for replicate rep[n]
        C[:, :px] = self.cXt[:, :, None, :]
        C[:, px] = self.cy[rep].transpose(2, 0, 1)
        W = np.empty((self.c, N, p, self.nl))
        for a in range(p):
            np.multiply(R[:, a, 0], C[0], out=W[:, :, a])
            for b in range(1, p):
                W[:, :, a] += R[:, a, b] * C[b]
        W = W.reshape(self.c, N, p * self.nl)
        S = self.xx[rep] - np.einsum("cnk,dnk->ncd", W, W)
        return logdet, batched_cholesky(S)

    def _criterion(self, logdet: np.ndarray, LXX: np.ndarray) -> np.ndarray:
        px = self.px
        pwrss = LXX[:, px, px] ** 2
        ldx = 2.0 * np.sum(np.log(np.diagonal(LXX, axis1=1, axis2=2)[:, :px]), axis=1) if self.reml else 0.0
        val = gaussian_criterion(logdet, ldx, pwrss, self.n, px, self.reml, self.log_w)
        return np.where(np.isfinite(val), val, np.inf)

    def objective(self, theta: np.ndarray, rep: np.ndarray) -> np.ndarray:
        """The REML criterion or deviance at points theta (N, d) for replicates rep (N,)."""
        out = np.empty(len(theta))
        for s in range(0, len(theta), self.max_points):
            sl = slice(s, s + self.max_points)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[sl] = self._criterion(*self._factor(theta[sl], rep[sl]))
        return out

    def estimates(self, theta: np.ndarray, rep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Objective, fixed effects (N, px) and sigma (N,) at the given points."""
        from numpy.linalg import solve

        logdet, LXX = self._factor(theta, rep)
        obj = self._criterion(logdet, LXX)
        px = self.px
        R = LXX[:, :px, :px]
        beta = solve(R.transpose(0, 2, 1), LXX[:, px, :px][:, :, None])[:, :, 0] if px else np.zeros((len(theta), 0))
        dof = criterion_dof(self.n, px, self.reml)
        sigma = np.abs(LXX[:, px, px]) / math.sqrt(dof)
        return obj, beta, sigma


# ---- one chunk of replicates ------------------------------------------------------------------------------
def _stat_vector(value: Any) -> tuple[list[str] | None, np.ndarray]:
    if isinstance(value, pd.Series):
        return [str(k) for k in value.index], value.to_numpy(dtype=float)
    if isinstance(value, dict):
        return [str(k) for k in value], np.asarray(list(value.values()), dtype=float)
    arr = np.atleast_1d(np.asarray(value, dtype=float)).ravel()
    return None, arr


def _boot_chunk(pl: _Payload, chunk: tuple[int, list[np.random.SeedSequence]]) -> dict[str, Any]:
    """Simulate and refit one chunk of replicates (module level, so it pickles for workers and Dask)."""
    with blas_threads(getattr(pl.control, "blas_threads", 1)):
        return _boot_chunk_work(pl, chunk)


def _boot_chunk_work(pl: _Payload, chunk: tuple[int, list[np.random.SeedSequence]]) -> dict[str, Any]:
    start, seeds = chunk
    R = len(seeds)
    Y = _simulate(pl, seeds)
    cp = pl.cp
    theta = np.tile(pl.theta_hat, (R, 1))
    ok = np.zeros(R, dtype=bool)
    fval = np.full(R, np.nan)
    if pl.batched and pl.patterns is not None:
        # many levels sharing few patterns: the objective from per-pattern sums (no pass over the levels)
        prof = pl.patterns
        prof.set_responses(Y)
        theta, fval, ok = batched_newton(_ProfileBatch(prof), pl.theta_hat, pl.lower, R)
        beta_b = np.full((R, cp.p), np.nan)
        sigma_b = np.full(R, np.nan)
        for j in np.flatnonzero(ok):
            est = prof.estimates(theta[j], j)
            beta_b[j], sigma_b[j] = est["beta"], est["sigma"]
    elif pl.batched:
        Yw = Y if cp.w_sqrt is None else Y * cp.w_sqrt[:, None]
        Xw = pl.X if cp.w_sqrt is None else pl.X * cp.w_sqrt[:, None]
        # centre each response on its OLS fit, as CrossProducts.build does (no precision lost to a large mean)
        shift = np.linalg.solve(cp.xx[:-1, :-1], Xw.T @ Yw) if cp.p else np.zeros((0, R))
        Yw = Yw - Xw @ shift
        ev = _SingleTermBatch(cp, pl.reml, pl.layout)
        ev.set_responses(pl.zt[0] @ Yw, Xw.T @ Yw, np.einsum("ij,ij->j", Yw, Yw))
        theta, fval, ok = batched_newton(ev, pl.theta_hat, pl.lower, R)
        _, beta_b, sigma_b = ev.estimates(theta, np.arange(R))
        beta_b = beta_b + shift.T
    names: list[str] | None = None
    rows: list[np.ndarray | None] = [None] * R
    failures: list[tuple[int, str]] = []
    for j in range(R):
        try:
            sol = devfun = opt = None
            if not ok[j]:
                devfun, opt = _refit(pl, Y[:, j])
                sol = devfun.solve(opt.theta)
                th, beta, sigma = sol.theta, sol.beta, sol.sigma
            else:
                th, beta, sigma = theta[j], beta_b[j], float(sigma_b[j])
            if pl.statistic is None:
                th_lme4 = ParameterMap.of_blocks(cp.blocks).theta(th)  # the layout is lme4's theta's
                vals = np.concatenate([sdcor_from_theta(pl.layout, th_lme4, sigma), [sigma], beta])
            else:
                if devfun is None:
                    devfun = DevianceFunction(cp.with_response(Y[:, j], pl.X), reml=pl.reml)
                    opt = OptSummary(optimizer="newton (batched)", theta0=pl.theta_hat, theta=th,
                                     fmin=float(fval[j]), evaluations=0, returnvalue="CONVERGED", converged=True)
                fit = _result(pl, Y[:, j], devfun, opt)
                nm, vals = _stat_vector(pl.statistic(fit))
                if names is None and nm is not None:
                    names = nm
            rows[j] = vals
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported
            failures.append((start + j, f"{type(e).__name__}: {e}"))
    return {"start": start, "rows": rows, "names": names, "failures": failures, "newton": int(ok.sum())}


class _ProfileBatch:
    """A pattern-compressed profile as the batched objective of :func:`batched_newton`."""

    def __init__(self, prof: Any):
        self.prof = prof

    def objective(self, theta: np.ndarray, rep: np.ndarray) -> np.ndarray:
        return self.prof.objective_many(theta, rep)


def _refit(pl: _Payload, y: np.ndarray) -> tuple[DevianceFunction, OptSummary]:
    """One replicate's refit with the ordinary optimizer (``fit_design``'s strategy, started at theta-hat).

    An optimizer that stops early gets a second opinion from the other one (BOBYQA / L-BFGS-B), started
    where it stopped.  A result on a boundary (an SD of 0) is compared with a fit from lme4's default
    start, and the better optimum is kept: a start far from this replicate's optimum can stop at a
    boundary point that is only a local minimum.
    """
    devfun = DevianceFunction(pl.cp.with_response(y, pl.X), reml=pl.reml)
    lower = devfun.lower
    bounded = np.isfinite(lower)
    other = pl.control.replace(optimizer="lbfgsb" if pl.control.optimizer != "lbfgsb" else "bobyqa")
    best: OptSummary | None = None
    errors: list[str] = []
    for start in (pl.theta_hat, devfun.theta0):
        for ctrl in (pl.control, other):
            try:
                opt = optimize_theta(devfun, start, lower, control=ctrl, value_and_grad=devfun.value_and_gradient,
                                     upper=None if devfun.pmap.identity else devfun.upper)
            except Exception as e:  # noqa: BLE001 - try the next optimizer / start; reported if all fail
                errors.append(f"{ctrl.optimizer}: {type(e).__name__}: {e}")
                continue
            if best is None or (opt.converged, -opt.fmin) > (best.converged, -best.fmin):
                best = opt
            if opt.converged:
                break
            start = opt.theta  # the other optimizer continues from where this one stopped
        if best is not None and best.converged and not np.any(bounded & (best.theta < 1e-4)):
            break
    if best is None:
        raise RuntimeError("every refit attempt failed: " + "; ".join(errors))
    if not best.converged or not math.isfinite(best.fmin):
        raise RuntimeError(f"the refit did not converge ({best.returnvalue})")
    return devfun, best


def _result(pl: _Payload, y: np.ndarray, devfun: DevianceFunction, opt: OptSummary) -> LmerResult:
    from ..results.model import LmerResult

    y_full = y if pl.offset is None else y + pl.offset
    return LmerResult(pl.design.with_response(y_full), devfun, opt, pl.control, data_name=pl.data_name)


# ---- the result ----------------------------------------------------------------------------------------------
class BootstrapResult:
    """Replicates of a parametric bootstrap, with intervals and a summary.

    Attributes
    ----------
    replicates : pandas.DataFrame
        One row per successful replicate (indexed by replicate number), one column per statistic.
    t0 : pandas.Series
        The statistic on the original fit.
    failures : BootstrapFailures
        Refits that failed (not in ``replicates``).
    nsim : int
    seed : int or None
    elapsed : float
        Seconds spent.
    layout : list or None
        With the default statistic, where the SDs and correlations sit (see
        :func:`lmmflow.inference.intervals.variance_layout`), for intervals on the ``vcov`` scale.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (1 | Subject)", lf.load_dataset("sleepstudy"))
    >>> b = lf.bootstrap(m, nsim=100, seed=2, progress=False)
    >>> b.failures.count, list(b.summary().columns)
    (0, ['original', 'bias', 'std_error', 'mean', 'n'])
    >>> ci = b.confint(level=0.9, type="basic")
    >>> bool((ci["lower"] < b.t0).all() and (b.t0 < ci["upper"]).all())
    True
    >>> list(b.confint(scale="vcov").index)
    ['var_(Intercept)|Subject', 'var_Residual', '(Intercept)', 'Days']
    """

    def __init__(self, replicates: pd.DataFrame, t0: pd.Series, failures: BootstrapFailures, nsim: int,
                 seed: Any, elapsed: float, n_jobs: int, use_u: bool, newton: int = 0,
                 layout: list[tuple[str, int, int]] | None = None):
        self.replicates = replicates
        self.t0 = t0
        self.failures = failures
        self.nsim = nsim
        self.seed = seed
        self.elapsed = elapsed
        self.n_jobs = n_jobs
        self.use_u = use_u
        self.n_newton = newton
        self.layout = layout

    def on_scale(self, scale: str = "sdcor") -> tuple[pd.DataFrame, pd.Series]:
        """The replicates and ``t0`` on the ``sdcor`` (as computed) or ``vcov`` scale.

        On the ``vcov`` scale the columns are ``var_...``, ``cov_...``, ``var_Residual`` and the fixed
        effects; a covariance is 0 in a replicate with an SD of 0 (where the correlation is undefined).

        Raises
        ------
        ValueError
            ``scale="vcov"`` for a bootstrap of a user statistic.
        """
        if check_scale(scale) == "sdcor":
            return self.replicates, self.t0
        if self.layout is None:
            raise ValueError("scale='vcov' needs the default statistic (the model's parameters); transform the "
                             "replicates of a user statistic yourself")
        from .intervals import _vcov_name

        cols = [_vcov_name(c) if i <= len(self.layout) else c for i, c in enumerate(self.replicates.columns)]
        reps = pd.DataFrame(sdcor_to_vcov(self.layout, self.replicates.to_numpy(dtype=float)),
                            index=self.replicates.index, columns=cols)
        t0 = pd.Series(sdcor_to_vcov(self.layout, self.t0.to_numpy(dtype=float)), index=cols, name=self.t0.name)
        return reps, t0

    def confint(self, level: float = 0.95, type: str = "perc", parm: Any = None,  # noqa: A002
                scale: str = "sdcor") -> pd.DataFrame:
        """Bootstrap confidence intervals.

        Parameters
        ----------
        level : float
            Confidence level, strictly between 0 and 1.
        type : {"perc", "basic", "norm"}
            Percentile interval; basic (reflected percentile) interval ``2 t0 - q``; normal interval
            ``t0 - bias -+ z * sd`` (``boot.ci``'s three simple types).
        parm : list of str, optional
            Statistics to include (default all), named as on ``scale``.
        scale : {"sdcor", "vcov"}
            Intervals for SDs and correlations, or (default statistic only) for variances and covariances,
            computed from the replicates transformed to that scale.

        Returns
        -------
        pandas.DataFrame
            Indexed by statistic: lower, upper.  ``attrs["n_used"]`` holds the replicates behind each
            interval, ``attrs["nsim"]`` and ``attrs["n_failed"]`` the replicates asked for and the failed refits.

        Warns
        -----
        BootstrapWarning
            When a statistic is undefined (NaN) in some replicates (a correlation in a refit with an SD of
            0): its interval uses the others, and the warning says how many were left out.
        """
        level = float(level)
        if not 0 < level < 1:
            raise ValueError(f"level={level}: a confidence level strictly between 0 and 1")
        if type not in ("perc", "basic", "norm"):
            raise ValueError(f"type={type!r}: use 'perc', 'basic' or 'norm'")
        a = (1.0 - level) / 2.0
        t, t0s = self.on_scale(scale)
        cols = list(t.columns) if parm is None else [parm] if isinstance(parm, str) else list(parm)
        unknown = [c for c in cols if c not in t.columns]
        if unknown:
            raise ValueError(f"unknown statistic(s) {unknown}; the statistics are {list(t.columns)}")
        lo, hi, used, undefined = [], [], [], []
        for c in cols:
            v = t[c].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            used.append(v.size)
            if v.size < len(t):
                undefined.append(f"{c} ({len(t) - v.size})")
            t0 = float(t0s[c])
            if v.size == 0:
                lo.append(np.nan)
                hi.append(np.nan)
            elif type == "perc":
                q = np.quantile(v, [a, 1 - a])
                lo.append(q[0])
                hi.append(q[1])
            elif type == "basic":
                q = np.quantile(v, [a, 1 - a])
                lo.append(2 * t0 - q[1])
                hi.append(2 * t0 - q[0])
            else:
                z = stats.norm.ppf(1 - a)
                center = 2 * t0 - v.mean()
                sd = v.std(ddof=1) if v.size > 1 else np.nan
                lo.append(center - z * sd)
                hi.append(center + z * sd)
        if undefined:
            warnings.warn(f"statistics undefined in some of the {len(t)} successful replicates, whose intervals use "
                          f"the others: {', '.join(undefined)} (a correlation is undefined in a refit with an SD of "
                          "0; scale='vcov' has a covariance of 0 there)", BootstrapWarning, stacklevel=2)
        out = pd.DataFrame({"lower": lo, "upper": hi}, index=pd.Index(cols, name="parameter"))
        out.attrs.update({"n_used": dict(zip(cols, used)), "nsim": self.nsim, "n_failed": self.failures.count})
        return out

    def summary(self) -> pd.DataFrame:
        """original, bias, std_error (as ``print(bootMer(...))``), plus mean and the number of replicates."""
        t = self.replicates
        mean = t.mean()
        return pd.DataFrame({"original": self.t0, "bias": mean - self.t0, "std_error": t.std(ddof=1),
                             "mean": mean, "n": t.notna().sum()})

    def __repr__(self) -> str:
        head = (f"Parametric bootstrap: {self.nsim} replicates ({self.failures.count} failed), "
                f"{self.elapsed:.2f} s, n_jobs={self.n_jobs}")
        return head + "\n" + self.summary().to_string(float_format=lambda v: f"{v:.6g}")


def _t0(m: LmerResult, statistic: Callable[[Any], Any] | None) -> tuple[list[str], np.ndarray]:
    if statistic is None:
        names = all_parameter_names(m)
        sd = sdcor_from_theta([(sl, r, c, b.p) for sl, (r, c), b in
                               zip(m.devfun.factor.slices, m.devfun.factor.positions, m.devfun.cp.blocks)],
                              m.devfun.pmap.theta(m.solution.theta), m.sigma)  # lme4's theta's layout
        return names, np.concatenate([sd, [m.sigma], m.solution.beta])
    nm, vals = _stat_vector(statistic(m))
    return (nm if nm is not None else [f"t{i + 1}" for i in range(len(vals))]), vals


def bootstrap(m: LmerResult, statistic: Callable[[Any], Any] | None = None, nsim: int = 1000,
              seed: int | np.random.SeedSequence | None = None, n_jobs: int = 1, progress: bool = True,
              client: Any = None, use_u: bool = False) -> BootstrapResult:
    """Parametric bootstrap: simulate from the fit, refit, collect a statistic (lme4's ``bootMer``).

    Parameters
    ----------
    m : LmerResult or GlmerResult
        A GLMM (``lf.glmer`` fit) is bootstrapped by :func:`lmmflow.inference.glmm_bootstrap.glmm_bootstrap`
        (with ``n_jobs`` and ``client`` as here; ``use_u`` does not apply).
    statistic : callable, optional
        ``statistic(fit) -> Series | dict | array`` applied to each refit (an :class:`LmerResult`).
        Default: the standard deviations and correlations, ``sigma`` and the fixed effects, with lme4's
        names, computed directly from the refit's estimates (no result object is built, which is faster).
    nsim : int
        Number of replicates.
    seed : int or numpy.random.SeedSequence, optional
        Makes the replicates reproducible, for any ``n_jobs`` and on a cluster.
    n_jobs : int
        Local processes (``-1``: all cores).  Replicates go in chunks of up to 100 (fewer for large data),
        the model once per process.
    progress : bool
        Show a progress bar (tqdm) when the run takes more than a second.
    client : dask.distributed.Client, optional
        Run the chunks on a Dask cluster (see :func:`lmmflow.inference.parallel.parallel_map`).
    use_u : bool
        Keep the random effects at their conditional modes and simulate only new residuals
        (lme4's ``use.u = TRUE``); the default simulates new random effects too.

    Returns
    -------
    BootstrapResult
        ``.replicates`` (successful replicates x statistics), ``.failures`` (failed refits, counted and
        reported with a :class:`BootstrapWarning`), ``.confint(level, type)``, ``.summary()``.

    Raises
    ------
    NotImplementedError
        For a fit on a Dask DataFrame (its rows are not on the driver to simulate from).

    Notes
    -----
    A replicate fails when its refit raises, does not converge, or the statistic raises; failed replicates
    are kept out of ``replicates`` and listed in ``failures``.  With the default statistic the
    ``sd_``/``cor_`` columns follow lme4's ``confint(method = "boot")``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> b = lf.bootstrap(m, nsim=200, seed=1, progress=False)
    >>> b.replicates.shape
    (200, 6)
    >>> list(b.confint(level=0.9).index[:2])
    ['sd_(Intercept)|Subject', 'cor_Days.(Intercept)|Subject']
    """
    if getattr(m, "model_kind", "lmm") == "glmm":  # a glmer fit: simulate from the family, refit the GLMM
        if use_u:
            raise ValueError("use_u=True is not supported for a GLMM bootstrap: new random effects are drawn for "
                             "every replicate (lme4's use.u = FALSE)")
        from .glmm_bootstrap import glmm_bootstrap

        return glmm_bootstrap(m, statistic=statistic, nsim=nsim, seed=seed, progress=progress, n_jobs=n_jobs,
                              client=client)
    if int(nsim) < 1:
        raise ValueError("nsim must be at least 1")
    if m.design.X.shape[0] != m.nobs:
        raise NotImplementedError("the parametric bootstrap simulates every row's response on the driver, and a fit "
                                  "on a Dask DataFrame keeps its rows in the partitions: bootstrap a fit of an "
                                  "in-memory frame (client= runs its refits on a Dask cluster)")
    nsim = int(nsim)
    t_start = time.perf_counter()
    names, t0 = _t0(m, statistic)
    pl = _payload(m, statistic, use_u)
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    children = ss.spawn(nsim)
    size = chunk_size(m.nobs)
    chunks = [(s, children[s:s + size]) for s in range(0, nsim, size)]
    results = progress_map(_boot_chunk, chunks, total=nsim, desc="bootstrap", unit="refit", progress=progress,
                           count=lambda r: len(r["rows"]), n_jobs=n_jobs, client=client, payload=pl)
    index, values, fails = [], [], []
    newton = 0
    for res in results:
        newton += res["newton"]
        if res["names"] is not None and statistic is not None:
            names = res["names"] if len(res["names"]) == len(names) else names
        for j, row in enumerate(res["rows"]):
            if row is not None:
                if len(row) != len(names):
                    fails.append((res["start"] + j, f"the statistic returned {len(row)} values, not {len(names)}"))
                    continue
                index.append(res["start"] + j)
                values.append(row)
        fails.extend(res["failures"])
    fails.sort()
    table = pd.DataFrame(np.asarray(values, dtype=float).reshape(len(values), len(names)),
                         index=pd.Index(index, name="replicate"), columns=names)
    failures = BootstrapFailures(count=len(fails), replicates=tuple(i for i, _ in fails),
                                 messages=tuple(msg for _, msg in fails))
    if failures:
        first = failures.messages[0]
        warnings.warn(f"{failures.count} of {nsim} bootstrap refits failed and are left out of the replicates "
                      f"(see result.failures); first: {first}", BootstrapWarning, stacklevel=2)
    return BootstrapResult(table, pd.Series(t0, index=names, name="original"), failures, nsim,
                           seed if not isinstance(seed, np.random.SeedSequence) else seed.entropy,
                           time.perf_counter() - t_start, n_jobs, use_u, newton,
                           layout=variance_layout(m) if statistic is None else None)
