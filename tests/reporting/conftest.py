"""Fixtures for the report tests: one small simulated data set, its report (written once) and direct fits."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

import lmmflow as lf

FORMULA = "y ~ time + (1 + time | id)"
COMPARE = "y ~ time + (1 | id)"


def has(name: str) -> bool:
    """Whether ``lf.<name>`` can be imported (pieces built by other modules)."""
    try:
        getattr(lf, name)
    except (ImportError, AttributeError):
        return False
    return True


def needs(*names: str) -> pytest.MarkDecorator:
    missing = [n for n in names if not has(n)]
    return pytest.mark.skipif(bool(missing), reason=f"lmmflow.{', lmmflow.'.join(missing)} not available yet")


def chromium() -> str | None:
    """Path of a Chromium binary, if installed."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def growth() -> pd.DataFrame:
    """60 units x 5 waves from the tutorial's parameters."""
    return lf.simulate_growth(n_units=60, seed=2)


@pytest.fixture(scope="session")
def rep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="session")
def rep(growth: pd.DataFrame, rep_dir: Path):
    """The report of ``growth``, written to ``rep_dir``."""
    return lf.report(growth, FORMULA, out=rep_dir, seed=1)


@pytest.fixture(scope="session")
def direct(growth: pd.DataFrame) -> dict:
    """The same models fitted directly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m1 = lf.lmer(FORMULA, growth)
        m0 = lf.lmer(COMPARE, growth)
    return {"main": m1, "compare": m0}
