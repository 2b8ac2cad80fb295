"""Simulated GLMM data for the GLMM benchmarks (``benchmarks/glmm_bench.py``), deterministic (fixed seeds).

``python benchmarks/make_glmm.py [OUT]`` writes into ``benchmarks/data`` (or OUT):

- ``binary_growth_120k.csv``: 20,000 persons x 6 waves (time 0..5), a 0/1 response from
  ``logit P(y = 1) = -0.8 + 0.15 time + 0.2 treated + 0.25 time:treated + b0 + b1 time``, with
  ``sd(b0, b1) = (1.2, 0.4)`` and ``cor = -0.3`` (the parameters of the reference set
  ``glmm_binary_growth.csv``); half of the persons ``treated``, the other half ``control``;
- ``counts_slope_60k.csv``: 5,000 sites x 12 visits, Poisson counts with
  ``log E(y) = 0.5 + 0.08 visit - 0.3 treated + b0 + b1 visit``, ``sd(b0, b1) = (0.6, 0.05)``, ``cor = 0.2``
  (``visit`` 0..11, ``treated`` a site-level factor);
- ``crossed_binary_73k.csv``: 2,972 students crossed with 1,128 raters (InstEval's numbers of levels), 73,000
  ratings, each rater drawn at random for each student, a 0/1 response from
  ``logit P(y = 1) = 0.3 + 0.4 x + b_student + b_rater`` with ``sd = (0.6, 0.5)``: two large crossed factors.

VerbAgg comes from R: ``Rscript --vanilla benchmarks/make_verbagg.R``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "data"


def _effects(rng: np.random.Generator, n: int, sd: tuple[float, float], cor: float) -> np.ndarray:
    cov = np.array([[sd[0] ** 2, cor * sd[0] * sd[1]], [cor * sd[0] * sd[1], sd[1] ** 2]])
    return rng.multivariate_normal(np.zeros(2), cov, size=n)


def binary_growth(nid: int = 20_000, ntime: int = 6, seed: int = 20261204) -> pd.DataFrame:
    """Binary longitudinal data with a random intercept and slope of time per person.

    Parameters
    ----------
    nid, ntime : int
        Persons and waves.
    seed : int

    Returns
    -------
    pandas.DataFrame
        Columns id, time, group (``control``/``treated``), y (0/1).
    """
    rng = np.random.default_rng(seed)
    pid = np.repeat(np.arange(1, nid + 1), ntime)
    time = np.tile(np.arange(ntime), nid).astype(float)
    treated = (pid > nid // 2).astype(float)
    b = _effects(rng, nid, (1.2, 0.4), -0.3)
    eta = -0.8 + 0.15 * time + 0.2 * treated + 0.25 * time * treated + b[pid - 1, 0] + b[pid - 1, 1] * time
    y = (rng.random(len(eta)) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"id": pid, "time": time.astype(int), "group": np.where(treated > 0, "treated", "control"),
                         "y": y})


def counts_slope(nsite: int = 5_000, nvisit: int = 12, seed: int = 20261205) -> pd.DataFrame:
    """Poisson counts with a random intercept and slope of visit per site.

    Parameters
    ----------
    nsite, nvisit : int
    seed : int

    Returns
    -------
    pandas.DataFrame
        Columns site, visit, trt (``control``/``treated``), y (counts).
    """
    rng = np.random.default_rng(seed)
    site = np.repeat(np.arange(1, nsite + 1), nvisit)
    visit = np.tile(np.arange(nvisit), nsite).astype(float)
    treated = (site % 2 == 0).astype(float)
    b = _effects(rng, nsite, (0.6, 0.05), 0.2)
    eta = 0.5 + 0.08 * visit - 0.3 * treated + b[site - 1, 0] + b[site - 1, 1] * visit
    y = rng.poisson(np.exp(eta))
    return pd.DataFrame({"site": site, "visit": visit.astype(int),
                         "trt": np.where(treated > 0, "treated", "control"), "y": y})


def crossed_binary(nstudent: int = 2_972, nrater: int = 1_128, n: int = 73_000, seed: int = 20261206
                   ) -> pd.DataFrame:
    """A binary response with two large crossed random intercepts.

    Parameters
    ----------
    nstudent, nrater, n : int
        Levels of the two factors and rows.
    seed : int

    Returns
    -------
    pandas.DataFrame
        Columns student, rater, x (a row-level covariate), y (0/1).
    """
    rng = np.random.default_rng(seed)
    student = np.sort(rng.integers(0, nstudent, n))
    rater = rng.integers(0, nrater, n)
    x = rng.normal(size=n)
    eta = 0.3 + 0.4 * x + rng.normal(0.0, 0.6, nstudent)[student] + rng.normal(0.0, 0.5, nrater)[rater]
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"student": student + 1, "rater": rater + 1, "x": np.round(x, 6), "y": y})


def main(argv: list[str] | None = None) -> int:
    """Write the files; returns 0."""
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else OUT
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("binary_growth_120k", binary_growth()), ("counts_slope_60k", counts_slope()),
                        ("crossed_binary_73k", crossed_binary())):
        frame.to_csv(out / f"{name}.csv", index=False)
        print(f"wrote {out / name}.csv: {len(frame):,} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
