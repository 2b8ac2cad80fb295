"""The fixed-effects model matrix: built by formulaic, checked for rank as lme4 does."""

from __future__ import annotations

import numpy as np
import pandas as pd
from formulaic import model_matrix
from formulaic.model_spec import ModelSpec

from ..core.crossprod import r_update
from ..formula import FormulaError
from .contrasts import apply_contrasts, check_levels, r_names, resolve_contrasts
from .frame import DataError
from .lazy import RowMatrix, whole
from .matrices import NumericSpec, build_matrix, rename_intercept, required_variables, row_source

__all__ = ["FixedDesign", "build_fixed", "build_response", "dropped_names", "formula_offset", "nonaliased_columns",
           "rename_intercept", "with_kept"]


class FixedDesign:
    """The fixed-effects matrix and how to rebuild it for new data.

    Parameters and attributes
    -------------------------
    X : numpy.ndarray or RowMatrix
        n x p, full column rank (aliased columns removed).  Given as a :class:`~lmmflow.design.lazy.RowMatrix`
        for large data: then ``X`` builds the whole matrix on first access, and ``matrix`` reads it in
        row blocks without holding it.
    names : list of str
        Column names in lme4's style (``(Intercept)``, ``recipe[T.B]:temp``).
    spec : formulaic.model_spec.ModelSpec or NumericSpec
        The encoding (levels, contrasts) to apply to new data.
    kept : numpy.ndarray
        Indices of the columns of the formulaic matrix that were kept.
    dropped : list of str
        Names of aliased columns dropped.
    offsets : tuple of str
        The expressions of the formula's ``offset(...)`` terms (:meth:`formula_offset` evaluates them on
        new data).
    contrasts : dict
        The contrast of each categorical column coded otherwise than by treatment contrasts (``sum``,
        ``helmert``, ``poly``; ordered categoricals get ``poly`` as in R); the spec encodes new data so.
    """

    def __init__(self, X: np.ndarray | RowMatrix, names: list[str], spec: ModelSpec | NumericSpec,
                 kept: np.ndarray, dropped: list[str], offsets: tuple[str, ...] = (),
                 contrasts: dict[str, str] | None = None):
        self._X = X
        self.names = list(names)
        self.spec = spec
        self.kept = np.asarray(kept)
        self.dropped = list(dropped)
        self.offsets = tuple(offsets)
        self.contrasts = dict(contrasts or {})

    @property
    def X(self) -> np.ndarray:
        """The whole n x p matrix (built on first access when the design reads it in row blocks)."""
        return whole(self._X)

    @property
    def matrix(self) -> np.ndarray | RowMatrix:
        """The matrix as the engine reads it: an array, or a row source (``rows(start, stop)``)."""
        return self._X

    @property
    def p(self) -> int:
        """Number of columns."""
        return self._X.shape[1]

    def encode(self, data: pd.DataFrame) -> np.ndarray:
        """The fixed-effects matrix of new data, encoded as at fit time."""
        # new data's categoricals may carry categories the fit never had (checked by the caller): their
        # values are encoded with the fit's levels, so pass them as plain values
        plain = {c: None for c in data.columns if isinstance(data[c].dtype, pd.CategoricalDtype)}
        mm = self.spec.get_model_matrix(_plain_categories(data, {**plain, **self.contrasts}), na_action="ignore")
        return np.asarray(mm, dtype=float)[:, self.kept]

    def formula_offset(self, data: pd.DataFrame) -> np.ndarray | None:
        """The sum of the formula's ``offset(...)`` terms on ``data`` (None when the formula has none)."""
        return formula_offset(self.offsets, data)

    def __repr__(self) -> str:
        return f"FixedDesign(names={self.names}, dropped={self.dropped})"


def _plain_categories(data: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """``data`` with the contrast-coded categorical columns as plain values: their levels are in the formula
    (``C(f, contr.sum, levels=[...])``), and pandas objects to re-categorizing a categorical with other
    categories."""
    cats = [c for c in columns if c in data.columns and isinstance(data[c].dtype, pd.CategoricalDtype)]
    if not cats:
        return data
    return data.assign(**{c: data[c].astype(object) for c in cats})


_R_MATH = {"log": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs, "log10": np.log10, "log2": np.log2,
           "log1p": np.log1p, "np": np}
"""R's names of the functions an offset commonly uses (``offset(log(n))``), besides numpy's."""


def formula_offset(exprs: tuple[str, ...] | list[str], data: pd.DataFrame) -> np.ndarray | None:
    """The sum of the offset expressions ``exprs`` evaluated on ``data``; None when there are none.

    Examples
    --------
    >>> import pandas as pd
    >>> formula_offset(("log(n)", "2 * x"), pd.DataFrame({"n": [1.0, 1.0], "x": [0.5, 1.0]})).tolist()
    [1.0, 2.0]
    """
    if not exprs:
        return None
    from formulaic import model_matrix

    total = np.zeros(len(data))
    for expr in exprs:
        try:
            with np.errstate(divide="ignore", invalid="ignore"):  # log(0) and the like: the error below says it
                mm = model_matrix(f"0 + I({expr})", data, na_action="ignore", output="numpy", context=_R_MATH)
            vals = np.asarray(mm, dtype=float)
        except Exception as exc:
            raise FormulaError(f"cannot evaluate offset({expr}): {exc}") from exc
        if vals.ndim != 2 or vals.shape[1] != 1:
            raise FormulaError(f"offset({expr}) must be one numeric value per row")
        vals = vals[:, 0]
        if not np.isfinite(vals).all():
            k = int((~np.isfinite(vals)).sum())
            raise DataError(f"offset({expr}) is missing or infinite on {k} row(s) (e.g. log of zero or a negative "
                            "number): fix or drop those rows first")
        total += vals
    return total


def _r_factor(X: np.ndarray) -> np.ndarray:
    """The R factor of a QR decomposition of X (up to row signs), by blocks of rows (a TSQR), which keeps
    LAPACK in cache (2.5 times as fast as one QR of InstEval's 73,421 x 28 matrix)."""
    return r_update(np.zeros((0, X.shape[1])), X)


_CLEAR_MARGIN = 1e-4
"""A column whose distance from the span of the columns before it exceeds this share of its norm, by the
Cholesky factor of X'X, is independent beyond doubt: squaring loses about half the digits (relative
error near 1e-16 / 1e-8 = 1e-8 in the distance), far from R's 1e-7 threshold."""


def _clearly_independent(X: np.ndarray, norms: np.ndarray) -> bool:
    """Whether no column of X comes anywhere near aliasing, from the Cholesky factor of X'X (a quarter of a
    QR's time); borderline and aliased designs are left to the QR."""
    try:
        L = np.linalg.cholesky(X.T @ X)
    except np.linalg.LinAlgError:
        return False
    return bool(np.all(np.diagonal(L) > _CLEAR_MARGIN * norms))


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
    if len(X) >= 4 * p and np.all(norms > 0) and _clearly_independent(X, norms):
        return np.arange(p)
    R = _r_factor(X)  # X = QR: column relations of X are those of R, at p x p cost
    if R.shape[0] >= p and np.all(np.abs(np.diagonal(R)) > tol * norms):
        # |R_jj| is column j's distance from the span of the columns before it: none is aliased
        return np.arange(p)
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


def build_fixed(rhs: str, frame: pd.DataFrame, stream: bool = False, contrasts: dict[str, str] | None = None,
                offsets: tuple[str, ...] = ()) -> FixedDesign:
    """Build the fixed-effects matrix for ``rhs`` on the model frame.

    With ``stream``, when the encoding can be fixed without encoding every row (see
    :func:`lmmflow.design.matrices.build_spec`), the design holds a :class:`RowMatrix` of all the
    formula's columns and no aliased column is dropped yet: the caller finds them from the R factor of the
    row blocks (:meth:`lmmflow.core.CrossProducts.build` with ``select``) and calls :meth:`with_kept`.

    ``contrasts`` maps categorical columns to ``"treatment"``, ``"sum"``, ``"helmert"`` or ``"poly"`` (see
    :mod:`lmmflow.design.contrasts`); ``offsets`` are the formula's offset expressions, kept for new data.
    """
    try:
        used = {c for c in required_variables(rhs) if c in frame.columns}
    except Exception as exc:
        raise FormulaError(f"cannot read the fixed effects {rhs!r}: {exc}") from exc
    kinds = resolve_contrasts(contrasts, frame, used)
    rhs, wrapped = apply_contrasts(rhs, kinds, frame)
    chosen = {c: k for c, (k, _) in wrapped.items()}
    if stream:
        try:
            found = row_source(rhs, frame, f"fixed effects {rhs!r}")
        except Exception as exc:
            raise FormulaError(f"cannot build the fixed effects {rhs!r}: {exc}") from exc
        if found is not None:
            source, names, spec = found
            names = r_names(names, spec, {})
            check_levels(spec, frame, "the fixed effects")
            return FixedDesign(X=source, names=names, spec=spec, kept=np.arange(len(names)), dropped=[],
                               offsets=offsets, contrasts=chosen)
    try:
        X, raw_names, spec = build_matrix(rhs, _plain_categories(frame, chosen))
    except Exception as exc:
        raise FormulaError(f"cannot build the fixed effects {rhs!r}: {exc}") from exc
    check_levels(spec, frame, "the fixed effects")
    names = r_names(rename_intercept(raw_names), spec, wrapped)
    if X.shape[1] and not np.isfinite(X).all():
        bad = [names[j] for j in range(X.shape[1]) if not np.isfinite(X[:, j]).all()]
        raise FormulaError(f"fixed-effect column(s) {bad} have missing or infinite values "
                           "(e.g. log of zero or a negative number); transform the data first")
    kept = nonaliased_columns(X)
    dropped = dropped_names(names, kept)
    X = X if len(kept) == X.shape[1] else np.ascontiguousarray(X[:, kept])
    return FixedDesign(X=X, names=[names[j] for j in kept],
                       spec=spec, kept=kept, dropped=dropped, offsets=offsets, contrasts=chosen)


def dropped_names(names: list[str], kept: np.ndarray) -> list[str]:
    """The names of the columns not in ``kept`` (the aliased ones), in order."""
    keep = set(np.asarray(kept).tolist())
    return [nm for j, nm in enumerate(names) if j not in keep]


def with_kept(fixed: FixedDesign, kept: np.ndarray) -> FixedDesign:
    """A streamed design's fixed part restricted to the non-aliased columns ``kept``."""
    kept = np.asarray(kept, dtype=int)
    if len(kept) == len(fixed.names):
        return fixed
    source = fixed.matrix
    names = [fixed.names[j] for j in kept]
    # the kept columns' encoding is FixedDesign.encode of a design with these columns
    encoder = FixedDesign(X=source, names=names, spec=fixed.spec, kept=kept, dropped=[])
    sub = RowMatrix(encoder.encode, source.frame, len(kept), source.label, names)
    return FixedDesign(X=sub, names=names, spec=fixed.spec, kept=kept, dropped=dropped_names(fixed.names, kept),
                       offsets=fixed.offsets, contrasts=fixed.contrasts)


def build_response(response: str, frame: pd.DataFrame) -> np.ndarray:
    """The response vector; an expression such as ``np.log(y)`` is evaluated by formulaic."""
    plain = response[1:-1] if response.startswith("`") and response.endswith("`") else response
    if plain in frame.columns:
        s = frame[plain]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            raise DataError(f"the response {plain!r} must be numeric, but it holds {s.dtype} values; "
                            "convert it (e.g. pd.to_numeric) or choose a numeric column")
        y = s.to_numpy(dtype=float)
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
