"""Simulated crossed designs for the benchmark harness: kb07-shaped "keep it maximal" experiments.

``python benchmarks/make_crossed.py [OUT]`` writes (deterministically, fixed seeds) into ``benchmarks/data``:

- ``kb07.csv``: 56 subjects x 32 items, 1,792 rows (the shape of MixedModels.jl's kb07 data), three two-level
  predictors ``spkr``, ``prec``, ``load`` coded -0.5/0.5 (``spkr`` varies between items, ``prec`` and ``load``
  within subjects and items, counterbalanced), correlated 4 x 4 random effects for subjects and for items;
- ``kb07_large.csv``: 300 subjects x 100 items x 2 repetitions, 60,000 rows, the same structure;
- ``nested18k.csv``: 100 schools x 30 students x 6 waves (18,000 rows), random intercepts and slopes of time
  for schools and for students within schools; ``nested1_8m.csv``: 10,000 schools, the same (1.8M rows).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "data"


def kb07_like(nsubj: int = 56, nitem: int = 32, reps: int = 1, seed: int = 1) -> pd.DataFrame:
    """A fully crossed subjects x items experiment with maximal random effects.

    Parameters
    ----------
    nsubj, nitem, reps : int
        Subjects, items, and repetitions of each subject-item pair.
    seed : int

    Returns
    -------
    pandas.DataFrame
        Columns rt, subj, item, spkr, prec, load.
    """
    rng = np.random.default_rng(seed)
    s = np.repeat(np.arange(nsubj), nitem * reps)
    it = np.tile(np.repeat(np.arange(nitem), reps), nsubj)
    spkr = np.where(it % 2 == 0, -0.5, 0.5)
    prec = np.where((it // 2 + s) % 2 == 0, -0.5, 0.5)
    load = np.where((it // 4 + s // 2) % 2 == 0, -0.5, 0.5)
    X = np.column_stack([np.ones(len(s)), spkr, prec, load])
    corr = np.array([[1, .3, -.2, .1], [.3, 1, .1, 0], [-.2, .1, 1, .2], [.1, 0, .2, 1]])
    sd_s, sd_i = np.array([300., 50, 150, 60]), np.array([350., 40, 200, 30])
    bs = rng.multivariate_normal(np.zeros(4), corr * np.outer(sd_s, sd_s), nsubj)
    bi = rng.multivariate_normal(np.zeros(4), corr * np.outer(sd_i, sd_i), nitem)
    y = (2200 + X @ np.array([0, 70, -330, 40]) + (X * bs[s]).sum(1) + (X * bi[it]).sum(1)
         + rng.normal(0, 650, len(s)))
    return pd.DataFrame({"rt": y.round(3), "subj": [f"S{v:03d}" for v in s], "item": [f"I{v:03d}" for v in it],
                         "spkr": spkr, "prec": prec, "load": load})


def nested_growth(nschool: int = 100, nstud: int = 30, ntime: int = 6, seed: int = 1) -> pd.DataFrame:
    """Students in schools measured over time, with random intercepts and slopes at both levels.

    Parameters
    ----------
    nschool, nstud, ntime : int
        Schools, students per school, waves per student.
    seed : int

    Returns
    -------
    pandas.DataFrame
        Columns y, time, school, student (numbered within school).
    """
    rng = np.random.default_rng(seed)
    n_st = nschool * nstud
    school = np.repeat(np.arange(nschool), nstud * ntime)
    student = np.repeat(np.arange(n_st), ntime)
    t = np.tile(np.arange(ntime, dtype=float), n_st)
    bs = rng.multivariate_normal([0, 0], [[4, .3], [.3, .25]], nschool)
    bst = rng.multivariate_normal([0, 0], [[9, .5], [.5, 1]], n_st)
    y = 10 + 1.5 * t + bs[school, 0] + bs[school, 1] * t + bst[student, 0] + bst[student, 1] * t
    return pd.DataFrame({"y": (y + rng.normal(0, 2, len(t))).round(4), "time": t, "school": school,
                         "student": student % nstud})


def main(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    kb07_like().to_csv(out / "kb07.csv", index=False)
    kb07_like(nsubj=300, nitem=100, reps=2, seed=2).to_csv(out / "kb07_large.csv", index=False)
    nested_growth().to_csv(out / "nested18k.csv", index=False)
    nested_growth(nschool=10_000, seed=2).to_csv(out / "nested1_8m.csv", index=False)
    print(f"wrote kb07.csv, kb07_large.csv, nested18k.csv and nested1_8m.csv in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
