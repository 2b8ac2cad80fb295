"""The report's numbers are the model's numbers: compared with direct fits, in the values and in the text."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.reporting.summary_text import fmt_num, fmt_p, fmt_unit
from lmmflow.reporting.workflow import check_long_format, data_check, default_compare, infer_roles, wide_columns

from .conftest import COMPARE, FORMULA, needs

NUM = r"(-?\d+(?:\.\d+)?|-?\.\d+)"


def text_of(rep) -> str:
    return " ".join(rep.paragraphs)


def grab(pattern: str, text: str) -> tuple[str, ...]:
    hit = re.search(pattern, text)
    assert hit, f"{pattern!r} not found in: {text}"
    return hit.groups()


# ---- values vs direct fits ------------------------------------------------------------------------------
def test_models_are_the_direct_fits(rep, direct):
    m1, m0 = rep.models["main"], rep.models["compare"]
    assert m1.formula == FORMULA and m0.formula == COMPARE
    np.testing.assert_allclose(m1.fixef, direct["main"].fixef, rtol=1e-10)
    np.testing.assert_allclose(m0.fixef, direct["compare"].fixef, rtol=1e-10)
    assert not rep.models["main_ml"].reml and not rep.models["compare_ml"].reml


def test_fixed_effects_match(rep, direct):
    m = direct["main"]
    fixed = rep.tables["fixed_effects"].set_index("term")
    np.testing.assert_allclose(fixed["estimate"], m.fixef, rtol=1e-8)
    np.testing.assert_allclose(fixed["std_error"], m.std_errors, rtol=1e-8)
    table = m.coef_table(ddf=rep.values["ddf"])
    np.testing.assert_allclose(fixed["df"], table["df"], rtol=1e-6)
    np.testing.assert_allclose(fixed["p_value"], table["p_value"], rtol=1e-6, atol=1e-300)
    # intervals on the same (Satterthwaite) df as the p-values, not z intervals
    from scipy import stats

    q = stats.t.ppf(0.975, table["df"].to_numpy())
    np.testing.assert_allclose(fixed["conf_low"], m.fixef - q * m.std_errors, rtol=1e-6)
    np.testing.assert_allclose(fixed["conf_high"], m.fixef + q * m.std_errors, rtol=1e-6)


@needs("anova")
def test_satterthwaite_is_used_when_available(rep):
    assert rep.values["ddf"] == "satterthwaite"
    assert np.all(np.isfinite(rep.tables["fixed_effects"]["df"]))


@needs("anova")
def test_lrt_matches_anova(rep, direct):
    tab = lf.anova(direct["compare"], direct["main"])
    lrt = rep.values["lrt"]
    assert lrt["chisq"] == pytest.approx(float(tab["chisq"].iloc[-1]), rel=1e-8)
    assert lrt["df"] == pytest.approx(float(tab["df"].iloc[-1]))
    assert lrt["p_value"] == pytest.approx(float(tab["p_value"].iloc[-1]), rel=1e-8)
    ml0, ml1 = direct["compare"].update(reml=False), direct["main"].update(reml=False)
    assert lrt["chisq"] == pytest.approx(2 * (ml1.loglik - ml0.loglik), rel=1e-6)
    assert lrt["delta_aic"] == pytest.approx(ml0.aic - ml1.aic, rel=1e-6)
    assert lrt["delta_bic"] == pytest.approx(ml0.bic - ml1.bic, rel=1e-6)


@needs("r2", "icc")
def test_r2_and_icc_match(rep, direct):
    r2 = lf.r2(direct["main"])
    assert rep.values["r2"]["marginal"] == pytest.approx(float(r2["marginal"]), rel=1e-10)
    assert rep.values["r2"]["conditional"] == pytest.approx(float(r2["conditional"]), rel=1e-10)
    icc = lf.icc(direct["compare"])  # the ICC comes from the random-intercept model, as in the tutorial
    assert rep.values["icc"]["model"] == "compare"
    assert rep.values["icc"]["adjusted"] == pytest.approx(float(icc["adjusted"]), rel=1e-10)


def test_random_effects_and_share_match(rep, direct):
    m = direct["main"]
    rand = rep.values["random"]
    sds = {s["term"]: s["sd"] for s in rand["sds"]}
    vc = m.varcorr
    for term in ("(Intercept)", "time"):
        assert sds[term] == pytest.approx(float(vc.loc[(vc.var1 == term) & vc.var2.isna(), "sdcor"].iloc[0]))
    assert rand["cors"][0]["r"] == pytest.approx(float(vc.loc[vc.var2.notna(), "sdcor"].iloc[0]))
    assert rand["sigma"] == pytest.approx(m.sigma)
    share = lf.share_positive_slopes(m, term="time")
    assert rep.values["share_positive"]["from_distribution"] == pytest.approx(share["from_distribution"])
    assert rep.values["share_positive"]["from_blups"] == pytest.approx(share["from_blups"])


def test_blup_table_matches_ranef(rep, direct):
    m = direct["main"]
    blups = rep.tables["blups"].set_index("id")
    np.testing.assert_allclose(blups["blup_time"], m.ranef["id"]["time"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(blups["cond_sd_(Intercept)"], m.ranef_sd["id"]["(Intercept)"], rtol=1e-8)
    np.testing.assert_allclose(blups["coef_time"], m.coef["id"]["time"], rtol=1e-8)


# ---- numbers in the text ---------------------------------------------------------------------------------
def test_text_fixed_effects_are_the_models(rep, direct):
    m = direct["main"]
    text = text_of(rep)
    est, se, lo, hi = grab(rf"initial level \(time = 0\) was {NUM} \(SE = {NUM}, 95% CI \[{NUM}, {NUM}\]", text)
    from scipy import stats

    q0, q1 = stats.t.ppf(0.975, m.coef_table(ddf="satterthwaite")["df"].to_numpy())  # the p-values' df
    b0, s0 = float(m.fixef["(Intercept)"]), float(m.std_errors["(Intercept)"])
    assert (est, se, lo, hi) == (fmt_num(b0), fmt_num(s0), fmt_num(b0 - q0 * s0), fmt_num(b0 + q0 * s0))
    b, se1, lo1, hi1 = grab(rf"\(b = {NUM}, SE = {NUM}, 95% CI \[{NUM}, {NUM}\]", text)
    b1, s1 = float(m.fixef["time"]), float(m.std_errors["time"])
    assert (b, se1, lo1, hi1) == (fmt_num(b1), fmt_num(s1), fmt_num(b1 - q1 * s1), fmt_num(b1 + q1 * s1))
    word = "increased" if b1 > 0 else "decreased"
    assert f"{word} by {fmt_num(abs(b1))} points per unit of time" in text


def test_text_random_effects_are_the_models(rep, direct):
    m = direct["main"]
    vc = m.varcorr
    text = text_of(rep)
    sd0, = grab(rf"initial level \(SD = {NUM}\)", text)
    sd1, = grab(rf"rate of change \(SD = {NUM} per unit of time\)", text)
    r, = grab(rf"r = {NUM}", text)
    sig, = grab(rf"residual SD was {NUM}", text)
    assert sd0 == fmt_num(float(vc.sdcor[0])) and sd1 == fmt_num(float(vc.sdcor[1]))
    assert r == fmt_unit(float(vc.sdcor[2]))
    assert sig == fmt_num(m.sigma)


@needs("anova")
def test_text_lrt_is_the_anova(rep, direct):
    tab = lf.anova(direct["compare"], direct["main"])
    text = text_of(rep)
    df, chisq = grab(rf"χ²\({NUM}\) = {NUM}", text)
    p_text = re.search(r"χ²\(\d+\) = [\d.]+, (p [<=>] \.\d+)", text).group(1)
    assert df == "2" and chisq == fmt_num(float(tab["chisq"].iloc[-1]))
    assert p_text == fmt_p(float(tab["p_value"].iloc[-1]))
    daic, dbic = grab(rf"ΔAIC = {NUM}, ΔBIC = {NUM}", text)
    assert daic == fmt_num(rep.values["lrt"]["delta_aic"], 1)
    assert dbic == fmt_num(rep.values["lrt"]["delta_bic"], 1)
    assert "random-slope model over the random-intercept model" in text


@needs("r2", "icc")
def test_text_r2_icc_are_the_models(rep, direct):
    text = text_of(rep)
    r2 = lf.r2(direct["main"])
    icc = lf.icc(direct["compare"])
    marg, = grab(rf"marginal R² = {NUM}", text)
    cond, = grab(rf"conditional R² = {NUM}", text)
    icc_t, = grab(rf"ICC = {NUM}", text)
    assert marg == fmt_unit(float(r2["marginal"])) and cond == fmt_unit(float(r2["conditional"]))
    assert icc_t == fmt_unit(float(icc["adjusted"]))


def test_text_share_and_design(rep, growth):
    text = text_of(rep)
    assert text.startswith(f"We fitted a linear mixed model to {len(growth)} observations of y from 60 units")
    share = rep.values["share_positive"]
    pct, = grab(r"an estimated ([\d.]+)% of units have a positive slope", text)
    assert float(pct) == pytest.approx(100 * share["from_distribution"], abs=0.06)
    assert "The fit converged and was not singular." in text


# ---- files -------------------------------------------------------------------------------------------------
def test_files_written(rep, rep_dir):
    for name in ("report.html", "summary.txt", "summary.md", "blups.csv", "fixed_effects.csv"):
        assert (rep_dir / name).stat().st_size > 0, name
    expected = {"spaghetti", "residuals_vs_fitted", "qq_residuals", "qq_ranef", "caterpillar", "shrinkage",
                "trajectories", "prediction_curve", "variance_over_time"}
    assert expected <= set(rep.figure_png), rep.notes
    for name in expected:
        png = (rep_dir / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert rep.figures[name] == rep_dir / f"{name}.png"
    fe = pd.read_csv(rep_dir / "fixed_effects.csv")
    assert list(fe["term"]) == ["(Intercept)", "time"]
    assert len(pd.read_csv(rep_dir / "blups.csv")) == 60


def test_summary_files_hold_the_text(rep, rep_dir):
    txt = (rep_dir / "summary.txt").read_text(encoding="utf-8")
    md = (rep_dir / "summary.md").read_text(encoding="utf-8")
    flat = " ".join(txt.split())
    for p in rep.paragraphs:
        assert " ".join(p.split()) in flat
        assert p in md
    assert "Linear mixed model fit by REML" in txt
    assert "![Individual trajectories](spaghetti.png)" in md
    assert "| term |" in md


def test_formats_subset(growth, tmp_path):
    r = lf.report(growth, FORMULA, out=tmp_path, formats=("txt",), figures=False)
    assert (tmp_path / "summary.txt").exists() and not (tmp_path / "report.html").exists()
    assert (tmp_path / "blups.csv").exists()
    with pytest.raises(ValueError, match="unknown format"):
        r.write(tmp_path, formats=("pdf",))


# ---- the workflow's choices --------------------------------------------------------------------------------
def test_defaults_and_roles():
    assert default_compare("y ~ time + (1 + time | id)", "id") == "y ~ time + (1 | id)"
    assert default_compare("y ~ time + (1 | id)", "id") is None
    d = pd.DataFrame({"score": [1.0], "wave": [0], "person": ["a"], "g": ["x"]})
    assert infer_roles("score ~ wave * g + (wave | person)", d) == ("score", "wave", "person")
    assert infer_roles("score ~ g + wave + (1 | person)", d) == ("score", "wave", "person")


def test_compare_false_and_intercept_only(growth):
    r = lf.report(growth, FORMULA, compare=False, figures=False)
    assert r.values["lrt"] is None and "compare" not in r.models
    r0 = lf.report(growth, COMPARE, figures=False)
    assert r0.values["lrt"] is None and r0.values["share_positive"] is None
    assert "likelihood-ratio" not in " ".join(r0.paragraphs)


def test_data_check_counts_missing_and_unequal_waves():
    d = lf.simulate_growth(n_units=30, times=(0, 1, 3, 6), seed=4)
    d = d.drop(index=[0, 1, 5]).reset_index(drop=True)
    d.loc[3, "y"] = np.nan
    info, miss = data_check(d, "y", "time", "id")
    assert info["n_rows"] == len(d) and info["n_units"] == 30
    assert info["waves_min"] == 2 and info["waves_max"] == 4
    assert info["times"] == [0.0, 1.0, 3.0, 6.0]
    assert int(miss.loc["y", "n_missing"]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = lf.report(d, FORMULA, figures=False)
    assert r.values["data"]["n_dropped"] == 1
    assert "Missing values per column used: y 1; time 0; id 0; 1 row with a missing value was left out." \
        in r.paragraphs[0]
    assert "2 to 4 waves" in r.paragraphs[0]


def test_wide_data_is_recognised():
    wide = pd.DataFrame({"id": [1, 2, 3], "y1": [1.0, 2, 3], "y2": [2.0, 3, 4], "y3": [3.0, 4, 6]})
    assert wide_columns(wide, "y") == ["y1", "y2", "y3"]
    with pytest.raises(lf.DataError, match="WIDE data.*wide_to_long"):
        lf.report(wide, FORMULA)
    with pytest.raises(lf.DataError, match="--wide --id id --waves \"y1=0,y2=1,y3=2\""):
        check_long_format(wide, FORMULA, hint="cli")


def test_bad_inputs(growth, tmp_path):
    with pytest.raises(lf.DataError, match="'tiem'"):
        lf.report(growth, "y ~ tiem + (1 | id)")
    with pytest.raises(lf.FormulaError):
        lf.report(growth, "y ~ time + (1 + time | id")
    with pytest.raises(FileNotFoundError):
        lf.report(tmp_path / "nope.csv", FORMULA)
    with pytest.raises(ValueError, match="level"):
        lf.report(growth, FORMULA, level=95)


def test_reads_a_csv_path(growth, tmp_path):
    p = tmp_path / "d.csv"
    growth.to_csv(p, index=False)
    r = lf.report(p, FORMULA, figures=False)
    assert r.values["data"]["n_obs"] == len(growth)


def test_singular_fit_is_reported():
    d = lf.simulate_growth(n_units=30, tau11=0.0, tau01=0.0, sigma=5, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = lf.report(d, FORMULA, figures=False)
    assert r.values["singular"]
    assert "The fit was singular" in r.paragraphs[-1]


def test_report_repr_and_text_properties(rep):
    assert "y ~ time + (1 + time | id)" in repr(rep)
    assert rep.text.startswith("Linear mixed model report")
    assert rep.markdown.startswith("# Linear mixed model report")
    assert math.isclose(rep.values["level"], 0.95)


def test_roles_and_compare_with_a_second_grouping_factor():
    d = pd.DataFrame({"y": [1.0], "time": [0], "id": ["a"], "site": ["s"]})
    formula = "y ~ time + (1 | site) + (1 + time | id)"
    assert infer_roles(formula, d) == ("y", "time", "id")
    assert default_compare(formula, "id") == "y ~ time + (1 | id) + (1 | site)"
    assert default_compare("y ~ time + (time || id)", "id") == "y ~ time + (1 | id)"


def test_interaction_with_time_is_qualified():
    d = lf.simulate_growth(n_units=40, seed=3)
    d["group"] = np.where(d["id"].astype(int) % 2 == 0, "ctl", "trt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = lf.report(d, "y ~ time * group + (1 + time | id)", figures=False)
    text = " ".join(r.paragraphs)
    assert "(time = 0, other predictors at zero or their reference level)" in text
    assert "per unit of time at that reference" in text
    assert "The fixed effect of time:group[T.trt] was b = " in text
    assert r.values["share_positive"] is None and any("share of positive slopes" in n for n in r.notes)


def test_singular_component_is_named():
    from lmmflow.reporting.workflow import singular_parts

    rand = {"sds": [{"group": "id", "term": "time", "sd": 1e-9}], "sigma": 5.0,
            "cors": [{"group": "id", "term1": "(Intercept)", "term2": "time", "r": -1.0}]}
    assert singular_parts(rand) == ["SD of time | id = 0.00", "correlation of (Intercept) and time | id = -1.00"]


def test_wave_labels_in_a_random_slope_are_named():
    from lmmflow.reporting.workflow import text_time_hint

    d = lf.simulate_growth(n_units=20, times=(0, 1, 2), seed=5)
    d["time"] = "wave " + d["time"].astype(str)
    with pytest.raises(lf.DataError, match=r"column 'time' holds text \('wave 0', 'wave 1', 'wave 2'\)"):
        lf.report(d, FORMULA, figures=False)
    assert text_time_hint(d, "y ~ time + (1 | id)") == ""  # no random slope on it
    assert text_time_hint(d.assign(time=0.0), FORMULA) == ""
    assert text_time_hint(d, "y ~ time + (1 + time | id") == ""  # an unparseable formula is reported elsewhere


def test_source_is_recorded(growth, tmp_path):
    p = tmp_path / "d.csv"
    growth.to_csv(p, index=False)
    assert lf.report(p, FORMULA, figures=False).values["source"] == str(p)
    assert lf.report(growth, FORMULA, figures=False).values["source"] is None
