"""Minimize the profiled objective over theta with a derivative-free optimizer, and check the result.

NLopt's BOBYQA is the default, as in lme4 (``nloptwrap``) and MixedModels.jl.  After it stops, the
gradient and Hessian at the optimum are estimated by central differences on the parameters that are
not on their bounds; a Newton step from there tells how much the objective could still fall.  A
convergence warning is given only when that is more than ``conv_tol`` on the -2 log L scale, so large
data sets do not raise lme4's false alarms (its gradient check scales with the number of rows).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import nlopt
import numpy as np
from scipy.optimize import Bounds, minimize
from scipy.sparse.linalg import LinearOperator

from ..control import LmerControl
from ..exceptions import ConvergenceWarning

__all__ = ["ConvergenceWarning", "OptSummary", "fd_gradient_hessian", "optimize_theta"]


@dataclass(frozen=True)
class OptSummary:
    """The record of an optimization (MixedModels.jl's ``OptSummary``).

    Attributes
    ----------
    optimizer : str
    theta0, theta : numpy.ndarray
        Start and end.
    fmin : float
        Objective at ``theta``.
    evaluations : int
        Objective evaluations, including the convergence check.
    returnvalue : str
        The optimizer's stopping reason.
    converged : bool
    messages : tuple of str
        Notes from the checks (boundary, polishing, convergence).
    gradient : numpy.ndarray or None
        Finite-difference gradient at the optimum (NaN for parameters on a bound).
    hessian : numpy.ndarray or None
        Finite-difference Hessian of the interior parameters.
    elapsed : float
        Seconds spent.
    log : tuple of (theta, objective)
        Every evaluation, when ``record=True`` was asked for.
    alerts : tuple of str
        The messages that were (or, with ``warn=False``, are due to be) raised as
        :class:`~lmmflow.ConvergenceWarning`: the evaluation limit, a too small limit, a Newton step that
        would still lower the objective.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> opt = m.optinfo
    >>> opt.optimizer, opt.converged, round(opt.fmin, 3)
    ('bobyqa', True, 1743.628)
    """

    optimizer: str
    theta0: np.ndarray
    theta: np.ndarray
    fmin: float
    evaluations: int
    returnvalue: str
    converged: bool
    messages: tuple[str, ...] = ()
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None
    elapsed: float = 0.0
    log: tuple[tuple[np.ndarray, float], ...] = field(default=(), repr=False)
    alerts: tuple[str, ...] = ()

    def __str__(self) -> str:
        lines = [
            f"optimizer:      {self.optimizer}",
            f"initial theta:  {np.array2string(self.theta0, precision=6)}",
            f"final theta:    {np.array2string(self.theta, precision=6)}",
            f"objective:      {self.fmin:.8f}",
            f"evaluations:    {self.evaluations}",
            f"return value:   {self.returnvalue}",
            f"converged:      {self.converged}",
            f"time:           {self.elapsed:.4f} s",
        ]
        lines += [f"note: {m}" for m in self.messages]
        return "\n".join(lines)


_TINY_GAIN = 1e-13  # predicted Newton gains below this share of |objective| are rounding: no step
_BOUNDARY_STEP = 1e-3  # a step off a bound that tells a saddle point on it from a minimum


_MAX_ESCAPES = 3  # restarts of the gradient method from a column on the boundary (each must lower the objective)
_NONZERO = 1e-5  # entries below a diagonal entry on its bound smaller than this make a zero column
_NEAR_ZERO = 1e-3  # a column whose entries are all smaller than this is tried as a zero column (a gradient method
# approaches a zero column's saddle point slowly and may stop just off it: kb07-shaped fits ended with a diagonal
# entry at 1.6e-5, the saddle unseen, 0.04 above BOBYQA's optimum)
_SADDLE_STEP = 1e-2  # step of the second differences along a zero column


def _columns_on_bound(x: np.ndarray, lower: np.ndarray, tol: float = _NONZERO) -> list[np.ndarray]:
    """The theta indices of each column of lambda whose diagonal entry sits on (within ``tol`` of) its bound.

    In lme4's theta order each column of a term's lambda is its diagonal entry (bounded below) followed by the
    entries below it (unbounded)."""
    bounded = np.flatnonzero(np.isfinite(lower))
    ends = np.append(bounded[1:], len(x))
    return [np.arange(j, end) for j, end in zip(bounded, ends) if x[j] <= lower[j] + tol]


def _column_curvature(fn: Callable[[np.ndarray], float], base: np.ndarray, f0: float, idx: np.ndarray,
                      h: float) -> np.ndarray:
    """G with f(base + h v on idx) - f0 = h^2 v' G v, by second differences along the unit vectors and their
    pairwise sums."""
    k = len(idx)

    def quad(v: np.ndarray) -> float:
        xt = base.copy()
        xt[idx] += h * v
        return (fn(xt) - f0) / h ** 2

    eye = np.eye(k)
    g = np.diag([quad(eye[a]) for a in range(k)])
    for a in range(k):
        for b in range(a):
            g[a, b] = g[b, a] = 0.5 * (quad(eye[a] + eye[b]) - g[a, a] - g[b, b])
    return g


def _escape_starts(fn: Callable[[np.ndarray], float], x: np.ndarray, f0: float,
                   lower: np.ndarray) -> list[np.ndarray]:
    """Points from which a gradient method stopped at ``x`` (objective ``f0``) may continue downhill.

    - Columns with a zero diagonal entry and nonzero entries below: the same column with those entries negated
      gives the same covariance (it enters as c c'), so the same objective, and the opposite one-sided slope
      along the diagonal entry: the method, held by the bound, continues on the other side.
    - Zero columns (and columns within _NEAR_ZERO of zero, which the method may be approaching slowly): the
      objective changes by c' G c to second order along a column c from zero; a negative eigenvalue of G (from
      second differences, k (k + 1) / 2 evaluations for k entries) is a saddle point, and a step along its
      eigenvector that lowers the objective below ``f0`` is a start.
    """
    starts = []
    flipped = x.copy()
    for idx in _columns_on_bound(x, lower):
        below = idx[1:]
        if len(below) and np.any(np.abs(x[below]) > _NONZERO):
            flipped[idx[0]], flipped[below] = lower[idx[0]], -x[below]
    if not np.array_equal(flipped, x):
        starts.append(flipped)
    h = _SADDLE_STEP
    for idx in _columns_on_bound(x, lower, _NEAR_ZERO):
        if np.any(np.abs(x[idx[1:]]) > (_NONZERO if x[idx[0]] <= lower[idx[0]] + _NONZERO else _NEAR_ZERO)):
            continue
        base = x.copy()
        base[idx[0]], base[idx[1:]] = lower[idx[0]], 0.0
        g = _column_curvature(fn, base, f0, idx, h)
        w, vecs = np.linalg.eigh(g)
        if not w[0] < 0:
            continue
        v = vecs[:, 0] if vecs[0, 0] >= 0 else -vecs[:, 0]
        for t in (0.3, 0.1, 0.03):
            xt = base.copy()
            xt[idx] = xt[idx] + t * v
            if fn(xt) < f0 - _TINY_GAIN * max(abs(f0), 1.0):
                starts.append(xt)
                break
    return starts


def _run_nlopt(fn: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray,
               control: LmerControl, upper: np.ndarray | None = None) -> tuple[np.ndarray, float, str]:
    algo = {"bobyqa": nlopt.LN_BOBYQA, "newuoa": nlopt.LN_NEWUOA_BOUND,
            "nelder-mead": nlopt.LN_NELDERMEAD}[control.optimizer]
    if algo == nlopt.LN_NEWUOA_BOUND and len(x0) < 2:
        algo = nlopt.LN_BOBYQA  # NEWUOA needs at least two parameters; BOBYQA is its bounded sibling
    opt = nlopt.opt(algo, len(x0))
    opt.set_lower_bounds(lower)
    if upper is not None:
        opt.set_upper_bounds(upper)
    opt.set_min_objective(lambda x, grad: fn(x))
    opt.set_ftol_rel(control.ftol_rel)
    opt.set_ftol_abs(control.ftol_abs)
    opt.set_xtol_abs(control.xtol_abs)
    opt.set_maxeval(control.maxeval)
    step = np.full(len(x0), control.initial_step)
    if upper is not None:  # BOBYQA's first steps must fit inside the box (a bounded correlation)
        step = np.minimum(step, 0.25 * (np.asarray(upper) - lower))
    opt.set_initial_step(step)
    codes = {1: "SUCCESS", 2: "STOPVAL_REACHED", 3: "FTOL_REACHED", 4: "XTOL_REACHED",
             5: "MAXEVAL_REACHED", 6: "MAXTIME_REACHED"}
    try:
        x = opt.optimize(x0)
        ret = codes.get(opt.last_optimize_result(), str(opt.last_optimize_result()))
    except nlopt.RoundoffLimited:
        # no point to return here: the caller keeps the best point it saw
        return np.asarray(x0, dtype=float), math.inf, "ROUNDOFF_LIMITED"
    return np.asarray(x, dtype=float), float(opt.last_optimum_value()), ret


def _run_cobyqa(fn: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray,
                control: LmerControl, upper: np.ndarray | None = None) -> tuple[np.ndarray, float, str]:
    res = minimize(fn, x0, method="COBYQA", bounds=Bounds(lower, np.full(len(x0), np.inf) if upper is None else upper),
                   options={"maxfev": control.maxeval, "initial_tr_radius": control.initial_step,
                            "final_tr_radius": max(control.xtol_abs, 1e-10)})
    msg = str(res.message)
    if "maximum number of" in msg.lower():
        # scipy: "The maximum number of function evaluations / iterations has been exceeded" (the iteration
        # limit follows from maxfev)
        msg = "MAXEVAL_REACHED"
    return np.asarray(res.x, dtype=float), float(res.fun), msg


def _run_lbfgsb(fn: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray, control: LmerControl,
                value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
                scale: np.ndarray | None = None, upper: np.ndarray | None = None) -> tuple[np.ndarray, float, str]:
    # L-BFGS-B's first step has unit length; in the variables theta / scale it has length ``scale``
    s = np.ones(len(x0)) if scale is None else np.asarray(scale, dtype=float)

    def scaled(z: np.ndarray) -> tuple[float, np.ndarray]:
        v, g = value_and_grad(z * s)
        return v, np.asarray(g, dtype=float) * s

    hi = np.full(len(x0), np.inf) if upper is None else upper
    bounds = [(lo / si if np.isfinite(lo) else None, up / si if np.isfinite(up) else None)
              for lo, up, si in zip(lower, hi, s)]
    res = minimize(scaled, x0 / s, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxfun": control.maxeval, "ftol": control.ftol_rel, "gtol": 1e-8, "maxcor": 20})
    if scale is not None:  # back to theta: x, the gradient and the inverse-Hessian approximation
        inv_z = res.hess_inv
        res.x, res.jac = res.x * s, res.jac / s
        res.hess_inv = LinearOperator((len(s), len(s)), matvec=lambda v: s * inv_z.matvec(s * v), dtype=float)
    _run_lbfgsb.last = res  # type: ignore[attr-defined]  # final gradient and inverse-Hessian approximation
    return np.asarray(res.x, dtype=float), float(res.fun), str(res.message)


def _grad_hessian(value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]], x: np.ndarray,
                  free: np.ndarray, rel_step: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """Analytic gradient and a forward-difference Hessian of it over the coordinates ``free``."""
    idx = np.flatnonzero(free)
    _, g0 = value_and_grad(x)
    hess = np.zeros((len(idx), len(idx)))
    for a, j in enumerate(idx):
        h = rel_step * max(abs(x[j]), 0.1)
        e = np.zeros_like(x)
        e[j] = h
        _, g1 = value_and_grad(x + e)
        hess[:, a] = (g1[idx] - g0[idx]) / h
    return g0[idx], 0.5 * (hess + hess.T)


def fd_gradient_hessian(fn: Callable[[np.ndarray], float], x: np.ndarray, free: np.ndarray,
                        f0: float | None = None, rel_step: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Central-difference gradient and Hessian of ``fn`` at ``x`` over the coordinates ``free``.

    Returns
    -------
    grad : numpy.ndarray
        Length ``len(free)``.
    hess : numpy.ndarray
        ``len(free)`` square.
    """
    idx = np.flatnonzero(free)
    m = len(idx)
    f0 = fn(x) if f0 is None else f0
    h = rel_step * np.maximum(np.abs(x[idx]), 0.1)
    steps = np.zeros((m, len(x)))
    steps[np.arange(m), idx] = h
    fp = np.array([fn(x + e) for e in steps])
    fm = np.array([fn(x - e) for e in steps])
    grad = (fp - fm) / (2 * h)
    hess = np.diag((fp - 2 * f0 + fm) / h ** 2)
    for a in range(m):
        for b in range(a):
            e = steps[a] + steps[b]
            fpp, fmm = fn(x + e), fn(x - e)
            # second difference along the diagonal direction minus the two pure ones
            hess[a, b] = hess[b, a] = (fpp - 2 * f0 + fmm - hess[a, a] * h[a] ** 2 - hess[b, b] * h[b] ** 2) / (
                2 * h[a] * h[b])
    return grad, hess


def optimize_theta(fn: Callable[[np.ndarray], float], theta0: np.ndarray, lower: np.ndarray,
                   control: LmerControl | None = None, record: bool = False,
                   value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None,
                   cheap_gradient: bool = False, scale: np.ndarray | None = None,
                   warn: bool = True, upper: np.ndarray | None = None) -> OptSummary:
    """Minimize ``fn`` over theta >= ``lower`` (and <= ``upper``).

    Parameters
    ----------
    fn : callable
        The objective (e.g. a :class:`~lmmflow.core.DevianceFunction`).
    theta0, lower : numpy.ndarray
        Start and lower bounds.
    control : LmerControl, optional
    record : bool
        Keep every (theta, objective) pair in the summary's ``log``.
    value_and_grad : callable, optional
        Objective and gradient together, for gradient-based optimizers (``"lbfgsb"``).
    cheap_gradient : bool
        The gradient costs about as much as the objective (small models): after L-BFGS-B, always check
        and polish the optimum with a Hessian from gradient differences, so fits of the same model through
        different (equally exact) arithmetic end at the same point; otherwise that check is skipped when
        L-BFGS-B's own curvature estimate shows the optimum reached.
    scale : numpy.ndarray, optional
        For L-BFGS-B: the length of its first step in each coordinate (it works on theta / scale, and its
        first step has unit length).  Default 1: suits lme4's start; a start already close to the optimum
        (:func:`lmmflow.core.start.moment_theta`) wants a shorter one.
    warn : bool
        Raise the convergence problems as :class:`~lmmflow.ConvergenceWarning` (as lme4 warns); with
        ``False`` they are only recorded in the summary's ``alerts`` (the caller decides).
    upper : numpy.ndarray, optional
        Upper bounds (the correlations of structured covariances, ``DevianceFunction.upper``); default none.

    Returns
    -------
    OptSummary

    Examples
    --------
    >>> import lmmflow as lf
    >>> devfun = lf.make_deviance("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> opt = lf.optimize_theta(devfun, devfun.theta0, devfun.lower)
    >>> round(opt.fmin, 3), opt.theta.round(3).tolist()
    (1743.628, [0.967, 0.015, 0.231])
    """
    control = control or LmerControl()
    if control.optimizer == "auto":  # fit_design chooses by the model; called on its own: L-BFGS-B when a
        # gradient is given, else BOBYQA (lme4's default for lmer)
        control = control.replace(optimizer="lbfgsb" if value_and_grad is not None else "bobyqa")
    t_start = time.perf_counter()
    x0 = np.asarray(control.theta0 if control.theta0 is not None else theta0, dtype=float)
    if x0.shape != lower.shape:
        raise ValueError(f"theta0 has length {x0.size}, the model has {lower.size} covariance parameters")
    hi = np.full(len(x0), np.inf) if upper is None else np.asarray(upper, dtype=float)
    count = [0]
    log: list[tuple[np.ndarray, float]] = []
    alerts: list[str] = []
    n_par = len(x0)
    if control.optimizer != "lbfgsb" and control.maxeval < 10 * n_par ** 2:
        # lme4's bobyqa check ("maxfun < 10 * length(par)^2 is not recommended")
        alerts.append(f"maxeval={control.maxeval} < 10 * length(theta)^2 = {10 * n_par ** 2} is not recommended")
    best: list = [None, math.inf]  # the best point seen, kept if an optimizer gives up early

    def counted(x: np.ndarray) -> float:
        count[0] += 1
        v = fn(x)
        if record:
            log.append((np.array(x, dtype=float), float(v)))
        if math.isfinite(v) and v < best[1]:
            best[0], best[1] = np.array(x, dtype=float), v
        return v if math.isfinite(v) else 1e300

    if control.optimizer == "lbfgsb":
        if value_and_grad is None:
            raise ValueError("optimizer='lbfgsb' needs the objective's gradient")

        def counted_vg(x: np.ndarray) -> tuple[float, np.ndarray]:
            count[0] += 1
            v, g = value_and_grad(x)
            if record:
                log.append((np.array(x, dtype=float), float(v)))
            if not math.isfinite(v):
                return 1e300, np.zeros_like(x)
            return v, g

        x, fmin, ret = _run_lbfgsb(counted, np.clip(x0, lower, hi), lower, control, counted_vg, scale=scale,
                                   upper=upper)
        # A diagonal entry of lambda on its bound can be a stationary point that is no minimum: the
        # covariance depends on it only through its square, so the gradient there is exactly zero and a
        # gradient method stops.  A step into the interior tells; if it lowers the objective, the fit is
        # not converged and the caller (fit_design) continues with BOBYQA from that better point.
        # the restarts read lme4's theta layout (a column: its bounded diagonal entry, then the free entries below
        # it); a structured covariance's parameters (standard deviations, bounded correlations: ``upper`` given)
        # are not laid out so
        for _ in range(_MAX_ESCAPES if upper is None else 0):
            # a column of lambda whose diagonal entry sits on its bound can hold the gradient method at a point
            # that is no minimum of the covariance (kb07-shaped fits ended 0.3 above BOBYQA's optimum); restart
            # it from where the objective is as low or lower (see _escape_starts), keep what improves
            improved = False
            for start in _escape_starts(counted, x, fmin, lower):
                x2, f2, ret2 = _run_lbfgsb(counted, start, lower, control, counted_vg, scale=scale)
                if f2 < fmin - _TINY_GAIN * max(abs(fmin), 1.0):
                    x, fmin, ret, improved = x2, f2, ret2, True
                    break
            if not improved:
                break
        for j in np.flatnonzero(np.isfinite(lower) & (x <= lower + 1e-8)):
            xt = x.copy()
            xt[j] = lower[j] + _BOUNDARY_STEP
            ft = counted(xt)
            if ft < fmin - _TINY_GAIN * max(abs(fmin), 1.0):
                x, fmin, ret = xt, ft, "ABNORMAL: a parameter on its bound at a saddle point"
                break
    else:
        runner = _run_cobyqa if control.optimizer == "cobyqa" else _run_nlopt
        x, fmin, ret = runner(counted, np.clip(x0, lower, hi), lower, control, upper=upper)
    if best[0] is not None and best[1] < fmin:
        x, fmin = best[0], best[1]  # e.g. NLopt's round-off stop returns the start; keep the progress made
    if not math.isfinite(fmin) or fmin >= 1e300:
        fmin = counted(x)  # the optimizers report the value at the point they return; otherwise evaluate
    messages: list[str] = []
    # snap parameters very close to their bound onto it when that is no worse (as MixedModels.jl does)
    near = np.isfinite(lower) & (x - lower < 1e-5) & (x != lower)
    if near.any():
        xs = x.copy()
        xs[near] = lower[near]
        fs = counted(xs)
        if fs <= fmin + 1e-10:
            x, fmin = xs, fs
    grad = hess = None
    grad_free: np.ndarray | None = None
    converged = ret not in ("MAXEVAL_REACHED", "MAXTIME_REACHED") and not ret.startswith("ABNORMAL")
    if control.optimizer == "lbfgsb" and "LIMIT" in ret.upper():
        ret = "MAXEVAL_REACHED"  # scipy's "STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT"
        converged = False
    if ret == "MAXEVAL_REACHED":
        messages.append(f"the optimizer reached maxeval={control.maxeval} evaluations")
        alerts.append(f"failure to converge in {control.maxeval} evaluations (the optimizer's limit, "
                      "LmerControl(maxeval=...)); the estimates may not be at the optimum")
    skip_check = False
    if (control.optimizer == "lbfgsb" and value_and_grad is not None and ret.startswith("CONVERGENCE")
            and not cheap_gradient):
        # L-BFGS-B's own gradient and inverse-Hessian approximation at its end point give the Newton
        # decrement for free; the finite-difference Hessian check is needed only when it is not tiny
        res = _run_lbfgsb.last  # type: ignore[attr-defined]
        if np.allclose(res.x, x):
            free = ~(np.isfinite(lower) & (x <= lower + 1e-6))
            g = np.where(free, res.jac, 0.0)
            decrement = 0.5 * float(g @ res.hess_inv.matvec(g))
            if 0 <= decrement <= control.conv_tol * 1e-3:
                skip_check = True
                grad = res.jac
    if (control.check_conv or control.polish) and not skip_check:
        free = ~(np.isfinite(lower) & (x <= lower + 1e-6))
        if free.any():
            for _ in range(3):
                grad_free = free.copy()
                if value_and_grad is not None and control.optimizer == "lbfgsb":
                    grad, hess = _grad_hessian(value_and_grad, x, free)
                    count[0] += int(free.sum()) + 1
                else:
                    grad, hess = fd_gradient_hessian(counted, x, free, fmin)
                try:
                    c = np.linalg.cholesky(hess)
                except np.linalg.LinAlgError:
                    messages.append("the Hessian of the objective at the optimum is not positive definite: "
                                    "the model may be over-parameterized or nearly singular")
                    break
                step = np.linalg.solve(c.T, np.linalg.solve(c, grad))
                gain = 0.5 * float(grad @ step)
                if gain <= control.conv_tol * 1e-3 or not control.polish:
                    if control.polish and gain > _TINY_GAIN * max(abs(fmin), 1.0):
                        # a last Newton step, kept if it lowers the objective: two fits of the same model
                        # through different (equally exact) arithmetic then end at the same optimum to
                        # well below the optimizers' own stopping tolerance; one evaluation, no re-check
                        xn = x.copy()
                        xn[free] -= step
                        if np.all(xn >= lower) and np.all(xn <= hi):
                            fn_new = counted(xn)
                            if fn_new < fmin:
                                x, fmin = xn, fn_new
                    break
                xn = x.copy()
                xn[free] -= step
                xn = np.clip(xn, lower, hi)
                fn_new = counted(xn)
                if fn_new < fmin:
                    x, fmin = xn, fn_new
                    messages.append(f"a Newton step after {control.optimizer} lowered the objective by "
                                    f"{gain:.2e}")
                else:
                    break
            if grad is not None and hess is not None and control.check_conv:
                try:
                    gain = 0.5 * float(grad @ np.linalg.solve(hess, grad))
                except np.linalg.LinAlgError:
                    gain = 0.0
                if gain > control.conv_tol:
                    converged = False
                    msg = (f"model may not have converged: a Newton step would lower the objective by "
                           f"{gain:.3g} (> conv_tol={control.conv_tol}); try another optimizer "
                           "(control=LmerControl(optimizer='bobyqa')) or rescale predictors")
                    messages.append(msg)
                    alerts.append(msg)
    full_grad = None
    if skip_check:
        full_grad = np.asarray(grad, dtype=float)
    elif grad is not None and grad_free is not None and int(grad_free.sum()) == len(grad):
        full_grad = np.full(len(x), np.nan)
        full_grad[grad_free] = grad
    if warn:
        for msg in alerts:
            warnings.warn(msg, ConvergenceWarning, stacklevel=2)
    return OptSummary(optimizer=control.optimizer, theta0=x0, theta=x, fmin=float(fmin), evaluations=count[0],
                      returnvalue=ret, converged=converged, messages=tuple(messages), gradient=full_grad,
                      hessian=hess, elapsed=time.perf_counter() - t_start, log=tuple(log),
                      alerts=tuple(alerts))
