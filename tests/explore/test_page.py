"""The explorer page as a string: self-contained, data embedded, parameters checked and completed."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.data import simulate_growth
from lmmflow.explore import PARAM_KEYS, explorer_html, write_explorer
from lmmflow.explore._page import normalize_params, slider_ranges

from ._helpers import Dom


def embedded(page: str) -> dict:
    m = re.search(r'<script id="lmm-data" type="application/json">(.*?)</script>', page, re.S)
    assert m, "no embedded JSON"
    return json.loads(m.group(1))


def test_lazy_exports():
    assert lf.explorer_html is explorer_html
    assert lf.write_explorer is write_explorer


def test_page_is_self_contained():
    page = explorer_html()
    assert page.startswith("<!DOCTYPE html>")
    low = page.lower()
    assert "http://" not in low and "https://" not in low and "//cdn" not in low
    for pattern in (r"<script[^>]*\bsrc=", r"<link\b", r"<img\b", r"<iframe\b", r"@import", r"\bfetch\(",
                    r"xmlhttprequest", r"websocket", r"\bimport\(", r"url\((?!#)"):
        assert not re.search(pattern, low), pattern
    # one inline data block and one inline script, both closed exactly once
    assert low.count("<script") == 2 and low.count("</script>") == 2
    assert "<style>" in low
    Dom(page)  # parses


def test_defaults_are_the_tutorials():
    page = explorer_html()
    data = embedded(page)
    assert data["params"] == {"gamma00": 50.0, "gamma10": 2.0, "tau00": 100.0, "tau11": 1.0, "rho": -0.2,
                              "sigma": 5.0, "n_units": 200, "n_waves": 5, "t0": 0.0}
    assert data["times"][:5] == [0, 1, 2, 3, 4]
    assert data["units"] is None and data["source"] == "defaults"
    dom = Dom(page)
    assert dom["lmm-explorer"].attrs["data-source"] == "defaults"
    for key in PARAM_KEYS:
        el = dom[f"slider-{key}"]
        assert el.tag == "input" and el.attrs["type"] == "range"
        lo, hi, val = float(el.attrs["min"]), float(el.attrs["max"]), float(el.attrs["value"])
        assert lo <= val <= hi, key
        assert float(el.attrs["value"]) == data["params"][key]
        assert f"value-{key}" in dom
    for id_ in ("traj-svg", "icc-table", "icc-svg", "pool-svg", "pool-table", "fan-status", "centring-table",
                "seed-input", "btn-resample", "toggle-noise", "btn-reset"):
        assert id_ in dom, id_
    assert "toggle-model" not in dom


def test_ranges_contain_opening_values_and_scale_with_them():
    for params in ({}, {"tau00": 612.0, "tau11": 35.0, "gamma00": 251.4, "gamma10": 10.5, "sigma": 25.6},
                   {"gamma00": -3.0, "gamma10": -0.01, "tau00": 0.0, "tau11": 0.0, "sigma": 0.02},
                   {"times": [1990, 2000, 2010], "t0": 0.0}):
        p = normalize_params(params)
        ranges = slider_ranges(p)
        for key in PARAM_KEYS:
            lo, hi, step = ranges[key]
            assert lo <= p[key] <= hi, (params, key)
            assert lo < hi or key == "n_waves"
        assert ranges["tau00"][1] >= 4 * p["tau00"]
        assert ranges["sigma"][0] > 0


def test_truth_dict_is_accepted_as_it_is():
    df = simulate_growth(n_units=80, times=[0, 1, 3, 6, 12], tau00=50, tau11=0.5, tau01=1.0, seed=3)
    p = normalize_params(df.attrs["lmmflow_truth"])
    assert p["rho"] == pytest.approx(1.0 / math.sqrt(25))
    assert p["times"] == [0.0, 1.0, 3.0, 6.0, 12.0] and p["n_waves"] == 5 and p["n_units"] == 80
    assert p["seed"] == 3
    assert p["formula"] == "y ~ time + (1 + time | id)"
    page = explorer_html(df.attrs["lmmflow_truth"])
    assert embedded(page)["source"] == "params"
    assert "y ~ time + (1 + time | id)" in Dom(page)["source-note"].text


def test_tau01_converts_to_rho_and_aliases():
    p = normalize_params({"intercept": 10, "slope": -1, "tau00": 4, "tau11": 9, "tau01": -3})
    assert (p["gamma00"], p["gamma10"], p["rho"]) == (10.0, -1.0, -0.5)
    assert normalize_params({"tau00": 4, "tau11": 9, "tau01": -3, "rho": -0.5})["rho"] == -0.5
    assert normalize_params({"tau11": 0})["rho"] == 0.0  # no slope variance: no correlation to show


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"tau": 1}, "unknown explorer parameter 'tau'"),
        ({"gamma00": 1, "intercept": 2}, "given twice"),
        ({"tau00": -1}, "variances"),
        ({"sigma": 0}, "sigma"),
        ({"rho": 1.5}, "correlation"),
        ({"rho": "high"}, "finite number"),
        ({"gamma10": float("nan")}, "finite number"),
        ({"tau01": 50}, "impossible"),
        ({"tau01": -2, "rho": 0.5}, "disagree"),
        ({"n_units": 0}, "n_units"),
        ({"n_units": 10**6}, "more than"),
        ({"n_waves": 1}, "n_waves"),
        ({"n_waves": 11}, "more than"),
        ({"times": [0, 0]}, "two distinct"),
        ({"times": ["a", "b"]}, "numbers"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_params(params, match):
    with pytest.raises(ValueError, match=match):
        explorer_html(params)


def test_title_and_data_are_escaped():
    evil = "</script><script>alert(1)</script>"
    units = pd.DataFrame({"unit": [evil, evil], "time": [0.0, 1.0], "y": [1.0, np.nan], "intercept": [1.0, 1.0],
                          "slope": [0.5, 0.5]})
    page = explorer_html({"time_label": evil}, units=units, title=f"<b>{evil}</b>")
    assert page.lower().count("<script") == 2
    assert "&lt;b&gt;" in page
    data = embedded(page)
    assert data["labels"]["time"] == evil
    assert data["units"] == [{"id": evil, "t": [0.0, 1.0], "y": [1.0, None], "b0": 1.0, "b1": 0.5}]


def test_units_payload_checks():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['slope'\]"):
        explorer_html(units=pd.DataFrame({"unit": ["a"], "time": [0.0], "intercept": [1.0]}))
    with pytest.raises(TypeError, match="DataFrame"):
        explorer_html(units={"unit": ["a"]})  # type: ignore[arg-type]
    bad = pd.DataFrame({"unit": ["a"], "time": [np.inf], "intercept": [1.0], "slope": [1.0]})
    with pytest.raises(ValueError, match="finite"):
        explorer_html(units=bad)
    # y is optional
    ok = pd.DataFrame({"unit": [1, 1], "time": [0, 2], "intercept": [1.0, 1.0], "slope": [2.0, 2.0]})
    data = embedded(explorer_html(units=ok))
    assert data["units"][0]["id"] == "1" and data["units"][0]["y"] == [None, None]
    assert data["source"] == "model"


def test_write_explorer(tmp_path):
    out = write_explorer(tmp_path / "sub" / "page.html", params={"tau11": 0.0})
    assert out.exists() and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert embedded(out.read_text(encoding="utf-8"))["params"]["tau11"] == 0.0
    assert len(out.read_bytes()) < 200_000
