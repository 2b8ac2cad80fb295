"""Inference benchmark: lmmflow against R (lme4, lmerTest, pbkrtest), side by side in one run.

    python benchmarks/inference_bench.py [--only a,b] [--timeout S] [--quick] [--output F] [--docs F]

Items (``--only``; ``ttest`` means both t-test items): ``bootstrap`` (1,000 parametric bootstrap refits of
sleepstudy, ``lf.bootstrap`` with ``n_jobs`` 1 and 2 against ``lme4::bootMer``), ``profile`` (profile
intervals of the reference growth model), ``ttest_full`` and ``ttest_sub`` (Satterthwaite and Kenward-Roger
tables of the ~800k-row growth model, and of its first 10% of persons, where R can finish).  Each
measurement runs in a fresh process (``--worker`` mode of this file; ``Rscript benchmarks/inference_fit.R``,
timed inside R).  Before each one the script waits a while for the 1-minute load average to drop below
``--max-load``; cheap measurements taken under load are retried and the least loaded attempt kept.  Writes
``benchmarks/results/inference.json`` and ``docs/benchmarks_inference.md`` (``--quick``: printed only unless
``--output``/``--docs`` are given; ``--only`` keeps the other items of an existing results file).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make the ``benchmarks`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import machine  # noqa: E402
from benchmarks.adapters.base import now_iso  # noqa: E402
from benchmarks.adapters.lme4_adapter import TIME_BIN, parse_output, r_versions  # noqa: E402
from benchmarks.adapters.proc import Completed, run_limited  # noqa: E402
from benchmarks.data import data_file, load_frame  # noqa: E402
from benchmarks.problems import PROBLEMS, REPO, SHARED  # noqa: E402

R_SCRIPT = Path(__file__).with_name("inference_fit.R")
RESULTS = REPO / "benchmarks" / "results" / "inference.json"
DOCS = REPO / "docs" / "benchmarks_inference.md"
SLEEPSTUDY = SHARED / "reference" / "data" / "sleepstudy.csv"
GROWTH_REF = SHARED / "reference" / "data" / "growth.csv"
ITEMS = ("bootstrap", "profile", "ttest_full", "ttest_sub")
DDFS = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger"}
BOOT_FORMULA = "Reaction ~ Days + (Days | Subject)"
PROFILE_FORMULA = "y ~ time + (1 + time | id)"
TTEST_FORMULA = "y ~ time * group + (1 + time | id)"
TOL_PROFILE, TOL_TTEST, Z_BOOT = 2e-3, 1e-3, 3.0
Result = dict[str, Any]
R_TEXT = ("names", "warnings", "error", "done", "r_version", "lme4_version", "lmertest_version", "pbkrtest_version")
R_SCALARS = ("seconds", "fit_seconds", "prep_seconds", "table_seconds", "n_failed", "n_warnings", "nobs",
             *R_TEXT[3:])


# ---- the lmmflow side (runs in a fresh worker process) ----------------------------------------------------
def work(spec: Result) -> Result:
    """Carry out one lmmflow measurement in this process (the ``--worker`` mode).

    Parameters
    ----------
    spec : dict
        ``task`` (``"boot"``, ``"profile"``, ``"ttest"``) and its settings (``nsim``, ``seed``, ``n_jobs``;
        ``ddf``, ``maxid``, ``quick``).

    Returns
    -------
    dict
        Wall seconds of the timed call(s), the numbers to compare and the warnings raised.
    """
    import lmmflow as lf

    # load lmmflow's inference modules (and scipy.stats, which they use) before any timer starts, as the R
    # side has lme4, lmerTest and pbkrtest loaded before its own: library loading is not the measured call
    from lmmflow.inference import bootstrap, kenward_roger, profile, satterthwaite, ttests  # noqa: F401

    out: Result = {"lmmflow_version": lf.__version__}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if spec["task"] == "boot":
            frame, _ = load_frame(PROBLEMS["sleepstudy_warm"])
            m = lf.lmer(BOOT_FORMULA, frame)
            t0 = time.perf_counter()
            b = lf.bootstrap(m, nsim=spec["nsim"], seed=spec["seed"], n_jobs=spec["n_jobs"], progress=False)
            out["seconds"] = time.perf_counter() - t0
            names = [*m.fixef_names, "sigma"]
            out.update(names=names, reps=b.replicates[names].to_numpy().T.tolist(), n_failed=b.failures.count)
        elif spec["task"] == "profile":
            frame = pd.read_csv(GROWTH_REF).astype({"id": "category"})
            m = lf.lmer(PROFILE_FORMULA, frame)
            t0 = time.perf_counter()
            ci = m.confint(method="profile")
            out["seconds"] = time.perf_counter() - t0
            out.update(names=list(ci.index), lower=ci["lower"].tolist(), upper=ci["upper"].tolist())
        else:
            frame, _ = load_frame(PROBLEMS["growth800k"], spec["quick"])
            if spec["maxid"] > 0:
                frame = frame[frame["id"].astype(int) < spec["maxid"]].reset_index(drop=True)
                frame["id"] = frame["id"].cat.remove_unused_categories()
            out["nobs"] = len(frame)
            t0 = time.perf_counter()
            m = lf.lmer(TTEST_FORMULA, frame)
            out["fit_seconds"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            tab = m.coef_table(ddf=spec["ddf"])
            out["table_seconds"] = time.perf_counter() - t0
            out.update({c: tab[c].tolist() for c in ("estimate", "std_error", "df", "p_value")}, names=list(tab.index))
    out["warnings"] = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))[:5]
    return out


def run_python(spec: Result, timeout: float) -> Result:
    """Run :func:`work` on ``spec`` in a fresh Python process, killed after ``timeout`` seconds; return its
    output plus ``status`` (``"ok"``, ``"timeout"``, ``"error"``), ``note`` and ``command``."""
    with tempfile.TemporaryDirectory(prefix="lmmflow-inf-") as tmp:
        out = Path(tmp) / "out.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec), str(out)]
        done = run_limited(cmd, timeout, cwd=REPO)
        finished = out.is_file()
        res: Result = json.loads(out.read_text()) if finished else {}
    res["command"] = shlex.join([_rel(sys.executable), "benchmarks/inference_bench.py", "--worker",
                                 json.dumps(spec), "OUT.json"])
    return _status(res, done, timeout, finished, f"worker exited with {done.returncode}: {done.tail(2)}")


def _status(res: Result, done: Completed, timeout: float, finished: bool, failure: str) -> Result:
    """Set ``status`` and ``note`` of ``res``: ``"timeout"``, ``"error"`` (``failure``) or ``"ok"``."""
    if done.timed_out:
        return res | {"status": "timeout", "note": f"did not finish in {timeout:g} s"}
    return res | ({"status": "ok"} if finished else {"status": "error", "note": failure})


# ---- the R side --------------------------------------------------------------------------------------------
def run_r(task: str, csv: Path, extra: list[str], timeout: float) -> Result:
    """Run ``inference_fit.R TASK CSV OUT EXTRA...`` and read what it wrote, even after a timeout or an
    error: numbers as floats, ``status``, ``note`` (R's error line, a timeout), ``peak_rss_mb``, ``command``."""
    with tempfile.TemporaryDirectory(prefix="lmmflow-inf-r-") as tmp:
        out = Path(tmp) / "r.tsv"
        script = shutil.copy(R_SCRIPT, Path(tmp) / R_SCRIPT.name)  # R reads a script as it runs it
        cmd = [shutil.which("Rscript") or "Rscript", "--vanilla", str(script), task, str(csv), str(out), *extra]
        timed = [TIME_BIN, "-v", *cmd] if os.access(TIME_BIN, os.X_OK) else cmd
        done = run_limited(timed, timeout, cwd=REPO)
        fields = parse_output(out.read_text()) if out.is_file() else {}
    res: Result = {k: v if k in R_TEXT else [float("nan" if x == "NA" else x) for x in v] for k, v in fields.items()}
    for key in R_SCALARS:
        if key in res:
            res[key] = res[key][0] if key in R_TEXT else (res[key] or [None])[0]
    if res.get("prep_seconds") is not None and res.get("table_seconds") is not None:  # table = prep + summary
        res["summary_seconds"] = res["table_seconds"]
        res["table_seconds"] += res["prep_seconds"]
    rss = [ln for ln in done.stderr.splitlines() if "Maximum resident set size" in ln]
    res["peak_rss_mb"] = int(rss[0].split()[-1]) / 1024 if rss else None
    res["command"] = shlex.join(["Rscript", "--vanilla", "benchmarks/inference_fit.R", task, _rel(csv),
                                 "OUT.tsv", *extra])
    err = (res.get("error") or [""])[0] or done.tail(2)
    res = _status(res, done, timeout, "done" in res, f"R stopped (exit {done.returncode}): {err}")
    kr_fallback = [w for w in res.get("warnings", []) if "Unable to compute Kenward-Roger" in w]
    if kr_fallback:  # lmerTest quietly reports Satterthwaite's df when pbkrtest fails
        res.update(status="error", note=f"lmerTest: {kr_fallback[0]}")
    return res


def _rel(path: str | Path) -> str:
    """``path`` relative to the repository root where it lies below its parent (``../shared/...``)."""
    return os.path.relpath(path, REPO)


# ---- load-aware measuring ----------------------------------------------------------------------------------
def wait_for_quiet(max_load: float, max_wait: float) -> float:
    """Wait until the 1-minute load average is below ``max_load``, at most ``max_wait`` s; return it."""
    deadline = time.monotonic() + max_wait
    while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        time.sleep(5)
    return round(os.getloadavg()[0], 2)


WAIT_LEFT = [0.0]  # the run's remaining budget of waiting for a quiet machine, seconds


def measure(label: str, call: Callable[[], Result], opts: argparse.Namespace, cheap: bool) -> Result:
    """Run ``call`` (a result with a ``status``) after waiting for a quiet machine; if ``cheap`` and taken
    under load, retry (``opts.retries``) and keep the least loaded attempt, with ``load_before``,
    ``load_after`` and ``attempts`` (seconds and load of each)."""
    tries: list[Result] = []
    for _ in range(1 + (opts.retries if cheap else 0)):
        start = time.monotonic()
        before = wait_for_quiet(opts.max_load, min(opts.max_wait, WAIT_LEFT[0]))
        WAIT_LEFT[0] -= time.monotonic() - start
        res = call()
        res.update(load_before=before, load_after=round(os.getloadavg()[0], 2))
        tries.append(res)
        print(f"  {label}: {res['status']} {_secs(res):.3g} s (load {before} -> {res['load_after']})",
              file=sys.stderr, flush=True)
        if res["status"] != "ok" or before <= opts.max_load:
            break
    best = min(tries, key=lambda r: (r["status"] != "ok", r["load_before"]))
    best["attempts"] = [{"seconds": _secs(r), "load_before": r["load_before"]} for r in tries]
    return best


def _secs(res: Result) -> float:
    """The headline seconds of a result (the table's for a t-test run; NaN where not measured)."""
    return float(res.get("seconds", res.get("table_seconds")) or "nan")


# ---- agreement -------------------------------------------------------------------------------------------
def quantile_se(x: np.ndarray, p: float) -> float:
    """Monte-Carlo standard error of the ``p`` quantile of ``x``, from the order statistics one binomial
    standard deviation of rank either side of it (distribution-free)."""
    x = np.sort(x[np.isfinite(x)])
    n, k = len(x), math.sqrt(len(x) * p * (1 - p))
    return float(x[min(n - 1, math.ceil(n * p + k))] - x[max(0, math.floor(n * p - k))]) / 2


def compare_boot(lf: Result, r: Result) -> list[Result]:
    """Percentile 95% intervals of both bootstraps side by side, with z = difference / Monte-Carlo SE."""
    rows = []
    for j, name in enumerate(lf["names"]):
        a, b = np.asarray(lf["reps"][j], float), np.asarray(r[f"rep{j + 1}"], float)
        row: Result = {"parameter": name}
        for side, p in (("lower", 0.025), ("upper", 0.975)):
            qa, qb = np.quantile(a[np.isfinite(a)], p), np.quantile(b[np.isfinite(b)], p)
            z = (qa - qb) / math.hypot(quantile_se(a, p), quantile_se(b, p))
            row.update({f"lmmflow_{side}": float(qa), f"R_{side}": float(qb), f"z_{side}": float(z)})
        row["agree"] = bool(name == "sigma" or max(abs(row["z_lower"]), abs(row["z_upper"])) <= Z_BOOT)
        rows.append(row)
    return rows


def compare_profile(lf: Result, r: Result) -> list[Result]:
    """Both profile intervals by position, with the larger end difference as a share of R's width."""
    rows = []
    for i, name in enumerate(lf["names"]):
        width = r["upper"][i] - r["lower"][i]
        rel = max(abs(lf["lower"][i] - r["lower"][i]), abs(lf["upper"][i] - r["upper"][i])) / width
        rows.append({"parameter": name, "R_name": r["names"][i], "lmmflow_lower": lf["lower"][i],
                     "lmmflow_upper": lf["upper"][i], "R_lower": r["lower"][i], "R_upper": r["upper"][i],
                     "rel_width": rel, "agree": bool(rel <= TOL_PROFILE)})
    return rows


def _rel_diff(a: float, b: float) -> float:
    return 0.0 if a == b else abs(a - b) / max(abs(a), abs(b))


def _p_diff(a: float, b: float) -> float:
    """Relative difference of two p-values; below 1e-6, of their logarithms (a far tail turns a 1e-5
    difference in t into a 1e-2 one in p)."""
    return _rel_diff(math.log(a), math.log(b)) if 0 < min(a, b) and max(a, b) < 1e-6 else _rel_diff(a, b)


def compare_ttest(lf: Result, r: Result) -> list[Result]:
    """df and p-values of both tables by position: relative differences (see :func:`_p_diff`)."""
    rows = []
    for i, name in enumerate(lf["names"]):
        (pa, pb), rd = (lf["p_value"][i], r["p_value"][i]), _rel_diff(lf["df"][i], r["df"][i])
        rows.append({"term": name, "lmmflow_df": lf["df"][i], "R_df": r["df"][i], "lmmflow_p": pa, "R_p": pb,
                     "rel_df": rd, "rel_p_raw": _rel_diff(pa, pb), "rel_p": _p_diff(pa, pb),
                     "agree": bool(max(rd, _p_diff(pa, pb)) <= TOL_TTEST)})
    return rows


# ---- the items ----------------------------------------------------------------------------------------------
def ensure_growth(quick: bool) -> Path:
    """The growth CSV of the 800k model (the 0.1 scale copy for ``quick``), made with make_data.py if missing."""
    path = PROBLEMS["growth800k"].dataset.file(quick)
    if not path.is_file():
        cmd = [sys.executable, str(SHARED / "bench" / "make_data.py"), str(path.parent)]
        subprocess.run(cmd + (["--scale", "0.1"] if quick else []), cwd=REPO, check=True)
    return data_file(PROBLEMS["growth800k"], quick)


def run_item(item: str, opts: argparse.Namespace) -> Result:
    """Measure ``item`` (one of :data:`ITEMS`) with both libraries; return ``runs`` and ``agreement`` rows."""
    print(f"{item}:", file=sys.stderr, flush=True)
    runs: dict[str, Result] = {}
    t = opts.timeout
    if item == "bootstrap":
        for jobs in (1, 2):
            spec = {"task": "boot", "nsim": opts.nsim, "seed": 1, "n_jobs": jobs}
            runs[f"lmmflow_jobs{jobs}"] = measure(f"lmmflow n_jobs={jobs}", lambda s=spec: run_python(s, t), opts, True)
        runs["R"] = measure("R bootMer", lambda: run_r("boot", SLEEPSTUDY, [str(opts.nsim), "1"], t), opts, True)
        same = runs["lmmflow_jobs1"].get("reps") == runs["lmmflow_jobs2"].get("reps")
        agree = compare_boot(runs["lmmflow_jobs1"], runs["R"]) if runs["R"]["status"] == "ok" else []
        for r in runs.values():  # the replicates are not kept
            _ = [r.pop(k, None) for k in ("reps", "rep1", "rep2", "rep3")]
        return {"runs": runs, "agreement": agree, "jobs_identical": same, "nsim": opts.nsim}
    if item == "profile":
        runs["lmmflow"] = measure("lmmflow profile", lambda: run_python({"task": "profile"}, t), opts, True)
        runs["R"] = measure("R profile", lambda: run_r("profile", GROWTH_REF, [], t), opts, True)
        ok = all(r["status"] == "ok" for r in runs.values())
        return {"runs": runs, "agreement": compare_profile(runs["lmmflow"], runs["R"]) if ok else []}
    csv, maxid = ensure_growth(opts.quick), 0 if item == "ttest_full" else opts.sub_ids
    agreement: dict[str, list[Result]] = {}
    for ddf, r_ddf in DDFS.items():
        spec = {"task": "ttest", "ddf": ddf, "maxid": maxid, "quick": opts.quick}
        lf_run = measure(f"lmmflow {ddf}", lambda s=spec: run_python(s, t), opts, True)
        r_run = measure(f"R {r_ddf}", lambda d=r_ddf: run_r("ttest", csv, [d, str(maxid)], t), opts, maxid > 0)
        runs[f"lmmflow_{ddf}"], runs[f"R_{ddf}"] = lf_run, r_run
        if lf_run["status"] == r_run["status"] == "ok":
            agreement[ddf] = compare_ttest(lf_run, r_run)
    return {"runs": runs, "agreement": agreement, "csv": _rel(csv), "maxid": maxid}


# ---- the report -------------------------------------------------------------------------------------------
def _cell(res: Result, key: str = "seconds") -> str:
    if res.get(key) is not None:
        return f"{res[key]:.3g} s"
    return res.get("note", res.get("status", "-"))


def _ratio(lf: Result, r: Result, key: str) -> str:
    a, b = lf.get(key), r.get(key)
    if a and b is not None:
        return f"{b / a:.1f}x"
    return "n/a (R did not finish)" if r.get("status") == "timeout" else "-"


def table_rows(items: dict[str, Result]) -> list[list[str]]:
    """Rows of the summary table: measurement, lmmflow call, R call, seconds, ratio, agreement, load."""
    rows = []

    def add(name: str, lf_call: str, r_call: str, lf: Result, r: Result, key: str, agree: str) -> None:
        load = f"{lf.get('load_before', '-')} / {r.get('load_before', '-')}"
        rows.append([name, lf_call, r_call, _cell(lf, key), _cell(r, key), _ratio(lf, r, key), agree, load])

    if "bootstrap" in items:
        it = items["bootstrap"]
        ok = sum(a["agree"] for a in it["agreement"])
        agree = f"perc. 95% CIs: {ok}/{len(it['agreement'])} within {Z_BOOT:g} MC s.e." if it["agreement"] else "-"
        for jobs in (1, 2):
            note = agree if jobs == 1 else f"replicates identical to n_jobs=1: {it['jobs_identical']}"
            n = it["nsim"]
            add(f"bootstrap {n} refits, n_jobs={jobs}", f"`lf.bootstrap(m, nsim={n}, seed=1, n_jobs={jobs})`",
                f"`bootMer(m, FUN, nsim={n}, seed=1)`", it["runs"][f"lmmflow_jobs{jobs}"], it["runs"]["R"],
                "seconds", note)
    if "profile" in items:
        it = items["profile"]
        worst = max((a["rel_width"] for a in it["agreement"]), default=float("nan"))
        add("profile CIs, growth ref (1,000 rows)", '`m.confint(method="profile")`',
            '`confint(m, method="profile")`', it["runs"]["lmmflow"], it["runs"]["R"], "seconds",
            f"max end diff {worst:.2%} of width (tol {TOL_PROFILE:.1%})")
    for item, size in (("ttest_full", "full"), ("ttest_sub", "10% ids")):
        if item not in items:
            continue
        it, runs = items[item], items[item]["runs"]
        n = runs["lmmflow_satterthwaite"].get("nobs")
        add(f"growth {size} ({n:,} rows): fit" if n else f"growth {size}: fit", "`lf.lmer(f, df)`",
            "`lme4::lmer(f, d)`", runs["lmmflow_satterthwaite"], runs["R_satterthwaite"], "fit_seconds", "-")
        for ddf, r_ddf in DDFS.items():
            rows_ok = it["agreement"].get(ddf, [])
            agree = (f"df, p (log p below 1e-6) within rel {TOL_TTEST:g}: {sum(a['agree'] for a in rows_ok)}/"
                     f"{len(rows_ok)} "
                     f"(max rel {max(max(a['rel_df'], a['rel_p']) for a in rows_ok):.1e})" if rows_ok else "-")
            add(f"growth {size}: {r_ddf} table", f'`m.coef_table(ddf="{ddf}")`',
                f'`as_lmerModLmerTest(m)`, `summary(m, ddf="{r_ddf}")`', runs[f"lmmflow_{ddf}"],
                runs[f"R_{ddf}"], "table_seconds", agree)
    return rows


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    """Lines of a Markdown table (``|`` inside cells escaped)."""
    cells = [[c.replace("|", "\\|") for c in row] for row in rows]
    return ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)] + ["| " + " | ".join(r) + " |" for r in cells]


def render_markdown(payload: Result) -> str:
    """The Markdown report: machine, date, commands, the table, the side-by-side numbers and notes."""
    info, items = payload["machine"], payload["items"]
    md = ["# Inference benchmark: lmmflow against R", "",
          f"Generated {payload['generated_at']} by `{payload['command']}`"
          + (" (quick: small data, fewer replicates)." if payload["quick"] else "."), "",
          "## Machine", "",
          f"{info.get('cpu_model')}, {info.get('nproc')} CPUs, {info.get('memory_gib')} GiB, {info.get('os')}; "
          f"Python {info.get('python')}, numpy {info.get('numpy')} ({info.get('numpy_blas')}), scipy "
          f"{info.get('scipy')}, lmmflow {info.get('lmmflow')} ({info.get('lmmflow_commit')}); "
          f"{info.get('r_version', 'R not found')}, lme4 {info.get('lme4_version')}, BLAS {info.get('r_blas')}.",
          f"Load average at start: {info.get('loadavg_at_start')}; thread settings: "
          f"{info.get('threads_env') or 'library defaults'}.", "",
          "## Results", "",
          "Wall seconds of the timed call alone (libraries and data loaded and, except for the fit rows, the "
          "model fitted beforehand: R's `library(lme4)`, `library(lmerTest)`, `library(pbkrtest)` and "
          "lmmflow's `import` of its inference modules happen before the timer), one fresh process per cell; "
          "ratio = R / lmmflow.  *load* is the 1-minute load average "
          "just before the lmmflow / R measurement.", ""]
    md += _md_table(["measurement", "lmmflow", "R", "lmmflow s", "R s", "R/lmmflow", "agreement", "load"],
                    table_rows(items))
    boot, prof = items.get("bootstrap", {}).get("agreement"), items.get("profile", {}).get("agreement")
    if boot:
        md += ["", "### Bootstrap percentile 95% intervals", ""] + _md_table(
            ["parameter", "lmmflow", "R (bootMer)", "z lower / upper"],
            [[a["parameter"], f"[{a['lmmflow_lower']:.4g}, {a['lmmflow_upper']:.4g}]",
              f"[{a['R_lower']:.4g}, {a['R_upper']:.4g}]", f"{a['z_lower']:+.2f} / {a['z_upper']:+.2f}"] for a in boot])
    if prof:
        md += ["", "### Profile intervals", ""] + _md_table(
            ["parameter", "lmmflow", "R", "max end diff / width"],
            [[a["parameter"], f"[{a['lmmflow_lower']:.6g}, {a['lmmflow_upper']:.6g}]",
              f"[{a['R_lower']:.6g}, {a['R_upper']:.6g}]", f"{a['rel_width']:.2e}"] for a in prof])
    for item in ("ttest_sub", "ttest_full"):
        for ddf, rows in items.get(item, {}).get("agreement", {}).items():
            md += ["", f"### {DDFS[ddf]} df and p-values ({item})", ""] + _md_table(
                ["term", "lmmflow df", "R df", "lmmflow p", "R p"],
                [[a["term"], f"{a['lmmflow_df']:.6g}", f"{a['R_df']:.6g}", f"{a['lmmflow_p']:.4g}",
                  f"{a['R_p']:.4g}"] for a in rows])
    md += ["", "## Commands", "", f"- The whole run: `{payload['command']}`", ""]
    for item, it in items.items():
        for label, res in it["runs"].items():
            md.append(f"- {item} / {label}: `{res.get('command', '')}`")
    md += ["", "## Notes", ""] + [f"- {n}" for n in payload["notes"]]
    return "\n".join(md) + "\n"


def notes(items: dict[str, Result], opts: argparse.Namespace) -> list[str]:
    """Remarks for the report: load, warnings, R's memory and failures, how agreement was judged."""
    out = ["Bootstrap agreement: R and lmmflow draw different random numbers, so the interval ends are compared "
           f"with z = difference / sqrt(se1^2 + se2^2), se the Monte-Carlo s.e. of each percentile from the order "
           f"statistics one binomial s.d. of rank either side; |z| <= {Z_BOOT:g} for the fixed effects counts as "
           "agreeing (sigma is shown, not judged).  lmmflow's default statistic also holds the SDs and the "
           "correlation; bootMer's FUN is c(fixef(x), sigma(x)) as in the issue.",
           "R t-tests: fit = lme4::lmer; the table time includes lmerTest::as_lmerModLmerTest (the derivatives "
           "lmerTest::lmer adds to the fit, shown as prep below) plus summary(m, ddf=...); lmerTest's KR "
           "calls pbkrtest::vcovAdj once per coefficient.  lmmflow's fit and table run in separate processes "
           f"for each ddf.  Subsample: persons with id < {opts.sub_ids} (the first 10% of the ids).",
           f"t-test agreement: df and p-values within rel {TOL_TTEST:g}; p-values below 1e-6 are compared as log p "
           "(in the far tail the relative difference of p is about |t| times that of t, so a 1e-5 difference in "
           "the standard errors, from the two optimizers stopping at slightly different optima, shows as 1e-2 "
           "in p; the raw relative difference is kept as rel_p_raw in the JSON)."]
    boot = items.get("bootstrap", {}).get("runs", {})
    if boot.get("R", {}).get("seconds") and boot.get("lmmflow_jobs1", {}).get("seconds"):
        ratio = boot["R"]["seconds"] / boot["lmmflow_jobs1"]["seconds"]
        out.append("Target of the issue, lmmflow at least 20x faster than bootMer: "
                   f"{'met' if ratio >= 20 else 'not met'} here ({ratio:.1f}x with n_jobs=1).")
    loaded = sorted({f"{i}/{k}" for i, it in items.items() for k, r in it["runs"].items()
                     if r.get("load_before", 0) > opts.max_load})
    if loaded:
        out.append(f"Figures taken under load (1-minute load average above {opts.max_load:g} after waiting up to "
                   f"{opts.max_wait:g} s; the machine is shared): {', '.join(loaded)}.  Treat the ratios as rough.")
    for item, it in items.items():
        for label, r in it["runs"].items():
            bits = []
            if r.get("status") != "ok":
                bits.append(f"{r.get('status')}: {r.get('note')}")
            if label.startswith("R_") and r.get("prep_seconds") is not None:
                bits.append(f"fit {r.get('fit_seconds', float('nan')):.3g} s, lmerTest prep "
                            f"{r['prep_seconds']:.3g} s, summary {r.get('summary_seconds') or float('nan'):.3g} s")
            if r.get("peak_rss_mb"):
                bits.append(f"R peak RSS {r['peak_rss_mb']:,.0f} MiB")
            if r.get("n_warnings") or r.get("warnings"):
                bits.append(f"{int(r.get('n_warnings') or len(r['warnings']))} warnings, first: "
                            + "; ".join(r.get("warnings", [])[:2]))
            if len(r.get("attempts", [])) > 1:
                bits.append("attempts (s, load): " + ", ".join(f"{a['seconds']:.3g}/{a['load_before']}"
                                                               for a in r["attempts"]))
            if bits:
                out.append(f"{item} / {label}: " + "; ".join(bits) + ".")
    return out


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    ap = argparse.ArgumentParser(prog="benchmarks/inference_bench.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help=f"comma-separated items of {', '.join(ITEMS)} (or 'ttest')")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per process (default %(default)s)")
    ap.add_argument("--quick", action="store_true", help="200 refits, growth at scale 0.1, 10%% = 2,000 ids")
    ap.add_argument("--sub-ids", type=int, default=None, help="subsample: ids below this (default 20000)")
    ap.add_argument("--max-load", type=float, default=1.5, help="wait for the 1-min load to drop below this")
    ap.add_argument("--max-wait", type=float, default=60.0, help="longest wait for a quiet machine, seconds")
    ap.add_argument("--wait-budget", type=float, default=300.0, help="longest total of those waits, seconds")
    ap.add_argument("--retries", type=int, default=1, help="re-runs of a cheap measurement taken under load")
    ap.add_argument("--threads", type=int, default=None, help="OPENBLAS/OMP/MKL_NUM_THREADS for every process")
    ap.add_argument("--output", type=Path, default=None, help=f"results JSON (default {_rel(RESULTS)})")
    ap.add_argument("--docs", type=Path, default=None, help=f"Markdown report (default {_rel(DOCS)})")
    args = ap.parse_args(argv)
    names = [x.strip() for x in args.only.split(",") if x.strip()]
    args.only = [i for n in names for i in (("ttest_full", "ttest_sub") if n == "ttest" else (n,))] or list(ITEMS)
    if unknown := [n for n in args.only if n not in ITEMS]:
        ap.error(f"unknown items {unknown}; known: {', '.join(ITEMS)}, ttest")
    args.nsim = 200 if args.quick else 1000
    args.sub_ids = args.sub_ids or (2000 if args.quick else 20000)
    if not args.quick:
        args.output, args.docs = args.output or RESULTS, args.docs or DOCS
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point (also the ``--worker SPEC OUT`` mode); returns 1 if a library failed with an error."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        Path(argv[2]).write_text(json.dumps(work(json.loads(argv[1]))))
        return 0
    opts = parse_args(argv)
    WAIT_LEFT[0] = opts.wait_budget
    if opts.threads is not None:  # inherited by the worker and Rscript processes
        os.environ.update({f"{v}_NUM_THREADS": str(opts.threads) for v in ("OPENBLAS", "OMP", "MKL")})
    info = machine.describe(r_versions())
    items = {item: run_item(item, opts) for item in opts.only}
    if opts.output and opts.output.is_file() and len(opts.only) < len(ITEMS):  # keep the items not run now
        old = json.loads(opts.output.read_text())
        if old.get("quick") == opts.quick:
            items = {i: items.get(i, old["items"].get(i)) for i in ITEMS if i in items or i in old["items"]}
    payload = {"generated_at": now_iso(), "command": shlex.join([_rel(sys.executable), _rel(__file__), *argv]),
               "quick": opts.quick, "machine": info, "max_load": opts.max_load, "items": items,
               "table": table_rows(items), "notes": notes(items, opts)}
    for row in payload["table"]:
        print(" | ".join(row[:1] + row[3:]))
    if opts.output:
        opts.output.parent.mkdir(parents=True, exist_ok=True)
        opts.output.write_text(json.dumps(payload, indent=1) + "\n")
        print(f"wrote {_rel(opts.output)}")
    if opts.docs:
        opts.docs.write_text(render_markdown(payload))
        print(f"wrote {_rel(opts.docs)}")
    return int(any(r.get("status") == "error" for it in items.values() for r in it["runs"].values()))


if __name__ == "__main__":
    sys.exit(main())
