"""The vectorised Satterthwaite t tests equal lmmflow's analytic ones (which equal lmerTest's)."""

import warnings

import numpy as np
import pytest

import lmmflow as lf
from lmmflow.api import _cross_products
from lmmflow.planning.fast import satterthwaite_many
from lmmflow.scale.single_term import SingleTermProfile


def _data():
    df = lf.simulate_growth(n_units=25, seed=7)
    rng = np.random.default_rng(1)
    df["x"] = rng.normal(size=len(df))
    df["y2"] = df["y"] + rng.normal(0, 3, len(df))
    return df


@pytest.mark.parametrize("formula, reml", [
    ("y ~ time + (1 + time | id)", True),
    ("weighted y ~ time + (1 + time | id)", True),
    ("y ~ time + (1 + time | id)", False),
    ("y ~ time + x + (1 | id)", True),
    ("y ~ time + (1 + time + x | id)", True),  # three random effects: the general branch
    ("y ~ time + (1 + time || id)", True),
])
def test_equals_analytic_satterthwaite(formula, reml):
    df = _data()
    kw = {}
    if formula.startswith("weighted "):
        formula = formula.removeprefix("weighted ")
        kw = {"weights": np.random.default_rng(2).uniform(0.5, 2.0, len(df))}
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for col in ("y", "y2"):
            fits.append(lf.lmer(formula.replace("y ~", f"{col} ~", 1), df, reml=reml, **kw))
    d = fits[0].design
    prof = SingleTermProfile(_cross_products(d), d.X, reml=reml)
    prof.set_responses(np.column_stack([m.design.y for m in fits]))
    theta = np.array([m.theta for m in fits])
    sigma = np.array([m.sigma for m in fits])
    beta = np.array([m.fixef.to_numpy() for m in fits])
    for j, name in enumerate(d.fixed.names):
        out = satterthwaite_many(prof, theta, sigma, beta, j)
        for r, m in enumerate(fits):
            ct = m.coef_table().loc[name]
            assert out["df"][r] == pytest.approx(ct.df, rel=1e-6), (name, r)
            assert out["t"][r] == pytest.approx(ct.t_value, rel=1e-9)
            assert out["p"][r] == pytest.approx(ct.p_value, rel=1e-6)


def test_failed_fits_give_nan():
    df = _data()
    m = lf.lmer("y ~ time + (1 | id)", df)
    prof = SingleTermProfile(_cross_products(m.design), m.design.X, reml=True)
    prof.set_responses(np.column_stack([m.design.y, m.design.y]))
    theta = np.array([m.theta, [np.nan]])
    out = satterthwaite_many(prof, theta, np.array([m.sigma, np.nan]), np.vstack([m.fixef] * 2), 1)
    assert np.isfinite(out["p"][0]) and np.isnan(out["p"][1])
