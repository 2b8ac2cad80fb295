"""The glmmTMB library, the structured-covariance problems and the report's per-library columns.

Run from the repository root: ``python -m pytest benchmarks/tests -q``.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from benchmarks import baseline, data, problems, report, run
from benchmarks.adapters import LIBS, registry
from benchmarks.adapters.base import CANNOT_EXPRESS, OK, RunResult
from benchmarks.adapters.lme4_adapter import fill_result, parse_output
from benchmarks.adapters.runner import RunSettings
from benchmarks.problems import PROBLEMS, Problem

GLMMTMB_OUTPUT = "\n".join([
    "r_version\tR version 4.2.2", "glmmtmb_version\t1.1.5", "tmb_version\t1.9.2", "load_seconds\t0.01",
    "data_bytes\t5408", "rss_after_load_kb\t221316", "fit_peak_kb\t224816", "times\t0.676",
    "objective\t1743.6282719586554", "nobs\t180", "fixef_names\t(Intercept)\tDays", "fixef\t251.405\t10.467",
    "sigma\t25.59", "theta\t0.9667\t0.0152\t0.2309", "theta_native\t3.208\t1.779\t0.0657", "converged\tTRUE",
    "warnings", "optimizer\tnlminb", "evaluations\t22", "done\t1",
])


def test_glmmtmb_output_is_read_back():
    r = fill_result(RunResult("sleepstudy_warm", "glmmtmb", "fit"), parse_output(GLMMTMB_OUTPUT), "glmmtmb_version")
    assert r.status == OK and r.version == "1.1.5" and r.extra["tmb_version"] == "1.9.2"
    assert r.theta == [0.9667, 0.0152, 0.2309] and r.extra["theta_native"] == [3.208, 1.779, 0.0657]
    assert r.converged is True and r.warnings == [] and r.extra["evaluations"] == 22
    assert r.extra["singular"] is None  # glmmTMB does not say


def test_glmmtmb_is_a_library_between_lme4_and_statsmodels():
    assert LIBS == ("lmmflow", "lme4", "glmmtmb", "statsmodels")
    assert registry()["glmmtmb"].name == "glmmtmb"


@pytest.mark.parametrize(("name", "structures"), [("ar1_growth", ("ar1",)), ("cs_growth", ("cs",)),
                                                   ("kb07_ml", ()), ("growth800k", ())])
def test_structures_are_read_from_the_formula(name, structures):
    assert PROBLEMS[name].structures == structures


@pytest.mark.parametrize("name", ["ar1_growth", "cs_growth"])
@pytest.mark.parametrize(("lib", "says"), [("lme4", "lme4 1.1 has no"), ("statsmodels", "MixedLM has unstructured")])
def test_structured_problems_cannot_be_expressed_by_lme4_or_statsmodels(name, lib, says):
    r = registry()[lib].run(PROBLEMS[name], RunSettings())
    assert r.status == CANNOT_EXPRESS and says in r.note and not r.times


@pytest.mark.parametrize("name", ["ar1_growth", "cs_growth", "kb07_ml", "nested18k"])
def test_glmmtmb_and_lmmflow_take_every_problem(name):
    adapters = registry()
    assert adapters["glmmtmb"].cannot_express(PROBLEMS[name]) is None
    assert adapters["lmmflow"].why_not(PROBLEMS[name]) is None


def test_waves_data_are_deterministic_and_shaped_like_growth():
    a, b = data.make_waves(30), data.make_waves(30)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 30 * 5 * 2 and a["id"].nunique() == 30 and sorted(a["wave"].unique()) == [f"w{i}" for i in
                                                                                                 range(1, 6)]
    assert a.groupby(["id", "wave"]).size().eq(2).all()


def test_missing_waves_file_is_written_on_first_use(tmp_path, monkeypatch):
    path = tmp_path / "waves_12.csv"
    ds = problems.DataSet("waves12", path, origin="test", maker="write_waves")
    monkeypatch.setattr(problems, "DATASETS", {**problems.DATASETS, "waves12": ds})
    p = Problem("w", "fit", "waves12", "y ~ time + ar1(0 + wave | id)", reml=True, categorical=("wave", "id"))
    assert data.data_file(p) == path and path.is_file()
    frame, _ = data.load_frame(p)
    assert len(frame) == 120 and isinstance(frame["wave"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(pd.read_csv(path), pd.read_csv(data.write_csv(data.make_waves(12),
                                                                                tmp_path / "again.csv")))


def test_a_data_set_without_maker_still_says_how_to_make_it(tmp_path, monkeypatch):
    ds = problems.DataSet("gone", tmp_path / "gone.csv", origin="python make_it.py")
    monkeypatch.setattr(problems, "DATASETS", {**problems.DATASETS, "gone": ds})
    with pytest.raises(data.MissingDataError, match="make_it.py"):
        data.data_file(Problem("g", "fit", "gone", "y ~ 1 + (1 | g)", reml=True))


def _results() -> list[RunResult]:
    """A fake run: an issue-12 problem with all four libraries and a structured one with lmmflow and glmmTMB."""
    common = {"criterion": "deviance", "nobs": 1792, "data_mb": 1.0, "rss_after_load_mb": 100.0}
    ar1 = {**common, "criterion": "REML criterion", "nobs": 40000}
    return [
        RunResult("kb07_ml", "lmmflow", "fit", times=[0.2], objective=100.0, fit_peak_mb=110.0, **common),
        RunResult("kb07_ml", "lme4", "fit", times=[5.0], objective=100.00000001, fit_peak_mb=150.0,
                  reused_from="lme4_baseline.json", **common),
        RunResult("kb07_ml", "glmmtmb", "fit", times=[20.0], objective=100.0000002, fit_peak_mb=130.0,
                  warnings=["non-positive-definite Hessian"], **common),
        RunResult("kb07_ml", "statsmodels", "fit", status=CANNOT_EXPRESS, note="crossed"),
        RunResult("ar1_growth", "lmmflow", "fit", times=[0.1], objective=17266.6854, fit_peak_mb=103.0, **ar1),
        RunResult("ar1_growth", "lme4", "fit", status=CANNOT_EXPRESS, note="lme4 1.1 has no ar1()"),
        RunResult("ar1_growth", "glmmtmb", "fit", times=[3.0], objective=17266.6855, fit_peak_mb=140.0, **ar1),
    ]


def test_time_table_has_a_glmmtmb_column_and_ratio():
    head, rows = report.time_rows(_results())
    kb07, ar1 = (dict(zip(head, row)) for row in rows)
    assert head[2:6] == ["lmmflow", "lme4", "glmmTMB", "statsmodels"]
    assert kb07["lme4 / lmmflow"] == "25.0x" and kb07["glmmTMB / lmmflow"] == "100.0x"
    assert kb07["statsmodels"] == "cannot express" and kb07["statsmodels / lmmflow"] == report.DASH
    assert ar1["lme4"] == "cannot express" and ar1["lme4 / lmmflow"] == report.DASH
    assert ar1["glmmTMB / lmmflow"] == "30.0x"


def test_columns_only_for_libraries_that_were_run():
    only = [r for r in _results() if r.lib in ("lmmflow", "glmmtmb")]
    head, _ = report.time_rows(only)
    assert "lme4" not in head and "glmmTMB" in head and "statsmodels" not in head
    head, _ = report.memory_rows(only)
    assert "glmmTMB fit peak − loaded" in head and "lme4 fit peak − loaded" not in head


def test_objective_table_compares_lmmflow_with_each_r_library():
    head, rows = report.objective_rows(_results())
    kb07, ar1 = (dict(zip(head, row)) for row in rows)
    assert kb07["lmmflow − lme4"] == "-1.00e-08" and kb07["lmmflow − glmmTMB"] == "-2.00e-07"
    assert ar1["lmmflow − lme4"] == report.DASH and ar1["lmmflow − glmmTMB"] == "-1.00e-04"


def test_memory_table_has_each_r_library():
    head, rows = report.memory_rows(_results())
    kb07 = dict(zip(head, rows[0]))
    assert head.count("÷ data") == 3
    assert kb07["glmmTMB fit peak − loaded"] == "30" and kb07["lme4 fit peak − loaded"] == "50"


@pytest.mark.parametrize(("lmmflow_seconds", "objective", "verdict"), [
    (0.2, 100.0, "met (25.0x"),            # 25x, better objective
    (0.5, 100.0, "NOT met (10.0x"),         # too slow
    (0.2, 100.001, "NOT met (25.0x"),       # fast, but a worse optimum
])
def test_issue12_target_is_checked(lmmflow_seconds, objective, verdict):
    results = _results()
    results[0].times, results[0].objective = [lmmflow_seconds], objective
    text = report.target_text(PROBLEMS["kb07_ml"], report.index(results))
    assert text is not None and verdict in text
    assert report.target_text(PROBLEMS["ar1_growth"], report.index(results)) is None


def test_target_not_measured_without_lme4():
    results = [r for r in _results() if r.lib != "lme4"]
    assert "not measured" in report.target_text(PROBLEMS["kb07_ml"], report.index(results))


def test_notes_are_grouped_by_problem():
    notes = report.problem_notes(_results())
    assert list(notes) == ["kb07_ml", "ar1_growth"]
    assert notes["kb07_ml"][0].startswith("issue 12 problem") and "met" in notes["kb07_ml"][1]
    assert "glmmTMB warnings: non-positive-definite Hessian" in notes["kb07_ml"]
    assert any("lme4: cannot express" in n for n in notes["ar1_growth"])
    text = report.render_markdown(_results(), {"nproc": 2, "glmmtmb_version": "1.1.5"}, "cmd", "2026-12-04")
    assert "### kb07_ml" in text and "### ar1_growth" in text and "glmmTMB 1.1.5" in text
    assert text.index("### kb07_ml") < text.index("### ar1_growth")


def test_glmmtmb_baseline_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(baseline, "RESULTS", tmp_path)
    results = _results()
    assert baseline.save(results, "cmd", {}, baseline.path_for("glmmtmb"), "glmmtmb") == ["kb07_ml", "ar1_growth"]
    assert baseline.path_for("glmmtmb") == tmp_path / "glmmtmb_baseline.json"
    again = baseline.reuse("ar1_growth", False, baseline.path_for("glmmtmb"))
    assert again is not None and again.lib == "glmmtmb" and again.reused_from == "glmmtmb_baseline.json"
    assert not (tmp_path / "lme4_baseline.json").exists()  # lme4's figures are not written into it


def test_baseline_keeps_failures_that_would_recur_but_not_refusals(tmp_path):
    path = tmp_path / "glmmtmb_baseline.json"
    records = [RunResult("nested1_8m", "glmmtmb", "fit", status="error", note="cannot allocate vector"),
               RunResult("growth800k", "glmmtmb", "fit", status="timeout", note="timed out after 1800 s"),
               RunResult("ar1_growth", "lme4", "fit", status=CANNOT_EXPRESS),
               RunResult("kb07_ml", "glmmtmb", "fit", status="missing")]
    assert baseline.save(records, "cmd", {}, path, "glmmtmb") == ["nested1_8m", "growth800k"]
    again = baseline.reuse("nested1_8m", False, path)
    assert again.status == "error"
    notes = report.problem_notes([again])["nested1_8m"]
    assert any("cannot allocate vector (reused from glmmtmb_baseline.json" in n for n in notes)


def test_run_reuses_saved_glmmtmb_figures(tmp_path, monkeypatch):
    monkeypatch.setattr(baseline, "RESULTS", tmp_path)
    saved = RunResult("ar1_growth", "glmmtmb", "fit", times=[3.0], objective=1.0, nobs=40000,
                      criterion="REML criterion")
    baseline.save([saved], "the heavy command", {}, baseline.path_for("glmmtmb"), "glmmtmb")
    out = tmp_path / "latest.json"
    assert run.main(["--problems", "ar1_growth", "--libs", "glmmtmb,lme4", "--reuse-baseline", "--no-docs",
                     "--output", str(out)]) == 0
    records = {r["lib"]: r for r in json.loads(out.read_text())["results"]}
    assert records["glmmtmb"]["reused_from"] == "glmmtmb_baseline.json" and records["glmmtmb"]["times"] == [3.0]
    assert records["lme4"]["status"] == CANNOT_EXPRESS


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
@pytest.mark.parametrize(("reml", "lme4_objective"), [(True, 1743.6282719600), (False, 1751.9393444890)])
def test_glmmtmb_objective_is_on_lme4s_scale(reml, lme4_objective):
    """glmmTMB's 2 * objective is lme4's REMLcrit (REML) and deviance (ML) on sleepstudy (lme4 1.1-31 figures)."""
    p = Problem("sleepstudy_fit", "fit", "sleepstudy", "Reaction ~ Days + (Days | Subject)", reml=reml,
                categorical=("Subject",))
    r = registry()["glmmtmb"].run(p, RunSettings())
    assert r.status == OK, r.note
    assert r.objective == pytest.approx(lme4_objective, abs=1e-6)
    assert r.nobs == 180 and r.version and r.fit_peak_mb is not None and len(r.times) == 1
    # lme4's theta, computed from glmmTMB's covariance (lme4: 0.9667, 0.0152, 0.2309 for REML)
    if reml:
        assert r.theta == pytest.approx([0.96674177, 0.01516906, 0.23090995], abs=1e-4)


def test_memory_limit_makes_a_runaway_process_fail_alone():
    import sys

    from benchmarks.adapters.proc import run_limited

    code = "import numpy as np; a = np.ones(2**28); print(a.sum())"  # 2 GiB
    capped = run_limited([sys.executable, "-c", code], timeout=60, memory_limit_gb=1.0)
    assert capped.returncode != 0 and "MemoryError" in capped.stderr
    assert run_limited([sys.executable, "-c", "print(1)"], timeout=60, memory_limit_gb=1.0).returncode == 0
