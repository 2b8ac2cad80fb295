"""lme4 through ``Rscript``: runs a copy of ``lme4_fit.R`` on the same CSV file and reads its output back.

The fit time is measured inside R around the ``lmer()`` call alone (reading the CSV is timed separately);
the whole-process peak RSS comes from ``/usr/bin/time -v`` around ``Rscript`` when that program exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..data import MissingDataError, data_file
from ..problems import Problem
from .base import CANNOT_EXPRESS, ERROR, MISSING, TIMEOUT, UNSUPPORTED, RunResult
from .proc import run_limited
from .runner import Adapter, RunSettings

SCRIPT = Path(__file__).with_name("lme4_fit.R")
HARNESS = Path(__file__).with_name("harness.R")  # what the R scripts share
TIME_BIN = "/usr/bin/time"
KINDS = ("fit", "warm")
MEMORY_METHOD = ("fresh Rscript process; fit peak = VmHWM after resetting it post-load (/proc/self/clear_refs); "
                 "process peak = /usr/bin/time -v maximum resident set size; data = object.size(data.frame)")
_MAXRSS = re.compile(r"Maximum resident set size \(kbytes\):\s*(\d+)")


def parse_output(text: str) -> dict[str, list[str]]:
    """Read the ``key<TAB>value...`` lines that ``lme4_fit.R`` writes.

    Parameters
    ----------
    text : str

    Returns
    -------
    dict of str to list of str
    """
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line:
            key, *values = line.split("\t")
            out[key] = values
    return out


def _num(values: list[str] | None) -> list[float]:
    """Numbers from R's ``sprintf("%.17g")`` output; ``NA`` becomes NaN."""
    return [float("nan") if v in ("NA", "NaN") else float(v) for v in values or []]


def _first(values: list[str] | None) -> float | None:
    nums = _num(values)
    return None if not nums or nums[0] != nums[0] else nums[0]


def fill_result(result: RunResult, fields: dict[str, list[str]], version_key: str = "lme4_version") -> RunResult:
    """Copy the parsed R output into ``result``.

    Parameters
    ----------
    result : RunResult
    fields : dict
        From :func:`parse_output`.
    version_key : str
        The line holding the library's version (``glmmtmb_fit.R`` writes ``glmmtmb_version``).

    Returns
    -------
    RunResult
        ``result``, status ``"error"`` if R stopped before writing ``done``.
    """
    result.version = (fields.get(version_key) or [""])[0]
    result.extra.update({k: fields[k][0] for k in ("r_version", "matrix_version", "tmb_version", "blas")
                         if fields.get(k)})
    result.load_seconds = _first(fields.get("load_seconds"))
    data_bytes = _first(fields.get("data_bytes"))
    result.data_mb = None if data_bytes is None else data_bytes / 2**20
    rss = _first(fields.get("rss_after_load_kb"))
    result.rss_after_load_mb = None if rss is None else rss / 1024
    peak = _first(fields.get("fit_peak_kb"))
    result.fit_peak_mb = None if peak is None else peak / 1024
    if "done" not in fields:
        result.status = ERROR
        return result
    result.times = _num(fields.get("times"))
    result.objective = _first(fields.get("objective"))
    nobs = _first(fields.get("nobs"))
    result.nobs = None if nobs is None else int(nobs)
    result.fixef = dict(zip(fields.get("fixef_names", []), _num(fields.get("fixef")), strict=True))
    result.sigma = _first(fields.get("sigma"))
    result.theta = _num(fields.get("theta"))
    result.converged = (fields.get("converged") or ["NA"])[0] == "TRUE"
    result.warnings = [w for w in fields.get("warnings", []) if w]
    # glmmTMB has no isSingular(): unknown there, not "not singular"
    result.extra["singular"] = (fields["singular"] or ["NA"])[0] == "TRUE" if "singular" in fields else None
    result.extra["optimizer"] = (fields.get("optimizer") or [""])[0]
    if "theta_native" in fields:
        result.extra["theta_native"] = _num(fields["theta_native"])
    evaluations = _first(fields.get("evaluations"))
    result.extra["evaluations"] = None if evaluations is None else int(evaluations)
    return result


class Lme4Adapter(Adapter):
    """lme4, one fresh ``Rscript --vanilla`` per measurement.

    Parameters
    ----------
    rscript : str
        The ``Rscript`` program (default: found on ``PATH``).
    """

    name = "lme4"
    script = SCRIPT
    """The R script (a private copy is run each time)."""
    version_key = "lme4_version"
    install_hint = "apt-get install r-base-core r-cran-lme4"
    memory_method = MEMORY_METHOD

    def __init__(self, rscript: str | None = None) -> None:
        self.rscript = rscript or shutil.which("Rscript") or "Rscript"

    def available(self) -> bool:
        """Whether ``Rscript`` can be run."""
        return shutil.which(self.rscript) is not None or Path(self.rscript).is_file()

    def why_not(self, problem: Problem) -> tuple[str, str] | None:
        """See :meth:`Adapter.why_not`."""
        if problem.kind not in KINDS:
            return UNSUPPORTED, f"lme4 adapter has no '{problem.kind}' measurement"
        if not self.available():
            return UNSUPPORTED, f"Rscript not found ({self.install_hint})"
        reason = self.cannot_express(problem)
        return None if reason is None else (CANNOT_EXPRESS, reason)

    def cannot_express(self, problem: Problem) -> str | None:
        """lme4 1.1 has no structured covariance terms (``ar1()``, ``cs()``, ``diag()``, ``us()``)."""
        if problem.structures:
            return (f"lme4 1.1 has no {', '.join(f'{s}()' for s in problem.structures)} covariance structure "
                    "(glmmTMB and lmmflow have)")
        return None

    def command(self, problem: Problem, script: Path, csv: Path, out: Path, settings: RunSettings) -> list[str]:
        """The command line: ``[/usr/bin/time -v] Rscript --vanilla SCRIPT CSV FORMULA ...``."""
        cmd = [self.rscript, "--vanilla", str(script), str(csv), problem.formula, "TRUE" if problem.reml else "FALSE",
               ",".join(problem.categorical), problem.kind, str(settings.repeats_for(problem)), str(out)]
        return [TIME_BIN, "-v", *cmd] if os.access(TIME_BIN, os.X_OK) else cmd

    def run_once(self, problem: Problem, settings: RunSettings) -> RunResult:
        """See :meth:`Adapter.run_once`."""
        result = RunResult(problem.name, self.name, problem.kind, criterion=problem.criterion,
                           quick=settings.quick, memory_method=self.memory_method)
        try:
            csv = data_file(problem, settings.quick)
        except MissingDataError as exc:
            result.status, result.note = MISSING, str(exc)
            return result
        with tempfile.TemporaryDirectory(prefix="lmmflow-bench-r-") as tmp:
            out = Path(tmp) / f"{self.name}.tsv"
            # R reads a script as it runs it: run a private copy, so editing the script cannot disturb a long fit
            # (with harness.R, which it sources from its own folder)
            script = Path(shutil.copy(self.script, Path(tmp) / self.script.name))
            shutil.copy(HARNESS, Path(tmp) / HARNESS.name)
            done = run_limited(self.command(problem, script, csv, out, settings), settings.timeout,
                               memory_limit_gb=settings.memory_limit_gb)
            fields = parse_output(out.read_text()) if out.is_file() else {}
        fill_result(result, fields, self.version_key)
        match = _MAXRSS.search(done.stderr)
        result.process_peak_mb = int(match.group(1)) / 1024 if match else None
        if done.timed_out:
            result.status, result.note = TIMEOUT, f"timed out after {settings.timeout:g} s"
        elif result.status == ERROR or done.returncode != 0:
            result.status = ERROR
            lines = [ln for ln in done.stderr.splitlines() if ln.strip() and not ln.startswith("\t")]
            result.note = f"Rscript exited with {done.returncode}: " + " | ".join(lines[-3:])
        return result


def r_versions(rscript: str = "Rscript", timeout: float = 60) -> dict[str, str]:
    """R, lme4 and BLAS versions, from a short ``Rscript`` call (empty where R is missing).

    Parameters
    ----------
    rscript : str
    timeout : float

    Returns
    -------
    dict of str to str
    """
    code = ('cat(R.version.string, "\\n", sep=""); cat(tryCatch(as.character(packageVersion("lme4")), '
            'error=function(e) "not installed"), "\\n", sep=""); cat(extSoftVersion()[["BLAS"]], "\\n", sep="")')
    try:
        done = subprocess.run([rscript, "--vanilla", "-e", code], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return {}
    lines = done.stdout.splitlines()
    return dict(zip(("r_version", "lme4_version", "r_blas"), lines)) if len(lines) >= 3 else {}
