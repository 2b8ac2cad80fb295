"""lme4 fits of formula features: powers in ``I()``, ``||`` over products and factors, ``offset()`` terms,
``.``, non-syntactic names, an unbracketed bar, sum / Helmert / polynomial contrasts and ordered factors
(``make_formula.R`` produced ``formula_reference.json`` with lme4 1.1-31).

lmmflow's optimum must be no worse than lme4's (objective within 1e-6 relative, lower passes) and agree on
the fixed effects (names as R prints them, up to lmmflow's ``f[T.b]`` for R's ``fb``) and sigma to 1e-5
relative; at lme4's theta, the objective, fixed effects and sigma agree to 1e-7, independent of either
optimizer."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf

HERE = Path(__file__).parent
CASES = json.loads((HERE / "formula_reference.json").read_text())["cases"]
# '.' brings the grouping column g into the fixed part (as in lme4), so the random intercept of g is confounded
# with g's fixed effects and the optimum is flat (lme4: "Hessian is numerically singular: parameters are not
# uniquely determined"); these fits are compared by objective, names and at lme4's theta only
FLAT = {"dot", "dot_minus"}


def _norm(name: str) -> str:
    s = str(name).replace(" ", "").replace("**", "^").replace("[T.", "").replace("]", "").replace("[", "")
    return ":".join(sorted(s.split(":")))


def _data(case: dict) -> tuple[pd.DataFrame, dict]:
    df = pd.read_csv(HERE / "data" / case["data"])
    kwargs: dict = {}
    if case["data"] == "sleepstudy.csv":
        df["Subject"] = df["Subject"].astype(str)
    if case["data"] == "formula_sim.csv":
        df["o"] = pd.Categorical(df["o"], categories=["low", "mid", "high", "top"], ordered=True)
    if case.get("columns"):
        df = df[list(case["columns"])]
    if case.get("offset"):
        kwargs["offset"] = df.eval(case["offset"]).to_numpy()
    if case.get("contrasts"):
        kwargs["contrasts"] = dict(case["contrasts"])
    return df, kwargs


def _fixef(values: dict) -> dict[str, float]:
    return {_norm(k): v for k, v in values.items() if v is not None}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fit_agrees_with_lme4(case: dict) -> None:
    df, kwargs = _data(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.LmmflowWarning)
        m = lf.lmer(case["formula"], df, reml=case["reml"], **kwargs)
    assert m.nobs == case["nobs"]
    assert m.objective <= case["objective"] + 1e-6 * abs(case["objective"])
    got, want = _fixef(m.fixef.to_dict()), _fixef(case["fixef"])
    assert set(got) == set(want)
    if case["name"] in FLAT:
        return
    assert m.sigma == pytest.approx(case["sigma"], rel=1e-5)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-5, abs=1e-6 * case["sigma"]), k


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_estimates_at_lme4_theta(case: dict) -> None:
    df, kwargs = _data(case)
    design = lf.lformula(case["formula"], df, **kwargs)
    devfun = lf.make_deviance(design, reml=case["reml"])
    theta = np.atleast_1d(np.asarray(case["theta"], dtype=float))
    opt = lf.OptSummary(optimizer="none", theta0=theta, theta=theta, fmin=devfun(theta), evaluations=1,
                        returnvalue="given", converged=True)
    m = lf.LmerResult(design, devfun, opt, lf.LmerControl())
    assert m.objective == pytest.approx(case["objective"], rel=1e-9)
    assert m.sigma == pytest.approx(case["sigma"], rel=1e-7)
    got, want = _fixef(m.fixef.to_dict()), _fixef(case["fixef"])
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-7, abs=1e-8 * case["sigma"]), k


def test_type3_anova_does_not_depend_on_the_coding() -> None:
    """lmerTest's type III table for a sum-coded factor and an ordered (polynomial-coded) one; lmmflow builds the
    hypotheses on the treatment-coded twin and carries them over to the model's coding."""
    ref = json.loads((HERE / "formula_reference.json").read_text())["anova_type3"]
    df, _ = _data({"data": "formula_sim.csv"})
    for contrasts in (ref["contrasts"], {"f": "helmert", "o": "treatment"}, None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lf.LmmflowWarning)
            m = lf.lmer(ref["formula"], df, contrasts=contrasts)
        a = lf.anova(m)
        assert list(a.index) == ref["term"]
        np.testing.assert_allclose(a["num_df"].to_numpy(dtype=float), ref["num_df"])
        np.testing.assert_allclose(a["den_df"].to_numpy(dtype=float), ref["den_df"], rtol=1e-6)
        np.testing.assert_allclose(a["f_value"].to_numpy(dtype=float), ref["f_value"], rtol=1e-6)
