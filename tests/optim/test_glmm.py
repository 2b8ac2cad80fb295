"""fit_glmm on every case of glmm_reference.json: the optimum, theta, beta and the Hessian vcov."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from lmmflow.control import LmerControl
from lmmflow.core.crossprod import ReBlock
from lmmflow.core.family import binomial
from lmmflow.core.pirls import GlmmObjective
from lmmflow.exceptions import ConvergenceWarning
from lmmflow.optim.glmm import fit_glmm

from ..core.glmm_cases import arrays, reference

CASES = reference()["cases"]


def _fit(c: dict, **kw: object) -> object:
    a = arrays(c["name"])
    a.pop("xnames")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # no false alarms on these cases
        return fit_glmm(GlmmObjective(**a, nagq=c["nagq"]), **kw)


@pytest.mark.parametrize("c", CASES, ids=[c["name"] for c in CASES])
def test_reference_optimum_and_vcov(c: dict) -> None:
    fit = _fit(c)
    best = c["objective_best"]
    assert fit.objective <= best + 1e-6 * abs(best)
    assert fit.objective >= best - 1e-4 * abs(best)  # the same objective, not another one
    beta = np.array(list(c["fixef"].values()))
    se = np.array(list(c["fixef_se"].values()))
    np.testing.assert_allclose(fit.beta, beta, rtol=1e-4, atol=1e-4 * np.minimum(1, se).min())
    np.testing.assert_allclose(fit.theta, c["theta"], rtol=1e-4, atol=1e-4)
    V = np.array(json.loads(c["vcov"]) if isinstance(c["vcov"], str) else c["vcov"])
    d = np.sqrt(np.diag(V))
    assert np.max(np.abs(fit.vcov - V) / np.outer(d, d)) < 4e-4
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), se, rtol=1e-4)
    assert fit.singular == c["singular"]
    assert fit.converged
    assert len(fit.stages) == (1 if c["nagq"] == 0 else 2)
    assert fit.solution.objective == pytest.approx(fit.objective, rel=1e-14)


def test_start_with_beta_skips_stage_one_and_reaches_the_same_optimum() -> None:
    c = next(c for c in CASES if c["name"] == "cbpp_logit")
    fit = _fit(c, start={"theta": [0.5], "beta": [-1.0, -1.0, -1.0, -1.0]})
    assert fit.stages[0].returnvalue == "START"
    assert fit.objective == pytest.approx(c["objective_best"], rel=1e-9)


def test_evaluation_limit_warns() -> None:
    c = next(c for c in CASES if c["name"] == "cbpp_logit")
    a = arrays(c["name"])
    a.pop("xnames")
    with pytest.warns(ConvergenceWarning, match="evaluation limit"):
        fit_glmm(GlmmObjective(**a, nagq=1), control=LmerControl(maxeval=5))


def test_singular_fit_is_flagged() -> None:
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(30), 10)
    y = (rng.random(300) < 0.4).astype(float)  # no group effect at all
    blk = ReBlock(codes=g, Z=np.ones((300, 1)), nlevels=30, mask=np.ones((1, 1), bool))
    fit = fit_glmm(GlmmObjective([blk], np.ones((300, 1)), y, binomial()), warn=False)
    assert fit.singular and fit.theta[0] < 1e-4
    assert np.all(np.isfinite(fit.vcov)) and fit.vcov[0, 0] > 0


@pytest.mark.parametrize(("kw", "match"), [({"nagq": 3}, "built for nagq=1"), ({"start": [1.0, 2.0]}, "theta has 2"),
                                           ({"control": 3}, "LmerControl")])
def test_errors(kw: dict, match: str) -> None:
    g = np.repeat(np.arange(5), 4)
    blk = ReBlock(codes=g, Z=np.ones((20, 1)), nlevels=5, mask=np.ones((1, 1), bool))
    obj = GlmmObjective([blk], np.ones((20, 1)), (np.arange(20) % 3 == 0).astype(float), binomial())
    with pytest.raises((ValueError, TypeError), match=match):
        fit_glmm(obj, **kw)
