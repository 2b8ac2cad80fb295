"""Data and R values for the ported lme4 / lmerTest tests (tests/ported/data, tests/ported/ported.json)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pandas as pd

import lmmflow as lf

HERE = Path(__file__).resolve().parent
SHIPPED = {"sleepstudy", "dyestuff", "penicillin", "pastes"}
# R factor columns of each exported data set (read back as strings, the way lmmflow reads R factors)
FACTORS = {
    "dyestuff2": ["Batch"],
    "cake": ["replicate", "recipe", "temperature"],
    "cbpp": ["herd", "period"],
    "ham": ["Consumer", "Product", "Information", "Gender"],
    "carrots": ["Consumer", "Frequency", "Gender", "Age", "Homesize", "Work", "Income", "Product"],
    "tvbo": ["Assessor", "TVset", "Repeat", "Picture"],
    "orthodont": ["Subject", "Sex"],
    "pixel": ["Dog", "Side"],
    "iris": ["Species"],
    "predict_gh457": ["f", "g", "h"],
    "predict_leftout": ["lc", "g1", "g3"],
    "rank_d2": ["a", "b"],
    "issingular": ["group1", "group2"],
    "summary_scaled": ["Subject"],
    "potdata": ["CO2", "chamber", "nutrients"],
    "zerovar": ["Subject", "g"],
    "offset": ["block"],
    "minval": ["group"],
    "prior_weights": ["g"],
    "sleep_weights": ["Subject"],
    "weights_lme40": ["g"],
    "lmer1_lagoon": ["lagoon", "habitat"],
    "boundary_dat": ["Operator", "Part"],
    "koller13": ["Var1", "Var2"],
    "lmer0_X": ["z"],
    "lmer_d": ["f"],
    "coef_lmer": ["var1", "var3"],
    "singular_group3": ["group"],
}


def load(name: str) -> pd.DataFrame:
    """A fresh copy of one data set: lmmflow's shipped ones, or one exported from R into data/."""
    if name in SHIPPED:
        return lf.load_dataset(name)
    return _read(name).copy()


@cache
def _read(name: str) -> pd.DataFrame:
    df = pd.read_csv(HERE / "data" / f"{name}.csv")
    for col in FACTORS.get(name, []):
        # R's factor labels: "2", not "2.0" (a column with NA is read as float); NA stays missing
        df[col] = df[col].map(lambda v: v if pd.isna(v) else
                              str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    return df


@cache
def r_values() -> dict:
    """Values computed in R by make_ported.R."""
    return json.loads((HERE / "ported.json").read_text())


def all_equal(target, current, tolerance: float = 1.5e-8) -> bool:
    """R's all.equal(target, current, tolerance) for numbers (testthat's expect_equal): the mean absolute
    difference relative to the mean absolute target (absolute when the target's mean is below the tolerance)."""
    import numpy as np

    t = np.asarray(target, dtype=float).ravel()
    c = np.asarray(current, dtype=float).ravel()
    if t.shape != c.shape or not np.array_equal(np.isnan(t), np.isnan(c)):
        return False
    keep = ~np.isnan(t)
    t, c = t[keep], c[keep]
    if t.size == 0:
        return True
    xy = np.mean(np.abs(t - c))
    xn = np.mean(np.abs(t))
    if np.isfinite(xn) and xn > tolerance:
        xy /= xn
    return bool(xy <= tolerance)


def num(x):
    """A nested list from ported.json as a float array ("NA" strings, R's NA in a matrix, become nan)."""
    import numpy as np

    def conv(v):
        if isinstance(v, list):
            return [conv(u) for u in v]
        return np.nan if v in ("NA", None) else float(v)

    return np.asarray(conv(x), dtype=float)
