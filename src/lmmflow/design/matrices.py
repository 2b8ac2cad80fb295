"""Model matrices of formula parts: formulaic for the general case, a direct path for plain numeric
columns (``1 + time``), and cached formula parsing.

Parsing a formula string is pure, so parsed formulas are cached.  Encoding is not (categorical levels
and stateful transforms depend on the data), so it is never cached; the direct path applies only when
every term is the intercept or a numeric column, where no encoding decision exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix

__all__ = ["NumericSpec", "build_matrix", "parsed", "required_variables"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@lru_cache(maxsize=512)
def parsed(rhs: str) -> Formula:
    """formulaic's parse of a formula string (cached: parsing does not depend on data)."""
    return Formula(rhs)


@lru_cache(maxsize=512)
def required_variables(rhs: str) -> frozenset[str]:
    """Variables a formula part reads."""
    return frozenset(parsed(rhs).required_variables)


@lru_cache(maxsize=512)
def _plain_terms(rhs: str) -> tuple[bool, tuple[str, ...]] | None:
    """(intercept, columns) when ``rhs`` is only '1'/'0'/'-1' and bare column names joined by '+'."""
    text = rhs.replace(" ", "")
    intercept, cols = True, []
    terms = re.split(r"(?=[+-])", text)
    for tok in terms:
        if not tok:
            continue
        sign, name = (tok[0], tok[1:]) if tok[0] in "+-" else ("+", tok)
        if name == "1":
            intercept = sign == "+"
        elif name == "0" and sign == "+":
            intercept = False
        elif sign == "+" and _IDENT.match(name) and name not in cols:
            cols.append(name)
        else:
            return None
    return intercept, tuple(cols)


@dataclass(frozen=True)
class NumericSpec:
    """Encoding of a formula part made only of an intercept and numeric columns.

    Offers formulaic's ``get_model_matrix(data, na_action=...)`` so the rest of lmmflow treats both alike.
    """

    intercept: bool
    columns: tuple[str, ...]

    @property
    def column_names(self) -> list[str]:
        """Names of the matrix columns, formulaic's style."""
        return (["Intercept"] if self.intercept else []) + list(self.columns)

    def get_model_matrix(self, data: pd.DataFrame, na_action: str = "ignore") -> np.ndarray:  # noqa: ARG002
        """The matrix for ``data``."""
        n = len(data)
        out = np.empty((n, int(self.intercept) + len(self.columns)))
        j = 0
        if self.intercept:
            out[:, 0] = 1.0
            j = 1
        for col in self.columns:
            out[:, j] = data[col].to_numpy(dtype=float)
            j += 1
        return out


def build_matrix(rhs: str, frame: pd.DataFrame) -> tuple[np.ndarray, list[str], object]:
    """The model matrix of ``rhs`` on ``frame``: values, column names and the spec for new data.

    Raises whatever formulaic raises for a formula it cannot read (callers wrap it with the term).
    """
    plain = _plain_terms(rhs)
    if plain is not None and all(
        c in frame.columns and pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        for c in plain[1]
    ):
        spec = NumericSpec(intercept=plain[0], columns=plain[1])
        return spec.get_model_matrix(frame), spec.column_names, spec
    mm = model_matrix(parsed(rhs), frame, na_action="ignore")
    return np.asarray(mm, dtype=float), [str(c) for c in mm.columns], mm.model_spec
