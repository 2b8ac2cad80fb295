"""A description of the machine and of the software versions, for the report."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from .problems import REPO


def _first_match(path: str, prefix: str) -> str:
    """The value of the first ``prefix: value`` line of a /proc file, or ``""``."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        return ""
    return ""


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def numpy_blas() -> str:
    """The BLAS numpy was built with (name and version), or ``""``."""
    try:
        import numpy as np

        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # noqa: BLE001 - older numpy or an unusual build: the field is informative only
        return ""
    return f"{info.get('name', '')} {info.get('version', '')}".strip()


def describe(r_info: dict[str, str] | None = None) -> dict[str, Any]:
    """Machine and software facts.

    Parameters
    ----------
    r_info : dict, optional
        R, lme4 and BLAS versions (see :func:`benchmarks.adapters.lme4_adapter.r_versions`).

    Returns
    -------
    dict
        ``nproc`` (CPUs this process may use), ``cpu_count``, ``cpu_model``, ``memory_gib``, ``os``,
        ``loadavg_at_start``, ``python``, library versions, ``lmmflow_commit``, and the R entries.
    """
    mem_kb = _first_match("/proc/meminfo", "MemTotal").split()
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 0
    info: dict[str, Any] = {
        "nproc": nproc,
        "cpu_count": os.cpu_count(),
        "cpu_model": _first_match("/proc/cpuinfo", "model name") or platform.processor(),
        "memory_gib": round(int(mem_kb[0]) / 2**20, 1) if mem_kb else None,
        "os": f"{platform.system()} {platform.release()}",
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "numpy": _dist_version("numpy"),
        "numpy_blas": numpy_blas(),
        "scipy": _dist_version("scipy"),
        "pandas": _dist_version("pandas"),
        "statsmodels": _dist_version("statsmodels"),
        "lmmflow": _dist_version("lmmflow"),
        "lmmflow_commit": _git("describe", "--always", "--dirty"),
        "threads_env": {k: v for k, v in os.environ.items() if k.endswith("_NUM_THREADS")},
    }
    info.update(r_info or {})
    return info
