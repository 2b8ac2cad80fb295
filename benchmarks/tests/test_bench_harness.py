"""Checks of the benchmark harness itself (no timing assertions).

Run from the repository root: ``python -m pytest benchmarks/tests -q``.
"""

from __future__ import annotations

import shutil
import sys

import pandas as pd
import pytest
from benchmarks import baseline, report
from benchmarks.adapters import registry
from benchmarks.adapters.base import CANNOT_EXPRESS, OK, TIMEOUT, RunResult, merge_repeats
from benchmarks.adapters.lme4_adapter import fill_result, parse_output
from benchmarks.adapters.proc import run_limited
from benchmarks.adapters.runner import RunSettings
from benchmarks.adapters.statsmodels_adapter import _theta, cannot_express
from benchmarks.data import subsample_groups
from benchmarks.problems import KINDS, PROBLEMS, Problem, select


def test_registry_is_consistent():
    for p in PROBLEMS.values():
        assert p.kind in KINDS
        assert p.criterion in ("REML criterion", "deviance")
        tokens = p.formula
        for ch in "()|:":
            tokens = tokens.replace(ch, " ")
        assert set(p.categorical) <= set(tokens.split())


def test_select_leaves_out_heavy_problems_unless_asked():
    default = [p.name for p in select()]
    assert "ratings1m_slope" not in default and "insteval_ml" in default
    assert "ratings1m_slope" in [p.name for p in select(include_heavy=True)]
    assert [p.name for p in select(["growth800k", "insteval_ml"])] == ["insteval_ml", "growth800k"]
    with pytest.raises(KeyError):
        select(["nope"])


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        Problem("x", "bootstrap-later", "insteval", "y ~ 1 + (1 | s)", reml=True)


@pytest.mark.parametrize(("expr", "expected"), [("1 + t", "~1 + t"), ("t", "~1 + t"), ("0 + t", "~0 + t"),
                                                 ("1", "~1"), ("t - 1", "~t - 1")])
def test_statsmodels_re_formula(expr, expected):
    from benchmarks.adapters.statsmodels_adapter import _re_formula

    assert _re_formula(expr) == expected


def test_statsmodels_expresses_one_grouping_factor_only():
    assert cannot_express(PROBLEMS["growth800k"]) is None
    assert cannot_express(PROBLEMS["sleepstudy_warm"]) is None
    assert "crossed" in cannot_express(PROBLEMS["insteval_ml"])


def test_theta_from_covariance_is_lme4_order():
    # L = [[2, 0], [1, 3]] -> cov = L L^T; lme4's theta is the lower triangle column by column: 2, 1, 3
    cov = [[4.0, 2.0], [2.0, 10.0]]
    assert _theta(cov, 1.0) == pytest.approx([2.0, 1.0, 3.0])


def test_subsample_keeps_whole_groups():
    frame = pd.DataFrame({"g": pd.Categorical([i // 3 for i in range(300)]), "y": range(300)})
    small = subsample_groups(frame, "g", 0.1, seed=3)
    assert small["g"].nunique() == 10 and len(small) == 30
    assert small.groupby("g", observed=True).size().eq(3).all()
    assert len(small["g"].cat.categories) == 10


R_OUTPUT = "\n".join([
    "r_version\tR version 4.2.2", "lme4_version\t1.1.31", "load_seconds\t0.5", "data_bytes\t1048576",
    "rss_after_load_kb\t102400", "fit_peak_kb\t204800", "times\t1.25", "objective\t1743.6282719599",
    "nobs\t180", "fixef_names\t(Intercept)\tDays", "fixef\t251.405\t10.467", "sigma\t25.59", "theta\t0.96\t0.015\t0.23",
    "converged\tFALSE", "warnings\tModel failed to converge", "singular\tFALSE", "done\t1",
])


def test_lme4_output_is_read_back():
    r = fill_result(RunResult("sleepstudy_warm", "lme4", "warm"), parse_output(R_OUTPUT))
    assert r.status == OK and r.times == [1.25] and r.nobs == 180
    assert r.fixef == {"(Intercept)": 251.405, "Days": 10.467}
    assert r.objective == pytest.approx(1743.6282719599)
    assert r.fit_increment_mb == pytest.approx(100.0) and r.data_mb == pytest.approx(1.0)
    assert r.converged is False and r.warnings == ["Model failed to converge"]


def test_lme4_output_without_done_is_an_error():
    text = R_OUTPUT.rsplit("\n", 1)[0]
    assert fill_result(RunResult("p", "lme4", "fit"), parse_output(text)).status == "error"


def test_merge_repeats_takes_median_and_largest_peak():
    a = RunResult("p", "lmmflow", "fit", times=[3.0], fit_peak_mb=10.0, warnings=["w"])
    b = RunResult("p", "lmmflow", "fit", times=[1.0], fit_peak_mb=12.0, warnings=["w"])
    c = RunResult("p", "lmmflow", "fit", times=[2.0], fit_peak_mb=11.0)
    m = merge_repeats([a, b, c])
    assert m.seconds == 2.0 and m.fit_peak_mb == 12.0 and m.warnings == ["w"]
    failed = RunResult("p", "lmmflow", "fit", status=TIMEOUT, note="timed out after 5 s")
    assert merge_repeats([a, failed]).status == TIMEOUT


def test_run_limited_kills_after_the_limit():
    done = run_limited([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert done.timed_out and done.returncode is None


def _sample_results() -> list[RunResult]:
    common = {"criterion": "REML criterion", "nobs": 800, "data_mb": 1.0, "rss_after_load_mb": 100.0}
    return [
        RunResult("growth800k", "lmmflow", "fit", times=[1.0], objective=10.0, fit_peak_mb=102.0, **common),
        RunResult("growth800k", "lme4", "fit", times=[4.0], objective=10.000001, fit_peak_mb=103.0,
                  reused_from="lme4_baseline.json", **common),
        RunResult("growth800k", "statsmodels", "fit", times=[9.0], objective=1.0, subsample=0.1,
                  note="on 10% of the id groups", **{**common, "nobs": 80}),
        RunResult("insteval_ml", "statsmodels", "fit", status=CANNOT_EXPRESS, note="crossed"),
    ]


def test_report_ratios_only_for_comparable_fits():
    head, rows = report.time_rows(_sample_results())
    row = dict(zip(head, rows[0]))
    assert row["lme4 / lmmflow"] == "4.0x"
    assert row["statsmodels / lmmflow"] == report.DASH and row["statsmodels"].endswith("*")
    assert row["lme4"].endswith("†")
    _, obj = report.objective_rows(_sample_results())
    assert obj[0][4] == "-1.00e-06" and obj[0][6] == report.DASH


def test_markdown_report_mentions_command_and_notes():
    text = report.render_markdown(_sample_results(), {"nproc": 2, "cpu_model": "X"}, "python benchmarks/run.py",
                                  "2026-01-01T00:00:00+00:00")
    assert "`python benchmarks/run.py`" in text and "## Fit time" in text and "cannot express" in text
    assert "reused from lme4_baseline.json" in text


def test_baseline_round_trip(tmp_path):
    path = tmp_path / "baseline.json"
    results = _sample_results()
    results[1].reused_from = ""
    assert baseline.save(results, "cmd", {"nproc": 2}, path) == ["growth800k"]
    again = baseline.reuse("growth800k", False, path)
    assert again is not None and again.objective == 10.000001 and again.extra["baseline_command"] == "cmd"
    assert baseline.reuse("growth800k", True, path) is None


def test_cannot_express_is_reported_without_running():
    r = registry()["statsmodels"].run(PROBLEMS["ratings1m"], RunSettings())
    assert r.status == CANNOT_EXPRESS and not r.times


@pytest.mark.slow
def test_python_worker_fits_sleepstudy():
    r = registry()["statsmodels"].run(PROBLEMS["sleepstudy_warm"], RunSettings(warm_repeats=2))
    assert r.status == OK, r.note
    assert r.objective == pytest.approx(1743.6283, abs=1e-3) and len(r.times) == 2 and r.nobs == 180


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
def test_lme4_adapter_fits_sleepstudy():
    r = registry()["lme4"].run(PROBLEMS["sleepstudy_warm"], RunSettings(warm_repeats=2))
    assert r.status == OK, r.note
    assert r.objective == pytest.approx(1743.6283, abs=1e-3) and len(r.times) == 2


def test_worker_times_only_the_fit_call():
    """An adapter split into ``fit_model`` and ``summarize`` has only the first timed (as R times lmer())."""
    import time
    from types import SimpleNamespace

    from benchmarks.adapters.base import FitOutput
    from benchmarks.adapters.pyworker import _timed_fits

    def summarize(model):
        time.sleep(0.05)  # reading the estimates: must not count
        return FitOutput(objective=model, fixef={}, sigma=1.0, theta=[1.0])

    mod = SimpleNamespace(fit_model=lambda problem, frame: 1.0, summarize=summarize)
    out, times = _timed_fits(mod, PROBLEMS["insteval_ml"], None, 1)
    assert out.objective == 1.0 and len(times) == 1 and times[0] < 0.04
    warm = PROBLEMS["sleepstudy_warm"]
    out, times = _timed_fits(mod, warm, None, 3)
    assert len(times) == 3 and max(times) < 0.04
