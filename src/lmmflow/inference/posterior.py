"""Approximate posterior simulation of a fit's parameters and random effects (Gelman and Hill's ``arm::sim``).

The method of ``arm::sim`` for ``merMod`` (arm 1.13), for each of ``n_sims`` draws:

1. the residual SD from a scaled inverse chi-square distribution with n - p degrees of freedom,
   ``sigma_s^2 = pwrss / X2``, ``X2 ~ chi2(n - p)``, pwrss the penalized weighted residual sum of squares
   (arm: ``sqrt(1 / rgamma(1, (n - p) / 2, pwrss / 2))``);
2. the fixed effects and the spherical random effects u *jointly* from their conditional distribution given
   the data, theta and ``sigma_s``: ``N((u_hat, beta_hat), sigma_s^2 A^-1)``, A the matrix of the penalized
   least-squares system, ``[[Lambda'Z'WZ Lambda + I, Lambda'Z'WX], [X'WZ Lambda, X'WX]]`` (arm applies the
   inverse of its Cholesky factor, from lme4's L, RZX and RX, to standard normals scaled by ``sigma_s``);
3. the random effects ``b = Lambda u``.

So the draws of the fixed and random effects are correlated as their estimates are (the intercept and each
level's random intercept, typically negatively), the spread of the fixed effects follows the drawn sigma,
and the random effects carry the uncertainty of the fixed effects as well as their own (their SD exceeds
lme4's ``condVar``, which holds beta fixed).  The covariance parameters theta are held at their estimates:
this is the quick approximation ``arm::sim`` makes, not a full Bayesian posterior (for that, fit the model
with a sampler).

One difference from arm's code: arm maps u to b with ``t(getME(m, "Lambda"))`` (Lambda'), which equals
Lambda for scalar and uncorrelated (``||``) terms; for a correlated vector term lmmflow uses Lambda, so that
b has the conditional covariance lme4 reports.  Draws are computed as ``A^-1 ([Z Lambda, X]' W^(1/2) e1 +
[e2; 0])`` with standard normal e1 (one per row) and e2 (one per random effect), which has covariance A^-1
and needs only a sparse solve with A.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ..results.model import LmerResult

__all__ = ["PosteriorSims", "sim"]


@dataclass(frozen=True)
class PosteriorSims:
    """Draws from the approximate posterior of a fit (see :func:`sim`).

    Attributes
    ----------
    fixef : pandas.DataFrame
        ``n_sims x p`` draws of the fixed effects.
    ranef : dict of numpy.ndarray
        For each grouping factor, ``n_sims x levels x terms`` draws of the random effects.
    sigma : numpy.ndarray
        ``n_sims`` draws of the residual SD.
    levels : dict of pandas.Index
        Level labels of each grouping factor (the second axis of ``ranef``).
    terms : dict of list of str
        Names of each grouping factor's random effects (the third axis of ``ranef``).
    """

    fixef: pd.DataFrame
    ranef: dict[str, np.ndarray]
    sigma: np.ndarray
    levels: dict[str, pd.Index]
    terms: dict[str, list[str]]

    @property
    def n_sims(self) -> int:
        """Number of draws."""
        return len(self.sigma)

    def coef(self) -> dict[str, np.ndarray]:
        """Draws of each level's coefficients (fixed + random effect, ``arm``'s ``coef(sim)``).

        Returns
        -------
        dict of numpy.ndarray
            For each grouping factor, ``n_sims x levels x terms``: the random effects plus the fixed
            effect of the same name where there is one.
        """
        out = {}
        for g, draws in self.ranef.items():
            total = draws.copy()
            for k, name in enumerate(self.terms[g]):
                if name in self.fixef.columns:
                    total[:, :, k] += self.fixef[name].to_numpy()[:, None]
            out[g] = total
        return out

    def ranef_frame(self, group: str) -> pd.DataFrame:
        """Draws of one grouping factor's random effects in long form: draw, level, term, value."""
        draws = self.ranef[group]
        s, nl, p = draws.shape
        return pd.DataFrame({
            "draw": np.repeat(np.arange(s), nl * p),
            "level": np.tile(np.repeat(np.asarray(self.levels[group], dtype=object), p), s),
            "term": np.tile(np.asarray(self.terms[group], dtype=object), s * nl),
            "value": draws.ravel(),
        })

    def __repr__(self) -> str:
        groups = ", ".join(f"{g} ({len(self.levels[g])} levels)" for g in self.ranef)
        return f"PosteriorSims: {self.n_sims} draws of {self.fixef.shape[1]} fixed effects, sigma, ranef of {groups}"


def _group_keys(m: LmerResult) -> list[str]:
    keys: list[str] = []
    for t in m.design.terms:
        key, i = t.group, 1
        while key in keys:
            key, i = f"{t.group}.{i}", i + 1
        keys.append(key)
    return keys


def sim(m: LmerResult, n_sims: int = 1000, seed: int | np.random.Generator | None = None) -> PosteriorSims:
    """Simulate from the approximate posterior of the fixed effects, sigma and the random effects (``arm::sim``).

    Parameters
    ----------
    m : LmerResult
    n_sims : int
        Number of draws.
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    PosteriorSims
        ``.fixef`` (DataFrame of draws), ``.ranef`` (dict: group -> draws x levels x terms), ``.sigma``.

    Notes
    -----
    See the module documentation for the algorithm (arm's: sigma from a scaled inverse chi-square, fixed
    and random effects jointly from their conditional distribution given the data).  Uncertainty in the
    covariance parameters of the random effects is not propagated (as in ``arm::sim``).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> s = lf.sim(m, n_sims=500, seed=1)
    >>> s.fixef.shape, s.ranef["Subject"].shape, s.sigma.shape
    ((500, 2), (500, 18, 2), (500,))
    """
    n_sims = int(n_sims)
    if n_sims < 1:
        raise ValueError("n_sims must be at least 1")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n, p = m.nobs, len(m.fixef_names)
    df = n - p
    if df < 1:
        raise ValueError(f"sim needs more observations ({n}) than fixed effects ({p})")
    pwrss = m.sigma ** 2 * (n - p if m.reml else n)  # lme4: sigma^2 = pwrss / (n - p) (REML) or / n (ML)
    sigma = np.sqrt(pwrss / rng.chisquare(df, size=n_sims))
    lams = m.devfun.factor.lambdas_of(m.solution.theta)
    dev_u, dev_beta = _joint_draws(m, lams, sigma, rng)
    beta = m.solution.beta[None, :] + dev_beta
    fixef = pd.DataFrame(beta, columns=m.fixef_names)
    fixef.index.name = "draw"
    ranef, levels, terms = {}, {}, {}
    start = 0
    for key, term, b_hat, lam in zip(_group_keys(m), m.design.terms, m.solution.b, lams):
        nl, pk = b_hat.shape
        u = dev_u[:, start:start + nl * pk].reshape(n_sims, nl, pk)
        start += nl * pk
        ranef[key] = b_hat[None] + np.einsum("ab,sib->sia", lam, u)
        levels[key] = pd.Index(term.levels, name=term.group)
        terms[key] = list(term.cnames)
    return PosteriorSims(fixef=fixef, ranef=ranef, sigma=sigma, levels=levels, terms=terms)


def _joint_draws(m: LmerResult, lams: list[np.ndarray], sigma: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Deviations of (u, beta) from their modes, ``N(0, sigma_s^2 A^-1)`` per draw (see the module notes)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    from ..design.lazy import whole

    d = m.design
    n = m.nobs
    if d.X.shape[0] != n:  # a fit on a Dask DataFrame: no rows on the driver, A from the cross-products
        return _joint_draws_from_cross(m, lams, sigma, rng)
    X = np.asarray(whole(d.fixed.matrix), dtype=float)
    rows, cols, vals, q = [], [], [], 0
    for term, lam in zip(d.terms, lams):
        v = np.asarray(whole(term.matrix), dtype=float) @ lam  # rows of Z Lambda for this term
        pk = lam.shape[0]
        rows.append(np.repeat(np.arange(n), pk))
        cols.append((q + term.codes[:, None] * pk + np.arange(pk)[None, :]).ravel())
        vals.append(v.ravel())
        q += term.nlevels * pk
    ZL = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, q))
    w = d.frame.weights
    sw = np.ones(n) if w is None else np.sqrt(w)
    M = sp.hstack([ZL, sp.csr_matrix(X)]).tocsr()
    Mw = sp.diags(sw) @ M
    A = (Mw.T @ Mw).tocsc() + sp.diags(np.r_[np.ones(q), np.zeros(X.shape[1])]).tocsc()
    solve = splu(A.tocsc()).solve
    n_sims = len(sigma)
    out = np.empty((n_sims, q + X.shape[1]))
    chunk = max(1, min(n_sims, 4_000_000 // max(n, 1)))  # bounded memory for the n x chunk normals
    MwT = Mw.T.tocsr()
    for a in range(0, n_sims, chunk):
        e = min(n_sims, a + chunk)
        rhs = MwT @ rng.standard_normal((n, e - a))
        rhs[:q] += rng.standard_normal((q, e - a))
        out[a:e] = solve(np.asarray(rhs)).T * sigma[a:e, None]
    return out[:, :q], out[:, q:]


_DENSE_MAX = 6000  # random effects + fixed effects for the dense factor of A (288 MB)


def _joint_draws_from_cross(m: LmerResult, lams: list[np.ndarray], sigma: np.ndarray,
                            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`_joint_draws`, with A formed from the fit's cross-products (weighted, as the fit's) and a
    dense Cholesky factor A = C C' (draws C'^-1 z): for fits whose rows are not on the driver."""
    from scipy.linalg import solve_triangular

    cp = m.devfun.cp
    p = cp.p
    sizes = [t.nlevels * lam.shape[0] for t, lam in zip(m.design.terms, lams)]
    q = int(sum(sizes))
    if q + p > _DENSE_MAX:
        raise NotImplementedError(f"sim of a fit without its rows on the driver needs a dense factor of order "
                                  f"{q + p} (> {_DENSE_MAX}); fit the data in memory for lf.sim")
    starts = np.r_[0, np.cumsum(sizes)].astype(int)
    big = [np.kron(np.eye(t.nlevels), lam) for t, lam in zip(m.design.terms, lams)]
    A = np.zeros((q + p, q + p))
    for k, (D, lam) in enumerate(zip(cp.diag, lams)):
        blk = np.einsum("ba,ibc,cd->iad", lam, D, lam)  # lam' D_i lam per level
        sl = slice(starts[k], starts[k + 1])
        A[sl, sl] = _block_diag(blk)
        A[sl, q:] = big[k].T @ np.asarray(cp.xz[k][:p], dtype=float).T
        A[q:, sl] = A[sl, q:].T
    for (k, j), off in cp.off.items():
        blk = big[k].T @ np.asarray(off.todense()) @ big[j]
        A[starts[k]:starts[k + 1], starts[j]:starts[j + 1]] = blk
        A[starts[j]:starts[j + 1], starts[k]:starts[k + 1]] = blk.T
    A[q:, q:] = np.asarray(cp.xx[:p, :p], dtype=float)
    A[np.arange(q), np.arange(q)] += 1.0
    C = np.linalg.cholesky(A)
    z = rng.standard_normal((q + p, len(sigma)))
    out = solve_triangular(C.T, z, lower=False).T * sigma[:, None]
    return out[:, :q], out[:, q:]


def _block_diag(blocks: np.ndarray) -> np.ndarray:
    nl, pk, _ = blocks.shape
    out = np.zeros((nl * pk, nl * pk))
    for i in range(nl):
        out[i * pk:(i + 1) * pk, i * pk:(i + 1) * pk] = blocks[i]
    return out
