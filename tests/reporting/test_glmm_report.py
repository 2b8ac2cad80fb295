"""The GLMM workflow report (lf.report(..., family=)): binary growth and Poisson counts, against R's numbers in
tests/reference/glmm_reference.json (lme4's glmer), and free of LMM-only content."""

from __future__ import annotations

import html
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.design import DataError
from lmmflow.plots.binned import binned_residuals_frame
from lmmflow.reporting.glmm_report import GlmmReport, glmm_fixed_table

REFDIR = Path(__file__).parents[1] / "reference"
CASES = {c["name"]: c for c in json.loads((REFDIR / "glmm_reference.json").read_text())["cases"]}


def _data(name: str) -> pd.DataFrame:
    case = CASES[name]
    df = pd.read_csv(REFDIR / case["data"])
    for f in case.get("factors", []):
        df[f] = df[f].astype(str)
    return df


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    folder = tmp_path_factory.mktemp("glmm") / "report"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = lf.report(_data("binary_growth_rs"), CASES["binary_growth_rs"]["formula"], family="binomial",
                        out=folder, seed=1, dpi=60)
    return rep, folder


@pytest.fixture(scope="module")
def counts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("glmm_pois") / "report"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = lf.report(_data("grouseticks_poisson"), CASES["grouseticks_poisson"]["formula"], family="poisson",
                        out=folder, seed=1, dpi=60, unit="BROOD")
    return rep, folder


def _ratios_match_r(rep: GlmmReport, case: dict, col: str, short: str) -> None:
    fixed = rep.tables["fixed_effects"]  # R's order of the coefficients (R names them grouptreated, ...)
    assert len(fixed) == len(case["confint_wald"])
    for (_, ours), row in zip(fixed.iterrows(), case["confint_wald"]):
        b = case["fixef"][row["term"]]
        assert ours["estimate"] == pytest.approx(b, rel=2e-5, abs=1e-6)
        assert ours[col] == pytest.approx(math.exp(b), rel=2e-5)
        assert ours[f"{short}_lower"] == pytest.approx(math.exp(row["lower"]), rel=5e-5)
        assert ours[f"{short}_upper"] == pytest.approx(math.exp(row["upper"]), rel=5e-5)


def test_binary_report_is_a_glmm_report_with_odds_ratios(binary):
    rep, _ = binary
    assert isinstance(rep, GlmmReport)
    assert rep.values["family"] == "binomial" and rep.values["link"] == "logit"
    _ratios_match_r(rep, CASES["binary_growth_rs"], "odds_ratio", "or")


def test_poisson_report_has_rate_ratios(counts):
    rep, _ = counts
    assert rep.values["family"] == "poisson"
    _ratios_match_r(rep, CASES["grouseticks_poisson"], "rate_ratio", "rr")
    assert "rate ratios (RR" in rep.paragraphs[0]
    assert "RR = 3.21" in " ".join(rep.paragraphs)  # exp(1.1656), YEAR96


def test_random_effect_sds_on_the_link_scale(binary):
    rep, _ = binary
    case = CASES["binary_growth_rs"]
    sds = {r["term"]: r["sd"] for r in rep.values["random"]["sds"]}
    want = {r["var1"]: r["sdcor"] for r in case["varcorr"] if r.get("var2") in (None, "NA") or not r.get("var2")}
    for term, sd in want.items():
        assert sds[term] == pytest.approx(sd, rel=1e-4)
    assert "Residual" not in set(rep.tables["random_effects"]["group"])
    assert "log-odds (logit) scale" in rep.paragraphs[2]


def test_html_has_odds_ratios_binned_residuals_and_nothing_lmm_only(binary):
    rep, folder = binary
    page = (folder / "report.html").read_text(encoding="utf-8")
    body = re.sub(r"<script.*?</script>", " ", page.split("<body", 1)[1], flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", body)).replace("\u00a0", " ")
    assert "odds ratio" in text and "OR = " in text
    assert 'id="fig-binned_residuals"' in page and 'id="fig-observed"' in page
    assert 'id="fig-response_curve"' in page and 'id="fig-caterpillar"' in page
    for lmm_only in ("Satterthwaite", "Kenward", "REML", "Residual SD", "residual SD", r"\bt value", "df =",
                     "Pr\\(>\\|t\\|\\)"):
        assert not re.search(lmm_only, text), lmm_only
    time_or = rep.tables["fixed_effects"]["odds_ratio"].iloc[-1]  # time x group
    assert f"{time_or:.2f}" in text
    assert page.count("data:image/png;base64,") == len(rep.figure_png) >= 6
    assert "http" not in page.split("<body", 1)[1]


def test_files_written_and_text_documents(binary):
    rep, folder = binary
    names = {p.name for p in folder.iterdir()}
    assert {"report.html", "summary.txt", "summary.md", "blups.csv", "fixed_effects.csv",
            "binned_residuals.png", "observed.png", "response_curve.png"} <= names
    txt = (folder / "summary.txt").read_text(encoding="utf-8")
    assert "Generalized linear mixed model" in txt and "OR = " in txt and "Satterthwaite" not in txt
    csv = pd.read_csv(folder / "fixed_effects.csv")
    assert {"odds_ratio", "or_lower", "or_upper", "z", "p"} <= set(csv.columns)
    assert "# Generalized linear mixed model report" in (folder / "summary.md").read_text(encoding="utf-8")


def test_comparison_is_a_glmm_likelihood_ratio_test(binary):
    rep, _ = binary
    lrt = rep.values["lrt"]
    g0, g1 = rep.models["compare"], rep.models["main"]
    assert lrt["chisq"] == pytest.approx(2 * (g1.loglik - g0.loglik), rel=1e-9)
    assert lrt["df"] == 2
    assert "likelihood-ratio test" in rep.paragraphs[1]


def test_binned_residuals_in_the_report_are_the_models(binary):
    rep, _ = binary
    g = rep.models["main"]
    want = binned_residuals_frame(np.asarray(g.fitted), g.y)
    pd.testing.assert_frame_equal(rep.tables["binned_residuals"], want)
    b = rep.values["binned"]
    assert b["n_bins"] == len(want) and b["inside"] == int(want["inside"].sum())


def test_r2_and_icc_guarded(binary):
    rep, _ = binary
    if rep.values["r2"] is None:  # lf.r2 without GLMM support: a note says so, the text says nothing
        assert any(n.startswith("R² not computed") for n in rep.notes)
        assert "R²" not in " ".join(rep.paragraphs)
    else:
        assert 0 <= rep.values["r2"]["marginal"] <= rep.values["r2"]["conditional"] <= 1


def test_cbind_response_and_grouped_design():
    df = lf.load_dataset("cbpp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = lf.report(df, "cbind(incidence, size - incidence) ~ period + (1 | herd)", family="binomial",
                        figures=True, dpi=50)
    case = CASES["cbpp_logit"]
    np.testing.assert_allclose(rep.tables["fixed_effects"]["odds_ratio"], np.exp(list(case["fixef"].values())),
                               rtol=2e-5)
    assert "observed" in rep.figure_png and "response_curve" not in rep.figure_png  # period is a factor
    assert rep.values["lrt"] is None


def test_probit_reports_coefficients_not_ratios():
    df = lf.load_dataset("cbpp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = lf.report(df, "cbind(incidence, size - incidence) ~ period + (1 | herd)", family="binomial",
                        link="probit", figures=False)
    assert "odds_ratio" not in rep.tables["fixed_effects"]
    assert "OR" not in " ".join(rep.paragraphs) and "probit scale" in rep.paragraphs[1]
    assert "link='probit'" in html.unescape(rep.html)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"family": "gamma"}, ValueError, "binomial' or 'poisson"),
    ({"family": "binomial", "link": "log"}, ValueError, "link 'log' is not available"),
    ({"link": "logit"}, ValueError, "family='binomial'"),
    ({"nagq": 5}, ValueError, "family='binomial'"),
])
def test_bad_family_or_link(kwargs, exc, match):
    d = lf.simulate_growth(n_units=10, seed=1)
    with pytest.raises(exc, match=match):
        lf.report(d, "y ~ time + (1 | id)", figures=False, **kwargs)


def test_response_that_does_not_fit_the_family():
    d = lf.simulate_growth(n_units=10, seed=1)
    with pytest.raises(DataError, match="negative values are not allowed"):
        lf.report(d.assign(y=d["y"] - 60), "y ~ time + (1 | id)", family="poisson", figures=False)
    with pytest.raises(DataError, match="outside \\[0, 1\\]"):
        lf.report(d, "y ~ time + (1 | id)", family="binomial", figures=False)
    with pytest.raises(DataError, match="'missing'"):
        lf.report(d, "cbind(missing, 3 - missing) ~ time + (1 | id)", family="binomial", figures=False)


def test_gaussian_family_is_the_lmm_report():
    d = lf.simulate_growth(n_units=30, seed=1)
    rep = lf.report(d, "y ~ time + (1 | id)", family="gaussian", figures=False)
    assert not isinstance(rep, GlmmReport) and rep.values["ddf"] == "satterthwaite"


def test_fixed_table_needs_no_report():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"))
    t = glmm_fixed_table(g, level=0.9)
    z = 1.6448536269514722
    np.testing.assert_allclose(t["or_upper"], np.exp(t["estimate"] + z * t["se"]), rtol=1e-12)
