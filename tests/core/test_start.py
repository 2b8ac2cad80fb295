"""The moment-based starting theta for scalar random-effects terms (lmmflow.core.start)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.core.start import moment_theta


def test_balanced_crossed_design_moments_equal_reml() -> None:
    """For a balanced crossed design the ANOVA (moment) estimates are the REML estimates."""
    df = lf.load_dataset("penicillin")
    formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"
    start = moment_theta(lf.make_deviance(formula, df).cp)
    np.testing.assert_allclose(start, lf.lmer(formula, df).theta, rtol=1e-5)


def test_balanced_nested_design_moments_equal_reml() -> None:
    df = lf.load_dataset("pastes")
    formula = "strength ~ 1 + (1 | batch/cask)"
    dev = lf.make_deviance(formula, df)
    m = lf.lmer(formula, df)
    # theta's order follows the terms (largest first); compare as sets of values
    np.testing.assert_allclose(np.sort(moment_theta(dev.cp)), np.sort(m.theta), rtol=1e-5)


def test_vector_terms_have_no_moment_start(sleepstudy: pd.DataFrame) -> None:
    dev = lf.make_deviance("Reaction ~ Days + (Days | Subject)", sleepstudy)
    assert moment_theta(dev.cp) is None


def test_no_variance_between_levels_starts_at_the_floor() -> None:
    """A factor whose levels do not differ gives a negative moment estimate; the start stays off the bound."""
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"g": np.repeat(np.arange(30), 10), "h": np.tile(np.arange(10), 30)})
    df["y"] = rng.normal(size=30)[df["g"]] + rng.normal(size=len(df))
    start = moment_theta(lf.make_deviance("y ~ 1 + (1 | g) + (1 | h)", df).cp)
    assert start is not None and start.min() >= 0.05


@pytest.fixture(scope="module")
def crossed_nested() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 6000
    df = pd.DataFrame({"school": rng.integers(0, 40, n), "rater": rng.integers(0, 250, n), "x": rng.normal(size=n)})
    df["cls"] = df["school"] * 6 + rng.integers(0, 6, n)
    df["y"] = (2 + 0.3 * df["x"] + 0.8 * rng.normal(size=40)[df["school"]] + 0.5 * rng.normal(size=240)[df["cls"]]
               + 0.3 * rng.normal(size=250)[df["rater"]] + rng.normal(size=n))
    df["w"] = rng.uniform(0.5, 2.0, n)
    return df


@pytest.mark.parametrize("kwargs", [{}, {"reml": False}, {"weights": "w"}])
def test_gradient_fit_from_moments_reaches_bobyqas_optimum(crossed_nested: pd.DataFrame, kwargs: dict) -> None:
    """Large enough for the gradient method, which starts at the moments (recorded in optinfo) and ends
    where BOBYQA from lme4's start ends."""
    formula = "y ~ x + (1 | school/cls) + (1 | rater)"
    m = lf.lmer(formula, crossed_nested, **kwargs)
    assert m.optinfo.optimizer == "lbfgsb"
    np.testing.assert_allclose(m.optinfo.theta0, moment_theta(m.devfun.cp))
    ref = lf.lmer(formula, crossed_nested, control=lf.LmerControl(optimizer="bobyqa"), **kwargs)
    assert m.objective == pytest.approx(ref.objective, abs=1e-8)
    np.testing.assert_allclose(m.theta, ref.theta, rtol=1e-5, atol=1e-6)
    assert m.optinfo.evaluations < ref.optinfo.evaluations
