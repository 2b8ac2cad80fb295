"""Records shared by every adapter: the outcome of one fit and of one benchmark run."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

OK = "ok"
TIMEOUT = "timeout"
ERROR = "error"
CANNOT_EXPRESS = "cannot express"
UNSUPPORTED = "unsupported"
MISSING = "missing"
STATUSES = (OK, TIMEOUT, ERROR, CANNOT_EXPRESS, UNSUPPORTED, MISSING)


def now_iso() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass
class FitOutput:
    """What a Python adapter's ``fit`` returns.

    Parameters
    ----------
    objective : float
        REML criterion or deviance (-2 log-likelihood), lme4's scale.
    fixef : dict of str to float
    sigma : float
    theta : list of float
        Relative covariance factor parameters, lme4's order, where the library exposes them.
    converged : bool or None
    messages : list of str
        Convergence notes from the library.
    info : dict
        Optimizer facts (name, evaluations), copied into :attr:`RunResult.extra`.
    """

    objective: float
    fixef: dict[str, float] = field(default_factory=dict)
    sigma: float | None = None
    theta: list[float] = field(default_factory=list)
    converged: bool | None = None
    messages: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    """The outcome of running one library on one problem (all repeats together).

    Parameters
    ----------
    problem, lib, kind : str
    status : str
        One of :data:`STATUSES`.
    note : str
        Why it did not run, a subsample, a reused figure: anything a reader of the table needs.
    times : list of float
        Fit wall seconds: one per fresh process for ``kind="fit"``; one per timed fit for ``kind="warm"``.
    load_seconds : float or None
        Reading the CSV file into memory (first repeat).
    objective : float or None
    criterion : str
        ``"REML criterion"`` or ``"deviance"``.
    fixef : dict of str to float
    sigma : float or None
    theta : list of float
    converged : bool or None
    warnings : list of str
        Warnings raised during the fit, and convergence messages.
    nobs : int or None
        Rows used by the fit.
    data_mb : float or None
        In-memory size of the data (pandas ``memory_usage(deep=True)``, R ``object.size``), MiB.
    rss_after_load_mb : float or None
        RSS after loading the data, before the fit.
    fit_peak_mb : float or None
        Peak RSS during the fit (high-water mark reset after loading), MiB.
    process_peak_mb : float or None
        Peak RSS of the whole process (imports, load, fit), MiB.
    memory_method : str
        How the memory figures were read.
    subsample : float
        Share of groups kept (1 = all data).
    quick : bool
        Whether the small data of ``--quick`` were used.
    version : str
        Library version.
    extra : dict
        Anything else (R version, BLAS, ...).
    measured_at : str
        ISO time of the measurement.
    reused_from : str
        Non-empty when the figure was read from a saved baseline instead of measured now.
    """

    problem: str
    lib: str
    kind: str
    status: str = OK
    note: str = ""
    times: list[float] = field(default_factory=list)
    load_seconds: float | None = None
    objective: float | None = None
    criterion: str = ""
    fixef: dict[str, float] = field(default_factory=dict)
    sigma: float | None = None
    theta: list[float] = field(default_factory=list)
    converged: bool | None = None
    warnings: list[str] = field(default_factory=list)
    nobs: int | None = None
    data_mb: float | None = None
    rss_after_load_mb: float | None = None
    fit_peak_mb: float | None = None
    process_peak_mb: float | None = None
    memory_method: str = ""
    subsample: float = 1.0
    quick: bool = False
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    measured_at: str = field(default_factory=now_iso)
    reused_from: str = ""

    @property
    def seconds(self) -> float | None:
        """The headline time: the median of :attr:`times` (``None`` without a successful fit)."""
        return statistics.median(self.times) if self.status == OK and self.times else None

    @property
    def fit_increment_mb(self) -> float | None:
        """Memory the fit added on top of the loaded data: peak during the fit minus RSS after loading."""
        if self.fit_peak_mb is None or self.rss_after_load_mb is None:
            return None
        return max(0.0, self.fit_peak_mb - self.rss_after_load_mb)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (with the derived ``seconds`` and ``fit_increment_mb``)."""
        out = asdict(self)
        out["seconds"] = self.seconds
        out["fit_increment_mb"] = self.fit_increment_mb
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        """Rebuild a record from :meth:`to_dict`'s output (derived and unknown keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def merge_repeats(runs: list[RunResult]) -> RunResult:
    """Combine the records of several fresh-process repeats of one fit.

    The first record supplies the estimates and load time; times are concatenated; memory figures are the
    largest seen; warnings are collected without duplicates.  A failed repeat makes the whole run fail.

    Parameters
    ----------
    runs : list of RunResult
        At least one.

    Returns
    -------
    RunResult
    """
    first = runs[0]
    failed = next((r for r in runs if r.status != OK), None)
    if failed is not None:
        if failed is not first:
            failed.note = (failed.note + f" (repeat {runs.index(failed) + 1} of {len(runs)})").strip()
        return failed
    merged = RunResult.from_dict(first.to_dict())
    merged.times = [t for r in runs for t in r.times]
    for name in ("fit_peak_mb", "process_peak_mb"):
        values = [getattr(r, name) for r in runs if getattr(r, name) is not None]
        setattr(merged, name, max(values) if values else None)
    merged.warnings = list(dict.fromkeys(w for r in runs for w in r.warnings))
    return merged
