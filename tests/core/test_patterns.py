"""The compressed one-term objective (patterns of observations) and the objective-only factor update
against the blocked factor, on designs with few and with many patterns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.core import DevianceFunction
from lmmflow.core.patterns import PatternObjective


def _panel(n_units: int, waves: int, drop: float, seed: int, uneven: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), waves)
    time = np.tile(np.arange(waves, dtype=float), n_units)
    if uneven:
        time = time + rng.uniform(-0.3, 0.3, time.size)
    g = (unit % 2).astype(float)
    b0 = rng.normal(0, 3, n_units)[unit]
    b1 = rng.normal(0, 0.8, n_units)[unit]
    y = 10 + 2 * time - g + b0 + b1 * time + rng.normal(0, 1.5, time.size)
    df = pd.DataFrame({"id": unit, "time": time, "g": g, "y": y})
    return df[rng.uniform(size=len(df)) >= drop].reset_index(drop=True)


@pytest.mark.parametrize("formula", ["y ~ time * g + (1 + time | id)", "y ~ time + (1 | id)",
                                     "y ~ time + (time || id)", "y ~ time + (0 + time | id)"])
@pytest.mark.parametrize("reml", [True, False])
def test_pattern_objective_equals_blocked_factor(formula: str, reml: bool) -> None:
    """Missing waves give up to 2^5 - 1 patterns over 3,000 units; the compressed objective is used and
    agrees with the blocked factor to 1e-11 relative at several theta."""
    df = _panel(3000, 5, 0.2, seed=1)
    fn = lf.make_deviance(formula, df, reml=reml)
    assert isinstance(fn.small, PatternObjective)
    assert fn.small.npat <= 31
    rng = np.random.default_rng(2)
    for _ in range(4):
        theta = np.where(np.isfinite(fn.lower), rng.uniform(0.1, 2.0, fn.n_theta), rng.uniform(-1, 1, fn.n_theta))
        assert fn(theta) == pytest.approx(fn.blocked(theta), rel=1e-11)


def test_many_patterns_use_the_blocked_factor() -> None:
    """Uneven times make every unit's pattern its own: no compression, the objective-only update runs,
    and its value and the completed factor equal a full update."""
    df = _panel(3000, 5, 0.0, seed=3, uneven=True)
    fn = lf.make_deviance("y ~ time + (1 + time | id)", df)
    assert fn.small is None
    theta = np.array([1.3, -0.2, 0.4])
    value = fn(theta)  # objective-only: per-level arrays not kept
    assert "L0" not in fn.factor.__dict__
    L0 = fn.factor.L0.copy()  # completed on first use at the same theta
    assert fn.blocked(theta) == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(fn.factor.L0, L0, rtol=1e-14)
    fresh = DevianceFunction(fn.cp)
    fresh.factor.update(theta)
    assert fresh.factor.logdet_re() == pytest.approx(fn.factor.logdet_re(), rel=1e-13)


def test_fit_through_patterns_equals_fit_through_factor() -> None:
    """The same model fit with and without the compressed objective reaches the same optimum."""
    df = _panel(2000, 4, 0.15, seed=4)
    m = lf.lmer("y ~ time * g + (1 + time | id)", df)
    fn = lf.make_deviance("y ~ time * g + (1 + time | id)", df)
    assert isinstance(fn.small, PatternObjective)
    fn.small = None
    from lmmflow.optim import optimize_theta

    opt = optimize_theta(fn, fn.theta0, fn.lower, control=lf.LmerControl(optimizer="bobyqa"))
    assert opt.fmin == pytest.approx(m.objective, rel=1e-10)
    np.testing.assert_allclose(opt.theta, m.theta, rtol=1e-4, atol=1e-5)
