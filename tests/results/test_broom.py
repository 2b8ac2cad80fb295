"""glance and augment against broom.mixed (tests/reference/make_influence.R) and their definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf

from ..diagnostics.test_influence import CASES, IDS, at_theta, case_data, fit

GLANCE = {"nobs": "nobs", "sigma": "sigma", "loglik": "logLik", "aic": "AIC", "bic": "BIC", "deviance": "deviance",
          "reml_crit": "REMLcrit", "df_residual": "df.residual"}


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_glance_against_broom_mixed(c: dict) -> None:
    g = lf.glance(fit(c))
    assert g.shape == (1, 7)
    assert [GLANCE[k] for k in g.columns] == list(c["glance"])
    for k, v in g.iloc[0].items():
        assert v == pytest.approx(c["glance"][GLANCE[k]], rel=1e-6), k


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_augment_against_broom_mixed(c: dict) -> None:
    m = at_theta(fit(c), c["theta"])
    a = lf.augment(m)
    assert list(a.columns[:len(m.data.columns)]) == list(m.data.columns)
    for col, want in c["augment"].items():
        np.testing.assert_allclose(a[col].to_numpy(), want, rtol=1e-5, atol=1e-8 * np.max(np.abs(want)), err_msg=col)
    np.testing.assert_allclose(a[".mu"], a[".fitted"])
    assert (a[".sqrtXwt"] == 1.0).all()


def test_augment_with_data_keeps_all_rows() -> None:
    d = lf.load_dataset("sleepstudy")
    d.loc[[3, 50], "Reaction"] = np.nan
    d["note"] = "x"
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", d, quiet=True)
    a = lf.augment(m, data=d)
    assert len(a) == 180 and a["note"].eq("x").all()
    assert a.loc[[3, 50], ".fitted"].isna().all() and a[".hat"].notna().sum() == 178
    np.testing.assert_allclose(a[".fitted"].dropna().to_numpy(), m.fitted.to_numpy())
    assert ".fitted" not in d.columns  # the input is not modified
    with pytest.raises(ValueError, match="does not hold"):
        lf.augment(m, data=d.iloc[:10])
    with pytest.raises(ValueError, match="not both"):
        lf.augment(m, data=d, newdata=d)


def test_augment_newdata() -> None:
    d = lf.load_dataset("sleepstudy")
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", d)
    new = pd.DataFrame({"Days": [0, 5], "Subject": ["308", "new"], "Reaction": [250.0, 300.0]})
    a = lf.augment(m, newdata=new)
    np.testing.assert_allclose(a[".fitted"], m.predict(new, allow_new_levels=True).to_numpy())
    np.testing.assert_allclose(a[".fixed"], m.predict(new, re_form="~0").to_numpy())
    np.testing.assert_allclose(a[".resid"], new["Reaction"] - a[".fitted"])
    assert list(new.columns) == ["Days", "Subject", "Reaction"]


def test_augment_offset_and_weights() -> None:
    d = case_data({"data": "sleepstudy"})
    d["off"] = 2.0 * d["Days"]
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", d, weights="w", offset="off")
    a = lf.augment(m)
    np.testing.assert_allclose(a[".offset"], d["off"])
    np.testing.assert_allclose(a[".fixed"], m.predict(re_form="~0").to_numpy())
    np.testing.assert_allclose(a[".wtres"], np.sqrt(d["w"]) * a[".resid"])
    np.testing.assert_allclose(a[".fitted"] + a[".resid"], d["Reaction"])
