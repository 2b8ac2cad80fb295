"""report.html is one self-contained file, and it renders in a real headless Chromium with every image decoded."""

from __future__ import annotations

import base64
import re
import subprocess

import pytest

from .conftest import chromium_or_skip


@pytest.fixture(scope="module")
def page(rep, rep_dir) -> str:
    return (rep_dir / "report.html").read_text(encoding="utf-8")


def test_no_external_references(page):
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page  # CSS is inline
    assert not re.search(r"<script[^>]+src=", page)
    assert "@import" not in page and "url(" not in page


def test_every_image_is_an_inline_png(page, rep):
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]+)"', page)
    assert len(srcs) == len(rep.figure_png) >= 9
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert f'data-images-total="{len(srcs)}"' in page


def test_downloads_are_data_uris(page, rep):
    links = re.findall(r'<a class="download" download="([^"]+)" href="([^"]+)"', page)
    assert {name for name, _ in links} == {"blups.csv", "fixed_effects.csv"}
    for _, href in links:
        assert href.startswith("data:text/csv;base64,")
        csv = base64.b64decode(href.split(",", 1)[1]).decode()
        assert csv.splitlines()[0].split(",")[0] in {"id", "term"}


def test_sections_and_summary(page, rep):
    for title in ("Written summary", "1. The data", "2. Look at the trajectories", "3. The models",
                  "4. Model comparison", "5. Diagnostics", "6. Interpretation", "7. Unit-level effects (BLUPs)",
                  "8. Shrinkage and individual trajectories", "9. Reproduce"):
        assert f">{title}</h2>" in page, title
    import html

    flat = page.replace("\u00a0", " ")
    for p in rep.paragraphs:
        assert html.escape(p, quote=True) in flat
    assert "p\u00a0&lt;\u00a0.001" in page  # statistics do not break across lines


@pytest.mark.browser
def test_renders_in_headless_chromium(rep, rep_dir, tmp_path):
    exe = chromium_or_skip()
    url = (rep_dir / "report.html").resolve().as_uri()
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"]
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body, dom[:500]
    n = len(rep.figure_png)
    assert f'data-images-loaded="{n}"' in body.group(0), body.group(0)
    assert 'data-images-failed="0"' in body.group(0)
    shot = tmp_path / "report.png"
    subprocess.run([*flags, "--hide-scrollbars", "--window-size=1280,2400", f"--screenshot={shot}", url],
                   capture_output=True, timeout=120)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000  # a blank page compresses to a few kB


def test_reproduce_code_reruns_the_report(growth, tmp_path, monkeypatch):
    """The Python in section 9 reads the data file and gives the same numbers."""
    import html
    import io
    from contextlib import redirect_stdout

    import numpy as np
    import pandas as pd

    import lmmflow as lf

    from .conftest import FORMULA

    data = tmp_path / "growth.csv"
    growth.to_csv(data, index=False)
    rep = lf.report(data, FORMULA, out=tmp_path / "first", formats=("html",), figures=False, level=0.9)
    page = (tmp_path / "first" / "report.html").read_text(encoding="utf-8")
    code = html.unescape(re.search(r'<section id="code">.*?<pre>(.*?)</pre>', page, re.S).group(1))
    assert f"lf.read_data({str(data)!r})" in code and "level=0.9" in code
    monkeypatch.chdir(tmp_path)
    with redirect_stdout(io.StringIO()):
        exec(code.replace("out='report'", "out='again', figures=False"), {})
    first, again = (pd.read_csv(tmp_path / d / "fixed_effects.csv") for d in ("first", "again"))
    np.testing.assert_allclose(again["estimate"], first["estimate"], rtol=1e-12)
    np.testing.assert_allclose(again["conf_low"], first["conf_low"], rtol=1e-12)
    assert rep.values["level"] == 0.9
