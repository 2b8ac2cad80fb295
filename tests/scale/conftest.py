"""Fixtures for the scale-out tests: small synthetic data sets and a two-process Dask cluster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def growth_frame(n_ids: int = 600, seed: int = 7, missing: bool = True) -> pd.DataFrame:
    """Longitudinal data as in the tutorial: intercept and slope per id, a person-level group, 5 waves."""
    rng = np.random.default_rng(seed)
    u = rng.multivariate_normal([0.0, 0.0], [[100.0, -2.0], [-2.0, 1.0]], size=n_ids)
    group = rng.integers(0, 2, n_ids)
    pid = np.repeat(np.arange(n_ids), 5)
    time = np.tile(np.arange(5.0), n_ids)
    y = 50 + u[pid, 0] + (2 + 0.5 * group[pid] + u[pid, 1]) * time + rng.normal(0, 5, 5 * n_ids)
    df = pd.DataFrame({"id": pid, "time": time, "group": group[pid], "y": np.round(y, 4)})
    df["site"] = np.array([f"s{i}" for i in range(6)])[df["id"] % 6]
    df["w"] = rng.uniform(0.5, 2.0, len(df))
    df["off"] = rng.normal(0, 1, len(df))
    df = df[rng.random(len(df)) >= 0.2].reset_index(drop=True)
    if missing:
        df.loc[rng.choice(len(df), 40, replace=False), "y"] = np.nan
        df.loc[rng.choice(len(df), 15, replace=False), "time"] = np.nan
    return df


def crossed_frame(n: int = 3000, seed: int = 3) -> pd.DataFrame:
    """Ratings: users crossed with items, a numeric covariate."""
    rng = np.random.default_rng(seed)
    nu, ni = 200, 60
    user = rng.integers(0, nu, n)
    item = np.minimum((rng.pareto(1.2, n) * ni / 20).astype(int), ni - 1)
    days = rng.uniform(0, 30, n)
    rating = 3.5 + 0.01 * days + rng.normal(0, 0.8, nu)[user] + rng.normal(0, 0.5, ni)[item] + rng.normal(0, 1, n)
    return pd.DataFrame({"user": [f"u{k}" for k in user], "item": item, "days": np.round(days, 3),
                         "rating": np.round(rating, 4)})


@pytest.fixture(scope="module")
def client():
    """A local cluster of two worker processes (one thread each), for the module's tests."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cl:
        with distributed.Client(cl) as c:
            yield c
