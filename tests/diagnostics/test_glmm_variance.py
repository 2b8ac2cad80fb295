"""Nakagawa's R² and the ICC of GLMMs against performance::r2_nakagawa / icc (tests/reference/glmm_performance.json,
made by make_glmm_performance.R).

R's fits stop within 1e-7 (relative) of the reference optimum our fits reach, which moves the variance components
by up to ~4e-6 relative; the comparisons use rtol 2e-5.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import special

import lmmflow as lf
from lmmflow.diagnostics.glmm_variance import (
    distribution_variance,
    glmm_variance_decomposition,
    null_model_intercept,
)
from tests.glmm_fits import fit, reference_json

PERF = reference_json("glmm_performance.json")["cases"]
CASES = ["cbpp_logit", "cbpp_probit", "contraception_logit", "contraception_cloglog", "grouseticks_poisson",
         "binary_growth_rs", "owls_offset", "arabidopsis_poisson"]
RTOL = 2e-5


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


@pytest.mark.parametrize("name", CASES)
def test_r2_icc_match_performance(name: str) -> None:
    g, want = fit(name), PERF[name]
    r, i = _quiet(lf.r2, g), _quiet(lf.icc, g)
    np.testing.assert_allclose([r["marginal"], r["conditional"], i["adjusted"], i["unadjusted"]],
                               [want["r2_marginal"], want["r2_conditional"], want["icc_adjusted"],
                                want["icc_unadjusted"]], rtol=RTOL)


@pytest.mark.parametrize("name", CASES)
def test_variance_components_match_insight(name: str) -> None:
    g, want = fit(name), PERF[name]
    v = _quiet(glmm_variance_decomposition, g)
    np.testing.assert_allclose([v["fixed"], v["random"], v["distribution"], v["residual"]],
                               [want["var_fixed"], want["var_random"], want["var_distribution"],
                                want["var_residual"]], rtol=RTOL)
    assert v["random"] == pytest.approx(sum(v["by_term"].values()))


@pytest.mark.parametrize(("name", "value"), [("cbpp_logit", math.pi ** 2 / 3), ("cbpp_probit", 1.0),
                                             ("contraception_cloglog", math.pi ** 2 / 6)])
def test_binomial_distribution_variance(name: str, value: float) -> None:
    assert distribution_variance(fit(name)) == value


@pytest.mark.parametrize("name", ["grouseticks_poisson", "owls_offset", "arabidopsis_poisson"])
def test_poisson_null_model_and_approximations(name: str) -> None:
    g, want = fit(name), PERF[name]
    b0 = null_model_intercept(g)
    assert b0 == pytest.approx(want["null_intercept"], rel=RTOL, abs=1e-6)
    lam = math.exp(b0)
    got = {a: _quiet(distribution_variance, g, a) for a in ("lognormal", "delta", "trigamma")}
    assert got["lognormal"] == pytest.approx(math.log1p(1 / lam), rel=1e-12)
    assert got["delta"] == pytest.approx(1 / lam, rel=1e-12)
    assert got["trigamma"] == pytest.approx(float(special.polygamma(1, lam)), rel=1e-12)
    assert got["delta"] == pytest.approx(want["var_distribution_delta"], rel=RTOL)
    assert got["trigamma"] == pytest.approx(want["var_distribution_trigamma"], rel=RTOL)
    r = _quiet(lf.r2, g, approximation="trigamma")
    v = _quiet(glmm_variance_decomposition, g, "trigamma")
    tot = v["fixed"] + v["random"] + v["distribution"]
    assert r["marginal"] == pytest.approx(v["fixed"] / tot, rel=1e-12)


def test_small_lambda_warns() -> None:
    g = fit("grouseticks_poisson")  # mean tick count ~ exp(0.6) < 6
    with pytest.warns(lf.LmmflowWarning, match="lambda"):
        distribution_variance(g)


def test_bad_arguments() -> None:
    g = fit("cbpp_logit")
    with pytest.raises(ValueError, match="approximation"):
        lf.r2(g, approximation="exact")
    m = lf.lmer("Reaction ~ Days + (1 | Subject)", lf.load_dataset("sleepstudy"))
    with pytest.raises(ValueError, match="Poisson GLMMs"):
        lf.icc(m, approximation="delta")
    assert lf.r2(m) == lf.r2(m, approximation="lognormal")  # LMM numbers unchanged


def test_singular_glmm_warns() -> None:
    import pandas as pd

    rng = np.random.default_rng(3)  # no group effect: the fit is on the boundary
    df = pd.DataFrame({"g": np.repeat(np.arange(10), 20).astype(str), "x": rng.normal(size=200)})
    df["y"] = rng.poisson(np.exp(1 + 0.3 * df["x"]))
    g = lf.glmer("y ~ x + (1 | g)", df, family="poisson", quiet=True)
    assert g.is_singular
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.LmmflowWarning)
        with pytest.warns(lf.SingularFitWarning):
            out = lf.icc(g)
    assert out["adjusted"] == pytest.approx(0.0, abs=1e-12)
