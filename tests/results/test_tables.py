"""broom.mixed-style tables: tidy(effects="fixed") intervals use the df of the p-values beside them.

R values: tests/reference/make_inference.R (lmerTest's contest1D(confint = TRUE) per coefficient, which is
what broom.mixed's tidy(conf.int = TRUE) prints for a lmerTest fit)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmmflow as lf

REF = json.loads((Path(__file__).parents[1] / "reference" / "inference.json").read_text())
HERE = Path(__file__).parents[1] / "reference"


def _fit(name: str) -> lf.LmerResult:
    case = REF["models"][name]
    d = pd.read_csv(HERE / case["data"])
    for col in case["factors"]:
        d[col] = d[col].astype(str)
    return lf.lmer(case["formula"], d, quiet=True)


def _norm(t: str) -> str:
    return t.replace("[T.", "").replace("]", "")


@pytest.fixture(scope="module", params=sorted(REF["models"]))
def case(request: pytest.FixtureRequest) -> tuple[str, lf.LmerResult]:
    return request.param, _fit(request.param)


@pytest.mark.parametrize("ddf, key", [("satterthwaite", "satterthwaite"), ("kenward-roger", "kenward_roger")])
@pytest.mark.parametrize("level", [0.95, 0.9])
def test_tidy_intervals_use_the_p_values_df(case: tuple[str, lf.LmerResult], ddf: str, key: str,
                                            level: float) -> None:
    name, m = case
    want = REF["models"][name]["tidy"][key][str(level)]
    t = lf.tidy(m, effects="fixed", conf_int=True, conf_level=level, ddf=ddf)
    assert [_norm(x) for x in t["term"]] == [_norm(x) for x in want["term"]]
    for col in ("estimate", "std_error", "df", "p_value", "conf_low", "conf_high"):
        np.testing.assert_allclose(t[col].to_numpy(dtype=float), np.asarray(want[col], dtype=float), rtol=1e-4,
                                   atol=1e-6, err_msg=f"{name} {ddf} {col}")
    np.testing.assert_allclose(t["statistic"], want["t_value"], rtol=1e-4)
    # the same df as the p-value: the interval excludes 0 exactly when p < 1 - level
    excludes = (t["conf_low"] > 0) | (t["conf_high"] < 0)
    np.testing.assert_array_equal(excludes.to_numpy(), (t["p_value"] < 1 - level).to_numpy())


def test_tidy_columns_are_broom_mixeds(sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    t = lf.tidy(m, conf_int=True)
    assert list(t.columns) == ["effect", "group", "term", "estimate", "std_error", "statistic", "df", "p_value",
                               "conf_low", "conf_high"]
    both = lf.tidy(m, effects=["ran_pars", "fixed"])
    assert list(both["effect"]) == ["ran_pars"] * 4 + ["fixed"] * 2
    assert both["group"].iloc[:4].tolist() == ["Subject", "Subject", "Subject", "Residual"]


def test_tidy_normal_intervals_on_request(sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    t = lf.tidy(m, conf_int=True, ddf="normal")
    assert np.isinf(t["df"]).all()
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(t["conf_high"] - t["estimate"], z * t["std_error"], rtol=1e-12)
    w = m.confint(method="wald", parm="beta_")
    np.testing.assert_allclose(t[["conf_low", "conf_high"]].to_numpy(), w.to_numpy(), rtol=1e-10)
    with pytest.raises(ValueError, match="conf_level"):
        lf.tidy(m, conf_int=True, conf_level=95)
