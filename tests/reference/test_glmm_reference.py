"""lf.glmer against R's GLMM reference (``glmm_reference.json``: lme4 1.1-31 held at a verified optimum, checked
against glmmTMB; see tests/reference/README.md, "Generalized linear mixed models").

Every case and every item the shared checker (``check_reference.py``) compares, with its tolerances: objective
no worse than R's best by 1e-6 relative (and not more than 1e-4 below a verified optimum); loglik/AIC/BIC
consistent with it; fixef and SEs 1e-4 relative + 1e-4 min(1, SE); theta and SDs 1e-4 + 1e-4; correlations 1e-3;
vcov 4e-4 of sqrt(v_ii v_jj); ranef and condsd 1e-3 + 1e-4; fitted and response-scale predictions 1e-4 + 1e-6;
link-scale predictions 1e-4 + 1e-4; residuals 1e-3 + 1e-3; z 1e-3 + 1e-3; p as the checker; Wald bounds 1e-4 of
(|estimate| + 5 SE); and the likelihood-ratio tests between glmer fits.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf

HERE = Path(__file__).parent
REF = json.loads((HERE / "glmm_reference.json").read_text())
CASES = {c["name"]: c for c in REF["cases"]}


def _norm(name: object) -> str:
    s = str(name).lower().replace(" ", "").replace("**", "^").replace("[t.", "").replace("]", "").replace("[", "")
    s = s.replace("(intercept)", "intercept").replace("(", "").replace(")", "")
    return ":".join(sorted(s.split(":"))) if ":" in s else s


def _group(g: object) -> str:
    return ":".join(sorted(re.sub(r"\.\d+$", "", str(g)).split(":")))


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    return abs(float(a) - float(b)) <= atol + rtol * abs(float(b))


def _p_close(got: float, want: float, z: float) -> bool:
    if _close(got, want, 1e-3, 1e-12) or (want < 1e-12 and got < 1e-10):
        return True
    return got > 0 and want > 0 and abs(math.log(got / want)) <= 1.1e-3 * z * z + 1e-3


def _data(case: dict) -> pd.DataFrame:
    df = pd.read_csv(HERE / case["data"])
    for f in case.get("factors", []):
        df[f] = df[f].astype(str)
    return df


def _kwargs(case: dict, df: pd.DataFrame) -> dict:
    kw = {"family": case["family"], "link": case["link"], "nagq": case["nagq"]}
    if case.get("weights"):
        kw["weights"] = df[case["weights"]].to_numpy(float)
    if case.get("offset"):
        kw["offset"] = df[case["offset"]].to_numpy(float)
    return kw


@cache
def _fit(name: str) -> lf.GlmerResult:
    case = CASES[name]
    df = _data(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lf.glmer(case["formula"], df, **_kwargs(case, df))


@pytest.mark.parametrize("name", list(CASES))
def test_objective_and_criteria(name: str) -> None:
    c, g = CASES[name], _fit(name)
    best = min(c["objective"], c.get("objective_best", c["objective"]))
    tol = 1e-6 * max(1.0, abs(best))
    assert g.objective <= best + tol, (g.objective, best)
    assert best - g.objective <= 1e-4 * max(1.0, abs(best)), "far below R's verified optimum: another objective"
    ll = g.loglik
    assert _close(-2 * ll, g.objective, 1e-9, 1e-6)
    assert _close(g.aic + 2 * ll, c["aic"] + 2 * c["loglik"], 0, 1e-6)
    assert _close(g.bic + 2 * ll, c["bic"] + 2 * c["loglik"], 0, 1e-6)
    assert g.nobs == c["nobs"]


@pytest.mark.parametrize("name", list(CASES))
def test_fixed_effects(name: str) -> None:
    c, g = CASES[name], _fit(name)
    se_w = {_norm(k): v for k, v in c["fixef_se"].items()}
    got = {_norm(k): v for k, v in g.fixef.items()}
    v = g.vcov.to_numpy()
    se = {_norm(k): math.sqrt(v[i, i]) for i, k in enumerate(g.fixef.index)}
    for k, want in c["fixef"].items():
        tol = 1e-4 * min(1.0, se_w[_norm(k)])
        assert _close(got[_norm(k)], want, 1e-4, tol), (k, got[_norm(k)], want)
        assert _close(se[_norm(k)], c["fixef_se"][k], 1e-4, 1e-4 * min(1.0, c["fixef_se"][k])), k
    w = np.asarray(c["vcov"], float)
    d = np.sqrt(np.diag(w))
    assert v.shape == w.shape and np.all(np.abs(v - w) <= 4e-4 * np.outer(d, d))
    t = g.coef_table()
    rows = {_norm(i): r for i, r in t.iterrows()}
    zt = c["z_table"]
    for term in zt["estimate"]:
        r = rows[_norm(term)]
        assert _close(r["z_value"], zt["z_value"][term], 1e-3, 1e-3), term
        assert _p_close(r["p_value"], zt["p_value"][term], zt["z_value"][term]), term
    ci = {_norm(i): (r["lower"], r["upper"]) for i, r in g.confint(method="wald").iterrows()}
    for w_ in c["confint_wald"]:
        mid, half = (w_["lower"] + w_["upper"]) / 2, (w_["upper"] - w_["lower"]) / 2
        atol = 1e-4 * (abs(mid) + 5 * half / 1.959963984540054)
        lo, hi = ci[_norm(w_["term"])]
        assert _close(lo, w_["lower"], 0, atol) and _close(hi, w_["upper"], 0, atol), w_["term"]


@pytest.mark.parametrize("name", list(CASES))
def test_variance_components(name: str) -> None:
    c, g = CASES[name], _fit(name)
    t, w = np.asarray(g.theta, float), np.asarray(c["theta"], float)
    assert t.shape == w.shape and all(_close(a, b, 1e-4, 1e-4) for a, b in zip(t, w))
    vc = g.varcorr
    assert "Residual" not in set(vc["group"])
    got = {}
    for _, r in vc.iterrows():
        got[(_group(r["group"]), _norm(r["var1"]) if isinstance(r["var1"], str) else None,
             _norm(r["var2"]) if isinstance(r["var2"], str) else None)] = float(r["sdcor"])
    for r in c["varcorr"]:
        key = (_group(r["group"]), _norm(r["var1"]) if r["var1"] else None, _norm(r["var2"]) if r["var2"] else None)
        gv = got.get(key, got.get((key[0], key[2], key[1])))
        ok = _close(gv, r["sdcor"], 0, 1e-3) if key[2] is not None else _close(gv, r["sdcor"], 1e-4, 1e-4)
        assert ok, (key, gv, r["sdcor"])
    assert bool(g.is_singular) == c["singular"]


@pytest.mark.parametrize("name", list(CASES))
def test_random_effects(name: str) -> None:
    c, g = CASES[name], _fit(name)
    tab = lf.tidy(g, effects="ran_vals")
    got = {(_group(r["group"]), _norm(r["term"]), str(r["level"])): (r["estimate"], r["std_error"])
           for _, r in tab.iterrows()}
    rr = c["ranef"]
    for gr, term, lev, val, sd in zip(rr["group"], rr["term"], rr["level"], rr["condval"], rr["condsd"]):
        ev, es = got[(_group(gr), _norm(term), str(lev))]
        assert _close(ev, val, 1e-3, 1e-4) and _close(es, sd, 1e-3, 1e-4), (gr, term, lev, ev, val, es, sd)


@pytest.mark.parametrize("name", list(CASES))
def test_fitted_and_residuals(name: str) -> None:
    c, g = CASES[name], _fit(name)
    assert np.allclose(np.asarray(g.fitted, float), c["fitted"], rtol=1e-4, atol=1e-6)
    assert np.allclose(np.asarray(g.residuals, float), c["residuals"], rtol=1e-3, atol=1e-3)
    assert np.allclose(np.asarray(g.resid("pearson"), float), c["residuals_pearson"], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if "predictions" in c])
def test_predictions(name: str) -> None:
    c, g = CASES[name], _fit(name)
    pr = c["predictions"]
    nd = pd.DataFrame(pr["newdata"])
    for f in c.get("factors", []):
        if f in nd:
            nd[f] = nd[f].astype(str)
    for kind, re_form in (("population", "~0"), ("conditional", None)):
        for typ, (rtol, atol) in (("link", (1e-4, 1e-4)), ("response", (1e-4, 1e-6))):
            got = np.asarray(g.predict(nd, re_form=re_form, type=typ), float)
            assert np.allclose(got, pr[kind][typ], rtol=rtol, atol=atol), (kind, typ)


@pytest.mark.parametrize("key", list(REF["comparisons"]))
def test_likelihood_ratio_tests(key: str) -> None:
    cmp = REF["comparisons"][key]
    df = pd.read_csv(HERE / cmp["data"])
    for f in cmp.get("factors", []):
        df[f] = df[f].astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g0, g1 = (lf.glmer(f, df, **_kwargs(cmp, df)) for f in cmp["formulas"])
    a = lf.anova(g0, g1)
    dev = a["deviance"].astype(float).to_numpy()
    tols = [1e-6 * max(1.0, abs(d)) for d in cmp["deviance"]]
    assert list(a["npar"].astype(int)) == [int(x) for x in cmp["npar"]]
    assert all(d <= w + t for d, w, t in zip(dev, cmp["deviance"], tols))
    assert np.allclose(a["aic"].to_numpy(float) - dev, np.asarray(cmp["aic"]) - np.asarray(cmp["deviance"]), atol=1e-6)
    assert np.allclose(a["bic"].to_numpy(float) - dev, np.asarray(cmp["bic"]) - np.asarray(cmp["deviance"]), atol=1e-6)
    last = a.iloc[-1]
    assert _close(last["chisq"], cmp["chisq"], 1e-4, sum(tols))
    assert _p_close(last["p_value"], cmp["p"], math.sqrt(cmp["chisq"]))
