"""The report reads the design: shared waves, unit-specific times, grouped data without time, crossed factors;
and its written summary follows the rules: slopes interpreted only when tested and supported, "singular"
instead of an interpretation at the boundary, missing values for every column used, CIs on the p-values' df."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.reporting.design import detect_design, grouping_structure, is_time_name

from ._designs import DATA, FORMULAS


def quiet_report(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lf.report(*args, **kwargs)


@pytest.fixture(scope="module")
def reps() -> dict:
    """The four designs' reports, numbers and text only."""
    return {k: quiet_report(DATA[k](), FORMULAS[k], figures=False) for k in DATA}


def text(rep) -> str:
    return " ".join(rep.paragraphs)


# ---- detection ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, kind, time", [("waves", "waves", "time"), ("times", "times", "years"),
                                              ("biomass", "grouped", None), ("crossed", "crossed", None)])
def test_detected_design(reps, name, kind, time):
    des = reps[name].values["design"]
    assert des["kind"] == kind and des["time"] == time and reps[name].values["time"] == time
    assert des["longitudinal"] == (time is not None)


@pytest.mark.parametrize("name, expected", [
    ("time", True), ("Days", True), ("wave", True), ("months_since_baseline", True), ("visitNo", True),
    ("age", True), ("Temp", False), ("N", False), ("study_hours", False), ("dose", False), ("x", False),
    ("WaitTime", False), ("reaction_time", False), ("visit_time", True), ("time_since_dx", True)])
def test_time_names(name, expected):
    assert is_time_name(name) is expected


def test_structure_of_grouping_factors():
    d = DATA["crossed"]()
    assert grouping_structure(d, ["subject", "item"]) == ("crossed", [("subject", "item")])
    schools = pd.DataFrame({"school": [1, 1, 2, 2], "class": ["a", "b", "c", "d"]})
    assert grouping_structure(schools, ["class", "school"])[0] == "nested"
    assert grouping_structure(schools, ["school"])[0] == "single"


def test_nested_hospital_design_is_grouped():
    """Seed 003's hospitals: patients within hospitals, wait time a predictor (not the time axis)."""
    rng = np.random.default_rng(3)
    rows = [{"Hospital": h, "Patient": f"{h}{p}", "WaitTime": float(rng.uniform(5, 60)),
             "Satisfaction": float(rng.normal(70, 8))} for h in "ABCDEF" for p in range(5) for _ in range(3)]
    d = pd.DataFrame(rows)
    f = "Satisfaction ~ WaitTime + (1 | Hospital) + (1 | Patient:Hospital)"
    des = detect_design(d, f, "WaitTime", "Patient:Hospital")
    assert des["kind"] == "grouped" and des["structure"] == "nested"
    assert des["groups"] == {"Hospital": 6, "Patient:Hospital": 30}


def test_time_given_or_design_forced_wins():
    d = DATA["biomass"]()
    assert detect_design(d, FORMULAS["biomass"], "Temp", "Site", time_given=True)["kind"] in ("waves", "times")
    assert detect_design(d, FORMULAS["biomass"], "Temp", "Site", design="grouped")["kind"] == "grouped"
    g = lf.simulate_growth(n_units=20, seed=1)
    assert detect_design(g, "y ~ time + (1 | id)", "time", "id", design="grouped")["time"] is None
    with pytest.raises(ValueError, match="design must be"):
        detect_design(g, "y ~ time + (1 | id)", "time", "id", design="panel")


def test_unit_specific_times_need_shared_values_for_waves():
    d = lf.simulate_growth(n_units=40, times=(0, 1, 3, 6, 12), seed=3)
    assert detect_design(d, "y ~ time + (1 | id)", "time", "id")["kind"] == "waves"  # unequal but shared
    jitter = np.random.default_rng(1).uniform(-0.3, 0.3, len(d))
    d2 = d.assign(time=d["time"] + jitter)
    des = detect_design(d2, "y ~ time + (1 | id)", "time", "id")
    assert des["kind"] == "times" and des["shared"] < 0.1


# ---- words by design --------------------------------------------------------------------------------------------
def test_biomass_speaks_of_predictors_and_groups(reps):
    t = text(reps["biomass"])
    assert not re.search(r"wave|trajector|initial level|rate of change|time variable|started higher", t, re.I), t
    assert "in 20 groups (Site; 5 observations each), with Temp and N as predictors" in t
    assert "in the effect of Temp (SD = " in t
    assert "levels of Site with a higher intercept tended to have a" in t
    assert "positive effect of Temp" in t


def test_crossed_speaks_of_both_factors(reps):
    t = text(reps["crossed"])
    assert not re.search(r"wave|trajector|initial level|rate of change|time variable", t, re.I), t
    assert "grouped by 24 levels of subject and 16 levels of item (crossed" in t
    assert "Levels of subject differed in their average level" in t
    assert "Levels of item differed in their average level" in t
    assert "lay between the levels of subject and item together (ICC = " in t


def test_person_specific_times_are_not_waves(reps):
    t = text(reps["times"])
    assert "measured at unit-specific values of years" in t and "waves" not in t
    assert "4 to 9 observations, median 7" in t
    assert "rate of change (SD = " in t  # still a growth model


def test_waves_keep_the_tutorial_words(reps):
    t = text(reps["waves"])
    assert "(id; 5 waves each), with time as the time variable" in t
    assert "units that started higher tended to change more slowly" in t


# ---- slope interpreted only when the LRT supports it -----------------------------------------------------------------
@pytest.fixture(scope="module")
def weak_slope():
    """Tutorial-like data with a tiny slope SD: the random-slope LRT is far from significant."""
    d = lf.simulate_growth(n_units=60, seed=2, tau11=0.01, tau01=0.0)
    return quiet_report(d, "y ~ time + (1 + time | id)", figures=False)


def test_unsupported_slope_is_not_interpreted(weak_slope):
    v = weak_slope.values
    assert v["lrt"]["p_value"] >= 0.05
    assert v["slope_test"] == {"has_slope": True, "tested": True, "p_value": v["lrt"]["p_value"],
                               "supported": False, "why": v["slope_test"]["why"]}
    t = text(weak_slope)
    assert "The data do not support variation between id in the rate of change" in t
    assert "not interpreted" in t
    assert "was not significant (p = .7" in t
    assert "rate of change (SD" not in t and "started higher" not in t and "of units have a positive slope" not in t
    assert v["share_positive"] is None
    assert any("share of positive slopes not interpreted" in n for n in weak_slope.notes)


def test_untested_slope_is_not_interpreted():
    d = DATA["biomass"]()
    rep = quiet_report(d, FORMULAS["biomass"], compare=False, figures=False)
    assert rep.values["slope_test"]["tested"] is False
    t = text(rep)
    assert "was not tested against a random-intercept model" in t and "positive effect" not in t


def test_supported_slope_is_interpreted(reps):
    for name in ("waves", "times", "biomass"):
        st = reps[name].values["slope_test"]
        assert st["tested"] and st["supported"] and st["p_value"] < 0.05, name
        assert reps[name].values["share_positive"] is not None


# ---- singular components are named, not interpreted ---------------------------------------------------------------
def test_zero_variance_and_boundary_correlation_are_called_singular():
    d = lf.simulate_growth(n_units=30, tau11=0.0, tau01=0.0, sigma=5, seed=3)
    rep = quiet_report(d, "y ~ time + (1 + time | id)", figures=False)
    v = rep.values
    assert v["singular"]
    t = text(rep)
    cors = [c for c in v["random"]["cors"] if abs(c["r"]) >= 1 - 1e-4]
    zero = [s for s in v["random"]["sds"] if s["sd"] <= 1e-4 * v["random"]["sigma"]]
    assert cors or zero
    if cors:
        assert "on the boundary (a singular fit)" in t
        assert "tended to change" not in t
        i = t.index("The correlation between")
        assert "singular" in t[i:i + 200]
    if zero:
        assert "was estimated at zero, on the boundary of its range (a singular fit)" in t


# ---- missing values of every column used ---------------------------------------------------------------------------
def test_missing_values_listed_for_every_column():
    d = DATA["biomass"]()
    d.loc[[3, 7], "N"] = np.nan
    d.loc[[11], "Temp"] = np.nan
    d["unused"] = np.nan
    rep = quiet_report(d, FORMULAS["biomass"], figures=False)
    first = rep.paragraphs[0]
    assert "Missing values per column used: Biomass 0; Temp 1; N 2; Site 0; 3 rows with a missing value " \
           "were left out." in first
    miss = rep.tables["missing"]
    assert list(miss.index) == ["Biomass", "Temp", "N", "Site"]
    assert rep.values["data"]["n_incomplete"] == 3 and rep.values["data"]["n_dropped"] == 3
    assert "unused" not in first


# ---- intervals on the p-values' df ---------------------------------------------------------------------------------
@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger", "none"])
def test_intervals_use_the_df_of_the_p_values(ddf):
    from scipy import stats

    rep = quiet_report(DATA["crossed"](), FORMULAS["crossed"], figures=False, ddf=ddf, compare=False)
    fx = rep.tables["fixed_effects"]
    dfs = fx["df"].to_numpy(dtype=float) if ddf != "none" else np.full(len(fx), np.inf)
    q = np.where(np.isfinite(dfs), stats.t.ppf(0.975, np.where(np.isfinite(dfs), dfs, 1)), stats.norm.ppf(0.975))
    np.testing.assert_allclose(fx["conf_high"], fx["estimate"] + q * fx["std_error"], rtol=1e-10)
    # an interval excludes zero exactly when p < .05
    excl = (fx["conf_low"] > 0) | (fx["conf_high"] < 0)
    assert list(excl) == list(fx["p_value"] < 0.05)


def test_reference_t_interval_from_lmertest():
    """sleepstudy, Reaction ~ Days + (Days | Subject): lmerTest's contest(..., confint = TRUE), Satterthwaite df
    (R 4.x, lmerTest; the script is tests/reference/make_report_ci.R)."""
    import json
    from pathlib import Path

    ref = json.loads((Path(__file__).parents[1] / "reference" / "report_ci.json").read_text())
    rep = quiet_report(lf.load_dataset("sleepstudy"), "Reaction ~ Days + (Days | Subject)", figures=False)
    fx = rep.tables["fixed_effects"].set_index("term")
    for term, row in ref.items():
        assert fx.loc[term, "df"] == pytest.approx(row["df"], rel=1e-4)
        assert fx.loc[term, "conf_low"] == pytest.approx(row["lower"], rel=1e-5)
        assert fx.loc[term, "conf_high"] == pytest.approx(row["upper"], rel=1e-5)


def test_reproduce_code_keeps_time_and_design():
    from lmmflow.reporting.html import reproduce_code

    rep = quiet_report(DATA["biomass"](), FORMULAS["biomass"], time="Temp", figures=False)
    assert rep.values["design"]["longitudinal"] and "time='Temp'" in reproduce_code(rep.values)
    rep2 = quiet_report(DATA["waves"](), FORMULAS["waves"], design="grouped", figures=False)
    code = reproduce_code(rep2.values)
    assert "design='grouped'" in code and "time=" not in code
    assert "waves" not in " ".join(rep2.paragraphs)
