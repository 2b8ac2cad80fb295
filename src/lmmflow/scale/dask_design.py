"""The design of a fit on a Dask DataFrame: global levels gathered in one pass, encodings fixed once.

A :class:`DaskDesign` plays the part of :class:`lmmflow.ModelDesign` for a fit whose rows never come to
the driver: it holds the level tables of the grouping factors, the names and formulaic specs of the
fixed and random-effects columns, and the counts of rows used and dropped; no per-row arrays.

How every partition encodes the same way:

1. The model frame of each partition is built with :func:`lmmflow.design.frame.build_model_frame`
   (the in-memory rules: rows with a missing value in any used column, weights or offset are dropped
   and counted; infinite values and non-numeric responses are errors).
2. One pass (:func:`partition_levels`) collects, per partition, the unique values of the grouping
   columns and of every column that feeds a categorical factor of the fixed or random-effects part
   (text columns, ``C(x)``), and unique combinations for interaction grouping factors (``a:b``).  They
   are reduced on the driver into the global, sorted level sets the in-memory fit would find.
3. The formulaic specs are built once, on a small prototype frame that holds every global level of
   each categorical column; ``spec.get_model_matrix(partition)`` then encodes every partition with the
   same columns.  Grouping factors are coded against the global level tables (:class:`GroupCoder`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..design.fixed import FixedDesign, build_response, rename_intercept
from ..design.frame import DataError, ModelFrame, _label, build_model_frame, required_columns
from ..design.matrices import build_matrix, required_variables
from ..design.random import ReTerm, check_term_sizes
from ..formula import FormulaError, ParsedFormula

__all__ = ["DaskDesign", "EncodePlan", "GroupCoder", "LevelSummary", "build_plan", "finish_design",
           "partition_frame", "partition_levels", "reduce_levels"]


@dataclass(frozen=True)
class EncodePlan:
    """What every partition needs to select and check its rows (sent to the workers).

    Attributes
    ----------
    parsed : ParsedFormula
    columns : list of str
        The formula's columns (those of the model frame), in the in-memory order.
    weights, offset : str or None
        Column names.
    gather : tuple of str
        Columns whose unique values are collected (grouping columns, categorical-feeding columns).
    interactions : tuple of tuple of str
        Grouping factors made of several columns.
    """

    parsed: ParsedFormula
    columns: list[str]
    weights: str | None
    offset: str | None
    gather: tuple[str, ...]
    interactions: tuple[tuple[str, ...], ...]

    @property
    def read_columns(self) -> list[str]:
        """The columns read from the data: the formula's, then the weights and offset columns."""
        extra = [c for c in (self.weights, self.offset) if c is not None and c not in self.columns]
        return list(self.columns) + list(dict.fromkeys(extra))


@dataclass(frozen=True)
class GroupCoder:
    """Global level codes of one grouping factor (a column, or an interaction of columns).

    Attributes
    ----------
    cols : tuple of str
    raw : list of pandas.Index
        Each column's values in level order (as :func:`lmmflow.design.frame.group_codes` orders them).
    combos : numpy.ndarray or None
        For an interaction: the sorted combined codes that occur (mixed radix over ``raw``).
    labels : pandas.Index or None
        Level labels (strings, ``"a1:b1"`` for interactions), in code order; None in the copies sent
        to the workers, which need only the codes.

    Examples
    --------
    >>> import pandas as pd
    >>> c = GroupCoder(("g",), [pd.Index([1, 5, 9])], None, pd.Index(["1", "5", "9"]))
    >>> c.codes(pd.DataFrame({"g": [9, 1, 7]})).tolist()
    [2, 0, -1]
    """

    cols: tuple[str, ...]
    raw: list[pd.Index]
    combos: np.ndarray | None
    labels: pd.Index | None

    @property
    def nlevels(self) -> int:
        """Number of levels."""
        return len(self.raw[0]) if self.combos is None else len(self.combos)

    def for_workers(self) -> GroupCoder:
        """A copy without the labels (smaller to send)."""
        return GroupCoder(self.cols, self.raw, self.combos, None)

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        """Level code of each row of ``frame``; -1 for a level not in the table."""
        parts = [_lookup(raw, frame[c]) for c, raw in zip(self.cols, self.raw)]
        if self.combos is None:
            return parts[0]
        combo = np.zeros(len(frame), dtype=np.int64)
        bad = np.zeros(len(frame), dtype=bool)
        for codes, raw in zip(parts, self.raw):
            bad |= codes < 0
            combo = combo * len(raw) + codes
        return _sorted_lookup(self.combos, combo, bad)


def _sorted_lookup(table: np.ndarray, values: np.ndarray, bad: np.ndarray | None = None) -> np.ndarray:
    """Positions of ``values`` in the sorted array ``table``; -1 where absent (or ``bad``)."""
    if len(table) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(table, values), len(table) - 1)
    ok = table[pos] == values
    if bad is not None:
        ok &= ~bad
    return np.where(ok, pos, -1).astype(np.int64)


def _lookup(raw: pd.Index, values: pd.Series) -> np.ndarray:
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if raw.dtype.kind in "iuf" and values.dtype.kind in "iuf" and raw.is_monotonic_increasing:
        return _sorted_lookup(raw.to_numpy(), values.to_numpy())  # binary search: no hash table of the levels
    return np.asarray(raw.get_indexer(values.to_numpy()), dtype=np.int64)


@dataclass
class DaskModelFrame:
    """The model frame's bookkeeping for a Dask fit (the rows stay in the partitions).

    Attributes
    ----------
    data : None
        Not kept here: ``DaskLmerResult.data`` builds the model frame lazily from the source.
    n_dropped, n_input : int
        Rows dropped for missing values, and rows in the input.
    weights, offset : None
        Per-row arrays are not kept; see ``DaskLmerResult.weights``.
    """

    data: Any
    n_dropped: int
    n_input: int
    weights: None = None
    offset: None = None
    rows: None = None


@dataclass
class DaskDesign:
    """The design of a fit on a Dask DataFrame: level tables, names and encodings, no per-row arrays.

    It has the attributes of :class:`lmmflow.ModelDesign` that a result reads from its solution
    (``formula``, ``frame``, ``fixed``, ``terms``, ``n``, ``X`` with zero rows); the per-row parts are
    replaced by ``source`` (the Dask frame) and ``plan``/``coders`` (how to encode a partition).

    Attributes
    ----------
    formula : ParsedFormula
    frame : DaskModelFrame
    fixed : FixedDesign
        ``X`` has zero rows; ``names``, ``spec``, ``kept``, ``dropped`` as in memory.
    terms : list of ReTerm
        Engine order; ``codes`` and ``Z`` have zero rows; ``levels``, ``cnames``, ``blocks``, ``specs``.
    n : int
        Observations used.
    coders : list of GroupCoder
        One per term, aligned with ``terms``.
    plan : EncodePlan
    source : dask.dataframe.DataFrame
        The input, restricted to the columns used.
    fixed_names_full : list of str
        Names of all fixed-effect columns (before aliased columns are dropped).
    shift : numpy.ndarray
        Coefficients (on all fixed-effect columns) subtracted from y before the cross-products: the
        response mean on the intercept, so y'y stays at the scale of the residuals (the in-memory path
        subtracts the least-squares fit, ``CrossProducts.build(center=...)``).
    """

    formula: ParsedFormula
    frame: DaskModelFrame
    fixed: FixedDesign
    terms: list[ReTerm]
    n: int
    coders: list[GroupCoder]
    plan: EncodePlan
    source: Any
    fixed_names_full: list[str] = field(default_factory=list)
    shift: np.ndarray | None = None

    @property
    def X(self) -> np.ndarray:
        """A 0 x p array: the fixed-effect columns without rows (the rows stay in the partitions)."""
        return self.fixed.X

    @property
    def y(self) -> np.ndarray:
        """Not available: the response stays in the partitions."""
        raise AttributeError("a Dask fit keeps no per-row arrays; the response is in m.data (a Dask frame)")

    def with_response(self, y: np.ndarray) -> DaskDesign:
        """Not available for a Dask design (the response stays in the partitions)."""
        raise NotImplementedError("a Dask design cannot take a new response vector; fit lf.lmer on a frame "
                                  "holding the new response")

    def encoder(self, all_columns: bool = False) -> PartitionEncoder:
        """What a worker needs to encode a partition (picklable).

        Parameters
        ----------
        all_columns : bool
            Encode all of formulaic's fixed-effect columns (before aliased ones are dropped).
        """
        return PartitionEncoder(plan=self.plan, fixed_spec=self.fixed.spec,
                                kept=None if all_columns else np.asarray(self.fixed.kept),
                                term_specs=[list(t.specs) for t in self.terms],
                                coders=[c.for_workers() for c in self.coders])


@dataclass(frozen=True)
class PartitionEncoder:
    """Encodes one partition's rows: its model frame, response, fixed-effect matrix, codes and Z.

    Attributes
    ----------
    plan : EncodePlan
    fixed_spec : Any
    kept : numpy.ndarray or None
        Fixed-effect columns to keep (None: all of the spec's columns).
    term_specs : list of list of Any
    coders : list of GroupCoder
    """

    plan: EncodePlan
    fixed_spec: Any
    kept: np.ndarray | None
    term_specs: list[list[Any]]
    coders: list[GroupCoder]

    def frame(self, pdf: pd.DataFrame) -> ModelFrame | None:
        """The partition's model frame, or None when it has no complete rows."""
        return partition_frame(pdf, self.plan)

    def response(self, frame: ModelFrame) -> np.ndarray:
        """The response (offset not subtracted)."""
        return build_response(self.plan.parsed.response, frame.data)

    def fixed(self, frame: ModelFrame) -> np.ndarray:
        """The fixed-effects matrix of the rows."""
        X = np.asarray(self.fixed_spec.get_model_matrix(frame.data, na_action="ignore"), dtype=float)
        if X.shape[1] and not np.isfinite(X).all():
            raise FormulaError(f"fixed-effect column(s) of {self.plan.parsed.fixed!r} have missing or infinite "
                               "values (e.g. log of zero or a negative number); transform the data first")
        return X if self.kept is None else X[:, self.kept]

    def terms(self, frame: ModelFrame) -> list[tuple[np.ndarray, np.ndarray]]:
        """Global level codes and Z values of each term."""
        out = []
        for specs, coder in zip(self.term_specs, self.coders):
            codes = coder.codes(frame.data)
            if (codes < 0).any():
                raise DataError(f"grouping factor {':'.join(coder.cols)!r} has a level that the first pass did "
                                "not see: did the data change between the passes?")
            cols = [np.asarray(s.get_model_matrix(frame.data, na_action="ignore"), dtype=float) for s in specs]
            Z = np.ascontiguousarray(np.column_stack(cols))
            if not np.isfinite(Z).all():
                raise FormulaError(f"random term (... | {':'.join(coder.cols)}) has missing or infinite values "
                                   "after evaluation")
            out.append((codes, Z))
        return out


def normalize_text(pdf: pd.DataFrame) -> pd.DataFrame:
    """Text columns with pandas' NA-valued string dtype (what Dask and pyarrow produce) as pandas' default
    ``str`` dtype, which formulaic encodes as categorical, as it does for a pandas frame in memory."""
    out = None
    for col in pdf.columns:
        dtype = pdf[col].dtype
        if isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA:
            out = pdf.copy() if out is None else out
            out[col] = pdf[col].astype(pd.StringDtype(dtype.storage, na_value=np.nan))
    return pdf if out is None else out


def partition_frame(pdf: pd.DataFrame, plan: EncodePlan) -> ModelFrame | None:
    """A partition's model frame by the in-memory rules, or None when no row is complete."""
    if len(pdf) == 0:
        return None
    pdf = normalize_text(pdf[plan.read_columns])
    if not pdf.notna().all(axis=1).any():
        return None
    return build_model_frame(plan.parsed, pdf, weights=plan.weights, offset=plan.offset)


# ---- planning: which columns, which are categorical ------------------------------------------------------
def _categorical_columns(exprs: list[str], proto: pd.DataFrame) -> set[str]:
    """Columns that feed a categorical factor of any of the formula parts (text columns, ``C(x)``)."""
    out: set[str] = set()
    for expr in exprs:
        try:
            spec = build_matrix(expr, proto)[2]
        except Exception as exc:  # formulaic raises several kinds
            raise FormulaError(f"cannot build {expr!r}: {exc}") from exc
        state = getattr(spec, "transform_state", None) or {}
        if state:
            raise FormulaError(
                f"{expr!r} uses a stateful transform ({', '.join(state)}) whose state (e.g. a mean) would "
                "come from one partition; compute that column before fitting on Dask")
        for name, (kind, _state) in (getattr(spec, "encoder_state", None) or {}).items():
            if getattr(kind, "value", kind) == "categorical":
                out |= set(required_variables(name)) & set(proto.columns)
    return out


def build_plan(parsed: ParsedFormula, ddf: Any, weights: str | None, offset: str | None) -> EncodePlan:
    """Decide the columns to read and the columns whose levels the first pass gathers.

    Parameters
    ----------
    parsed : ParsedFormula
    ddf : dask.dataframe.DataFrame
        Used only for its column names and dtypes (``_meta_nonempty``); nothing is computed.
    weights, offset : str or None
        Column names.
    """
    needed = required_columns(parsed)
    cols: list[str] = []
    for part, names in needed.items():
        for col in sorted(names):
            if col not in ddf.columns:
                where = "the response" if part == "response" else (
                    "the fixed effects" if part == "fixed" else f"random term {part}")
                raise DataError(f"column {col!r} used in {where} is not in the data; columns are "
                                f"{list(ddf.columns)}")
            if col not in cols:
                cols.append(col)
    for value, name in ((weights, "weights"), (offset, "offset")):
        if value is None:
            continue
        if not isinstance(value, str):
            raise DataError(f"{name}= must be a column name when fitting from Dask or Parquet (one value per "
                            "row cannot be lined up with the partitions)")
        if value not in ddf.columns:
            raise DataError(f"{name}={value!r} is not a column of the data; columns are {list(ddf.columns)}")
    meta = normalize_text(ddf._meta_nonempty[cols])
    categorical = _categorical_columns([parsed.fixed] + [t.expr for t in parsed.random], meta)
    grouping = {c for t in parsed.random for c in t.group}
    ordered = sorted(c for c in categorical - grouping
                     if isinstance(meta[c].dtype, pd.CategoricalDtype) and meta[c].dtype.ordered)
    if ordered:  # in memory they get R's polynomial contrasts; treatment coding here would differ silently
        raise DataError(f"ordered categorical column(s) {ordered}: R (and an in-memory lmmflow fit) code them with "
                        "polynomial contrasts, which fits from Dask data do not support yet; fit an in-memory frame, "
                        "or make them unordered (df[col].cat.as_unordered()) for treatment contrasts")
    groups = [tuple(t.group) for t in parsed.random]
    gather = list(dict.fromkeys([c for g in groups for c in g] + sorted(categorical)))
    interactions = tuple(dict.fromkeys(g for g in groups if len(g) > 1))
    return EncodePlan(parsed=parsed, columns=cols, weights=weights, offset=offset,
                      gather=tuple(gather), interactions=interactions)


# ---- the levels pass -------------------------------------------------------------------------------------
def partition_levels(pdf: pd.DataFrame, plan: EncodePlan, nsample: int = 5) -> dict[str, Any]:
    """One partition's part of the levels pass: row counts, unique values, a few complete rows.

    Parameters
    ----------
    pdf : pandas.DataFrame
        The partition.
    plan : EncodePlan
    nsample : int
        Complete rows kept as a sample (to build the encodings on).

    Returns
    -------
    dict
        ``n_input``, ``n``, ``uniques`` (column -> array), ``combos`` (interaction -> frame), ``sample``,
        and ``wy``, ``w`` (weighted sums of the response, for its mean).
    """
    out: dict[str, Any] = {"n_input": len(pdf), "n": 0, "uniques": {}, "combos": {}, "sample": None,
                           "wy": 0.0, "w": 0.0}
    frame = partition_frame(pdf, plan)
    if frame is None:
        return out
    data = frame.data
    out["n"] = len(data)
    y = build_response(plan.parsed.response, data)
    if frame.offset is not None:
        y = y - frame.offset
    w = frame.weights if frame.weights is not None else np.ones(len(y))
    out["wy"], out["w"] = float(w @ y), float(w.sum())
    for col in plan.gather:
        s = data[col]
        out["uniques"][col] = (s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s).unique()
    for cols in plan.interactions:
        out["combos"][cols] = data[list(cols)].drop_duplicates().reset_index(drop=True)
    out["sample"] = data.head(nsample)
    return out


@dataclass
class LevelSummary:
    """The levels pass reduced on the driver (sizes depend on the levels, not the rows)."""

    n_input: int = 0
    n: int = 0
    uniques: dict[str, list[np.ndarray]] = field(default_factory=dict)
    combos: dict[tuple[str, ...], list[pd.DataFrame]] = field(default_factory=dict)
    sample: pd.DataFrame | None = None
    wy: float = 0.0
    w: float = 0.0

    @property
    def y_mean(self) -> float:
        """The (weighted) mean of the response minus offset over the rows used."""
        return self.wy / self.w if self.w > 0 else 0.0

    def add(self, part: dict[str, Any]) -> None:
        """Fold one partition's result in."""
        self.n_input += part["n_input"]
        self.n += part["n"]
        self.wy += part["wy"]
        self.w += part["w"]
        for col, vals in part["uniques"].items():
            self.uniques.setdefault(col, []).append(vals)
        for cols, frame in part["combos"].items():
            self.combos.setdefault(cols, []).append(frame)
        if self.sample is None and part["sample"] is not None and len(part["sample"]):
            self.sample = part["sample"]


def _global_raw(parts: list[np.ndarray], dtype: Any) -> tuple[pd.Index, pd.Index]:
    """Raw values in level order and their labels, as ``group_codes`` orders and labels them."""
    allv = pd.Index(np.concatenate([np.asarray(p) for p in parts])).unique()
    if isinstance(dtype, pd.CategoricalDtype) and dtype.categories is not None \
            and "__UNKNOWN_CATEGORIES__" not in list(dtype.categories.astype(str)):
        cats = dtype.categories
        raw = cats[cats.isin(allv)]
        return pd.Index(raw), pd.Index(raw.astype(str))
    raw = allv.sort_values()
    return raw, pd.Index([_label(u) for u in raw])


def reduce_levels(summary: LevelSummary, plan: EncodePlan, dtypes: dict[str, Any]) -> tuple[
        dict[str, tuple[pd.Index, pd.Index]], dict[tuple[str, ...], GroupCoder]]:
    """Global levels per gathered column, and a coder per grouping factor."""
    levels = {}
    for col in plan.gather:
        parts = summary.uniques.get(col, [])
        levels[col] = _global_raw(parts, dtypes.get(col)) if parts else (pd.Index([]), pd.Index([]))
    coders: dict[tuple[str, ...], GroupCoder] = {}
    for term in plan.parsed.random:
        group = tuple(term.group)
        if group in coders:
            continue
        raws = [levels[c][0] for c in group]
        labels_by_col = [levels[c][1] for c in group]
        if len(group) == 1:
            coders[group] = GroupCoder(cols=group, raw=raws, combos=None, labels=labels_by_col[0])
            continue
        frames = summary.combos.get(group, [])
        combo = np.zeros(0, dtype=np.int64)
        if frames:
            allc = pd.concat(frames, ignore_index=True)
            combo = np.zeros(len(allc), dtype=np.int64)
            for c, raw in zip(group, raws):
                combo = combo * len(raw) + _lookup(raw, allc[c])
            combo = np.unique(combo)
        labels = []
        for u in combo:
            idx, rest = [], int(u)
            for raw in reversed(raws):
                idx.append(rest % len(raw))
                rest //= len(raw)
            labels.append(":".join(labels_by_col[i][j] for i, j in enumerate(reversed(idx))))
        coders[group] = GroupCoder(cols=group, raw=raws, combos=combo, labels=pd.Index(labels))
    return levels, coders


def _prototype(sample: pd.DataFrame, levels: dict[str, tuple[pd.Index, pd.Index]],
               categorical: set[str]) -> pd.DataFrame:
    """A small frame holding every global level of each categorical column (to build the encodings on)."""
    sizes = [len(sample)] + [len(levels[c][0]) for c in categorical if c in levels]
    m = max(sizes)
    proto = sample.iloc[np.arange(m) % len(sample)].reset_index(drop=True)
    for col in categorical:
        raw = levels[col][0]
        if not len(raw):
            continue
        vals = np.asarray(raw, dtype=object)[np.arange(m) % len(raw)]
        dtype = sample[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            proto[col] = pd.Categorical(vals, dtype=dtype)
        else:
            proto[col] = pd.Series(vals).astype(dtype)
    return proto


def finish_design(plan: EncodePlan, summary: LevelSummary, ddf: Any, allow_n: bool = False) -> DaskDesign:
    """Build the :class:`DaskDesign` from the reduced levels pass (before the cross-products pass).

    The fixed part keeps all of formulaic's columns here; aliased columns are found from the
    cross-products (see :func:`lmmflow.scale.dask_fit.lmer_dask`) and dropped there.  ``allow_n`` (a GLMM)
    is lme4's ``allow.n`` (:func:`lmmflow.design.random.check_term_sizes`).

    Raises
    ------
    DataError
        No complete rows; a grouping factor with fewer than 2 levels, with as many levels as rows, or
        more random effects than rows (the in-memory checks and messages).
    """
    parsed = plan.parsed
    if summary.n_input == 0:
        raise DataError("the data has no rows: pass a frame with at least a few observations")
    if summary.n == 0 or summary.sample is None:
        raise DataError(f"no complete rows: every row has a missing value in one of {plan.columns}")
    dtypes = {c: ddf.dtypes[c] for c in plan.read_columns}
    levels, coders = reduce_levels(summary, plan, dtypes)
    categorical = _categorical_columns([parsed.fixed] + [t.expr for t in parsed.random], summary.sample)
    proto = _prototype(summary.sample, levels, categorical & set(levels))
    try:
        _, raw_names, spec = build_matrix(parsed.fixed, proto)
    except Exception as exc:
        raise FormulaError(f"cannot build the fixed effects {parsed.fixed!r}: {exc}") from exc
    names = rename_intercept(raw_names)
    fixed = FixedDesign(X=np.zeros((0, len(names))), names=names, spec=spec,
                        kept=np.arange(len(names)), dropped=[])
    terms, term_coders = _random_terms(parsed, proto, coders)
    n = summary.n
    check_term_sizes(terms, n, allow_n=allow_n)
    frame = DaskModelFrame(data=None, n_dropped=summary.n_input - n, n_input=summary.n_input)
    shift = np.zeros(len(names))
    if "(Intercept)" in names:
        shift[names.index("(Intercept)")] = summary.y_mean
    return DaskDesign(formula=parsed, frame=frame, fixed=fixed, terms=terms, n=n, coders=term_coders,
                      plan=plan, source=ddf, fixed_names_full=names, shift=shift)


def _random_terms(parsed: ParsedFormula, proto: pd.DataFrame,
                  coders: dict[tuple[str, ...], GroupCoder]) -> tuple[list[ReTerm], list[GroupCoder]]:
    """The random-effects terms, merged and ordered as :func:`lmmflow.design.random.build_random_terms` does."""
    merged: dict[tuple[str, ...], list[tuple[Any, list[str], Any]]] = {}
    for term in parsed.random:
        try:
            _, raw_names, spec = build_matrix(term.expr, proto)
        except Exception as exc:
            raise FormulaError(f"cannot build random term ({term.label}): {exc}") from exc
        names = rename_intercept(raw_names)
        if not names:
            raise FormulaError(f"random term ({term.label}) has no columns")
        merged.setdefault(tuple(term.group), []).append((term, names, spec))
    out: list[tuple[ReTerm, GroupCoder]] = []
    for group, pieces in merged.items():
        coder = coders[group]
        names_seen: list[str] = []
        groups_of_pieces: list[list[tuple[Any, list[str], Any]]] = [[]]
        for piece in pieces:
            if set(piece[1]) & set(names_seen):
                groups_of_pieces.append([piece])
                names_seen = list(piece[1])
            else:
                groups_of_pieces[-1].append(piece)
                names_seen += piece[1]
        for grp in groups_of_pieces:
            cnames = [nm for pc in grp for nm in pc[1]]
            blocks, start = [], 0
            for pc in grp:
                blocks.append(list(range(start, start + len(pc[1]))))
                start += len(pc[1])
            term = ReTerm(group=":".join(group), group_cols=group, levels=pd.Index(coder.labels),
                          codes=np.zeros(0, dtype=np.int64), Z=np.zeros((0, len(cnames))), cnames=cnames,
                          blocks=blocks, specs=[pc[2] for pc in grp], exprs=[pc[0].expr for pc in grp])
            out.append((term, coder))
    order = sorted(range(len(out)), key=lambda i: -out[i][0].nlevels)
    return [out[i][0] for i in order], [out[i][1] for i in order]
