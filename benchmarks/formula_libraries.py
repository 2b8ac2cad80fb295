"""Why lmmflow builds model matrices with formulaic and parses the random-effect bars itself.

    python -m venv /tmp/fv && /tmp/fv/bin/pip install formulae formulaic pandas numpy
    /tmp/fv/bin/python benchmarks/formula_libraries.py

Checks each library on lme4's bar syntax (on 1,000 rows) and times the fixed-effects matrix on 1M rows.
formulae is not an lmmflow dependency; this script is only the record of the comparison.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd


def main() -> None:
    """Print the comparison."""
    import formulae
    import formulaic

    print("formulae", formulae.__version__, "formulaic", formulaic.__version__)
    rng = np.random.default_rng(1)
    n = 1_000_000
    df = pd.DataFrame({"y": rng.normal(size=n), "time": rng.integers(0, 5, n).astype(float),
                       "group": rng.integers(0, 2, n), "dept": rng.integers(0, 14, n).astype(str),
                       "id": rng.integers(0, 200_000, n).astype(str)})
    libs = {"formulae": lambda f, d: formulae.design_matrices(f, d), "formulaic": formulaic.model_matrix}
    for f in ["y ~ time + (1 | id)", "y ~ time + (time | id)", "y ~ time + (time || id)", "y ~ 1 + (1 | dept/id)"]:
        for name, fn in libs.items():
            try:
                fn(f, df.head(1000))
                result = "parses"
            except Exception as exc:  # the point is to record which syntax each library refuses
                result = f"fails ({type(exc).__name__})"
            print(f"{name:9s} {f:28s} {result}")
    for f in ["y ~ time * group", "y ~ time * dept"]:
        for name, fn in libs.items():
            t = time.perf_counter()
            fn(f, df)
            print(f"{name:9s} {f:20s} 1M rows: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
