"""GLM families against R's binomial() / poisson() (tests/reference/glmm_family.json, make_glmm_family.R)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from lmmflow.core.family import Family, binomial, poisson

from .glmm_cases import REF

R = json.loads((REF / "glmm_family.json").read_text())["families"]
IDS = [f"{f['family']}-{f['link']}" for f in R]


def _fam(r: dict) -> Family:
    return binomial(r["link"]) if r["family"] == "binomial" else poisson(r["link"])


@pytest.mark.parametrize("r", R, ids=IDS)
@pytest.mark.parametrize(("method", "arg", "key"), [
    ("linkinv", "eta", "linkinv"), ("mu_eta", "eta", "mu_eta"), ("linkfun", "mu", "linkfun"),
    ("variance", "mu", "variance")])
def test_link_and_variance_match_r(r: dict, method: str, arg: str, key: str) -> None:
    got = getattr(_fam(r), method)(np.asarray(r[arg], dtype=float))
    np.testing.assert_allclose(got, np.asarray(r[key], dtype=float), rtol=1e-13, atol=0)


@pytest.mark.parametrize("r", R, ids=IDS)
def test_deviance_aic_mustart_match_r(r: dict) -> None:
    f = _fam(r)
    y, wt, m = (np.asarray(r[k], dtype=float) for k in ("y", "wt", "m"))
    np.testing.assert_allclose(f.dev_resids(y, m, wt), r["dev_resids"], rtol=1e-12, atol=1e-300)
    assert f.aic(y, m, wt) == pytest.approx(r["aic"], rel=1e-12)
    np.testing.assert_allclose(f.initialize(y, wt), r["mustart"], rtol=1e-15)


@pytest.mark.parametrize(("fam", "dist"), [
    (binomial("logit"), lambda k, n, mu: stats.binom.logpmf(k, n, mu)),
    (poisson(), lambda k, n, mu: stats.poisson.logpmf(k, mu))])
def test_loglik_terms_against_scipy(fam: Family, dist: object) -> None:
    k = np.array([0.0, 1, 3, 5, 2])
    n = np.array([5.0, 5, 6, 5, 2])
    mu = np.array([0.1, 0.3, 0.5, 0.9, 0.6])
    if fam.name == "binomial":
        got = fam.loglik_terms(k / n, mu, n)
    else:
        got = fam.loglik_terms(k, mu * 3, 1.0)
        mu = mu * 3
    np.testing.assert_allclose(got, dist(k, n, mu), rtol=1e-12)


@pytest.mark.parametrize("fam", [binomial("logit"), binomial("probit"), binomial("cloglog"), poisson()],
                         ids=lambda f: f.link)
def test_saturated_is_aic_minus_deviance(fam: Family) -> None:
    y = np.array([0.0, 0.5, 1.0, 0.25]) if fam.name == "binomial" else np.array([0.0, 2, 5, 1])
    wt = np.array([1.0, 2, 3, 4]) if fam.name == "binomial" else np.ones(4)
    mu = np.array([0.2, 0.4, 0.7, 0.3]) if fam.name == "binomial" else np.array([0.5, 1.5, 4, 2])
    assert fam.aic(y, mu, wt) == pytest.approx(fam.saturated(y, wt) + fam.dev_resids(y, mu, wt).sum(), rel=1e-12)


@pytest.mark.parametrize("fam", [binomial("logit"), binomial("probit"), binomial("cloglog"), poisson()],
                         ids=lambda f: f.link)
def test_mu_eta_is_the_derivative(fam: Family) -> None:
    eta = np.linspace(-3, 3, 13)
    h = 1e-6
    np.testing.assert_allclose(fam.mu_eta(eta), (fam.linkinv(eta + h) - fam.linkinv(eta - h)) / (2 * h), rtol=1e-6,
                               atol=1e-10)
    np.testing.assert_allclose(fam.linkfun(fam.linkinv(eta)), eta, rtol=1e-9, atol=1e-12)


def test_valid_and_simulate() -> None:
    b = binomial()
    assert b.validmu([0.2, 0.8]) and not b.validmu([0.0, 0.5]) and not b.valideta([np.inf])
    assert poisson().validmu([3.0]) and not poisson().validmu([-1.0])
    rng = np.random.default_rng(0)
    y = b.simulate(np.full(20000, 0.3), np.full(20000, 4.0), rng)
    assert abs(y.mean() - 0.3) < 0.01 and set(np.unique(y * 4)) <= {0, 1, 2, 3, 4}
    c = poisson().simulate(np.full(20000, 2.5), 1.0, rng)
    assert abs(c.mean() - 2.5) < 0.05


@pytest.mark.parametrize(("name", "link", "match"), [
    ("binomial", "log", "not available for the binomial"), ("poisson", "logit", "'log'"),
    ("gamma", "log", "use 'binomial' or 'poisson'")])
def test_unknown_family_or_link_names_the_options(name: str, link: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Family(name, link)
