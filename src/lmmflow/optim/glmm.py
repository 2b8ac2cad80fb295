"""Fit a GLMM: lme4's two-stage optimization of :class:`lmmflow.core.pirls.GlmmObjective` and the Hessian vcov.

Stage 1 optimizes theta with beta estimated inside PIRLS (``nagq = 0``); for ``nagq = 0`` that is the fit, and the
fixed effects' covariance is lme4's ``(RX'RX)^-1``.  Stage 2 (``nagq >= 1``) optimizes (theta, beta) jointly
from there, with beta in units of its stage-1 standard errors so that one trust-region radius suits every
parameter.  For the Laplace approximation with a canonical link (logit, log) beta is profiled out: BOBYQA runs
over theta alone and, at each theta, Newton/BFGS steps on the exact beta gradient
(:meth:`GlmmObjective.laplace_beta_gradient`) minimize over beta; the Hessian's beta rows are then central
differences of that gradient (2 evaluations per parameter instead of 2 per pair).  Both stages use NLopt's
BOBYQA (lme4's ``nloptwrap``; lme4's default for glmer is bobyqa then
Nelder-Mead).  After BOBYQA, Newton steps on a central-difference Hessian polish the optimum (PIRLS solves the modes
to rounding, so the objective is smooth enough for that), and the Hessian at the final point gives
``vcov = 2 H^-1`` (its fixed-effects block), lme4's ``use.hessian = TRUE``.

A :class:`~lmmflow.ConvergenceWarning` is raised only when the Hessian is not positive definite at an interior
optimum or a Newton step would still lower the objective by more than ``conv_tol``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import nlopt
import numpy as np

from ..control import LmerControl
from ..core.pirls import GlmmObjective, PirlsSolution
from ..exceptions import ConvergenceWarning
from .optimize import OptSummary

__all__ = ["GlmmFit", "fit_glmm"]


@dataclass(frozen=True)
class GlmmFit:
    """The optimum of a GLMM and what was learned on the way.

    Attributes
    ----------
    theta, beta : numpy.ndarray
        Estimates (theta in lme4's order).
    objective : float
        -2 log L at the optimum (Laplace, quadrature, or Laplace at the nagq = 0 estimates).
    solution : PirlsSolution
        Modes, fitted values, conditional covariances at the optimum.
    vcov : numpy.ndarray
        Covariance of the fixed effects: the beta block of 2 H^-1 (nagq >= 1), (RX'RX)^-1 (nagq = 0).
    hessian : numpy.ndarray or None
        Hessian of the objective in (theta, beta) at the optimum (nagq >= 1).
    optinfo : OptSummary
        The last stage's record (its ``theta`` holds (theta, beta) for stage 2).
    stages : tuple of OptSummary
        Stage 1 (theta, nagq = 0) and, for nagq >= 1, stage 2.
    nagq : int
    converged, singular : bool

    Examples
    --------
    >>> import numpy as np
    >>> from lmmflow.core.crossprod import ReBlock
    >>> from lmmflow.core.family import poisson
    >>> rng = np.random.default_rng(2)
    >>> g = np.repeat(np.arange(30), 8)
    >>> y = rng.poisson(np.exp(0.5 + 0.4 * rng.standard_normal(30))[g]).astype(float)
    >>> blk = ReBlock(codes=g, Z=np.ones((240, 1)), nlevels=30, mask=np.ones((1, 1), bool))
    >>> fit = fit_glmm(GlmmObjective([blk], np.ones((240, 1)), y, poisson()), nagq=1)
    >>> fit.converged, fit.vcov.shape
    (True, (1, 1))
    """

    theta: np.ndarray
    beta: np.ndarray
    objective: float
    solution: PirlsSolution
    vcov: np.ndarray
    hessian: np.ndarray | None
    optinfo: OptSummary
    stages: tuple[OptSummary, ...] = field(default=())
    nagq: int = 1
    converged: bool = True
    singular: bool = False


def _control(control: Any) -> LmerControl:
    if control is None:
        return LmerControl()
    if isinstance(control, LmerControl):
        return control
    if isinstance(control, dict):
        return LmerControl(**control)
    raise TypeError(f"control={control!r}: give an lmmflow.LmerControl or a dict of its fields")


def _bobyqa(fn: Any, x0: np.ndarray, lower: np.ndarray, step: float, ftol_rel: float, xtol_abs: float,
            maxeval: int) -> tuple[np.ndarray, float, str, int]:
    best = {"x": np.asarray(x0, float).copy(), "f": np.inf, "n": 0}

    def wrapped(x: np.ndarray, grad: np.ndarray) -> float:
        best["n"] += 1
        f = float(fn(x))
        if not np.isfinite(f):
            return 1e300
        if f < best["f"]:
            best["f"], best["x"] = f, np.array(x, dtype=float)
        return f

    opt = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
    opt.set_lower_bounds(lower)
    opt.set_min_objective(wrapped)
    opt.set_ftol_rel(ftol_rel)
    opt.set_xtol_abs(xtol_abs)
    opt.set_maxeval(maxeval)
    opt.set_initial_step(np.full(len(x0), step))
    x0 = np.maximum(np.asarray(x0, float), lower)
    codes = {1: "SUCCESS", 2: "STOPVAL_REACHED", 3: "FTOL_REACHED", 4: "XTOL_REACHED", 5: "MAXEVAL_REACHED",
             6: "MAXTIME_REACHED"}
    try:
        opt.optimize(x0)
        ret = codes.get(opt.last_optimize_result(), str(opt.last_optimize_result()))
    except nlopt.RoundoffLimited:
        ret = "ROUNDOFF_LIMITED"
    return best["x"], best["f"], ret, best["n"]


def _hessian(fn: Any, x: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Central-difference gradient and Hessian of ``fn`` at ``x`` with step ``h`` (all coordinates)."""
    k = len(x)
    f0 = fn(x)
    E = np.eye(k) * h
    fp = np.array([fn(x + E[i]) for i in range(k)])
    fm = np.array([fn(x - E[i]) for i in range(k)])
    g = (fp - fm) / (2 * h)
    H = np.diag((fp - 2 * f0 + fm) / h ** 2)
    for i in range(k):
        for j in range(i):
            fpp = fn(x + E[i] + E[j])
            fmm = fn(x - E[i] - E[j])
            fpm = fn(x + E[i] - E[j])
            fmp = fn(x - E[i] + E[j])
            H[i, j] = H[j, i] = (fpp - fpm - fmp + fmm) / (4 * h * h)
    return g, H, f0


class _BetaProfile:
    """theta -> min over beta of the Laplace objective, by Newton steps on the exact beta gradient.

    The Newton matrix starts as beta's Fisher information at fixed theta (2 RX'RX) and is refined by BFGS updates
    from the exact gradients (kept from one theta to the next); beta is warm-started from the last
    theta and iterated until a step is below sqrt(1e-16 |f|) (within [1e-7, 1e-5]) of beta's standard error.
    """

    def __init__(self, obj: GlmmObjective, beta: np.ndarray, scale: np.ndarray):
        self.obj, self.beta, self.scale, self.inner = obj, beta.copy(), scale, 0
        self.H: np.ndarray | None = None
        self.tol: float | None = None  # None: from |f| (see __call__)

    def __call__(self, theta: np.ndarray) -> float:
        obj, be = self.obj, self.beta.copy()
        f, g, H = obj.laplace_beta_gradient(theta, be, hessian=self.H is None)
        H = H if self.H is None else self.H
        self.inner += 1
        for _ in range(100):
            try:
                step = np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                return np.inf
            # the profiled objective is off by ~ step^2 (in standard errors): stop where that is 1e-3 of
            # BOBYQA's ftol_rel = 1e-13 times |f| (step 4e-6 for f = 1.5e5, at least 1e-7, at most 1e-5)
            tol = self.tol if self.tol is not None else min(1e-5, max(1e-7, float(np.sqrt(1e-16 * abs(f)))))
            if np.max(np.abs(step) / self.scale) < tol:
                break
            t = 1.0
            while True:
                bn = be - t * step
                fn, gn, _ = obj.laplace_beta_gradient(theta, bn)
                self.inner += 1
                if fn <= f + 1e-14 * abs(f) or t < 1e-6:
                    break
                t *= 0.5
            if fn > f + 1e-14 * abs(f):
                break
            # BFGS update of the Newton matrix (started from beta's Fisher information, kept across theta)
            sv, yv = bn - be, gn - g
            sy = float(sv @ yv)
            if sy > 1e-300:
                Hs = H @ sv
                H = H - np.outer(Hs, Hs) / float(sv @ Hs) + np.outer(yv, yv) / sy
            be, f, g = bn, fn, gn
        self.beta = be
        self.H = H
        return float(f)


def _hessian_mixed(obj: GlmmObjective, x: np.ndarray, unpack: Any, scale: np.ndarray,
                   h: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Gradient and Hessian in the scaled (theta, beta / se) units from the exact beta gradient: beta rows by
    central differences of that gradient, the theta-theta block by central differences of the objective."""
    nt = obj.n_theta
    k = len(x)

    def grad(z: np.ndarray) -> tuple[float, np.ndarray]:
        th, be = unpack(z)
        f, g, _ = obj.laplace_beta_gradient(th, be)
        return f, g * scale

    f0, gb0 = grad(x)
    E = np.eye(k) * h
    H = np.zeros((k, k))
    g = np.zeros(k)
    g[nt:] = gb0
    fp, fm = np.zeros(nt), np.zeros(nt)
    for i in range(k):
        f_p, g_p = grad(x + E[i])
        f_m, g_m = grad(x - E[i])
        H[i, nt:] = (g_p - g_m) / (2 * h)
        if i < nt:
            fp[i], fm[i] = f_p, f_m
    H[nt:, nt:] = 0.5 * (H[nt:, nt:] + H[nt:, nt:].T)
    H[nt:, :nt] = H[:nt, nt:].T
    for i in range(nt):
        g[i] = (fp[i] - fm[i]) / (2 * h)
        H[i, i] = (fp[i] - 2 * f0 + fm[i]) / h ** 2
        for j in range(i):
            fpp = unpack_f(obj, unpack, x + E[i] + E[j])
            fmm = unpack_f(obj, unpack, x - E[i] - E[j])
            fpm = unpack_f(obj, unpack, x + E[i] - E[j])
            fmp = unpack_f(obj, unpack, x - E[i] + E[j])
            H[i, j] = H[j, i] = (fpp - fpm - fmp + fmm) / (4 * h * h)
    return g, H, f0


def unpack_f(obj: GlmmObjective, unpack: Any, z: np.ndarray) -> float:
    th, be = unpack(z)
    return obj(th, be)


def fit_glmm(objective: GlmmObjective, nagq: int | None = None, control: Any = None, start: Any = None,
             hessian_step: float = 1e-3, warn: bool = True) -> GlmmFit:
    """Minimize a GLMM objective in lme4's two stages and compute the Hessian-based vcov.

    Parameters
    ----------
    objective : GlmmObjective
    nagq : int, optional
        Default: the objective's.  0: stage 1 only; 1 or more: both stages.
    control : LmerControl or dict, optional
        ``maxeval``, ``conv_tol``, ``singular_tol``, ``check_conv``, ``theta0`` are used.
    start : dict or array-like, optional
        ``{"theta": ..., "beta": ...}``, or theta alone.  A start with beta skips stage 1's optimization
        (stage 1 then only gives the scale of beta).
    hessian_step : float
        Central-difference step, in units of each fixed effect's stage-1 standard error (theta unscaled).
    warn : bool
        Raise :class:`~lmmflow.ConvergenceWarning` for the problems found.

    Returns
    -------
    GlmmFit

    Examples
    --------
    >>> import numpy as np
    >>> from lmmflow.core.crossprod import ReBlock
    >>> from lmmflow.core.family import binomial
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(25), 6)
    >>> y = (rng.random(150) < 0.3 + 0.3 * (g % 2)).astype(float)
    >>> blk = ReBlock(codes=g, Z=np.ones((150, 1)), nlevels=25, mask=np.ones((1, 1), bool))
    >>> fit = fit_glmm(GlmmObjective([blk], np.ones((150, 1)), y, binomial()), nagq=1)
    >>> round(fit.objective, 3) <= round(fit.stages[0].fmin, 3) + 1e-9
    True
    """
    ctl = _control(control)
    obj = objective
    nagq = obj.nagq if nagq is None else int(nagq)
    if nagq != obj.nagq:
        raise ValueError(f"nagq={nagq} but the objective was built for nagq={obj.nagq}")
    t0 = time.perf_counter()
    lower = obj.lower.copy()
    theta0 = obj.theta0()
    beta_start = None
    if ctl.theta0 is not None:
        theta0 = np.asarray(ctl.theta0, dtype=float)
    if start is not None:
        if isinstance(start, dict):
            if start.get("theta") is not None:
                theta0 = np.asarray(start["theta"], dtype=float)
            if start.get("beta") is not None:
                beta_start = np.asarray(start["beta"], dtype=float)
        else:
            theta0 = np.asarray(start, dtype=float)
    if theta0.shape != (obj.n_theta,):
        raise ValueError(f"start theta has {theta0.size} values; this model has {obj.n_theta}")
    if beta_start is not None and beta_start.shape != (obj.n_beta,):
        raise ValueError(f"start beta has {beta_start.size} values; this model has {obj.n_beta} fixed effects")
    messages: list[str] = []
    alerts: list[str] = []

    # ---- stage 1: theta with beta inside PIRLS ----------------------------------------------------------------
    final1 = nagq == 0
    if beta_start is None or final1:
        th1, f1, ret1, n1 = _bobyqa(obj.nagq0, theta0, lower, 0.2 if final1 else 0.3,
                                    1e-12 if final1 else 1e-7, 1e-10 if final1 else 1e-5, ctl.maxeval)
    else:
        th1, _, ret1, n1 = theta0, obj.nagq0(theta0), "START", 1
    sol1 = obj.solve(th1, None)
    if ret1 == "MAXEVAL_REACHED":
        alerts.append(f"stage 1 stopped at the evaluation limit ({ctl.maxeval})")
    stage1 = OptSummary(optimizer="bobyqa", theta0=theta0, theta=th1.copy(), fmin=float(sol1.objective),
                        evaluations=n1, returnvalue=ret1, converged=ret1 != "MAXEVAL_REACHED",
                        messages=("stage 1: theta, beta estimated inside PIRLS (nagq = 0)",),
                        elapsed=time.perf_counter() - t0)
    RtR = sol1.RX.T @ sol1.RX
    vcov1 = np.linalg.inv(RtR)
    if final1:
        singular = _singular(obj, th1, ctl.singular_tol)
        if alerts and warn:
            for a in alerts:
                warnings.warn(a, ConvergenceWarning, stacklevel=2)
        return GlmmFit(theta=th1.copy(), beta=sol1.beta.copy(), objective=float(sol1.objective), solution=sol1,
                       vcov=vcov1, hessian=None, optinfo=stage1, stages=(stage1,), nagq=0,
                       converged=not alerts, singular=singular)

    # ---- stage 2: (theta, beta) ------------------------------------------------------------------------------
    t1 = time.perf_counter()
    nt = obj.n_theta
    beta1 = sol1.beta.copy() if beta_start is None else beta_start
    scale = np.sqrt(np.diag(vcov1))
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    theta_s = th1.copy() if beta_start is None else theta0.copy()

    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x[:nt], beta1 + scale * x[nt:]

    def fx(x: np.ndarray) -> float:
        th, be = unpack(np.asarray(x, dtype=float))
        return obj(th, be)

    x0 = np.concatenate([theta_s, np.zeros(obj.n_beta)])
    lower2 = np.concatenate([lower, np.full(obj.n_beta, -np.inf)])
    fast = obj.has_beta_gradient and ctl.optimizer in ("auto", "lbfgsb")
    if fast:
        # beta profiled out by Newton's method on its exact gradient; BOBYQA over theta alone
        prof = _BetaProfile(obj, beta1, scale)
        th2, _, ret2, n2 = _bobyqa(prof, theta_s, lower, 0.2, 1e-13, 1e-9, ctl.maxeval)
        prof(th2)
        x = np.concatenate([th2, (prof.beta - beta1) / scale])
        n2 += prof.inner
        hess = lambda x: _hessian_mixed(obj, x, unpack, scale, hessian_step)  # noqa: E731
    else:
        x, _, ret2, n2 = _bobyqa(fx, x0, lower2, 0.2, 1e-12, 1e-9, ctl.maxeval)
        hess = lambda x: _hessian(fx, x, hessian_step)  # noqa: E731
    stage2_note = ("stage 2: (theta, beta): bobyqa over theta, beta profiled out by Newton steps on its exact "
                   f"gradient ({prof.inner} Laplace evaluations for {n2 - prof.inner} values of theta)" if fast else
                   "stage 2: (theta, beta), beta scaled by its stage-1 standard errors")
    if ret2 == "MAXEVAL_REACHED":
        alerts.append(f"stage 2 stopped at the evaluation limit ({ctl.maxeval})")

    # ---- Newton polish and the Hessian ---------------------------------------------------------------------------
    on_bound = np.concatenate([np.isfinite(lower) & (x[:nt] <= lower + 1e-8), np.zeros(obj.n_beta, bool)])
    free = ~on_bound
    neval = 0

    g = H = None
    for _ in range(4):
        g, H, f0 = hess(x)
        neval += 1 + (2 * (len(x) + nt * nt) if fast else 2 * len(x) ** 2)
        Hf = H[np.ix_(free, free)]
        try:
            step = np.linalg.solve(Hf, g[free])
        except np.linalg.LinAlgError:
            break
        gain = 0.5 * float(g[free] @ step)
        if not np.all(np.isfinite(step)) or gain <= 1e-12 * max(1.0, abs(f0)):
            break
        xn = x.copy()
        xn[free] -= step
        xn = np.maximum(xn, lower2)
        fn_ = fx(xn)
        neval += 1
        if fn_ < f0:
            x = xn
            if gain < 1e-6:  # a polishing step: the Hessian there is the same to ~1e-6
                break
        else:
            break
    th, be = unpack(x)
    sol = obj.solve(th, be)
    Hs = H
    # back to the (theta, beta) scale
    D = np.concatenate([np.ones(nt), scale])
    Hnat = Hs / np.outer(D, D)
    try:
        Hi = np.linalg.inv(Hnat[np.ix_(free, free)])
        ok = bool(np.all(np.linalg.eigvalsh(Hnat[np.ix_(free, free)]) > 0))
    except np.linalg.LinAlgError:
        Hi, ok = None, False
    nb = obj.n_beta
    if ok:
        full = np.full((len(x), len(x)), np.nan)
        full[np.ix_(free, free)] = 2.0 * Hi
        vcov = full[nt:, nt:]
    else:
        alerts.append("the Hessian of the objective at the optimum is not positive definite: the standard errors "
                      "use the fixed-effects block alone")
        Hb = Hnat[nt:, nt:]
        vcov = 2.0 * np.linalg.pinv(Hb)
    if ctl.check_conv and g is not None and ok:
        gf = g[free]
        gain = 0.5 * float(gf @ np.linalg.solve(Hs[np.ix_(free, free)], gf))
        if gain > ctl.conv_tol:
            alerts.append(f"a Newton step would still lower -2 log L by {gain:.3g}: the fit may not have converged")
    if on_bound.any():
        messages.append("theta on its bound: the Hessian and vcov use the interior parameters")
    singular = _singular(obj, th, ctl.singular_tol)
    stage2 = OptSummary(optimizer="bobyqa", theta0=np.concatenate([theta_s, beta1]), theta=np.concatenate([th, be]),
                        fmin=float(sol.objective), evaluations=n2 + neval, returnvalue=ret2,
                        converged=not alerts, messages=tuple([stage2_note] + messages + alerts),
                        gradient=g / D if g is not None else None, hessian=Hnat, elapsed=time.perf_counter() - t1,
                        alerts=tuple(alerts))
    if alerts and warn:
        for a in alerts:
            warnings.warn(a, ConvergenceWarning, stacklevel=2)
    return GlmmFit(theta=th.copy(), beta=be.copy(), objective=float(sol.objective), solution=sol,
                   vcov=np.asarray(vcov, dtype=float).reshape(nb, nb), hessian=Hnat, optinfo=stage2,
                   stages=(stage1, stage2), nagq=nagq, converged=not alerts, singular=singular)


def _singular(obj: GlmmObjective, theta: np.ndarray, tol: float) -> bool:
    """lme4's isSingular: a diagonal element of a relative covariance factor below ``tol``."""
    lower = obj.lower
    return bool(np.any(np.isfinite(lower) & (np.asarray(theta) < tol)))
