"""Invariances of the fit (hypothesis): row order, relabelled levels, rescaled response."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmmflow as lf

F = "Reaction ~ Days + (Days | Subject)"
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def base(sleepstudy: pd.DataFrame) -> lf.LmerResult:
    return lf.lmer(F, sleepstudy)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1))
def test_row_order_does_not_matter(sleepstudy: pd.DataFrame, base: lf.LmerResult, seed: int) -> None:
    perm = np.random.default_rng(seed).permutation(len(sleepstudy))
    m = lf.lmer(F, sleepstudy.iloc[perm])
    assert m.objective == pytest.approx(base.objective, rel=1e-9)
    np.testing.assert_allclose(m.fixef, base.fixef, rtol=1e-6)
    np.testing.assert_allclose(m.fitted.sort_index(), base.fitted.sort_index(), rtol=1e-6)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), prefix=st.sampled_from(["s", "unit_", "Z", ""]))
def test_relabelled_levels_do_not_matter(sleepstudy: pd.DataFrame, base: lf.LmerResult, seed: int,
                                         prefix: str) -> None:
    levels = sorted(sleepstudy["Subject"].unique())
    new = np.random.default_rng(seed).permutation(len(levels))
    mapping = {old: f"{prefix}{k:03d}" for old, k in zip(levels, new)}
    m = lf.lmer(F, sleepstudy.assign(Subject=sleepstudy["Subject"].map(mapping)))
    assert m.objective == pytest.approx(base.objective, rel=1e-9)
    np.testing.assert_allclose(m.fixef, base.fixef, rtol=1e-6)
    re_new = m.ranef["Subject"].loc[[mapping[k] for k in levels]].to_numpy()
    # conditional modes agree to the optimizer's tolerance (theta to ~1e-6), far inside lme4's 1e-3
    np.testing.assert_allclose(re_new, base.ranef["Subject"].loc[levels].to_numpy(), rtol=1e-4,
                               atol=1e-4 * base.sigma)


@SETTINGS
@given(scale=st.floats(1e-3, 1e3), shift=st.floats(-1e3, 1e3))
def test_rescaled_response(sleepstudy: pd.DataFrame, base: lf.LmerResult, scale: float, shift: float) -> None:
    """y -> a*y + c: theta unchanged, sigma and slopes times a, intercept a*b0 + c,
    REML criterion shifted by 2 (n - p) log a."""
    m = lf.lmer(F, sleepstudy.assign(Reaction=scale * sleepstudy["Reaction"] + shift))
    # theta, sigma and beta agree to the optimizer's tolerance; the objective much more tightly
    np.testing.assert_allclose(m.theta, base.theta, rtol=1e-4, atol=1e-4)
    assert m.sigma == pytest.approx(scale * base.sigma, rel=1e-5)
    assert m.fixef["Days"] == pytest.approx(scale * base.fixef["Days"], rel=1e-5)
    assert m.fixef["(Intercept)"] == pytest.approx(scale * base.fixef["(Intercept)"] + shift, rel=1e-6,
                                                   abs=1e-8 * abs(shift))
    n, p = base.nobs, 2
    assert m.objective == pytest.approx(base.objective + 2 * (n - p) * np.log(scale), rel=1e-8)
