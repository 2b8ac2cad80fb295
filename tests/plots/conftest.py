"""Shared fixtures for the plot tests: the Agg backend, simulated growth data and fits, closing figures."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import lmmflow as lf  # noqa: E402


def simulate(n_units=40, times=(0, 1, 2, 3, 4), seed=4):
    """Growth data as in the tutorial: intercepts N(50, 10^2), slopes N(2, 1), cov -2, residual SD 5."""
    rng = np.random.default_rng(seed)
    u = rng.multivariate_normal([0.0, 0.0], [[100.0, -2.0], [-2.0, 1.0]], size=n_units)
    t = np.asarray(times, dtype=float)
    ids = np.repeat(np.arange(1, n_units + 1), len(t))
    time = np.tile(t, n_units)
    y = 50 + u[ids - 1, 0] + (2 + u[ids - 1, 1]) * time + rng.normal(0, 5, len(ids))
    return pd.DataFrame({"id": ids, "time": time, "y": y})


@pytest.fixture(scope="session")
def make_growth():
    """The simulator itself, for tests that need other sizes or edits."""
    return simulate


@pytest.fixture(scope="session")
def growth():
    return simulate()


@pytest.fixture(scope="session")
def model(growth):
    return lf.lmer("y ~ time + (1 + time | id)", growth)


@pytest.fixture(scope="session")
def model_ri(growth):
    return lf.lmer("y ~ time + (1 | id)", growth)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")
