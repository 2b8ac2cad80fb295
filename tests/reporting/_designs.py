"""Data of the four designs the report must get right (shapes from the seed documents, simulated here).

- ``waves``: the tutorial's growth data, every unit at times 0..4 (seed 000).
- ``times``: growth measured at each person's own dates, 4-9 visits over ten years (seed 001, "actual dates
  of measurement").
- ``biomass``: plant biomass at 20 sites, 5 samples each, temperature and nitrogen varying between samples
  and a random temperature slope per site: no time at all (seed 002).
- ``crossed``: reaction times of 24 subjects on 16 items, every subject sees every item, a condition that
  varies between items (subjects crossed with items).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import lmmflow as lf

FORMULAS = {
    "waves": "y ~ time + (1 + time | id)",
    "times": "y ~ years + (1 + years | id)",
    "biomass": "Biomass ~ Temp + N + (1 + Temp | Site)",
    "crossed": "rt ~ cond + (1 | subject) + (1 | item)",
}


def waves() -> pd.DataFrame:
    return lf.simulate_growth(n_units=60, seed=2, tau11=4.0, tau01=-4.0)


def times(n_units: int = 80, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_units):
        u0, u1 = rng.normal(0, 8), rng.normal(0, 0.8)
        k = int(rng.integers(4, 10))
        t = np.sort(rng.uniform(0, 10, size=k)).round(3)
        y = 50 + u0 + (2 + u1) * t + rng.normal(0, 4, size=k)
        rows += [{"id": f"p{i:03d}", "years": a, "y": b} for a, b in zip(t, y)]
    return pd.DataFrame(rows)


def biomass(seed: int = 42) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_sites, n_per = 20, 5
    site = np.repeat([f"S{j:02d}" for j in range(1, n_sites + 1)], n_per)
    temp = rng.normal(0, 2, n_sites * n_per).round(2)
    nitro = rng.uniform(0, 10, n_sites * n_per).round(2)
    g = rng.normal(0, 3, n_sites)
    d = rng.normal(0, 1.5, n_sites)
    j = np.repeat(np.arange(n_sites), n_per)
    y = 10 + g[j] + (2 + d[j]) * temp + 1.0 * nitro + rng.normal(0, 1, n_sites * n_per)
    return pd.DataFrame({"Site": site, "Temp": temp, "N": nitro, "Biomass": y.round(3)})


def crossed(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    subjects = [f"s{i:02d}" for i in range(24)]
    items = [f"i{k:02d}" for k in range(16)]
    s_eff = dict(zip(subjects, rng.normal(0, 40, len(subjects))))
    i_eff = dict(zip(items, rng.normal(0, 25, len(items))))
    rows = []
    for s in subjects:
        for k, it in enumerate(items):
            cond = "B" if k % 2 else "A"
            rt = 600 + s_eff[s] + i_eff[it] + (30 if cond == "B" else 0) + rng.normal(0, 50)
            rows.append({"subject": s, "item": it, "cond": cond, "rt": round(rt, 1)})
    return pd.DataFrame(rows)


DATA = {"waves": waves, "times": times, "biomass": biomass, "crossed": crossed}
