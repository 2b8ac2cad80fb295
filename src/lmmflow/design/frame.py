"""The model frame: the rows and columns a fit uses, checked, with missing values dropped and counted.

Nothing here changes the caller's data: the frame is a new object holding only the columns the
formula needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from ..formula import FormulaError, ParsedFormula, cbind_parts
from .matrices import required_variables

__all__ = ["DataError", "ModelFrame", "align_series", "as_pandas", "build_model_frame", "required_columns"]


class DataError(ValueError):
    """Data that cannot be fitted, with the column or term at fault and what to do (a ``ValueError``).

    Examples
    --------
    >>> import lmmflow as lf
    >>> try:
    ...     lf.lmer("Reaction ~ Dayz + (1 | Subject)", lf.load_dataset("sleepstudy"))
    ... except lf.DataError as exc:
    ...     print("DataError:", "Dayz" in str(exc))
    DataError: True
    """


def as_pandas(data: object) -> pd.DataFrame:
    """Accept a pandas or polars frame, or a mapping of columns, and return a pandas DataFrame.

    Examples
    --------
    >>> as_pandas({"y": [1.0, 2.0], "g": ["a", "b"]}).shape
    (2, 2)
    """
    if isinstance(data, pd.DataFrame):
        return data
    mod = type(data).__module__
    if mod.startswith("polars") and hasattr(data, "to_pandas"):
        return data.to_pandas()
    if isinstance(data, dict):
        return pd.DataFrame(data)
    if hasattr(data, "to_pandas") and not mod.startswith("dask"):
        return data.to_pandas()
    raise DataError(
        f"data must be a pandas or polars DataFrame (or a dict of columns), got {type(data).__name__}"
    )


def _vars(rhs: str, what: str) -> set[str]:
    try:
        return set(required_variables(rhs))
    except Exception as exc:  # formulaic raises several kinds of parse errors
        raise FormulaError(f"cannot read the {what} {rhs!r}: {exc}") from exc


_NAME = re.compile(r"(?<![\w.])([A-Za-z_]\w*)(?![\w.(])(?!\s*=[^=])")
_STRING = re.compile(r"'[^']*'|\"[^\"]*\"")


def _named_columns(expr: str, columns: set[str]) -> set[str]:
    """Bare names in ``expr`` that are columns of the data.

    formulaic does not report the variables of stateful transforms (``center(Days)`` reads nothing, by
    its account), so the names that stand alone in the expression (not a function, module or keyword
    argument, not inside a string) and that the data has are added.
    """
    return {m for m in _bare_names(expr) if m in columns}


@lru_cache(maxsize=512)
def _bare_names(expr: str) -> tuple[str, ...]:
    return tuple(_NAME.findall(_STRING.sub("", expr)))


def required_columns(parsed: ParsedFormula, columns: Iterable[object] = ()) -> dict[str, set[str]]:
    """The data columns each part of the formula reads: response, fixed, and each random term.

    ``columns`` (the data's) lets names that formulaic misses inside stateful transforms be found.
    """
    columns = {str(c) for c in columns}
    parts = cbind_parts(parsed.response) or (parsed.response,)  # cbind(successes, failures): both read columns
    out: dict[str, set[str]] = {"response": set().union(*(_vars(e, "response") | _named_columns(e, columns)
                                                          for e in parts))}
    out["fixed"] = _vars(parsed.fixed, "fixed-effects part") | _named_columns(parsed.fixed, columns)
    for expr in getattr(parsed, "offsets", ()):  # offset(...) terms read columns too
        out["fixed"] |= _vars(f"I({expr})", "offset") | _named_columns(expr, columns)
    for term in parsed.random:
        out[f"({term.label})"] = (_vars(term.expr, f"random term ({term.label})") | set(term.group)
                                  | _named_columns(term.expr, columns))
    return out


@dataclass(frozen=True)
class ModelFrame:
    """The rows used by a fit and the bookkeeping around them.

    Attributes
    ----------
    data : pandas.DataFrame
        Only the columns the model reads, only the complete rows, index as in the caller's data.
    rows : numpy.ndarray
        Positions (0-based) in the caller's data of the rows used.
    n_dropped : int
        Rows dropped for missing values.
    weights, offset : numpy.ndarray or None
        Prior weights and offset for the rows used.
    na_action : str
        lme4's ``na.action`` the rows were chosen by ("na.omit" or "na.exclude": fitted values and
        residuals are then padded with NaN to ``input_index``).
    input_index : pandas.Index or None
        The caller's data's index (all rows).
    offset_column : str or None
        The column the offset was read from, if it was given by name (recomputed for new data).
    offset_values : bool
        An ``offset=`` was given as values (not a column): new data cannot recompute it.  The formula's
        ``offset(...)`` terms, added to ``offset`` by :func:`lmmflow.lformula`, are recomputed from their
        expressions (``FixedDesign.formula_offset``).
    """

    data: pd.DataFrame
    rows: np.ndarray
    n_dropped: int
    n_input: int
    weights: np.ndarray | None
    offset: np.ndarray | None
    na_action: str = "na.omit"
    input_index: pd.Index | None = None
    offset_column: str | None = None
    offset_values: bool = False


def _as_row_vector(value: object, data: pd.DataFrame, name: str) -> np.ndarray | None:
    """``value`` as one float per row of ``data``: a column name, a pandas Series aligned on the data's index
    (never by position), or an array-like taken by position (its length checked)."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in data.columns:
            raise DataError(f"{name}={value!r} is not a column of the data; columns are {list(data.columns)}")
        arr = data[value].to_numpy()
    elif isinstance(value, pd.Series):
        arr = align_series(value, data.index, name, "the data").to_numpy()
    else:
        arr = np.asarray(value)
    if arr.ndim != 1 or len(arr) != len(data):
        raise DataError(f"{name} must have one value per row of the data ({len(data)}), got shape {arr.shape}")
    try:
        return arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric, got values of type {arr.dtype}") from exc


def align_series(value: pd.Series, index: pd.Index, name: str, what: str) -> pd.Series:
    """A Series reordered to ``index`` by its labels, or a :class:`DataError` when its labels do not cover
    ``index`` (a Series is never used by position).

    Examples
    --------
    >>> import pandas as pd
    >>> align_series(pd.Series([1.0, 2.0], index=[1, 0]), pd.RangeIndex(2), "weights", "the data").tolist()
    [2.0, 1.0]
    """
    if value.index.equals(index):
        return value
    if not value.index.is_unique:
        raise DataError(f"{name}: the Series' index has duplicate labels, so it cannot be aligned with {what}'s "
                        "rows; pass a Series indexed like the data (or a numpy array, taken by position)")
    if not index.is_unique:
        raise DataError(f"{name}: {what}'s index has duplicate labels, so a Series cannot be aligned with it; "
                        "reset the data's index or pass a numpy array (taken by position)")
    missing = index.difference(value.index) if len(index) else index
    if len(missing):
        raise DataError(f"{name}: the Series' index does not match {what}'s: {len(missing)} row label(s) of "
                        f"{what} are missing from it (e.g. {list(missing[:3])}); a Series is aligned on the index, "
                        "never by position: pass one indexed like the data (or .to_numpy() to use positions)")
    return value.reindex(index)


def build_model_frame(
    parsed: ParsedFormula,
    data: pd.DataFrame,
    weights: object = None,
    offset: object = None,
    na_action: str = "na.omit",
    family: str | None = None,
) -> ModelFrame:
    """Select the columns a formula needs, check them and drop incomplete rows.

    Parameters
    ----------
    parsed : ParsedFormula
        The parsed formula.
    data : pandas.DataFrame
        The caller's data (not modified).
    weights, offset : str, array-like or None
        A column name or one value per row.
    na_action : {"na.omit", "na.exclude", "na.fail", "na.pass"}
        lme4's ``na.action`` for rows with missing values (see :func:`check_fit_na_action`).
    family : str, optional
        A GLMM's family: its response is read by :mod:`lmmflow.design.response` (categorical allowed).

    Raises
    ------
    DataError
        Empty data, unknown columns (named, with the term that reads them), infinite values,
        a non-numeric response, negative weights, or no complete rows.
    """
    if len(data) == 0:
        raise DataError("the data has no rows: pass a frame with at least a few observations")
    needed = required_columns(parsed, data.columns)
    if not data.columns.is_unique:
        dup = {str(c) for c in data.columns[data.columns.duplicated()]}
        used = sorted(dup & set().union(*needed.values()))
        if used:
            raise DataError(f"the data has several columns named {used}: rename them so each name is used once "
                            "(e.g. df.columns = [...] or df.loc[:, ~df.columns.duplicated()])")
    cols: list[str] = []
    for part, names in needed.items():
        for col in sorted(names):
            if col not in data.columns:
                where = "the response" if part == "response" else (
                    "the fixed effects" if part == "fixed" else f"random term {part}")
                close = [c for c in data.columns if str(c).lower() == col.lower()]
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                if col in ("factor", "as.factor") and not close:
                    hint = " (R's factor(x) is C(x) in lmmflow's formulas, e.g. ar1(0 + C(time) | id))"
                raise DataError(
                    f"column {col!r} used in {where} is not in the data{hint}; columns are {list(data.columns)}"
                )
            if col not in cols:
                cols.append(col)
    w = _as_row_vector(weights, data, "weights")
    off = _as_row_vector(offset, data, "offset")
    frame = _select_columns(data, cols)
    complete = np.ones(len(frame), dtype=bool)
    if w is not None:
        complete &= ~np.isnan(w)
    if off is not None:
        complete &= ~np.isnan(off)
    series = {}
    for col in cols:  # one pass per column: missing values, and infinite values in numeric columns
        s = series[col] = frame[col]
        if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu":
            continue  # numpy integers: neither missing nor infinite
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            vals = s.to_numpy() if s.dtype == np.float64 else s.to_numpy(dtype=float, na_value=np.nan)
            finite = np.isfinite(vals)
            if not finite.all():
                k = int(np.isinf(vals).sum())
                if k:
                    raise DataError(f"column {col!r} has {k} infinite value(s): remove or recode them before fitting")
                complete &= finite
            _check_magnitude(vals, col, parsed)
        elif isinstance(s.dtype, pd.CategoricalDtype):
            missing = np.asarray(s.array.codes) < 0  # code -1 is a missing value
            if missing.any():
                complete &= ~missing
        else:
            _check_value_types(s, col, parsed)
            if s.hasnans:
                complete &= ~s.isna().to_numpy()
    for arr, name in ((w, "weights"), (off, "offset")):
        if arr is not None and np.isinf(arr).any():
            raise DataError(f"{name} has {int(np.isinf(arr).sum())} infinite value(s): remove or recode them")
    if w is not None and (w[complete] < 0).any():
        raise DataError(f"weights must be non-negative ({int((w[complete] < 0).sum())} are negative), as in lme4")
    if w is not None and complete.any() and not (w[complete] > 0).any():
        raise DataError("weights are all zero on the rows used: at least one observation needs a positive weight")
    n_dropped = int((~complete).sum())
    check_fit_na_action(na_action, complete, frame, cols, w, off)
    if not complete.any():
        raise DataError(f"no complete rows: every row has a missing value in one of {cols}")
    rows = np.flatnonzero(complete)
    # a selection of columns is its own object (copy-on-write): the caller's frame can never change
    frame = frame.iloc[rows] if n_dropped else frame
    frame = _drop_unused_categories(frame)
    resp = parsed.response
    if resp in frame.columns and family is None:
        s = series[resp] if not n_dropped and resp in series else frame[resp]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            raise DataError(
                f"the response {resp!r} must be numeric, but it holds {s.dtype} values; "
                "convert it (e.g. pd.to_numeric) or choose a numeric column"
            )
    return ModelFrame(
        data=frame,
        rows=rows,
        n_dropped=n_dropped,
        n_input=len(data),
        weights=None if w is None else w[rows],
        offset=None if off is None else off[rows],
        na_action=na_action,
        input_index=data.index,
        offset_column=offset if isinstance(offset, str) else None,
        offset_values=offset is not None and not isinstance(offset, str),
    )


def _drop_unused_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """Categories no row uses are dropped, as lme4's model frame does (``drop.unused.levels = TRUE``): an
    unused first category would otherwise become the reference level of treatment contrasts, and every
    coefficient would change meaning (with an aliased column dropped)."""
    unused = {}
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype) and len(s.dtype.categories):
            codes = np.asarray(s.array.codes)
            used = np.bincount(codes[codes >= 0], minlength=len(s.dtype.categories))
            if not used.all():
                unused[col] = s.cat.remove_unused_categories()
    return frame.assign(**unused) if unused else frame


_HUGE = 1e150  # squares beyond ~1e300 overflow double precision in the cross-products


def _check_magnitude(vals: np.ndarray, col: str, parsed: ParsedFormula) -> None:
    """Values so large that their squares overflow: a clear error instead of overflow warnings and NaNs."""
    if not len(vals):
        return
    with np.errstate(invalid="ignore"):
        big = max(abs(float(np.nanmax(vals))), abs(float(np.nanmin(vals)))) if not np.isnan(vals).all() else 0.0
    if big > _HUGE:
        what = f"the response {col!r}" if col == parsed.response else f"column {col!r}"
        raise DataError(f"{what} is too large in magnitude (max |value| = {big:.3g}): its squares and "
                        "cross-products are not finite in double precision; rescale it (e.g. divide by a power "
                        "of 10) before fitting")


_MIXED = frozenset({"mixed", "mixed-integer"})


def _check_value_types(s: pd.Series, col: str, parsed: ParsedFormula) -> None:
    """An object column holding values of several kinds (ints and strings, ...) is refused, naming it.

    lme4 cannot meet this (an R column has one type); sorting such levels is not defined, and converting
    them to text would merge 1 and "1" silently, so the caller decides.
    """
    if s.dtype != object:
        return
    kind = pd.api.types.infer_dtype(s, skipna=True)
    if kind in _MIXED:
        types = sorted({type(v).__name__ for v in s.dropna().head(10_000)})
        grouping = any(col in t.group for t in parsed.random)
        what = "grouping column" if grouping else "column"
        raise DataError(f"{what} {col!r} mixes values of types {types}: convert it to one type first, e.g. "
                        f"df[{col!r}] = df[{col!r}].astype(str) (as R's factor(as.character(...)))")


FIT_NA_ACTIONS = ("na.omit", "na.exclude", "na.fail", "na.pass")


def check_fit_na_action(na_action: str, complete: np.ndarray, frame: pd.DataFrame, cols: list[str],
                        weights: np.ndarray | None = None, offset: np.ndarray | None = None) -> None:
    """Apply lme4's ``na.action`` to a fit's rows (``complete``: the rows without missing values).

    "na.omit" (the default) and "na.exclude" drop the incomplete rows ("na.exclude" pads fitted values and
    residuals with NaN to the data's rows, as R does); "na.fail" and "na.pass" accept no missing value: a
    :class:`DataError` names the columns that have them (a fit cannot use a row with a missing value).
    """
    if na_action not in FIT_NA_ACTIONS:
        raise DataError(f"na_action={na_action!r}: use one of {list(FIT_NA_ACTIONS)} (lme4's na.action)")
    if na_action in ("na.omit", "na.exclude") or complete.all():
        return
    counts = {c: int(frame[c].isna().sum()) for c in cols if frame[c].isna().any()}
    for arr, name in ((weights, "weights"), (offset, "offset")):
        if arr is not None and np.isnan(arr).any():
            counts[name] = int(np.isnan(arr).sum())
    raise DataError(f"missing values in {counts} (na_action={na_action!r}); drop or fill them, or use "
                    "na_action='na.omit' (drop those rows) or 'na.exclude' (drop them, pad fitted values "
                    "and residuals with NaN)")


_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3 or bool(getattr(pd.options.mode, "copy_on_write", False))


def _select_columns(data: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """The columns ``cols`` of ``data`` as a frame of its own, sharing the data (copy-on-write: neither frame
    can change the other).  A shallow copy when every column is used (15 times cheaper than ``data[cols]``)."""
    if _COPY_ON_WRITE and list(data.columns) == cols:
        return data.copy(deep=False)
    return data[cols]


class LevelLabels:
    """The text labels of a grouping factor's levels, formed on first use.

    A factor with 200,000 levels takes about 50 ms and 18 MiB of memory to label (an Index of 200,000
    strings), which most fits never read: the count is known at once, the labels when a table asks.

    Parameters
    ----------
    count : int
        Number of levels.
    make : callable
        Returns the labels (a pandas Index of strings, in code order).
    """

    def __init__(self, count: int, make: Callable[[], pd.Index]):
        self.count = int(count)
        self._make: Callable[[], pd.Index] | None = make
        self._labels: pd.Index | None = None

    @classmethod
    def of(cls, labels: pd.Index) -> LevelLabels:
        """Labels already formed."""
        out = cls(len(labels), lambda: labels)
        out._labels, out._make = labels, None
        return out

    def __len__(self) -> int:
        return self.count

    def __reduce__(self) -> tuple[object, tuple[pd.Index]]:
        # pickled (to worker processes) with the labels formed: the function that makes them may be local
        return LevelLabels.of, (self.index,)

    @property
    def index(self) -> pd.Index:
        """The labels (formed now if not yet)."""
        if self._labels is None:
            assert self._make is not None
            self._labels, self._make = self._make(), None
        return self._labels


def group_codes(frame: pd.DataFrame, columns: Iterable[str]) -> tuple[np.ndarray, pd.Index]:
    """Integer codes and sorted level labels of a grouping factor (an interaction if several columns).

    Grouping columns are categorical whatever their dtype; levels sort as lme4 sorts them (numbers
    numerically, text alphabetically), and an interaction ``a:b`` has labels ``"a1:b1"``.
    """
    codes, labels = group_codes_lazy(frame, columns)
    return codes, labels.index


def group_codes_lazy(frame: pd.DataFrame, columns: Iterable[str]) -> tuple[np.ndarray, LevelLabels]:
    """:func:`group_codes` with the labels formed only when first read (:class:`LevelLabels`)."""
    columns = list(columns)
    parts_codes, parts_levels = [], []
    for col in columns:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes, levels = _categorical_codes(s)
        else:
            values = s.to_numpy() if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu" else None
            if values is not None and len(values) and 0 <= values.min() and values.max() <= 4 * len(values):
                # non-negative integers of moderate range (ids): a table of the values, no sort, no hashing
                codes, uniques = _sorted_codes(values, int(values.max()) + 1)
            elif values is not None and len(s) <= 20_000:
                # small integer columns (no missing values): numpy's sort-based unique beats hashing's fixed cost
                uniques, codes = np.unique(values, return_inverse=True)
            else:
                # text (any size) and large columns: hash-based factorization, then only the uniques are sorted
                # (np.unique sorts the rows: 18,000 strings 20 ms against 1.6 ms)
                codes, uniques = pd.factorize(s, sort=True)
            levels = LevelLabels(len(uniques), lambda u=uniques: _labels_of(u))
        parts_codes.append(codes.astype(np.int64))
        parts_levels.append(levels)
    if len(columns) == 1:
        return parts_codes[0], parts_levels[0]
    # combine one column at a time and re-code (factorize) after each step: the codes stay below the number of
    # rows times one column's levels, so no product of level counts (60,000^4 > 2^63) can overflow int64.
    # Sorted factorization of prev * n_k + code keeps the levels in lexicographic order (lme4's for a:b).
    combo = parts_codes[0]
    picks = [np.arange(len(parts_levels[0]), dtype=np.int64)]  # per column: the level of each combined code
    for codes, levels in zip(parts_codes[1:], parts_levels[1:]):
        k = len(levels)
        combo, uniq = _sorted_codes(combo * k + codes, (len(picks[0])) * k)
        prev, this = np.divmod(uniq, k)
        picks = [p[prev] for p in picks] + [this]

    def labels() -> pd.Index:  # "a1:b1", formed when first read (3,000 levels: 3 ms)
        parts = [lv.index for lv in parts_levels]
        return pd.Index([":".join(t) for t in zip(*(np.asarray(part, dtype=object)[pick]
                                                      for part, pick in zip(parts, picks)))])

    return np.asarray(combo, dtype=np.int64), LevelLabels(len(picks[0]), labels)


def _sorted_codes(keys: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..k-1 of the distinct values of ``keys`` (non-negative, below ``bound``) in increasing order, and
    those values: by a table of the values when it is small (no sort), else by sorted factorization."""
    if bound <= 4 * len(keys) + 1024:
        used = np.zeros(bound, dtype=bool)
        used[keys] = True
        uniq = np.flatnonzero(used)
        rank = np.cumsum(used, dtype=np.int64) - 1
        return rank[keys], uniq.astype(np.int64)
    codes, uniq = pd.factorize(keys, sort=True)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniq, dtype=np.int64)


def _labels_of(uniques: object) -> pd.Index:
    values = uniques.tolist() if isinstance(uniques, np.ndarray) and uniques.dtype != object else uniques
    return pd.Index([_label(u) for u in values])


def _categorical_codes(s: pd.Series) -> tuple[np.ndarray, LevelLabels]:
    """Codes and text labels of a categorical column's used categories (in the categories' order)."""
    cats = s.dtype.categories
    codes = np.asarray(s.array.codes)  # the Categorical's own codes (s.cat.codes builds a Series)
    present = codes if len(codes) == 0 or codes.min() >= 0 else codes[codes >= 0]  # no copy without missing
    used = np.bincount(present, minlength=len(cats)) > 0
    if not used.all():  # unused categories are no levels: renumber the used ones
        codes = np.where(codes >= 0, (np.cumsum(used) - 1)[codes], -1)
        cats = cats[used]
    return codes, LevelLabels(len(cats), lambda: _category_labels(cats))


def _category_labels(cats: pd.Index) -> pd.Index:
    if cats.dtype.kind == "f":  # as for a numeric column (and R's factor()): 1.0 is "1"
        return pd.Index([_label(v) for v in cats.tolist()])
    if cats.dtype.kind in "iu" and len(cats) <= 1000:  # astype(str)'s labels without its fixed cost
        return pd.Index([str(v) for v in cats.tolist()])
    return pd.Index(cats.astype(str))


def _label(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
