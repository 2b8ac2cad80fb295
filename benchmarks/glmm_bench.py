"""GLMM benchmarks: lmmflow's glmer (in memory and through Dask) side by side with lme4's glmer and glmmTMB.

Run from the repository root::

    Rscript --vanilla benchmarks/make_verbagg.R        # benchmarks/data/verbagg.csv (lme4's VerbAgg)
    python benchmarks/make_glmm.py                      # binary_growth_120k, counts_slope_60k, crossed_binary_73k
    python benchmarks/glmm_bench.py [--problems a,b] [--libs lmmflow,lmmflow_dask,lme4,glmmTMB] [--docs]

Every library fits the same CSV file in a fresh process; the time is that of the fit call alone (R:
``system.time(glmer(...))``; Python: ``time.perf_counter`` around ``lf.glmer``), loading excluded.  The
log-likelihood is each library's ``logLik`` (lmmflow: ``m.loglik``), the Laplace approximation for all of them.
The Dask fits use the local threaded scheduler on the data split into ``--partitions`` partitions; their
driver memory is ``getrusage`` peak RSS of the process (the partitions live in the same process with the
threaded scheduler, so it is an upper bound on the driver's share).

Results merge into ``benchmarks/results/glmm.json``; ``--docs`` rewrites the GLMM section of
``docs/benchmarks.md`` (between its ``glmm-bench`` markers) from that file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "benchmarks" / "data"
RESULTS = REPO / "benchmarks" / "results" / "glmm.json"
DOCS = REPO / "docs" / "benchmarks.md"
R_SCRIPT = REPO / "benchmarks" / "glmm_fit.R"
LIBS = ("lmmflow", "lmmflow_dask", "lme4", "glmmTMB")
START, END = "<!-- glmm-bench:start -->", "<!-- glmm-bench:end -->"


@dataclass(frozen=True)
class GlmmProblem:
    """One GLMM benchmark problem: a CSV file, a formula, a family and the columns read as factors."""

    name: str
    csv: str
    formula: str
    family: str
    categorical: tuple[str, ...]
    description: str


PROBLEMS = {p.name: p for p in (
    GlmmProblem("verbagg", "verbagg.csv", "r2 ~ (Anger + Gender + btype + situ)^2 + (1|id) + (1|item)", "binomial",
                ("Gender", "btype", "situ", "id", "item", "r2"),
                "lme4's VerbAgg, 7,584 rows, 316 persons crossed with 24 items, binomial logit"),
    GlmmProblem("binary_growth_120k", "binary_growth_120k.csv", "y ~ time * group + (1 + time | id)", "binomial",
                ("id", "group"), "20,000 persons x 6 waves, 0/1 response, correlated random intercept and slope"),
    GlmmProblem("counts_slope_60k", "counts_slope_60k.csv", "y ~ visit + trt + (1 + visit | site)", "poisson",
                ("site", "trt"), "5,000 sites x 12 visits, Poisson counts, correlated random intercept and slope"),
    GlmmProblem("crossed_binary_73k", "crossed_binary_73k.csv", "y ~ x + (1 | student) + (1 | rater)", "binomial",
                ("student", "rater"), "2,972 students crossed with 1,128 raters, 73,000 rows, 0/1 response"),
)}


def run_r(problem: GlmmProblem, lib: str, timeout: float) -> dict:
    """Fit with lme4 or glmmTMB in a fresh ``Rscript`` process."""
    with tempfile.TemporaryDirectory(prefix="lmmflow-glmm-") as tmp:
        out = Path(tmp) / "out.json"
        cmd = ["Rscript", "--vanilla", str(R_SCRIPT), lib, str(DATA / problem.csv), problem.formula, problem.family,
               ",".join(problem.categorical), str(out)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"status": "timeout", "note": f"timed out after {timeout:g} s"}
        if not out.is_file():
            return {"status": "error", "note": done.stderr.strip().splitlines()[-3:]}
        return {"status": "ok", **json.loads(out.read_text())}


def run_python(problem: GlmmProblem, lib: str, partitions: int, timeout: float) -> dict:
    """Fit with lmmflow in a fresh Python process (this file with ``--worker``)."""
    cmd = [sys.executable, __file__, "--worker", problem.name, lib, str(partitions)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "note": f"timed out after {timeout:g} s"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode or not lines:
        return {"status": "error", "note": done.stderr.strip().splitlines()[-3:]}
    return {"status": "ok", **json.loads(lines[-1])}


def worker(name: str, lib: str, partitions: int) -> None:
    """The fit in this process: print one JSON line."""
    import warnings

    import pandas as pd

    import lmmflow as lf

    problem = PROBLEMS[name]
    t0 = time.perf_counter()
    frame = pd.read_csv(DATA / problem.csv)
    for col in problem.categorical:
        frame[col] = frame[col].astype(str).astype("category")
    data = frame
    if lib == "lmmflow_dask":
        import dask
        import dask.dataframe as dd

        dask.config.set(scheduler="threads")
        data = dd.from_pandas(frame, npartitions=partitions)
        del frame
    load = time.perf_counter() - t0
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        start, cpu = time.perf_counter(), time.process_time()
        if lib == "lmmflow_dask":
            from lmmflow.scale.dask_glmm import glmer_dask

            m = glmer_dask(problem.formula, data, family=problem.family)
        else:
            m = lf.glmer(problem.formula, data, family=problem.family)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    caught = sorted({str(w.message) for w in ws})
    rec = {"lib": lib, "version": getattr(lf, "__version__", "?"), "seconds": seconds, "cpu_seconds": cpu,
           "load_seconds": load, "nobs": int(m.nobs), "loglik": float(m.loglik), "objective": float(m.objective),
           "fixef": {k: float(v) for k, v in dict(m.fixef).items()}, "theta": [float(t) for t in m.theta],
           "warnings": caught, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if lib == "lmmflow_dask":
        rec["partitions"] = partitions
        rec["timings"] = {k: float(v) for k, v in (getattr(m, "timings", None) or {}).items()}
        rec["passes"] = int(getattr(m, "passes", 0))
        rec["evaluations"] = int(getattr(m, "evaluations", 0))
    print(json.dumps(rec))


def load_results() -> dict:
    """The stored records, ``{problem: {lib: record}}``."""
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}


def _fmt_s(rec: dict | None) -> str:
    if not rec:
        return "—"
    if rec.get("status") != "ok":
        return rec.get("status", "?")
    def one(s: float) -> str:
        return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.1f} s"

    cpu = rec.get("cpu_seconds")
    return one(rec["seconds"]) + (f" (CPU {one(cpu)})" if cpu is not None else "")


def render_section(results: dict, meta: dict) -> str:
    """The GLMM section of docs/benchmarks.md (Markdown, between the markers)."""
    out = [START, "", "## Generalized linear mixed models", "",
           f"Generated {meta.get('generated_at', '?')} by `{meta.get('command', '?')}` "
           f"({meta.get('machine', '')}).", ""]
    for p in PROBLEMS.values():
        if p.name in results:
            out.append(f"- `{p.name}`: `{p.formula}`, {p.family}; {p.description}")
    out += ["", "| problem | lmmflow | lmmflow (Dask) | lme4 glmer | glmmTMB | glmer / lmmflow | glmer / Dask "
            "| logLik lmmflow | logLik Dask | logLik glmer | logLik glmmTMB |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, recs in results.items():
        def ratio(lib: str, recs: dict = recs) -> str:
            a, b = recs.get("lme4"), recs.get(lib)
            if not (a and b and a.get("status") == b.get("status") == "ok"):
                return "—"
            if a.get("cpu_seconds") and b.get("cpu_seconds"):  # CPU time: fair on a loaded machine
                return f"{a['cpu_seconds'] / b['cpu_seconds']:.1f}x CPU"
            return f"{a['seconds'] / b['seconds']:.1f}x"

        def ll(lib: str, recs: dict = recs) -> str:
            r = recs.get(lib)
            return f"{r['loglik']:.4f}" if r and r.get("status") == "ok" else "—"

        out.append(f"| {name} | " + " | ".join(_fmt_s(recs.get(lib)) for lib in LIBS)
                   + f" | {ratio('lmmflow')} | {ratio('lmmflow_dask')} | "
                   + " | ".join(ll(lib) for lib in LIBS) + " |")
    notes = meta.get("notes") or []
    warn = [f"- {name} / {lib}: {'; '.join(r.get('warnings') or [])}" for name, recs in results.items()
            for lib, r in recs.items() if r.get("warnings")]
    def mem(rec: dict | None) -> str:
        return f"{rec['peak_rss_mb']:.0f} MiB" if rec and rec.get("peak_rss_mb") else "not measured"

    dask_rows = [f"- {name}: {r.get('partitions')} partitions, {r.get('passes', '?')} passes; peak RSS {mem(r)} "
                 f"(lmmflow in memory: {mem(recs.get('lmmflow'))})"
                 for name, recs in results.items() for lib, r in recs.items()
                 if lib == "lmmflow_dask" and r.get("status") == "ok"]
    if dask_rows:
        out += ["", "Dask fits (local threaded scheduler, whole-process peak RSS):", "", *dask_rows]
    if warn:
        out += ["", "Warnings:", "", *warn]
    for note in notes:
        out += ["", note]
    out += ["", "Times are the fit call alone, one fresh process per library: wall seconds, and CPU seconds (user + "
            "system) where recorded; ratios use CPU time when both sides have it. logLik is each library's own "
            "Laplace log-likelihood at its estimates (higher is better).", "", END]
    return "\n".join(out)


def write_docs(results: dict, meta: dict, path: Path = DOCS) -> None:
    """Replace (or append) the GLMM section of ``path``."""
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    section = render_section(results, meta)
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        worker(argv[1], argv[2], int(argv[3]))
        return 0
    ap = argparse.ArgumentParser(prog="benchmarks/glmm_bench.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--libs", default=",".join(LIBS))
    ap.add_argument("--partitions", type=int, default=8, help="Dask partitions (default 8)")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--docs", action="store_true", help="rewrite the GLMM section of docs/benchmarks.md")
    ap.add_argument("--note", action="append", default=[], help="a paragraph for the docs (repeatable)")
    args = ap.parse_args(argv)
    results = load_results()
    for name in [n.strip() for n in args.problems.split(",") if n.strip()]:
        problem = PROBLEMS[name]
        for lib in [x.strip() for x in args.libs.split(",") if x.strip()]:
            print(f"{name} / {lib} ...", end=" ", file=sys.stderr, flush=True)
            load = os.getloadavg()[0]
            rec = (run_r(problem, lib, args.timeout) if lib in ("lme4", "glmmTMB")
                   else run_python(problem, lib, args.partitions, args.timeout))
            rec["load_avg_1min"] = round(load, 2)
            results = load_results()  # another run may have written meanwhile: merge this one record
            results.setdefault(name, {})[lib] = rec
            print(_fmt_s(rec), rec.get("loglik", rec.get("note", "")), file=sys.stderr, flush=True)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=1))
    if args.docs:
        meta = {"generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "command": "python benchmarks/glmm_bench.py " + " ".join(
                    a for i, a in enumerate(argv) if a != "--note" and (i == 0 or argv[i - 1] != "--note")),
                "machine": f"{platform.node() and 'the project machine'}, {os.cpu_count()} cores, Python "
                           f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}",
                "notes": args.note}
        write_docs(results, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
