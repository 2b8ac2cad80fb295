"""The written summary from a dictionary of values: APA formatting and each kind of sentence."""

from __future__ import annotations

import copy

import pytest

from lmmflow.reporting.summary_text import (
    fmt_count,
    fmt_num,
    fmt_p,
    fmt_unit,
    markdown_table,
    results_paragraphs,
    summary_markdown,
    summary_text,
    wrap,
)

VALUES = {
    "title": "Test", "formula": "y ~ time + (1 + time | id)", "compare_formula": "y ~ time + (1 | id)",
    "response": "y", "time": "time", "unit": "id", "level": 0.95, "reml": True, "ddf": "satterthwaite",
    "data": {"n_rows": 1000, "n_obs": 1000, "n_units": 200, "n_dropped": 0, "waves_min": 5, "waves_max": 5,
             "waves_median": 5.0},
    "lrt": {"chisq": 13.5812, "df": 2.0, "p_value": 0.00112, "delta_aic": 9.58, "delta_bic": -0.23},
    "main_label": "random-slope model", "compare_label": "random-intercept model",
    "fixed": [{"term": "(Intercept)", "estimate": 50.312, "std_error": 0.7213, "df": 199.0, "t_value": 69.75,
               "p_value": 1e-140, "conf_low": 48.898, "conf_high": 51.726},
              {"term": "time", "estimate": 2.0141, "std_error": 0.0853, "df": 199.0, "t_value": 23.61,
               "p_value": 2e-60, "conf_low": 1.847, "conf_high": 2.181}],
    "intercept_term": "(Intercept)", "slope_term": "time",
    "random": {"sds": [{"group": "id", "term": "(Intercept)", "variance": 98.6, "sd": 9.93},
                       {"group": "id", "term": "time", "variance": 0.88, "sd": 0.94}],
               "cors": [{"group": "id", "term1": "(Intercept)", "term2": "time", "r": -0.183}],
               "sigma": 4.99, "residual_variance": 24.9},
    "r2": {"marginal": 0.1432, "conditional": 0.8021},
    "icc": {"adjusted": 0.6512, "unadjusted": 0.55, "model": "compare"},
    "share_positive": {"from_distribution": 0.9838, "from_blups": 1.0},
    "singular": False, "compare_singular": False, "converged": True, "messages": [],
}


def test_formatting():
    assert fmt_num(2.0141) == "2.01" and fmt_num(-0.004) == "-0.004" and fmt_num(None) == "NA"
    assert fmt_num(-0.001, 1) == "-0.001" and fmt_num(-0.04, 1) == "-0.04"
    assert fmt_unit(0.8021) == ".80" and fmt_unit(-0.183) == "-.18"
    assert fmt_p(0.00112) == "p = .001" and fmt_p(1e-9) == "p < .001" and fmt_p(0.04999) == "p = .050"
    assert fmt_count(12345) == "12,345"


def test_paragraphs_apa():
    text = " ".join(results_paragraphs(VALUES))
    assert ("A likelihood-ratio test of maximum-likelihood refits favoured the random-slope model over the "
            "random-intercept model, χ²(2) = 13.58, p = .001, ΔAIC = 9.6, ΔBIC = -0.2") in text
    assert ("ΔBIC = -0.2; AIC was lower for the random-slope model but BIC, which penalises extra parameters more, "
            "was lower for the random-intercept model.") in text
    assert "The average initial level (time = 0) was 50.31 (SE = 0.72, 95% CI [48.90, 51.73]" in text
    assert "increased by 2.01 points per unit of time (b = 2.01, SE = 0.09, 95% CI [1.85, 2.18], t(199.0) = 23.61, " \
           "p < .001)" in text
    assert "initial level (SD = 9.93)" in text and "rate of change (SD = 0.94 per unit of time)" in text
    assert "r = -.18, so units that started higher tended to change more slowly" in text
    assert "marginal R² = .14" in text and "conditional R² = .80" in text
    assert "In the random-intercept model, 65.1% of the variance" in text and "ICC = .65" in text
    assert "an estimated 98.4% of units have a positive slope; 100.0% of the 200" in text
    assert "The fit converged and was not singular." in text


def test_not_favoured_negative_slope_and_problems():
    v = copy.deepcopy(VALUES)
    v["lrt"].update(p_value=0.4, delta_aic=-2.1)
    v["fixed"][1].update(estimate=-1.5, conf_low=-1.7, conf_high=-1.3)
    v["singular"] = True
    v["converged"] = False
    v["messages"] = ["gradient too large"]
    v["data"].update(n_dropped=3, waves_min=3, waves_median=4.0)
    text = " ".join(results_paragraphs(v))
    assert "did not favour the random-slope model" in text
    assert "both AIC and BIC were lower for the random-intercept model." in text
    assert "decreased by 1.50 points per unit of time (b = -1.50" in text
    assert "The fit was singular" in text and "(gradient too large)" in text
    assert "3 rows with a missing value were left out" in text and "3 to 5 waves, median 4" in text


def test_without_optional_parts():
    v = copy.deepcopy(VALUES)
    v.update(lrt=None, r2=None, icc=None, share_positive=None, ddf="none")
    v["fixed"] = [dict(v["fixed"][0], df=float("inf"))]
    v["slope_term"] = None
    v["random"] = {"sds": [v["random"]["sds"][0]], "cors": [], "sigma": 5.0, "residual_variance": 25.0}
    text = " ".join(results_paragraphs(v))
    assert "likelihood-ratio" not in text and "R²" not in text and "ICC" not in text
    assert "z = 69.75" in text
    assert "The average level at the reference point was 50.31" in text


def test_other_terms_and_uncorrelated():
    v = copy.deepcopy(VALUES)
    v["fixed"].append({"term": "group[T.b]", "estimate": 3.2, "std_error": 1.1, "df": 198.0, "t_value": 2.9,
                       "p_value": 0.004, "conf_low": 1.04, "conf_high": 5.36})
    v["random"]["cors"][0]["r"] = 0.03
    text = " ".join(results_paragraphs(v))
    assert "The fixed effect of group[T.b] was b = 3.20 (SE = 1.10, 95% CI [1.04, 5.36], t(198.0) = 2.90, " \
           "p = .004)." in text
    assert "close to zero" in text


def test_wrap_keeps_statistics_whole():
    lines = wrap("x " * 40 + "(SE = 0.72, 95% CI [48.90, 51.73], p < .001)", width=30)
    joined = "\n".join(lines)
    assert "p < .001" in joined and "SE = 0.72" in joined and "CI [48.90, 51.73]" in joined


def test_text_and_markdown_documents():
    import pandas as pd

    txt = summary_text(VALUES, width=80, model_summary="SUMMARY")
    assert txt.startswith("Test\n====") and txt.rstrip().endswith("SUMMARY")
    assert max(len(line) for line in txt.splitlines()) <= 80
    tables = {"fixed_effects": pd.DataFrame(VALUES["fixed"])}
    md = summary_markdown(VALUES, tables, {"Spaghetti": "spaghetti.png"})
    assert "| term | estimate | SE | df | t | p | CI low | CI high |" in md
    assert "| (Intercept) | 50.31 | 0.72 | 199.0 | 69.75 | < .001 | 48.90 | 51.73 |" in md
    assert "![Spaghetti](spaghetti.png)" in md


@pytest.mark.parametrize("rows", [[{"a": "x|y", "b": None}], []])
def test_markdown_table_edge_cases(rows):
    out = markdown_table(rows, columns=["a", "b"])
    assert out.splitlines()[0] == "| a | b |"
