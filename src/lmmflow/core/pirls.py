"""The GLMM objective: penalized iteratively reweighted least squares (PIRLS), the Laplace approximation,
adaptive Gauss-Hermite quadrature and lme4's ``nAGQ = 0``.

Interface (used by :mod:`lmmflow.optim.glmm` and :func:`lmmflow.glmer`)::

    obj = GlmmObjective(blocks, X, y, family, prior_weights=None, offset=None, nagq=1, trials=None)
    obj.laplace(theta, beta) -> float     # -2 log L, lme4's Laplace approximation
    obj.agq(theta, beta)     -> float     # nagq > 1, one scalar term: adaptive Gauss-Hermite quadrature
    obj.nagq0(theta)         -> float     # beta solved with the modes inside PIRLS; obj.beta_hat holds it
    obj(theta, beta)         -> float     # the one of the three that ``nagq`` names (beta ignored for nagq=0)
    obj.solve(theta, beta)   -> PirlsSolution   # modes, b, eta, mu, weights, conditional covariances, RX

Definitions (lme4's).  With ``u`` the spherical random effects (b = Lambda u per level), eta = offset + X beta +
Z Lambda u, W the Fisher weights w (dmu/deta)^2 / V(mu) and L the Cholesky factor of Lambda'Z'WZ Lambda + I,

    laplace = -2 sum log f(y_i | mu_i) + |u|^2 + log det(L L')

at the conditional modes u, which minimize the penalized deviance sum dev_resids(y, mu, w) + |u|^2.  PIRLS finds
them by Fisher scoring (Newton's method for canonical links) with step-halving, warm-started from the last modes,
and stops when the largest change in u is below ``tol`` (1e-12 by default, i.e. to rounding), so the objective is
a smooth function of (theta, beta) that finite differences can differentiate.  ``-2 sum log f`` is the family's
``aic`` term: the saturated model's constant plus the sum of the deviance residuals.

For ``nagq > 1`` (one scalar term) each level's integral is approximated around its mode with the conditional
standard deviation s_j = 1 / L_jj and the Gauss-Hermite rule for the normal density (nodes z_k, weights w_k):

    -2 log L = sum_j [S_j + dev_j(u_j) - 2 log s_j - 2 log sum_k w_k exp(-(dev_j(u_j + s_j z_k) - dev_j(u_j)) / 2
               - ((u_j + s_j z_k)^2 - z_k^2) / 2)]

with S_j the saturated term of level j (included, unlike lme4 1.1-31's reported figure).  For ``nagq = 0`` beta is
estimated jointly with u by PIRLS (an unpenalized block of the same system) and the objective is the Laplace
formula at those values; ``RX`` (the fixed-effects block of the factor) gives lme4's vcov for nagq = 0.

Linear algebra.  Each PIRLS step solves the LMM's penalized least squares problem at the working weights, with the
LMM's blocked factor (:class:`~lmmflow.core.blocked.BlockedCholesky`): the cross-products of [Z X z] take the new
weights on a layout found once per objective (:meth:`~lmmflow.core.crossprod.CrossProducts.reweight`), and the
factor carries its layout over (:meth:`~lmmflow.core.blocked.BlockedCholesky.reweight`).  The first term (lme4
orders terms by decreasing number of levels) stays block diagonal, the coupling to later terms sparse, and the later
terms' block dense; X's columns enter for nagq = 0 (beta jointly) and the Fisher information of beta.  The
leverages of the beta gradient come from the same factor (:func:`~lmmflow.core.leverage.leverages`).  No Python
loop runs over levels or rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .blocked import BlockedCholesky
from .crossprod import CrossProducts, ReBlock
from .family import _EPS, Family
from .leverage import leverages
from .parammap import ParameterMap

__all__ = ["GlmmObjective", "PirlsSolution", "gauss_hermite"]


def gauss_hermite(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the ``k``-point Gauss-Hermite rule for the standard normal density (R's ``GHrule``).

    Examples
    --------
    >>> z, w = gauss_hermite(3)
    >>> np.round(z, 6).tolist(), round(float(w.sum()), 12)
    ([-1.732051, 0.0, 1.732051], 1.0)
    """
    z, w = np.polynomial.hermite_e.hermegauss(int(k))
    return z, w / np.sqrt(2.0 * np.pi)


@dataclass(frozen=True)
class RowConstants:
    """What the PIRLS row step needs of the response and prior weights, computed once (:func:`row_constants`).

    Attributes
    ----------
    y, wt : numpy.ndarray
        Response (binomial: proportions) and prior weights.
    devc : numpy.ndarray
        Each row's deviance-residual part that does not depend on mu (``y log y + (1 - y) log(1 - y)``
        binomial, ``y log y - y`` Poisson).
    devc_sum : float
        ``wt' devc``.
    wy : numpy.ndarray
        ``wt y``.
    unit_wt : bool
        Every prior weight is 1.
    """

    y: np.ndarray
    wt: np.ndarray
    devc: np.ndarray
    devc_sum: float
    wy: np.ndarray
    unit_wt: bool


def row_constants(family: Family, y: np.ndarray, wt: np.ndarray) -> RowConstants:
    """The :class:`RowConstants` of a response and its prior weights.

    Examples
    --------
    >>> from lmmflow.core.family import poisson
    >>> rc = row_constants(poisson(), np.array([0.0, 1.0]), np.ones(2))
    >>> rc.devc.tolist(), rc.unit_wt
    ([0.0, -1.0], True)
    """
    from scipy import special

    y = np.asarray(y, dtype=float)
    wt = np.asarray(wt, dtype=float)
    if family.name == "binomial":
        devc = special.xlogy(y, y) + special.xlogy(1.0 - y, 1.0 - y)
    else:
        devc = special.xlogy(y, y) - y
    return RowConstants(y=y, wt=wt, devc=devc, devc_sum=float(wt @ devc), wy=wt * y,
                        unit_wt=bool(np.all(wt == 1.0)))


def working_values(family: Family, eta: np.ndarray,
                   rc: RowConstants) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, bool]:
    """One PIRLS step's row quantities at ``eta``: mu, d mu/d eta, the Fisher weights, the sum of the deviance
    residuals, and whether W = wt mu_eta (a canonical link inside R's thresholds).

    For the canonical links inside R's thresholds the weights are wt mu_eta (logit: mu (1 - mu) = mu_eta;
    log: mu = mu_eta) and the deviance sum is 2 (sum wt devc - (wt y)'eta + wt'log(1 + e^eta)) (logit) or
    2 (sum wt devc - (wt y)'eta + wt'mu) (log): dot products, no per-row deviance array.  Shared by
    :class:`GlmmObjective` and the Dask GLMM fit's partition passes, so both compute the same numbers.

    Examples
    --------
    >>> from lmmflow.core.family import binomial
    >>> rc = row_constants(binomial(), np.array([1.0, 0.0]), np.ones(2))
    >>> mu, me, W, dev, canon = working_values(binomial(), np.zeros(2), rc)
    >>> mu.tolist(), W.tolist(), round(float(dev), 6), canon
    ([0.5, 0.5], [0.25, 0.25], 2.772589, True)
    """
    wt = rc.wt
    if family.link == "logit" and eta.size and float(eta.max()) <= 30.0 and float(eta.min()) >= -30.0:
        # R's logit linkinv and mu_eta share exp(eta) (inside R's thresholds: the same operations)
        e = np.exp(eta)
        ope = 1.0 + e
        mu = e / ope
        me = mu / ope
        lg = np.log(ope)
        if rc.unit_wt:
            return mu, me, me, 2.0 * (rc.devc_sum - rc.wy @ eta + float(lg.sum())), True
        return mu, me, wt * me, 2.0 * (rc.devc_sum - rc.wy @ eta + wt @ lg), True
    if family.link == "log" and family.name == "poisson":
        mu = np.exp(eta)
        if np.all(mu > _EPS) and np.isfinite(mu).all():
            W = mu if rc.unit_wt else wt * mu
            return mu, mu, W, 2.0 * (rc.devc_sum - rc.wy @ eta + wt @ mu), True
    mu = family.linkinv(eta)
    me = family.mu_eta(eta)
    var = mu * (1.0 - mu) if family.name == "binomial" else mu
    W = wt * me * me / var
    return mu, me, W, float(np.sum(deviance_rows(family, mu, rc))), False


def deviance_rows(family: Family, mu: np.ndarray, rc: RowConstants) -> np.ndarray:
    """The deviance residuals (without the saturated constant's part) row by row."""
    y = rc.y
    if family.name == "binomial":
        return 2.0 * rc.wt * (rc.devc - y * np.log(mu) - (1.0 - y) * np.log1p(-mu))
    return 2.0 * rc.wt * (rc.devc - y * np.log(mu) + mu)


@dataclass(frozen=True)
class PirlsSolution:
    """PIRLS at one (theta, beta): the conditional modes and what the fit reports from them.

    Attributes
    ----------
    theta, beta : numpy.ndarray
    u, b : list of numpy.ndarray
        Spherical modes and random effects per term (levels x effects).
    eta, mu, weights : numpy.ndarray
        Linear predictor, mean and Fisher working weights per row at the modes.
    lambdas : list of numpy.ndarray
        Each term's relative covariance factor.
    cond_cov : list of numpy.ndarray
        Conditional covariance of each level's random effects (levels x p x p): Lambda (L'L)^-1 Lambda'.
    cond_sd : list of numpy.ndarray
        Their standard deviations (levels x p).
    objective : float
        The objective of ``nagq`` at this point.
    pwrss : float
        Penalized deviance: sum of deviance residuals + |u|^2.
    logdet : float
        log det(Lambda'Z'WZ Lambda + I).
    RX : numpy.ndarray or None
        nagq = 0: upper-triangular fixed-effects factor (vcov = (RX'RX)^-1).
    iterations : int
        PIRLS iterations of the last solve.
    """

    theta: np.ndarray
    beta: np.ndarray
    u: list[np.ndarray]
    b: list[np.ndarray]
    eta: np.ndarray
    mu: np.ndarray
    weights: np.ndarray
    lambdas: list[np.ndarray]
    cond_cov: list[np.ndarray]
    cond_sd: list[np.ndarray]
    objective: float
    pwrss: float
    logdet: float
    RX: np.ndarray | None = None
    iterations: int = 0


class GlmmObjective:
    """lme4's GLMM deviance function at the array level (see the module docstring).

    Parameters
    ----------
    blocks : list of ReBlock
        The random-effects terms, lme4's order (decreasing number of levels).
    X : array-like
        n x p fixed-effects matrix (full column rank).
    y : array-like
        Response: proportions (binomial) or counts (Poisson).
    family : Family
    prior_weights : array-like, optional
        Binomial trials / prior weights (default 1).
    offset : array-like, optional
        Offset on the link scale.
    nagq : int
        0, 1 (Laplace) or > 1 (adaptive Gauss-Hermite quadrature, one scalar term).
    trials : array-like, optional
        R's binomial ``n`` where it differs from the prior weights (only the log-likelihood constant uses it).
    tol : float
        PIRLS stops when the largest change in the spherical modes is below this.

    Examples
    --------
    >>> import numpy as np
    >>> from lmmflow.core.crossprod import ReBlock
    >>> from lmmflow.core.family import binomial
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(20), 5)
    >>> y = (rng.random(100) < 0.4).astype(float)
    >>> blk = ReBlock(codes=g, Z=np.ones((100, 1)), nlevels=20, mask=np.ones((1, 1), bool))
    >>> obj = GlmmObjective([blk], np.ones((100, 1)), y, binomial())
    >>> f = obj.laplace(np.array([0.5]), np.array([-0.4]))
    >>> bool(abs(obj.laplace(np.array([0.5]), np.array([-0.4])) - f) < 1e-10)
    True
    """

    def __init__(self, blocks: list[ReBlock], X: object, y: object, family: Family, prior_weights: object = None,
                 offset: object = None, nagq: int = 1, trials: object = None, tol: float = 1e-12,
                 maxiter: int = 200):
        if not blocks:
            raise ValueError("a GLMM needs at least one random-effects term")
        self.blocks = list(blocks)
        self.X = np.asfortranarray(np.asarray(X, dtype=float))  # columns contiguous: the per-step X'WX
        self.y = np.asarray(y, dtype=float).ravel()
        n = self.y.shape[0]
        if self.X.ndim != 2 or self.X.shape[0] != n:
            raise ValueError(f"X has shape {self.X.shape}; it needs one row per response value ({n})")
        self.family = family
        self.wt = np.ones(n) if prior_weights is None else np.asarray(prior_weights, dtype=float).ravel()
        self.offset = np.zeros(n) if offset is None else np.asarray(offset, dtype=float).ravel()
        if self.wt.shape[0] != n or self.offset.shape[0] != n:
            raise ValueError("prior_weights and offset need one value per row")
        self.trials = None if trials is None else np.asarray(trials, dtype=float).ravel()
        self.nagq = int(nagq)
        if self.nagq > 1 and (len(self.blocks) != 1 or self.blocks[0].p != 1):
            raise ValueError("nagq > 1 (adaptive Gauss-Hermite quadrature) needs one scalar random-effects term")
        self.tol = float(tol)
        self._newton_stop = 1e-6
        self.maxiter = int(maxiter)
        self.n = n
        self.pmap = ParameterMap.of_blocks(self.blocks)  # the one map from theta to each term's Lambda
        if not self.pmap.identity:
            kind = next(k for k in self.pmap.kinds if k not in ("us", "diag"))
            raise ValueError(f"a {kind}(...) covariance structure is fitted by lmer only; glmer takes lme4's "
                             "unstructured terms: (x | g), (x || g) or diag(x | g)")
        self.slices, self.positions, self.lower = self.pmap.slices, self.pmap.positions, self.pmap.lower
        self.n_theta = len(self.lower)
        self.n_beta = self.X.shape[1]
        self.saturated = family.saturated(self.y, self.wt, self.trials)
        self._sat_rows = -2.0 * family.loglik_terms(self.y, self.y, self.wt, self.trials)
        # first term: block diagonal
        b0 = self.blocks[0]
        self._codes1 = np.asarray(b0.codes, dtype=np.int64)
        self._Z1 = np.ascontiguousarray(np.asarray(b0.Z, dtype=float))
        self._nl1, self._p1 = int(b0.nlevels), int(b0.p)
        self._q1 = self._nl1 * self._p1
        # the other terms
        self._rest = []
        for b in self.blocks[1:]:
            codes = np.asarray(b.codes, dtype=np.int64)
            p = int(b.p)
            self._rest.append((codes, np.ascontiguousarray(np.asarray(b.Z, dtype=float)), int(b.nlevels), p,
                               (codes[:, None] * p + np.arange(p)).ravel()))
        self._q2 = sum(nl * p for _, _, nl, p, _ in self._rest)
        self.q = self._q1 + self._q2
        self._u = np.zeros(self.q)          # warm start (Laplace / AGQ)
        self._u0 = None                     # warm start for nagq = 0: (u, beta)
        self.beta_hat: np.ndarray | None = None
        self.last_iterations = 0
        self.evaluations = 0
        self._gh = gauss_hermite(self.nagq) if self.nagq > 1 else None
        self._cur = None
        # the penalized weighted least squares system of a PIRLS step is the LMM's, at the working weights: the
        # cross-products of [Z X y] take new weights on a layout found once (CrossProducts.reweight), and the
        # blocked factor keeps its layout across them (BlockedCholesky.reweight).  A step with beta fixed has
        # no X columns (X beta is in the working response); nagq = 0 (beta jointly) and the Fisher information
        # of beta have them.
        self._X0 = np.zeros((n, 0))
        self._cp = CrossProducts.build(self.blocks, self._X0, np.zeros(n), center=False)
        self._fac = BlockedCholesky(self._cp, pairs=False, clip_pwrss=True)
        # the deviance residuals without their constant part: 2 wt (c - y log mu - (1 - y) log(1 - mu)) etc.
        self._rows = row_constants(family, self.y, self.wt)
        self._devc, self._unit_wt = self._rows.devc, self._rows.unit_wt
        self._devc_sum, self._wy = self._rows.devc_sum, self._rows.wy

    # ---- parameters ------------------------------------------------------------------------------------------
    def theta0(self) -> np.ndarray:
        """lme4's starting theta: identity lambda."""
        return np.where(np.isfinite(self.lower), 1.0, 0.0)

    def lambdas_of(self, theta: np.ndarray) -> list[np.ndarray]:
        """Each term's relative covariance factor from theta."""
        theta = np.asarray(theta, dtype=float)
        if theta.shape != (self.n_theta,):
            raise ValueError(f"theta has {theta.size} values; this model has {self.n_theta}")
        return self.pmap.lambdas_of_theta(theta)

    # ---- model matrices at theta ---------------------------------------------------------------------------
    def _design(self, lams: list[np.ndarray]) -> tuple[np.ndarray, sp.csr_matrix | None]:
        """V1 = rows of Z1 Lambda1 (n x p1) and the other terms' Z Lambda (n x q2, sparse)."""
        V1 = self._Z1 @ lams[0]
        # contiguous columns of V1, reused by every PIRLS step at this theta
        vcols = [np.ascontiguousarray(V1[:, r]) for r in range(self._p1)]
        self._cur = {"V1": V1, "cols": vcols}
        if not self._rest:
            return V1, None
        mats = []
        for (_codes, Z, nl, p, cols), lam in zip(self._rest, lams[1:]):
            V = Z @ lam
            mats.append(sp.csr_matrix((V.ravel(), cols, np.arange(0, self.n * p + 1, p)), shape=(self.n, nl * p)))
        R = mats[0] if len(mats) == 1 else sp.hstack(mats, format="csr")
        return V1, R

    def _re_eta(self, V1: np.ndarray, R: sp.csr_matrix | None, u: np.ndarray) -> np.ndarray:
        u1 = u[: self._q1].reshape(self._nl1, self._p1)
        cur = self._cur
        cols = cur["cols"] if cur is not None and cur["V1"] is V1 else [V1[:, r] for r in range(self._p1)]
        codes = self._codes1
        e = cols[0] * np.take(np.ascontiguousarray(u1[:, 0]), codes)
        for r in range(1, self._p1):
            e += cols[r] * np.take(np.ascontiguousarray(u1[:, r]), codes)
        if R is not None:
            e = e + R @ u[self._q1:]
        return e

    def _s1t(self, V1: np.ndarray, v: np.ndarray) -> np.ndarray:
        """(Z1 Lambda1)' v for a vector v: per-level sums by bincount (no sparse matrix)."""
        cur = self._cur
        cols = cur["cols"] if cur is not None and cur["V1"] is V1 else [V1[:, r] for r in range(self._p1)]
        if self._p1 == 1:
            return np.bincount(self._codes1, weights=cols[0] * v, minlength=self._nl1)
        out = np.empty((self._nl1, self._p1))
        for r in range(self._p1):
            out[:, r] = np.bincount(self._codes1, weights=cols[r] * v, minlength=self._nl1)
        return out.ravel()

    def _system(self, theta: np.ndarray, W: np.ndarray, z: np.ndarray, with_x: bool) -> BlockedCholesky:
        """The blocked factor at ``theta`` of the penalized least squares problem with weights W and response z:
        Lambda'Z'WZ Lambda + I (with X's columns when ``with_x``), on the layout of the first step."""
        f = self._fac.reweight(self._cp.reweight(W, z, self.X if with_x else self._X0, prior=False))
        # far out (weights of 1e70 from an overflowing trial point) the factor's arithmetic overflows; the
        # objective is then not finite, which is what the optimizer acts on
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            f.update(theta)
        return f

    # ---- PIRLS ------------------------------------------------------------------------------------------------
    def _working(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, bool]:
        return working_values(self.family, eta, self._rows)

    def _dev_rows(self, mu: np.ndarray) -> np.ndarray:
        return deviance_rows(self.family, mu, self._rows)

    def _pirls(self, theta: np.ndarray, beta: np.ndarray | None) -> dict:
        """Conditional modes at theta (and beta; None: beta jointly, nagq = 0)."""
        lams = self.lambdas_of(theta)
        V1, R = self._design(lams)
        joint = beta is None
        if joint:
            start = self._u0
            if start is None:
                eta = self.family.linkfun(self.family.initialize(self.y, self.wt))
                u, bet = None, None
            else:
                u, bet = start[0].copy(), start[1].copy()
        else:
            u, bet = self._u.copy(), np.asarray(beta, dtype=float)
            if not np.all(np.isfinite(u)):
                u = np.zeros(self.q)
        fixed = None if joint else self.offset + self.X @ bet

        def state(u: np.ndarray, bet: np.ndarray) -> tuple[np.ndarray, float, tuple]:
            fx = fixed if not joint else self.offset + self.X @ bet
            eta = fx + self._re_eta(V1, R, u)
            # a trial step may overflow (exp of a large eta): its deviance is then not finite and step-halving
            # rejects it, so numpy's warnings about it are not the user's concern
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                w = self._working(eta)
            return eta, float(w[3] + u @ u), w

        if u is not None:
            eta, pdev, wk = state(u, bet)
            if not np.isfinite(pdev):  # the last modes overflow at this theta (a far jump of the optimizer):
                if joint:              # start afresh, as a first evaluation would
                    u, bet = None, None
                    eta = self.family.linkfun(self.family.initialize(self.y, self.wt))
                else:
                    u = np.zeros(self.q)
                    eta, pdev, wk = state(u, bet)
        if u is None:
            wk = self._working(eta)
            pdev = np.inf
        # Newton (canonical links) converges quadratically: after a step below 1e-6 the modes are within ~1e-12
        # (the Laplace objective then moves by ~1e-9 on binary_growth_120k's 20,000 levels, 1e-14 relative, far below
        # the optimizers' tolerances; 1e-8 cost one more factorization per evaluation); Fisher scoring (probit,
        # cloglog) converges linearly and runs to ``tol``
        stop = max(self.tol, self._newton_stop) if self.family.link in ("logit", "log") else self.tol
        it = 0
        f = None
        base = self.offset if joint else fixed
        while it < self.maxiter:
            it += 1
            mu, me, W, _, canon = wk
            # the working response (less the offset, and X beta when beta is fixed) and its system at theta
            f = self._system(theta, W, (eta - base) + (self.y - mu) / me, with_x=joint)
            b_new = f.solve_fixef() if joint else bet
            u_new = np.concatenate(f.solve_u(b_new if joint else np.zeros(0)))
            if u is None:  # the first step from mustart: accept
                u, bet = u_new, b_new
                eta, pdev, wk = state(u, bet)
                continue
            du = u_new - u
            db = (b_new - bet) if joint else None
            step = float(np.max(np.abs(du))) if du.size else 0.0
            if joint and db.size:
                step = max(step, float(np.max(np.abs(db)) / (1.0 + float(np.max(np.abs(bet))))))
            t = 1.0
            accepted = False
            for _ in range(30):
                uu = u + t * du
                bb = bet + t * db if joint else bet
                e2, p2, w2 = state(uu, bb)
                if np.isfinite(p2) and p2 <= pdev + 1e-13 * (1.0 + abs(pdev)):
                    accepted = True
                    break
                t *= 0.5
            if not accepted:  # no descent at rounding level: converged
                break
            u, bet, eta, pdev, wk = uu, bb, e2, p2, w2
            if step * t < stop * max(1.0, float(np.max(np.abs(u))) if u.size else 1.0):
                break
        # the factor at the final modes (W at the modes)
        mu, me, W, devsum, canon = wk
        f = self._system(theta, W, (eta - base) + (self.y - mu) / me, with_x=joint)
        self.last_iterations = it
        self.evaluations += 1
        if joint:
            self._u0 = (u.copy(), bet.copy())
            self.beta_hat = bet.copy()
        else:
            self._u = u.copy()
        return {"lams": lams, "V1": V1, "R": R, "u": u, "beta": bet, "eta": eta, "mu": mu, "me": me, "W": W,
                "devsum": devsum,
                "canon": canon, "pdev": pdev, "factor": f, "iterations": it}

    # ---- objectives ---------------------------------------------------------------------------------------------
    def _laplace_of(self, s: dict) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            val = float(self.saturated + s["devsum"] + s["u"] @ s["u"] + s["factor"].logdet_re())
        # modes PIRLS could not bring to a finite deviance (a theta far out, where the weights overflow) leave a
        # factor whose log-determinant can round to -inf: such a point is infeasible, never a minimum
        return val if np.isfinite(val) else np.inf

    def laplace(self, theta: np.ndarray, beta: np.ndarray) -> float:
        """-2 log L by lme4's Laplace approximation at (theta, beta)."""
        return self._laplace_of(self._pirls(theta, np.asarray(beta, dtype=float)))

    def nagq0(self, theta: np.ndarray) -> float:
        """The Laplace formula with beta estimated jointly with the modes (lme4's nAGQ = 0); sets ``beta_hat``."""
        return self._laplace_of(self._pirls(theta, None))

    def agq(self, theta: np.ndarray, beta: np.ndarray, nagq: int | None = None) -> float:
        """Adaptive Gauss-Hermite quadrature with ``nagq`` points (default: the objective's), one scalar term."""
        if len(self.blocks) != 1 or self._p1 != 1:
            raise ValueError("adaptive Gauss-Hermite quadrature needs one scalar random-effects term")
        s = self._pirls(theta, np.asarray(beta, dtype=float))
        return self._agq_of(s, nagq)

    def _agq_of(self, s: dict, nagq: int | None = None) -> float:
        if nagq is None or nagq == self.nagq:
            if self._gh is None:
                return self._laplace_of(s)
            z, w = self._gh
        else:
            z, w = gauss_hermite(nagq)
        codes, nl = self._codes1, self._nl1
        u = s["u"]
        sd = s["factor"].L0inv[:, 0, 0]  # 1 / sqrt of the level's diagonal of Lambda'Z'WZ Lambda + I
        dev0 = np.bincount(codes, weights=self._dev_rows(s["mu"]), minlength=nl)
        v = s["V1"][:, 0]
        base = s["eta"] - v * u[codes]
        expo = np.empty((len(z), nl))
        for k, zk in enumerate(z):  # a loop over the nodes (at most 25), vectorized over rows
            uk = u + zk * sd
            eta = base + v * uk[codes]
            mu = self.family.linkinv(eta)
            devk = np.bincount(codes, weights=self.family.dev_resids(self.y, mu, self.wt), minlength=nl)
            expo[k] = -0.5 * (devk - dev0) - 0.5 * (uk * uk - zk * zk)
        m = expo.max(axis=0)
        lsum = m + np.log(np.sum(w[:, None] * np.exp(expo - m), axis=0))
        return float(self.saturated + np.sum(dev0) + np.sum(-2.0 * np.log(sd) - 2.0 * lsum))

    def __call__(self, theta: np.ndarray, beta: np.ndarray | None = None) -> float:
        """The objective that ``nagq`` names (beta is ignored for nagq = 0)."""
        if self.nagq == 0:
            return self.nagq0(theta)
        if self.nagq == 1:
            return self.laplace(theta, beta)
        return self.agq(theta, beta)

    # ---- the solution ---------------------------------------------------------------------------------------------
    def solve(self, theta: np.ndarray, beta: np.ndarray | None = None) -> PirlsSolution:
        """PIRLS at (theta, beta) (beta None or nagq = 0: beta jointly) with everything a fit reports."""
        theta = np.asarray(theta, dtype=float)
        joint = self.nagq == 0 or beta is None
        s = self._pirls(theta, None if joint else np.asarray(beta, dtype=float))
        if self.nagq > 1 and not joint:
            obj = self._agq_of(s)
        else:
            obj = self._laplace_of(s)
        lams = s["lams"]
        # the conditional covariance of u: the random-effects blocks of the factor's inverse (lme4's condVar uses
        # L only; those blocks are the same with or without X's columns)
        f = s["factor"]
        cond_u = f.inverse_diag_blocks()
        cond_cov = [np.einsum("rs,jst,ut->jru", lam, c, lam) for lam, c in zip(lams, cond_u)]
        u_terms, b_terms = [], []
        off = 0
        for b, lam in zip(self.blocks, lams):
            uu = s["u"][off: off + b.nlevels * b.p].reshape(b.nlevels, b.p)
            u_terms.append(uu.copy())
            b_terms.append(uu @ lam.T)
            off += b.nlevels * b.p
        RX = None
        if joint:
            p = self.n_beta
            RX = f.LXX[:p, :p].T.copy()
        return PirlsSolution(
            theta=theta.copy(), beta=np.asarray(s["beta"], dtype=float).copy(), u=u_terms, b=b_terms,
            eta=s["eta"].copy(), mu=s["mu"].copy(), weights=s["W"].copy(), lambdas=[x.copy() for x in lams],
            cond_cov=cond_cov, cond_sd=[np.sqrt(np.diagonal(c, axis1=1, axis2=2)) for c in cond_cov],
            objective=obj, pwrss=float(s["pdev"]), logdet=f.logdet_re(), RX=RX,
            iterations=s["iterations"])

    @property
    def has_beta_gradient(self) -> bool:
        """True when :meth:`laplace_beta_gradient` is exact: nagq <= 1 with a canonical link (logit, log)."""
        return self.nagq <= 1 and self.family.link in ("logit", "log")

    def laplace_beta_gradient(self, theta: np.ndarray, beta: np.ndarray,
                              hessian: bool = False) -> tuple[float, np.ndarray, np.ndarray | None]:
        """The Laplace objective, its exact gradient in beta and (optionally) 2 RX'RX, for canonical links.

        With u the modes, h_i the leverages diag(Z Lambda M^-1 Lambda'Z') and W' = dW/deta,
        df/dbeta = X' d dev/deta + X'(I - W Z Lambda M^-1 Lambda'Z') (h W'), since for a canonical link the Fisher
        weights are the observed information and du/dbeta = -M^-1 Lambda'Z'WX.  ``hessian=True`` adds
        2 (X'WX - X'WZ Lambda M^-1 Lambda'Z'WX), the Fisher information of beta at fixed theta (a Newton matrix).
        """
        if not self.has_beta_gradient:
            raise ValueError("the analytic beta gradient needs nagq <= 1 and a canonical link (logit, log)")
        s = self._pirls(theta, np.asarray(beta, dtype=float))
        f = s["factor"]
        V1, R, W, mu, eta = s["V1"], s["R"], s["W"], s["mu"], s["eta"]
        # leverages h_i = v_i' M^-1 v_i, v_i = Lambda' z_i (the random-effects part of the factor's leverages)
        h = leverages(f)
        dW = W * (1.0 - 2.0 * mu) if self.family.name == "binomial" else W
        c = h * dW
        # x = M^-1 Lambda'Z' c, term by term, and Z Lambda x
        rhs = [self._s1t(V1, c)]
        if R is not None:
            rc = R.T @ c
            rhs += np.split(rc, np.cumsum([nl * p for _, _, nl, p, _ in self._rest])[:-1])
        x = f.solve_m([r[:, None] for r in rhs])
        zx = self._re_eta(V1, R, np.concatenate([v[:, 0] for v in x]))
        # canonical link: d dev / d eta = -2 wt (y - mu) mu_eta / V(mu) = -2 wt (y - mu) (R's thresholds aside)
        if s["canon"]:  # inside R's thresholds mu_eta / V(mu) = 1
            ddev = -2.0 * (self.y - mu) if self._unit_wt else -2.0 * self.wt * (self.y - mu)
        else:
            me = self.family.mu_eta(eta)
            ddev = -2.0 * self.wt * (self.y - mu) * me / self.family.variance(mu)
        g = self.X.T @ (ddev + c - W * zx)
        H = None
        if hessian:  # the system with X's columns: its fixed-effects block is X'WX - X'WZ Lambda M^-1 Lambda'Z'WX
            fx = self._system(theta, W, (eta - self.offset) + (self.y - mu) / s["me"], with_x=True)
            RX = fx.LXX[: self.n_beta, : self.n_beta]
            H = 2.0 * RX @ RX.T
        return self._laplace_of(s), g, H

    def mode_gradient(self, theta: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """Gradient of the penalized deviance in u at the modes (zero at convergence): for tests."""
        s = self._pirls(theta, np.asarray(beta, dtype=float))
        mu, me = s["mu"], self.family.mu_eta(s["eta"])
        r = -2.0 * self.wt * (self.y - mu) * me / self.family.variance(mu)
        g1 = self._s1t(s["V1"], r)
        g = np.concatenate([g1, s["R"].T @ r]) if s["R"] is not None else g1
        return g + 2.0 * s["u"]
