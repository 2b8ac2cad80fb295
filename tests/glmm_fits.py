"""Fitted GLMMs of the reference cases for the diagnostics and inference tests (cached per session)."""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import pandas as pd

import lmmflow as lf

REF = Path(__file__).resolve().parent / "reference"


@cache
def reference_json(name: str) -> dict:
    """A JSON file of tests/reference."""
    return json.loads((REF / name).read_text())


def case(name: str) -> dict:
    return next(c for c in reference_json("glmm_reference.json")["cases"] if c["name"] == name)


@cache
def fit(name: str) -> lf.GlmerResult:
    """``lf.glmer`` on a glmm_reference.json case (factors as strings, weights / offset as the case gives)."""
    c = case(name)
    df = pd.read_csv(REF / "data" / Path(c["data"]).name)
    for f in c.get("factors") or []:
        df[f] = df[f].astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lf.glmer(c["formula"], df, family=c["family"], link=c["link"], nagq=c["nagq"],
                        weights=c.get("weights"), offset=c.get("offset"), quiet=True)
