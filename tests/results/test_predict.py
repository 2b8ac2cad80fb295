"""predict() as lme4's predict.merMod: re_form formulas, new levels, missing values, offsets, se_fit.

R values: tests/reference/make_predict.R -> tests/reference/predict.json.  Tests ported from lme4's own suite
name the file and line (lme4 at commit 32b5bfdc, tests/testthat/test-predict.R).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow import DataError, FormulaError

REF = json.loads((Path(__file__).resolve().parents[1] / "reference" / "predict.json").read_text())
DATA = Path(__file__).resolve().parents[1] / "reference" / "data"


def _num(values: list) -> np.ndarray:
    """R's values as floats (jsonlite writes NA as "NA")."""
    return np.array([np.nan if v in (None, "NA") else v for v in values], dtype=float)


@pytest.fixture(scope="module")
def fm2(sleepstudy: pd.DataFrame) -> lf.LmerResult:
    return lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)


@pytest.fixture(scope="module")
def fm3() -> lf.LmerResult:
    return lf.lmer("diameter ~ (1 | plate) + (1 | sample)", lf.load_dataset("penicillin"))


@pytest.fixture(scope="module")
def iris_fit() -> lf.LmerResult:
    d = pd.read_csv(DATA / "iris.csv")
    d.columns = [c.replace(".", "_") for c in d.columns]
    return lf.lmer("Petal_Width ~ Sepal_Length + (1 | Species)", d)


# ---- re_form ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("re_form", "key"), [
    (None, "all"), ("~0", "none"), (np.nan, "none"), ("NA", "none"), (False, "none"),
    ("~(0 + Days | Subject)", "slope"), ("~(1 | Subject)", "intercept"), ("~ (Days | Subject)", "all"),
])
def test_re_form_on_newdata_matches_lme4(fm2: lf.LmerResult, re_form: object, key: str) -> None:
    # test-predict.R:137-168 ("random-slopes model"), values from make_predict.R
    ref = REF["sleep_newdata"]
    nd = pd.DataFrame({"Days": ref["Days"], "Subject": ref["Subject"]})
    np.testing.assert_allclose(fm2.predict(nd, re_form=re_form), ref[key], rtol=2e-6)


@pytest.mark.parametrize(("re_form", "expected"), [
    (None, [253.664, 273.33, 292.996, 312.662, 332.329, 351.995]),
    ("~0", [251.405, 261.872, 272.34, 282.807, 293.274, 303.742]),
    ("~(0+Days|Subject)", [251.405, 271.071, 290.738, 310.404, 330.07, 349.736]),
    ("~(1|Subject)", [253.664, 264.131, 274.598, 285.066, 295.533, 306]),
])
def test_re_form_fitted_rows_lme4_suite(fm2: lf.LmerResult, sleepstudy: pd.DataFrame, re_form: str | None,
                                        expected: list[float]) -> None:
    # test-predict.R:171-184 ("predict and plot random slopes"), newdata and fitted rows alike
    np.testing.assert_allclose(fm2.predict(sleepstudy, re_form=re_form).head(6).round(3), expected, atol=1e-3)
    np.testing.assert_allclose(fm2.predict(re_form=re_form).head(6).round(3), expected, atol=1e-3)


def test_crossed_terms_matches_lme4(fm3: lf.LmerResult) -> None:
    # test-predict.R:105-130 ("multi-group model", "... with new data"); values from make_predict.R
    ref = REF["penicillin"]
    np.testing.assert_allclose(fm3.predict(), ref["all"], rtol=1e-6)
    np.testing.assert_allclose(fm3.predict().head(6).round(4),
                               [25.9638, 22.7663, 25.7147, 23.6799, 23.7629, 20.773], atol=1e-4)
    none = fm3.predict(re_form=np.nan)
    assert none.nunique() == 1 and none.iloc[0] == pytest.approx(22.9722222222251, rel=1e-9)
    np.testing.assert_allclose(fm3.predict(re_form="~(1 | plate)"), ref["plate"], rtol=1e-6)
    np.testing.assert_allclose(fm3.predict(re_form="~(1 | sample)"), ref["sample"], rtol=1e-6)
    data = fm3.data
    both = fm3.predict(data, re_form="~(1|plate) + (1|sample)")
    np.testing.assert_allclose(both, fm3.predict(data, re_form="~(1|sample) + (1|plate)"))
    np.testing.assert_allclose(both, ref["all"], rtol=1e-6)


def test_left_out_terms_need_no_columns(fm3: lf.LmerResult) -> None:
    # test-predict.R:229-244 ("only look for columns that exist in re.form"): a term left out needs no column
    nd = pd.DataFrame({"plate": ["a", "b"]})
    expected = fm3.fixef.iloc[0] + fm3.ranef["plate"].loc[["a", "b"], "(Intercept)"].to_numpy()
    np.testing.assert_allclose(fm3.predict(nd, re_form="~(1 | plate)"), expected)


@pytest.mark.parametrize(("re_form", "match"), [
    ("~(1 | nope)", "grouping factor 'nope' is not in the model"),
    ("~(0 + x | Subject)", "no random effect '0 \\+ x' for 'Subject'"),
    ("~ Days + (1 | Subject)", "fixed-effect terms"),
    ("(1 | Subject)", "starts with '~'"),
])
def test_re_form_that_matches_no_model_term_is_an_error(fm2: lf.LmerResult, sleepstudy: pd.DataFrame,
                                                       re_form: str, match: str) -> None:
    data = sleepstudy.assign(x=1.0)
    with pytest.raises(FormulaError, match=match):
        fm2.predict(data, re_form=re_form)


def test_re_form_of_other_types_is_an_error(fm2: lf.LmerResult) -> None:
    with pytest.raises(ValueError, match="re_form"):
        fm2.predict(re_form=3)


# ---- levels -------------------------------------------------------------------------------------------

def test_new_levels(fm2: lf.LmerResult) -> None:
    # test-predict.R:82-101 ("effects of new RE levels"): an error, or the population prediction if allowed
    nd = pd.DataFrame({"Days": [0.0, 5.0, 9.0], "Subject": ["308", "new", "new"]})
    np.testing.assert_allclose(fm2.predict(nd, allow_new_levels=True), REF["sleep_newlevels"], rtol=1e-6)
    with pytest.raises(DataError, match=r"not in the fit \(e.g. \['new'\]\)"):
        fm2.predict(nd, allow_new_levels=False)


def test_fewer_levels_than_the_fit(fm2: lf.LmerResult) -> None:
    # test-predict.R:187-209 ("fewer random effect levels than original")
    p0 = fm2.predict(pd.DataFrame({"Days": 6.0, "Subject": ["308", "309"]}))
    p1 = fm2.predict(pd.DataFrame({"Days": [6.0] * 4, "Subject": ["308", "309"] * 2}))
    np.testing.assert_allclose(np.tile(p0, 2), p1)
    levels = sorted(fm2.ranef["Subject"].index)
    cat = pd.DataFrame({"Days": [6.0], "Subject": pd.Categorical(["308"], categories=levels)})
    assert fm2.predict(cat).iloc[0] == pytest.approx(p0.iloc[0])


def test_unseen_fixed_effect_level_is_an_error_naming_column_and_level(sleepstudy: pd.DataFrame) -> None:
    data = sleepstudy.assign(grp=np.where(sleepstudy["Days"] < 5, "early", "late"))
    m = lf.lmer("Reaction ~ grp + (1 | Subject)", data)
    nd = pd.DataFrame({"grp": ["early", "middle"], "Subject": ["308", "309"]})
    with pytest.raises(DataError, match=r"column 'grp' has level\(s\) \['middle'\]"):
        m.predict(nd)
    with pytest.raises(DataError, match="'middle'"):
        m.predict(nd, re_form="~0", interval="confidence")
    ok = m.predict(nd.iloc[[0]])
    assert ok.iloc[0] == pytest.approx(m.fixef["(Intercept)"] + m.ranef["Subject"].loc["308"].iloc[0])


# ---- missing values ---------------------------------------------------------------------------------

def test_newdata_na_action(fm2: lf.LmerResult) -> None:
    ref = REF["newdata_na"]
    nd = pd.DataFrame({"Days": [1.0, np.nan, 3.0, 4.0], "Subject": ["308", "309", "310", "330"]},
                      index=[10, 11, 12, 13])
    passed = fm2.predict(nd)
    np.testing.assert_allclose(passed, _num(ref["pass"]), rtol=1e-6)
    assert list(passed.index) == [10, 11, 12, 13] and np.isnan(passed.loc[11])
    omitted = fm2.predict(nd, na_action="na.omit")
    np.testing.assert_allclose(omitted, ref["omit"], rtol=1e-6)
    assert list(omitted.index) == [10, 12, 13]
    excluded = fm2.predict(nd, na_action="na.exclude")
    pd.testing.assert_series_equal(excluded, passed)
    with pytest.raises(DataError, match=r"missing values in column\(s\) \{'Days': 1\}"):
        fm2.predict(nd, na_action="na.fail")
    with pytest.raises(ValueError, match="na_action"):
        fm2.predict(nd, na_action="drop")


def test_missing_group_is_a_new_level_not_some_level(fm2: lf.LmerResult) -> None:
    """lme4 (test-NAhandling.R:129-136): a missing grouping value is a new level: an error without
    allow_new_levels, else the population-level part of that term; never matched to some level."""
    nd = pd.DataFrame({"Days": [1.0, 2.0], "Subject": ["308", None]})
    out = fm2.predict(nd, allow_new_levels=True)
    pop = fm2.predict(nd, re_form="~0")
    assert out.iloc[1] == pytest.approx(pop.iloc[1]) and out.iloc[0] != pytest.approx(pop.iloc[0])
    assert len(fm2.predict(nd, na_action="na.omit", allow_new_levels=True)) == 2  # not a missing predictor
    with pytest.raises(lf.DataError, match="missing value.*Subject"):
        fm2.predict(nd)
    se = fm2.predict(nd, se_fit=True, allow_new_levels=True)
    assert np.isfinite(se.to_numpy()).all()


def test_fit_na_exclude_pads_fitted_and_residuals(sleepstudy: pd.DataFrame) -> None:
    ref = REF["fit_na_exclude"]
    data = sleepstudy.copy()
    data.loc[[0, 6], "Reaction"] = np.nan
    data.loc[19, "Days"] = np.nan
    with pytest.warns(lf.DroppedRowsWarning):
        m = lf.lmer("Reaction ~ Days + (Days | Subject)", data, na_action="na.exclude")
    expect = _num(ref["fitted"])
    for got in (m.fitted, m.predict()):
        assert len(got) == 180 and got.index.equals(data.index)
        np.testing.assert_allclose(got, expect, rtol=1e-6)
    # residuals: R's missing rows, and y - fitted elsewhere (fitted checked against R above)
    np.testing.assert_array_equal(np.isnan(m.residuals), np.isnan(_num(ref["residuals"])))
    np.testing.assert_allclose(m.residuals, data["Reaction"] - m.fitted, rtol=1e-12)
    assert m.nobs == 177
    # test-predict.R:473-489 (GH #737): simulate pads to the data's rows with na.exclude too
    assert len(m.simulate(1, seed=101, re_form=None)) == 180
    with pytest.warns(lf.DroppedRowsWarning):
        omit = lf.lmer("Reaction ~ Days + (Days | Subject)", data)
    assert len(omit.fitted) == 177 and len(omit.simulate(1, seed=101)) == 177
    np.testing.assert_allclose(omit.fitted, m.fitted.dropna())


@pytest.mark.parametrize("na_action", ["na.fail", "na.pass"])
def test_fit_na_fail_names_the_columns(sleepstudy: pd.DataFrame, na_action: str) -> None:
    data = sleepstudy.copy()
    data.loc[[0, 6], "Reaction"] = np.nan
    with pytest.raises(DataError, match=r"\{'Reaction': 2\}"):
        lf.lmer("Reaction ~ Days + (Days | Subject)", data, na_action=na_action)
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy, na_action=na_action)  # no NA: fits
    assert m.nobs == 180


def test_fit_unknown_na_action(sleepstudy: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="na_action"):
        lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy, na_action="omit")


# ---- offsets ----------------------------------------------------------------------------------------

def test_offset_column_is_recomputed_from_newdata(sleepstudy: pd.DataFrame) -> None:
    ref = REF["offset"]
    m = lf.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy.assign(o=2.0 * sleepstudy["Days"]), offset="o")
    np.testing.assert_allclose(m.fitted.head(4), ref["fitted"], rtol=1e-6)
    nd = pd.DataFrame({"Days": [0.0, 4.0], "Subject": ["308", "309"], "o": [1.0, 10.0]})
    np.testing.assert_allclose(m.predict(nd), ref["newdata"], rtol=1e-6)
    np.testing.assert_allclose(m.predict(nd, re_form="~0"), ref["newdata_none"], rtol=1e-6)
    np.testing.assert_allclose(m.predict(nd, re_form="~0", interval="confidence")["fit"], ref["newdata_none"],
                               rtol=1e-6)
    with pytest.raises(DataError, match="offset is the column 'o'"):
        m.predict(nd.drop(columns="o"))


def test_offset_values_are_dropped_for_newdata_with_a_warning(sleepstudy: pd.DataFrame) -> None:
    off = 2.0 * sleepstudy["Days"].to_numpy()
    m = lf.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy, offset=off)
    nd = pd.DataFrame({"Days": [0.0, 4.0], "Subject": ["308", "309"]})
    with pytest.warns(lf.LmmflowWarning, match="given as values.*leave it out"):
        out = m.predict(nd, re_form="~0")
    np.testing.assert_allclose(out, m.fixef.iloc[0] + m.fixef.iloc[1] * nd["Days"])
    np.testing.assert_allclose(m.predict(), m.fitted)  # the fitted rows keep theirs


# ---- standard errors ------------------------------------------------------------------------------------

def test_se_fit_lme4_suite_iris(iris_fit: lf.LmerResult) -> None:
    # test-predict.R:439-469 ("prediction standard error"; lme4 >= 1.1-35)
    p1 = iris_fit.predict(se_fit=True)
    np.testing.assert_allclose(p1["se_fit"].head(6), [0.0271816400250223, 0.0272298862268211, 0.0286188379907626,
                                                      0.0297645467444413, 0.0270330515271627, 0.0295876265523127],
                               rtol=1e-6)
    p3 = iris_fit.predict(iris_fit.data, se_fit=True, re_form=np.nan)
    np.testing.assert_allclose(p3["se_fit"].head(6), [0.451147865048879, 0.451497971849052, 0.451930732595154,
                                                      0.452178035807842, 0.451312573619068, 0.450778089845166],
                               rtol=1e-5)
    pd.testing.assert_frame_equal(p1, iris_fit.predict(iris_fit.data, se_fit=True))  # p1 == p2
    pd.testing.assert_frame_equal(p3, iris_fit.predict(se_fit=True, re_form="~0"))  # p3 == p4
    pd.testing.assert_frame_equal(p1, iris_fit.predict(se_fit=True, re_form="~(1 | Species)"))  # p1 == p5
    np.testing.assert_allclose(p1["se_fit"], REF["iris"]["se_all"], rtol=1e-5)
    np.testing.assert_allclose(p1["fit"], REF["iris"]["fit"], rtol=1e-6)


@pytest.mark.parametrize(("re_form", "key"), [(None, "all"), ("~(1 | Subject)", "intercept"), ("~0", "none")])
def test_se_fit_one_term_matches_r(fm2: lf.LmerResult, re_form: str | None, key: str) -> None:
    np.testing.assert_allclose(fm2.predict(se_fit=True, re_form=re_form)["se_fit"], REF["sleep_se"][key], rtol=1e-5)


@pytest.mark.parametrize(("re_form", "key"), [(None, "se_all"), ("~(1 | plate)", "se_plate")])
def test_se_fit_crossed_terms_matches_r(re_form: str | None, key: str) -> None:
    # at lme4's theta (the plate-only standard error moves by 3e-5 between optimizers' stopping points)
    ref = REF["penicillin"]
    design = lf.lformula("diameter ~ (1 | plate) + (1 | sample)", lf.load_dataset("penicillin"))
    devfun = lf.make_deviance(design, reml=True)
    theta = np.asarray(ref["theta"], dtype=float)
    opt = lf.OptSummary(optimizer="none", theta0=theta, theta=theta, fmin=devfun(theta), evaluations=1,
                        returnvalue="given", converged=True)
    m = lf.LmerResult(design, devfun, opt, lf.LmerControl())
    assert m.objective == pytest.approx(ref["reml_criterion"], rel=1e-12)
    np.testing.assert_allclose(m.predict(se_fit=True, re_form=re_form)["se_fit"], ref[key], rtol=1e-8)


def test_se_fit_newdata_rows_equal_fitted_rows(sleepstudy: pd.DataFrame) -> None:
    # test-predict.R:533-647 ("predictions work with se.fit and subset of grouping variable levels"), the LMM part
    data = sleepstudy.assign(Subject2=np.repeat(np.arange(1, 6), 36).astype(str))
    m5 = lf.lmer("Reaction ~ Days + (1 + Days | Subject) + (1 | Subject2)", data)
    rows = np.random.default_rng(1).choice(180, size=30, replace=False)
    pms1 = m5.predict(se_fit=True)
    pms2 = m5.predict(data.iloc[rows], se_fit=True)
    np.testing.assert_allclose(pms1.iloc[rows].to_numpy(), pms2.to_numpy(), rtol=1e-10)
    # a new level: the population prediction (test-predict.R:649-656)
    lm1 = lf.lmer("Reaction ~ Days + (1 + Days | Subject)", sleepstudy)
    p = lm1.predict(pd.DataFrame({"Days": [0.0], "Subject": ["373"]}), se_fit=True, allow_new_levels=True)
    assert p["fit"].iloc[0] == lm1.fixef["(Intercept)"]


def test_population_only_never_reads_a_formula_as_all_terms() -> None:
    # the helper of back-ends that include all terms or none (Dask): a formula of some terms is refused
    from lmmflow.results.predict import population_only

    assert population_only("~0") and population_only(np.nan) and population_only(False)
    assert not population_only(None)
    with pytest.raises(ValueError, match="only None"):
        population_only("~(1 | Subject)")


def test_formula_offset_is_recomputed_for_newdata() -> None:
    """offset(log(n)) in the formula enters predict(newdata) as R's predict.merMod adds it (recomputed from
    newdata's n), alone or beside an offset= column; a plausible number without it would be wrong silently."""
    import numpy as np
    import pandas as pd

    import lmmflow as lf

    rng = np.random.default_rng(1)
    n = 200
    df = pd.DataFrame({"g": rng.integers(0, 10, n), "x": rng.normal(size=n), "n": rng.integers(1, 20, n)})
    df["y"] = np.log(df["n"]) + 0.5 * df["x"] + rng.normal(0, 0.5, 10)[df["g"]] + rng.normal(0, 1, n)
    m = lf.lmer("y ~ x + offset(log(n)) + (1 | g)", df)
    np.testing.assert_allclose(m.predict(df.iloc[:7]), m.fitted.iloc[:7], rtol=1e-12)
    pop = m.fixef["(Intercept)"] + m.fixef["x"] * df["x"].iloc[:7] + np.log(df["n"].iloc[:7])
    np.testing.assert_allclose(m.predict(df.iloc[:7], re_form="~0"), pop, rtol=1e-12)
    both = lf.lmer("y ~ x + offset(log(n)) + (1 | g)", df.assign(o=0.3), offset="o")
    np.testing.assert_allclose(both.predict(df.assign(o=0.3).iloc[:7]), both.fitted.iloc[:7], rtol=1e-12)
