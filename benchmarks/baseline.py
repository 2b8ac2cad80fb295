"""Saved R figures: lme4 and glmmTMB take minutes on the large problems, so one measurement is kept and reused.

One file per library (``benchmarks/results/lme4_baseline.json``, ``glmmtmb_baseline.json``) maps ``problem``
(or ``problem@quick``) to the :class:`RunResult` record, the command that measured it and the machine it ran
on.  ``run.py --save-baseline`` merges this run's records of those libraries into their files;
``--reuse-baseline`` takes their records from the files instead of running R (problems missing from a file
are measured).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .adapters.base import ERROR, OK, TIMEOUT, RunResult
from .problems import REPO

RESULTS = REPO / "benchmarks" / "results"
BASELINE = RESULTS / "lme4_baseline.json"
BASELINE_LIBS = ("lme4", "glmmtmb")
"""The libraries whose figures are saved and reused (the slow ones, run through R)."""


def path_for(lib: str) -> Path:
    """The baseline file of a library: ``benchmarks/results/<lib>_baseline.json``.

    Parameters
    ----------
    lib : str

    Returns
    -------
    pathlib.Path
    """
    return RESULTS / f"{lib}_baseline.json"


def key(problem: str, quick: bool) -> str:
    """The file's key for a problem: its name, with ``@quick`` for the small data."""
    return f"{problem}@quick" if quick else problem


def load(path: Path = BASELINE) -> dict[str, Any]:
    """The baseline file's entries (empty if there is no file).

    Parameters
    ----------
    path : pathlib.Path

    Returns
    -------
    dict
        ``key -> {"result": ..., "command": ..., "machine": ...}``.
    """
    if not path.is_file():
        return {}
    return json.loads(path.read_text()).get("entries", {})


def reuse(problem: str, quick: bool, path: Path = BASELINE) -> RunResult | None:
    """The saved lme4 record of a problem, marked as reused, or ``None`` if there is none.

    Parameters
    ----------
    problem : str
    quick : bool
    path : pathlib.Path

    Returns
    -------
    RunResult or None
    """
    entry = load(path).get(key(problem, quick))
    if entry is None:
        return None
    result = RunResult.from_dict(entry["result"])
    result.reused_from = path.name
    result.extra["baseline_command"] = entry.get("command", "?")
    return result


def save(results: list[RunResult], command: str, machine: dict[str, Any], path: Path = BASELINE,
         lib: str = "lme4") -> list[str]:
    """Merge freshly measured records of one library (default lme4) into its baseline file.

    Records that were themselves reused, or that did not run (cannot express, unsupported, no data), are
    skipped; a timeout or an error (e.g. past ``--memory-limit``) is kept, so a reuse reports it instead of
    running the slow fit again.

    Parameters
    ----------
    results : list of RunResult
    command : str
        The command line of this run.
    machine : dict
    path : pathlib.Path
    lib : str
        The library whose records are saved.

    Returns
    -------
    list of str
        The keys written.
    """
    entries = load(path)
    written = []
    for r in results:
        if r.lib != lib or r.reused_from or r.status not in (OK, TIMEOUT, ERROR):
            continue
        k = key(r.problem, r.quick)
        entries[k] = {"result": r.to_dict(), "command": command, "machine": machine}
        written.append(k)
    if written:
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"about": f"{lib} figures measured by benchmarks/run.py; reused with --reuse-baseline",
               "entries": dict(sorted(entries.items()))}
        path.write_text(json.dumps(doc, indent=1) + "\n")
    return written
