"""Ported from lme4's tests/testthat/test-predict.R (lme4 master 32b5bfd): the LMM expectations that pass today.

lme4's fits (inst/testdata/lme-tst-fits.R): fm1 = Reaction ~ Days + (1|Subject), fm2 = Reaction ~ Days +
(Days|Subject), fm3 = diameter ~ (1|plate) + (1|sample) (Penicillin), fm4 = angle ~ temp + recipe + (1|replicate)
(cake). re.form=NA is lmmflow's re_form="~0". Expectations with re.form formulas, se.fit and "." are in
test_lme4_predict_more.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf

from ._data import all_equal, load


@pytest.fixture(scope="module")
def fm1():
    return lf.lmer("Reaction ~ Days + (1|Subject)", load("sleepstudy"))


@pytest.fixture(scope="module")
def fm2():
    return lf.lmer("Reaction ~ Days + (Days|Subject)", load("sleepstudy"))


@pytest.fixture(scope="module")
def fm3():
    return lf.lmer("diameter ~ (1|plate) + (1|sample)", load("penicillin"))


def test_multi_group_fitted(fm3):
    """test-predict.R:105-117: fitted values of the crossed model; population prediction constant 22.9722222222251."""
    p0 = fm3.predict()
    assert all_equal([25.9638, 22.7663, 25.7147, 23.6799, 23.7629, 20.773], np.round(p0.to_numpy()[:6], 4))
    p1 = fm3.predict(re_form="~0")
    uniq = np.unique(np.round(p1.to_numpy(), 8))
    assert len(uniq) == 1
    assert all_equal([22.9722222222251], p1.to_numpy()[:1])


def test_multi_group_new_data_population(fm3):
    """test-predict.R:119-125: expand.grid(plate, sample): all-RE and level-0 predictions exist for all 144 rows."""
    pen = load("penicillin")
    newdata = pd.DataFrame([(p, s) for s in pen["sample"].unique() for p in pen["plate"].unique()],
                           columns=["plate", "sample"])
    p2 = fm3.predict(newdata)
    p3 = fm3.predict(newdata, re_form="~0")
    assert len(p2) == len(p3) == 144
    assert np.allclose(p3, 22.9722222222251, rtol=1e-10)
    # the all-RE prediction of an observed (plate, sample) pair equals the fitted value of that row
    merged = newdata.assign(p2=p2.to_numpy()).merge(pen.assign(fit=fm3.fitted.to_numpy()), on=["plate", "sample"])
    assert merged["p2"].to_numpy() == pytest.approx(merged["fit"].to_numpy(), rel=1e-12)


def test_random_slopes_reference_values(fm2):
    """test-predict.R:137-168: p2 (all RE) and p3 (re.form=NA) at Days 0 and 9 of subjects 308, 309, 310."""
    ss = load("sleepstudy")
    newdata = pd.DataFrame([(d, s) for s in ss["Subject"].unique() for d in (0, 9)], columns=["Days", "Subject"])
    p2 = fm2.predict(newdata).to_numpy()[:6]
    p3 = fm2.predict(newdata, re_form="~0").to_numpy()[:6]
    assert all_equal([253.663652396798, 430.66001930835, 211.006415533628, 227.634788908917, 212.444742696829,
                      257.61053840953], p2, tolerance=5e-7)
    assert all_equal([251.405104848485, 345.610678484848] * 3, p3, tolerance=5e-7)


def test_predict_random_slopes_on_data(fm2):
    """test-predict.R:171-179: predict(fm2, sleepstudy) and with re.form=NA, rounded to 3 digits."""
    ss = load("sleepstudy")
    assert np.round(fm2.predict(ss).to_numpy()[:6], 3).tolist() == [253.664, 273.33, 292.996, 312.662, 332.329,
                                                                    351.995]
    assert np.round(fm2.predict(ss, re_form="~0").to_numpy()[:6], 3).tolist() == [251.405, 261.872, 272.34,
                                                                                  282.807, 293.274, 303.742]


def test_fewer_levels_than_original(fm1):
    """test-predict.R:187-210: cake rows without replicate 1 (re.form=NA); repeated subjects; one subject."""
    cake = load("cake")
    fm4 = lf.lmer("angle ~ temp + recipe + (1 | replicate)", cake)
    p = fm4.predict(cake.iloc[18:], re_form="~0")
    assert len(p) == len(cake) - 18
    p0 = fm1.predict(pd.DataFrame({"Days": 6, "Subject": ["308", "309"]}))
    p1 = fm1.predict(pd.DataFrame({"Days": [6] * 4, "Subject": ["308", "309"] * 2}))
    assert np.tile(p0.to_numpy(), 2) == pytest.approx(p1.to_numpy(), rel=1e-14)
    p2 = fm1.predict(pd.DataFrame({"Days": [6], "Subject": ["308"]}))
    levels = sorted(load("sleepstudy")["Subject"].unique())
    nd = pd.DataFrame({"Days": [6], "Subject": pd.Categorical(["308"], categories=levels)})
    p3 = fm1.predict(nd)
    assert p2.to_numpy() == pytest.approx(p3.to_numpy(), rel=1e-14)
    assert p2.to_numpy()[0] == pytest.approx(p0.to_numpy()[0], rel=1e-14)


def test_cake_re_form_subset():
    """test-predict.R:194-197: cake rows without replicate 1 with re.form=~(1|replicate): a new level is an error
    unless allow.new.levels=TRUE.
    (lme4's test only runs these calls; a new level with allow_new_levels=False is an error naming the factor.)
    """
    cake = load("cake")
    fm4 = lf.lmer("angle ~ temp + recipe + (1 | replicate)", cake)
    fm4.predict(cake.iloc[17:], re_form="~(1 | replicate)")
    with pytest.raises(ValueError, match="replicate"):
        fm4.predict(pd.DataFrame({"temp": [175], "recipe": ["A"], "replicate": ["99"]}), re_form="~(1 | replicate)",
                    allow_new_levels=False)
    assert len(fm4.predict(cake.iloc[18:], re_form="~(1 | replicate)", allow_new_levels=True)) == len(cake) - 18


def test_new_level_with_allow_new_levels_is_population_prediction():
    """test-predict.R:649-656: a new subject "373" with allow.new.levels=TRUE: fit = fixed part exactly."""
    lm1 = lf.lmer("Reaction ~ Days + (1 + Days | Subject)", load("sleepstudy"))
    pred = lm1.predict(pd.DataFrame({"Days": [0], "Subject": ["373"]}), allow_new_levels=True)
    assert pred.to_numpy()[0] == pytest.approx(lm1.fixef["(Intercept)"], rel=1e-15)


def test_predict_data_equals_fitted_many_levels():
    """test-predict.R:394-407: (1|f) with 101 levels: predict(m1) and predict(m1, newdata = dd) are identical."""
    rng = np.random.default_rng(101)
    dd = pd.DataFrame([(f, r1, r2) for r2 in (1, 2) for r1 in ("1", "2") for f in range(1, 102)],
                      columns=["f", "rep1", "rep2"]).astype({"f": str})
    dd["y"] = 1 + rng.normal(size=101)[dd.index % 101] + rng.normal(size=len(dd))
    m1 = lf.lmer("y ~ 1 + (1|f)", dd)
    assert m1.predict().to_numpy() == pytest.approx(m1.predict(dd).to_numpy(), rel=1e-13)


def test_leftout_data_fits():
    """test-predict.R:493-500: the data of "factors in left-out REs" fit (with R's rows); the re.form part pends."""
    with pytest.warns(lf.SingularFitWarning):
        m1B = lf.lmer("yield ~ 1 + ( 1 | g1) + (lc |g3)", load("predict_leftout"))
    assert len(m1B.theta) == 4
