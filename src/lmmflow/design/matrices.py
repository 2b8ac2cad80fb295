"""Model matrices of formula parts: formulaic for the general case, a direct path for numeric columns
and their products (``1 + time``, ``time * group``), and cached formula parsing.

Parsing a formula string is pure, so parsed formulas are cached.  Encoding is not (categorical levels
and stateful transforms depend on the data), so it is never cached; the direct path applies only when
every term is the intercept, a numeric column or a product of numeric columns, where no encoding decision
exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix

__all__ = ["NumericSpec", "build_matrix", "build_spec", "numeric_spec", "parsed", "rename_intercept",
           "required_variables", "row_source"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def rename_intercept(names: list[str]) -> list[str]:
    """formulaic calls the intercept ``Intercept``; lme4 prints ``(Intercept)``."""
    return ["(Intercept)" if n == "Intercept" else n for n in names]


@lru_cache(maxsize=512)
def parsed(rhs: str) -> Formula:
    """formulaic's parse of a formula string (cached: parsing does not depend on data)."""
    return Formula(rhs)


_QUOTED = re.compile(r"`([^`]+)`")


@lru_cache(maxsize=512)
def required_variables(rhs: str) -> frozenset[str]:
    """Variables a formula part reads.

    formulaic reports a backticked dotted name (`` `Petal.Width` ``) as the variable ``Petal``; the name
    in backticks is the variable.
    """
    found = set(parsed(rhs).required_variables)
    quoted = set(_QUOTED.findall(rhs))
    if quoted:
        bare = _QUOTED.sub(" ", rhs)
        for name in quoted:
            head = name.split(".")[0]
            if "." in name and head in found and not re.search(r"(?<![\w.])" + re.escape(head) + r"(?![\w])", bare):
                found.discard(head)
            found.add(name)
    return frozenset(found)


@lru_cache(maxsize=512)
def _plain_terms(rhs: str) -> tuple[tuple[str, ...], ...] | None:
    """The terms of ``rhs`` as tuples of column names (``()`` for the intercept), in formulaic's column
    order, when every factor is a bare column name (``1 + time``, ``time * group``); otherwise None."""
    try:
        terms = list(parsed(rhs))
    except Exception:  # noqa: BLE001 - formulaic raises several kinds; the general path reports them
        return None
    out = []
    for term in terms:
        names = tuple(str(f.expr) for f in term.factors)
        if names == ("1",):
            out.append(())
        elif names and all(_IDENT.match(nm) for nm in names):
            out.append(names)
        else:
            return None
    return tuple(out)


@dataclass(frozen=True)
class NumericSpec:
    """Encoding of a formula part made only of an intercept, numeric columns and their products.

    Offers formulaic's ``get_model_matrix(data, na_action=...)`` so the rest of lmmflow treats both alike;
    the columns and their names are formulaic's (``Intercept``, ``time``, ``time:group``).
    """

    terms: tuple[tuple[str, ...], ...]

    @property
    def column_names(self) -> list[str]:
        """Names of the matrix columns, formulaic's style."""
        return ["Intercept" if not t else ":".join(t) for t in self.terms]

    def get_model_matrix(self, data: pd.DataFrame, na_action: str = "ignore") -> np.ndarray:  # noqa: ARG002
        """The matrix for ``data``."""
        out = np.empty((len(data), len(self.terms)))
        cols: dict[str, np.ndarray] = {}
        for j, term in enumerate(self.terms):
            if not term:
                out[:, j] = 1.0
                continue
            for k, name in enumerate(term):
                if name not in cols:
                    cols[name] = data[name].to_numpy(dtype=float)
                if k == 0:
                    out[:, j] = cols[name]
                else:
                    out[:, j] *= cols[name]
        return out


def _numeric(frame: pd.DataFrame, col: str) -> bool:
    s = frame[col]
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def numeric_spec(rhs: str, frame: pd.DataFrame) -> NumericSpec | None:
    """The direct encoding of ``rhs`` when it applies (bare numeric columns and their products)."""
    terms = _plain_terms(rhs)
    if terms is None or not all(c in frame.columns and _numeric(frame, c) for t in terms for c in t):
        return None
    return NumericSpec(terms=terms)


def build_matrix(rhs: str, frame: pd.DataFrame) -> tuple[np.ndarray, list[str], object]:
    """The model matrix of ``rhs`` on ``frame``: values, column names and the spec for new data.

    Raises whatever formulaic raises for a formula it cannot read (callers wrap it with the term).
    """
    spec = numeric_spec(rhs, frame)
    if spec is not None:
        return spec.get_model_matrix(frame), spec.column_names, spec
    mm = model_matrix(parsed(rhs), frame, na_action="ignore", output="numpy")  # no DataFrame to interleave
    return np.ascontiguousarray(mm, dtype=float), [str(c) for c in mm.model_spec.column_names], mm.model_spec


def build_spec(rhs: str, frame: pd.DataFrame) -> tuple[object, list[str]] | None:
    """The encoding of ``rhs`` for ``frame`` and its column names, found without encoding every row.

    The direct numeric path needs no data; formulaic's spec is built on the prototype rows (every level
    of each categorical column, :func:`lmmflow.design.lazy.prototype_rows`).  Returns None when the
    encoding depends on the data otherwise (stateful transforms, ``C(...)``): then the caller builds the
    matrix whole.
    """
    spec = numeric_spec(rhs, frame)
    if spec is not None:
        return spec, spec.column_names
    if "C(" in rhs.replace(" ", ""):
        return None
    from .lazy import prototype_rows

    used = [c for c in required_variables(rhs) if c in frame.columns]
    categorical = [c for c in used if not _numeric(frame, c)]
    proto = frame.iloc[prototype_rows(frame, categorical)]
    mm = model_matrix(parsed(rhs), proto, na_action="ignore", output="numpy")
    if getattr(mm.model_spec, "transform_state", None):
        return None
    return mm.model_spec, [str(c) for c in mm.model_spec.column_names]


def row_source(rhs: str, frame: pd.DataFrame, label: str) -> tuple[object, list[str], object] | None:
    """A :class:`~lmmflow.design.lazy.RowMatrix` of ``rhs`` on ``frame`` (encoded block by block), its
    column names (lme4's style) and spec; None when the encoding needs every row (see :func:`build_spec`)."""
    from .lazy import RowMatrix

    found = build_spec(rhs, frame)
    if found is None:
        return None
    spec, raw = found
    names = rename_intercept(raw)

    def encode(rows: pd.DataFrame) -> np.ndarray:
        return spec.get_model_matrix(rows, na_action="ignore")

    return RowMatrix(encode, frame, len(names), label, names), names, spec
