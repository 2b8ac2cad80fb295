"""lme4 results for weights, offsets, slope-only and factor-slope terms, merged ``||``-style terms,
three-level nesting crossed with items, rank deficiency and missing rows (``make_extra.R`` produced
``lme4_extra.json`` with lme4 1.1-31).

lme4 does not always stop at the optimum (on some of these cases its final gradient is ~1e-2), so the
estimates are compared *at lme4's theta*, which makes the comparison independent of either optimizer:
objective 1e-9 relative, fixed effects, sigma, SDs and fitted values 1e-7 relative, correlations 1e-7
absolute, random effects and conditional SDs 1e-6 relative.  Separately, lmmflow's own optimum must be
no worse than lme4's (objective within 1e-6 relative, lower passes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf

HERE = Path(__file__).parent
CASES = json.loads((HERE / "lme4_extra.json").read_text())["cases"]


def _norm(name: str) -> str:
    s = str(name).lower().replace(" ", "").replace("**", "^").replace("[t.", "").replace("]", "")
    s = s.replace("[", "").replace("(intercept)", "intercept").replace("(", "").replace(")", "")
    return ":".join(sorted(s.split(":")))


def _data(case: dict) -> tuple[pd.DataFrame, dict]:
    df = pd.read_csv(HERE / "data" / case["data"])
    kwargs: dict = {}
    if case["data"] == "sleepstudy.csv":
        df["Subject"] = df["Subject"].astype(str)
        df["f"] = np.array(["lo", "mid", "hi"])[df["Days"].to_numpy() % 3]
        df["Days2"] = 2.0 * df["Days"]
        if case["name"].startswith("weights"):
            kwargs["weights"] = 1 + (df["Days"].to_numpy() % 3) / 2
        if case["name"] == "offset":
            kwargs["offset"] = 2.0 * df["Days"].to_numpy()
    if case["data"] == "sleepstudy_na.csv":
        df["Subject"] = df["Subject"].astype(str)
    return df, kwargs


def _at_theta(case: dict, df: pd.DataFrame, kwargs: dict) -> lf.LmerResult:
    """The model's estimates at lme4's theta (no optimization)."""
    design = lf.lformula(case["formula"], df, **kwargs)
    devfun = lf.make_deviance(design, reml=case["reml"])
    theta = np.atleast_1d(np.asarray(case["theta"], dtype=float))
    opt = lf.OptSummary(optimizer="none", theta0=theta, theta=theta, fmin=devfun(theta), evaluations=1,
                        returnvalue="given", converged=True)
    return lf.LmerResult(design, devfun, opt, lf.LmerControl())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_optimum_no_worse_than_lme4(case: dict) -> None:
    df, kwargs = _data(case)
    m = lf.lmer(case["formula"], df, reml=case["reml"], quiet=True, **kwargs)
    assert m.nobs == case["nobs"]
    assert m.objective <= case["objective"] + 1e-6 * abs(case["objective"])
    assert m.objective == pytest.approx(case["objective"], rel=1e-6)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_estimates_at_lme4_theta(case: dict) -> None:
    df, kwargs = _data(case)
    m = _at_theta(case, df, kwargs)
    assert m.nobs == case["nobs"]
    assert m.objective == pytest.approx(case["objective"], rel=1e-9)
    assert m.sigma == pytest.approx(case["sigma"], rel=1e-7)
    got = {_norm(k): v for k, v in m.fixef.items()}
    want = {_norm(k): v for k, v in case["fixef"].items() if v is not None}
    assert set(got) == set(want)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-7, abs=1e-9 * case["sigma"]), k
    np.testing.assert_allclose(np.asarray(m.fitted), case["fitted"], rtol=1e-7, atol=1e-9 * case["sigma"])
    sd = {}
    for _, r in m.varcorr.iterrows():
        key = (str(r["group"]).split(".")[0], _norm(r["var1"]) if isinstance(r["var1"], str) else None,
               _norm(r["var2"]) if isinstance(r["var2"], str) else None)
        sd[key] = r["sdcor"]
    for w in case["varcorr"]:
        key = (w["group"].split(".")[0], _norm(w["var1"]) if w["var1"] else None,
               _norm(w["var2"]) if w["var2"] else None)
        g = sd.get(key, sd.get((key[0], key[2], key[1])))
        assert g is not None, key
        assert g == pytest.approx(w["sdcor"], **(dict(abs=1e-7) if key[2] else dict(rel=1e-7, abs=1e-9))), key
    t = lf.tidy(m, effects="ran_vals")
    got_re = {(g, _norm(term), str(lv)): (e, s) for g, term, lv, e, s in
              zip(t["group"], t["term"], t["level"], t["estimate"], t["std_error"])}
    rr = case["ranef"]
    for g, term, lv, val, csd in zip(rr["group"], rr["term"], rr["level"], rr["condval"], rr["condsd"]):
        e, s = got_re[(g, _norm(term), lv)]
        assert e == pytest.approx(val, rel=1e-6, abs=1e-8 * case["sigma"]), (g, term, lv)
        assert s == pytest.approx(csd, rel=1e-6, abs=1e-8 * case["sigma"]), (g, term, lv)
