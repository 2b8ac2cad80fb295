"""The designs of a power curve (simr's ``extend`` and ``powerCurve(along=)``) and the draw of responses.

``extend``: a grouping factor is enlarged by replicating its units under new ids (unit ``u`` copied as
``u#2``, ``u#3``...), the first ``v`` units of the extended list (the original units in lme4's sorted
order, then the copies) forming the design with ``v`` units.  Along any other column (a within-unit
variable such as ``time``), the design with ``v`` values keeps the rows whose value is among the first
``v`` distinct values (sorted), as simr's ``powerCurve(along="time")`` does.  The responses are drawn by
:func:`lmmflow.simulate` (lme4's ``simulate(formula, newdata, newparams)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["design_rows", "resolve_along"]

SEP = "#"


def _group_columns(design: Any) -> list[str]:
    return [c for t in design.terms for c in t.group_cols]


def resolve_along(along: str, design: Any, data: pd.DataFrame) -> tuple[str, str]:
    """``(kind, column)``: kind ``"units"`` (a grouping factor) or ``"within"`` (another column)."""
    groups = list(dict.fromkeys(_group_columns(design)))
    if along == "n_units":
        if len(groups) != 1:
            raise ValueError(f"along='n_units' is ambiguous with grouping factors {groups}; name one, "
                             f"e.g. along={groups[0]!r}")
        return "units", groups[0]
    if along in groups:
        return "units", along
    if along not in data.columns:
        raise ValueError(f"along={along!r} is neither 'n_units', a grouping factor ({groups}) nor a column "
                         "of the data")
    return "within", along


def design_rows(data: pd.DataFrame, kind: str, col: str, value: int) -> pd.DataFrame:
    """The rows of the design with ``value`` units (kind ``"units"``) or ``value`` distinct values of ``col``."""
    if int(value) != value or value < 1:
        raise ValueError(f"values must be positive whole numbers (got {value!r})")
    value = int(value)
    if kind == "within":
        uniq = np.sort(pd.unique(data[col].dropna()))
        if value > len(uniq):
            raise ValueError(f"along={col!r}: {value} values asked for but the data has {len(uniq)} distinct "
                             f"values of {col!r}; give a design that has them (power(formula=, data=, params=))")
        return data[data[col].isin(uniq[:value])]
    labels = data[col].astype(str)
    units = np.sort(pd.unique(labels))  # lme4's level order
    n = len(units)
    parts = []
    for copy in range((value + n - 1) // n):
        take = units[: min(n, value - copy * n)]
        rows = data[labels.isin(take)].copy()
        if copy:
            rows[col] = labels[rows.index] + f"{SEP}{copy + 1}"
        parts.append(rows)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
