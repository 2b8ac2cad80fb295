"""Likelihood profiles: zeta data, spline intervals, parameter choice, singular fits, fixed effects."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmmflow as lf
from lmmflow.inference.profile import Profile, ProfileWarning

from ..conftest import REFERENCE


@pytest.fixture(scope="module")
def dyestuff() -> lf.LmerResult:
    return lf.lmer("Yield ~ 1 + (1 | Batch)", lf.load_dataset("dyestuff"))


@pytest.fixture(scope="module")
def prof(dyestuff: lf.LmerResult) -> Profile:
    return lf.profile(dyestuff, progress=False)


def test_profile_object_and_zeta_frame(prof: Profile) -> None:
    assert prof.parameters == ["sd_(Intercept)|Batch", "sigma", "(Intercept)"]
    zf = prof.zeta_frame()
    assert list(zf.columns) == ["parameter", "value", "zeta"]
    for name, grp in zf.groupby("parameter"):
        z = grp.sort_values("value")["zeta"].to_numpy()
        assert np.all(np.diff(z) > 0), name  # zeta increases with the parameter
        assert z.min() < -2 and z.max() > 2
        assert np.isclose(np.abs(z).min(), 0.0)  # the estimate itself
    # the other parameters along each path are there too (for pairs plots)
    assert {"sd_(Intercept)|Batch", "sigma", "(Intercept)"} <= set(prof.frame.columns)
    assert "Profile of 3 parameters" in repr(prof)


def test_profile_is_of_the_ml_deviance(dyestuff: lf.LmerResult, prof: Profile) -> None:
    ml = dyestuff.update(reml=False)
    assert prof.base == pytest.approx(ml.objective, rel=1e-12)
    assert prof.estimates["sigma"] == pytest.approx(ml.sigma, rel=1e-10)
    # zeta at a profile point is the signed root of the deviance increase of an ML refit with that value fixed
    row = prof.frame[(prof.frame.parameter == "(Intercept)") & (prof.frame.zeta > 1)].iloc[0]
    df = lf.load_dataset("dyestuff")
    refit = lf.lmer("Yield ~ 0 + (1 | Batch)", df.assign(Yield=df.Yield - row["value"]), reml=False)
    assert row["zeta"] == pytest.approx(np.sqrt(refit.objective - prof.base), rel=1e-5)


def test_confint_interpolates_at_normal_quantiles(prof: Profile) -> None:
    ci = prof.confint(0.9)
    z = stats.norm.ppf(0.95)
    fwd = {nm: prof._spline(nm)[0] for nm in prof.parameters}  # the inverse spline is lme4's Hermite backSpline
    for nm in prof.parameters:
        assert fwd[nm](ci.loc[nm, "lower"]) == pytest.approx(-z, abs=2e-3)
        assert fwd[nm](ci.loc[nm, "upper"]) == pytest.approx(z, abs=2e-3)
    ci99 = prof.confint(0.99)
    assert (ci99["lower"] < ci["lower"]).all() and (ci99["upper"] > ci["upper"]).all()


def test_which_selects_parameters(dyestuff: lf.LmerResult) -> None:
    pr = lf.profile(dyestuff, which="beta_", progress=False)
    assert pr.parameters == ["(Intercept)"]
    pr = lf.profile(dyestuff, which=["sigma"], progress=False)
    assert pr.parameters == ["sigma"]
    assert list(dyestuff.confint(parm="theta_").index) == ["sd_(Intercept)|Batch", "sigma"]


def test_growth_profile_against_lme4(reference: dict) -> None:
    case = next(c for c in reference["cases"] if c["name"] == "growth_rs_reml")
    df = pd.read_csv(REFERENCE.parent / case["data"])
    m = lf.lmer(case["formula"], df)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProfileWarning)  # the correlation profile flattens out, as in lme4
        ci = lf.profile(m, progress=False).confint()
    for w in case["confint_profile"]:
        width = w["upper"] - w["lower"]
        assert abs(ci.loc[w["term"], "lower"] - w["lower"]) <= 2e-3 * width
        assert abs(ci.loc[w["term"], "upper"] - w["upper"]) <= 2e-3 * width


def test_singular_fit_warns_and_reports_the_bound(reference: dict) -> None:
    case = next(c for c in reference["cases"] if c["name"] == "dyestuff2_singular")
    df = pd.read_csv(REFERENCE.parent / case["data"])
    m = lf.lmer(case["formula"], df, quiet=True)
    with pytest.warns(ProfileWarning, match="singular"):
        pr = lf.profile(m, progress=False)
    ci = pr.confint()
    assert ci.loc["sd_(Intercept)|Batch", "lower"] == 0.0
    assert ci.loc["sd_(Intercept)|Batch", "upper"] > 0
    assert np.isfinite(ci.loc["sigma"]).all()


def test_level_beyond_cutoff_warns(prof: Profile) -> None:
    with pytest.warns(ProfileWarning, match="cutoff"):
        prof.confint(0.9999)


def test_fixed_effect_profile_equals_refit_with_offset(sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    pr = lf.profile(m, which=["Days"], progress=False)
    rows = pr.frame[(pr.frame.parameter == "Days") & (pr.frame.zeta.abs() > 0.5)]
    for _, row in rows.iloc[[0, -1]].iterrows():
        b = row["value"]
        refit = lf.lmer("Reaction ~ 1 + (Days | Subject)", sleepstudy.assign(off=b * sleepstudy.Days), offset="off",
                        reml=False)
        assert abs(row["zeta"]) == pytest.approx(np.sqrt(refit.objective - pr.base), rel=1e-5)
        assert row["(Intercept)"] == pytest.approx(refit.fixef["(Intercept)"], rel=1e-5)
        assert row["sigma"] == pytest.approx(refit.sigma, rel=1e-4)


def test_profile_in_processes_equals_serial(sleepstudy: pd.DataFrame) -> None:
    """Each parameter is profiled by the same code wherever it runs: two local processes give the
    serial profile exactly."""
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    serial = lf.profile(m, progress=False)
    two = lf.profile(m, progress=False, n_jobs=2)
    pd.testing.assert_frame_equal(serial.frame, two.frame)
    pd.testing.assert_frame_equal(serial.confint(), two.confint())


# ---- cost on large models: no per-level work per profile evaluation ------------------------------------------
@pytest.fixture(scope="module")
def growth_large() -> lf.LmerResult:
    df = lf.simulate_growth(n_units=50_000, seed=3, missing=0.2)  # 200k rows, 50k levels, 2 x 2 blocks
    return lf.lmer("y ~ time + (1 + time | id)", df, reml=False)


def test_large_profile_touches_no_per_level_factor(growth_large: lf.LmerResult,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Every profile evaluation (variance parameters and fixed effects alike) reads the per-pattern sums: the
    blocked factor, whose update costs time in proportion to the number of levels, is never updated."""
    from lmmflow.core.blocked import BlockedCholesky

    updates = []
    original = BlockedCholesky.update
    monkeypatch.setattr(BlockedCholesky, "update", lambda self, *a, **k: updates.append(1) or original(self, *a, **k))
    pr = lf.profile(growth_large, progress=False)
    assert updates == []
    assert pr.parameters[-2:] == ["(Intercept)", "time"]
    assert np.isfinite(pr.confint().to_numpy()).all()


def test_large_profile_time_is_bounded(growth_large: lf.LmerResult) -> None:
    """Profile intervals of a 50k-level model: about 1 s of CPU time (9 s when each fixed-effect evaluation
    updated the blocked factor, and growing with the number of levels; docs/benchmarks_inference.md)."""
    import time

    start = time.process_time()
    growth_large.confint(method="profile")
    assert time.process_time() - start < 6.0


def _crossed_data() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    u, i, x = rng.integers(0, 300, 6000), rng.integers(0, 20, 6000), rng.normal(size=6000)
    y = 1 + 0.3 * x + rng.normal(0, 0.7, 300)[u] + rng.normal(0, 0.5, 20)[i] + rng.normal(size=6000)
    return pd.DataFrame({"y": y, "x": x, "u": u.astype(str), "i": i.astype(str)})


@pytest.mark.parametrize(("formula", "make", "route"), [
    ("y ~ time + (1 + time | id)", lambda: lf.simulate_growth(n_units=300, seed=5, missing=0.2), "PatternObjective"),
    ("y ~ x + (1 | u) + (1 | i)", _crossed_data, "SchurObjective"),
])
def test_fast_and_blocked_profiles_agree(formula: str, make: Any, route: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast objective's route gives the profile of the blocked factor (the route without a fast objective)."""
    from lmmflow.inference import profile as profile_module

    m = lf.lmer(formula, make(), reml=False)
    assert type(profile_module._Objective(m).f.small).__name__ == route
    fast = lf.profile(m, progress=False)
    init = profile_module._Objective.__init__

    def blocked_only(self: profile_module._Objective, mml: lf.LmerResult) -> None:
        init(self, mml)
        self.f.small = None

    monkeypatch.setattr(profile_module._Objective, "__init__", blocked_only)
    slow = lf.profile(m, progress=False)
    pd.testing.assert_frame_equal(fast.confint(), slow.confint(), rtol=1e-6)
