"""Run the benchmarks: every selected library on every selected problem, then write the results and the docs.

    python benchmarks/run.py [--problems a,b] [--libs lmmflow,lme4,glmmtmb,statsmodels] [--repeat N] [--quick]
                             [--timeout S] [--reuse-baseline] [--save-baseline] [--merge] [--list]

Writes ``benchmarks/results/latest.json`` and regenerates ``docs/benchmarks.md`` (not for ``--quick`` runs
unless ``--docs`` is given).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the ``benchmarks`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import baseline, machine, report  # noqa: E402
from benchmarks.adapters import LIBS, RunResult, RunSettings, registry  # noqa: E402
from benchmarks.adapters.base import now_iso  # noqa: E402
from benchmarks.adapters.glmmtmb_adapter import glmmtmb_version  # noqa: E402
from benchmarks.adapters.lme4_adapter import r_versions  # noqa: E402
from benchmarks.problems import PROBLEMS, REPO, select  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "latest.json"
DOCS = REPO / "docs" / "benchmarks.md"
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    ap = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", default="", help="comma-separated problem names (default: all but heavy ones)")
    ap.add_argument("--all", action="store_true",
                    help="include heavy problems (ratings1m_slope, kb07_large_ml, nested1_8m)")
    ap.add_argument("--libs", default=",".join(LIBS), help=f"comma-separated libraries (default: {','.join(LIBS)})")
    ap.add_argument("--repeat", type=int, default=1, help="fresh-process repeats of each fit problem (median)")
    ap.add_argument("--warm-repeats", type=int, default=None, help="timed fits of warm problems (default 50)")
    ap.add_argument("--quick", action="store_true", help="scale-0.1 data for growth and ratings")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per process before it is killed")
    ap.add_argument("--memory-limit", type=float, default=None, metavar="GIB",
                    help="cap each process's virtual memory (RLIMIT_AS); a fit needing more is an error record")
    ap.add_argument("--statsmodels-fraction", default="auto",
                    help="share of groups statsmodels fits ('auto': 0.1 above 200k rows, else 1)")
    ap.add_argument("--reuse-baseline", action="store_true",
                    help="take lme4 and glmmTMB figures from benchmarks/results/{lme4,glmmtmb}_baseline.json "
                         "where present")
    ap.add_argument("--save-baseline", action="store_true",
                    help="store this run's lme4 and glmmTMB figures in benchmarks/results/<lib>_baseline.json")
    ap.add_argument("--merge", action="store_true",
                    help="keep records of latest.json for (problem, library) pairs not run now")
    ap.add_argument("--output", type=Path, default=RESULTS, help="results JSON (default: %(default)s)")
    ap.add_argument("--docs", type=Path, default=None, help=f"Markdown report (default: {DOCS}, none with --quick)")
    ap.add_argument("--no-docs", action="store_true", help="do not write the Markdown report")
    ap.add_argument("--threads", type=int, default=None,
                    help="set OPENBLAS/OMP/MKL_NUM_THREADS for every library's process (default: library defaults)")
    ap.add_argument("--note", action="append", default=[], help="a paragraph for the report (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the problems and exit")
    args = ap.parse_args(argv)
    args.libs = [x.strip() for x in args.libs.split(",") if x.strip()]
    unknown = [x for x in args.libs if x not in LIBS]
    if unknown:
        ap.error(f"unknown libraries {unknown}; known: {', '.join(LIBS)}")
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    return args


def command_line(argv: list[str]) -> str:
    """The command as a user would type it from the repository root."""
    exe = Path(sys.executable)
    try:
        python = str(exe.relative_to(REPO))
    except ValueError:
        python = "python"
    return shlex.join([python, "benchmarks/run.py", *argv])


def run_all(args: argparse.Namespace) -> list[RunResult]:
    """Run each selected library on each selected problem, printing progress to stderr."""
    problems = select(args.problems.split(",") if args.problems else None, include_heavy=args.all)
    fraction = args.statsmodels_fraction
    settings = RunSettings(quick=args.quick, repeat=args.repeat, timeout=args.timeout,
                           warm_repeats=args.warm_repeats, memory_limit_gb=args.memory_limit,
                           options={"statsmodels": {"fraction": fraction if fraction == "auto" else float(fraction)}})
    adapters = registry()
    results = []
    jobs = [(p, lib) for p in problems for lib in args.libs]
    for i, (problem, lib) in enumerate(jobs, 1):
        print(f"[{i}/{len(jobs)}] {problem.name} / {lib} ...", end=" ", file=sys.stderr, flush=True)
        reused = (baseline.reuse(problem.name, args.quick, baseline.path_for(lib))
                  if lib in baseline.BASELINE_LIBS and args.reuse_baseline else None)
        result = reused or adapters[lib].run(problem, settings)
        results.append(result)
        shown = report.time_cell(result) + (f" ({result.note})" if result.note and result.status != "ok" else "")
        print(shown + (" [reused]" if reused else ""), file=sys.stderr, flush=True)
    return results


def merge_previous(results: list[RunResult], path: Path, quick: bool) -> list[RunResult]:
    """Add the records of an earlier results file for pairs not in ``results`` (same ``quick`` setting)."""
    if not path.is_file():
        return results
    done = {(r.problem, r.lib) for r in results}
    old = [RunResult.from_dict(d) for d in json.loads(path.read_text()).get("results", [])]
    kept = [r for r in old if (r.problem, r.lib) not in done and r.quick == quick and r.problem in PROBLEMS]
    order = list(PROBLEMS)
    return sorted(results + kept, key=lambda r: (order.index(r.problem), LIBS.index(r.lib)))


def keep_glmm_section(text: str, path: Path) -> str:
    """``text`` with the GLMM section of the file at ``path`` (written by ``benchmarks/glmm_bench.py`` between
    its markers) appended, so regenerating the LMM report keeps the GLMM figures."""
    from benchmarks.glmm_bench import END, START

    old = path.read_text() if path.is_file() else ""
    if START not in old or END not in old:
        return text
    section = START + old.split(START, 1)[1].split(END, 1)[0] + END
    return text.rstrip("\n") + "\n\n" + section + "\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (1 if any library failed with an error)."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.list:
        for p in PROBLEMS.values():
            print(f"{p.name:<18} {p.kind:<5} {'heavy ' if p.heavy else ''}{p.formula}  ({p.criterion})")
        return 0
    command = command_line(argv)
    if args.threads is not None:  # inherited by the worker and Rscript processes
        for var in THREAD_VARS:
            os.environ[var] = str(args.threads)
    r_info = r_versions() if {"lme4", "glmmtmb"} & set(args.libs) else {}
    if "glmmtmb" in args.libs:
        r_info["glmmtmb_version"] = glmmtmb_version()
    info = machine.describe(r_info)
    results = run_all(args)
    if args.merge:
        results = merge_previous(results, args.output, args.quick)
    generated = now_iso()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {"generated_at": generated, "command": command, "machine": info,
               "results": [r.to_dict() for r in results]}
    args.output.write_text(json.dumps(payload, indent=1) + "\n")
    print("\n" + report.console(results))
    print(f"\nwrote {os.path.relpath(args.output)}")
    if args.save_baseline:
        for lib in baseline.BASELINE_LIBS:
            if lib in args.libs:
                written = baseline.save(results, command, info, baseline.path_for(lib), lib)
                print(f"saved {lib} baseline for: {', '.join(written) or 'nothing'}")
    docs = None if args.no_docs else (args.docs or (None if args.quick else DOCS))
    if docs is not None:
        docs.parent.mkdir(parents=True, exist_ok=True)
        text = report.render_markdown(results, info, command, generated, args.note)
        docs.write_text(keep_glmm_section(text, docs))
        print(f"wrote {os.path.relpath(docs)}")
    return 1 if any(r.status == "error" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
