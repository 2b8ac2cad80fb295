"""GlmerResult.predict(se_fit=, interval=) against R (tests/reference/glmm_predict.json, make_glmm_predict.R).

lme4 1.1-31 ignores se.fit for glmer, so the script computes the references from the fit's pieces: x'Vx at the
population level (emmeans' and insight's numbers, cross-checked there), and the joint covariance of the fixed and
random estimates from the final PIRLS system for conditional predictions.  R's tight fits (started at the
reference optimum) and ours agree to ~1e-6 in theta, which moves the SEs by up to ~2e-5 relative and the
conditional modes, on the flat contraception cloglog optimum, by up to 3.4e-6 on the link scale: SEs are compared
at rtol 1e-4, predictions and interval ends at rtol 1e-5 / 1e-4 with atol 1e-5 (a link-scale difference of 1e-5).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from tests.glmm_fits import REF, case, fit, reference_json

PRED = reference_json("glmm_predict.json")
NAMES = sorted(PRED)
RE_FORMS = {"population": "~0", "conditional": None}


def rows_of(name: str) -> pd.DataFrame:
    c = case(name)
    df = pd.read_csv(REF / "data" / Path(c["data"]).name)
    for f in c.get("factors") or []:
        df[f] = df[f].astype(str)
    return df.iloc[PRED[name]["rows"]]


def test_cases_kept() -> None:
    assert set(NAMES) >= {"cbpp_logit", "contraception_cloglog", "grouseticks_poisson", "binary_growth_rs",
                          "owls_offset"}


@pytest.mark.parametrize("part", ["population", "conditional"])
@pytest.mark.parametrize("type_", ["link", "response"])
@pytest.mark.parametrize("name", NAMES)
def test_se_and_confidence_interval_match_r(name: str, type_: str, part: str) -> None:
    g, want = fit(name), PRED[name][part]
    out = g.predict(rows_of(name), re_form=RE_FORMS[part], type=type_, interval="confidence")
    assert list(out.columns) == ["fit", "lower", "upper", "se_fit"]
    np.testing.assert_allclose(out["fit"], want[type_], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["se_fit"], want[f"se_{type_}"], rtol=1e-4)
    np.testing.assert_allclose(out["lower"], want[f"lower_{type_}"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["upper"], want[f"upper_{type_}"], rtol=1e-4, atol=1e-5)
    # se_fit alone: the same fit and SE, no interval columns
    se = g.predict(rows_of(name), re_form=RE_FORMS[part], type=type_, se_fit=True)
    assert list(se.columns) == ["fit", "se_fit"]
    np.testing.assert_allclose(se.to_numpy(), out[["fit", "se_fit"]].to_numpy())


@pytest.mark.parametrize("name", NAMES)
def test_conditional_se_close_to_lme4_rx_variant(name: str) -> None:
    """lme4 >= 1.1-35 puts the RX-based fixed-effects block where we use vcov: within 0.5 % on these cases."""
    out = fit(name).predict(rows_of(name), se_fit=True)
    np.testing.assert_allclose(out["se_fit"], PRED[name]["se_cond_rx"], rtol=5e-3)


def test_level_and_fitted_rows() -> None:
    g, rec = fit("cbpp_logit"), PRED["cbpp_logit"]
    out = g.predict(rows_of("cbpp_logit"), re_form="~0", interval="confidence", level=0.90)
    np.testing.assert_allclose(out["lower"], rec["level90_lower_link"], rtol=1e-4)
    allrows = g.predict(se_fit=True, type="response")  # newdata=None: the fitted rows
    assert allrows.index.equals(g.data.index)
    np.testing.assert_allclose(allrows["fit"], g.fitted, rtol=1e-12)
    np.testing.assert_allclose(allrows["se_fit"].iloc[rec["rows"]], rec["conditional"]["se_response"], rtol=1e-4)


def test_population_matches_emmeans_and_insight() -> None:
    g, rec = fit("cbpp_logit"), PRED["cbpp_logit"]
    grid = pd.DataFrame({"period": rec["emmeans"]["period"]})
    out = g.predict(grid, re_form="~0", type="response", interval="confidence")
    np.testing.assert_allclose(out["fit"], rec["emmeans"]["prob"], rtol=1e-5)
    np.testing.assert_allclose(out["se_fit"], rec["emmeans"]["se"], rtol=1e-4)
    np.testing.assert_allclose(out["lower"], rec["emmeans"]["lower"], rtol=1e-4)
    np.testing.assert_allclose(out["upper"], rec["emmeans"]["upper"], rtol=1e-4)
    ins = g.predict(rows_of("cbpp_logit"), re_form="~0", type="response", interval="confidence")
    np.testing.assert_allclose(ins["lower"], rec["insight"]["lower"], rtol=1e-4)
    np.testing.assert_allclose(ins["upper"], rec["insight"]["upper"], rtol=1e-4)


def test_new_level_adds_its_variance() -> None:
    g, rec = fit("cbpp_logit"), PRED["cbpp_logit"]["new_level"]
    nd = pd.DataFrame({"herd": ["new"], "period": ["2"], "incidence": [0], "size": [10]})
    out = g.predict(nd, allow_new_levels=True, se_fit=True)
    np.testing.assert_allclose(out["fit"], rec["link"], rtol=1e-5)
    np.testing.assert_allclose(out["se_fit"], rec["se_link"], rtol=1e-4)
    with pytest.raises(lf.DataError, match="allow_new_levels=True"):
        g.predict(nd, se_fit=True)


def test_response_interval_inside_the_support() -> None:
    g = fit("cbpp_logit")
    out = g.predict(type="response", interval="confidence", level=0.999)
    assert ((out["lower"] > 0) & (out["upper"] < 1) & (out["lower"] < out["fit"]) & (out["fit"] < out["upper"])).all()


def test_missing_rows_padded() -> None:
    g = fit("cbpp_logit")
    nd = rows_of("cbpp_logit").head(3).copy()
    nd["period"] = nd["period"].astype(object)
    nd.iloc[1, nd.columns.get_loc("period")] = None
    out = g.predict(nd, re_form="~0", se_fit=True)
    assert out.index.equals(nd.index) and out.iloc[1].isna().all() and out.drop(out.index[1]).notna().all().all()
    assert len(g.predict(nd, re_form="~0", se_fit=True, na_action="na.omit")) == 2


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"interval": "prediction"}, "simulate"),
    ({"interval": "tolerance"}, "use 'confidence'"),
    ({"se_fit": True, "level": 1.5}, "strictly between 0 and 1"),
    ({"se_fit": True, "type": "terms"}, "use 'link'"),
])
def test_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit("cbpp_logit").predict(**kwargs)


def test_result_is_a_value() -> None:
    g = fit("cbpp_logit")
    out = g.predict(se_fit=True)
    out.iloc[0, 0] = 99.0
    assert g.predict(se_fit=True).iloc[0, 0] != 99.0


def test_lmm_predict_interval_refuses_a_glmm() -> None:
    from lmmflow.inference.prediction import predict_interval

    with pytest.raises(TypeError, match="se_fit=True"):
        predict_interval(fit("cbpp_logit"))
