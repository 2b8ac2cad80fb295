"""The parameter map (core/parammap.py): structures -> lme4's theta -> Lambda, its Jacobian, bounds and names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.core.crossprod import theta_layout
from lmmflow.core.parammap import AR1, CompoundSymmetry, ParameterMap, Unstructured, structure_of


def _sigma(struct, params):
    """The relative covariance Lambda Lambda' a structure's parameters imply."""
    lam = ParameterMap([struct]).lambdas(np.asarray(params, dtype=float))[0]
    return lam @ lam.T


def _cs(s, rho):
    s = np.asarray(s, dtype=float)
    R = np.full((len(s), len(s)), rho)
    np.fill_diagonal(R, 1.0)
    return np.outer(s, s) * R


def _ar1(s, rho, p):
    i = np.arange(p)
    return s * s * rho ** np.abs(i[:, None] - i[None, :])


@pytest.mark.parametrize("struct, params, expected", [
    (CompoundSymmetry(3), [1.0, 2.0, 0.5, 0.3], _cs([1.0, 2.0, 0.5], 0.3)),
    (CompoundSymmetry(4), [0.7, 1.1, 0.2, 2.0, -0.3], _cs([0.7, 1.1, 0.2, 2.0], -0.3)),
    (CompoundSymmetry(2), [1.5, 0.4, 0.99], _cs([1.5, 0.4], 0.99)),
    (CompoundSymmetry(3, homogeneous=True), [1.3, 0.6], _cs([1.3] * 3, 0.6)),
    (AR1(5), [2.0, 0.6], _ar1(2.0, 0.6, 5)),
    (AR1(4), [0.5, -0.7], _ar1(0.5, -0.7, 4)),
    (AR1(2), [1.0, 0.0], np.eye(2)),
])
def test_structures_give_their_covariance(struct, params, expected):
    assert np.allclose(_sigma(struct, params), expected, rtol=1e-12, atol=1e-12)


def test_cs_on_its_bounds_is_the_singular_cholesky():
    # rho -> 1 and rho -> -1/(p-1): the clamped recursion still gives a factor of the (singular) matrix
    for rho in (1.0, -0.5):
        assert np.allclose(_sigma(CompoundSymmetry(3), [1.0, 1.0, 1.0, rho]), _cs([1, 1, 1], rho), atol=1e-12)


@pytest.mark.parametrize("struct, params", [
    (Unstructured(3), [1.0, 0.2, -0.3, 0.8, 0.1, 0.5]),
    (CompoundSymmetry(3), [1.0, 2.0, 0.5, 0.3]),
    (CompoundSymmetry(4), [0.7, 1.1, 0.2, 2.0, -0.2]),
    (CompoundSymmetry(3, homogeneous=True), [1.3, 0.6]),
    (AR1(5), [2.0, 0.6]),
    (AR1(3), [0.4, -0.8]),
])
def test_jacobian_matches_central_differences(struct, params):
    x = np.asarray(params, dtype=float)
    J = struct.jacobian(x)
    h = 1e-6
    fd = np.column_stack([(struct.theta(x + h * e) - struct.theta(x - h * e)) / (2 * h) for e in np.eye(len(x))])
    assert J.shape == (struct.n_theta, len(x))
    assert np.allclose(J, fd, rtol=1e-7, atol=1e-8)


def test_bounds_start_and_names():
    cs, ar = CompoundSymmetry(3), AR1(4)
    assert cs.lower.tolist() == [0.0, 0.0, 0.0, -0.5 + 1e-6]
    assert cs.upper.tolist() == [np.inf, np.inf, np.inf, 1 - 1e-6]
    assert cs.start.tolist() == [1.0, 1.0, 1.0, 0.0]
    assert ar.lower.tolist() == [0.0, -1 + 1e-6] and ar.upper.tolist() == [np.inf, 1 - 1e-6]
    assert np.allclose(_sigma(ar, ar.start), np.eye(4))  # lme4's start: Lambda = I
    assert cs.names("id", ["a", "b", "c"]) == ["id.a", "id.b", "id.c", "id.rho"]
    assert ar.names("id", ["w1", "w2", "w3", "w4"]) == ["id.sd", "id.rho"]
    assert CompoundSymmetry(2, homogeneous=True).names("g", ["x", "y"]) == ["g.sd", "g.rho"]
    assert Unstructured(2).names("g", ["(Intercept)", "x"]) == ["g.(Intercept)", "g.x.(Intercept)", "g.x"]


def test_structure_of():
    assert structure_of(None, 2).kind == "us" and structure_of("us", 2).identity
    d = structure_of("diag", 3)
    assert d.kind == "diag" and d.identity and d.n_theta == 3
    assert isinstance(structure_of("cs", 3), CompoundSymmetry) and structure_of("homcs", 3).kind == "homcs"
    assert isinstance(structure_of("ar1", 3), AR1)
    with pytest.raises(ValueError, match="unknown covariance structure 'toep'"):
        structure_of("toep", 3)


def test_map_of_unstructured_blocks_is_lme4s_theta_layout():
    design = lf.lformula("strength ~ 1 + (1 | sample) + (1 | batch)", lf.load_dataset("pastes"))
    blocks = design.blocks()
    pm = ParameterMap.of_blocks(blocks)
    slices, positions, lower = theta_layout(blocks)
    assert pm.identity and pm.slices == slices and np.array_equal(pm.lower, lower)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(pm.positions, positions))
    x = np.array([0.7, 1.3])
    assert pm.theta(x) is not None and np.array_equal(pm.theta(x), x)
    assert np.array_equal(pm.chain(x, np.array([1.0, 2.0])), [1.0, 2.0])


def test_map_with_several_terms():
    pm = ParameterMap([Unstructured(2), AR1(3), CompoundSymmetry(3)])
    x = np.array([1.0, 0.2, 0.5, 2.0, 0.4, 1.0, 1.5, 0.5, 0.1])
    assert (pm.n_params, pm.n_theta) == (9, 3 + 6 + 6)
    assert pm.kinds == ["us", "ar1", "cs"]
    J = pm.jacobian(x)
    assert np.allclose(J[pm.slices[1], pm.param_slices[1]], AR1(3).jacobian(x[3:5]))
    assert np.all(J[pm.slices[0], pm.param_slices[1]] == 0)
    g = np.arange(pm.n_theta, dtype=float)
    assert np.allclose(pm.chain(x, g), J.T @ g)
    covs = pm.covariance(x, sigma=2.0)
    assert np.allclose(covs[1], 4.0 * _ar1(2.0, 0.4, 3))


WAVES = Path(__file__).resolve().parents[1] / "reference" / "data" / "waves.csv"


@pytest.mark.parametrize("formula, reml", [
    ("y ~ time + ar1(0 + wave | id)", True),
    ("y ~ time + ar1(0 + wave | id)", False),
    ("y ~ time + cs(0 + wave | id)", True),
    ("y ~ time + homcs(0 + wave | id)", False),
    ("y ~ time + cs(1 + time | id)", True),
    ("y ~ time + diag(1 + time | id)", False),
    ("y2 ~ time + ar1(0 + wave | id) + (1 | site)", True),  # units in sites: the two-level objective
    ("y2 ~ time + cs(0 + wave | id) + (1 | wave)", False),  # crossed: the Schur-complement objective
])
def test_objective_gradient_matches_central_differences(formula, reml):
    """The analytic gradient of the objective, chained through the map, against central differences."""
    devfun = lf.make_deviance(formula, pd.read_csv(WAVES), reml=reml)
    pm = devfun.pmap
    rng = np.random.default_rng(3)
    x = np.clip(pm.start + rng.uniform(0.1, 0.4, pm.n_params), pm.lower, pm.upper)
    if pm.kinds[0] in ("ar1", "cs", "homcs"):
        x[pm.param_slices[0].stop - 1] = 0.35  # the first term's correlation
    val, grad = devfun.value_and_gradient(x)
    assert np.isclose(val, devfun(x), rtol=1e-12)
    h = 1e-5
    fd = np.array([(devfun(x + h * e) - devfun(x - h * e)) / (2 * h) for e in np.eye(len(x))])
    assert np.allclose(grad, fd, rtol=1e-5, atol=1e-4)
    assert np.allclose(devfun.gradient(x), grad, rtol=1e-10, atol=1e-10)
