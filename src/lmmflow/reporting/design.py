"""Reading the design of a data set before writing about it: shared waves, unit-specific times, or no time.

The report's words and figures depend on the design. Longitudinal data on shared waves (every unit seen at
0, 1, ..., 4) get trajectories and means per wave; longitudinal data at unit-specific times (actual dates of
measurement) get trajectories and a smoothed mean curve; data without a time variable (plants in sites,
students in schools, subjects crossed with items) get plots of the response against each predictor and of
the groups, and a text that speaks of predictors and groups.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from ..formula import parse_formula

__all__ = ["DESIGNS", "detect_design", "grouping_structure", "is_time_name"]

#: The designs :func:`detect_design` tells apart, with a short description.
DESIGNS: dict[str, str] = {
    "waves": "longitudinal, measured on shared waves",
    "times": "longitudinal, measured at unit-specific times",
    "grouped": "observations grouped in units, no time variable",
    "crossed": "crossed grouping factors, no time variable",
}

_TIME_WORDS = {
    "time", "times", "t", "wave", "waves", "age", "visit", "visits", "occasion", "occasions", "session",
    "sessions", "date", "dates", "period", "periods", "followup", "timepoint", "tp", "elapsed", "semester",
    "trial", "trials", "round", "rounds", "cycle", "cycles",
}
# units of time: time when they are the name or lead it (Days, months_since), not when they measure an amount
# of something else (study_hours, sleep_minutes)
_TIME_UNITS = {
    "day", "days", "week", "weeks", "month", "months", "year", "years", "hour", "hours", "minute", "minutes",
    "yr", "yrs", "wk", "wks", "mo", "mos",
}
# a time word after one of these names an amount of time spent on something, a predictor, not the time axis
# (wait_time, ReactionTime, study_time, screen_time)
_DURATION_OF = {
    "wait", "waiting", "reaction", "response", "study", "studying", "sleep", "screen", "travel", "exposure",
    "processing", "run", "cpu", "solve", "completion", "survival", "dwell", "service", "idle", "play", "exercise",
    "work", "reading", "transit", "commute", "down", "lead", "practice", "training", "contact",
}


def is_time_name(name: str) -> bool:
    """Whether a column name reads as time (``time``, ``Days``, ``wave``, ``months_since_baseline``, ``visitNo``).

    Examples
    --------
    >>> [is_time_name(c) for c in ["time", "Days", "months_since", "visitNo", "Temp", "N", "study_hours"]]
    [True, True, True, True, False, False, False]
    >>> is_time_name("WaitTime"), is_time_name("visit_time")
    (False, True)
    """
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name))
    tokens = [t for t in re.split(r"[^A-Za-z]+", spaced.lower()) if t]
    if tokens and tokens[0] in _TIME_UNITS:
        return True
    return any(t in _TIME_WORDS and (i == 0 or tokens[i - 1] not in _DURATION_OF) for i, t in enumerate(tokens))


def _groups_of(formula: str) -> list[str]:
    parsed = parse_formula(formula)
    return list(dict.fromkeys(":".join(t.group) for t in parsed.random))


def _codes(df: pd.DataFrame, group: str) -> pd.Series:
    cols = group.split(":") if group not in df.columns else [group]
    if len(cols) == 1:
        return df[cols[0]]
    return df[cols].astype(str).agg(":".join, axis=1)


def grouping_structure(df: pd.DataFrame, groups: list[str]) -> tuple[str, list[tuple[str, str]]]:
    """How the grouping factors relate: ``"single"``, ``"nested"`` or ``"crossed"``, and the crossed pairs.

    Two factors are nested when every level of one lies within a single level of the other (pupils within
    schools, ``Patient:Hospital`` within ``Hospital``); otherwise they are crossed (subjects and items).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"s": [1, 1, 2, 2], "i": ["a", "b", "a", "b"], "c": [1, 1, 1, 1]})
    >>> grouping_structure(d, ["s", "i"])
    ('crossed', [('s', 'i')])
    >>> grouping_structure(d, ["s", "c"])[0]
    'nested'
    """
    present = [g for g in groups if all(c in df.columns for c in g.split(":"))]
    if len(present) < 2:
        return "single", []
    crossed = []
    for i, a in enumerate(present):
        for b in present[i + 1:]:
            frame = pd.DataFrame({"a": _codes(df, a).to_numpy(), "b": _codes(df, b).to_numpy()}).dropna()
            a_in_b = bool((frame.groupby("a")["b"].nunique() <= 1).all())
            b_in_a = bool((frame.groupby("b")["a"].nunique() <= 1).all())
            if not (a_in_b or b_in_a):
                crossed.append((a, b))
    return ("crossed" if crossed else "nested"), crossed


def detect_design(df: pd.DataFrame, formula: str, time: str | None, unit: str, time_given: bool = False,
                  design: str = "auto") -> dict[str, Any]:
    """The design of ``df`` under ``formula``: which of :data:`DESIGNS` it is, and the numbers behind the choice.

    Parameters
    ----------
    df : DataFrame
    formula : str
    time : str or None
        The candidate time column (a random slope on a numeric column, else the first numeric predictor).
    unit : str
        The main grouping factor.
    time_given : bool
        ``time`` was named by the user: take it as time whatever its name.
    design : {"auto", "waves", "times", "grouped", "crossed"}
        Force a design; ``"auto"`` reads it from the data: a candidate named like time (``time``, ``wave``,
        ``Days``, ``age``, ...) or given as ``time=`` makes the data longitudinal, unless the grouping factors
        are crossed; it is on shared waves when at least 80% of the rows sit at values of time that at
        least a tenth of the units share (and there are at most 30 such values), else at unit-specific times.

    Returns
    -------
    dict
        ``kind`` (a key of :data:`DESIGNS`), ``longitudinal`` (bool), ``time`` (the time column or None),
        ``candidate`` (the column examined), ``groups`` (grouping factors and their numbers of levels),
        ``structure`` ("single", "nested", "crossed"), ``crossed`` (the crossed pairs), ``predictors``
        (the data columns of the fixed part), ``n_times`` and ``shared`` (the share of rows on shared values),
        ``reason`` (one sentence).

    Examples
    --------
    >>> import lmmflow as lf
    >>> d = lf.simulate_growth(n_units=30, seed=1)
    >>> detect_design(d, "y ~ time + (1 + time | id)", "time", "id")["kind"]
    'waves'
    >>> d["time"] = d["time"] + lf.simulate_growth(n_units=30, seed=2)["y"] / 100
    >>> detect_design(d, "y ~ time + (1 + time | id)", "time", "id")["kind"]
    'times'
    """
    if design not in ("auto", *DESIGNS):
        raise ValueError(f"design must be 'auto' or one of {list(DESIGNS)}, got {design!r}")
    parsed = parse_formula(formula)
    groups = _groups_of(formula)
    structure, crossed = grouping_structure(df, groups)
    names = re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*", parsed.fixed)
    predictors = [n for n in dict.fromkeys(names) if n in df.columns and n != parsed.response]
    info: dict[str, Any] = {
        "candidate": time, "groups": {g: int(_codes(df, g).nunique()) for g in groups
                                      if all(c in df.columns for c in g.split(":"))},
        "structure": structure, "crossed": crossed, "predictors": predictors, "n_times": None, "shared": None,
    }
    numeric = time is not None and time in df.columns and pd.api.types.is_numeric_dtype(df[time]) \
        and not pd.api.types.is_bool_dtype(df[time])
    if numeric:
        units = _codes(df, unit)
        frame = pd.DataFrame({"u": units.to_numpy(), "t": df[time].to_numpy()}).dropna()
        n_units = max(int(frame["u"].nunique()), 1)
        per_value = frame.drop_duplicates().groupby("t")["u"].nunique()
        common = per_value[per_value >= max(2, 0.1 * n_units)]
        shared = float(frame["t"].isin(common.index).mean()) if len(frame) else 0.0
        info["n_times"], info["shared"] = int(len(per_value)), shared
        on_waves = shared >= 0.8 and len(common) <= 30
    else:
        on_waves = False
    if design != "auto":
        kind = design
        reason = f"the design was given as {design!r}"
    elif numeric and (time_given or is_time_name(time)) and (structure != "crossed" or time_given):
        kind = "waves" if on_waves else "times"
        why = "was named as time" if time_given else "is named like time"
        where = (f"{info['n_times']} values shared by the units" if on_waves
                 else f"{info['n_times']} distinct values, mostly specific to each unit")
        reason = f"{time!r} {why} and takes {where}"
    elif structure == "crossed":
        kind = "crossed"
        pairs = ", ".join(f"{a} x {b}" for a, b in crossed)
        reason = f"the grouping factors are crossed ({pairs})"
    else:
        kind = "grouped"
        reason = ("no predictor reads as time" if time is None or not numeric
                  else f"{time!r} does not read as time (pass time={time!r} to treat it as time)")
    longitudinal = kind in ("waves", "times")
    if longitudinal and not numeric:
        raise ValueError(f"design {kind!r} needs a numeric time column; pass time=")
    info.update(kind=kind, longitudinal=longitudinal, time=time if longitudinal else None, reason=reason)
    return info
