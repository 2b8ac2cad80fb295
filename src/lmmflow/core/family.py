"""GLM families and links for generalized linear mixed models, with R's numbers (``binomial()``, ``poisson()``).

A :class:`Family` holds the link (``linkfun``, ``linkinv``, ``mu_eta``), the variance function, the deviance
residuals and R's ``aic`` term (-2 sum of the log-likelihood of each observation).  The inverse links clamp as
R's do (the logit's C code thresholds at |eta| = 30, probit at ``-qnorm(.Machine$double.eps)``, cloglog and log
keep mu at least machine epsilon away from the boundaries) so fitted values and weights match R's exactly.

Binomial responses are proportions ``y`` in [0, 1] with prior weights ``wt`` (the number of trials for
``cbind()`` or proportion responses, 1 for 0/1 responses); ``n`` (R's ``n`` from the family's ``initialize``)
is the number of trials when it differs from the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = ["Family", "binomial", "poisson"]

_EPS = float(np.finfo(float).eps)
_THRESH = 30.0
_INVEPS = 1.0 / _EPS
_PROBIT_THRESH = -float(special.ndtri(_EPS))  # -qnorm(.Machine$double.eps)

_LINKS = {"binomial": ("logit", "probit", "cloglog"), "poisson": ("log",)}


def _arr(x: object) -> np.ndarray:
    return np.asarray(x, dtype=float)


# ---- links ---------------------------------------------------------------------------------------------------
def _logit_linkinv(eta: np.ndarray) -> np.ndarray:
    e = np.exp(np.clip(eta, -_THRESH, _THRESH))
    e = np.where(eta < -_THRESH, _EPS, np.where(eta > _THRESH, _INVEPS, e))
    return e / (1.0 + e)


def _logit_mu_eta(eta: np.ndarray) -> np.ndarray:
    e = np.exp(np.clip(eta, -_THRESH, _THRESH))
    return np.where((eta > _THRESH) | (eta < -_THRESH), _EPS, e / ((1.0 + e) * (1.0 + e)))


def _probit_linkinv(eta: np.ndarray) -> np.ndarray:
    return special.ndtr(np.clip(eta, -_PROBIT_THRESH, _PROBIT_THRESH))


def _probit_mu_eta(eta: np.ndarray) -> np.ndarray:
    return np.maximum(np.exp(-0.5 * eta * eta) / np.sqrt(2.0 * np.pi), _EPS)


def _cloglog_linkinv(eta: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.maximum(np.minimum(-np.expm1(-np.exp(eta)), 1.0 - _EPS), _EPS)


def _cloglog_mu_eta(eta: np.ndarray) -> np.ndarray:
    eta = np.minimum(eta, 700.0)
    return np.maximum(np.exp(eta) * np.exp(-np.exp(eta)), _EPS)


def _log_linkinv(eta: np.ndarray) -> np.ndarray:
    return np.maximum(np.exp(eta), _EPS)


_LINK_FUNS = {
    "logit": (lambda mu: np.log(mu / (1.0 - mu)), _logit_linkinv, _logit_mu_eta),
    "probit": (lambda mu: special.ndtri(mu), _probit_linkinv, _probit_mu_eta),
    "cloglog": (lambda mu: np.log(-np.log(1.0 - mu)), _cloglog_linkinv, _cloglog_mu_eta),  # R's formula
    "log": (np.log, _log_linkinv, _log_linkinv),
}


@dataclass(frozen=True)
class Family:
    """An exponential family with a link, as R's ``family`` objects (binomial and Poisson).

    Build it with :func:`binomial` or :func:`poisson`.

    Attributes
    ----------
    name : str
        ``"binomial"`` or ``"poisson"``.
    link : str
        ``"logit"``, ``"probit"``, ``"cloglog"`` (binomial) or ``"log"`` (Poisson).

    Examples
    --------
    >>> f = binomial("logit")
    >>> float(f.linkinv(0.0)), float(f.mu_eta(0.0)), float(f.variance(0.5))
    (0.5, 0.25, 0.25)
    >>> float(poisson().dev_resids(2.0, 2.0, 1.0))
    0.0
    """

    name: str
    link: str

    def __post_init__(self) -> None:
        if self.name not in _LINKS:
            raise ValueError(f"family {self.name!r} is not supported: use 'binomial' or 'poisson'")
        if self.link not in _LINKS[self.name]:
            raise ValueError(f"link {self.link!r} is not available for the {self.name} family: use one of "
                             f"{list(_LINKS[self.name])}")

    # ---- link -------------------------------------------------------------------------------------------------
    def linkfun(self, mu: object) -> np.ndarray:
        """eta = g(mu)."""
        return _LINK_FUNS[self.link][0](_arr(mu))

    def linkinv(self, eta: object) -> np.ndarray:
        """mu = g^-1(eta), clamped as R's family does."""
        return _LINK_FUNS[self.link][1](_arr(eta))

    def mu_eta(self, eta: object) -> np.ndarray:
        """d mu / d eta at eta (at least machine epsilon, as R's)."""
        return _LINK_FUNS[self.link][2](_arr(eta))

    # ---- variance and deviance -----------------------------------------------------------------------------------
    def variance(self, mu: object) -> np.ndarray:
        """V(mu): mu (1 - mu) for the binomial, mu for the Poisson."""
        mu = _arr(mu)
        return mu * (1.0 - mu) if self.name == "binomial" else mu

    def dev_resids(self, y: object, mu: object, wt: object) -> np.ndarray:
        """Squared deviance residuals, as R's ``family$dev.resids(y, mu, wt)``."""
        y, mu, wt = _arr(y), _arr(mu), _arr(wt)
        if self.name == "binomial":
            return 2.0 * wt * (special.xlogy(y, y) - special.xlogy(y, mu)
                               + special.xlogy(1.0 - y, 1.0 - y) - special.xlogy(1.0 - y, 1.0 - mu))
        return 2.0 * wt * (special.xlogy(y, y) - special.xlogy(y, mu) - (y - mu))

    def loglik_terms(self, y: object, mu: object, wt: object, n: object = None) -> np.ndarray:
        """The log-likelihood of each observation, so that ``-2 * sum`` is R's ``family$aic(...)``.

        Parameters
        ----------
        y, mu, wt : array-like
            Response (proportions for the binomial), means, prior weights.
        n : array-like, optional
            Binomial trials as R's ``initialize`` sets them (default: ``wt``); R takes the trials from ``n``
            when any exceeds 1, otherwise from ``wt``.

        Examples
        --------
        >>> round(float(binomial().loglik_terms(0.5, 0.5, 2.0)[()]), 6)   # log dbinom(1, 2, 0.5)
        -0.693147
        """
        y, mu, wt = np.broadcast_arrays(_arr(y), _arr(mu), _arr(wt))
        if self.name == "poisson":
            return wt * (special.xlogy(y, mu) - mu - special.gammaln(y + 1.0))
        n = wt if n is None else np.broadcast_to(_arr(n), y.shape)
        m = n if np.any(n > 1) else wt
        k, size = np.round(m * y), np.round(m)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(m > 0, wt / m, 0.0)
            ll = (special.gammaln(size + 1.0) - special.gammaln(k + 1.0) - special.gammaln(size - k + 1.0)
                  + special.xlogy(k, mu) + special.xlog1py(size - k, -mu))
        return np.where(m > 0, f * ll, 0.0)

    def aic(self, y: object, mu: object, wt: object, n: object = None) -> float:
        """R's ``family$aic``: -2 times the log-likelihood (without the 2 * parameters)."""
        return float(-2.0 * np.sum(self.loglik_terms(y, mu, wt, n)))

    def saturated(self, y: object, wt: object, n: object = None) -> float:
        """-2 log-likelihood of the saturated model (mu = y): the constant between ``aic`` and the deviance."""
        y = _arr(y)
        return self.aic(y, y, wt, n)

    # ---- start, checks, simulation ---------------------------------------------------------------------------
    def initialize(self, y: object, wt: object) -> np.ndarray:
        """R's ``mustart``: (wt y + 0.5) / (wt + 1) for the binomial, y + 0.1 for the Poisson."""
        y, wt = _arr(y), _arr(wt)
        return (wt * y + 0.5) / (wt + 1.0) if self.name == "binomial" else y + 0.1

    def valideta(self, eta: object) -> bool:
        """True when every eta is finite."""
        return bool(np.all(np.isfinite(_arr(eta))))

    def validmu(self, mu: object) -> bool:
        """True when every mu is inside the family's range (0 < mu < 1, mu > 0)."""
        mu = _arr(mu)
        ok = np.isfinite(mu) & (mu > 0)
        if self.name == "binomial":
            ok &= mu < 1
        return bool(np.all(ok))

    def simulate(self, mu: object, wt: object, rng: np.random.Generator | None = None) -> np.ndarray:
        """Draw responses with means ``mu``: binomial proportions out of ``wt`` trials, Poisson counts.

        Examples
        --------
        >>> y = binomial().simulate([0.2, 0.9], [10, 10], np.random.default_rng(1))
        >>> bool(np.all((y >= 0) & (y <= 1)))
        True
        """
        rng = np.random.default_rng() if rng is None else rng
        mu, wt = np.broadcast_arrays(_arr(mu), _arr(wt))
        if self.name == "binomial":
            size = np.round(wt).astype(np.int64)
            k = rng.binomial(size, mu)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(size > 0, k / np.maximum(size, 1), 0.0)
        return rng.poisson(mu).astype(float)


def binomial(link: str = "logit") -> Family:
    """The binomial family (R's ``binomial(link)``): ``"logit"``, ``"probit"`` or ``"cloglog"``.

    Examples
    --------
    >>> f = binomial("probit")
    >>> f.name, f.link, round(float(f.linkinv(1.0)), 6)
    ('binomial', 'probit', 0.841345)
    """
    return Family("binomial", link)


def poisson(link: str = "log") -> Family:
    """The Poisson family (R's ``poisson(link)``) with its log link.

    Examples
    --------
    >>> round(float(poisson().linkinv(1.0)), 6)
    2.718282
    """
    return Family("poisson", link)
