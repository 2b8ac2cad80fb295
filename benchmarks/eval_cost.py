"""Cost of one evaluation (objective) and of one value-and-gradient of the profiled criterion, against the number of
random effects, for the structures the engine meets: crossed vector-valued terms (kb07-shaped: subjects x items,
4 x 4 random effects each) and nested vector-valued terms (students in schools, 2 x 2 each).

``python benchmarks/eval_cost.py`` prints a Markdown table (CPU time per call, one BLAS thread, median of
repeats), the one in docs/engine.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg  # noqa: F401  (loaded before the limit: threadpoolctl limits only the loaded BLAS libraries)
import threadpoolctl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_crossed import kb07_like, nested_growth  # noqa: E402

import lmmflow as lf  # noqa: E402

KB07 = "rt ~ 1 + spkr * prec * load + (1 + spkr + prec + load | subj) + (1 + spkr + prec + load | item)"
NESTED = "y ~ time + (1 + time | school) + (1 + time | school:student)"


def _cpu(fn, reps: int) -> float:
    times = []
    for _ in range(3):
        t = time.process_time()
        for _ in range(reps):
            fn()
        times.append((time.process_time() - t) / reps)
    return float(np.median(times))


def row(label: str, formula: str, df, reml: bool) -> str:
    fn = lf.make_deviance(formula, df, reml=reml)
    q = sum(b.q for b in fn.cp.blocks)
    theta = np.maximum(fn.theta0 * 0.7 + 0.05 * (fn.lower == -np.inf), fn.lower)
    ev = _cpu(lambda: fn(theta), 20)
    vg = _cpu(lambda: fn.value_and_gradient(theta), 10)
    return (f"| {label} | {len(df):,} | {q:,} | {fn.n_theta} | {type(fn.small).__name__} | {ev * 1e3:.2f} | "
            f"{vg * 1e3:.2f} |")


def main() -> None:
    # scipy's own OpenBLAS, left at two threads when it loads after the limit, spins under load: CPU times doubled
    print("| model | rows | random effects | theta | objective | evaluation (ms) | value and gradient (ms) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with threadpoolctl.threadpool_limits(1):
        for ns, ni in [(28, 16), (56, 32), (112, 64), (300, 100)]:
            print(row(f"kb07-shaped {ns} x {ni}", KB07, kb07_like(ns, ni), reml=False))
        for nsch in [30, 100, 1000, 10_000]:
            print(row(f"nested {nsch} schools x 30 students", NESTED, nested_growth(nsch), reml=True))


if __name__ == "__main__":
    main()
