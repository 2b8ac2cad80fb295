"""Parametric bootstrap: agreement with profile intervals, reproducibility, failures, the parallel map."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmmflow as lf
from lmmflow.inference import bootstrap as boot_mod
from lmmflow.inference.bootstrap import BootstrapResult, BootstrapWarning
from lmmflow.inference.parallel import effective_jobs, parallel_map


@pytest.fixture(scope="module")
def fm1(sleepstudy: pd.DataFrame) -> lf.LmerResult:
    return lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)


@pytest.fixture(scope="module")
def boot1000(fm1: lf.LmerResult) -> BootstrapResult:
    return lf.bootstrap(fm1, nsim=1000, seed=20240611, progress=False)


def test_default_statistic_and_shape(fm1: lf.LmerResult, boot1000: BootstrapResult) -> None:
    b = boot1000
    assert b.replicates.shape == (1000, 6)
    assert list(b.replicates.columns) == ["sd_(Intercept)|Subject", "cor_Days.(Intercept)|Subject",
                                          "sd_Days|Subject", "sigma", "(Intercept)", "Days"]
    assert b.failures.count == 0 and not b.failures
    np.testing.assert_allclose(b.t0[["(Intercept)", "Days"]], fm1.fixef, rtol=1e-12)
    assert b.t0["sigma"] == pytest.approx(fm1.sigma)
    s = b.summary()
    assert list(s.columns) == ["original", "bias", "std_error", "mean", "n"]
    # the bootstrap SE of a fixed effect is close to its model-based SE
    np.testing.assert_allclose(s.loc[["(Intercept)", "Days"], "std_error"], fm1.std_errors, rtol=0.1)
    assert "Parametric bootstrap" in repr(b)


def test_bootstrap_intervals_agree_with_profile(fm1: lf.LmerResult, boot1000: BootstrapResult) -> None:
    """Fixed effects: the percentile ends are within Monte-Carlo error of the profile ends (3.5 MC standard
    errors of a 2.5% quantile of 1000 replicates, ``sd * sqrt(a (1 - a) / R) / phi(z_a)``, about 0.08 of the
    interval's width).  Variance parameters: the two methods differ by more than MC error in a sample of 18
    subjects (the percentile interval of sigma is the chi-square interval reflected, [22.7, 28.4] against the
    profile's [22.9, 28.9]; SDs and the correlation carry their small-sample bias), so they are held to a
    fraction of the interval's width."""
    prof = fm1.confint(method="profile")
    bci = boot1000.confint(level=0.95, type="perc")
    a = 0.025
    for name in ("(Intercept)", "Days"):
        v = boot1000.replicates[name].to_numpy()
        mc_se = v.std(ddof=1) * np.sqrt(a * (1 - a) / len(v)) / stats.norm.pdf(stats.norm.ppf(a))
        for side in ("lower", "upper"):
            assert abs(bci.loc[name, side] - prof.loc[name, side]) <= 3.5 * mc_se, (name, side)
    width = prof["upper"] - prof["lower"]
    tol = pd.Series({"sigma": 0.08, "sd_(Intercept)|Subject": 0.2, "sd_Days|Subject": 0.2,
                     "cor_Days.(Intercept)|Subject": 0.3})
    for side in ("lower", "upper"):
        err = ((bci[side] - prof[side]).abs() / width)[tol.index]
        assert (err <= tol).all(), err


def test_interval_types_and_level(boot1000: BootstrapResult) -> None:
    perc, basic, norm = (boot1000.confint(type=t) for t in ("perc", "basic", "norm"))
    t0 = boot1000.t0
    np.testing.assert_allclose(basic["lower"], 2 * t0 - perc["upper"])
    assert ((norm["lower"] < t0) & (t0 < norm["upper"])).all()
    narrow = boot1000.confint(level=0.5)
    assert ((narrow["upper"] - narrow["lower"]) < (perc["upper"] - perc["lower"])).all()
    with pytest.raises(ValueError, match="type"):
        boot1000.confint(type="bca")


def test_same_seed_same_replicates_for_any_n_jobs(fm1: lf.LmerResult) -> None:
    b1 = lf.bootstrap(fm1, nsim=150, seed=7, n_jobs=1, progress=False)
    b2 = lf.bootstrap(fm1, nsim=150, seed=7, n_jobs=2, progress=False)
    pd.testing.assert_frame_equal(b1.replicates, b2.replicates, check_exact=True)
    b3 = lf.bootstrap(fm1, nsim=150, seed=8, progress=False)
    assert not np.allclose(b1.replicates.to_numpy(), b3.replicates.to_numpy())


def test_failed_refits_are_counted_and_reported(fm1: lf.LmerResult) -> None:
    calls = {"n": 0}

    def stat(fit: lf.LmerResult) -> pd.Series:
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("injected failure")
        return fit.fixef

    with pytest.warns(BootstrapWarning, match="1 of 20 bootstrap refits failed"):
        b = lf.bootstrap(fm1, statistic=stat, nsim=20, seed=1, progress=False)
    assert b.failures.count == 1 and len(b.failures) == 1
    assert b.failures.replicates == (2,)  # call 1 is the statistic of the original fit
    assert "injected failure" in b.failures.messages[0]
    assert b.replicates.shape == (19, 2) and 2 not in b.replicates.index
    assert list(b.failures.to_frame().columns) == ["replicate", "message"]


def test_custom_statistic_sees_a_full_refit(fm1: lf.LmerResult) -> None:
    b = lf.bootstrap(fm1, statistic=lambda fit: {"ll": fit.loglik, "s": fit.sigma}, nsim=10, seed=3,
                     progress=False)
    ref = lf.bootstrap(fm1, nsim=10, seed=3, progress=False)
    np.testing.assert_allclose(b.replicates["s"], ref.replicates["sigma"], rtol=1e-12)
    assert list(b.t0.index) == ["ll", "s"]


def test_batched_newton_agrees_with_separate_refits(fm1: lf.LmerResult, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = lf.bootstrap(fm1, nsim=40, seed=11, progress=False)
    monkeypatch.setattr(boot_mod, "MAX_BATCH_PARAMS", 0)  # every replicate through optimize_theta
    slow = lf.bootstrap(fm1, nsim=40, seed=11, progress=False)
    scale = slow.replicates.abs().max()
    diff = ((fast.replicates - slow.replicates).abs() / scale).max()
    assert (diff < 1e-4).all(), diff
    # and the first replicate equals an ordinary refit of the same simulated response
    y = boot_mod._simulate(boot_mod._payload(fm1, None, False), np.random.SeedSequence(11).spawn(40)[:1])[:, 0]
    refit = fm1.refit(y)
    np.testing.assert_allclose(fast.replicates.iloc[0][["(Intercept)", "Days"]], refit.fixef, rtol=1e-6)
    assert fast.replicates.iloc[0]["sigma"] == pytest.approx(refit.sigma, rel=1e-6)


def test_crossed_model_and_use_u(sleepstudy: pd.DataFrame) -> None:
    pen = lf.load_dataset("penicillin")
    m = lf.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", pen)
    b = lf.bootstrap(m, nsim=20, seed=5, progress=False)
    assert b.replicates.shape == (20, 4) and b.failures.count == 0
    ri = lf.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy)
    bu = lf.bootstrap(ri, nsim=200, seed=5, use_u=True, progress=False)
    # with the random effects held at their modes the fixed effects vary much less
    assert bu.replicates["(Intercept)"].std() < 0.5 * ri.std_errors["(Intercept)"]


def test_confint_front_door_boot(fm1: lf.LmerResult) -> None:
    ci = fm1.confint(method="boot", nsim=100, seed=2, boot_type="basic", parm="beta_")
    assert list(ci.index) == ["(Intercept)", "Days"]
    direct = lf.bootstrap(fm1, nsim=100, seed=2, progress=False).confint(type="basic").loc[["(Intercept)", "Days"]]
    pd.testing.assert_frame_equal(ci, direct)


class _FakeClient:
    """Stands in for dask.distributed.Client: scatter, submit and gather with its semantics."""

    def __init__(self) -> None:
        self.scattered = 0
        self.submitted = 0

    def scatter(self, data: object, broadcast: bool = False) -> object:
        self.scattered += 1
        return data

    def submit(self, func, *args, pure: bool = True):  # noqa: ANN001, ANN202
        self.submitted += 1
        return func(*args)

    def gather(self, futures: list) -> list:
        return list(futures)


def test_parallel_map_hooks(fm1: lf.LmerResult) -> None:
    assert parallel_map(pow, [1, 2, 3], payload=2) == [2, 4, 8]
    assert parallel_map(pow, [1, 2, 3], n_jobs=2, payload=2) == [2, 4, 8]
    client = _FakeClient()
    assert parallel_map(pow, [1, 2, 3], client=client, payload=2) == [2, 4, 8]
    assert client.scattered == 1 and client.submitted == 3
    client = _FakeClient()
    b = lf.bootstrap(fm1, nsim=150, seed=7, client=client, progress=False)
    assert client.scattered == 1 and client.submitted == 2  # chunks of 100 replicates
    ref = lf.bootstrap(fm1, nsim=150, seed=7, progress=False)
    pd.testing.assert_frame_equal(b.replicates, ref.replicates, check_exact=True)
    assert effective_jobs(-1) >= 1 and effective_jobs(None) == 1


def test_bad_arguments(fm1: lf.LmerResult) -> None:
    with pytest.raises(ValueError, match="nsim"):
        lf.bootstrap(fm1, nsim=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lf.bootstrap(fm1, nsim=5, seed=1, progress=False)


def test_pattern_objective_refits_equal_per_level_refits(monkeypatch) -> None:
    """Many units sharing few patterns of waves: the replicates refitted through the per-pattern sums
    equal those of the per-level batched objective (both Newton to a decrement of 1e-9)."""
    from lmmflow.inference import bootstrap as boot

    rng = np.random.default_rng(3)
    n_ids = 600
    pid = np.repeat(np.arange(n_ids), 5)
    time = np.tile(np.arange(5.0), n_ids)
    u = rng.multivariate_normal([0, 0], [[100, -2], [-2, 1]], n_ids)
    y = 50 + u[pid, 0] + (2 + u[pid, 1]) * time + rng.normal(0, 5, pid.size)
    df = pd.DataFrame({"id": pid, "time": time, "y": y})[rng.uniform(size=pid.size) > 0.2]
    m = lf.lmer("y ~ time + (1 + time | id)", df)
    assert boot._payload(m, None, False).patterns is not None
    by_pattern = lf.bootstrap(m, nsim=40, seed=9, progress=False)
    monkeypatch.setattr(boot, "_pattern_profile", lambda m: None)
    by_level = lf.bootstrap(m, nsim=40, seed=9, progress=False)
    assert by_pattern.failures.count == by_level.failures.count == 0
    np.testing.assert_allclose(by_pattern.replicates.to_numpy(), by_level.replicates.to_numpy(), rtol=0, atol=1e-7)
