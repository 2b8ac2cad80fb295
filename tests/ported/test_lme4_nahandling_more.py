"""Ports of lme4's tests/testthat/test-NAhandling.R expectations that FAIL on current lmmflow.

Not collected (file name). They wait for issue 11 item 2 (na_action for fits and predict, NaN groups in newdata,
simulate(newdata=)) and item 4 (refit() with a full-length response). Each test says why it fails now.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf

from ._data import load


def _sleep_na():
    sa = load("sleepstudy")
    sa.index = [f"a{i + 1}" for i in range(len(sa))]
    na = sa.copy()
    na.iloc[:3, na.columns.get_loc("Reaction")] = np.nan
    return sa, na


def test_predict_na_exclude_length():
    """test-NAhandling.R:29-32: predict(fm2, na.action=na.exclude) has 180 values; the non-NA ones are predict(fm2).
    """
    _, na = _sleep_na()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.DroppedRowsWarning)
        fm2 = lf.lmer("Reaction~Days+(Days|Subject)", na)
    p1 = fm2.predict()
    p2 = fm2.predict(na_action="na.exclude")
    assert len(p2) == 180
    assert p2.dropna().to_numpy() == pytest.approx(p1.to_numpy())


def test_refit_full_length_response_with_na():
    """test-NAhandling.R:41-42: refit(fm2, sleepstudyNA$Reaction) (180 values, 3 NA) gives fm2's fixef.
    """
    _, na = _sleep_na()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.DroppedRowsWarning)
        fm2 = lf.lmer("Reaction~Days+(Days|Subject)", na)
    assert fm2.refit(na["Reaction"]).fixef.to_numpy() == pytest.approx(fm2.fixef.to_numpy(), rel=1e-5)


def test_simulate_na_exclude_and_newdata():
    """test-NAhandling.R:43-50: with na.exclude simulate has 180 rows; simulate(fm1, newdata=d2 (36 subjects),
    allow.new.levels=TRUE) has 360 rows.
    """
    sa, na = _sleep_na()
    fm2ex = lf.lmer("Reaction~Days+(Days|Subject)", na, na_action="na.exclude")
    assert len(fm2ex.simulate(1, seed=1)) == 180
    fm1 = lf.lmer("Reaction~Days+(Days|Subject)", sa)
    d2 = pd.concat([na, na], ignore_index=True)
    d2["Subject"] = np.repeat(np.arange(1, 37), 10).astype(str)
    assert fm1.simulate(1, seed=1, newdata=d2, allow_new_levels=True).shape == (360, 1)


def test_na_pass_and_na_fail_fits():
    """test-NAhandling.R:53-60, 81-89, 159-160: na.pass with NA response/predictor is an error; na.fail an error;
    na.exclude pads fitted values with NA (271), na.omit does not (270).
    """
    sa, na = _sleep_na()
    with pytest.raises(ValueError, match="Reaction"):
        lf.lmer("Reaction~Days+(Days|Subject)", na, na_action="na.pass")
    with pytest.raises(ValueError, match="Reaction"):
        lf.lmer("Reaction~Days+(Days|Subject)", na, na_action="na.fail")
    cake = load("cake")
    cna = pd.concat([cake, cake.tail(1)], ignore_index=True)
    cna.loc[len(cna) - 1, "angle"] = np.nan
    f_omit = lf.lmer("angle ~ recipe * temperature + (1|recipe:replicate)", cna, na_action="na.omit")
    f_excl = lf.lmer("angle ~ recipe * temperature + (1|recipe:replicate)", cna, na_action="na.exclude")
    assert len(f_omit.fitted) == 270
    assert len(f_excl.fitted) == 271
    assert np.isnan(f_excl.predict().iloc[-1])


def test_predict_newdata_na_actions():
    """test-NAhandling.R:98-126: NA temp in newdata rows 1-5: na.pass gives NA there, na.omit drops them, na.exclude
    pads, na.fail is an error (population and conditional predictions).
    """
    cake = load("cake")
    m = lf.lmer("angle ~ temp + (1 | recipe) + (1 | replicate)", cake)
    x = cake.copy()
    x.loc[:4, "temp"] = np.nan
    for re_form in ("~0", None):
        p_pass = m.predict(x, re_form=re_form, na_action="na.pass")
        assert len(p_pass) == len(x) and p_pass.iloc[:5].isna().all()
        p_omit = m.predict(x, re_form=re_form, na_action="na.omit")
        p_excl = m.predict(x, re_form=re_form, na_action="na.exclude")
        assert len(p_omit) == len(x) - 5 and len(p_excl) == len(x)
        assert p_excl.dropna().to_numpy() == pytest.approx(p_omit.to_numpy())
        with pytest.raises(lf.DataError, match="temp"):
            m.predict(x, re_form=re_form, na_action="na.fail")


def test_predict_na_group_in_newdata():
    """test-NAhandling.R:129-136: NA replicate in newdata rows 1-5 is an error ("NAs are not allowed in prediction
    data"); with allow.new.levels those rows get the population part of that term (= re.form=~1|recipe).
    """
    cake = load("cake")
    m = lf.lmer("angle ~ temp + (1 | recipe) + (1 | replicate)", cake)
    z = cake.copy()
    z["replicate"] = z["replicate"].astype(object)
    z.loc[:4, "replicate"] = np.nan
    with pytest.raises(lf.DataError, match="replicate"):
        m.predict(z, allow_new_levels=False)
    p4 = m.predict(z, allow_new_levels=True)
    p4b = m.predict(z, re_form="~(1|recipe)", allow_new_levels=True)
    assert p4.to_numpy()[:5] == pytest.approx(p4b.to_numpy()[:5])


def test_na_exclude_fit_predict_residuals():
    """test-NAhandling.R:154-158: na.exclude fit: predict and residuals have NA at the 3 rows with NA x.
    """
    rng = np.random.default_rng(101)
    d = pd.DataFrame({"x": rng.uniform(size=100), "f": np.tile(np.arange(1, 11), 10).astype(str)})
    d["y"] = 1 + 2 * d["x"] + rng.normal(size=10)[d["f"].astype(int) - 1] + rng.normal(0, 0.2, 100)
    d.loc[[2, 4, 6], "x"] = np.nan
    fm2 = lf.lmer("y~x+(1|f)", d, na_action="na.exclude")
    assert fm2.predict().isna().sum() == 3
    assert fm2.residuals.isna().sum() == 3
