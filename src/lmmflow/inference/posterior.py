"""Approximate posterior simulation of a fit's parameters and random effects (Gelman and Hill's ``arm::sim``).

The algorithm (Gelman and Hill 2007, section 7.2, extended to mixed models as in ``arm::sim`` for
``merMod``), for each of ``n_sims`` draws:

1. the residual SD from its scaled inverse chi-square distribution with n - p degrees of freedom,
   ``sigma_s = sigma_hat * sqrt((n - p) / X2)``, ``X2 ~ chi2(n - p)``;
2. the fixed effects from ``N(beta_hat, V_beta * sigma_s^2 / sigma_hat^2)``, V_beta the estimated covariance
   matrix of the fixed effects (so their spread follows the drawn sigma, as in ``arm::sim`` for ``lm``);
3. each level's random effects from their conditional distribution given the data,
   ``N(b_hat_i, C_i)`` with ``C_i`` the conditional covariance of the level's effects (lme4's
   ``condVar``, :attr:`LmerResult.cond_cov_blocks`), independently across levels (as ``arm::sim``).

The covariance parameters of the random effects are held at their estimates, and the draws of the
fixed and random effects are independent: this is the quick approximation ``arm::sim`` makes, not a
full Bayesian posterior (for that, fit the model with a sampler).
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
    See the module documentation for the algorithm.  Uncertainty in the covariance parameters of the
    random effects is not propagated (as in ``arm::sim``).

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
    sigma_hat = m.sigma
    sigma = sigma_hat * np.sqrt(df / rng.chisquare(df, size=n_sims))
    V = m.vcov.to_numpy()
    if p:
        C = np.linalg.cholesky(V)
        z = rng.standard_normal((n_sims, p)) @ C.T
        beta = m.solution.beta[None, :] + z * (sigma / sigma_hat)[:, None]
    else:
        beta = np.zeros((n_sims, 0))
    fixef = pd.DataFrame(beta, columns=m.fixef_names)
    fixef.index.name = "draw"
    ranef, levels, terms = {}, {}, {}
    for key, term, b_hat, cov in zip(_group_keys(m), m.design.terms, m.solution.b, m.cond_cov_blocks):
        nl, pk = b_hat.shape
        # factor each level's conditional covariance (semi-definite at a singular fit: clip eigenvalues)
        w, U = np.linalg.eigh(cov)
        root = U * np.sqrt(np.maximum(w, 0.0))[:, None, :]
        eps = rng.standard_normal((n_sims, nl, pk))
        ranef[key] = b_hat[None] + np.einsum("iab,sib->sia", root, eps)
        levels[key] = pd.Index(term.levels, name=term.group)
        terms[key] = list(term.cnames)
    return PosteriorSims(fixef=fixef, ranef=ranef, sigma=sigma, levels=levels, terms=terms)
