"""A GLMM report (binary growth, lme4's reference data) in headless Chromium: every figure decodes, the GLMM
sections and words are there and nothing LMM-only is."""

from __future__ import annotations

import re
import subprocess
import warnings
from pathlib import Path

import pandas as pd
import pytest

import lmmflow as lf

from .conftest import chromium_or_skip
from .test_designs_browser import FLAGS, visible_text

pytestmark = pytest.mark.browser

DATA = Path(__file__).parents[1] / "reference" / "data" / "glmm_binary_growth.csv"


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> dict:
    exe = chromium_or_skip()
    folder = tmp_path_factory.mktemp("glmm_browser") / "report"
    df = pd.read_csv(DATA).astype({"id": str})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = lf.report(df, "y ~ time * group + (1 + time | id)", family="binomial", out=folder, seed=1,
                        formats=("html",), dpi=70)
    url = (folder / "report.html").resolve().as_uri()
    dom = subprocess.run([exe, *FLAGS, "--dump-dom", url], capture_output=True, text=True, timeout=180).stdout
    shot = folder.parent / "glmm.png"
    subprocess.run([exe, *FLAGS, "--hide-scrollbars", "--window-size=1280,3000", f"--screenshot={shot}", url],
                   capture_output=True, timeout=180)
    return {"rep": rep, "dom": dom, "shot": shot}


def test_every_figure_decodes(page):
    body = re.search(r"<body[^>]*>", page["dom"])
    assert body, page["dom"][:300]
    n = len(page["rep"].figure_png)
    assert n >= 6
    assert f'data-images-loaded="{n}"' in body.group(0) and 'data-images-failed="0"' in body.group(0)
    data = page["shot"].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000


def test_glmm_figures_and_sections(page):
    shown = set(re.findall(r'<figure id="fig-([a-z_]+)"', page["dom"]))
    assert {"observed", "response_curve", "binned_residuals", "caterpillar", "shrinkage"} <= shown
    assert not shown & {"spaghetti", "residuals_vs_fitted", "qq_residuals", "variance_over_time", "icc_over_time",
                        "prediction_curve"}
    for title in ("2. Observed proportions", "5. Diagnostics", "6. Interpretation"):
        assert f">{title}</h2>" in page["dom"], title


def test_words_are_the_glmms(page):
    text = visible_text(page["dom"])
    assert "generalized linear mixed model for a binary (binomial) outcome" in text
    assert "odds ratios (OR" in text and "OR = " in text and "log-odds (logit) scale" in text
    assert "Binned residuals" in text
    hit = re.search(r"Satterthwaite|Kenward|REML|residual SD|Residual SD|\bt\(", text)
    assert hit is None, text[max(0, hit.start() - 150): hit.end() + 150]
