"""Scale-out benchmarks: a Dask fit of 8M rows from Parquet, fit_many of 1,000 responses, bootstrap on 2 workers.

Run from the repository root (each step in a fresh process, so peak memory readings are its own)::

    python ../shared/bench/make_data.py --scale 10 --parquet 16 benchmarks/data/scale10
    python ../shared/bench/make_data.py --scale 0.1 benchmarks/data/scale01
    python benchmarks/scale_bench.py dask        # Dask fit from the Parquet directory, 2 worker processes
    python benchmarks/scale_bench.py inmemory    # the same rows fitted in memory (for time, memory, equality)
    python benchmarks/scale_bench.py many        # fit_many of 1,000 responses vs a loop of lf.lmer
    python benchmarks/scale_bench.py boot        # 1,000 bootstrap refits on 1 and 2 workers

Each step prints a JSON record and merges it into ``benchmarks/results/scale.json``.  Figures are in
docs/scaling.md.  Peak resident memory is ``getrusage``'s ``ru_maxrss`` of the process (the driver) and of
each Dask worker process (read with ``client.run`` at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA10 = REPO / "benchmarks" / "data" / "scale10" / "growth"
DATA01 = REPO / "benchmarks" / "data" / "scale01" / "growth.csv"
RESULTS = REPO / "benchmarks" / "results" / "scale.json"
FORMULA = "y ~ time * group + (1 + time | id)"


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker_peak() -> float:
    import resource as r

    return r.getrusage(r.RUSAGE_SELF).ru_maxrss / 1024


def save(step: str, record: dict) -> None:
    """Print the record and merge it into benchmarks/results/scale.json."""
    record = {"step": step, "python": platform.python_version(), "cpus": os.cpu_count(),
              "load_avg_1min": round(os.getloadavg()[0], 2), **record}
    print(json.dumps(record, indent=2, default=float))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    allres = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    allres[step] = record
    RESULTS.write_text(json.dumps(allres, indent=2, default=float))


def step_dask(args: argparse.Namespace) -> None:
    """Fit the growth model on the Parquet directory through a 2-process local cluster."""
    from dask.distributed import Client, LocalCluster

    import lmmflow as lf

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      memory_limit=args.worker_memory, dashboard_address=":0") as cluster, Client(cluster) as client:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = lf.lmer(FORMULA, str(DATA10))
        t_fit = time.perf_counter() - t0
        driver_after_fit = peak_rss_mb()
        t0 = time.perf_counter()
        rsd = float(m.residuals.std().compute())
        t_resid = time.perf_counter() - t0
        workers = client.run(_worker_peak)
        save("dask", {
            "data": str(DATA10.relative_to(REPO)), "formula": FORMULA, "rows": m.nobs + m.n_dropped,
            "nobs": m.nobs, "levels": m.ngroups, "partitions": len(list(DATA10.glob("*.parquet"))),
            "workers": args.workers, "worker_memory_limit": args.worker_memory,
            "fit_seconds": round(t_fit, 2), "phases_seconds": {k: round(v, 2) for k, v in m.timings.items()},
            "driver_peak_rss_mb": round(driver_after_fit, 1),
            "worker_peak_rss_mb": [round(v, 1) for v in workers.values()],
            "residual_sd_pass_seconds": round(t_resid, 2), "residual_sd": rsd,
            "objective": m.objective, "fixef": m.fixef.to_dict(), "theta": m.theta.tolist(), "sigma": m.sigma,
            "optimizer_evaluations": m.optinfo.evaluations,
        })


def step_inmemory(args: argparse.Namespace) -> None:
    """The same rows read into one pandas frame and fitted in memory."""
    import pandas as pd

    import lmmflow as lf

    t0 = time.perf_counter()
    df = pd.read_parquet(DATA10)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = lf.lmer(FORMULA, df)
    t_fit = time.perf_counter() - t0
    rec = {"rows": len(df), "frame_mb": round(df.memory_usage(deep=True).sum() / 2**20, 1),
           "read_seconds": round(t_read, 2), "fit_seconds": round(t_fit, 2), "peak_rss_mb": round(peak_rss_mb(), 1),
           "objective": m.objective, "fixef": m.fixef.to_dict(), "theta": m.theta.tolist(), "sigma": m.sigma}
    if RESULTS.exists() and "dask" in json.loads(RESULTS.read_text()):
        d = json.loads(RESULTS.read_text())["dask"]
        rec["dask_minus_inmemory"] = {
            "objective": d["objective"] - m.objective,
            "fixef_max_abs": max(abs(d["fixef"][k] - v) for k, v in m.fixef.items()),
            "theta_max_abs": float(np.max(np.abs(np.asarray(d["theta"]) - m.theta))),
            "sigma": d["sigma"] - m.sigma}
    save("inmemory", rec)


def _growth01():
    import pandas as pd

    if not DATA01.exists():
        sys.exit(f"{DATA01} is missing: python ../shared/bench/make_data.py --scale 0.1 {DATA01.parent}")
    return pd.read_csv(DATA01)


def step_many(args: argparse.Namespace) -> None:
    """fit_many of N simulated responses on the 10% growth design against a loop of lf.lmer."""
    import pandas as pd

    import lmmflow as lf

    df = _growth01()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = lf.lmer(FORMULA, df)
    Y = m.simulate(args.responses, seed=2026)
    Y.columns = [f"r{i}" for i in range(args.responses)]
    rec: dict = {"rows": m.nobs, "levels": m.ngroups, "responses": args.responses}
    for jobs in (1, 2):
        t0 = time.perf_counter()
        mf = lf.fit_many(FORMULA, df, Y, n_jobs=jobs, progress=False)
        rec[f"fit_many_n_jobs_{jobs}_seconds"] = round(time.perf_counter() - t0, 2)
    rec["fit_many_method"] = mf.method
    rec["fit_many_converged"] = int(mf.fits["converged"].sum())
    loop = min(args.loop, args.responses)
    data = pd.concat([df, Y.iloc[:, :loop]], axis=1)
    diffs = {"objective": 0.0, "fixef": 0.0, "std_error_rel": 0.0, "theta": 0.0}
    t0 = time.perf_counter()
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(loop):
            fits.append(lf.lmer(FORMULA.replace("y ~", f"r{j} ~"), data))
    t_loop = time.perf_counter() - t0
    for j, fit in enumerate(fits):
        r = mf.records[f"r{j}"]
        diffs["objective"] = max(diffs["objective"], abs(r.objective - fit.objective))
        diffs["fixef"] = max(diffs["fixef"], float(np.max(np.abs(r.beta - fit.fixef.to_numpy()))))
        diffs["std_error_rel"] = max(diffs["std_error_rel"], float(np.max(np.abs(r.std_errors / fit.std_errors - 1))))
        diffs["theta"] = max(diffs["theta"], float(np.max(np.abs(r.theta - fit.theta))))
    per_fit = t_loop / loop
    rec.update({"lmer_loop_fits": loop, "lmer_loop_seconds": round(t_loop, 2),
                "lmer_seconds_per_fit": round(per_fit, 4),
                "lmer_loop_seconds_for_all": round(per_fit * args.responses, 1),
                "speedup_n_jobs_1": round(per_fit * args.responses / rec["fit_many_n_jobs_1_seconds"], 1),
                "speedup_n_jobs_2": round(per_fit * args.responses / rec["fit_many_n_jobs_2_seconds"], 1),
                "max_difference_vs_lmer": diffs})
    t0 = time.perf_counter()
    lf.fit_many(FORMULA, df, Y.iloc[:, :loop], method="exact", progress=False)
    rec["fit_many_exact_seconds_per_response"] = round((time.perf_counter() - t0) / loop, 4)
    save("many", rec)


def step_boot(args: argparse.Namespace) -> None:
    """N bootstrap refits of the 10% growth model: 1 process, 2 local processes, a 2-worker Dask cluster."""
    from dask.distributed import Client, LocalCluster

    import lmmflow as lf

    df = _growth01()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = lf.lmer(FORMULA, df)
    rec: dict = {"rows": m.nobs, "nsim": args.nsim}
    runs = {}
    for label, kw in (("n_jobs_1", {"n_jobs": 1}), ("n_jobs_2", {"n_jobs": 2})):
        t0 = time.perf_counter()
        runs[label] = lf.bootstrap(m, nsim=args.nsim, seed=1, progress=False, **kw)
        rec[f"{label}_seconds"] = round(time.perf_counter() - t0, 2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cl, \
            Client(cl) as client:
        t0 = time.perf_counter()
        runs["dask_2_workers"] = lf.bootstrap(m, nsim=args.nsim, seed=1, progress=False, client=client)
        rec["dask_2_workers_seconds"] = round(time.perf_counter() - t0, 2)
    base = runs["n_jobs_1"].replicates.to_numpy()
    rec["max_abs_difference_vs_serial"] = {k: float(np.max(np.abs(v.replicates.to_numpy() - base)))
                                           for k, v in runs.items()}
    rec["failures"] = {k: v.failures.count for k, v in runs.items()}
    save("boot", rec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("step", choices=["dask", "inmemory", "many", "boot"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--worker-memory", default="4GiB")
    ap.add_argument("--responses", type=int, default=1000)
    ap.add_argument("--loop", type=int, default=100, help="lf.lmer fits timed in the loop (then scaled)")
    ap.add_argument("--nsim", type=int, default=1000)
    args = ap.parse_args()
    {"dask": step_dask, "inmemory": step_inmemory, "many": step_many, "boot": step_boot}[args.step](args)


if __name__ == "__main__":
    main()
