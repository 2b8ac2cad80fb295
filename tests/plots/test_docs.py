"""docs/plots.md shows every plot function: an example call and the figure it draws, and every image exists."""

import re
from pathlib import Path

import pytest

import lmmflow as lf

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: functions whose figure is another function's (a single panel of it)
SAME_FIGURE = {"shrinkage": "shrinkage_panels",
               **{f"check_{k}": "check_model" for k in ("ppc", "linearity", "homogeneity", "influence", "normality",
                                                        "ranef_normality")}}
#: public helpers of lf.plots that return tables, not figures
TABLES = {"prediction_grid", "shrinkage_frame", "binned_residuals_frame", "proportion_table", "response_band"}
PLOTS = sorted(set(lf.plots.__all__) - TABLES)


def _code_blocks(text: str) -> str:
    return "\n".join(re.findall(r"```[a-z]*\n(.*?)```", text, re.S))


@pytest.mark.parametrize("name", PLOTS)
def test_each_plot_function_has_an_example_and_its_figure(name):
    text = (DOCS / "plots.md").read_text(encoding="utf-8")
    assert f"lf.plots.{name}(" in _code_blocks(text), f"no example of lf.plots.{name} in docs/plots.md"
    figure = SAME_FIGURE.get(name, name)
    assert f"](img/{figure}.png)" in text, f"docs/plots.md does not show img/{figure}.png"
    png = DOCS / "img" / f"{figure}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_helpers_have_an_example(name):
    assert f"lf.plots.{name}(" in _code_blocks((DOCS / "plots.md").read_text(encoding="utf-8"))


def test_every_image_the_docs_show_exists():
    shown = set()
    for md in DOCS.glob("*.md"):
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md.read_text(encoding="utf-8")):
            shown.add(target)
            assert (DOCS / target).is_file(), f"{md.name} shows {target}, which does not exist"
    assert {"img/explorer.png", "img/report.png"} <= shown
