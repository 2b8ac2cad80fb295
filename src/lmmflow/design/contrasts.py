"""R's contrasts for categorical predictors: ``contr.treatment``, ``contr.sum``, ``contr.helmert``, ``contr.poly``.

A column given a contrast (or an ordered pandas categorical, which gets ``contr.poly`` as in R) is written
``C(col, contr.<kind>, levels=[...])`` in the formula formulaic reads, with the levels the rows used hold
(R drops unused levels); the spec formulaic keeps then encodes new data the same way.  The columns are
renamed as R prints them: ``f1``, ``f2`` for sum and Helmert contrasts, ``f.L``, ``f.Q``, ``f.C``, ``f^4`` for
polynomial ones; treatment contrasts and full dummy coding keep lmmflow's names (``f[T.b]``, ``f[a]``).

Examples
--------
>>> import pandas as pd
>>> d = pd.DataFrame({"f": ["a", "b", "c", "a"]})
>>> rhs, wrapped = apply_contrasts("1 + f", {"f": "sum"}, d)
>>> rhs
"1 + C(f, contr.sum, levels=['a', 'b', 'c'])"
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..exceptions import LmmflowWarning
from ..formula.rewrite import quote_name
from .frame import DataError

__all__ = ["CONTRASTS", "apply_contrasts", "check_levels", "r_names", "resolve_contrasts", "term_label",
           "used_levels"]

CONTRASTS = {"treatment": "treatment", "contr.treatment": "treatment", "sum": "sum", "contr.sum": "sum",
             "helmert": "helmert", "contr.helmert": "helmert", "poly": "poly", "contr.poly": "poly"}
"""Accepted contrast names (lmmflow's and R's) and the kind each means."""

_CALLER = re.compile(r"[A-Za-z0-9_.`\]]")
_UNQUOTE = re.compile(r"`([A-Za-z.][\w.]*)`")
_POLY = re.compile(r"(poly\([^\[\]]*\))\[(\d+)\]")


def _categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype)


def _ordered(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype) and bool(s.dtype.ordered)


def resolve_contrasts(contrasts: Mapping[str, str] | None, frame: pd.DataFrame, used: set[str],
                      defaults_only: bool = False) -> dict[str, str]:
    """The contrast kind of each categorical column that needs one other than plain treatment coding.

    Parameters
    ----------
    contrasts : mapping or None
        Column name -> ``"treatment"``, ``"sum"``, ``"helmert"`` or ``"poly"`` (or R's ``"contr.sum"`` ...).
    frame : pandas.DataFrame
        The model frame.
    used : set of str
        The columns the formula part reads.
    defaults_only : bool
        Ignore ``contrasts`` (lme4 applies only the defaults to random-effects terms).

    Raises
    ------
    ValueError
        An unknown contrast name, or a numeric column (a column the formula does not use warns, as in R).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"f": ["a", "b"], "o": pd.Categorical(["lo", "hi"], ["lo", "hi"], ordered=True)})
    >>> resolve_contrasts({"f": "contr.sum"}, d, {"f", "o"})
    {'o': 'poly', 'f': 'sum'}
    """
    kinds: dict[str, str] = {}
    for col in used:
        if col in frame.columns and _ordered(frame[col]):
            kinds[col] = "poly"  # R's default for ordered factors
    if defaults_only or not contrasts:
        return {c: k for c, k in kinds.items() if k != "treatment"}
    if not isinstance(contrasts, Mapping):
        raise ValueError(f"contrasts must be a dict such as {{'group': 'sum'}}, got {type(contrasts).__name__}")
    for col, kind in contrasts.items():
        if not isinstance(kind, str) or kind not in CONTRASTS:
            raise ValueError(f"contrast {kind!r} for column {col!r} is not known: use one of "
                             "'treatment', 'sum', 'helmert', 'poly'")
        if col not in frame.columns or col not in used:
            # R: "variable 'f' is absent, its contrast will be ignored"
            warnings.warn(f"contrasts given for {col!r}, which the fixed effects do not use, are ignored; the fixed "
                          f"part's columns are {sorted(used)}", LmmflowWarning, stacklevel=5)
            continue
        if not _categorical(frame[col]):
            raise ValueError(f"contrasts given for the numeric column {col!r}: contrasts apply to categorical "
                             "columns; convert it first (e.g. df[col].astype(str)) to treat it as a factor")
        kinds[col] = CONTRASTS[kind]
    return {c: k for c, k in kinds.items() if k != "treatment" or _ordered(frame[c])}


def used_levels(s: pd.Series) -> list[object]:
    """The levels the rows hold, in the order formulaic sorts them (a categorical's own order).

    Examples
    --------
    >>> import pandas as pd
    >>> used_levels(pd.Series(pd.Categorical(["b", "a"], categories=["b", "a", "unused"])))
    ['b', 'a']
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(pd.unique(s.dropna()).tolist())
        return [c for c in s.dtype.categories.tolist() if c in present]
    values = pd.unique(s.dropna())
    try:
        return sorted(values.tolist())
    except TypeError:
        return sorted(values.tolist(), key=str)


def _literal(levels: list[object]) -> str:
    out = []
    for v in levels:
        if isinstance(v, (np.generic,)):
            v = v.item()
        if not isinstance(v, (str, int, float, bool)):
            raise ValueError(f"levels of type {type(v).__name__} cannot be given contrasts")
        out.append(repr(v))
    return "[" + ", ".join(out) + "]"


def _replace_name(rhs: str, col: str, repl: str) -> str:
    """``rhs`` with the formula-level occurrences of column ``col`` (not those inside a call) replaced."""
    pats = [re.escape("`" + col + "`")]
    if re.match(r"^[A-Za-z_.][\w.]*$", col):
        pats.append(r"(?<![\w.`])" + re.escape(col) + r"(?![\w.`(])")
    pat = re.compile("|".join(pats))
    out, last, pos = [], 0, 0
    while True:
        m = pat.search(rhs, pos)
        if m is None:
            break
        if not _inside_call(rhs, m.start()):
            out.append(rhs[last:m.start()] + repl)
            last = m.end()
        pos = m.end()
    out.append(rhs[last:])
    return "".join(out)


def _inside_call(text: str, at: int) -> bool:
    """Whether position ``at`` sits in a function call's brackets (or in a string or backticks)."""
    stack: list[bool] = []
    quote: str | None = None
    for i, ch in enumerate(text[:at]):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "`":
            if text.find("`", i + 1) >= at:
                return False  # the backtick that opens the name itself
            quote = "`"
        elif ch == "(":
            before = text[:i].rstrip()
            stack.append(bool(before) and bool(_CALLER.match(before[-1])) or (bool(stack) and stack[-1]))
        elif ch == ")" and stack:
            stack.pop()
    return bool(stack) and stack[-1]


def apply_contrasts(rhs: str, kinds: Mapping[str, str], frame: pd.DataFrame) -> tuple[str, dict[str, tuple]]:
    """Wrap each column of ``kinds`` in ``C(col, contr.<kind>, levels=[...])``.

    Returns
    -------
    rhs : str
        The rewritten formula part.
    wrapped : dict
        Column -> (kind, levels), for :func:`r_names`.
    """
    wrapped: dict[str, tuple] = {}
    for col, kind in kinds.items():
        levels = used_levels(frame[col])
        if len(levels) < 2:
            continue  # check_levels names it
        expr = f"C({quote_name(col)}, contr.{kind}, levels={_literal(levels)})"
        new = _replace_name(rhs, col, expr)
        if new != rhs:
            wrapped[col] = (kind, levels)
            rhs = new
        else:
            # used only inside a call such as C(f) or I(f == "a"): R's contrasts= is ignored there too
            warnings.warn(f"the {kind} contrasts for {col!r} are not applied: the formula uses {col!r} only inside "
                          f"a function call; write {col} as a term of its own, or give C({col}, contr.{kind})",
                          LmmflowWarning, stacklevel=5)
    return rhs, wrapped


def r_names(names: list[str], spec: object, wrapped: Mapping[str, tuple]) -> list[str]:
    """formulaic's column names with the wrapped columns' parts as R prints them.

    Examples
    --------
    >>> import pandas as pd
    >>> from formulaic import model_matrix
    >>> d = pd.DataFrame({"f": ["a", "b", "c"]})
    >>> rhs, wrapped = apply_contrasts("f", {"f": "poly"}, d)
    >>> mm = model_matrix(rhs, d)
    >>> r_names(list(mm.columns), mm.model_spec, wrapped)
    ['Intercept', 'f.L', 'f.Q']
    """
    names = [_UNQUOTE.sub(r"\1", n) if "`" in n else n for n in names]  # `Petal.Width` is printed Petal.Width
    names = [_POLY.sub(r"\1\2", n) if "poly(" in n else n for n in names]  # R's poly(x, 2)1, not poly(x, 2)[1]
    if not wrapped:
        return names
    state = getattr(spec, "encoder_state", {}) or {}
    subs: list[tuple[re.Pattern[str], str, str, list[object]]] = []
    for key in state:
        for col, (kind, levels) in wrapped.items():
            if key.startswith(f"C({quote_name(col)}, contr.{kind}"):
                subs.append((re.compile(re.escape(key) + r"\[(.*?)\](?=:|$)"), col, kind, [str(v) for v in levels]))

    def one(m: re.Match[str], col: str, kind: str, levels: list[str]) -> str:
        inner = m.group(1)
        if kind == "sum" and inner.startswith("S.") and inner[2:] in levels:
            return f"{col}{levels.index(inner[2:]) + 1}"
        if kind == "helmert" and inner.startswith("H.") and inner[2:] in levels:
            return f"{col}{levels.index(inner[2:])}"
        if kind == "poly" and (inner.startswith(".") or inner.startswith("^")):
            return f"{col}{inner}"
        return f"{col}[{inner}]"

    out = []
    for name in names:
        for pat, col, kind, levels in subs:
            name = pat.sub(lambda m, c=col, k=kind, lv=levels: one(m, c, k, lv), name)
        out.append(name)
    return out


def check_levels(spec: object, frame: pd.DataFrame, where: str) -> None:
    """A categorical predictor with fewer than two levels among the rows used is an error (R: "contrasts can
    be applied only to factors with 2 or more levels"), where formulaic would drop it without a word.

    Examples
    --------
    >>> import pandas as pd
    >>> from formulaic import model_matrix
    >>> d = pd.DataFrame({"k": ["only", "only"]})
    >>> check_levels(model_matrix("k", d).model_spec, d, "the fixed effects")
    Traceback (most recent call last):
    ...
    lmmflow.design.frame.DataError: the categorical predictor 'k' in the fixed effects has only 1 level ...
    """
    state = getattr(spec, "encoder_state", None)
    if not state:
        return
    from formulaic.parser.types import Factor

    for key, (kind, info) in state.items():
        if kind != Factor.Kind.CATEGORICAL:
            continue
        col = key.strip("`")
        m = re.match(r"^C\(\s*(`[^`]+`|[A-Za-z_.][\w.]*)\s*[,)]", key)
        if col not in frame.columns and m:
            col = m.group(1).strip("`")
        if col in frame.columns:
            levels = used_levels(frame[col])
            name = col
        else:
            levels = list(info.get("categories", [])) if isinstance(info, dict) else []
            name = key
            if len(levels) == 0:
                continue
        if len(levels) < 2:
            shown = f" (every row used is {levels[0]!r})" if levels else ""
            raise DataError(
                f"the categorical predictor {name!r} in {where} has only {len(levels)} level among the rows "
                f"used{shown}; contrasts need a factor with 2 or more levels (R: \"contrasts can be applied only "
                "to factors with 2 or more levels\"): drop it from the formula or check the data and missing values"
            )


_WRAP = re.compile(r"C\((`[^`]+`|[A-Za-z_.][\w.]*), contr\.(?:treatment|sum|helmert|poly), levels=\[[^\]]*\]\)")


def term_label(label: str) -> str:
    """A term's label with lmmflow's contrast wrapping removed: ``C(f, contr.sum, levels=[...]):x`` is ``f:x``.

    Examples
    --------
    >>> term_label("C(f, contr.sum, levels=['a', 'b']):x")
    'f:x'
    """
    return _WRAP.sub(lambda m: m.group(1).strip("`") if "." in m.group(1) else m.group(1), label)
