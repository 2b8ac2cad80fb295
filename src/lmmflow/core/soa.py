"""Stacks of small matrices held as a structure of arrays: entry (i, j) of every matrix is one flat array.

A stack of m small p x q matrices is held as an array of shape (p, q, m), so that entry (i, j) of all of them is
the contiguous vector ``A[i, j]``.  Products, Cholesky factors and triangular inverses then cost a few ufunc calls
over all m matrices per entry (closed forms unrolled over the small dimensions), where numpy's batched
``matmul`` / ``cholesky`` on an (m, p, q) stack pay a per-matrix overhead that dominates for p = 2 (3,000 2 x 2
Cholesky factors: ~0.4 ms batched, ~10 us here).  A product with a matrix shared by all levels is one BLAS call.
Imports only numpy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["soa_chol", "soa_inv_logdet", "soa_left", "soa_mm", "soa_right", "soa_tri_inv"]


def soa_mm(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Per level, A_l @ B_l for stacks A (a, b, ...) and B (b, c, ...): an (a, c, ...) stack (the level
    dimensions broadcast: a matrix per school times one per student of the school).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A, B = rng.normal(size=(3, 2, 5)), rng.normal(size=(2, 4, 5))
    >>> np.allclose(soa_mm(A, B)[:, :, 2], A[:, :, 2] @ B[:, :, 2])
    True
    """
    out = A[:, 0, None, ...] * B[None, 0, ...]
    for j in range(1, A.shape[1]):
        out += A[:, j, None, ...] * B[None, j, ...]
    return out


def soa_left(C: np.ndarray, A: np.ndarray) -> np.ndarray:
    """C @ A_l for one matrix C (a, b) and a stack A (b, k, m): an (a, k, m) stack, one BLAS product.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> C, A = rng.normal(size=(3, 2)), rng.normal(size=(2, 2, 4))
    >>> np.allclose(soa_left(C, A)[:, :, 1], C @ A[:, :, 1])
    True
    """
    b, k, m = A.shape
    return (C @ A.reshape(b, k * m)).reshape(C.shape[0], k, m)


def soa_right(A: np.ndarray, C: np.ndarray) -> np.ndarray:
    """A_l @ C for a stack A (a, b, m) and one matrix C (b, k): an (a, k, m) stack (a BLAS product per row).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A, C = rng.normal(size=(3, 2, 4)), rng.normal(size=(2, 2))
    >>> np.allclose(soa_right(A, C)[:, :, 3], A[:, :, 3] @ C)
    True
    """
    return np.matmul(C.T, A)


def soa_chol(M: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack of symmetric matrices M (p, p, m), from their lower triangles.

    A matrix that is not positive definite gives NaN entries (as :func:`lmmflow.core.blocked.batched_cholesky`),
    which the caller's log-determinant turns into a non-finite criterion.

    Examples
    --------
    >>> import numpy as np
    >>> M = np.array([[4.0, 2.0], [2.0, 5.0]])
    >>> L = soa_chol(np.repeat(M[:, :, None], 3, axis=2))
    >>> np.allclose(L[:, :, 0], np.linalg.cholesky(M))
    True
    """
    p = M.shape[0]
    L = np.zeros_like(M)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(p):
            d = M[j, j].copy()
            for k in range(j):
                d -= L[j, k] * L[j, k]
            L[j, j] = np.sqrt(d)
            for i in range(j + 1, p):
                v = M[i, j].copy()
                for k in range(j):
                    v -= L[i, k] * L[j, k]
                L[i, j] = v / L[j, j]
    return L


def soa_tri_inv(L: np.ndarray) -> np.ndarray:
    """Inverses of a stack of lower-triangular matrices L (p, p, m) (forward substitution, unrolled).

    Examples
    --------
    >>> import numpy as np
    >>> L = np.array([[2.0, 0.0, 0.0], [1.0, 3.0, 0.0], [-1.0, 0.5, 1.5]])
    >>> K = soa_tri_inv(np.repeat(L[:, :, None], 2, axis=2))
    >>> np.allclose(K[:, :, 1] @ L, np.eye(3))
    True
    """
    p = L.shape[0]
    K = np.zeros_like(L)
    with np.errstate(invalid="ignore", divide="ignore"):
        for i in range(p):
            K[i, i] = 1.0 / L[i, i]
        for i in range(1, p):
            for j in range(i):
                v = L[i, j] * K[j, j]
                for k in range(j + 1, i):
                    v += L[i, k] * K[k, j]
                K[i, j] = -v * K[i, i]
    return K


def soa_inv_logdet(M: np.ndarray) -> tuple[np.ndarray, float]:
    """Inverses of a stack of symmetric positive definite matrices M (p, p, m) and the sum of their
    log-determinants: closed forms for p <= 2 (a 2 x 2 inverse is four products), through the Cholesky factors
    beyond.  A matrix that is not positive definite makes the sum NaN (or infinite).

    Examples
    --------
    >>> import numpy as np
    >>> M = np.array([[4.0, 2.0], [2.0, 5.0]])
    >>> inv, logdet = soa_inv_logdet(np.repeat(M[:, :, None], 3, axis=2))
    >>> np.allclose(inv[:, :, 1], np.linalg.inv(M)), bool(np.isclose(logdet, 3 * np.log(16.0)))
    (True, True)
    """
    p = M.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        if p == 1:
            return 1.0 / M, float(np.log(M[0, 0]).sum())
        if p == 2:
            a, b, d = M[0, 0], M[1, 0], M[1, 1]
            det = a * d - b * b
            r = 1.0 / det
            inv = np.empty_like(M)
            np.multiply(d, r, out=inv[0, 0])
            np.multiply(a, r, out=inv[1, 1])
            np.multiply(b, -r, out=inv[1, 0])
            inv[0, 1] = inv[1, 0]
            logdet = float(np.log(det).sum())  # NaN or -inf where some det <= 0
            return inv, logdet if a.min() > 0 else float("nan")
        L = soa_chol(M)
        K = soa_tri_inv(L)
        return soa_mm(K.transpose(1, 0, 2), K), 2.0 * sum(float(np.log(L[i, i]).sum()) for i in range(p))
