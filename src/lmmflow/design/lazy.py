"""Model matrices read from the model frame in row blocks, for data too large to hold X and Z whole.

A fit needs the rows once, to form the cross-products of [Z X y]; everything after works on those.  For a
large frame, lmmflow therefore does not build X and the terms' Z: a :class:`RowMatrix` encodes rows
``start:stop`` of the frame on demand with the encoding fixed at design time (formulaic's spec, or the
direct numeric path), and the engine reads it block by block (:func:`lmmflow.core.crossprod.row_block`).
Per-row results (fitted values, residuals) are formed block by block too.  Asking for the whole matrix
(``design.X``, ``term.Z``: inference that needs X, the bootstrap) builds it once and keeps it.

The encoding must not depend on which rows are encoded: formulaic's spec is built on a *prototype*, the
rows holding the first occurrence of every value of each column that feeds a categorical factor, so the
levels (and the columns) are those of the whole frame.  Formulas whose encoding depends on the data in
other ways (stateful transforms such as ``center(x)`` or ``poly(x)``, and ``C(...)`` on a numeric column)
are built whole, as for small data.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ..core.crossprod import row_ranges

__all__ = ["STREAM_MIN_ROWS", "RowMatrix", "prototype_rows", "whole"]

STREAM_MIN_ROWS = 250_000
"""Frames with at least this many rows are fitted without holding X and Z (their matrices are read in row
blocks); smaller ones keep the whole matrices, which is faster for repeated per-row work."""


class RowMatrix:
    """An n x m per-row matrix evaluated from a frame in row blocks.

    Parameters
    ----------
    encode : callable
        ``encode(frame_rows) -> ndarray`` (rows x m), for any consecutive rows of ``frame``.
    frame : pandas.DataFrame
        The model frame.
    ncols : int
        Number of columns ``encode`` returns.
    label : str
        What the matrix is (for error messages), e.g. ``"the fixed effects"``.
    names : list of str, optional
        Column names (for error messages).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    >>> M = RowMatrix(lambda d: d[["x"]].to_numpy() * 2, f, 1, "x")
    >>> M.rows(1, 3).ravel().tolist(), M.shape
    ([4.0, 6.0], (3, 1))
    """

    def __init__(self, encode: Callable[[pd.DataFrame], np.ndarray], frame: pd.DataFrame, ncols: int,
                 label: str, names: list[str] | None = None):
        self._encode = encode
        self.frame = frame
        self.shape = (len(frame), int(ncols))
        self.label = label
        self.names = names
        self._full: np.ndarray | None = None

    def encode_rows(self, rows: pd.DataFrame) -> np.ndarray:
        """The matrix of some rows of the frame (or of new data), unchecked."""
        return np.asarray(self._encode(rows), dtype=float)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (float64, C order), checked for missing and infinite values."""
        if self._full is not None:
            return self._full[start:stop]
        block = np.ascontiguousarray(self.encode_rows(self.frame.iloc[start:stop]))
        if block.shape != (stop - start, self.shape[1]):
            raise ValueError(f"{self.label}: rows {start}:{stop} encoded to shape {block.shape}, "
                             f"expected {(stop - start, self.shape[1])}")
        if not np.isfinite(block).all():
            bad = np.flatnonzero(~np.isfinite(block).all(axis=0))
            cols = [self.names[j] for j in bad] if self.names else bad.tolist()
            from ..formula import FormulaError

            raise FormulaError(f"{self.label}: column(s) {cols} have missing or infinite values after "
                               "evaluation (e.g. log of zero or a negative number); transform the data first")
        return block

    def full(self) -> np.ndarray:
        """The whole matrix (built once, then kept)."""
        if self._full is None:
            out = np.empty(self.shape)
            for a, e in row_ranges(self.shape[0]):
                out[a:e] = self.rows(a, e)
            self._full = out
        return self._full

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        full = self.full()
        return full if dtype is None else full.astype(dtype)

    @property
    def materialized(self) -> bool:
        """Whether the whole matrix is held."""
        return self._full is not None


def prototype_rows(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Positions of rows that hold every distinct value of each of ``columns`` (sorted, first row included).

    An encoding built on these rows finds the same categorical levels as one built on the whole frame.

    Examples
    --------
    >>> import pandas as pd
    >>> prototype_rows(pd.DataFrame({"g": ["b", "b", "a", "c", "a"]}), ["g"]).tolist()
    [0, 2, 3]
    """
    picks = [np.zeros(1, dtype=np.int64)]
    for col in columns:
        s = frame[col]
        codes = s.cat.codes.to_numpy() if isinstance(s.dtype, pd.CategoricalDtype) else pd.factorize(s)[0]
        first = np.full(int(codes.max()) + 2 if len(codes) else 1, -1, dtype=np.int64)
        first[codes[::-1] + 1] = np.arange(len(codes) - 1, -1, -1)  # codes -1 (missing) land in slot 0
        picks.append(first[1:][first[1:] >= 0])
    return np.unique(np.concatenate(picks))


def whole(M: np.ndarray | RowMatrix) -> np.ndarray:
    """The whole matrix: an array as it is, a :class:`RowMatrix` built (once) and kept."""
    return M if isinstance(M, np.ndarray) else M.full()
