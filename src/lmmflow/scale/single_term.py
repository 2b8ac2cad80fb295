"""The profiled objective of a one-term model for many responses, compressed by level pattern.

With one random-effects term (``(1 | g)``, ``(x | g)``, ``(x || g)``), the profiled objective at theta
needs, for every level i, the p x p matrix ``G_i = Lambda (Lambda' A_i Lambda + I)^-1 Lambda'`` (A_i the
level's block of Z'Z) and the sums

    S = [X y]'[X y] - sum_i c_i' G_i c_i,        c_i = Z_i'[X y]  (p x (p_x + 1)),

whose Cholesky factor gives log|R_X|^2 and the penalized residual sum of squares, while
``log|L_Z|^2 = sum_i log|Lambda' A_i Lambda + I|``.  Written as ``sum over pairs (a <= b) of G_i[a, b] *
(c_i[a] c_i[b]' + c_i[b] c_i[a]')``, every product of data is formed once, before the optimizer starts;
and levels with the same A_i (the same pattern of observations: in a longitudinal design with five waves
there are at most 32) share G_i, so their products are summed in advance.  One evaluation then costs a
few small array operations over the patterns, not a pass over the levels, and the y-dependent parts of a
new response cost one sparse product with Z.

This is the objective of :class:`lmmflow.core.DevianceFunction` for the same model, evaluated another way
(the two agree to rounding, about 1e-12 relative); :func:`lmmflow.fit_many` uses it to find theta.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import scipy.sparse as sp

from ..core import CrossProducts
from ..core.criterion import criterion_dof, gaussian_criterion
from ..core.oneterm import level_weights, pair_index

__all__ = ["SingleTermProfile"]


class SingleTermProfile:
    """The profiled REML criterion or deviance of a one-term model, for many responses on one design.

    Parameters
    ----------
    cp : CrossProducts
        Cross-products of the design (one random-effects term); only the y-independent parts are read.
    X : numpy.ndarray
        n x p fixed-effects matrix (unweighted; the weights come from ``cp.w_sqrt``).
    reml : bool

    Examples
    --------
    >>> import lmmflow as lf
    >>> from lmmflow.fitting import cross_products as _cross_products
    >>> d = lf.lformula("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> prof = SingleTermProfile(_cross_products(d), d.X, reml=True)
    >>> prof.set_responses(d.y[:, None])
    >>> round(float(prof.objective([0.9667, 0.0152, 0.2309], 0)), 2)
    1743.63
    """

    def __init__(self, cp: CrossProducts, X: np.ndarray, reml: bool = True):
        if len(cp.blocks) != 1:
            raise ValueError("SingleTermProfile needs a model with one random-effects term")
        b = cp.blocks[0]
        self.p, self.px, self.nl = b.p, cp.p, b.nlevels
        self.n, self.reml, self.log_w = cp.n, bool(reml), cp.log_weights
        self.w_sqrt = cp.w_sqrt
        self.X = np.asarray(X, dtype=float)
        self.Xw = self.X if cp.w_sqrt is None else self.X * cp.w_sqrt[:, None]
        self.XX = cp.xx[:self.px, :self.px].copy()
        self.rows, self.cols = np.nonzero(b.mask.T)[::-1]
        self.lower = np.where(self.rows == self.cols, 0.0, -np.inf)
        self.pairs = pair_index(self.p)
        # level patterns: levels with the same block of Z'Z share everything that depends on theta
        A = np.ascontiguousarray(cp.diag[0]).reshape(self.nl, self.p * self.p)
        uniq, inv, counts = np.unique(A, axis=0, return_inverse=True, return_counts=True)
        self.A = uniq.reshape(-1, self.p, self.p)
        self.counts = counts.astype(float)
        self.npat = len(uniq)
        self.order = np.argsort(inv.ravel(), kind="stable")  # levels grouped by pattern
        self.bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.CX = cp.xz[0][:self.px].reshape(self.px, self.nl, self.p).transpose(1, 2, 0)  # (nl, p, px)
        self.QXX = self._pair_sums(self.CX, self.CX)  # (npat * npairs, px * px)
        self.zt = sp.csr_matrix(b.sparse_z(cp.w_sqrt).T) if b.Z.shape[0] else None

    def _pair_sums(self, U: np.ndarray, V: np.ndarray) -> np.ndarray:
        """sum over each pattern's levels of sym(U_i[a] V_i[b]') for every pair (a <= b), flattened.

        Levels are taken in pattern order, so each pattern's sum is one matrix product (BLAS) per pair.
        """
        Us, Vs = U[self.order], V[self.order]
        out = np.empty((self.npat, len(self.pairs), U.shape[2], V.shape[2]))
        for k in range(self.npat):
            lo, hi = self.bounds[k], self.bounds[k + 1]
            for j, (a, c) in enumerate(self.pairs):
                prod = Us[lo:hi, a, :].T @ Vs[lo:hi, c, :]
                if a != c:
                    prod += Us[lo:hi, c, :].T @ Vs[lo:hi, a, :]
                out[k, j] = prod
        return out.reshape(self.npat * len(self.pairs), -1)

    def response_sums(self, Y: np.ndarray) -> dict[str, np.ndarray]:
        """The y-dependent sums for the responses in the columns of ``Y`` (n x R, offset removed).

        Each response is first centred on its least-squares fit on X (as ``CrossProducts.build`` does),
        so y'y stays at the scale of the residuals; ``shift`` holds the coefficients to add back to beta.
        One pass of the centring is enough here: any shift is exact once added back, and what is left of
        the fit on X after one pass (rounding) stays in X'y, where the engine solves for it.
        The sums are small (patterns x pairs x p_x per response), so they can be computed where the
        responses are and sent to the processes that optimize.
        """
        if self.zt is None:
            raise ValueError("the per-row parts were dropped (for_workers); compute the sums where they are")
        Y = np.asarray(Y, dtype=float)
        Yw = Y if self.w_sqrt is None else Y * self.w_sqrt[:, None]
        if self.px:
            c = np.linalg.cholesky(self.XX)
            shift = np.linalg.solve(c.T, np.linalg.solve(c, self.Xw.T @ Yw))
            r = self.Xw @ shift
            np.subtract(Yw, r, out=r)
            Yw = r
        else:
            shift = np.zeros((0, Y.shape[1]))
        R = Y.shape[1]
        Cy = np.asarray(self.zt @ Yw).reshape(self.nl, self.p, R)
        return {"shift": shift, "Xy": self.Xw.T @ Yw, "yy": np.einsum("ij,ij->j", Yw, Yw),
                "QXy": self._pair_sums(self.CX, Cy).reshape(self.npat * len(self.pairs), self.px, R),
                "Qyy": self._yy_sums(Cy)}

    def use(self, sums: dict[str, np.ndarray]) -> None:
        """Make ``sums`` (from :meth:`response_sums`) the responses that ``objective(theta, r)`` indexes."""
        self.shift, self.Xy, self.yy, self.QXy, self.Qyy = (sums[k] for k in ("shift", "Xy", "yy", "QXy", "Qyy"))

    def set_responses(self, Y: np.ndarray) -> None:
        """Compute the sums of the responses in the columns of ``Y`` and use them."""
        self.use(self.response_sums(Y))

    def for_workers(self) -> SingleTermProfile:
        """A copy without the per-row parts (X, Z) and responses: what an optimizing process needs."""
        out = copy.copy(self)
        out.X = out.Xw = out.w_sqrt = out.zt = out.CX = None  # type: ignore[assignment]
        for k in ("shift", "Xy", "yy", "QXy", "Qyy"):
            out.__dict__.pop(k, None)
        return out

    def _yy_sums(self, Cy: np.ndarray) -> np.ndarray:
        """sum over each pattern's levels of sym(Cy_i[a] Cy_i[b]) per response: (npat * npairs, R)."""
        Cs = Cy[self.order]
        out = []
        for a, c in self.pairs:
            prod = Cs[:, a, :] * Cs[:, c, :]
            if a != c:
                prod *= 2.0
            out.append(np.add.reduceat(prod, self.bounds[:-1], axis=0))
        return np.stack(out, axis=1).reshape(self.npat * len(self.pairs), -1)

    def lambda_of(self, theta: np.ndarray) -> np.ndarray:
        """The p x p lower-triangular relative covariance factor."""
        lam = np.zeros((self.p, self.p))
        lam[self.rows, self.cols] = theta
        return lam

    def _parts(self, theta: np.ndarray, r: int) -> tuple[float, np.ndarray, np.ndarray, float] | None:
        logdet_n, g_n = self._weights_many(np.asarray(theta, dtype=float)[None])
        logdet, g = float(logdet_n[0]), g_n[0]
        if not np.isfinite(logdet):
            return None
        sxx = self.XX - (g @ self.QXX).reshape(self.px, self.px)
        sxy = self.Xy[:, r] - g @ self.QXy[:, :, r]
        syy = float(self.yy[r] - g @ self.Qyy[:, r])
        return logdet, sxx, sxy, syy

    def _weights_many(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sum of log det(M) over levels (N,) and the pair weights of G (N, patterns * pairs) at points (N, d),
        from the one-term kernel (:func:`lmmflow.core.oneterm.level_weights`; NaN where M is not positive
        definite)."""
        lam = np.zeros((len(theta), self.p, self.p))
        lam[:, self.rows, self.cols] = theta
        logdet, g = level_weights(lam, self.A, self.counts)
        return logdet, g.reshape(len(theta), -1)

    def objective_many(self, theta: np.ndarray, rep: np.ndarray) -> np.ndarray:
        """The objective at points theta (N, d) for responses ``rep`` (N,), evaluated together.

        The batched form of :meth:`objective` (+inf where it cannot be formed), for
        :func:`lmmflow.optim.batched.batched_newton`.
        """
        from ..optim.batched import batched_cholesky

        theta, rep = np.asarray(theta, dtype=float), np.asarray(rep)
        N, px = len(theta), self.px
        logdet, g = self._weights_many(theta)
        c = px + 1
        S = np.empty((N, c, c))
        S[:, :px, :px] = self.XX - (g @ self.QXX).reshape(N, px, px)
        sxy = self.Xy[:, rep].T - np.einsum("nk,kpn->np", g, self.QXy[:, :, rep])
        S[:, px, :px] = S[:, :px, px] = sxy
        S[:, px, px] = self.yy[rep] - np.einsum("nk,kn->n", g, self.Qyy[:, rep])
        with np.errstate(invalid="ignore", divide="ignore"):
            L = batched_cholesky(S)
            pwrss = L[:, px, px] ** 2
            ldx = 2.0 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)[:, :px]), axis=1) if self.reml else 0.0
            val = gaussian_criterion(logdet, ldx, pwrss, self.n, px, self.reml, self.log_w)
        return np.where(np.isfinite(val), val, np.inf)

    def objective(self, theta: np.ndarray, r: int = 0) -> float:
        """The REML criterion or deviance of response ``r`` at ``theta`` (+inf where it cannot be formed)."""
        parts = self._parts(theta, r)
        if parts is None:
            return math.inf
        logdet, sxx, sxy, syy = parts
        try:
            rx = np.linalg.cholesky(sxx) if self.px else np.zeros((0, 0))
        except np.linalg.LinAlgError:
            return math.inf
        v = np.linalg.solve(rx, sxy) if self.px else np.zeros(0)
        pwrss = syy - float(v @ v)
        if not pwrss > 0:
            return math.inf
        ldx = 2.0 * float(np.sum(np.log(np.diag(rx)))) if self.reml else 0.0
        val = gaussian_criterion(logdet, ldx, pwrss, self.n, self.px, self.reml, self.log_w)
        return val if math.isfinite(val) else math.inf

    def estimates(self, theta: np.ndarray, r: int = 0) -> dict[str, object]:
        """Objective, fixed effects, their covariance matrix and sigma of response ``r`` at ``theta``."""
        logdet, sxx, sxy, syy = self._parts(theta, r)  # type: ignore[misc]
        inv = np.linalg.inv(sxx) if self.px else np.zeros((0, 0))
        beta_c = inv @ sxy
        pwrss = syy - float(sxy @ beta_c)
        dof = criterion_dof(self.n, self.px, self.reml)
        sigma = math.sqrt(pwrss / dof)
        return {"objective": self.objective(theta, r), "beta": beta_c + self.shift[:, r], "sigma": sigma,
                "vcov": sigma ** 2 * inv}
