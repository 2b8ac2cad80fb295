"""Assembling the explorer page: parameters checked and completed, slider ranges, data as JSON, one HTML file."""

from __future__ import annotations

import html
import json
import math
import numbers
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_TITLE", "PARAM_KEYS", "build_page", "normalize_params", "slider_ranges", "units_payload"]

DEFAULT_TITLE = "Random intercepts and slopes: an interactive explorer"

#: The slider keys, in the order of the controls.
PARAM_KEYS = ("gamma00", "gamma10", "tau00", "tau11", "rho", "sigma", "n_units", "n_waves", "t0")

#: The page opens on these (the worked tutorial's data: 200 units, 5 waves at 0..4).
DEFAULTS: dict[str, Any] = {
    "gamma00": 50.0, "gamma10": 2.0, "tau00": 100.0, "tau11": 1.0, "rho": -0.2, "sigma": 5.0,
    "n_units": 200, "n_waves": 5, "t0": 0.0,
}
DEFAULT_TIMES = tuple(float(t) for t in range(10))  # the waves the n_waves slider can add: 0..9
DEFAULT_SEED = 2024
MAX_UNITS = 2000

_ALIASES = {
    "intercept": "gamma00", "slope": "gamma10", "gamma_00": "gamma00", "gamma_10": "gamma10", "cor": "rho",
    "corr": "rho", "n_persons": "n_units", "time_zero": "t0", "centre": "t0", "center": "t0",
}
_EXTRA = {"times", "seed", "tau01", "time_label", "response_label", "unit_label", "formula"}
_IGNORED = {"missing"}  # in simulate_growth's truth dict, not used by the page

_LABELS = {
    "gamma00": ("γ<sub>00</sub> average intercept", "the mean trajectory's value at time 0"),
    "gamma10": ("γ<sub>10</sub> average slope", "the mean change per unit of time"),
    "tau00": ("τ<sub>00</sub> intercept variance", "spread of the units' values at time 0"),
    "tau11": ("τ<sub>11</sub> slope variance", "spread of the units' rates of change"),
    "rho": ("ρ intercept–slope correlation", "negative: high starters grow more slowly"),
    "sigma": ("σ residual SD", "occasion-to-occasion noise around each unit's line"),
    "n_units": ("units", "number of simulated units"),
    "n_waves": ("waves", "measurement occasions"),
    "t0": ("time zero at", "where the intercept is read off (centring)"),
}
_GROUPS = (
    ("Fixed effects: the mean line", ("gamma00", "gamma10")),
    ("Random effects: units differ", ("tau00", "tau11", "rho")),
    ("Residual: within-unit noise", ("sigma",)),
    ("Design", ("n_units", "n_waves")),
    ("Time coding", ("t0",)),
)


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"explorer parameter {key!r} must be a finite number, got {value!r}")
    return float(value)


def normalize_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Complete and check the parameters the page opens on.

    Accepts the slider keys (``gamma00``, ``gamma10``, ``tau00``, ``tau11``, ``rho``, ``sigma``,
    ``n_units``, ``n_waves``, ``t0``), the aliases ``intercept``/``slope``/``cor``, ``tau01`` instead of
    ``rho``, ``times`` (the waves, any spacing), ``seed`` and the axis labels ``time_label``,
    ``response_label``, ``unit_label`` and ``formula`` (shown in the page). So
    ``simulate_growth(...).attrs["lmmflow_truth"]`` can be passed as it is. Missing keys take the tutorial's values.

    Returns
    -------
    dict
        All of :data:`PARAM_KEYS` plus ``times`` (list of float), ``seed`` (int), ``labels`` (dict) and
        ``formula`` (str or None).

    Raises
    ------
    ValueError
        An unknown key, a value out of its domain, or ``tau01`` and ``rho`` that disagree.
    """
    given = dict(params or {})
    out: dict[str, Any] = {}
    for key, value in given.items():
        if key in _IGNORED:
            continue
        name = _ALIASES.get(key, key)
        if name not in PARAM_KEYS and name not in _EXTRA:
            accepted = sorted({*PARAM_KEYS, *_EXTRA, *_ALIASES})
            raise ValueError(f"unknown explorer parameter {key!r}; accepted: {', '.join(accepted)}")
        if name in out:
            raise ValueError(f"explorer parameter {name!r} given twice (as {key!r} and another alias)")
        out[name] = value
    res: dict[str, Any] = {}
    for key in ("gamma00", "gamma10", "tau00", "tau11", "sigma", "t0"):
        res[key] = _number(out.get(key, DEFAULTS[key]), key)
    if res["tau00"] < 0 or res["tau11"] < 0:
        raise ValueError(f"tau00 and tau11 are variances and must be >= 0, got {res['tau00']}, {res['tau11']}")
    if res["sigma"] <= 0:
        raise ValueError(f"sigma must be > 0, got {res['sigma']}")
    bound = math.sqrt(res["tau00"] * res["tau11"])
    if "rho" in out:
        res["rho"] = _number(out["rho"], "rho")
        if "tau01" in out and bound > 0 and not math.isclose(_number(out["tau01"], "tau01"), res["rho"] * bound,
                                                             rel_tol=1e-6, abs_tol=1e-9):
            raise ValueError(f"tau01={out['tau01']} and rho={res['rho']} disagree: tau01 = rho*sqrt(tau00*tau11)")
    elif "tau01" in out:
        tau01 = _number(out["tau01"], "tau01")
        if abs(tau01) > bound * (1 + 1e-9) + 1e-12:
            raise ValueError(
                f"tau01={tau01} is impossible with tau00={res['tau00']} and tau11={res['tau11']}: "
                f"|tau01| must be <= sqrt(tau00*tau11) = {bound:.6g}"
            )
        res["rho"] = max(-1.0, min(1.0, tau01 / bound)) if bound > 0 else 0.0
    else:
        res["rho"] = 0.0 if bound == 0 else DEFAULTS["rho"]
    if not -1.0 <= res["rho"] <= 1.0:
        raise ValueError(f"rho is a correlation and must be in [-1, 1], got {res['rho']}")

    if out.get("times") is not None:
        try:
            times = np.asarray(list(out["times"]), dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"times must be a sequence of numbers, got {out['times']!r}") from exc
        times = np.unique(times)
        if times.size < 2 or not np.all(np.isfinite(times)):
            raise ValueError(f"times must hold at least two distinct finite numbers, got {out['times']!r}")
        res["times"] = [float(t) for t in times]
        default_waves = len(res["times"])
    else:
        res["times"] = list(DEFAULT_TIMES)
        default_waves = DEFAULTS["n_waves"]
    for key, default, lo, hi in (("n_units", DEFAULTS["n_units"], 1, MAX_UNITS),
                                 ("n_waves", default_waves, 2, len(res["times"]))):
        value = out.get(key, default)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
            raise ValueError(f"{key} must be an integer >= {lo}, got {value!r}")
        if value > hi:
            raise ValueError(f"{key}={value} is more than the page offers ({hi}" +
                             (" waves in times)" if key == "n_waves" else " units)"))
        res[key] = int(value)
    seed = out.get("seed")
    if seed is None:
        seed = DEFAULT_SEED
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    res["seed"] = int(seed) % 2**32
    res["labels"] = {
        "time": str(out.get("time_label", "time")),
        "response": str(out.get("response_label", "y")),
        "unit": str(out.get("unit_label", "unit")),
    }
    res["formula"] = None if out.get("formula") is None else str(out["formula"])
    return res


def _nice(x: float) -> float:
    """The 1-2-5 number at or above x."""
    if x <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(x))
    for f in (1, 2, 5, 10):
        if f * mag >= x * (1 - 1e-12):
            return f * mag
    return 10 * mag  # pragma: no cover


def slider_ranges(p: Mapping[str, Any]) -> dict[str, tuple[float, float, str]]:
    """(min, max, step) of each slider, wide enough to explore around the opening values.

    Continuous sliders use ``step="any"`` so that a model's estimates are shown exactly.
    """
    times = p["times"]
    span = max(times) - min(times) or 1.0
    sd0, sd1, g0, g1, s = math.sqrt(p["tau00"]), math.sqrt(p["tau11"]), p["gamma00"], p["gamma10"], p["sigma"]
    h0 = _nice(max(3 * sd0, 3 * s, 0.5 * abs(g0), 1.0))
    h1 = _nice(max(3 * sd1, 2 * abs(g1), s / span, 0.1))
    out = {
        "gamma00": (_floor(g0 - h0, h0 / 10), _ceil(g0 + h0, h0 / 10), "any"),
        "gamma10": (_floor(g1 - h1, h1 / 10), _ceil(g1 + h1, h1 / 10), "any"),
        "tau00": (0.0, _nice(max(4 * p["tau00"], s * s, 1e-6)), "any"),
        "tau11": (0.0, _nice(max(4 * p["tau11"], (s / span) ** 2, 1e-6)), "any"),
        "rho": (-1.0, 1.0, "any"),
        "sigma": (_nice(s / 50), _nice(max(3 * s, 1e-6)), "any"),
        "n_units": (1.0, float(max(500, min(MAX_UNITS, p["n_units"]))), "1"),
        "n_waves": (2.0, float(len(times)), "1"),
        "t0": (float(min(*times, p["t0"])), float(max(*times, p["t0"])), "any"),
    }
    return out


def _floor(x: float, step: float) -> float:
    return math.floor(x / step) * step


def _ceil(x: float, step: float) -> float:
    return math.ceil(x / step) * step


def _num_attr(x: float) -> str:
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


def _controls(p: Mapping[str, Any], ranges: Mapping[str, tuple[float, float, str]]) -> str:
    lines = []
    for legend, keys in _GROUPS:
        lines.append(f'    <fieldset class="group"><legend>{legend}</legend>')
        for key in keys:
            lo, hi, step = ranges[key]
            label, hint = _LABELS[key]
            lines.append(
                f'      <div class="ctl" title="{html.escape(hint)}"><label for="slider-{key}">{label}</label>'
                f'<output id="value-{key}" for="slider-{key}"></output>'
                f'<input type="range" id="slider-{key}" name="{key}" min="{_num_attr(lo)}" max="{_num_attr(hi)}" '
                f'step="{step}" value="{_num_attr(p[key])}" data-initial="{_num_attr(p[key])}">'
                f'<span class="derived" id="derived-{key}"></span></div>'
            )
        lines.append("    </fieldset>")
    return "\n".join(lines)


def units_payload(units: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    """The model's units as JSON-ready records: ``id``, ``t``, ``y`` (None where missing), ``b0``, ``b1``.

    ``units`` is long: one row per observation with columns ``unit``, ``time``, ``intercept`` and
    ``slope`` (the unit's coefficients, repeated on its rows) and optionally ``y``.
    """
    if units is None:
        return None
    if not isinstance(units, pd.DataFrame):
        raise TypeError(f"units must be a pandas DataFrame, got {type(units).__name__}")
    need = ["unit", "time", "intercept", "slope"]
    absent = [c for c in need if c not in units.columns]
    if absent:
        raise ValueError(
            f"units lacks column(s) {absent}; it needs one row per observation with columns unit, time, "
            "intercept, slope (the unit's own coefficients) and optionally y. explorer_inputs(model) builds it"
        )
    df = units.assign(unit=units["unit"].astype(str))
    if "y" not in df.columns:
        df = df.assign(y=np.nan)
    for col in ("time", "intercept", "slope", "y"):
        try:
            df[col] = pd.to_numeric(df[col]).astype(float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"units column {col!r} must be numeric") from exc
    if not np.all(np.isfinite(df[["time", "intercept", "slope"]].to_numpy())):
        raise ValueError("units columns time, intercept and slope must be finite")
    out = []
    for uid, g in df.groupby("unit", sort=False):
        g = g.sort_values("time", kind="stable")
        out.append({
            "id": uid,
            "t": g["time"].tolist(),
            "y": [None if not math.isfinite(v) else v for v in g["y"].tolist()],
            "b0": float(g["intercept"].iloc[0]),
            "b1": float(g["slope"].iloc[0]),
        })
    return out


def _asset(name: str) -> str:
    return resources.files("lmmflow.explore").joinpath("assets", name).read_text(encoding="utf-8")


def _json_for_script(obj: Any) -> str:
    text = json.dumps(obj, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    # nothing inside may close the <script> element or open a comment
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_page(p: Mapping[str, Any], units: list[dict[str, Any]] | None, title: str, source: str,
               source_note: str, formula: str | None = None) -> str:
    """The HTML page for checked parameters ``p`` (see :func:`normalize_params`) and unit records."""
    from .. import __version__

    ranges = slider_ranges(p)
    payload = {
        "version": 1,
        "params": {k: p[k] for k in PARAM_KEYS},
        "times": p["times"],
        "seed": p["seed"],
        "labels": p["labels"],
        "ranges": {k: list(v) for k, v in ranges.items()},
        "units": units,
        "source": source,
        "formula": formula,
    }
    if units:
        model_toggle = ('<label class="check"><input type="checkbox" id="toggle-model" checked> '
                        "show the model's units</label>")
        pool_source = ('<label for="pool-source">units:</label> <select id="pool-source">'
                       '<option value="model" selected>the model\'s (OLS vs fitted BLUP)</option>'
                       '<option value="sim">simulated (BLUP from the formula)</option></select>')
    else:
        model_toggle = ""
        pool_source = '<span class="note">the first 12 simulated units; BLUPs from the current parameters</span>'
    parts = {
        "version": html.escape(__version__),
        "title": html.escape(title),
        "source": html.escape(source),
        "source_note": html.escape(source_note),
        "seed": str(p["seed"]),
        "controls": _controls(p, ranges),
        "model_toggle": model_toggle,
        "pool_source": pool_source,
        "css": _asset("explorer.css"),
        "js": _asset("explorer.js").replace("</script", "<\\/script"),
        "data": _json_for_script(payload),
    }
    template = _asset("template.html")
    return re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], template)
