"""PIRLS, the Laplace approximation, adaptive Gauss-Hermite quadrature and nagq = 0 against lme4's deviance
function at fixed parameter points (tests/reference/glmm_devfun.json, made by make_glmm_devfun.R)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lmmflow.core.crossprod import ReBlock
from lmmflow.core.family import binomial, poisson
from lmmflow.core.pirls import GlmmObjective, gauss_hermite

from .glmm_cases import REF, arrays

DEVFUN = json.loads((REF / "glmm_devfun.json").read_text())
POINTS = [(c["case"], c["nagq"], i, p) for c in DEVFUN["cases"] for i, p in enumerate(c["points"])]


def _objective(name: str, nagq: int) -> GlmmObjective:
    a = arrays(name)
    a.pop("xnames")
    return GlmmObjective(**a, nagq=nagq)


@pytest.mark.parametrize(("name", "nagq", "i", "point"), POINTS,
                         ids=[f"{n}-nagq{k}-p{i}" for n, k, i, _ in POINTS])
def test_objective_matches_lme4_devfun(name: str, nagq: int, i: int, point: dict) -> None:
    obj = _objective(name, nagq)
    theta = np.atleast_1d(np.asarray(point["theta"], dtype=float))
    beta = np.atleast_1d(np.asarray(point["beta"], dtype=float))
    f = obj.nagq0(theta) if nagq == 0 else obj(theta, beta)
    # lme4 at tolPwrss = 1e-14 agrees with the modes solved to rounding within ~1e-9 relative
    assert f == pytest.approx(point["objective"], rel=1e-8, abs=1e-8)
    if nagq == 0:
        np.testing.assert_allclose(obj.beta_hat, beta, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["cbpp_probit", "contraception_cloglog", "verbagg_crossed", "binary_growth_rs"])
def test_modes_satisfy_the_gradient_condition(name: str) -> None:
    obj = _objective(name, 1)
    c = next(c for c in DEVFUN["cases"] if c["case"] == name and c["nagq"] == 1)
    p = c["points"][1]
    g = obj.mode_gradient(np.atleast_1d(p["theta"]), np.atleast_1d(p["beta"]))
    assert np.max(np.abs(g)) < 1e-8


def test_warm_start_does_not_change_the_objective() -> None:
    obj = _objective("verbagg_crossed", 1)
    c = next(c for c in DEVFUN["cases"] if c["case"] == "verbagg_crossed" and c["nagq"] == 1)
    pts = [(np.atleast_1d(p["theta"]), np.atleast_1d(p["beta"])) for p in c["points"]]
    first = [obj(*pt) for pt in pts]
    again = [obj(*pt) for pt in reversed(pts)][::-1]
    cold = [_objective("verbagg_crossed", 1)(*pt) for pt in pts]
    np.testing.assert_allclose(again, first, rtol=1e-13)
    np.testing.assert_allclose(cold, first, rtol=1e-13)


def test_step_halving_on_a_hard_case() -> None:
    # complete separation in most groups and a huge theta: the full Fisher step from zero overshoots
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(40), 10)
    x = rng.standard_normal(400)
    y = (x + 3.0 * (g % 2) - 1.5 > 0).astype(float)
    blk = ReBlock(codes=g, Z=np.ones((400, 1)), nlevels=40, mask=np.ones((1, 1), bool))
    X = np.column_stack([np.ones(400), x])
    obj = GlmmObjective([blk], X, y, binomial(), tol=1e-12)
    f = obj.laplace(np.array([25.0]), np.array([0.0, 8.0]))
    assert np.isfinite(f)
    assert np.max(np.abs(obj.mode_gradient(np.array([25.0]), np.array([0.0, 8.0])))) < 1e-6
    cold = GlmmObjective([blk], X, y, binomial()).laplace(np.array([25.0]), np.array([0.0, 8.0]))
    assert f == pytest.approx(cold, rel=1e-12)


def test_agq_with_one_node_is_laplace_and_converges_in_nodes() -> None:
    obj = _objective("cbpp_logit", 25)
    th, be = np.array([0.64]), np.array([-1.4, -1.0, -1.1, -1.6])
    lap = obj.laplace(th, be)
    assert obj.agq(th, be, nagq=1) == pytest.approx(lap, rel=1e-14)
    v = [obj.agq(th, be, nagq=k) for k in (9, 15, 25)]
    assert abs(v[2] - v[1]) < 1e-6 and abs(v[1] - v[0]) < 1e-4


def test_gauss_hermite_integrates_normal_moments() -> None:
    z, w = gauss_hermite(10)
    np.testing.assert_allclose([w.sum(), w @ z, w @ z ** 2, w @ z ** 4], [1, 0, 1, 3], atol=1e-12)


def test_solution_parts() -> None:
    obj = _objective("binary_growth_rs", 1)
    c = next(c for c in DEVFUN["cases"] if c["case"] == "binary_growth_rs" and c["nagq"] == 1)
    p = c["points"][0]
    sol = obj.solve(np.atleast_1d(p["theta"]), np.atleast_1d(p["beta"]))
    assert sol.objective == pytest.approx(p["objective"], rel=1e-8)
    b = sol.b[0]
    assert b.shape == (obj.blocks[0].nlevels, 2)
    np.testing.assert_allclose(b, sol.u[0] @ sol.lambdas[0].T)
    assert sol.cond_cov[0].shape == (b.shape[0], 2, 2)
    np.testing.assert_allclose(sol.cond_sd[0] ** 2, np.diagonal(sol.cond_cov[0], axis1=1, axis2=2))
    assert sol.RX is None


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"nagq": 5, "two_terms": True}, "one scalar"),
    ({"X": np.ones((3, 1))}, "one row per response"),
])
def test_errors(kwargs: dict, match: str) -> None:
    g = np.repeat(np.arange(5), 4)
    blk = ReBlock(codes=g, Z=np.ones((20, 1)), nlevels=5, mask=np.ones((1, 1), bool))
    blocks = [blk, blk] if kwargs.pop("two_terms", False) else [blk]
    args = {"X": np.ones((20, 1)), "nagq": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        GlmmObjective(blocks, args["X"], np.ones(20), poisson(), nagq=args["nagq"])


def test_far_theta_gives_no_numpy_warnings_and_no_minus_infinity() -> None:
    """The optimizer may jump far out: trial steps there overflow (their deviance is rejected by step-halving, so
    numpy's warnings are not shown), modes carried from the last theta that overflow are reset, and a point whose
    factor rounds to a zero determinant is infeasible (+inf), never -inf; a working response fitted to rounding
    (its penalized residual sum of squares rounding to 0) does not stop the factorization."""
    import warnings

    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(40), 6)
    t = np.tile(np.arange(6.0), 40)
    y = rng.poisson(np.exp(0.5 + 0.3 * t + rng.normal(0, 1.5, 40)[g])).astype(float)
    blk = ReBlock(codes=g, Z=np.column_stack([np.ones(240), t]), nlevels=40, mask=np.tril(np.ones((2, 2), bool)))
    X = np.column_stack([np.ones(240), t])
    obj = GlmmObjective([blk], X, y, poisson())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vals = [obj.laplace(np.array([th, 0.0, th]), np.array([0.5, 0.3])) for th in (1.0, 20.0, 200.0, 1e4)]
        assert np.isfinite(obj.nagq0(np.array([1.0, 0.0, 1.0])))
    assert np.all(np.isfinite(vals[:3])) and vals[3] > vals[2]
    cold = GlmmObjective([blk], X, y, poisson())  # the same theta from a cold start
    assert cold.laplace(np.array([200.0, 0.0, 200.0]), np.array([0.5, 0.3])) == pytest.approx(vals[2], rel=1e-9)


CROSSED = [(c["case"], c["nagq"], i, p) for c in DEVFUN["cases"] if c["case"] == "verbagg_crossed"
           for i, p in enumerate(c["points"])]


@pytest.mark.parametrize(("name", "nagq", "i", "point"), CROSSED,
                         ids=[f"{n}-nagq{k}-p{i}" for n, k, i, _ in CROSSED])
@pytest.mark.parametrize("fill", ["pairs", "sparse"])
def test_crossed_objective_through_each_fill_path(name: str, nagq: int, i: int, point: dict, fill: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """VerbAgg's crossed model against lme4's deviance function with the factor's fill formed by the column pairs
    of the reweighted pattern, or by sparse products (the paths of couplings past a million entries)."""
    import lmmflow.core.blocked as blocked

    monkeypatch.setattr(blocked, "_DENSE_FILL", 0)
    if fill == "sparse":
        monkeypatch.setattr(blocked, "MAX_PAIRS", 0)
    obj = _objective(name, nagq)
    theta = np.atleast_1d(np.asarray(point["theta"], dtype=float))
    beta = np.atleast_1d(np.asarray(point["beta"], dtype=float))
    f = obj.nagq0(theta) if nagq == 0 else obj(theta, beta)
    assert f == pytest.approx(point["objective"], rel=1e-8, abs=1e-8)
