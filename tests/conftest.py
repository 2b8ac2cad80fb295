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
REFERENCE = Path(os.environ.get("LMMFLOW_REFERENCE", REPO.parent / "shared" / "reference" / "lme4_reference.json"))


@pytest.fixture(scope="session")
def sleepstudy() -> pd.DataFrame:
    import lmmflow as lf

    return lf.load_dataset("sleepstudy")


@pytest.fixture(scope="session")
def reference() -> dict:
    """R's results (lme4, lmerTest, pbkrtest); the tests that need them skip when they are absent."""
    if not REFERENCE.exists():
        pytest.skip(f"reference results not found at {REFERENCE}")
    return json.loads(REFERENCE.read_text())


def load_case(ref_case: dict) -> pd.DataFrame:
    """A reference case's data, with R's factor columns as strings."""
    df = pd.read_csv(REFERENCE.parent / ref_case["data"])
    for col in ref_case.get("factors", []):
        df[col] = df[col].astype(str)
    return df
