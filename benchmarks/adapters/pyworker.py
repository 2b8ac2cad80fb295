"""Fresh-process worker: measure one Python library on one problem and write a JSON :class:`RunResult`.

    python -m benchmarks.adapters.pyworker SPEC_JSON OUT_JSON

``SPEC_JSON`` holds ``module`` (adapter module), ``problem``, ``quick``, ``repeats`` (warm fits) and
``options`` (for the adapter's ``prepare``).  Order of events: import the library (``version()``), load the
data (timed), let the adapter prepare it (e.g. subsample), collect garbage, read RSS, reset the RSS peak,
fit (timed), read the peak.  Memory figures are therefore the fit's own peak on top of a process that already
holds the library and the data.
"""

from __future__ import annotations

import gc
import json
import sys
import time
import traceback
import warnings
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

from ..data import MissingDataError, frame_bytes, load_frame
from ..memory import hwm_mb, maxrss_mb, reset_peak, rss_mb
from ..problems import PROBLEMS, Problem
from .base import ERROR, MISSING, FitOutput, RunResult

MEMORY_METHOD = ("fresh Python process; fit peak = VmHWM after resetting it post-load (/proc/self/clear_refs); "
                 "process peak = getrusage(RUSAGE_SELF).ru_maxrss; data = pandas memory_usage(deep=True)")


def _timed_fits(mod: ModuleType, problem: Problem, frame: Any, repeats: int) -> tuple[FitOutput, list[float]]:
    """One timed fit (``"fit"``), or a warm-up fit and ``repeats`` timed fits (``"warm"``).

    As the R script times the ``lmer()`` call alone, an adapter with ``fit_model`` (the library's fit call)
    and ``summarize`` (reading the estimates from its result) has only ``fit_model`` timed; otherwise
    ``fit`` is timed whole.
    """
    if hasattr(mod, "fit_model") and hasattr(mod, "summarize"):
        fit_once, finish = (lambda: mod.fit_model(problem, frame)), mod.summarize
    else:
        fit_once, finish = (lambda: mod.fit(problem, frame)), (lambda out: out)
    if problem.kind == "warm":
        model = fit_once()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model = fit_once()
            times.append(time.perf_counter() - start)
        return finish(model), times
    start = time.perf_counter()
    model = fit_once()
    elapsed = time.perf_counter() - start
    return finish(model), [elapsed]


def measure(spec: dict[str, Any]) -> RunResult:
    """Carry out ``spec`` in this process.

    Parameters
    ----------
    spec : dict
        See the module docstring.

    Returns
    -------
    RunResult
        Status ``"ok"``, ``"missing"`` (no data file) or ``"error"`` (with the exception in ``note``).
    """
    problem = PROBLEMS[spec["problem"]]
    mod = import_module(spec["module"])
    result = RunResult(problem.name, mod.NAME, problem.kind, criterion=problem.criterion,
                       quick=bool(spec.get("quick")), memory_method=MEMORY_METHOD)
    try:
        result.version = mod.version()
        frame, result.load_seconds = load_frame(problem, result.quick)
        frame, result.subsample, result.note = mod.prepare(problem, frame, spec.get("options") or {})
        result.nobs = len(frame)
        result.data_mb = frame_bytes(frame) / 2**20
        gc.collect()
        result.rss_after_load_mb = rss_mb()
        peak_reset = reset_peak()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out, result.times = _timed_fits(mod, problem, frame, int(spec.get("repeats") or problem.repeats))
        result.fit_peak_mb = hwm_mb() if peak_reset else None
        result.process_peak_mb = maxrss_mb()
    except MissingDataError as exc:
        result.status, result.note = MISSING, str(exc)
        return result
    except Exception as exc:  # noqa: BLE001 - any failure of the library is a benchmark outcome
        result.status = ERROR
        result.note = f"{type(exc).__name__}: {exc}"
        result.extra["traceback"] = traceback.format_exc(limit=8)
        return result
    result.objective = float(out.objective)
    result.fixef = {str(k): float(v) for k, v in out.fixef.items()}
    result.sigma = None if out.sigma is None else float(out.sigma)
    result.theta = [float(t) for t in out.theta]
    result.converged = out.converged
    messages = [f"{w.category.__name__}: {w.message}" for w in caught] + list(out.messages)
    result.warnings = list(dict.fromkeys(messages))
    result.extra.update(out.info)
    result.extra.update(getattr(mod, "extra_info", dict)())
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``SPEC_JSON OUT_JSON``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    result = measure(json.loads(args[0]))
    Path(args[1]).write_text(json.dumps(result.to_dict(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
