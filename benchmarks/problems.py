"""The registry of benchmark problems.

A problem is a small frozen dataclass: which data set, which model, which criterion, and what *kind* of
measurement it is.  Kinds today:

``"fit"``
    One cold fit per fresh process (data already in memory; loading is timed separately).
``"warm"``
    Many fits of the same model in one process after a warm-up fit; the median is reported.

Later kinds (bootstrap, profile, Satterthwaite, Dask scaling) add a value to :data:`KINDS`, put their extra
settings in :attr:`Problem.options` and teach the adapters that support them; an adapter answers
"unsupported" for kinds it does not know.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

REPO = Path(__file__).resolve().parents[1]
"""Root of the lmmflow repository (the parent of ``benchmarks/``)."""

SHARED = Path(os.environ.get("LMMFLOW_BENCH_SHARED", REPO.parent / "shared"))
"""The shared folder with InstEval, sleepstudy and ``make_data.py`` (``LMMFLOW_BENCH_SHARED`` overrides it)."""

DATA_DIR = REPO / "benchmarks" / "data"
"""Where ``make_data.py`` writes the large sets (full scale here, ``--scale 0.1`` in ``small/``)."""

KINDS = ("fit", "warm")
"""Measurement kinds the harness knows."""


@dataclass(frozen=True)
class DataSet:
    """A CSV file, with a smaller stand-in for ``--quick`` runs.

    Parameters
    ----------
    name : str
        Short key, e.g. ``"growth"``.
    path : pathlib.Path
        The full-size CSV file.
    quick_path : pathlib.Path or None
        The CSV file used by ``--quick``; ``None`` means the full file is small enough.
    origin : str
        How to get the file if it is missing.
    maker : str
        Name of a function in :mod:`benchmarks.data` (in ``MAKERS``) that writes the file when it is missing;
        empty for files that must be made by hand.
    """

    name: str
    path: Path
    quick_path: Path | None = None
    origin: str = ""
    maker: str = ""

    def file(self, quick: bool = False) -> Path:
        """The CSV file to read.

        Parameters
        ----------
        quick : bool
            Use the small stand-in where there is one.

        Returns
        -------
        pathlib.Path
        """
        return self.quick_path if quick and self.quick_path is not None else self.path


_MAKE = "python ../shared/bench/make_data.py benchmarks/data"
DATASETS: Mapping[str, DataSet] = MappingProxyType({
    "insteval": DataSet("insteval", SHARED / "bench" / "insteval.csv", origin="shared/bench/insteval.csv"),
    "growth": DataSet("growth", DATA_DIR / "growth.csv", DATA_DIR / "small" / "growth.csv",
                      origin=f"{_MAKE} (and --scale 0.1 into benchmarks/data/small)"),
    "ratings": DataSet("ratings", DATA_DIR / "ratings.csv", DATA_DIR / "small" / "ratings.csv",
                       origin=f"{_MAKE} (and --scale 0.1 into benchmarks/data/small)"),
    "sleepstudy": DataSet("sleepstudy", SHARED / "reference" / "data" / "sleepstudy.csv",
                          origin="shared/reference/data/sleepstudy.csv"),
    "kb07": DataSet("kb07", DATA_DIR / "kb07.csv", origin="python benchmarks/make_crossed.py"),
    "kb07_large": DataSet("kb07_large", DATA_DIR / "kb07_large.csv", origin="python benchmarks/make_crossed.py"),
    "nested18k": DataSet("nested18k", DATA_DIR / "nested18k.csv", origin="python benchmarks/make_crossed.py"),
    "nested1_8m": DataSet("nested1_8m", DATA_DIR / "nested1_8m.csv", origin="python benchmarks/make_crossed.py"),
    "waves4000": DataSet("waves4000", DATA_DIR / "waves_4000.csv", DATA_DIR / "small" / "waves_400.csv",
                         origin="written on first use by benchmarks.data.write_waves (deterministic)",
                         maker="write_waves"),
})


@dataclass(frozen=True)
class Problem:
    """One benchmark problem.

    Parameters
    ----------
    name : str
        Unique key, used on the command line (``--problems``).
    kind : str
        One of :data:`KINDS`.
    data : str
        Key into :data:`DATASETS`.
    formula : str
        The model in lme4's formula language.
    reml : bool
        REML (criterion: ``REMLcrit``) or maximum likelihood (criterion: deviance).
    categorical : tuple of str
        Columns read as factors (R ``factor``, pandas ``category``), whatever their stored type.
    description : str
        One line for the report.
    heavy : bool
        Left out unless named with ``--problems`` or ``--all``.
    repeats : int
        For ``kind="warm"``: how many timed fits follow the warm-up fit.
    options : Mapping
        Settings for future kinds (e.g. the number of bootstrap replicates).
    note : str
        A remark shown under the problem in the report's notes (what is compared, what cannot be).
    """

    name: str
    kind: str
    data: str
    formula: str
    reml: bool
    categorical: tuple[str, ...] = ()
    description: str = ""
    heavy: bool = False
    repeats: int = 1
    options: Mapping[str, object] = field(default_factory=dict)
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"problem {self.name!r}: unknown kind {self.kind!r} (known: {', '.join(KINDS)})")
        if self.data not in DATASETS:
            raise ValueError(f"problem {self.name!r}: unknown data set {self.data!r}")

    @property
    def criterion(self) -> str:
        """``"REML criterion"`` or ``"deviance"``: what ``objective`` means for this problem."""
        return "REML criterion" if self.reml else "deviance"

    @property
    def structures(self) -> tuple[str, ...]:
        """The structured covariance terms the formula uses (``("ar1",)``, ...; empty for plain ``( | )``)."""
        return tuple(dict.fromkeys(_STRUCTURE.findall(self.formula)))

    @property
    def dataset(self) -> DataSet:
        """The :class:`DataSet` the problem reads."""
        return DATASETS[self.data]


_ISSUE12 = MappingProxyType({"target_vs_lme4": 20.0})
_ISSUE12_NOTE = "issue 12 problem: lmmflow should be at least 20x faster than lme4 with an objective no worse"
_STRUCTURED_NOTE = ("issue 12 problem: lme4 1.1 has no structured covariances, so lmmflow is compared with "
                    "glmmTMB")

_STRUCTURE = re.compile(r"\b(us|diag|cs|homcs|ar1)\s*\(")

PROBLEMS: Mapping[str, Problem] = MappingProxyType({p.name: p for p in (
    Problem("insteval_ml", "fit", "insteval", "y ~ service * dept + (1 | s) + (1 | d)", reml=False,
            categorical=("s", "d", "dept"),
            description="InstEval, 73k rows, students crossed with lecturers"),
    Problem("growth800k", "fit", "growth", "y ~ time * group + (1 + time | id)", reml=True,
            categorical=("id",),
            description="growth, ~800k rows, 200k persons, correlated intercept and slope"),
    Problem("ratings1m", "fit", "ratings", "rating ~ days + (1 | user) + (1 | item)", reml=False,
            categorical=("user", "item"),
            description="ratings, 1M rows, 40k users crossed with 4k items"),
    Problem("ratings1m_slope", "fit", "ratings", "rating ~ days + (1 + days | user) + (1 | item)", reml=False,
            categorical=("user", "item"), heavy=True,
            description="ratings, 1M rows, user random slopes crossed with item intercepts"),
    Problem("kb07_ml", "fit", "kb07",
            "rt ~ 1 + spkr * prec * load + (1 + spkr + prec + load | subj) + (1 + spkr + prec + load | item)",
            reml=False, categorical=("subj", "item"),
            options=_ISSUE12, note=_ISSUE12_NOTE,
            description="kb07-shaped maximal model, 56 subjects x 32 items, 4 x 4 random effects on both (20 theta)"),
    Problem("kb07_large_ml", "fit", "kb07_large",
            "rt ~ 1 + spkr * prec * load + (1 + spkr + prec + load | subj) + (1 + spkr + prec + load | item)",
            reml=False, categorical=("subj", "item"), heavy=True,
            options=_ISSUE12, note=_ISSUE12_NOTE,
            description="kb07-shaped maximal model, 300 subjects x 100 items x 2, 60k rows"),
    Problem("nested18k", "fit", "nested18k", "y ~ time + (1 + time | school) + (1 + time | school:student)",
            reml=True, categorical=("school", "student"),
            options=_ISSUE12, note=_ISSUE12_NOTE,
            description="students in schools over time, 18k rows: intercepts and slopes at both levels"),
    Problem("nested1_8m", "fit", "nested1_8m", "y ~ time + (1 + time | school) + (1 + time | school:student)",
            reml=True, categorical=("school", "student"), heavy=True,
            options=_ISSUE12, note=_ISSUE12_NOTE,
            description="students in schools over time, 1.8M rows (10,000 schools)"),
    Problem("ar1_growth", "fit", "waves4000", "y ~ time + ar1(0 + wave | id)", reml=True,
            categorical=("wave", "id"),
            note=_STRUCTURED_NOTE,
            description="growth-shaped, 4,000 units x 5 waves x 2 measurements (40k rows), AR(1) random effects "
                        "across the waves of a unit (2 covariance parameters)"),
    Problem("cs_growth", "fit", "waves4000", "y ~ time + cs(0 + wave | id)", reml=True,
            categorical=("wave", "id"),
            note=_STRUCTURED_NOTE,
            description="the same data, compound-symmetric random effects (glmmTMB's heterogeneous cs: "
                        "5 variances, 1 correlation)"),
    Problem("sleepstudy_warm", "warm", "sleepstudy", "Reaction ~ Days + (Days | Subject)", reml=True,
            categorical=("Subject",), repeats=50,
            description="sleepstudy, 180 rows: repeated warm fits in one process (default 50)"),
)})


def select(names: Iterable[str] | None = None, include_heavy: bool = False) -> list[Problem]:
    """Pick problems by name.

    Parameters
    ----------
    names : iterable of str, optional
        Problem names; ``None`` or empty selects every problem (heavy ones only with ``include_heavy``).
    include_heavy : bool
        With no names, include problems marked ``heavy``.

    Returns
    -------
    list of Problem
        In registry order.

    Raises
    ------
    KeyError
        For a name that is not registered.
    """
    wanted = [n.strip() for n in names or () if n.strip()]
    unknown = [n for n in wanted if n not in PROBLEMS]
    if unknown:
        raise KeyError(f"unknown problem(s) {', '.join(unknown)}; known: {', '.join(PROBLEMS)}")
    if wanted:
        return [p for p in PROBLEMS.values() if p.name in wanted]
    return [p for p in PROBLEMS.values() if include_heavy or not p.heavy]
