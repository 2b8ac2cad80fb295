"""Stacks of small matrices as a structure of arrays (core/soa.py) against numpy's batched routines, p = 1..4."""

from __future__ import annotations

import numpy as np
import pytest

from lmmflow.core.soa import soa_chol, soa_inv_logdet, soa_left, soa_mm, soa_right, soa_tri_inv


def _spd(p: int, m: int, rng: np.random.Generator) -> np.ndarray:
    A = rng.normal(size=(m, p, p))
    return A @ A.transpose(0, 2, 1) + p * np.eye(p)


def _soa(stack: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(stack.transpose(1, 2, 0))


def _stack(soa: np.ndarray) -> np.ndarray:
    return soa.transpose(2, 0, 1)


@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_cholesky_and_triangular_inverse(p: int) -> None:
    rng = np.random.default_rng(p)
    M = _spd(p, 50, rng)
    L = soa_chol(_soa(M))
    np.testing.assert_allclose(_stack(L), np.linalg.cholesky(M), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(_stack(soa_tri_inv(L)), np.linalg.inv(np.linalg.cholesky(M)), rtol=1e-11,
                               atol=1e-13)


def test_cholesky_of_an_indefinite_matrix_is_nan() -> None:
    M = _soa(np.array([[[1.0, 2.0], [2.0, 1.0]], [[2.0, 0.0], [0.0, 3.0]]]))
    L = soa_chol(M)
    assert np.isnan(L[1, 1, 0]) and np.all(np.isfinite(L[:, :, 1]))


@pytest.mark.parametrize(("a", "b", "c"), [(1, 1, 1), (5, 2, 2), (2, 3, 4), (3, 2, 1)])
def test_products(a: int, b: int, c: int) -> None:
    rng = np.random.default_rng(a * 100 + b * 10 + c)
    A, B = rng.normal(size=(30, a, b)), rng.normal(size=(30, b, c))
    C, D = rng.normal(size=(c, a)), rng.normal(size=(b, c))
    np.testing.assert_allclose(_stack(soa_mm(_soa(A), _soa(B))), A @ B, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(_stack(soa_left(C, _soa(A))), C @ A, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(_stack(soa_right(_soa(A), D)), A @ D, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_inverse_and_log_determinant(p: int) -> None:
    rng = np.random.default_rng(10 + p)
    M = _spd(p, 40, rng)
    inv, logdet = soa_inv_logdet(_soa(M))
    np.testing.assert_allclose(_stack(inv), np.linalg.inv(M), rtol=1e-11, atol=1e-13)
    assert logdet == pytest.approx(np.linalg.slogdet(M)[1].sum(), rel=1e-13)
    M[3] = -M[3]
    assert not np.isfinite(soa_inv_logdet(_soa(M))[1])
