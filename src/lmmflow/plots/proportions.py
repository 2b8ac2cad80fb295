"""Observed proportions (binary outcomes) and rates (counts) over time, by unit and overall."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..design import as_pandas
from ._common import alpha_for, sample_labels, single_axes, time_ticks

__all__ = ["observed_proportions", "proportion_table"]


def _interval(successes: np.ndarray, n: np.ndarray, level: float, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact intervals: Clopper-Pearson for a proportion (R's binom.test), Garwood for a Poisson mean (poisson.test)."""
    a = 1.0 - level
    s, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    if kind == "proportion":
        with np.errstate(invalid="ignore", divide="ignore"):
            lo = np.where(s > 0, stats.beta.ppf(a / 2, s, n - s + 1), 0.0)
            hi = np.where(s < n, stats.beta.ppf(1 - a / 2, s + 1, n - s), 1.0)
        return lo, hi
    lo = np.where(s > 0, stats.chi2.ppf(a / 2, 2 * s) / 2, 0.0) / n
    hi = stats.chi2.ppf(1 - a / 2, 2 * s + 2) / 2 / n
    return lo, hi


def proportion_table(data: Any, x: str, y: str, level: float = 0.95, kind: str = "auto",
                     trials: str | None = None) -> pd.DataFrame:
    """The observed proportion (or mean count) of ``y`` at each value of ``x``, with an exact interval.

    Parameters
    ----------
    data : DataFrame or dict of columns
    x, y : str
        Time (or any grouping) column and the response: 0/1, booleans, a proportion with ``trials``, or counts.
    level : float
    kind : {"auto", "proportion", "rate"}
        ``"auto"``: a proportion when ``y`` lies in [0, 1] (or is boolean), else a rate (mean count).
    trials : str, optional
        Column of binomial trials when ``y`` is a proportion of trials.

    Returns
    -------
    pandas.DataFrame
        ``x``, ``n`` (observations, or trials), ``events`` (successes or total count), ``estimate``,
        ``lower``, ``upper``: Clopper-Pearson intervals for proportions (R's ``binom.test``), exact Poisson
        intervals for mean counts (R's ``poisson.test``).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"t": [0, 0, 0, 0, 1, 1, 1, 1], "y": [0, 0, 0, 1, 1, 1, 0, 1]})
    >>> proportion_table(d, "t", "y")[["t", "n", "estimate"]].values.tolist()
    [[0.0, 4.0, 0.25], [1.0, 4.0, 0.75]]
    """
    df = as_pandas(data)
    cols = [x, y] + ([trials] if trials else [])
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not in the data; columns are {list(df.columns)}")
    d = df[cols].dropna()
    yy = d[y]
    if pd.api.types.is_bool_dtype(yy):
        yy = yy.astype(float)
    if not pd.api.types.is_numeric_dtype(yy):
        levels = sorted(pd.unique(yy))
        if len(levels) != 2:
            raise ValueError(f"response {y!r} has {len(levels)} levels; a proportion needs two (or 0/1 numbers)")
        yy = (yy == levels[1]).astype(float)  # R's factor: the second level is a success
    yv = yy.to_numpy(dtype=float)
    if kind == "auto":
        kind = "proportion" if (yv.min(initial=0) >= 0 and yv.max(initial=0) <= 1) else "rate"
    if kind not in ("proportion", "rate"):
        raise ValueError(f"kind={kind!r}: use 'auto', 'proportion' or 'rate'")
    if kind == "proportion" and (yv.min(initial=0) < 0 or yv.max(initial=0) > 1):
        raise ValueError(f"response {y!r} has values outside [0, 1]: not a proportion (use kind='rate' for counts)")
    w = d[trials].to_numpy(dtype=float) if trials else np.ones(len(d))
    work = pd.DataFrame({x: d[x].to_numpy(), "n": w, "events": yv * w})
    tab = work.groupby(x, sort=True, observed=True)[["n", "events"]].sum().reset_index()
    tab["estimate"] = tab["events"] / tab["n"]
    events = np.round(tab["events"].to_numpy()) if kind == "proportion" else tab["events"].to_numpy()
    tab["lower"], tab["upper"] = _interval(events, tab["n"].to_numpy(), level, kind)
    if pd.api.types.is_numeric_dtype(tab[x]):
        tab[x] = tab[x].astype(float)
    return tab


def observed_proportions(data: Any, x: str, y: str, unit: str | None = None, ax: Any = None, level: float = 0.95,
                         sample: int | None = 30, seed: int | None = None, kind: str = "auto",
                         trials: str | None = None) -> Any:
    """Observed proportions (or mean counts) over ``x``: units' lines behind, the overall mean with its interval.

    With a binary outcome a unit's line through its 0/1 values says little; the units' lines here are their
    observed values (jittered slightly for 0/1) and the overall proportion at each time carries exact
    binomial intervals (Clopper-Pearson); counts show the mean count with exact Poisson intervals.

    Parameters
    ----------
    data : DataFrame or dict of columns
    x, y : str
        Time and response columns (see :func:`proportion_table`).
    unit : str, optional
        Unit column: draw ``sample`` units' observed sequences faintly behind the mean.
    ax : matplotlib.axes.Axes, optional
    level : float
    sample : int, optional
        How many units' lines (None: all).
    seed : int, optional
    kind : {"auto", "proportion", "rate"}
    trials : str, optional
        Column of binomial trials when ``y`` is a proportion.

    Returns
    -------
    matplotlib.axes.Axes
        The units' Line2D (if ``unit``), then the mean Line2D labelled ``"observed proportion"`` (or
        ``"observed mean count"``) and the interval's error bars.

    Examples
    --------
    >>> import lmmflow as lf
    >>> df = lf.load_dataset("cbpp")
    >>> df["prop"] = df["incidence"] / df["size"]
    >>> ax = lf.plots.observed_proportions(df, "period", "prop", trials="size")
    >>> ax.lines[0].get_label()
    'observed proportion'
    """
    tab = proportion_table(data, x, y, level=level, kind=kind, trials=trials)
    is_prop = kind == "proportion" or (kind == "auto" and bool(((tab["estimate"] >= 0) & (tab["estimate"] <= 1)).all())
                                       and _in_unit_interval(data, y))
    ax = single_axes(ax)
    numeric_x = pd.api.types.is_numeric_dtype(tab[x])
    xs = tab[x].to_numpy(dtype=float) if numeric_x else np.arange(len(tab), dtype=float)
    if unit is not None:
        df = as_pandas(data)
        if unit not in df.columns:
            raise ValueError(f"unit column {unit!r} not in the data; columns are {list(df.columns)}")
        d = df[[unit, x, y]].dropna()
        groups = dict(tuple(d.groupby(unit, sort=True, observed=True)))
        labels = sample_labels(list(groups), sample, seed)
        rng = np.random.default_rng(seed)
        alpha = alpha_for(len(labels))
        pos = {v: i for i, v in enumerate(tab[x].tolist())}
        for label in labels:
            g = groups[label].sort_values(x)
            gx = g[x].to_numpy(dtype=float) if numeric_x else np.array([pos.get(v, np.nan) for v in g[x]])
            gy = pd.to_numeric(g[y], errors="coerce").to_numpy(dtype=float)
            jitter = rng.uniform(-0.03, 0.03, size=gy.size) if is_prop else 0.0
            ax.plot(gx, gy + jitter, color="0.5", alpha=alpha * 0.6, lw=0.8)
    est = tab["estimate"].to_numpy()
    label = "observed proportion" if is_prop else "observed mean count"
    ax.plot(xs, est, color="C0", lw=2.2, marker="o", ms=4, label=label, zorder=3)
    ax.errorbar(xs, est, yerr=[est - tab["lower"].to_numpy(), tab["upper"].to_numpy() - est], fmt="none",
                ecolor="C0", elinewidth=1.2, capsize=3, zorder=3)
    if numeric_x:
        time_ticks(ax, xs)
    else:
        ax.set_xticks(xs, [str(v) for v in tab[x]])
    if is_prop:
        ax.set_ylim(-0.06, 1.06)
    ax.set_xlabel(x)
    ax.set_ylabel(f"{y}: proportion" if is_prop else f"{y}: mean count")
    ax.legend(loc="best", frameon=False, fontsize=8)
    return ax


def _in_unit_interval(data: Any, y: str) -> bool:
    s = as_pandas(data)[y].dropna()
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        return True
    return bool(s.min() >= 0 and s.max() <= 1)
