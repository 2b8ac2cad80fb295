"""Structured covariances (ar1, cs) on growth-shaped data: lmmflow against glmmTMB.

The harness has these problems too (``run.py --problems ar1_growth,cs_growth --libs lmmflow,glmmtmb``, on
the same data: 4,000 units); this script times them at several sizes, CPU seconds in one process.  It writes
the data (units x waves x 2 measurements, an AR(1) random effect per wave: ``benchmarks.data.make_waves``),
fits each problem with lmmflow (in this process, CPU seconds under one BLAS thread, median of ``--repeat``) and
with glmmTMB through ``Rscript`` (timed inside R), and prints a Markdown table (the figures in
docs/benchmarks_structures.md).

    .venv/bin/python benchmarks/structures_bench.py [--units 400,4000] [--repeat 3] [--no-r]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

if __package__ in (None, ""):  # run as a script: make the ``benchmarks`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.data import make_waves, write_csv  # noqa: E402
from benchmarks.problems import DATA_DIR as DATA  # noqa: E402

PROBLEMS = {
    # name: (lmmflow formula, glmmTMB formula)
    "ar1": ("y ~ time + ar1(0 + wave | id)", "y ~ time + ar1(0 + wave | id)"),
    "cs": ("y ~ time + cs(0 + wave | id)", "y ~ time + cs(0 + wave | id)"),
}

R_SCRIPT = r"""
suppressMessages({library(glmmTMB); library(jsonlite)})
args <- commandArgs(TRUE)
d <- read.csv(args[1]); d$wave <- factor(d$wave); d$id <- factor(d$id)
t <- system.time(m <- glmmTMB(as.formula(args[2]), data = d, REML = TRUE))
cat(toJSON(list(elapsed = t[["elapsed"]], cpu = t[["user.self"]] + t[["sys.self"]],
                objective = 2 * m$fit$objective, version = as.character(packageVersion("glmmTMB"))),
           auto_unbox = TRUE, digits = NA))
"""


def time_lmmflow(formula: str, data: pd.DataFrame, repeat: int) -> dict:
    from threadpoolctl import threadpool_limits

    import lmmflow as lf

    cpu, wall, obj = [], [], None
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeat):
            c0, w0 = time.process_time(), time.perf_counter()
            m = lf.lmer(formula, data)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
            obj = m.objective
    return {"cpu": statistics.median(cpu), "wall": statistics.median(wall), "objective": obj,
            "evaluations": m.optinfo.evaluations, "optimizer": m.optinfo.optimizer}


def time_glmmtmb(formula: str, csv: Path) -> dict | None:
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_SCRIPT)
    try:
        out = subprocess.run(["Rscript", fh.name, str(csv), formula], capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", default="400,4000", help="comma-separated numbers of units (10 rows each)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-r", action="store_true", help="skip glmmTMB")
    args = ap.parse_args()
    DATA.mkdir(exist_ok=True)
    rows = []
    for n in (int(v) for v in args.units.split(",")):
        csv = DATA / f"waves_{n}.csv"
        if not csv.exists():
            write_csv(make_waves(n), csv)
        data = pd.read_csv(csv)
        for name, (f_py, f_r) in PROBLEMS.items():
            mine = time_lmmflow(f_py, data, args.repeat)
            ref = None if args.no_r else time_glmmtmb(f_r, csv)
            rows.append({"problem": f"{name}_{n}", "rows": len(data), "formula": f_py, "lmmflow": mine, "glmmTMB": ref})
            print(json.dumps(rows[-1]), flush=True)
    print()
    print("| problem | model (REML) | rows | lmmflow CPU s (wall) | glmmTMB s (CPU) | glmmTMB / lmmflow "
          "| REML criterion, lmmflow - glmmTMB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        m, g = r["lmmflow"], r["glmmTMB"]
        gl = f"{g['elapsed']:.2f} ({g['cpu']:.2f})" if g else "-"
        ratio = f"{g['cpu'] / m['cpu']:.0f}x" if g else "-"
        diff = f"{m['objective'] - g['objective']:.1e}" if g else "-"
        print(f"| `{r['problem']}` | `{r['formula']}` | {r['rows']:,} | {m['cpu']:.3f} ({m['wall']:.3f}) | {gl} "
              f"| {ratio} | {diff} |")


if __name__ == "__main__":
    main()
