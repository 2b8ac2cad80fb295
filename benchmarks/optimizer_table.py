"""Evaluations each optimizer needs to reach lme4's optimum on the shared reference cases.

    python benchmarks/optimizer_table.py      # prints the Markdown table used in docs/engine.md

Evaluation counts are deterministic (unlike timings), so this comparison is stable across machines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import lmmflow as lf
from lmmflow.optim.optimize import optimize_theta

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
OPTIMIZERS = ["bobyqa", "newuoa", "cobyqa", "lbfgsb"]


def main() -> None:
    """Print the table."""
    ref = json.loads((REFERENCE / "lme4_reference.json").read_text())
    print("| case | lme4 objective | " + " | ".join(f"{o} evals (objective - lme4)" for o in OPTIMIZERS) + " |")
    print("|---|---|" + "---|" * len(OPTIMIZERS))
    total = dict.fromkeys(OPTIMIZERS, 0)
    for case in ref["cases"]:
        df = pd.read_csv(REFERENCE / case["data"])
        for col in case.get("factors", []):
            df[col] = df[col].astype(str)
        fn = lf.make_deviance(case["formula"], df, reml=case["reml"])
        cells = []
        for opt in OPTIMIZERS:
            control = lf.LmerControl(optimizer=opt, polish=False, check_conv=False)
            r = optimize_theta(fn, fn.theta0, fn.lower, control, value_and_grad=fn.value_and_gradient)
            total[opt] += r.evaluations
            cells.append(f"{r.evaluations} ({r.fmin - case['objective']:+.1e})")
        print(f"| {case['name']} | {case['objective']:.4f} | " + " | ".join(cells) + " |")
    print("| total | | " + " | ".join(str(total[o]) for o in OPTIMIZERS) + " |")


if __name__ == "__main__":
    main()
