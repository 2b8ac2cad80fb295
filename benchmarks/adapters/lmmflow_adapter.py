"""lmmflow: ``lf.lmer(formula, frame, reml=...)``.

The adapter modules share one small interface, used by :class:`~benchmarks.adapters.runner.PythonAdapter`
and the worker: ``NAME``, ``KINDS``, ``version()``, ``cannot_express(problem)``, ``prepare(problem, frame,
options)``, ``fit(problem, frame)`` and optionally ``extra_info()``, and ``fit_model`` / ``summarize``, the
two halves of ``fit``, of which the worker times only the first (the library's fit call, as the R script
times ``lmer()`` alone).  Library imports happen inside the functions, so the harness can ask
``cannot_express`` without importing the library.
"""

from __future__ import annotations

import subprocess
from importlib import metadata
from typing import Any

import pandas as pd

from ..problems import REPO, Problem
from .base import FitOutput

NAME = "lmmflow"
KINDS = ("fit", "warm")


def version() -> str:
    """lmmflow's version, with the git commit of the working tree (``+dirty`` when it has changes)."""
    # imported here so that the library (with formulaic, scipy.optimize and nlopt) is loaded before the
    # data, as in real use: the fit's time and memory are then the fit's, not the libraries' code
    import lmmflow

    ver = getattr(lmmflow, "__version__", None) or metadata.version("lmmflow")
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{ver} ({commit})" if commit else ver


def cannot_express(problem: Problem) -> str | None:
    """lmmflow takes any lme4 formula: always ``None``."""
    return None


def prepare(problem: Problem, frame: pd.DataFrame, options: dict[str, Any]) -> tuple[pd.DataFrame, float, str]:
    """No preparation: the whole frame, share 1, no note."""
    return frame, 1.0, ""


def fit_model(problem: Problem, frame: pd.DataFrame) -> Any:
    """The timed part: ``lmmflow.lmer`` on ``problem`` (as the R script times ``lmer()`` alone)."""
    import lmmflow as lf

    return lf.lmer(problem.formula, frame, reml=problem.reml)


def summarize(m: Any) -> FitOutput:
    """The estimates of a fit from :func:`fit_model` (not timed)."""
    info = getattr(m, "optinfo", None)
    return FitOutput(objective=float(m.objective), fixef=dict(m.fixef), sigma=float(m.sigma),
                     theta=[float(t) for t in m.theta], converged=getattr(info, "converged", None),
                     messages=list(getattr(info, "messages", ()) or ()),
                     info={"optimizer": getattr(info, "optimizer", None),
                           "evaluations": getattr(info, "evaluations", None)})


def fit(problem: Problem, frame: pd.DataFrame) -> FitOutput:
    """Fit ``problem`` with ``lmmflow.lmer`` and read its estimates.

    Parameters
    ----------
    problem : Problem
    frame : pandas.DataFrame

    Returns
    -------
    FitOutput
    """
    return summarize(fit_model(problem, frame))


def extra_info() -> dict[str, str]:
    """Versions of the numerical stack under lmmflow."""
    import numpy as np
    import scipy

    return {"numpy": np.__version__, "scipy": scipy.__version__, "pandas": pd.__version__}
