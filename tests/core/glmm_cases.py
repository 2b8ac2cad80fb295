"""Arrays of the GLMM reference cases (tests only): X, random-effects blocks, y, prior weights, offset.

The formula's fixed and random parts are built by ``lmmflow.lformula`` with a numeric stand-in response (the GLMM
response parsing belongs to ``lf.glmer``); the response and weights are read here as R's family initialize does.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

import lmmflow as lf
from lmmflow.core.family import binomial, poisson

REF = Path(__file__).resolve().parents[1] / "reference"


@cache
def reference() -> dict:
    """The shared GLMM reference (tests/reference/glmm_reference.json when present, else the shared copy)."""
    for p in (REF / "glmm_reference.json", Path("/work/shared/reference/glmm_reference.json")):
        if p.exists():
            return json.loads(p.read_text())
    raise FileNotFoundError("glmm_reference.json")


def case(name: str) -> dict:
    return next(c for c in reference()["cases"] if c["name"] == name)


def load(csv: str, factors: list[str] = ()) -> pd.DataFrame:
    df = pd.read_csv(REF / "data" / Path(csv).name)
    for f in factors:
        if f in df.columns:
            df[f] = df[f].astype(str)
    return df


def arrays(name: str, c: dict | None = None) -> dict:
    """blocks, X, y, family, prior_weights, offset for a reference case (or a case dict given as ``c``)."""
    c = case(name) if c is None else c
    df = load(c["data"], c.get("factors", []))
    lhs, rhs = c["formula"].split("~", 1)
    lhs = lhs.strip()
    m = re.fullmatch(r"cbind\((\w+),\s*(.+)\)", lhs)
    wt = None
    if m:
        succ = df[m.group(1)].to_numpy(float)
        fail = df.eval(m.group(2)).to_numpy(float)
        wt = succ + fail
        y = succ / wt
    elif not pd.api.types.is_numeric_dtype(df[lhs]):
        lev = sorted(df[lhs].unique())
        y = (df[lhs] == lev[1]).to_numpy(float)
    else:
        y = df[lhs].to_numpy(float)
    if c.get("weights"):
        wt = df[c["weights"]].to_numpy(float)
    df = df.assign(_y_=np.arange(len(df), dtype=float))
    off = df[c["offset"]].to_numpy(float) if c.get("offset") else None
    d = lf.lformula("_y_ ~" + rhs, df, offset=off)
    fam = binomial(c["link"]) if c["family"] == "binomial" else poisson(c["link"])
    o = d.frame.offset
    return {"blocks": d.blocks(), "X": np.asarray(d.X, float), "y": y, "family": fam,
            "prior_weights": wt, "offset": None if o is None else np.asarray(o, float),
            "xnames": list(d.fixed.names) if hasattr(d.fixed, "names") else None}
