"""The report's figures and text are right on four designs, checked in headless Chromium: the tutorial's waves,
unit-specific times, seed 002's biomass (no time) and subjects crossed with items (issue 14, item 5)."""

from __future__ import annotations

import html
import re
import subprocess
import warnings

import pytest

import lmmflow as lf

from ._designs import DATA, FORMULAS
from .conftest import chromium_or_skip

pytestmark = pytest.mark.browser

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"]

#: design -> (figures that must be there, figures that must not, section titles that must be there)
EXPECTED = {
    "waves": ({"spaghetti", "trajectories", "prediction_curve", "variance_over_time", "caterpillar", "shrinkage"},
              {"by_predictor", "by_group"},
              ["2. Look at the trajectories", "8. Shrinkage and individual trajectories"]),
    "times": ({"spaghetti", "trajectories", "prediction_curve", "caterpillar"}, {"by_predictor", "by_group"},
              ["2. Look at the trajectories"]),
    "biomass": ({"by_predictor", "by_group", "caterpillar", "residuals_vs_fitted"},
                {"spaghetti", "trajectories", "prediction_curve", "variance_over_time", "icc_over_time"},
                ["2. Look at the data", "7. Group-level effects (BLUPs)", "8. Shrinkage"]),
    "crossed": ({"by_predictor", "by_group", "caterpillar", "caterpillar_other"},
                {"spaghetti", "trajectories", "prediction_curve", "variance_over_time", "shrinkage"},
                ["2. Look at the data", "7. Group-level effects (BLUPs)"]),
}


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict:
    """Each design's report, written, and its DOM after Chromium has run the page's script."""
    exe = chromium_or_skip()
    out = {}
    for name in DATA:
        folder = tmp_path_factory.mktemp(name) / "report"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rep = lf.report(DATA[name](), FORMULAS[name], out=folder, seed=1, formats=("html",), dpi=70)
        url = (folder / "report.html").resolve().as_uri()
        dom = subprocess.run([exe, *FLAGS, "--dump-dom", url], capture_output=True, text=True, timeout=180).stdout
        shot = folder.parent / f"{name}.png"
        subprocess.run([exe, *FLAGS, "--hide-scrollbars", "--window-size=1280,3000", f"--screenshot={shot}", url],
                       capture_output=True, timeout=180)
        out[name] = {"rep": rep, "dom": dom, "shot": shot}
    return out


def visible_text(dom: str) -> str:
    body = dom.split("<body", 1)[1]
    body = re.sub(r"<script.*?</script>", " ", body, flags=re.S)
    body = re.sub(r'<img[^>]*>', " ", body)
    body = re.sub(r'<a class="download"[^>]*>', " ", body)
    return html.unescape(re.sub(r"<[^>]+>", " ", body)).replace("\u00a0", " ")


@pytest.mark.parametrize("name", list(DATA))
def test_every_figure_decodes_in_the_browser(pages, name):
    page = pages[name]
    body = re.search(r"<body[^>]*>", page["dom"])
    assert body, page["dom"][:300]
    n = len(page["rep"].figure_png)
    assert f'data-images-loaded="{n}"' in body.group(0) and 'data-images-failed="0"' in body.group(0)
    data = page["shot"].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000  # a blank page compresses to a few kB


@pytest.mark.parametrize("name", list(DATA))
def test_figures_and_sections_follow_the_design(pages, name):
    must, must_not, sections = EXPECTED[name]
    dom = pages[name]["dom"]
    shown = set(re.findall(r'<figure id="fig-([a-z_]+)"', dom))
    assert must <= shown, must - shown
    assert not (must_not & shown), must_not & shown
    for title in sections:
        assert f">{title}</h2>" in dom, title


@pytest.mark.parametrize("name, banned", [
    ("biomass", r"\bwaves?\b|trajector|initial level|rate of change|as the time variable|started higher"),
    ("crossed", r"\bwaves?\b|trajector|initial level|rate of change|as the time variable"),
    ("times", r"\bwaves?\b"),
])
def test_words_follow_the_design(pages, name, banned):
    text = visible_text(pages[name]["dom"])
    hit = re.search(banned, text, re.I)
    assert hit is None, text[max(0, hit.start() - 150): hit.end() + 150]


def test_words_of_each_design(pages):
    waves = visible_text(pages["waves"]["dom"])
    assert "5 waves each" in waves and "waves per unit" in waves
    times = visible_text(pages["times"]["dom"])
    assert "measured at unit-specific values of years" in times
    assert "local-linear smooth of all observations" in times  # the mean curve is smoothed, and says so
    biomass = visible_text(pages["biomass"]["dom"])
    assert "with Temp and N as predictors" in biomass and "no time axis here" in biomass
    assert "'Temp' does not read as time" in biomass
    crossed = visible_text(pages["crossed"]["dom"])
    assert "crossed grouping factors" in crossed and "levels of item" in crossed
    assert "shrinkage plot skipped" in crossed  # cond is not in the random terms: the panels would mislead


def test_missing_values_table_lists_every_column(pages):
    dom = pages["biomass"]["dom"]
    table = dom.split("Missing values in every column the models use", 1)[1].split("</table>", 1)[0]
    cols = re.findall(r'<td class="text">([^<]+)</td><td class="text">[a-z0-9]+</td>', table)
    assert cols == ["Biomass", "Temp", "N", "Site"]


def test_intervals_note_says_t_on_the_same_df(pages):
    text = visible_text(pages["waves"]["dom"])
    assert "t tests and intervals use Satterthwaite's degrees of freedom" in text
    assert "Wald intervals" not in text
