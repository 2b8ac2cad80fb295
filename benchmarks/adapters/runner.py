"""The adapter interface seen by ``run.py``, and the adapter that runs a Python library in a fresh process."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from importlib import import_module
from pathlib import Path

from ..problems import REPO, Problem
from .base import CANNOT_EXPRESS, ERROR, OK, TIMEOUT, UNSUPPORTED, RunResult, merge_repeats
from .proc import run_limited


@dataclass(frozen=True)
class RunSettings:
    """Settings shared by every adapter in one harness run.

    Parameters
    ----------
    quick : bool
        Small data (``benchmarks/data/small``) where a data set has them.
    repeat : int
        Fresh-process repeats of each ``"fit"`` problem.
    timeout : float
        Wall-clock limit of one process, seconds.
    warm_repeats : int or None
        Override of :attr:`Problem.repeats` for ``"warm"`` problems.
    options : dict
        Per-library options, keyed by library name (e.g. ``{"statsmodels": {"fraction": 0.1}}``).
    memory_limit_gb : float or None
        Cap on each process's virtual memory (``RLIMIT_AS``); a fit that needs more fails with an error record.
    """

    quick: bool = False
    repeat: int = 1
    timeout: float = 1800.0
    warm_repeats: int | None = None
    options: dict[str, dict[str, object]] = field(default_factory=dict)
    memory_limit_gb: float | None = None

    def repeats_for(self, problem: Problem) -> int:
        """Timed fits inside one process for a ``"warm"`` problem."""
        return self.warm_repeats or problem.repeats


class Adapter(ABC):
    """One library.  Subclasses implement :meth:`why_not` and :meth:`run_once`."""

    name: str = ""

    @abstractmethod
    def why_not(self, problem: Problem) -> tuple[str, str] | None:
        """``(status, reason)`` when the library cannot run ``problem``, else ``None``."""

    @abstractmethod
    def run_once(self, problem: Problem, settings: RunSettings) -> RunResult:
        """Measure ``problem`` once, in a fresh process."""

    def run(self, problem: Problem, settings: RunSettings) -> RunResult:
        """Measure ``problem`` (``settings.repeat`` fresh processes for a ``"fit"``; one for ``"warm"``).

        Parameters
        ----------
        problem : Problem
        settings : RunSettings

        Returns
        -------
        RunResult
            Repeats merged; a timeout or error stops the repeats.
        """
        refusal = self.why_not(problem)
        if refusal is not None:
            status, reason = refusal
            return RunResult(problem.name, self.name, problem.kind, status=status, note=reason,
                             criterion=problem.criterion, quick=settings.quick)
        runs = []
        load_before = os.getloadavg()[0]
        for _ in range(settings.repeat if problem.kind == "fit" else 1):
            runs.append(self.run_once(problem, settings))
            if runs[-1].status != OK:
                break
        merged = merge_repeats(runs)
        merged.extra["loadavg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        return merged


class PythonAdapter(Adapter):
    """A Python library, measured in a fresh ``python -m benchmarks.adapters.pyworker`` process.

    The adapter module (``module``) defines ``NAME``, ``KINDS``, ``version()``, ``cannot_express(problem)``,
    ``prepare(problem, frame, options)`` and ``fit(problem, frame)`` (optionally split into a timed
    ``fit_model`` and an untimed ``summarize``); see ``lmmflow_adapter`` for an example.

    Parameters
    ----------
    name : str
    module : str
        Dotted name of the adapter module.
    python : str
        Interpreter for the worker (default: the running one).
    """

    def __init__(self, name: str, module: str, python: str | None = None) -> None:
        self.name = name
        self.module = module
        self.python = python or sys.executable

    def why_not(self, problem: Problem) -> tuple[str, str] | None:
        """See :meth:`Adapter.why_not`; asks the adapter module (which imports its library lazily)."""
        mod = import_module(self.module)
        if problem.kind not in mod.KINDS:
            return UNSUPPORTED, f"{self.name} adapter has no '{problem.kind}' measurement"
        reason = mod.cannot_express(problem)
        return None if reason is None else (CANNOT_EXPRESS, reason)

    def run_once(self, problem: Problem, settings: RunSettings) -> RunResult:
        """See :meth:`Adapter.run_once`."""
        spec = {"module": self.module, "problem": problem.name, "quick": settings.quick,
                "repeats": settings.repeats_for(problem), "options": settings.options.get(self.name, {})}
        with tempfile.TemporaryDirectory(prefix="lmmflow-bench-") as tmp:
            out = Path(tmp) / "result.json"
            cmd = [self.python, "-m", "benchmarks.adapters.pyworker", json.dumps(spec), str(out)]
            done = run_limited(cmd, settings.timeout, cwd=REPO, memory_limit_gb=settings.memory_limit_gb)
            if done.timed_out:
                return RunResult(problem.name, self.name, problem.kind, status=TIMEOUT,
                                 note=f"timed out after {settings.timeout:g} s", criterion=problem.criterion,
                                 quick=settings.quick)
            if not out.is_file():
                return RunResult(problem.name, self.name, problem.kind, status=ERROR,
                                 note=f"worker exited with {done.returncode}: {done.tail(3)}",
                                 criterion=problem.criterion, quick=settings.quick)
            return RunResult.from_dict(json.loads(out.read_text()))

    def __repr__(self) -> str:
        return f"PythonAdapter({self.name!r}, {self.module!r})"


def settings_dict(settings: RunSettings) -> dict[str, object]:
    """``settings`` as a JSON-ready dictionary."""
    return asdict(settings)
