"""Helpers for the explorer tests: a fake fitted model, headless Chromium, and a small DOM reader."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    """The Chromium executable: $LMMFLOW_CHROMIUM, else the first of the usual names on PATH."""
    env = os.environ.get("LMMFLOW_CHROMIUM")
    if env:
        return env if Path(env).exists() or shutil.which(env) else None
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM = find_chromium()
#: CI sets LMMFLOW_REQUIRE_BROWSER=1 (.ci/run): there a missing browser fails the browser tests instead of skipping them
BROWSER_REQUIRED = os.environ.get("LMMFLOW_REQUIRE_BROWSER") == "1"
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not BROWSER_REQUIRED,
    reason="headless Chromium not found (install Debian's `chromium` package or set LMMFLOW_CHROMIUM)",
)


def chromium_or_fail() -> str:
    """The Chromium path; fails the test (rather than skipping it) when the browser is required but missing."""
    if CHROMIUM is None:
        pytest.fail("LMMFLOW_REQUIRE_BROWSER=1 but no Chromium was found (apt-get install chromium, or set "
                    "LMMFLOW_CHROMIUM)")
    return CHROMIUM


# ---- DOM ------------------------------------------------------------------------------------------------
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.text_parts) + "".join(c.text for c in self.children)

    def iter(self):
        yield self
        for c in self.children:
            yield from c.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [n for n in self.iter() if (tag is None or n.tag == tag)
                and (cls is None or cls in n.attrs.get("class", "").split())]

    def num(self, name: str) -> float:
        return float(self.attrs[name])


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, {k: (v if v is not None else "") for k, v in attrs}))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].text_parts.append(data)


class Dom:
    """The parsed page: ``dom["traj-svg"]`` is the element with that id."""

    def __init__(self, html: str) -> None:
        b = _Builder()
        b.feed(html)
        self.html = html
        self.root = b.root
        self.ids = {n.attrs["id"]: n for n in self.root.iter() if "id" in n.attrs}

    def __getitem__(self, id_: str) -> Node:
        return self.ids[id_]

    def __contains__(self, id_: str) -> bool:
        return id_ in self.ids

    # views used by many tests
    def unit_lines(self) -> list[Node]:
        return self["traj-units"].find_all("polyline", "unit")

    def unit_y(self) -> np.ndarray:
        return np.array([[float(v) for v in n.attrs["data-y"].split()] for n in self.unit_lines()])

    def icc(self) -> np.ndarray:
        t = self["icc-table"]
        return np.array([t.num(f"data-icc-t{w}") for w in range(int(t.attrs["data-n-waves"]))])

    def var(self) -> np.ndarray:
        t = self["icc-table"]
        return np.array([t.num(f"data-var-t{w}") for w in range(int(t.attrs["data-n-waves"]))])

    def pool_rows(self) -> list[Node]:
        return [r for r in self["pool-table"].find_all("tr") if "data-unit" in r.attrs]


def dump_dom(page: Path, query: str = "", budget_ms: int = 4000) -> Dom:
    """Load ``page`` (a file) in headless Chromium with ``?query`` and return the DOM after the scripts ran."""
    exe = chromium_or_fail()
    url = page.resolve().as_uri() + (f"?{query}" if query else "")
    with tempfile.TemporaryDirectory(prefix="lmmflow-chromium-") as profile:
        proc = subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
             "--enable-logging=stderr", "--v=0", "--dump-dom", url],
            capture_output=True, text=True, timeout=120,
        )
    if proc.returncode != 0 or "<html" not in proc.stdout:
        raise RuntimeError(f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}")
    errors = [line for line in proc.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line]
    if errors:
        raise AssertionError("JavaScript errors in the page:\n" + "\n".join(errors))
    return Dom(proc.stdout)


def screenshot(page: Path, out: Path, query: str = "", size: str = "1200,900") -> Path:
    """Save a screenshot of ``page`` (with ``?query``) at ``size`` pixels to ``out``."""
    exe = chromium_or_fail()
    url = page.resolve().as_uri() + (f"?{query}" if query else "")
    with tempfile.TemporaryDirectory(prefix="lmmflow-chromium-") as profile:
        subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={profile}", "--virtual-time-budget=4000", f"--window-size={size}",
             f"--screenshot={out}", url],
            capture_output=True, text=True, timeout=120, check=True,
        )
    return out


# ---- a stand-in for a fitted model ----------------------------------------------------------------------
@dataclass
class FakeModel:
    """Only the public attributes the explorer reads."""

    fixef: pd.Series
    sigma: float
    varcorr: pd.DataFrame
    coef: dict[str, pd.DataFrame]
    formula: str
    data: pd.DataFrame


def fake_growth_model(n_units: int = 25, times: Any = (0, 1, 2, 3, 4), seed: int = 5, *, unit: str = "id",
                      time: str = "time", response: str = "y", formula: str | None = None,
                      g00: float = 40.0, g10: float = 1.5, tau00: float = 64.0, tau11: float = 0.81,
                      rho: float = 0.3, sigma: float = 4.0) -> FakeModel:
    """A model-like object whose 'estimates' are chosen, with unit coefficients = truth plus a little noise."""
    from lmmflow.data import simulate_growth

    tau01 = rho * np.sqrt(tau00 * tau11)
    df, eff = simulate_growth(n_units=n_units, times=times, intercept=g00, slope=g10, tau00=tau00, tau11=tau11,
                              tau01=tau01, sigma=sigma, seed=seed, unit_col=unit, time_col=time,
                              response_col=response, return_effects=True)
    coef = pd.DataFrame({"(Intercept)": eff["b0"].to_numpy() + 0.1, time: eff["b1"].to_numpy() - 0.01},
                        index=pd.Index(eff.index, name=unit))
    varcorr = pd.DataFrame({
        "group": [unit, unit, unit, "Residual"],
        "var1": ["(Intercept)", time, "(Intercept)", None],
        "var2": [None, None, time, None],
        "vcov": [tau00, tau11, tau01, sigma ** 2],
        "sdcor": [np.sqrt(tau00), np.sqrt(tau11), rho, sigma],
    })
    return FakeModel(
        fixef=pd.Series({"(Intercept)": g00, time: g10}),
        sigma=sigma,
        varcorr=varcorr,
        coef={unit: coef},
        formula=formula or f"{response} ~ {time} + (1 + {time} | {unit})",
        data=df,
    )
