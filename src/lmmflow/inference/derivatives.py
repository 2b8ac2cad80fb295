"""Derivatives of the likelihood and of Var(beta) in the variance parameters, without n x n matrices.

Write the marginal covariance of y as ``V = sum_i phi_i G_i + sigma^2 I`` with ``phi`` the variance
components (variances and covariances of each random-effects term, pbkrtest's parameterization) and
``G_i = Z (I_levels (x) E_i) Z'`` (``E_i`` the symmetric indicator of entry i of the term's covariance
matrix).  With ``P = V^-1 - V^-1 X C X' V^-1`` and ``C = (X'V^-1 X)^-1 = Var(beta)``, everything the
Satterthwaite and Kenward-Roger methods need is a trace or a quadratic form in

    K = Z'V^-1 Z,    B = Z'V^-1 X,    w = Z'P y = Z'r / sigma^2   (r: the conditional residual),

and these follow from the cross-products ``[Z X y]'[Z X y]`` and the factor of
``M = Lambda'Z'Z Lambda + I`` by Woodbury's identity ``V^-1 = (I - Z Lambda M^-1 Lambda'Z') / sigma^2``:

    K = (Z'Z - Z'Z Lambda M^-1 Lambda'Z'Z) / sigma^2,   B = (Z'X - Z'Z Lambda M^-1 Lambda'Z'X) / sigma^2.

For one random-effects term (any size) every matrix is block-diagonal by level, so the cost is a few
small products per level; for several terms ``K`` is formed densely (cost O(q^3), q random effects,
up to :data:`DENSE_MAX`).  The residual's ``G = I`` would need ``V^-2``; instead the quantities are
computed with ``V`` itself as the last basis element (``V^-1 V V^-1 = V^-1``, ``P V P = P``) and
mapped back by the linear change of basis ``I = (V - sum_i phi_i G_i) / sigma^2``.

From these, analytically: the gradient and observed Hessian of the (REML or ML) deviance in ``phi``

    d dev / d phi_i        = tr(P G_i) - y'P G_i P y             (ML: tr(V^-1 G_i) - ...)
    d2 dev / d phi_i phi_j = -tr(P G_i P G_j) + 2 y'P G_i P G_j P y   (ML: -tr(V^-1 G_i V^-1 G_j) + ...)

the expected information ``tr(P G_i P G_j) / 2`` and ``dC / d phi_i = C X'V^-1 G_i V^-1 X C``; and, by
the chain rule (with the gradient term, so it is exact off the optimum and on the boundary), the same
in lmerTest's parameters ``varpar = (theta, sigma)``.  :func:`deviance_varpar` and :func:`vcov_varpar`
evaluate the exact functions for finite-difference checks (:func:`fd_jacobian`, :func:`fd_hessian`,
Richardson extrapolation as numDeriv), which are also the fall-back for large crossed models.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.linalg as sla

from ..core.criterion import gaussian_criterion_at_sigma

if TYPE_CHECKING:
    from ..results.model import LmerResult

__all__ = [
    "DENSE_MAX",
    "TooLargeForExact",
    "VarianceDerivatives",
    "deviance_varpar",
    "fd_hessian",
    "fd_jacobian",
    "fd_varpar_derivatives",
    "variance_derivatives",
    "varpar_names",
    "vcov_varpar",
]

DENSE_MAX = 3000
"""Largest total number of random effects for which a model with several terms is handled exactly."""

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class TooLargeForExact(RuntimeError):
    """The exact (dense) computation for several random-effects terms would be too large."""


# ---- parameter layouts ---------------------------------------------------------------------------
def _pairs(r: int, c: int) -> list[tuple[int, int]]:
    """The (row, col) index pairs of the symmetric indicator E of covariance entry (r, c)."""
    return [(r, c), (c, r)] if r != c else [(r, r)]


def _layout(m: LmerResult) -> list[tuple[int, int, int]]:
    """(term, row, col) of each variance component, in theta's order (column by column, lme4's)."""
    f = m.devfun.factor
    out = []
    for k, (rows, cols) in enumerate(f.positions):
        out.extend((k, int(r), int(c)) for r, c in zip(rows, cols))
    return out


def _component_names(m: LmerResult) -> list[str]:
    names = []
    for k, r, c in _layout(m):
        t = m.design.terms[k]
        if r == c:
            names.append(f"var({t.cnames[r]})|{t.group}")
        else:
            names.append(f"cov({t.cnames[r]},{t.cnames[c]})|{t.group}")
    return names + ["var(Residual)"]


def varpar_names(m: LmerResult) -> list[str]:
    """Names of lmerTest's variance parameters ``(theta, sigma)``: lme4's theta names, then ``sigma``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> varpar_names(m)
    ['Subject.(Intercept)', 'Subject.Days.(Intercept)', 'Subject.Days', 'sigma']
    """
    if not m.devfun.pmap.identity:  # structured covariances: the structure's own parameters
        return m.design.theta_names() + ["sigma"]
    names = []
    for k, r, c in _layout(m):
        t = m.design.terms[k]
        names.append(f"{t.group}.{t.cnames[r]}" if r == c else f"{t.group}.{t.cnames[r]}.{t.cnames[c]}")
    return names + ["sigma"]


# ---- the exact functions of (theta, sigma) ------------------------------------------------------
def _factor_at(m: LmerResult, theta: np.ndarray, own: Any = None) -> Any:
    """A blocked factor of the model at ``theta``, the caller's own: ``own`` (a factor from an earlier call,
    moved to ``theta``) or a fresh one.  The result's factor is never moved, so a result is not mutated, even
    for a moment, and threads computing derivatives on one result do not interfere."""
    theta = np.asarray(theta, dtype=float)
    if own is None:
        return m.devfun.factor_at(theta)
    current = getattr(own, "theta", None)
    if current is None or current.shape != theta.shape or not np.array_equal(current, theta):
        own.update(theta)
    return own


def deviance_varpar(m: LmerResult, varpar: Any) -> float:
    """-2 log-likelihood (REML fits: the REML criterion) at ``varpar = (theta, sigma)``, not profiled.

    ``logdet(M) [+ logdet(R_X R_X')] + n' log(2 pi sigma^2) + pwrss(theta) / sigma^2`` with ``n' = n``
    (ML) or ``n - p`` (REML), as lmerTest's ``devfun_vp``; equal to ``m.objective`` at the estimates.

    Parameters
    ----------
    m : LmerResult
    varpar : array-like
        ``theta`` followed by ``sigma``.

    Examples
    --------
    >>> import numpy as np, lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> bool(np.isclose(deviance_varpar(m, np.r_[m.theta, m.sigma]), m.objective))
    True
    """
    vp = np.asarray(varpar, dtype=float)
    theta, sigma = vp[:-1], float(vp[-1])
    f = _factor_at(m, theta)
    cp = m.devfun.cp
    return float(gaussian_criterion_at_sigma(f.logdet_re(), f.logdet_rx() if m.reml else 0.0, f.pwrss(), sigma,
                                             cp.n, cp.p, m.reml, cp.log_weights))


def vcov_varpar(m: LmerResult, varpar: Any) -> np.ndarray:
    """Var(beta) = sigma^2 (R_X R_X')^-1 at ``varpar = (theta, sigma)`` (lmerTest's ``get_covbeta``).

    Examples
    --------
    >>> import numpy as np, lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> bool(np.allclose(vcov_varpar(m, np.r_[m.theta, m.sigma]), m.vcov))
    True
    """
    vp = np.asarray(varpar, dtype=float)
    f = _factor_at(m, vp[:-1])
    p = m.devfun.cp.p
    rinv = sla.solve_triangular(f.LXX[:p, :p], np.eye(p), lower=True)
    return float(vp[-1]) ** 2 * (rinv.T @ rinv)


# ---- K operators: one term (block-diagonal) or several (dense) ----------------------------------
class _BlockDiagK:
    """K0 = Z'V0^-1 Z per level and U0 = Z'V0^-1 [X e] for a single random-effects term."""

    def __init__(self, m: LmerResult, f: Any, beta: np.ndarray):
        cp = m.devfun.cp
        b = cp.blocks[0]
        nl, p, px = b.nlevels, b.p, cp.p
        lam = f.lambdas[0]
        A = cp.diag[0]
        Linv = f.L0inv
        H = np.einsum("lab,lbc->lac", Linv, np.einsum("ba,lbc->lac", lam, A))  # L^-1 lambda' A
        self.K = A - np.einsum("lba,lbc->lac", H, H)
        zx = cp.xz[0].reshape(px + 1, nl, p).transpose(1, 2, 0)  # (nl, p, px + 1): Z'[X y]
        ze = zx[:, :, :px] @ beta
        zxe = np.concatenate([zx[:, :, :px], (zx[:, :, px] - ze)[:, :, None]], axis=2)
        G = np.einsum("lab,lbc->lac", Linv, np.einsum("ba,lbc->lac", lam, zxe))
        self.U = zxe - np.einsum("lba,lbc->lac", H, G)
        self.terms = [(0, nl, p)]

    def e_apply(self, k: int, r: int, c: int, X: np.ndarray) -> np.ndarray:
        """(I (x) E_rc) X for X in this operator's layout."""
        out = np.zeros_like(X)
        for a, bb in _pairs(r, c):
            out[:, a] += X[:, bb]
        return out

    def k_apply(self, k: int, X: np.ndarray) -> np.ndarray:
        return np.einsum("lab,lbs->las", self.K, X)

    @staticmethod
    def inner(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        s = X.shape[-1]
        return X.reshape(-1, s).T @ Y.reshape(-1, Y.shape[-1])

    def diag_sum(self, k: int) -> np.ndarray:
        return self.K.sum(axis=0)

    def frob(self, k: int, j: int) -> np.ndarray:
        """F[x, y, z, w] = sum over level pairs of K[(l,x),(l',y)] K[(l,z),(l',w)]."""
        return np.einsum("lxy,lzw->xyzw", self.K, self.K)


class _DenseK:
    """K0 and U0 as dense matrices for several terms (q total random effects)."""

    def __init__(self, m: LmerResult, f: Any, beta: np.ndarray):
        cp = m.devfun.cp
        blocks = cp.blocks
        sizes = [b.q for b in blocks]
        q = int(sum(sizes))
        if q > DENSE_MAX:
            raise TooLargeForExact(f"{q} random effects in {len(blocks)} terms (exact limit {DENSE_MAX})")
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.sl = [slice(starts[k], starts[k + 1]) for k in range(len(blocks))]
        self.terms = [(k, b.nlevels, b.p) for k, b in enumerate(blocks)]
        px = cp.p
        A = np.zeros((q, q))
        zxy = np.zeros((q, px + 1))
        for k, b in enumerate(blocks):
            sk = self.sl[k]
            A[sk, sk] = sla.block_diag(*cp.diag[k]) if b.p > 1 else np.diag(cp.diag[k][:, 0, 0])
            zxy[sk] = cp.xz[k].T
            for j in range(k):
                off = cp.off[(k, j)].toarray()
                A[sk, self.sl[j]] = off
                A[self.sl[j], sk] = off.T
        zxe = np.concatenate([zxy[:, :px], (zxy[:, px] - zxy[:, :px] @ beta)[:, None]], axis=1)
        lams = f.lambdas
        # Lambda' [A, Z'[X e]] by blocks (Lambda is block-diagonal with lambda_k repeated per level)
        LtA = np.empty((q, q + px + 1))
        for k, b in enumerate(blocks):
            rows = np.concatenate([A[self.sl[k]], zxe[self.sl[k]]], axis=1).reshape(b.nlevels, b.p, -1)
            LtA[self.sl[k]] = np.einsum("ba,lbc->lac", lams[k], rows).reshape(b.q, -1)
        M = LtA[:, :q].copy()  # Lambda'A Lambda + I, columns scaled by blocks
        for k, b in enumerate(blocks):
            cols = M[:, self.sl[k]].reshape(q, b.nlevels, b.p)
            M[:, self.sl[k]] = np.einsum("rlb,ba->rla", cols, lams[k]).reshape(q, b.q)
        M = 0.5 * (M + M.T)
        M[np.diag_indices(q)] += 1.0
        Lc = sla.cholesky(M, lower=True, overwrite_a=True, check_finite=False)
        H = sla.solve_triangular(Lc, LtA, lower=True, overwrite_b=True, check_finite=False)  # L^-1 Lambda'[A Zxe]
        HA = H[:, :q]
        K = A - sla.blas.dsyrk(1.0, HA, trans=1, lower=0)
        iu = np.triu_indices(q, 1)
        K[(iu[1], iu[0])] = K[iu]
        self.K = K
        self.U = zxe - HA.T @ H[:, q:]

    def _view(self, k: int, X: np.ndarray) -> np.ndarray:
        _, nl, p = self.terms[k]
        return X[self.sl[k]].reshape(nl, p, -1)

    def e_apply(self, k: int, r: int, c: int, X: np.ndarray) -> np.ndarray:
        out = np.zeros_like(X)
        src, dst = self._view(k, X), self._view(k, out)
        for a, bb in _pairs(r, c):
            dst[:, a] += src[:, bb]
        return out

    def k_apply(self, k: int, X: np.ndarray) -> np.ndarray:
        return self.K[:, self.sl[k]] @ X[self.sl[k]]

    @staticmethod
    def inner(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        return X.T @ Y

    def diag_sum(self, k: int) -> np.ndarray:
        _, nl, p = self.terms[k]
        blk = self.K[self.sl[k], self.sl[k]].reshape(nl, p, nl, p)
        return np.einsum("lxly->xy", blk)

    def frob(self, k: int, j: int) -> np.ndarray:
        _, nk, pk = self.terms[k]
        _, nj, pj = self.terms[j]
        blk = self.K[self.sl[k], self.sl[j]].reshape(nk, pk, nj, pj)
        return np.einsum("axby,azbw->xyzw", blk, blk)


# ---- the derivatives ------------------------------------------------------------------------------
@dataclass(frozen=True)
class VarianceDerivatives:
    """Traces and quadratic forms of a linear mixed model in its variance components, at one point.

    Index ``i`` runs over the variance components (each term's variances and covariances in theta's
    order) and, last, the residual variance; ``G_i`` is the derivative of ``V`` in component ``i``.

    Attributes
    ----------
    names : list of str
        ``var(Days)|Subject``, ``cov(Days,(Intercept))|Subject``, ..., ``var(Residual)``.
    phi : numpy.ndarray
        The components' values.
    reml : bool
    n, p : int
    vcov : numpy.ndarray
        ``C = Var(beta)``.
    P : numpy.ndarray
        ``(k, p, p)``: ``X'V^-1 G_i V^-1 X`` (pbkrtest's ``P_i`` is minus this).
    Q : numpy.ndarray
        ``(k, k, p, p)``: ``X'V^-1 G_i V^-1 G_j V^-1 X``.
    tr_vg, tr_vgvg : numpy.ndarray
        ``tr(V^-1 G_i)`` and ``tr(V^-1 G_i V^-1 G_j)``.
    tr_pg, tr_pgpg : numpy.ndarray
        ``tr(P G_i)`` and ``tr(P G_i P G_j)``.
    y_pgp, y_pgpgp : numpy.ndarray
        ``y'P G_i P y`` and ``y'P G_i P G_j P y``.
    theta, sigma : numpy.ndarray, float
        Where they were evaluated.
    J : numpy.ndarray
        ``(k, t + 1)``: the Jacobian of the components in lmerTest's ``varpar = (theta, sigma)``
        (``phi = sigma^2 (lambda lambda')_rc`` per term entry, and ``sigma^2``).
    J2 : numpy.ndarray
        ``(k, t + 1, t + 1)``: their second derivatives in ``varpar``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (1 | Subject)", lf.load_dataset("sleepstudy"))
    >>> d = variance_derivatives(m)
    >>> d.hessian_varpar.shape, d.vcov_jacobian_varpar.shape
    ((2, 2), (2, 2, 2))
    """

    names: list[str]
    phi: np.ndarray
    reml: bool
    n: int
    p: int
    vcov: np.ndarray
    P: np.ndarray
    Q: np.ndarray
    tr_vg: np.ndarray
    tr_vgvg: np.ndarray
    tr_pg: np.ndarray
    tr_pgpg: np.ndarray
    y_pgp: np.ndarray
    y_pgpgp: np.ndarray
    theta: np.ndarray
    sigma: float
    J: np.ndarray
    J2: np.ndarray

    @property
    def gradient(self) -> np.ndarray:
        """Gradient of the deviance (REML criterion for REML fits) in the variance components."""
        return (self.tr_pg if self.reml else self.tr_vg) - self.y_pgp

    @property
    def hessian(self) -> np.ndarray:
        """Observed Hessian of the deviance in the variance components."""
        tr = self.tr_pgpg if self.reml else self.tr_vgvg
        return -tr + 2.0 * self.y_pgpgp

    @property
    def expected_information(self) -> np.ndarray:
        """Expected (Fisher) information of the variance components (REML fits: the REML information)."""
        return 0.5 * (self.tr_pgpg if self.reml else self.tr_vgvg)

    @property
    def vcov_jacobian(self) -> np.ndarray:
        """``(k, p, p)``: the derivative of Var(beta) in each component, ``C X'V^-1 G_i V^-1 X C``."""
        return np.einsum("ab,ibc,cd->iad", self.vcov, self.P, self.vcov)

    # ---- lmerTest's parameters varpar = (theta, sigma) ---------------------------------------------
    @property
    def hessian_varpar(self) -> np.ndarray:
        """Hessian of the deviance in ``(theta, sigma)``: ``J'HJ + sum_i g_i d2phi_i`` (exact)."""
        return self.J.T @ self.hessian @ self.J + np.einsum("i,itu->tu", self.gradient, self.J2)

    @property
    def gradient_varpar(self) -> np.ndarray:
        """Gradient of the deviance in ``(theta, sigma)``."""
        return self.J.T @ self.gradient

    @property
    def vcov_jacobian_varpar(self) -> np.ndarray:
        """``(len(varpar), p, p)``: the derivative of Var(beta) in each of ``(theta, sigma)``."""
        return np.einsum("iab,it->tab", self.vcov_jacobian, self.J)


def _phi_jacobians(m: LmerResult, theta: np.ndarray, sigma: float,
                   layout: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """phi(theta, sigma), its Jacobian J (k x (t+1)) and second derivatives (k x (t+1) x (t+1)), in lme4's theta."""
    lams = m.devfun.pmap.lambdas_of_theta(theta)
    nt = len(theta)
    k = len(layout) + 1
    phi = np.zeros(k)
    J = np.zeros((k, nt + 1))
    J2 = np.zeros((k, nt + 1, nt + 1))
    s2 = sigma * sigma
    tpos = layout  # theta element t is entry (r, c) of lambda of term tpos[t][0]
    for i, (term, r, c) in enumerate(layout):
        lam = lams[term]
        D = lam @ lam.T
        phi[i] = s2 * D[r, c]
        for t, (tt, r1, c1) in enumerate(tpos):
            if tt != term:
                continue
            d = (lam[c, c1] if r == r1 else 0.0) + (lam[r, c1] if c == r1 else 0.0)
            J[i, t] = s2 * d
            J2[i, t, nt] = J2[i, nt, t] = 2.0 * sigma * d
            for u, (tu, r2, c2) in enumerate(tpos):
                if tu != term or c1 != c2:
                    continue
                J2[i, t, u] = s2 * (float(r == r1 and c == r2) + float(c == r1 and r == r2))
        J[i, nt] = 2.0 * sigma * D[r, c]
        J2[i, nt, nt] = 2.0 * D[r, c]
    phi[-1] = s2
    J[-1, nt] = 2.0 * sigma
    J2[-1, nt, nt] = 2.0
    return phi, J, J2


def _phi_jacobians_mapped(m: LmerResult, params: np.ndarray, sigma: float,
                          layout: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_phi_jacobians` in a structured model's own parameters (cs, ar1): the chain rule through the
    parameter map, d phi / d params = (d phi / d theta) (d theta / d params), and for the second derivatives
    M' J2 M + sum_t (d phi / d theta_t) d2 theta_t / d params^2 (the map's second derivatives by central
    differences of its analytic Jacobian, exact to about 1e-10)."""
    pm = m.devfun.pmap
    params = np.asarray(params, dtype=float)
    theta = pm.theta(params)
    phi, Jt, J2t = _phi_jacobians(m, theta, sigma, layout)
    nt, npar = pm.n_theta, pm.n_params
    M = np.zeros((nt + 1, npar + 1))
    M[:nt, :npar] = pm.jacobian(params)
    M[nt, npar] = 1.0
    J = Jt @ M
    J2 = np.einsum("ta,ktu,ub->kab", M, J2t, M)
    h = 1e-5 * np.maximum(np.abs(params), 0.1)
    for a in range(npar):
        e = np.zeros(npar)
        e[a] = h[a]
        d2 = (pm.jacobian(params + e) - pm.jacobian(params - e)) / (2 * h[a])  # d2 theta_t / d p_b d p_a
        J2[:, :npar, a] += Jt[:, :nt] @ d2
    J2 = 0.5 * (J2 + J2.transpose(0, 2, 1))
    return phi, J, J2


def variance_derivatives(m: LmerResult, theta: Any = None, sigma: float | None = None) -> VarianceDerivatives:
    """All traces and quadratic forms in the variance components at ``(theta, sigma)`` (default: the fit).

    Cost: independent of the number of rows; for one random-effects term, linear in its levels; for
    several terms, cubic in the total number of random effects (dense, at most :data:`DENSE_MAX`).

    Parameters
    ----------
    m : LmerResult
    theta : array-like, optional
    sigma : float, optional

    Returns
    -------
    VarianceDerivatives

    Raises
    ------
    TooLargeForExact
        Several terms with more than :data:`DENSE_MAX` random effects in all.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> d = variance_derivatives(m)
    >>> d.names
    ['var((Intercept))|Subject', 'cov(Days,(Intercept))|Subject', 'var(Days)|Subject', 'var(Residual)']
    >>> bool(abs(d.gradient).max() < 1e-3)   # the REML criterion is stationary at the estimates
    True
    """
    at_fit = theta is None and sigma is None
    if at_fit and m in _CACHE:
        return _CACHE[m]
    theta = m.solution.theta if theta is None else np.asarray(theta, dtype=float)
    sigma = m.sigma if sigma is None else float(sigma)
    out = _variance_derivatives(m, theta, sigma)
    if at_fit:
        _CACHE[m] = out
    return out


def _variance_derivatives(m: LmerResult, theta: np.ndarray, sigma: float) -> VarianceDerivatives:
    cp = m.devfun.cp
    n, px = cp.n, cp.p
    layout = _layout(m)
    f = _factor_at(m, theta)
    beta = f.solve_fixef()
    pwrss = f.pwrss()
    rinv = sla.solve_triangular(f.LXX[:px, :px], np.eye(px), lower=True)
    C0 = rinv.T @ rinv
    op = _BlockDiagK(m, f, beta) if len(cp.blocks) == 1 else _DenseK(m, f, beta)
    nr = len(layout)
    s = px + 1
    EU = [op.e_apply(k, r, c, op.U) for (k, r, c) in layout]
    KEU = [op.k_apply(k, EU[i]) for i, (k, _, _) in enumerate(layout)]
    Pi = np.array([op.inner(op.U, EU[i]) for i in range(nr)]).reshape(nr, s, s)
    Xi = np.zeros((nr, nr, s, s))
    for i in range(nr):
        for j in range(nr):
            Xi[i, j] = op.inner(EU[i], KEU[j])
    kd = {k: op.diag_sum(k) for k in {t for t, _, _ in layout}}
    fro: dict[tuple[int, int], np.ndarray] = {}
    tvg0 = np.zeros(nr)
    tvgvg0 = np.zeros((nr, nr))
    for i, (k, r, c) in enumerate(layout):
        tvg0[i] = sum(kd[k][b, a] for a, b in _pairs(r, c))
        for j, (kk, r2, c2) in enumerate(layout):
            if (k, kk) not in fro:
                fro[(k, kk)] = op.frob(k, kk)
            F = fro[(k, kk)]
            tvgvg0[i, j] = sum(F[b, g, a, d] for a, b in _pairs(r, c) for g, d in _pairs(r2, c2))
    # absolute scale (sigma), in the basis (G_1..G_r, V)
    s2 = sigma * sigma
    k1 = nr + 1
    C = s2 * C0
    Cinv = np.linalg.inv(C)
    P = np.zeros((k1, px, px))
    Q = np.zeros((k1, k1, px, px))
    tvg = np.zeros(k1)
    tvgvg = np.zeros((k1, k1))
    ypgp = np.zeros(k1)
    ypgpgp = np.zeros((k1, k1))
    P[:nr] = Pi[:, :px, :px] / s2 ** 2
    P[nr] = Cinv
    Q[:nr, :nr] = Xi[:, :, :px, :px] / s2 ** 3
    for i in range(nr):
        Q[i, nr] = Q[nr, i] = P[i]
    Q[nr, nr] = Cinv
    tvg[:nr] = tvg0 / s2
    tvg[nr] = n
    tvgvg[:nr, :nr] = tvgvg0 / s2 ** 2
    tvgvg[:nr, nr] = tvgvg[nr, :nr] = tvg[:nr]
    tvgvg[nr, nr] = n
    bw = Pi[:, :px, px]  # B0'E_i w0
    ypy = pwrss / s2
    ypgp[:nr] = Pi[:, px, px] / s2 ** 2
    ypgp[nr] = ypy
    ypgpgp[:nr, :nr] = (Xi[:, :, px, px] - bw @ C0 @ bw.T) / s2 ** 3
    ypgpgp[:nr, nr] = ypgpgp[nr, :nr] = ypgp[:nr]
    ypgpgp[nr, nr] = ypy
    # change of basis: G_res = I = (V - sum_i phi_i G_i) / sigma^2
    phi, J, J2 = _phi_jacobians(m, theta, sigma, layout) if m.devfun.pmap.identity else \
        _phi_jacobians_mapped(m, theta, sigma, layout)
    T = np.eye(k1)
    T[:nr, nr] = -phi[:nr] / s2
    T[nr, nr] = 1.0 / s2
    P = np.einsum("kj,kab->jab", T, P)
    Q = np.einsum("ki,hj,khab->ijab", T, T, Q)
    tvg = T.T @ tvg
    tvgvg = T.T @ tvgvg @ T
    ypgp = T.T @ ypgp
    ypgpgp = T.T @ ypgpgp @ T
    CP = np.einsum("ab,ibc->iac", C, P)
    tr_cp = np.einsum("iaa->i", CP)
    tpg = tvg - tr_cp
    tpgpg = (tvgvg - 2.0 * np.einsum("ab,ijba->ij", C, Q) + np.einsum("iab,jba->ij", CP, CP))
    sym = lambda a: 0.5 * (a + a.T)  # noqa: E731
    return VarianceDerivatives(
        names=_component_names(m), phi=phi, reml=m.reml, n=n, p=px, vcov=C, P=P, Q=Q,
        tr_vg=tvg, tr_vgvg=sym(tvgvg), tr_pg=tpg, tr_pgpg=sym(tpgpg), y_pgp=ypgp, y_pgpgp=sym(ypgpgp),
        theta=np.asarray(theta, dtype=float).copy(), sigma=sigma, J=J, J2=J2)


# ---- finite differences (Richardson extrapolation, as numDeriv) ----------------------------------
def _steps(x: np.ndarray, d: float, zero_tol: float, eps: float) -> np.ndarray:
    return np.where(np.abs(x) > zero_tol, d * np.abs(x), eps)


def fd_jacobian(fun: Callable[[np.ndarray], Any], x: Any, d: float = 1e-2, r: int = 4,
                zero_tol: float = 1e-6, eps: float = 1e-2) -> np.ndarray:
    """Jacobian of a (vector-valued) function by central differences with Richardson extrapolation.

    Steps ``h = d |x|`` (``eps`` where ``|x| < zero_tol``) halved ``r - 1`` times; the central
    differences are combined as numDeriv's Richardson scheme (error terms in h^2, h^4, ...).

    Returns
    -------
    numpy.ndarray
        ``(size of fun's output, len(x))``.

    Examples
    --------
    >>> fd_jacobian(lambda v: np.array([v[0] ** 3, v[0] * v[1]]), [2.0, 3.0]).round(8)
    array([[12.,  0.],
           [ 3.,  2.]])
    """
    x = np.asarray(x, dtype=float)
    h0 = _steps(x, d, zero_tol, eps)
    cols = []
    for t in range(len(x)):
        est = []
        for k in range(r):
            h = h0[t] / 2 ** k
            e = np.zeros_like(x)
            e[t] = h
            est.append((np.ravel(fun(x + e)) - np.ravel(fun(x - e))) / (2 * h))
        cols.append(_richardson(est))
    return np.column_stack(cols)


def fd_hessian(fun: Callable[[np.ndarray], float], x: Any, d: float = 1e-2, r: int = 4,
               zero_tol: float = 1e-6, eps: float = 1e-2) -> np.ndarray:
    """Hessian of a scalar function by central second differences with Richardson extrapolation.

    Examples
    --------
    >>> fd_hessian(lambda v: v[0] ** 2 * v[1] + v[1] ** 3, [1.0, 2.0]).round(6)
    array([[ 4.,  2.],
           [ 2., 12.]])
    """
    x = np.asarray(x, dtype=float)
    k = len(x)
    h0 = _steps(x, d, zero_tol, eps)
    f0 = float(fun(x))
    H = np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1):
            est = []
            for a in range(r):
                hi, hj = h0[i] / 2 ** a, h0[j] / 2 ** a
                ei = np.zeros(k)
                ei[i] = hi
                if i == j:
                    est.append((fun(x + ei) - 2.0 * f0 + fun(x - ei)) / hi ** 2)
                else:
                    ej = np.zeros(k)
                    ej[j] = hj
                    est.append((fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej) + fun(x - ei - ej))
                               / (4 * hi * hj))
            H[i, j] = H[j, i] = float(_richardson([np.atleast_1d(e) for e in est])[0])
    return H


def _richardson(est: list[np.ndarray]) -> np.ndarray:
    """Combine estimates at steps h, h/2, h/4, ... whose errors are even powers of h."""
    cur = [np.asarray(e, dtype=float) for e in est]
    m = 1
    while len(cur) > 1:
        f = 4.0 ** m
        cur = [(f * cur[i + 1] - cur[i]) / (f - 1.0) for i in range(len(cur) - 1)]
        m += 1
    return cur[0]


def fd_varpar_derivatives(m: LmerResult, d: float = 1e-2, r: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Hessian of the deviance and Jacobian of Var(beta) in ``(theta, sigma)`` by finite differences.

    Only theta is differenced (each evaluation one update of the blocked factor, cost independent
    of n); the sigma parts are analytic.  The points ``theta +- h e_t`` serve both the Jacobian and the
    Hessian's diagonal; the off-diagonal uses ``theta +- h e_t +- h e_u``; ``r`` step sizes (halved)
    are combined by Richardson extrapolation.  The steps are ``h_t = d * max(|theta_t|, max|theta| / 10)``:
    relative to the element, but not below a tenth of the largest, since second differences of a
    deviance in the thousands over a step of 1e-5 (a small off-diagonal element times 1e-3) lose about
    1e-5 of the Hessian to rounding.  The fall-back for crossed models beyond :data:`DENSE_MAX` (about
    ``2 r t^2`` factor updates for t theta parameters).

    Returns
    -------
    hessian : numpy.ndarray
        ``(t + 1, t + 1)``.
    jacobian : numpy.ndarray
        ``(t + 1, p, p)``.
    """
    theta, sigma = m.solution.theta.copy(), m.sigma
    cp = m.devfun.cp
    p, nt = cp.p, len(theta)
    nprime = cp.n - p if m.reml else cp.n
    w = np.concatenate([[1.0, sigma ** -2], np.zeros(p * p)])

    own: list[Any] = [None]  # one factor of this computation's own, moved from point to point

    def parts(th: np.ndarray) -> np.ndarray:
        f = own[0] = _factor_at(m, th, own[0])
        rinv = sla.solve_triangular(f.LXX[:p, :p], np.eye(p), lower=True)
        logdet = f.logdet_re() + (f.logdet_rx() if m.reml else 0.0)
        return np.concatenate([[logdet, f.pwrss()], (rinv.T @ rinv).ravel()])

    floor = 0.1 * float(np.max(np.abs(theta))) if nt else 0.0
    h0 = np.where(np.maximum(np.abs(theta), floor) > 1e-6, d * np.maximum(np.abs(theta), floor), 1e-3)
    base = parts(theta)
    jac_est: list[list[np.ndarray]] = [[] for _ in range(nt)]
    hd_est: list[list[np.ndarray]] = [[] for _ in range(nt)]
    ho_est: dict[tuple[int, int], list[np.ndarray]] = {(i, j): [] for i in range(nt) for j in range(i)}
    for a in range(r):
        h = h0 / 2 ** a
        for t in range(nt):
            e = np.zeros(nt)
            e[t] = h[t]
            up, dn = parts(theta + e), parts(theta - e)
            jac_est[t].append((up - dn) / (2 * h[t]))
            hd_est[t].append(np.atleast_1d((up - 2 * base + dn) @ w / h[t] ** 2))
        for (i, j), est in ho_est.items():
            ei, ej = np.zeros(nt), np.zeros(nt)
            ei[i], ej[j] = h[i], h[j]
            val = (parts(theta + ei + ej) - parts(theta + ei - ej) - parts(theta - ei + ej)
                   + parts(theta - ei - ej)) @ w / (4 * h[i] * h[j])
            est.append(np.atleast_1d(val))
    jac = np.column_stack([_richardson(jac_est[t]) for t in range(nt)])  # (2 + p^2, nt)
    H = np.zeros((nt + 1, nt + 1))
    for t in range(nt):
        H[t, t] = _richardson(hd_est[t])[0]
    for (i, j), est in ho_est.items():
        H[i, j] = H[j, i] = _richardson(est)[0]
    H[:nt, nt] = H[nt, :nt] = -2.0 * jac[1] / sigma ** 3
    H[nt, nt] = -2.0 * nprime / sigma ** 2 + 6.0 * base[1] / sigma ** 4
    C0 = base[2:].reshape(p, p)
    J = np.zeros((nt + 1, p, p))
    J[:nt] = sigma ** 2 * jac[2:].T.reshape(nt, p, p)
    J[nt] = 2.0 * sigma * C0
    return H, J
