"""The parameter map: from a model's covariance parameters to each term's relative covariance factor Lambda.

Every consumer that turns parameters into Lambda (the objective, the blocked factor, the gradient, the results,
simulation) asks one :class:`ParameterMap`; none recomputes it.  A map holds one :class:`Structure` per
random-effects term (in engine order):

``Unstructured``
    lme4's parametrization: the free entries of the lower-triangular Lambda_k, column by column (lme4's theta).
    The map is the identity on theta.  ``(x || g)`` and ``diag(x | g)`` are unstructured terms with a diagonal
    mask (theta = the relative standard deviations).
``CompoundSymmetry``
    glmmTMB's ``cs``: heterogeneous standard deviations and one common correlation rho,
    Sigma_k / sigma^2 = D R D with D = diag(s_1..s_p), R = (1 - rho) I + rho 11'.  Parameters ``(s_1..s_p, rho)``;
    ``homogeneous=True`` (``homcs``): ``(s, rho)``.
``AR1``
    glmmTMB's ``ar1``: one standard deviation, correlation rho^|i - j| between the i-th and j-th effects (the
    ordered levels of a factor).  Parameters ``(s, rho)``.

The structured maps give lme4's theta as theta = vech(D chol(R(rho))) (column by column), so the engine keeps
working on lme4's unstructured theta, and the gradient of the objective in the structure's parameters is
J' g with J = d theta / d params (analytic).  All standard deviations are relative to the residual one
(sigma is profiled out), as lme4's theta is.  This module imports only numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["AR1", "CompoundSymmetry", "ParameterMap", "Structure", "Unstructured", "structure_of"]

_RHO_MARGIN = 1e-6
"""Distance the correlation bounds keep from a singular correlation matrix (where d theta / d rho is infinite)."""


def _layout(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the free entries of a lower-triangular mask, column by column (lme4's order)."""
    cols, rows = np.nonzero(np.asarray(mask, dtype=bool).T)
    return rows, cols


class Structure:
    """One term's covariance structure: parameters -> the free entries of Lambda_k (lme4's theta for the term).

    Subclasses set ``kind``, ``p``, ``mask`` and implement :meth:`theta` and :meth:`jacobian`.
    """

    kind = "us"
    identity = False

    def __init__(self, p: int, mask: np.ndarray | None = None):
        self.p = int(p)
        self.mask = np.tril(np.ones((self.p, self.p), dtype=bool)) if mask is None else np.asarray(mask, bool)
        self.rows, self.cols = _layout(self.mask)

    @property
    def n_theta(self) -> int:
        """Number of lme4 theta elements (free entries of Lambda_k)."""
        return len(self.rows)

    @property
    def n_params(self) -> int:
        """Number of the structure's own parameters."""
        return len(self.lower)

    @property
    def lower(self) -> np.ndarray:
        """Lower bounds of the parameters."""
        raise NotImplementedError

    @property
    def upper(self) -> np.ndarray:
        """Upper bounds of the parameters."""
        return np.full(len(self.lower), np.inf)

    @property
    def start(self) -> np.ndarray:
        """Starting values (Lambda_k = I, as lme4 starts)."""
        raise NotImplementedError

    def theta(self, params: np.ndarray) -> np.ndarray:
        """lme4's theta elements of the term."""
        raise NotImplementedError

    def jacobian(self, params: np.ndarray) -> np.ndarray:
        """d theta / d params, n_theta x n_params."""
        raise NotImplementedError

    def names(self, group: str, cnames: Sequence[str]) -> list[str]:
        """Names of the parameters."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class Unstructured(Structure):
    """lme4's parametrization: the free entries of Lambda_k themselves (identity map).

    Examples
    --------
    >>> import numpy as np
    >>> s = Unstructured(2)
    >>> s.theta(np.array([1.0, 0.5, 2.0])).tolist(), s.lower.tolist()
    ([1.0, 0.5, 2.0], [0.0, -inf, 0.0])
    """

    identity = True

    def __init__(self, p: int, mask: np.ndarray | None = None, kind: str = "us"):
        super().__init__(p, mask)
        self.kind = kind

    @property
    def lower(self) -> np.ndarray:
        return np.where(self.rows == self.cols, 0.0, -np.inf)

    @property
    def start(self) -> np.ndarray:
        return np.where(self.rows == self.cols, 1.0, 0.0)

    def theta(self, params: np.ndarray) -> np.ndarray:
        return np.asarray(params, dtype=float)

    def jacobian(self, params: np.ndarray) -> np.ndarray:
        return np.eye(self.n_theta)

    def names(self, group: str, cnames: Sequence[str]) -> list[str]:
        return [f"{group}.{cnames[i]}" if i == j else f"{group}.{cnames[i]}.{cnames[j]}"
                for i, j in zip(self.rows, self.cols)]


class _Correlated(Structure):
    """Sigma / sigma^2 = D R(rho) D with a correlation matrix R of one parameter: theta = vech(D chol(R))."""

    homogeneous = True

    def _sds(self, params: np.ndarray) -> np.ndarray:
        return np.full(self.p, params[0]) if self.homogeneous else np.asarray(params[:self.p], dtype=float)

    def _chol_r(self, rho: float) -> tuple[np.ndarray, np.ndarray]:
        """chol(R(rho)) and its derivative in rho."""
        raise NotImplementedError

    @property
    def _rho_bounds(self) -> tuple[float, float]:
        raise NotImplementedError

    @property
    def lower(self) -> np.ndarray:
        n_sd = 1 if self.homogeneous else self.p
        return np.r_[np.zeros(n_sd), self._rho_bounds[0]]

    @property
    def upper(self) -> np.ndarray:
        n_sd = 1 if self.homogeneous else self.p
        return np.r_[np.full(n_sd, np.inf), self._rho_bounds[1]]

    @property
    def start(self) -> np.ndarray:
        n_sd = 1 if self.homogeneous else self.p
        return np.r_[np.ones(n_sd), 0.0]

    def theta(self, params: np.ndarray) -> np.ndarray:
        params = np.asarray(params, dtype=float)
        L, _ = self._chol_r(float(params[-1]))
        return (self._sds(params)[:, None] * L)[self.rows, self.cols]

    def jacobian(self, params: np.ndarray) -> np.ndarray:
        params = np.asarray(params, dtype=float)
        L, dL = self._chol_r(float(params[-1]))
        s = self._sds(params)
        J = np.zeros((self.n_theta, len(params)))
        r, c = self.rows, self.cols
        if self.homogeneous:
            J[:, 0] = L[r, c]
        else:
            J[np.arange(self.n_theta), r] = L[r, c]  # theta_(r, c) = s_r L[r, c]
        J[:, -1] = (s[:, None] * dL)[r, c]
        return J

    def correlation(self, rho: float) -> np.ndarray:
        """The p x p correlation matrix R(rho)."""
        L, _ = self._chol_r(rho)
        R = L @ L.T
        d = np.sqrt(np.diag(R))
        return R / np.outer(d, d)


class CompoundSymmetry(_Correlated):
    """glmmTMB's ``cs``: standard deviations s_1..s_p (relative to sigma) and one common correlation rho.

    ``homogeneous=True`` is ``homcs`` (one standard deviation).  rho lies in (-1/(p-1), 1).

    Examples
    --------
    >>> import numpy as np
    >>> s = CompoundSymmetry(3)
    >>> L = np.zeros((3, 3)); L[s.rows, s.cols] = s.theta(np.array([1.0, 2.0, 3.0, 0.5]))
    >>> np.round(L @ L.T, 6).tolist()
    [[1.0, 1.0, 1.5], [1.0, 4.0, 3.0], [1.5, 3.0, 9.0]]
    """

    def __init__(self, p: int, homogeneous: bool = False):
        super().__init__(p)
        self.homogeneous = bool(homogeneous)
        self.kind = "homcs" if homogeneous else "cs"

    @property
    def _rho_bounds(self) -> tuple[float, float]:
        lo = -1.0 / (self.p - 1) if self.p > 1 else -1.0
        return lo + _RHO_MARGIN, 1.0 - _RHO_MARGIN

    def _chol_r(self, rho: float) -> tuple[np.ndarray, np.ndarray]:
        # chol of (1 - rho) I + rho 11': column j has a_j on the diagonal and one value c_j below it, with
        # S_j = sum_{k<j} c_k^2, a_j = sqrt(1 - S_j), c_j = (rho - S_j) / a_j (differentiated alongside)
        p = self.p
        L, dL = np.zeros((p, p)), np.zeros((p, p))
        S = dS = 0.0
        for j in range(p):
            a = np.sqrt(max(1.0 - S, 0.0))
            da = -dS / (2.0 * a) if a > 0 else 0.0
            c = (rho - S) / a if a > 0 else 0.0
            dc = ((1.0 - dS) * a - (rho - S) * da) / (a * a) if a > 0 else 0.0
            L[j, j], dL[j, j] = a, da
            L[j + 1:, j], dL[j + 1:, j] = c, dc
            S, dS = S + c * c, dS + 2.0 * c * dc
        return L, dL

    def names(self, group: str, cnames: Sequence[str]) -> list[str]:
        sds = [f"{group}.sd"] if self.homogeneous else [f"{group}.{nm}" for nm in cnames]
        return sds + [f"{group}.rho"]


class AR1(_Correlated):
    """glmmTMB's ``ar1``: one standard deviation s (relative to sigma) and correlation rho^|i - j|.

    Examples
    --------
    >>> import numpy as np
    >>> s = AR1(3)
    >>> L = np.zeros((3, 3)); L[s.rows, s.cols] = s.theta(np.array([2.0, 0.5]))
    >>> np.round(L @ L.T, 6).tolist()
    [[4.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 4.0]]
    """

    kind = "ar1"

    @property
    def _rho_bounds(self) -> tuple[float, float]:
        return -1.0 + _RHO_MARGIN, 1.0 - _RHO_MARGIN

    def _chol_r(self, rho: float) -> tuple[np.ndarray, np.ndarray]:
        # chol(R)[i, 0] = rho^i; chol(R)[i, j] = sqrt(1 - rho^2) rho^(i - j) for 1 <= j <= i
        p = self.p
        i, j = np.tril_indices(p)
        k = (i - j).astype(float)
        powr = rho ** k
        dpow = np.where(k > 0, k * rho ** np.maximum(k - 1, 0), 0.0)
        w = np.sqrt(max(1.0 - rho * rho, 0.0))
        dw = -rho / w if w > 0 else 0.0
        L, dL = np.zeros((p, p)), np.zeros((p, p))
        first = j == 0
        L[i, j] = np.where(first, powr, w * powr)
        dL[i, j] = np.where(first, dpow, dw * powr + w * dpow)
        return L, dL

    def names(self, group: str, cnames: Sequence[str]) -> list[str]:
        return [f"{group}.sd", f"{group}.rho"]


def structure_of(kind: str | None, p: int, mask: np.ndarray | None = None) -> Structure:
    """The :class:`Structure` for a term of ``p`` effects written ``kind(... | g)`` (None: lme4's bar).

    Examples
    --------
    >>> structure_of("ar1", 4)
    AR1(p=4)
    """
    if kind in (None, "us"):
        return Unstructured(p, mask, kind="us")
    if kind == "diag":
        return Unstructured(p, np.eye(p, dtype=bool), kind="diag")
    if kind in ("cs", "homcs"):
        return CompoundSymmetry(p, homogeneous=kind == "homcs")
    if kind == "ar1":
        return AR1(p)
    raise ValueError(f"unknown covariance structure {kind!r}: use us, diag, cs, homcs or ar1")


class ParameterMap:
    """The model's covariance parameters -> each term's Lambda_k, bounds, start values and names.

    Parameters
    ----------
    structures : list of Structure
        One per random-effects term, in engine order.

    Attributes
    ----------
    slices : list of slice
        Each term's part of lme4's theta.
    positions : list of (rows, cols)
        For each term, the Lambda entries its theta elements fill (column by column).
    param_slices : list of slice
        Each term's part of the parameter vector.

    Examples
    --------
    >>> import numpy as np
    >>> pm = ParameterMap([Unstructured(2), AR1(3)])
    >>> pm.n_params, pm.n_theta, pm.identity
    (5, 9, False)
    >>> lams = pm.lambdas(np.array([1.0, 0.2, 0.5, 2.0, 0.0]))
    >>> lams[1].round(6).tolist()
    [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]]
    """

    def __init__(self, structures: Sequence[Structure]):
        self.structures = list(structures)
        self.identity = all(s.identity for s in self.structures)
        self.slices, self.positions, self.param_slices = [], [], []
        t = q = 0
        for s in self.structures:
            self.slices.append(slice(t, t + s.n_theta))
            self.positions.append((s.rows, s.cols))
            self.param_slices.append(slice(q, q + s.n_params))
            t += s.n_theta
            q += s.n_params
        self.n_theta, self.n_params = t, q
        self.lower = np.concatenate([s.lower for s in self.structures]) if self.structures else np.zeros(0)
        self.upper = np.concatenate([s.upper for s in self.structures]) if self.structures else np.zeros(0)
        self.start = np.concatenate([s.start for s in self.structures]) if self.structures else np.zeros(0)

    @classmethod
    def of_blocks(cls, blocks: Sequence[object]) -> ParameterMap:
        """The map of engine blocks (:class:`~lmmflow.core.crossprod.ReBlock`): their ``structure``, else
        lme4's unstructured parametrization of their mask."""
        out = []
        for b in blocks:
            s = getattr(b, "structure", None)
            out.append(s if s is not None else Unstructured(b.mask.shape[0], b.mask))  # type: ignore[attr-defined]
        return cls(out)

    @property
    def kinds(self) -> list[str]:
        """Each term's structure name (``us``, ``diag``, ``cs``, ``homcs``, ``ar1``)."""
        return [s.kind for s in self.structures]

    def theta(self, params: np.ndarray) -> np.ndarray:
        """lme4's theta (the free entries of every Lambda_k, column by column) at ``params``."""
        if self.identity:
            return np.asarray(params, dtype=float)
        params = np.asarray(params, dtype=float)
        return np.concatenate([s.theta(params[sl]) for s, sl in zip(self.structures, self.param_slices)])

    def jacobian(self, params: np.ndarray) -> np.ndarray:
        """d theta / d params (n_theta x n_params), block diagonal over the terms."""
        params = np.asarray(params, dtype=float)
        J = np.zeros((self.n_theta, self.n_params))
        for s, ts, ps in zip(self.structures, self.slices, self.param_slices):
            J[ts, ps] = s.jacobian(params[ps])
        return J

    def chain(self, params: np.ndarray, grad_theta: np.ndarray) -> np.ndarray:
        """The gradient in the parameters from the gradient in theta: J' grad_theta."""
        if self.identity:
            return np.asarray(grad_theta, dtype=float)
        return self.jacobian(params).T @ np.asarray(grad_theta, dtype=float)

    def lambdas_of_theta(self, theta: np.ndarray) -> list[np.ndarray]:
        """Each term's Lambda_k (p x p lower triangular) from lme4's theta."""
        out = []
        for s, sl, (r, c) in zip(self.structures, self.slices, self.positions):
            lam = np.zeros((s.p, s.p))
            lam[r, c] = theta[sl]
            out.append(lam)
        return out

    def lambdas(self, params: np.ndarray) -> list[np.ndarray]:
        """Each term's Lambda_k (p x p lower triangular) at ``params``."""
        return self.lambdas_of_theta(self.theta(params))

    def covariance(self, params: np.ndarray, sigma: float = 1.0) -> list[np.ndarray]:
        """Each term's covariance matrix of the random effects, sigma^2 Lambda_k Lambda_k'."""
        return [sigma * sigma * (lam @ lam.T) for lam in self.lambdas(params)]

    def names(self, groups: Sequence[str], cnames: Sequence[Sequence[str]]) -> list[str]:
        """Names of the parameters (lme4's theta names for unstructured terms)."""
        return [nm for s, g, cn in zip(self.structures, groups, cnames) for nm in s.names(g, cn)]

    def __repr__(self) -> str:
        return f"ParameterMap({self.structures})"
