"""Marginal means and trends against R's emmeans, and the grid's behaviour.

``tests/reference/make_emmeans.R`` produced ``emmeans_reference.json`` (emmeans 1.8.4.1, pbkrtest 0.5.2,
lmerTest 3.1.3): 52 cases (20 emmeans, 7 emtrends, 25 contrasts) on sleepstudy, a simulated growth study
with missing visits, a two-factor design with a covariate (and the same with an empty cell: rank-deficient,
non-estimable means), Penicillin and Pastes. Each model is evaluated
at lme4's theta (no optimization), so the comparison does not depend on where either optimizer stops.

Tolerances: every number 1e-6 relative, p-values 1e-4 relative (and 1e-12 absolute: R computes Tukey
p-values as one minus the distribution function, so values below about 1e-14 are rounding noise in both).
With ``ddf="satterthwaite"`` the df, intervals and p-values are compared at 1e-4 relative, as in
``test_satterthwaite.py``: lmerTest differentiates the deviance numerically (numDeriv, whose step is
1e-4 times the parameter: 3e-9 for the growth model's near-zero theta element -2.9e-5), lmmflow
analytically, and the two df differ by up to 8e-5 relative there (lmerTest's own coefficient table differs
from ``m.coef_table()`` by 5e-5 on the same fit). Estimates, SEs and t ratios, which do not involve the df,
stay at 1e-6; Kenward-Roger agrees to 1e-12.
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.inference.emmeans import EmmGrid, parse_specs, r_label, reference_grid

REF_DIR = Path(__file__).parents[1] / "reference"
REF = json.loads((REF_DIR / "emmeans_reference.json").read_text())
CASES = REF["cases"]
COLUMNS = {"SE": "std_error", "df": "df", "lower.CL": "lower_cl", "upper.CL": "upper_cl", "t.ratio": "t_ratio",
           "p.value": "p_value", "estimate": "estimate", "emmean": "emmean"}
TEXT_COLUMNS = ("Subject", "id", "plate", "sample", "batch", "cask", "group", "A", "B")


@cache
def _data(name: str) -> pd.DataFrame:
    df = pd.read_csv(REF_DIR / "data" / name)
    for col in TEXT_COLUMNS:
        if col in df:
            df[col] = df[col].astype(str)
    return df


@cache
def _model(formula: str, data: str, theta: tuple[float, ...]) -> lf.LmerResult:
    """The REML estimates at lme4's theta."""
    design = lf.lformula(formula, _data(data))
    devfun = lf.make_deviance(design, reml=True)
    th = np.asarray(theta, dtype=float)
    opt = lf.OptSummary(optimizer="none", theta0=th, theta=th, fmin=devfun(th), evaluations=1,
                        returnvalue="given", converged=True)
    return lf.LmerResult(design, devfun, opt, lf.LmerControl())


def _run(case: dict) -> pd.DataFrame:
    m = _model(case["formula"], case["data"], tuple(np.atleast_1d(case["theta"])))
    py = case["py"]
    g = lf.emmeans(m, **py["emm"]) if "emm" in py else lf.emtrends(m, **py["trend"])
    if "contrast" in py:
        kw = dict(py["contrast"])
        if "ref" in kw:
            kw["ref"] = kw["ref"] - 1  # emmeans counts levels from 1, lmmflow from 0
        g = lf.contrasts(g, **kw)
    if "contrast2" in py:  # a contrast of contrasts (interaction contrast)
        g = lf.contrasts(g, **py["contrast2"])
    return g.to_frame()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_emmeans(case: dict) -> None:
    got = _run(case)
    want = case["table"]
    satt = "satterthwaite" in json.dumps(case["py"])
    assert len(got) == len(next(iter(want.values())))
    for col, values in want.items():
        name = COLUMNS.get(col, col.replace(".trend", "_trend"))
        assert name in got.columns, (col, list(got.columns))
        if isinstance(values[0], str):
            assert [r_label(v) for v in got[name]] == values, col
            continue
        a, b = got[name].to_numpy(dtype=float), np.asarray(values, dtype=float)
        if col == "df" and np.isinf(a).all():
            assert case["py"]["emm"]["ddf"] == "asymptotic"
            continue
        if col == "p.value":
            rtol, atol = 1e-4, 1e-12
        elif satt and col in ("df", "lower.CL", "upper.CL"):
            rtol, atol = 1e-4, 0.0
        else:
            rtol, atol = 1e-6, 0.0
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"{case['name']}: {col}")


def test_reference_covers_the_brief() -> None:
    kinds = pd.Series([c["kind"] for c in CASES]).value_counts()
    assert kinds["emmeans"] >= 6 and kinds["emtrends"] >= 6 and kinds["contrast"] >= 6
    calls = " ".join(c["r_call"] for c in CASES)
    for word in ("satterthwaite", "holm", "bonferroni", "sidak", "trt.vs.ctrl", "poly", "scheffe", "weights"):
        assert word in calls


# ---- behaviour ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def growth() -> lf.LmerResult:
    case = next(c for c in CASES if c["model"] == "growth")
    return _model(case["formula"], case["data"], tuple(case["theta"]))


@pytest.fixture(scope="module")
def sleep() -> lf.LmerResult:
    return lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))


@pytest.mark.parametrize("specs, by, want", [
    ("group", None, (["group"], [])),
    (["a", "b"], None, (["a", "b"], [])),
    ("~ a | b", None, (["a"], ["b"])),
    ("~a*b | c", None, (["a", "b"], ["c"])),
    ("~ a:b", None, (["a", "b"], [])),
    ("~ 1", None, (["1"], [])),
    ("a", "b", (["a"], ["b"])),
    ("~ a | b", ["c"], (["a"], ["b", "c"])),
    ("~ a | b", ["a"], (["a"], ["b"])),
])
def test_parse_specs(specs, by, want) -> None:
    assert parse_specs(specs, by) == want


@pytest.mark.parametrize("specs", ["pairwise ~ group", "~ a | b | c", "", 3])
def test_parse_specs_refuses(specs) -> None:
    with pytest.raises((ValueError, TypeError)):
        parse_specs(specs)


def test_reference_grid_covariates_at_mean(growth) -> None:
    g = reference_grid(growth)
    assert list(g.columns) == ["time", "group", "prediction", "weight"]
    assert g["time"].unique().tolist() == [pytest.approx(growth.data["time"].mean())]
    assert g["group"].tolist() == ["ctrl", "drugA", "drugB"]
    assert g["weight"].sum() == growth.nobs
    new = pd.DataFrame({"time": g["time"], "group": g["group"]})
    np.testing.assert_allclose(g["prediction"], growth.predict(new, re_form="~0"), rtol=1e-12)


def test_emtrends_exact_for_linear_terms(sleep) -> None:
    t = lf.emtrends(sleep, "~ 1", var="Days", ddf="satterthwaite")
    assert t.to_frame()["Days_trend"].iloc[0] == pytest.approx(sleep.fixef["Days"], rel=1e-10)
    np.testing.assert_allclose(t.linfct, [[0.0, 1.0]], atol=1e-10)


def test_pairs_is_pairwise_and_reverse(growth) -> None:
    e = lf.emmeans(growth, "group")
    a, b = lf.pairs(e).to_frame(), lf.contrasts(e, "pairwise").to_frame()
    pd.testing.assert_frame_equal(a, b)
    r = lf.pairs(e, reverse=True).to_frame()
    assert r["contrast"].tolist() == ["drugA - ctrl", "drugB - ctrl", "drugB - drugA"]
    np.testing.assert_allclose(r["p_value"], b["p_value"].to_numpy()[[0, 1, 2]], rtol=1e-12)


def test_results_are_values(growth) -> None:
    e = lf.emmeans(growth, "group")
    before = e.to_frame()
    table, grid, linfct = e.to_frame(), e.grid, e.linfct
    table.loc[0, "emmean"] = -1.0
    grid.loc[0, "group"] = "zzz"
    linfct[0, 0] = 99.0
    pd.testing.assert_frame_equal(e.to_frame(), before)
    assert e["emmean"].tolist() == before["emmean"].tolist()
    assert len(e) == 3


def test_print_and_html(growth) -> None:
    e = lf.emmeans(growth, "~ group | time", at={"time": [0, 4]})
    text = repr(e)
    assert "time = 0:" in text and "time = 4:" in text
    assert "emmean" in text and "lower.CL" in text
    assert "Degrees-of-freedom method: kenward-roger" in text
    assert "<table" in e._repr_html_()
    p = lf.pairs(e)
    assert "p.value" in repr(p) and "P value adjustment: tukey" in repr(p)
    z = lf.emmeans(growth, "group", ddf="asymptotic")
    assert "asymp.LCL" in repr(z)


def test_by_groups_and_family(growth) -> None:
    e = lf.emmeans(growth, "~ group | time", at={"time": [0, 4]})
    assert isinstance(e, EmmGrid) and e.by == ["time"] and e.fam_size == 3
    c = lf.pairs(e)
    assert c.to_frame()["time"].tolist() == [0.0] * 3 + [4.0] * 3
    flat = lf.pairs(e, by=[])
    assert len(flat) == 15 and flat.to_frame()["contrast"].iloc[0] == "ctrl time0 - drugA time0"


@pytest.mark.parametrize("call, error, match", [
    (lambda m: lf.emmeans(m, "nope"), lf.DataError, "not predictors"),
    (lambda m: lf.emmeans(m, "group", at={"group": ["placebo"]}), lf.DataError, "never saw"),
    (lambda m: lf.emmeans(m, "group", at={"time": ["early"]}), lf.DataError, "non-numeric"),
    (lambda m: lf.emmeans(m, "group", at={"age": [3]}), lf.DataError, "not predictors"),
    (lambda m: lf.emmeans(m, "group", ddf="bogus"), ValueError, "ddf="),
    (lambda m: lf.emmeans(m, "group", weights="bogus"), ValueError, "weights="),
    (lambda m: lf.emmeans(m, "group", level=1.5), ValueError, "level="),
    (lambda m: lf.emtrends(m, "group", var="group"), lf.DataError, "factor"),
    (lambda m: lf.emtrends(m, "group", var="age"), lf.DataError, "not a predictor"),
])
def test_clear_errors(growth, call, error, match) -> None:
    with pytest.raises(error, match=match):
        call(growth)


def test_kenward_roger_needs_reml() -> None:
    m = lf.lmer("Reaction ~ Days + (1 | Subject)", lf.load_dataset("sleepstudy"), reml=False)
    with pytest.raises(ValueError, match="REML"):
        lf.emmeans(m, "Days")
    assert lf.emmeans(m, "Days", ddf="satterthwaite").to_frame()["df"].iloc[0] > 0


def test_rank_deficient_estimability() -> None:
    """Days2 = 2 Days: a grid point on that line is estimable, one off it is not (emmeans' nonEst)."""
    df = lf.load_dataset("sleepstudy")
    df["Days2"] = 2.0 * df["Days"]
    with pytest.warns(lf.RankDeficiencyWarning):
        m = lf.lmer("Reaction ~ Days + Days2 + (1 | Subject)", df)
    on = lf.emmeans(m, "Days", ddf="satterthwaite").to_frame()
    assert on["emmean"].iloc[0] == pytest.approx(float(m.fitted.mean()), rel=1e-10)
    off = lf.emmeans(m, "Days", at={"Days2": [0.0]}, ddf="satterthwaite").to_frame()
    assert off[["emmean", "std_error", "df", "lower_cl"]].isna().all(axis=None)
    assert lf.emmeans(m, "Days").linfct.shape == (1, 3)


def test_unused_categories_not_in_grid(growth) -> None:
    df = _data("emm_growth.csv").copy()
    df["gc"] = pd.Categorical(df["group"], categories=["ctrl", "drugA", "drugB", "unused"])
    with warnings.catch_warnings():  # unused categories are dropped, as lme4's model frame does: no aliasing
        warnings.simplefilter("error", lf.RankDeficiencyWarning)
        m = lf.lmer("y ~ gc * time + (time | id)", df)
    got = lf.emmeans(m, "gc").to_frame()
    assert got["gc"].tolist() == ["ctrl", "drugA", "drugB"]
    want = lf.emmeans(lf.lmer("y ~ group * time + (time | id)", df), "group").to_frame()
    np.testing.assert_allclose(got["emmean"], want["emmean"], rtol=1e-6)


def test_offset_refused() -> None:
    df = lf.load_dataset("sleepstudy")
    m = lf.lmer("Reaction ~ Days + (1 | Subject)", df, offset=np.ones(len(df)))
    with pytest.raises(NotImplementedError, match="offset"):
        lf.emmeans(m, "Days")


def test_lazy_exports_keep_contrast() -> None:
    from lmmflow.inference import anova

    assert lf.contrast is anova.contrast
    assert callable(lf.contrasts) and callable(lf.pairs) and callable(lf.emtrends)
    assert "emmeans" in dir(lf)
