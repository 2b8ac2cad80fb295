"""The GLMM benchmark harness: data makers, the docs section and its survival of run.py's report."""

from __future__ import annotations

import numpy as np
from benchmarks import glmm_bench, make_glmm
from benchmarks.run import keep_glmm_section


def test_simulated_sets_are_deterministic_and_shaped() -> None:
    a, b = make_glmm.binary_growth(nid=50), make_glmm.binary_growth(nid=50)
    assert a.equals(b) and len(a) == 300 and set(a["y"]) <= {0, 1}
    assert list(a.columns) == ["id", "time", "group", "y"]
    assert (a.groupby("id")["group"].nunique() == 1).all()
    c = make_glmm.counts_slope(nsite=20)
    assert len(c) == 240 and (c["y"] >= 0).all() and np.issubdtype(c["y"].dtype, np.integer)


def _results() -> dict:
    ok = {"status": "ok", "seconds": 2.0, "loglik": -10.0, "warnings": []}
    return {"verbagg": {"lmmflow": {**ok, "seconds": 0.5, "peak_rss_mb": 200.0},
                        "lmmflow_dask": {**ok, "partitions": 8, "peak_rss_mb": 210.0},
                        "lme4": {**ok, "seconds": 40.0, "warnings": ["Model failed to converge"]},
                        "glmmTMB": {"status": "timeout"}}}


def test_section_has_ratios_and_logliks() -> None:
    text = glmm_bench.render_section(_results(), {"generated_at": "T", "command": "cmd", "machine": "m"})
    assert text.startswith(glmm_bench.START) and text.endswith(glmm_bench.END)
    row = next(line for line in text.splitlines() if line.startswith("| verbagg"))
    assert "80.0x" in row and "20.0x" in row and "timeout" in row and "-10.0000" in row
    assert "Model failed to converge" in text


def test_docs_section_is_replaced_and_kept(tmp_path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nLMM tables\n")
    glmm_bench.write_docs(_results(), {"command": "first"}, doc)
    glmm_bench.write_docs(_results(), {"command": "second"}, doc)
    text = doc.read_text()
    assert text.count(glmm_bench.START) == 1 and "second" in text and "first" not in text
    regenerated = keep_glmm_section("# Benchmarks\n\nnew LMM tables\n", doc)
    assert "new LMM tables" in regenerated and "second" in regenerated
    assert keep_glmm_section("x", tmp_path / "missing.md") == "x"
