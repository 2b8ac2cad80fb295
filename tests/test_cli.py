"""The ``lmmflow`` command: each subcommand end to end, and one clear line for each kind of bad input."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.cli import build_parser, main, parse_waves

FORMULA = "y ~ time + (1 + time | id)"


def has(name: str) -> bool:
    try:
        getattr(lf, name)
    except (ImportError, AttributeError):
        return False
    return True


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m lmmflow.cli ARGS`` (the same ``main`` as the ``lmmflow`` console script)."""
    return subprocess.run([sys.executable, "-m", "lmmflow.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def call(capsys, *args: str) -> subprocess.CompletedProcess:
    """``main(ARGS)`` in this process (same code path as the script, without the interpreter start-up)."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse usage errors and --help
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out.out, out.err)


def assert_one_line_error(res: subprocess.CompletedProcess, *fragments: str) -> None:
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("lmmflow: error: ")
    for frag in fragments:
        assert frag in lines[0], lines[0]


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cli") / "long.csv"
    lf.simulate_growth(n_units=40, seed=2).to_csv(p, index=False)
    return p


@pytest.fixture(scope="module")
def wide_csv(tmp_path_factory) -> Path:
    d = lf.simulate_growth(n_units=40, times=(0, 1, 3, 6), seed=5)
    wide = d.pivot(index="id", columns="time", values="y")
    wide.columns = [f"y{int(t)}" for t in wide.columns]
    p = tmp_path_factory.mktemp("cli") / "wide.csv"
    wide.reset_index().to_csv(p, index=False)
    return p


# ---- all subprocess runs at once (each costs ~1 s of interpreter start-up; two cores run them side by side) ----
@pytest.fixture(scope="module")
def runs(long_csv, wide_csv, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("runs")
    nope, o = str(tmp / "nope.csv"), str(tmp / "o")
    L, W = str(long_csv), str(wide_csv)
    cases = {
        "help": ["--help"],
        "fit": ["fit", L, FORMULA],
        "report": ["report", L, "--formula", FORMULA, "--out", str(tmp / "rep"), "--seed", "1"],
        # bad input, one case of each kind through the real interpreter; variants run in-process below
        "missing_fit": ["fit", nope, FORMULA],
        "column_fit": ["fit", L, "y ~ tiem + (1 | id)"],
        "bracket": ["fit", L, "y ~ time + (1 + time | id"],
        "wide_as_long_report": ["report", W, "--formula", FORMULA, "--out", o],
        "usage_missing_formula": ["report", L],
        "debug": ["--debug", "fit", nope, FORMULA],
    }
    if has("simulate_growth"):
        cases["simulate"] = ["simulate", "--out", str(tmp / "sim.csv"), "--units", "12", "--times", "0,1,2,4",
                             "--slope", "3", "--seed", "9"]
    if has("wide_to_long"):
        cases["wide"] = ["report", W, "--formula", FORMULA, "--wide", "--id", "id", "--waves", "y0=0,y1=1,y3=3,y6=6",
                         "--out", str(tmp / "wide"), "--formats", "txt", "--no-figures"]
        cases["wide_html"] = ["report", W, "--formula", FORMULA, "--wide", "--id", "id", "--waves",
                              "y0=0,y1=1,y3=3,y6=6", "--out", str(tmp / "wide_html"), "--formats", "html",
                              "--no-figures"]
    if has("simulate_growth") and has("write_explorer"):
        cases["tutorial"] = ["tutorial", "--out", str(tmp / "tut")]  # the README's first command, defaults and all
    if has("write_explorer"):
        cases["explore"] = ["explore", "--out", str(tmp / "e1.html")]
    order = sorted(cases, key=lambda k: k not in ("tutorial", "report", "wide"))  # the slow ones first
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {k: pool.submit(run, *cases[k]) for k in order}
        out = {k: f.result() for k, f in futures.items()}
    out["tmp"] = tmp
    out["long"], out["wide_csv"] = L, W
    return out


# ---- help ----------------------------------------------------------------------------------------------
def test_help_teaches(runs):
    res = runs["help"]
    assert res.returncode == 0
    for cmd in ("tutorial", "fit", "report", "simulate", "explore"):
        assert cmd in res.stdout
    assert "lmmflow tutorial --out" in res.stdout


@pytest.mark.parametrize("cmd", ["tutorial", "fit", "report", "simulate", "explore"])
def test_each_command_help_has_an_example(cmd, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([cmd, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"lmmflow {cmd} " in out.split("examples:")[1]


def test_parser_and_waves():
    a = build_parser().parse_args(["report", "d.csv", "--formula", FORMULA, "--out", "o"])
    assert a.formats == "html,md,txt" and a.compare is None
    assert parse_waves("w1=0,w2=1,w3=3") == {"w1": 0.0, "w2": 1.0, "w3": 3.0}
    assert parse_waves("a, b, c") == {"a": 0.0, "b": 1.0, "c": 2.0}


# ---- commands -------------------------------------------------------------------------------------------------
@pytest.mark.skipif(not has("simulate_growth"), reason="lmmflow.simulate_growth not available yet")
def test_simulate(runs, capsys, tmp_path):
    assert runs["simulate"].returncode == 0, runs["simulate"].stderr
    d = pd.read_csv(runs["tmp"] / "sim.csv")
    assert len(d) == 48 and sorted(d["time"].unique()) == [0, 1, 2, 4]
    again = tmp_path / "again.csv"
    res = call(capsys, "simulate", "--out", str(again), "--units", "12", "--times", "0,1,2,4", "--slope", "3",
               "--seed", "9")
    assert res.returncode == 0 and "wrote 48 rows" in res.stdout
    pd.testing.assert_frame_equal(d, pd.read_csv(again))


def test_fit_prints_summary(runs, capsys):
    res = runs["fit"]
    assert res.returncode == 0, res.stderr
    assert "Linear mixed model fit by REML" in res.stdout and "Random effects:" in res.stdout
    ml = call(capsys, "fit", runs["long"], FORMULA, "--ml", "--ddf", "none")
    assert ml.returncode == 0 and "maximum likelihood" in ml.stdout


def test_report_long(runs):
    res, out = runs["report"], runs["tmp"] / "rep"
    assert res.returncode == 0, res.stderr
    for name in ("report.html", "summary.txt", "summary.md", "blups.csv", "fixed_effects.csv", "spaghetti.png"):
        assert (out / name).exists(), name
    assert "The average initial level" in res.stdout
    assert (out / "summary.txt").read_text(encoding="utf-8").count("We fitted a linear mixed model") == 1


@pytest.mark.skipif(not has("wide_to_long"), reason="lmmflow.wide_to_long not available yet")
def test_report_wide_with_unequal_spacing(runs):
    res, out = runs["wide"], runs["tmp"] / "wide"
    assert res.returncode == 0, res.stderr
    assert (out / "summary.txt").exists() and not (out / "report.html").exists()
    assert "160 observations of y from 40 units" in res.stdout


@pytest.mark.skipif(not (has("simulate_growth") and has("write_explorer")), reason="pieces not available yet")
def test_tutorial_writes_everything(runs):
    res, out = runs["tutorial"], runs["tmp"] / "tut"
    assert res.returncode == 0, res.stderr
    for name in ("report.html", "summary.txt", "summary.md", "blups.csv", "fixed_effects.csv", "data.csv",
                 "explorer.html", "spaghetti.png", "residuals_vs_fitted.png", "qq_residuals.png", "qq_ranef.png",
                 "caterpillar.png", "shrinkage.png", "trajectories.png", "prediction_curve.png",
                 "variance_over_time.png", "icc_over_time.png"):
        assert (out / name).stat().st_size > 0, name
    d = pd.read_csv(out / "data.csv")
    assert len(d) == 1000 and d["id"].nunique() == 200 and set(d.columns) >= {"id", "time", "y"}
    assert "Open" in res.stdout and "report.html" in res.stdout
    assert "Traceback" not in res.stderr


@pytest.mark.skipif(not (has("simulate_growth") and has("write_explorer")), reason="pieces not available yet")
def test_tutorial_numbers_are_a_direct_fit_of_its_data(runs):
    """The README's main job: every number of the report is the number a direct lf.lmer fit of the simulated
    data gives (the data are the documented simulation: 200 units x 5 waves, seed 9)."""
    import html
    import warnings

    import numpy as np

    from lmmflow.cli import TUTORIAL_SEED
    from lmmflow.reporting.summary_text import fmt_num, fmt_p, fmt_unit

    out = runs["tmp"] / "tut"
    data = pd.read_csv(out / "data.csv", dtype={"id": str})
    sim = lf.simulate_growth(n_units=200, times=(0, 1, 2, 3, 4), seed=TUTORIAL_SEED)
    pd.testing.assert_frame_equal(data, sim, check_dtype=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m1 = lf.lmer(FORMULA, sim)
        m0 = lf.lmer("y ~ time + (1 | id)", sim)
        ml1, ml0 = m1.update(reml=False), m0.update(reml=False)
    # tables
    fe = pd.read_csv(out / "fixed_effects.csv").set_index("term")
    tab = m1.coef_table()
    np.testing.assert_allclose(fe["estimate"], m1.fixef, rtol=1e-10)
    np.testing.assert_allclose(fe["std_error"], m1.std_errors, rtol=1e-10)
    np.testing.assert_allclose(fe["df"], tab["df"], rtol=1e-8)
    np.testing.assert_allclose(fe["p_value"], tab["p_value"], rtol=1e-8)
    blups = pd.read_csv(out / "blups.csv", dtype={"id": str}).set_index("id")
    np.testing.assert_allclose(blups["blup_(Intercept)"], m1.ranef["id"]["(Intercept)"].loc[blups.index], rtol=1e-8)
    np.testing.assert_allclose(blups["blup_time"], m1.ranef["id"]["time"].loc[blups.index], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(blups["coef_time"], m1.coef["id"]["time"].loc[blups.index], rtol=1e-8)
    # the written summary, in summary.txt, on stdout and in report.html
    b0, b1 = m1.fixef["(Intercept)"], m1.fixef["time"]
    vc = m1.varcorr
    chisq = 2 * (ml1.loglik - ml0.loglik)
    from scipy import stats

    expected = [
        f"The average initial level (time = 0) was {fmt_num(b0)} (SE = {fmt_num(m1.std_errors['(Intercept)'])}",
        f"increased by {fmt_num(b1)} points per unit of time",
        f"χ²(2) = {fmt_num(chisq)}, {fmt_p(stats.chi2.sf(chisq, 2))}, ΔAIC = {fmt_num(ml0.aic - ml1.aic, 1)}",
        f"initial level (SD = {fmt_num(vc['sdcor'].iloc[0])})",
        f"rate of change (SD = {fmt_num(vc['sdcor'].iloc[1])} per unit of time)",
        f"r = {fmt_unit(vc['sdcor'].iloc[2])}",
        f"The residual SD was {fmt_num(m1.sigma)}.",
        f"(ICC = {fmt_unit(float(lf.icc(m0)['adjusted']))})",
        f"(marginal R² = {fmt_unit(float(lf.r2(m1)['marginal']))})",
    ]
    txt = " ".join((out / "summary.txt").read_text(encoding="utf-8").split())
    stdout = " ".join(runs["tutorial"].stdout.split())
    page = " ".join(html.unescape((out / "report.html").read_text(encoding="utf-8")).replace("\u00a0", " ").split())
    for frag in expected:
        assert frag in txt, frag
        assert frag in stdout, frag
        assert frag in page, frag


def test_tutorial_options(capsys, tmp_path):
    res = call(capsys, "tutorial", "--out", str(tmp_path / "t"), "--units", "40", "--waves", "4", "--seed", "3",
               "--no-explorer")
    assert res.returncode == 0, res.stderr
    d = pd.read_csv(tmp_path / "t" / "data.csv")
    assert len(d) == 160 and sorted(d["time"].unique()) == [0, 1, 2, 3]
    assert not (tmp_path / "t" / "explorer.html").exists()
    assert "40 units x 4 waves, seed 3" in res.stdout


@pytest.mark.skipif(not has("write_explorer"), reason="lmmflow.write_explorer not available yet")
def test_explore(runs, capsys, tmp_path):
    assert runs["explore"].returncode == 0, runs["explore"].stderr
    assert (runs["tmp"] / "e1.html").stat().st_size > 1000
    res = call(capsys, "explore", "--model", runs["long"], "--formula", FORMULA, "--out", str(tmp_path / "e2.html"))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "e2.html").stat().st_size > 1000


# ---- bad input: one line, non-zero, no traceback -------------------------------------------------------------
def test_missing_file(runs, capsys):
    assert_one_line_error(runs["missing_fit"], "not found", "nope.csv")
    o = str(runs["tmp"] / "o")
    assert_one_line_error(call(capsys, "report", str(runs["tmp"] / "nope.csv"), "--formula", FORMULA, "--out", o),
                          "nope.csv")


def test_unknown_column(runs, capsys):
    assert_one_line_error(runs["column_fit"], "'tiem'")
    assert_one_line_error(call(capsys, "report", runs["long"], "--formula", "score ~ time + (1 | id)", "--out",
                               str(runs["tmp"] / "o")), "'score'")


def test_unparseable_formula(runs, capsys):
    assert_one_line_error(runs["bracket"], "bracket")
    assert_one_line_error(call(capsys, "fit", runs["long"], "y time"), "~")


def test_wide_given_as_long(runs, capsys):
    assert_one_line_error(runs["wide_as_long_report"], "--wide", "--id id", "y0=0")
    assert_one_line_error(call(capsys, "fit", runs["wide_csv"], FORMULA), "--wide")


def test_wide_options_checked(runs, capsys):
    W, o = runs["wide_csv"], str(runs["tmp"] / "o")
    base = ("report", W, "--formula", FORMULA)
    assert_one_line_error(call(capsys, *base, "--wide", "--out", o), "--id")
    assert_one_line_error(call(capsys, *base, "--wide", "--id", "id", "--waves", "y0=0,yy=1", "--out", o), "'yy'")
    assert_one_line_error(call(capsys, *base, "--wide", "--id", "id", "--waves", "y0=a", "--out", o), "not a number")
    assert_one_line_error(call(capsys, "report", runs["long"], "--formula", FORMULA, "--waves", "y0=0", "--out", o),
                          "--wide")


def test_usage_errors_are_one_line(runs, capsys):
    assert_one_line_error(runs["usage_missing_formula"], "--formula")
    assert_one_line_error(call(capsys, "simulate", "--out", "x.csv", "--times", "a,b"), "--times")
    assert_one_line_error(call(capsys, "fit", runs["long"], FORMULA, "--ddf", "bogus"), "--ddf")
    res = call(capsys, "nonsense")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1


def test_output_folder_that_is_a_file(runs, capsys, tmp_path):
    f = tmp_path / "taken"
    f.write_text("x")
    assert_one_line_error(call(capsys, "tutorial", "--out", str(f)), "is a file")
    assert_one_line_error(call(capsys, "report", runs["long"], "--formula", FORMULA, "--out", str(f)), "is a file")


def test_empty_and_ragged_files(capsys, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert_one_line_error(call(capsys, "fit", str(empty), FORMULA), "empty.csv", "is empty")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,time,y\n1,0,2.5\n1,1,3.5,7,8\n")
    assert_one_line_error(call(capsys, "fit", str(ragged), FORMULA), "ragged.csv", "could not be read")


def test_wave_labels_as_time(capsys, tmp_path):
    d = lf.simulate_growth(n_units=30, times=(0, 1, 2, 3), seed=1)
    d["time"] = "w" + d["time"].astype(str)
    p = tmp_path / "labels.csv"
    d.to_csv(p, index=False)
    for args in (("fit", str(p), FORMULA), ("report", str(p), "--formula", FORMULA, "--out", str(tmp_path / "r"))):
        assert_one_line_error(call(capsys, *args), "'time' holds text", "'w0'", "numeric times")
    # a random slope on a text column that the data can identify (two phases, four waves) is fitted as lme4 would
    d["phase"] = d["time"].map({"w0": "pre", "w1": "pre", "w2": "post", "w3": "post"})
    d.to_csv(p, index=False)
    res = call(capsys, "fit", str(p), "y ~ phase + (1 + phase | id)")
    assert res.returncode == 0, res.stderr
    assert "phase" in res.stdout


@pytest.mark.parametrize("cmd", ["tutorial", "fit", "report", "simulate", "explore"])
def test_every_command_has_an_example_in_the_docs(cmd):
    docs = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")
    assert f"$ lmmflow {cmd} " in docs
    assert f"## `lmmflow {cmd}`" in docs


@pytest.mark.skipif(not has("wide_to_long"), reason="lmmflow.wide_to_long not available yet")
def test_reproduce_section_of_a_wide_report(runs):
    """report.html ends with Python that reads the same file and reshapes it as --wide --waves did."""
    import html
    import re

    assert runs["wide_html"].returncode == 0, runs["wide_html"].stderr
    text = (runs["tmp"] / "wide_html" / "report.html").read_text(encoding="utf-8")
    found = re.search(r'<section id="code">.*?<pre>(.*?)</pre>', text, re.S)
    assert found, "no Reproduce section"
    code = html.unescape(found.group(1))
    assert f"data = lf.read_data({runs['wide_csv']!r})" in code
    assert ("data = lf.wide_to_long(data, id_col='id', wave_cols={'y0': 0, 'y1': 1, 'y3': 3, 'y6': 6}, "
            "value_name='y', time_name='time')") in code
    assert "lf.report(data, 'y ~ time + (1 + time | id)', compare='y ~ time + (1 | id)'" in code


def test_debug_shows_traceback(runs):
    res = runs["debug"]
    assert res.returncode != 0 and "Traceback" in res.stderr


def test_console_script_installed():
    exe = Path(sys.executable).parent / "lmmflow"
    if not exe.exists():
        pytest.skip("console script not installed in this environment (pip install -e .)")
    res = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.startswith("lmmflow ")


# ---- nothing lost, and one line on every path (issue 11 item 6) ----------------------------------------------
def test_users_file_in_out_folder_is_never_overwritten(runs, capsys, tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "blups.csv").write_text("my,data\n1,2\n")
    for args in (("report", runs["long"], "--formula", FORMULA, "--out", str(d), "--no-figures"),
                 ("tutorial", "--out", str(d), "--units", "10", "--waves", "3")):
        assert_one_line_error(call(capsys, *args), "blups.csv", "lmmflow did not write", "never overwrites")
    assert (d / "blups.csv").read_text() == "my,data\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no staging folder left behind


def test_report_twice_into_its_own_folder(runs, capsys, tmp_path):
    d = tmp_path / "rep"
    base = ("report", runs["long"], "--formula", FORMULA, "--out", str(d), "--no-figures", "--formats")
    assert call(capsys, *base, "txt,md").returncode == 0
    assert call(capsys, *base, "txt").returncode == 0
    names = {p.name for p in d.iterdir()}
    assert "summary.txt" in names and "summary.md" not in names and ".lmmflow-manifest.json" in names
    (d / "notes.txt").write_text("mine")  # now the folder holds a file lmmflow did not write
    assert_one_line_error(call(capsys, *base, "txt"), "notes.txt")
    assert (d / "notes.txt").read_text() == "mine"


def test_ctrl_c_leaves_the_previous_report(runs, capsys, tmp_path, monkeypatch):
    from lmmflow.reporting.workflow import Report

    d = tmp_path / "rep"
    base = ("report", runs["long"], "--formula", FORMULA, "--out", str(d), "--no-figures", "--formats", "txt")
    assert call(capsys, *base).returncode == 0
    before = {p.name: p.read_bytes() for p in d.iterdir()}

    def interrupted(self, folder, formats=None):
        (Path(folder) / "blups.csv").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(Report, "write_into", interrupted)
    res = call(capsys, *base)
    assert res.returncode == 130 and len(res.stderr.strip().splitlines()) == 1 and "interrupted" in res.stderr
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


@pytest.mark.parametrize("case, fragments", [
    ("no_random", ("no random-effects term", "(1 | id)")),
    ("missing_column", ("'score'",)),
    ("missing_file", ("nope.csv",)),
    ("empty_parquet_folder", ("holds no Parquet files",)),
    ("tutorial_billion", ("1,000,000,000", "stops at", "lmmflow simulate")),
    ("tutorial_1e9", ("--units", "1e9")),
    ("out_of_memory", ("out of memory",)),
    ("unexpected", ("IndexError", "--debug")),
])
def test_every_path_ends_in_one_line(case, fragments, runs, capsys, tmp_path, monkeypatch):
    out = str(tmp_path / "o")
    L = runs["long"]
    if case == "no_random":
        args = ("report", L, "--formula", "y ~ time", "--out", out)
    elif case == "missing_column":
        args = ("report", L, "--formula", "score ~ time + (1 | id)", "--out", out)
    elif case == "missing_file":
        args = ("report", str(tmp_path / "nope.csv"), "--formula", FORMULA, "--out", out)
    elif case == "empty_parquet_folder":
        (tmp_path / "pq").mkdir()
        args = ("report", str(tmp_path / "pq"), "--formula", FORMULA, "--out", out)
    elif case == "tutorial_billion":
        args = ("tutorial", "--units", "1000000000", "--out", out)
    elif case == "tutorial_1e9":
        args = ("tutorial", "--units", "1e9", "--out", out)
    else:
        error = MemoryError() if case == "out_of_memory" else IndexError("list index out of range")

        def fail(*a, **k):
            raise error

        monkeypatch.setattr("lmmflow.reporting.report", fail)
        args = ("report", L, "--formula", FORMULA, "--out", out)
    res = call(capsys, *args)
    assert_one_line_error(res, *fragments)
    assert not (tmp_path / "o").exists()  # nothing written on failure
