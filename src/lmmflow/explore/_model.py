"""Reading a fitted growth model into the explorer, through the public result API only.

Used attributes: ``fixef``, ``sigma``, ``varcorr``, ``coef``, ``formula``, ``data``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._page import MAX_UNITS

__all__ = ["explorer_inputs"]

_TERM = re.compile(r"\(([^()|]*?)\|\|?([^()|]+)\)")
_MAX_DISTINCT_TIMES = 12
_GRID_POINTS = 9


@dataclass(frozen=True)
class _Term:
    vars: tuple[str, ...]  # slope variables (not 1/0)
    group: str


def _random_terms(formula: str) -> tuple[str, list[_Term]]:
    lhs, _, rhs = formula.partition("~")
    terms = []
    for m in _TERM.finditer(rhs):
        parts = [v.strip() for v in m.group(1).split("+")]
        slope = tuple(v for v in parts if v and v not in ("1", "0", "-1"))
        terms.append(_Term(slope, m.group(2).strip()))
    return lhs.strip(), terms


def _pick_unit(terms: list[_Term], coef: dict[str, Any], time: str | None) -> str:
    groups = list(dict.fromkeys(t.group for t in terms if t.group in coef)) or list(coef)
    if time is not None:
        with_time = [g for g in groups if any(time in t.vars for t in terms if t.group == g)]
        if len(with_time) == 1:
            return with_time[0]
    if len(groups) == 1:
        return groups[0]
    with_slope = [g for g in groups if any(t.vars for t in terms if t.group == g)]
    if len(with_slope) == 1:
        return with_slope[0]
    raise ValueError(f"cannot tell which grouping factor is the unit among {groups}; pass unit=")


def _pick_time(terms: list[_Term], unit: str, fixef: pd.Series, data: pd.DataFrame) -> str:
    slopes = list(dict.fromkeys(v for t in terms if t.group == unit for v in t.vars))
    if len(slopes) == 1 and slopes[0] in data.columns:
        return slopes[0]
    if not slopes:
        numeric = [n for n in fixef.index if n in data.columns and pd.api.types.is_numeric_dtype(data[n])]
        if len(numeric) == 1:
            return str(numeric[0])
    raise ValueError(
        f"cannot tell the time variable (random slopes for {unit!r}: {slopes or 'none'}; fixed effects: "
        f"{list(fixef.index)}); pass time="
    )


def _variances(varcorr: pd.DataFrame, unit: str, time: str) -> tuple[float, float, float]:
    vc = varcorr.copy()
    grp = vc["group"].astype(str)
    # lme4 names the split terms of (1 + t || g) "g", "g.1", ...
    vc = vc[(grp == unit) | grp.str.fullmatch(re.escape(unit) + r"\.\d+")]
    tau00 = tau11 = 0.0
    rho = 0.0
    for row in vc.itertuples(index=False):
        v1, v2 = row.var1, row.var2
        if pd.isna(v2):
            if v1 == "(Intercept)":
                tau00 = float(row.vcov)
            elif v1 == time:
                tau11 = float(row.vcov)
        elif {v1, v2} == {"(Intercept)", time}:
            rho = float(row.sdcor)
    return tau00, tau11, max(-1.0, min(1.0, rho))


def explorer_inputs(model: Any, *, time: str | None = None, unit: str | None = None, max_units: int = 300,
                    seed: int = 0) -> tuple[dict[str, Any], pd.DataFrame]:
    """The explorer's parameters and unit data from a fitted growth model.

    Parameters
    ----------
    model : LmerResult
        A fit with a random intercept and (usually) a random slope for time, such as
        ``lmer("y ~ time + (1 + time | id)", data)``. Only ``fixef``, ``sigma``, ``varcorr``, ``coef``,
        ``formula`` and ``data`` are read.
    time, unit : str, optional
        The time and unit columns. By default the unit is the grouping factor of the random term (the
        one with a random slope when there are several) and time is that term's slope variable (for a
        random-intercept model: the single numeric fixed effect).
    max_units : int
        Embed at most this many units (a seeded random sample, kept in data order), so that the page
        stays small and fast for large data.
    seed : int
        Seed of that sample.

    Returns
    -------
    params : dict
        For :func:`explorer_html`: the estimates (``gamma00`` = the ``(Intercept)`` fixed effect,
        ``gamma10`` = the time fixed effect, ``tau00``, ``tau11``, ``rho``, ``sigma``), the number of
        units, the waves (``times``: the distinct times of the data, or 9 evenly spaced points over their
        range when there are more than 12), the axis labels and the formula.
    units : pandas.DataFrame
        One row per observation of the embedded units: ``unit``, ``time``, ``y`` and the unit's
        ``intercept`` and ``slope`` (fixed plus predicted random effects, from ``model.coef``).

    Warns
    -----
    UserWarning
        When the model has fixed effects other than the intercept and time, or random effects for other
        grouping factors: the page shows the reference trajectory and the unit's variance components only.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> params, units = explorer_inputs(m)
    >>> round(params["gamma10"], 2), params["n_units"], list(units.columns)
    (10.47, 18, ['unit', 'time', 'y', 'intercept', 'slope'])
    """
    formula = str(model.formula)
    response, terms = _random_terms(formula)
    coef = dict(model.coef)
    data = model.data
    fixef = pd.Series(model.fixef)
    if not coef:
        raise ValueError("the model has no random effects; the explorer needs a grouping factor (unit)")
    if unit is None:
        unit = _pick_unit(terms, coef, time)
    if unit not in coef:
        raise ValueError(f"unit {unit!r} is not a grouping factor of the model (have {list(coef)})")
    if time is None:
        time = _pick_time(terms, unit, fixef, data)
    for col, what in ((unit, "unit"), (time, "time")):
        if col not in data.columns:
            raise ValueError(f"{what} column {col!r} is not in the model's data (columns: {list(data.columns)})")
    if not pd.api.types.is_numeric_dtype(data[time]):
        raise ValueError(f"time column {time!r} must be numeric for a growth model, it is {data[time].dtype}")

    extra_fixed = [n for n in fixef.index if n not in ("(Intercept)", time)]
    other_groups = sorted({t.group for t in terms if t.group != unit} | (set(coef) - {unit}))
    if extra_fixed or other_groups:
        warnings.warn(
            "the explorer draws a random-intercept-and-slope growth model; it ignores "
            + "; ".join(filter(None, [
                f"the fixed effects {extra_fixed} (trajectories are at their reference/zero values)" if extra_fixed
                else "",
                f"the random effects of {other_groups}" if other_groups else ""])),
            UserWarning, stacklevel=2,
        )
    tau00, tau11, rho = _variances(model.varcorr, unit, time)
    gamma00 = float(fixef.get("(Intercept)", 0.0))
    gamma10 = float(fixef.get(time, 0.0))

    cf = coef[unit]
    levels = pd.Index(cf.index.astype(str))
    b0 = cf["(Intercept)"].to_numpy(float) if "(Intercept)" in cf.columns else np.full(len(cf), gamma00)
    b1 = cf[time].to_numpy(float) if time in cf.columns else np.full(len(cf), gamma10)
    per_unit = pd.DataFrame({"intercept": b0, "slope": b1}, index=levels)

    frame = pd.DataFrame({"unit": data[unit].astype(str).to_numpy(), "time": data[time].to_numpy(float)})
    frame["y"] = data[response].to_numpy(float) if response in data.columns else np.nan
    order = pd.unique(frame["unit"])
    if len(order) > max_units:
        rng = np.random.default_rng(seed)
        order = order[np.sort(rng.choice(len(order), size=max_units, replace=False))]
        frame = frame[frame["unit"].isin(set(order))]
    frame = frame[frame["unit"].isin(per_unit.index)]
    units = frame.join(per_unit, on="unit").reset_index(drop=True)

    distinct = np.unique(data[time].to_numpy(float))
    distinct = distinct[np.isfinite(distinct)]
    if distinct.size > _MAX_DISTINCT_TIMES:
        times = np.linspace(distinct.min(), distinct.max(), _GRID_POINTS)
    elif distinct.size >= 2:
        times = distinct
    else:
        times = np.array([0.0, 1.0]) if distinct.size == 0 else distinct[0] + np.arange(2.0)
    params = {
        "gamma00": gamma00, "gamma10": gamma10, "tau00": tau00, "tau11": tau11, "rho": rho,
        "sigma": float(model.sigma), "n_units": int(min(len(levels), MAX_UNITS)), "times": [float(t) for t in times],
        "n_waves": int(len(times)), "t0": 0.0, "time_label": str(time), "response_label": response or "y",
        "unit_label": str(unit), "formula": formula,
    }
    return params, units
