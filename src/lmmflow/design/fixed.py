"""The fixed-effects model matrix: built by formulaic, checked for rank as lme4 does."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from formulaic import model_matrix
from formulaic.model_spec import ModelSpec

from ..formula import FormulaError
from .matrices import NumericSpec, build_matrix

__all__ = ["FixedDesign", "build_fixed", "build_response", "nonaliased_columns", "rename_intercept"]


def rename_intercept(names: list[str]) -> list[str]:
    """formulaic calls the intercept ``Intercept``; lme4 prints ``(Intercept)``."""
    return ["(Intercept)" if n == "Intercept" else n for n in names]


@dataclass(frozen=True)
class FixedDesign:
    """The fixed-effects matrix and how to rebuild it for new data.

    Attributes
    ----------
    X : numpy.ndarray
        n x p, full column rank (aliased columns removed).
    names : list of str
        Column names in lme4's style (``(Intercept)``, ``recipe[T.B]:temp``).
    spec : formulaic.model_spec.ModelSpec
        The encoding (levels, contrasts) to apply to new data.
    kept : numpy.ndarray
        Indices of the columns of the formulaic matrix that were kept.
    dropped : list of str
        Names of aliased columns dropped.
    """

    X: np.ndarray
    names: list[str]
    spec: ModelSpec | NumericSpec
    kept: np.ndarray
    dropped: list[str]

    def encode(self, data: pd.DataFrame) -> np.ndarray:
        """The fixed-effects matrix of new data, encoded as at fit time."""
        mm = self.spec.get_model_matrix(data, na_action="ignore")
        return np.asarray(mm, dtype=float)[:, self.kept]


def nonaliased_columns(X: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Indices of the columns of ``X`` to keep so that they are linearly independent.

    Columns are considered left to right and a column is dropped when its part orthogonal to the
    kept columns before it is below ``tol`` times its norm, as R's ``qr`` with limited pivoting does;
    so lme4 and lmmflow drop the same columns.
    """
    p = X.shape[1]
    if p == 0:
        return np.arange(0)
    norms = np.sqrt(np.einsum("ij,ij->j", X, X))
    R = np.linalg.qr(X, mode="r")  # X = QR: column relations of X are those of R, at p x p cost
    basis = np.zeros((R.shape[0], 0))
    keep: list[int] = []
    for j in range(p):
        if norms[j] == 0:
            continue
        v = R[:, j].copy()
        for _ in range(2):  # Gram-Schmidt, twice for stability
            v -= basis @ (basis.T @ v)
        size = np.linalg.norm(v)
        if size > tol * norms[j]:
            keep.append(j)
            basis = np.column_stack([basis, v / size])
    return np.asarray(keep, dtype=int)


def build_fixed(rhs: str, frame: pd.DataFrame) -> FixedDesign:
    """Build the fixed-effects matrix for ``rhs`` on the model frame."""
    try:
        X, raw_names, spec = build_matrix(rhs, frame)
    except Exception as exc:
        raise FormulaError(f"cannot build the fixed effects {rhs!r}: {exc}") from exc
    names = rename_intercept(raw_names)
    if X.shape[1] and not np.isfinite(X).all():
        bad = [names[j] for j in range(X.shape[1]) if not np.isfinite(X[:, j]).all()]
        raise FormulaError(f"fixed-effect column(s) {bad} have missing or infinite values "
                           "(e.g. log of zero or a negative number); transform the data first")
    kept = nonaliased_columns(X)
    dropped = [names[j] for j in range(len(names)) if j not in set(kept.tolist())]
    X = X if len(kept) == X.shape[1] else np.ascontiguousarray(X[:, kept])
    return FixedDesign(X=X, names=[names[j] for j in kept],
                       spec=spec, kept=kept, dropped=dropped)


def build_response(response: str, frame: pd.DataFrame) -> np.ndarray:
    """The response vector; an expression such as ``np.log(y)`` is evaluated by formulaic."""
    if response in frame.columns:
        y = frame[response].to_numpy(dtype=float)
    else:
        try:
            y = np.asarray(model_matrix(f"0 + I({response})", frame, na_action="ignore"), dtype=float)
        except Exception as exc:
            raise FormulaError(f"cannot evaluate the response {response!r}: {exc}") from exc
        if y.ndim == 2:
            if y.shape[1] != 1:
                raise FormulaError(f"the response {response!r} must be a single numeric column")
            y = y[:, 0]
    if not np.isfinite(y).all():
        raise FormulaError(f"the response {response!r} has missing or infinite values after evaluation")
    return y
