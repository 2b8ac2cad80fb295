"""Shared fixtures: the example data sets and R's reference results."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
# R's results live in the repository (tests/reference/make_lme4_reference.R makes them), so every clone runs
# the reference checks; LMMFLOW_REFERENCE may point at another copy (its data/ folder beside it).
REFERENCE = Path(os.environ.get("LMMFLOW_REFERENCE", REPO / "tests" / "reference" / "lme4_reference.json"))


@pytest.fixture(scope="session")
def sleepstudy() -> pd.DataFrame:
    import lmmflow as lf

    return lf.load_dataset("sleepstudy")


@pytest.fixture(scope="session")
def reference() -> dict:
    """R's results (lme4, lmerTest, pbkrtest), kept in tests/reference/lme4_reference.json."""
    if not REFERENCE.exists():
        raise FileNotFoundError(
            f"reference results not found at {REFERENCE} (unset LMMFLOW_REFERENCE to use the repository's)"
        )
    return json.loads(REFERENCE.read_text())


def load_case(ref_case: dict) -> pd.DataFrame:
    """A reference case's data, with R's factor columns as strings."""
    df = pd.read_csv(REFERENCE.parent / ref_case["data"])
    for col in ref_case.get("factors", []):
        df[col] = df[col].astype(str)
    return df
