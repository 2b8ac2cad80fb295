"""GLMM profile intervals against lme4's confint(profile(m)) (tests/reference/glmm_profile.json, made by
make_glmm_profile.R): bounds within 1e-3 relative (lme4's own profile optimizer and spline set the precision)."""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pytest

import lmmflow as lf
from lmmflow.inference.glmm_profile import glmm_profile
from tests.glmm_fits import fit, reference_json

PROF = reference_json("glmm_profile.json")["cases"]


@cache
def _profile(name: str) -> lf.inference.profile.Profile:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return glmm_profile(fit(name), progress=False)


@pytest.mark.parametrize("name", ["cbpp_logit", "grouseticks_poisson"])
@pytest.mark.parametrize(("level", "key"), [(0.95, "level_95"), (0.80, "level_80")])
def test_profile_intervals_match_lme4(name: str, level: float, key: str) -> None:
    want = PROF[name][key]
    ci = _profile(name).confint(level)
    assert len(ci) == len(want["parameter"])  # lme4's order: SDs, then fixed effects (R names them differently)
    assert [n.split("|")[0] for n in ci.index[:len(fit(name).theta)]] == \
        [n.split("|")[0] for n in want["parameter"][:len(fit(name).theta)]]
    lo, hi = np.asarray(want["lower"]), np.asarray(want["upper"])
    at_zero = lo == 0  # an SD whose profile reaches 0 inside the interval: the bound is reported
    np.testing.assert_array_equal(ci["lower"].to_numpy()[at_zero], 0.0)
    np.testing.assert_allclose(ci["lower"].to_numpy()[~at_zero], lo[~at_zero], rtol=1e-3)
    np.testing.assert_allclose(ci["upper"].to_numpy(), hi, rtol=1e-3)


def test_zeta_is_zero_at_the_estimates_and_monotone() -> None:
    pr = _profile("cbpp_logit")
    for nm in pr.parameters:
        z = pr.frame[pr.frame["parameter"] == nm].sort_values("value")
        assert np.all(np.diff(z["zeta"].to_numpy()) > 0)
        at = z[np.isclose(z["value"], pr.estimates[nm], rtol=0, atol=1e-12)]
        assert len(at) == 1 and at["zeta"].iloc[0] == 0.0


def test_confint_method_profile_hook() -> None:
    g = fit("cbpp_logit")
    ci = g.confint(method="profile", parm="beta_")
    full = _profile("cbpp_logit").confint()
    assert list(ci.index) == list(g.fixef.index)
    np.testing.assert_allclose(ci.to_numpy(), full.loc[list(g.fixef.index)].to_numpy(), rtol=1e-6)
    theta = lf.profile(g, which="theta_", progress=False).confint(0.95)
    np.testing.assert_allclose(theta.to_numpy(), full.iloc[:1].to_numpy(), rtol=1e-6)


def test_refusals() -> None:
    g = fit("verbagg_nagq0")
    with pytest.raises(ValueError, match="nagq=0"):
        glmm_profile(g, progress=False)
    with pytest.raises(ValueError, match="not supported"):
        lf.profile(fit("cbpp_logit"), n_jobs=2)
