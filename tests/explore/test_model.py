"""Reading a fitted model into the explorer, through fixef, sigma, varcorr, coef, formula and data only."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from lmmflow.explore import explorer_html, explorer_inputs, write_explorer

from ._helpers import fake_growth_model


def embedded(page: str) -> dict:
    return json.loads(re.search(r'<script id="lmm-data" type="application/json">(.*?)</script>', page, re.S).group(1))


def test_params_from_fake_model(fake_model):
    params, units = explorer_inputs(fake_model)
    assert params["gamma00"] == 40.0 and params["gamma10"] == 1.5
    assert params["tau00"] == 64.0 and params["tau11"] == 0.81 and params["rho"] == 0.3
    assert params["sigma"] == 4.0
    assert params["n_units"] == 25 and params["times"] == [0, 1, 2, 3, 4] and params["n_waves"] == 5
    assert params["time_label"] == "time" and params["unit_label"] == "id" and params["response_label"] == "y"
    assert params["formula"] == "y ~ time + (1 + time | id)"
    assert list(units.columns) == ["unit", "time", "y", "intercept", "slope"]
    assert len(units) == len(fake_model.data)
    first = units[units["unit"] == "01"]
    assert first["intercept"].nunique() == 1
    assert first["intercept"].iloc[0] == pytest.approx(fake_model.coef["id"].loc["01", "(Intercept)"])
    assert first["slope"].iloc[0] == pytest.approx(fake_model.coef["id"].loc["01", "time"])
    np.testing.assert_allclose(first["y"], fake_model.data.loc[fake_model.data["id"] == "01", "y"])


def test_page_from_fake_model(fake_model, tmp_path):
    out = write_explorer(tmp_path / "m.html", fake_model, params={"n_units": 50, "intercept": 41.0})
    page = out.read_text(encoding="utf-8")
    data = embedded(page)
    assert data["source"] == "model"
    assert data["params"]["tau00"] == 64.0 and data["params"]["n_units"] == 50 and data["params"]["gamma00"] == 41.0
    assert data["formula"] == "y ~ time + (1 + time | id)"
    assert len(data["units"]) == 25
    u = data["units"][0]
    assert set(u) == {"id", "t", "y", "b0", "b1"} and u["t"] == [0, 1, 2, 3, 4]
    assert 'id="toggle-model"' in page and 'id="pool-source"' in page
    assert "http://" not in page and "https://" not in page


def test_inference_with_other_names_and_explicit_arguments():
    m = fake_growth_model(unit="person", time="month", response="score", times=[0, 1, 3, 6, 12])
    params, units = explorer_inputs(m)
    assert params["time_label"] == "month" and params["unit_label"] == "person"
    assert params["times"] == [0, 1, 3, 6, 12]
    m2 = fake_growth_model(formula="y ~ 1 + time + (1 | id)")  # random intercept only: time from fixef
    params2, _ = explorer_inputs(m2)
    assert params2["time_label"] == "time"
    with pytest.raises(ValueError, match="not a grouping factor"):
        explorer_inputs(m, unit="nope")
    with pytest.raises(ValueError, match="'nope' is not in the model's data"):
        explorer_inputs(m, time="nope")


def test_random_intercept_model_has_no_slope_variance():
    m = fake_growth_model(formula="y ~ time + (1 | id)")
    m.varcorr = m.varcorr.iloc[[0, 3]].reset_index(drop=True)
    m.coef = {"id": m.coef["id"][["(Intercept)"]].assign(time=1.5)}
    params, units = explorer_inputs(m)
    assert params["tau11"] == 0.0 and params["rho"] == 0.0
    assert (units["slope"] == 1.5).all()
    assert embedded(explorer_html(params, units))["params"]["rho"] == 0.0


def test_uncorrelated_terms_named_like_lme4():
    m = fake_growth_model(formula="y ~ time + (1 + time || id)")
    vc = m.varcorr.iloc[[0, 1, 3]].reset_index(drop=True)
    vc.loc[1, "group"] = "id.1"
    m.varcorr = vc
    params, _ = explorer_inputs(m)
    assert params["tau00"] == 64.0 and params["tau11"] == 0.81 and params["rho"] == 0.0


def test_ambiguous_unit_needs_an_argument():
    m = fake_growth_model(formula="y ~ time + (1 | site) + (1 | id)")
    m.coef = {"id": m.coef["id"], "site": pd.DataFrame({"(Intercept)": [1.0]}, index=["s1"])}
    with pytest.raises(ValueError, match="pass unit="):
        explorer_inputs(m)
    with pytest.warns(UserWarning, match=r"random effects of \['site'\]"):
        params, _ = explorer_inputs(m, unit="id", time="time")
    assert params["unit_label"] == "id"


def test_time_needs_an_argument_when_unclear():
    m = fake_growth_model(formula="y ~ time + age + (1 | id)")
    m.data = m.data.assign(age=30.0)
    m.fixef = pd.concat([m.fixef, pd.Series({"age": 0.2})])
    with pytest.raises(ValueError, match="pass time="):
        explorer_inputs(m)
    with pytest.warns(UserWarning, match=r"fixed effects \['age'\]"):
        explorer_inputs(m, time="time")


def test_non_numeric_time_is_refused():
    m = fake_growth_model()
    m.data = m.data.assign(time=m.data["time"].astype(str))
    with pytest.raises(ValueError, match="must be numeric"):
        explorer_inputs(m)


def test_transformed_response_and_many_units_and_times():
    m = fake_growth_model(n_units=500, times=list(range(20)), formula="log(y) ~ time + (1 + time | id)")
    params, units = explorer_inputs(m, max_units=40)
    assert units["unit"].nunique() == 40
    assert units["y"].isna().all()  # 'log(y)' is not a column
    assert params["response_label"] == "log(y)"
    assert params["times"] == pytest.approx(list(np.linspace(0, 19, 9)))
    assert params["n_units"] == 500
    kept = list(pd.unique(units["unit"]))
    assert kept == sorted(kept)  # sample keeps data order
    again, units2 = explorer_inputs(m, max_units=40)
    assert list(pd.unique(units2["unit"])) == kept  # seeded
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        page = explorer_html(params, units)
    assert len(embedded(page)["units"]) == 40


def test_real_model_round_trip():
    import lmmflow as lf

    m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    params, units = explorer_inputs(m)
    assert params["gamma00"] == pytest.approx(m.fixef["(Intercept)"])
    assert params["gamma10"] == pytest.approx(m.fixef["Days"])
    vc = m.varcorr
    assert params["tau00"] == pytest.approx(vc.loc[(vc["group"] == "Subject") & (vc["var1"] == "(Intercept)")
                                                   & vc["var2"].isna(), "vcov"].item())
    assert params["rho"] == pytest.approx(vc.loc[vc["var2"] == "Days", "sdcor"].item())
    assert params["sigma"] == pytest.approx(m.sigma)
    assert params["time_label"] == "Days" and params["unit_label"] == "Subject"
    assert params["response_label"] == "Reaction"
    assert units["unit"].nunique() == 18 and len(units) == 180
    cf = m.coef["Subject"]
    one = units.groupby("unit").first()
    np.testing.assert_allclose(one.loc[cf.index.astype(str), "slope"], cf["Days"])
