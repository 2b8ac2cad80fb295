"""Fixtures for the report tests: one small simulated data set, its report (written once) and direct fits."""

from __future__ import annotations

import os
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
    """Path of a Chromium binary: $LMMFLOW_CHROMIUM, else the first of the usual names on PATH; None if absent."""
    env = os.environ.get("LMMFLOW_CHROMIUM")
    if env:
        return env if Path(env).exists() or shutil.which(env) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_or_skip() -> str:
    """The Chromium path; skips the test without one, or fails it where CI requires the browser
    (LMMFLOW_REQUIRE_BROWSER=1, set by .ci/run)."""
    exe = chromium()
    if exe is None:
        if os.environ.get("LMMFLOW_REQUIRE_BROWSER") == "1":
            pytest.fail("LMMFLOW_REQUIRE_BROWSER=1 but no Chromium was found (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install -y chromium); CI installs it")
    return exe


@pytest.fixture(scope="session")
def growth() -> pd.DataFrame:
    """60 units x 5 waves from the tutorial's parameters, with a slope SD of 2 (so the LRT supports it)."""
    return lf.simulate_growth(n_units=60, seed=2, tau11=4.0, tau01=-4.0)


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
