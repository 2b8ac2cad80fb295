"""The Laplace objective of a GLMM with two large crossed factors, evaluated at fixed parameters.

``python benchmarks/pirls_crossed.py`` (after ``python benchmarks/make_glmm.py``) times, with one BLAS thread and
in CPU seconds, the first evaluation (layout included) and the mean of three more of
``y ~ x + (1 | student) + (1 | rater)`` on ``crossed_binary_73k.csv`` (2,972 students crossed with 1,128
raters), through :class:`lmmflow.core.pirls.GlmmObjective`, and prints one JSON line.  It uses only that
class's constructor and ``laplace``, so the same script measures any revision of the engine.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from lmmflow.core.crossprod import ReBlock
from lmmflow.core.family import binomial
from lmmflow.core.pirls import GlmmObjective

DATA = Path(__file__).resolve().parent / "data" / "crossed_binary_73k.csv"


def main() -> None:
    d = pd.read_csv(DATA)
    n = len(d)
    blocks = []
    for col in ("student", "rater"):
        codes, levels = pd.factorize(d[col], sort=True)
        blocks.append(ReBlock(codes=codes.astype(np.int64), Z=np.ones((n, 1)), nlevels=len(levels),
                              mask=np.ones((1, 1), bool)))
    X = np.column_stack([np.ones(n), d["x"].to_numpy(float)])
    theta, beta = np.array([0.58, 0.50]), np.array([0.295, 0.397])
    with threadpool_limits(1):
        t0 = time.process_time()
        obj = GlmmObjective(blocks, X, d["y"].to_numpy(float), binomial())
        first = obj.laplace(theta, beta)
        t1 = time.process_time()
        vals = [obj.laplace(theta * (1.0 + 0.01 * k), beta) for k in (1, 2, 3)]
        t2 = time.process_time()
    print(json.dumps({"first_evaluation_s": round(t1 - t0, 3), "per_evaluation_s": round((t2 - t1) / 3, 3),
                      "objective": first, "objectives": vals}))


if __name__ == "__main__":
    main()
