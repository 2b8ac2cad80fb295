"""Products of stacks of small matrices, one per level, faster than ``numpy.einsum`` on such shapes.

A random-effects term with ``p`` coefficients per level gives stacks of shape ``(nlevels, p, m)`` with
``p`` and ``m`` small and ``nlevels`` up to millions.  ``einsum`` loops over such stacks slowly; the
functions here use a few whole-stack multiply-adds (small inner dimension) or BLAS on a reshaped view.
This module imports only numpy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["stack_matmul", "stack_matmul_t", "const_left", "stack_inner"]

_LOOP_INNER = 4  # up to this inner dimension, multiply-adds over the stack beat numpy.matmul


def _multiply_add(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """sum_b A[:, :, b, None] * B[:, None, b, :] for stacks (n, a, b) and (n, b, m)."""
    out = A[:, :, 0, None] * B[:, None, 0, :]
    for b in range(1, A.shape[2]):
        out += A[:, :, b, None] * B[:, None, b, :]
    return out


def stack_matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A[i] @ B[i]`` for every ``i``: stacks ``(n, a, b)`` and ``(n, b, m)`` give ``(n, a, m)``.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.arange(8.0).reshape(2, 2, 2); B = np.ones((2, 2, 1))
    >>> stack_matmul(A, B)[:, :, 0]
    array([[ 1.,  5.],
           [ 9., 13.]])
    """
    if A.shape[2] <= _LOOP_INNER and B.shape[2] <= 2:
        return _multiply_add(A, B)
    return np.matmul(A, B)


def stack_matmul_t(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A[i].T @ B[i]`` for every ``i``: stacks ``(n, b, a)`` and ``(n, b, m)`` give ``(n, a, m)``."""
    return stack_matmul(A.transpose(0, 2, 1), B)


def const_left(M: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``M @ B[i]`` for one small matrix ``M`` (a, b) and a stack ``B`` (n, b, m), through one BLAS product.

    Examples
    --------
    >>> import numpy as np
    >>> const_left(np.array([[2.0, 0.0], [1.0, 1.0]]), np.ones((3, 2, 1)))[0, :, 0]
    array([2., 2.])
    """
    return np.tensordot(B, M, axes=([1], [1])).transpose(0, 2, 1)


def stack_inner(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``sum_i A[i] @ B[i].T``: stacks ``(n, a, m)`` and ``(n, b, m)`` give ``(a, b)``, through BLAS."""
    return np.tensordot(A, B, axes=([0, 2], [0, 2]))
