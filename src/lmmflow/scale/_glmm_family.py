"""The binomial and Poisson families as the Dask GLMM fit (:mod:`lmmflow.scale.dask_glmm`) needs them.

Each function follows R's ``binomial()`` / ``poisson()`` and their link objects (``make.link``): the same
thresholds (logit: ``eta`` clamped to +-30 in ``linkinv``, ``mu.eta`` at least machine epsilon; log: ``mu`` at
least machine epsilon), the same ``aic`` (-2 log-likelihood including the binomial coefficient / ``lgamma``
terms) and the same variance functions.  Working (Fisher) weights are ``w (dmu/deta)^2 / V(mu)``, as lme4's
``glmResp::sqrtWrkWt``.

Examples
--------
>>> import numpy as np
>>> fam = GlmFamily("binomial", "logit")
>>> fam.linkinv(np.array([0.0])).tolist()
[0.5]
>>> round(float(fam.aic(np.array([1.0]), np.array([0.5]), np.array([1.0]))), 6)
1.386294
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, ndtr

__all__ = ["GlmFamily"]

_EPS = np.finfo(float).eps
_THRESH = 30.0
_MTHRESH = -30.0
_PROBIT = 8.125890664701906  # -qnorm(.Machine$double.eps)
_LINKS = {"binomial": ("logit", "probit", "cloglog"), "poisson": ("log",)}


@dataclass(frozen=True)
class GlmFamily:
    """A family and link: ``linkinv``, ``mu_eta``, ``variance``, ``aic`` and ``mustart``.

    Parameters
    ----------
    name : str
        ``"binomial"`` or ``"poisson"``.
    link : str, optional
        ``"logit"`` (default), ``"probit"``, ``"cloglog"`` for binomial; ``"log"`` for Poisson.

    Examples
    --------
    >>> GlmFamily("poisson").link
    'log'
    """

    name: str
    link: str | None = None

    def __post_init__(self) -> None:
        if self.name not in _LINKS:
            raise ValueError(f"family={self.name!r}: use 'binomial' or 'poisson'")
        link = self.link or _LINKS[self.name][0]
        if link not in _LINKS[self.name]:
            raise ValueError(f"link={link!r} is not available for family {self.name!r}; use one of "
                             f"{', '.join(_LINKS[self.name])}")
        object.__setattr__(self, "link", link)

    def linkfun(self, mu: np.ndarray) -> np.ndarray:
        """eta from mu."""
        if self.link == "logit":
            return np.log(mu / (1 - mu))
        if self.link == "probit":
            from scipy.special import ndtri

            return ndtri(mu)
        if self.link == "cloglog":
            return np.log(-np.log1p(-mu))
        return np.log(mu)

    def linkinv(self, eta: np.ndarray) -> np.ndarray:
        """mu from eta (R's thresholds)."""
        if self.link == "logit":
            e = np.exp(-np.clip(eta, _MTHRESH, _THRESH))
            return 1 / (1 + e)
        if self.link == "probit":
            return ndtr(np.clip(eta, -_PROBIT, _PROBIT))
        if self.link == "cloglog":
            return np.clip(-np.expm1(-np.exp(eta)), _EPS, 1 - _EPS)
        return np.maximum(np.exp(eta), _EPS)

    def mu_eta(self, eta: np.ndarray) -> np.ndarray:
        """dmu/deta (R's floors)."""
        if self.link == "logit":
            a = np.exp(-np.abs(eta))
            return np.maximum(a / (1 + a) ** 2, _EPS)
        if self.link == "probit":
            return np.maximum(np.exp(-0.5 * eta * eta) / np.sqrt(2 * np.pi), _EPS)
        if self.link == "cloglog":
            e = np.minimum(eta, 700.0)
            return np.maximum(np.exp(e) * np.exp(-np.exp(e)), _EPS)
        return np.maximum(np.exp(eta), _EPS)

    def variance(self, mu: np.ndarray) -> np.ndarray:
        """V(mu)."""
        return mu * (1 - mu) if self.name == "binomial" else mu

    def aic_constant(self, y: np.ndarray, w: np.ndarray) -> float:
        """The part of :meth:`aic` that does not depend on mu: ``-2 sum log choose(m, k)`` (binomial) or
        ``2 sum w lgamma(y + 1)`` (Poisson)."""
        if self.name == "binomial":
            m = np.round(w)
            k = np.round(w * y)
            ok = m > 0
            m, k = m[ok], k[ok]
            if np.all(m == 1):
                return 0.0
            return float(-2 * (gammaln(m + 1) - gammaln(k + 1) - gammaln(m - k + 1)).sum())
        return float(2 * (w * gammaln(y + 1)).sum())

    def aic(self, y: np.ndarray, mu: np.ndarray, w: np.ndarray, constant: float | None = None) -> float:
        """-2 sum log f(y_i | mu_i) with prior weights ``w`` (R's ``family$aic`` without the ``2 rank`` part).

        Binomial: ``y`` the proportion, ``w`` the trials (R: ``m = weights``, ``dbinom(round(m y), round(m), mu)``
        for rows with ``m > 0``); Poisson: ``w dpois(y, mu, log = TRUE)``.  ``constant``: :meth:`aic_constant`
        of the same ``y`` and ``w``, when already known.
        """
        const = self.aic_constant(y, w) if constant is None else constant
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.name == "binomial":
                m = np.round(w)
                k = np.round(w * y)
                ll = np.where(k > 0, k * np.log(mu), 0.0) + np.where(m - k > 0, (m - k) * np.log1p(-mu), 0.0)
                return float(-2 * ll[m > 0].sum()) + const
            ll = np.where(y > 0, y * np.log(mu), 0.0) - mu
        return float(-2 * (w * ll).sum()) + const

    def counts(self, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-row multipliers ``(a, b)`` with ``-2 log f(y | mu) = -2 (a log mu + b log(1 - mu))`` (binomial:
        successes and failures, zero for rows without trials) or ``-2 (a log mu - b mu)`` (Poisson: ``w y``,
        ``w``), up to :meth:`aic_constant`."""
        if self.name == "binomial":
            m = np.round(w)
            k = np.where(m > 0, np.round(w * y), 0.0)
            return k, np.where(m > 0, m - k, 0.0)
        return w * y, np.asarray(w, dtype=float)

    def aic_fast(self, mu: np.ndarray, a: np.ndarray, b: np.ndarray, constant: float) -> float:
        """:meth:`aic` from :meth:`counts` and :meth:`aic_constant` (mu is kept inside (0, 1) / above 0 by
        :meth:`linkinv`, so no logarithm of zero arises)."""
        if self.name == "binomial":
            return -2 * float(a @ np.log(mu) + b @ np.log1p(-mu)) + constant
        return -2 * float(a @ np.log(mu) - b @ mu) + constant

    def mustart(self, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        """R's ``initialize`` start for mu."""
        if self.name == "binomial":
            return (w * y + 0.5) / (w + 1)
        return y + 0.1
