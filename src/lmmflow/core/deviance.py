"""The profiled deviance and REML criterion as a function of theta (lme4's ``devfun``).

With L the blocked Cholesky factor at theta, r^2 the penalized residual sum of squares,
n observations and p fixed effects (Bates et al. 2015, eqs. 34 and 41):

    ML:    -2 log L  = log|L_Z|^2 + n (1 + log(2 pi r^2 / n))
    REML:  -2 log L_R = log|L_Z|^2 + log|R_X|^2 + (n - p) (1 + log(2 pi r^2 / (n - p)))

minus the sum of log prior weights when there are weights (the formula is :mod:`lmmflow.core.criterion`'s,
shared by every objective).  This module imports only numpy and scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .blocked import BlockedCholesky
from .criterion import criterion_dof, criterion_gradient, gaussian_criterion
from .crossprod import CrossProducts, ReBlock
from .dense import SmallDenseObjective
from .gradient import profiled_gradient
from .nested import NestedSchurObjective
from .parammap import ParameterMap
from .patterns import PatternObjective
from .schur import SchurObjective
from .twolevel import TwoLevelObjective

__all__ = ["DevianceFunction", "Solution"]

_BOUND_STEP = 1e-6  # one-sided difference step for a parameter on its bound


@dataclass(frozen=True)
class Solution:
    """Everything the fit yields at one theta.

    Attributes
    ----------
    theta : numpy.ndarray
    objective : float
        REML criterion or deviance.
    beta : numpy.ndarray
        Fixed effects.
    b : list of numpy.ndarray
        Random effects per term, nlevels x p.
    u : list of numpy.ndarray
        Spherical random effects per term (flat).
    sigma : float
        Residual standard deviation.
    pwrss : float
    logdet_re, logdet_rx : float
    rx_inv : numpy.ndarray
        Inverse of the lower factor R_X of the fixed-effects block (vcov = sigma^2 R_X^-T R_X^-1).
    """

    theta: np.ndarray
    objective: float
    beta: np.ndarray
    b: list[np.ndarray]
    u: list[np.ndarray]
    sigma: float
    pwrss: float
    logdet_re: float
    logdet_rx: float
    rx_inv: np.ndarray

    @property
    def vcov_unscaled(self) -> np.ndarray:
        """(X'V^-1 X)^-1 / sigma^2."""
        return self.rx_inv.T @ self.rx_inv


class DevianceFunction:
    """The objective of a linear mixed model as a function of theta.

    Parameters
    ----------
    cp : CrossProducts
        Cross-products of [Z X y].
    reml : bool
        REML criterion (True) or deviance (False).

    Examples
    --------
    >>> import lmmflow as lf
    >>> f = lf.make_deviance("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> round(f([0.9667, 0.0152, 0.2309]), 2)
    1743.63
    """

    def __init__(self, cp: CrossProducts, reml: bool = True):
        self.cp = cp
        self.reml = bool(reml)
        self.factor = BlockedCholesky(cp)
        self.evaluations = 0
        self._column_of: dict[int, np.ndarray] | None = None  # see _zero_columns
        # small models: one dense matrix; larger one-term models whose levels share few patterns of
        # observations: per-pattern sums (for small ones, numpy's per-call cost makes them slower)
        # several terms densely crossed with the first (subjects x items): a dense Schur complement
        self.small: PatternObjective | SmallDenseObjective | SchurObjective | None  # (Schur's subclasses too)
        if SmallDenseObjective.fits(cp):
            self.small = SmallDenseObjective(cp, self.factor.slices, self.factor.positions)
        elif SchurObjective.fits(cp):
            self.small = SchurObjective(cp, self.factor.slices, self.factor.positions)
        elif TwoLevelObjective.fits(cp):  # students in schools: per-level blocks of both terms
            self.small = TwoLevelObjective(cp, self.factor.slices, self.factor.positions)
        elif NestedSchurObjective.fits(cp):  # deeper nesting: the same, gathered level by level
            self.small = NestedSchurObjective(cp, self.factor.slices, self.factor.positions)
        else:
            self.small = PatternObjective.maybe(cp, *self.factor.positions[0])

    @classmethod
    def from_arrays(cls, blocks: list[ReBlock], X: np.ndarray, y: np.ndarray, reml: bool = True,
                    weights: np.ndarray | None = None) -> DevianceFunction:
        """Build from model matrices directly."""
        return cls(CrossProducts.build(blocks, X, y, weights), reml=reml)

    @property
    def pmap(self) -> ParameterMap:
        """The map from the model's covariance parameters (``theta``) to each term's Lambda."""
        return self.factor.pmap

    @property
    def lower(self) -> np.ndarray:
        """Lower bounds of theta."""
        return self.factor.lower

    @property
    def upper(self) -> np.ndarray:
        """Upper bounds of theta (finite only for the correlations of structured terms)."""
        return self.factor.pmap.upper

    @property
    def theta0(self) -> np.ndarray:
        """Starting value of theta."""
        return self.factor.theta0()

    @property
    def n_theta(self) -> int:
        """Length of theta."""
        return self.factor.n_theta

    def _criterion(self, parts: tuple[float, float, float] | None = None) -> float:
        f = self.factor
        logdet_re, logdet_rx, pwrss = parts if parts is not None else (f.logdet_re(), f.logdet_rx(), f.pwrss())
        return gaussian_criterion(logdet_re, logdet_rx, pwrss, self.cp.n, self.cp.p, self.reml, self.cp.log_weights)

    def __call__(self, theta: np.ndarray) -> float:
        """The REML criterion or deviance at ``theta``; +inf where the factor cannot be formed.

        Small models are evaluated from one dense matrix (:mod:`lmmflow.core.dense`), one-term models
        whose levels share few patterns from per-pattern sums (:mod:`lmmflow.core.patterns`), others
        with the blocked factor; use :meth:`blocked` to evaluate (and leave the factor) at ``theta``.
        """
        self.evaluations += 1
        if self.small is None:
            try:
                self.factor.update(np.asarray(theta, dtype=float), objective_only="vector")
                val = self._criterion()
            except (np.linalg.LinAlgError, ValueError, FloatingPointError):
                return math.inf
            return val if math.isfinite(val) else math.inf
        try:
            val = self._criterion(self.small(self.pmap.theta(theta)))
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return math.inf
        return val if math.isfinite(val) else math.inf

    def blocked(self, theta: np.ndarray) -> float:
        """The objective at ``theta`` from the blocked factor, which is left updated at ``theta``."""
        self.evaluations += 1
        try:
            self.factor.update(np.asarray(theta, dtype=float))
            val = self._criterion()
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return math.inf
        return val if math.isfinite(val) else math.inf

    def factor_at(self, theta: np.ndarray) -> BlockedCholesky:
        """A blocked factor of its own, complete at ``theta`` (this function's factor is left as it is).

        What consumers of a fitted model use (derivatives, conditional variances, influence), so that a
        result is never mutated, even temporarily, and two threads working on one result agree.

        Examples
        --------
        >>> import lmmflow as lf
        >>> f = lf.make_deviance("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
        >>> fac = f.factor_at([0.9667, 0.0152, 0.2309])
        >>> round(fac.pwrss(), 1), fac is f.factor
        (116580.4, False)
        """
        fac = self.factor.fresh()
        fac.update(np.asarray(theta, dtype=float))
        return fac

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        """Analytic gradient of the objective at ``theta`` (see :mod:`lmmflow.core.gradient`)."""
        return profiled_gradient(self, np.asarray(theta, dtype=float))

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Objective and its gradient at ``theta``, sharing one factorization."""
        if isinstance(self.small, (SmallDenseObjective, SchurObjective)):
            return self._dense_value_and_gradient(np.asarray(theta, dtype=float))
        val = self.blocked(theta)
        if not math.isfinite(val):
            return val, np.full(len(theta), np.nan)
        return val, profiled_gradient(self, np.asarray(theta, dtype=float), updated=True)

    def _dense_value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Objective and analytic gradient from a dense system (see :meth:`SmallDenseObjective.with_gradients`
        and :class:`~lmmflow.core.schur.SchurObjective`)."""
        self.evaluations += 1
        curvature = self.pmap.identity and getattr(self.small, "has_curvature", False)
        try:
            if curvature:
                parts, (d1, d2, d3), (c1, c2, c3) = self.small.with_curvature(theta)
            else:
                parts, (d1, d2, d3) = self.small.with_gradients(self.pmap.theta(theta))
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return math.inf, np.full(len(theta), np.nan)
        val = self._criterion(parts)
        if not math.isfinite(val):
            return math.inf, np.full(len(theta), np.nan)
        dof = criterion_dof(self.cp.n, self.cp.p, self.reml)
        grad = self.pmap.chain(theta, criterion_gradient(d2 if self.reml else d1, d3 - d2, dof))
        # a diagonal entry of lambda at zero whose column is zero too enters only through its square: the
        # analytic derivative is exactly 0 there, a stationary point a gradient method would not leave; the
        # one-sided slope into the interior tells whether to (as the blocked gradient does).  Where the derivative
        # is not 0 (the column's other entries are not), the criterion is smooth through the bound and the
        # analytic derivative is the one-sided one: nothing to do
        tiny = 1e-9 * max(1.0, abs(val))
        on_bound = np.flatnonzero(np.isfinite(self.lower) & (theta - self.lower < 1e-10) & (np.abs(grad) <= tiny))
        if not len(on_bound):
            return val, grad
        if curvature:
            # the objective is f + h^2 C[c, c] + O(h^4) at h along such an entry (see SchurObjective.with_curvature):
            # the one-sided difference with step h is h C[c, c], without an evaluation; an entry whose column is
            # not zero (a derivative 0 by coincidence) is probed below
            zero = self._zero_columns(theta, on_bound)
            curv = criterion_gradient(c2 if self.reml else c1, c3 - c2, dof)
            grad[on_bound[zero]] = _BOUND_STEP * curv[on_bound[zero]]
            on_bound = on_bound[~zero]
        # Several such entries (maximal models ending singular hold a few) are first probed together, one
        # evaluation: where the objective does not fall along their sum, each gets that slope (>= 0: it stays
        # on its bound); where it falls, each is probed alone
        if len(on_bound) > 1:
            step = np.zeros(len(theta))
            step[on_bound] = _BOUND_STEP
            joint = (self(theta + step) - val) / _BOUND_STEP
            if joint >= 0:
                grad[on_bound] = joint
                return val, grad
        for j in on_bound:
            step = np.zeros(len(theta))
            step[j] = _BOUND_STEP
            grad[j] = (self(theta + step) - val) / _BOUND_STEP
        return val, grad

    def _zero_columns(self, theta: np.ndarray, entries: np.ndarray) -> np.ndarray:
        """For diagonal entries of lambda (theta indices, lme4's layout), whether their whole column is zero."""
        if self._column_of is None:  # theta index -> the theta indices of its column of lambda (diagonal entries)
            self._column_of = {}
            for sl, (r, c) in zip(self.factor.slices, self.factor.positions):
                for a in np.flatnonzero(r == c):
                    self._column_of[sl.start + int(a)] = sl.start + np.flatnonzero(c == c[a])
        return np.array([j in self._column_of and bool(np.all(np.abs(theta[self._column_of[j]]) <= 1e-10))
                         for j in entries], dtype=bool)

    def _dense_solve(self, theta: np.ndarray) -> Solution:
        """:meth:`solve` for a small model, from one factor of its dense system (the blocked factor is not
        touched: its users update it to the theta they need)."""
        parts, beta_c, u_all, rx = self.small.solution(self.pmap.theta(theta))
        u = np.split(u_all, np.cumsum([blk.q for blk in self.cp.blocks])[:-1])
        b = self.factor.b_of_u(u, self.factor.lambdas_of(theta))
        return self._solution(theta, self._criterion(parts), beta_c, u, b, parts, rx)

    def _solution(self, theta: np.ndarray, obj: float, beta_c: np.ndarray, u: list[np.ndarray],
                  b: list[np.ndarray], parts: tuple[float, float, float], rx: np.ndarray) -> Solution:
        """The :class:`Solution` from the factor's quantities (``parts``: log-determinants and pwrss)."""
        beta = beta_c if self.cp.beta_offset is None else beta_c + self.cp.beta_offset
        pwrss = parts[2]
        dof = criterion_dof(self.cp.n, self.cp.p, self.reml)
        rx_inv = np.linalg.inv(rx) if self.cp.p else np.zeros((0, 0))
        return Solution(theta=np.array(theta, dtype=float), objective=obj, beta=beta, b=b, u=u,
                        sigma=math.sqrt(pwrss / dof), pwrss=pwrss, logdet_re=parts[0], logdet_rx=parts[1],
                        rx_inv=rx_inv)

    def with_reml(self, reml: bool) -> DevianceFunction:
        """The same model's other criterion (sharing the cross-products)."""
        return DevianceFunction(self.cp, reml=reml)

    def solve(self, theta: np.ndarray) -> Solution:
        """All estimates at ``theta``."""
        if isinstance(self.small, (SmallDenseObjective, SchurObjective)):
            return self._dense_solve(np.asarray(theta, dtype=float))
        f = self.factor
        theta = np.asarray(theta, dtype=float)
        one = len(self.cp.blocks) == 1  # one term: in level chunks, keeping no per-level factor
        done = getattr(f, "complete_theta", None)
        if one or done is None or not np.array_equal(done, theta):
            f.update(theta, objective_only=one)  # else the factor is already complete at theta (the optimum
            # is usually the optimizer's last evaluation: a dense factorization saved)
        beta_c = f.solve_fixef()  # for the centred response (see CrossProducts.build)
        u = f.solve_u_levels(beta_c) if one else f.solve_u(beta_c)
        parts = (f.logdet_re(), f.logdet_rx(), f.pwrss())
        rx = f.LXX[:self.cp.p, :self.cp.p]
        return self._solution(theta, self._criterion(parts), beta_c, u, f.b_of_u(u), parts, rx)
