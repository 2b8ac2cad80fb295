"""The one-term kernel (core/oneterm.py) and the objectives that call it."""

from __future__ import annotations

import numpy as np
import pytest

import lmmflow as lf
from lmmflow.core import DevianceFunction
from lmmflow.core.oneterm import level_factors, level_weights, pair_index
from lmmflow.core.patterns import PatternObjective
from lmmflow.fitting import cross_products
from lmmflow.inference.bootstrap import _SingleTermBatch
from lmmflow.scale.single_term import SingleTermProfile


def _random_case(p: int, K: int = 6, N: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + p)
    A = rng.standard_normal((K, p, p + 1))
    A = A @ A.transpose(0, 2, 1)
    lam = np.tril(rng.standard_normal((N, p, p)))
    return lam, A, rng.integers(1, 5, K).astype(float)


@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_kernel_matches_explicit_matrices(p: int) -> None:
    lam, A, counts = _random_case(p)
    logdet, g = level_weights(lam, A, counts)
    assert logdet.shape == (len(lam),) and g.shape == (len(lam), len(A), p * (p + 1) // 2)
    for n in range(len(lam)):
        M = lam[n].T @ A @ lam[n] + np.eye(p)
        G = lam[n] @ np.linalg.inv(M) @ lam[n].T
        np.testing.assert_allclose(logdet[n], counts @ np.linalg.slogdet(M)[1], rtol=1e-12)
        for j, (a, b) in enumerate(pair_index(p)):
            np.testing.assert_allclose(g[n, :, j], G[:, a, b], rtol=1e-10, atol=1e-14)
        one_logdet, one_g = level_weights(lam[n], A, counts)  # one point: a float and (K, pairs)
        assert np.ndim(one_logdet) == 0 and one_g.shape == g[n].shape
        np.testing.assert_allclose(one_logdet, logdet[n], rtol=1e-13)
        np.testing.assert_allclose(one_g, g[n], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_factor_form_agrees_with_weight_form(p: int) -> None:
    lam, A, _ = _random_case(p)
    logdet_w, g = level_weights(lam, A)
    logdet_f, R = level_factors(lam, A)
    assert R.shape == (len(lam), p, p, len(A))
    np.testing.assert_allclose(logdet_f, logdet_w, rtol=1e-12)
    G = np.einsum("nbak,nbck->nkac", R, R)  # R_i' R_i
    for j, (a, b) in enumerate(pair_index(p)):
        np.testing.assert_allclose(G[:, :, a, b], g[:, :, j], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_points_without_a_factor_are_nan_and_the_others_are_kept(p: int) -> None:
    lam, A, _ = _random_case(p)
    good = level_weights(lam, A)
    lam[1, 0, 0] = np.nan
    logdet, g = level_weights(lam, A)
    assert np.isnan(logdet[1]) and np.isnan(g[1]).all()
    keep = [0, 2, 3]
    np.testing.assert_allclose(logdet[keep], good[0][keep], rtol=1e-14)
    np.testing.assert_allclose(g[keep], good[1][keep], rtol=1e-14)


CASES = [
    ("Reaction ~ Days + (1 | Subject)", [0.8]),
    ("Reaction ~ Days + (Days | Subject)", [0.9667, 0.0152, 0.2309]),
    ("Reaction ~ Days + (Days || Subject)", [0.95, 0.22]),
    ("Reaction ~ Days + (1 + Days + I(Days ** 2) | Subject)", [0.9, 0.01, 0.2, 0.001, 0.01, 0.02]),
]


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(("formula", "theta"), CASES)
def test_every_one_term_objective_agrees_with_the_blocked_factor(formula: str, theta: list[float],
                                                                  reml: bool) -> None:
    d = lf.lformula(formula, lf.load_dataset("sleepstudy"))
    cp = cross_products(d)
    fn = DevianceFunction(cp, reml=reml)
    want = fn.blocked(np.asarray(theta))
    po = PatternObjective(cp, *fn.factor.positions[0])
    assert fn._criterion(po(np.asarray(theta))) == pytest.approx(want, rel=1e-11)
    prof = SingleTermProfile(cp, d.X, reml=reml)
    prof.set_responses(d.y[:, None])
    assert prof.objective(theta, 0) == pytest.approx(want, rel=1e-11)
    assert prof.objective_many(np.asarray([theta]), np.array([0]))[0] == pytest.approx(want, rel=1e-11)
    layout = [(sl, r, c, b.p) for sl, (r, c), b in zip(fn.factor.slices, fn.factor.positions, cp.blocks)]
    batch = _SingleTermBatch(cp, reml, layout)
    batch.set_responses(cp.xz[0][-1][:, None], cp.xx[:-1, -1][:, None], cp.xx[-1:, -1])
    assert batch.objective(np.asarray([theta]), np.array([0]))[0] == pytest.approx(want, rel=1e-11)
