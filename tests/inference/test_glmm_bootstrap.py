"""Parametric bootstrap of GLMMs: reproducible from a seed, replicates with the model's moments."""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pytest

import lmmflow as lf
from tests.glmm_fits import fit


@cache
def _boot(seed: int, nsim: int = 100) -> lf.inference.bootstrap.BootstrapResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lf.bootstrap(fit("cbpp_logit"), nsim=nsim, seed=seed, progress=False)


def test_reproducible_and_named() -> None:
    a, b = _boot(7, 10), lf.bootstrap(fit("cbpp_logit"), nsim=10, seed=7, progress=False)
    np.testing.assert_array_equal(a.replicates.to_numpy(), b.replicates.to_numpy())
    assert list(a.replicates.columns) == ["sd_(Intercept)|herd", *fit("cbpp_logit").fixef.index]
    assert a.failures.count == 0
    assert not np.array_equal(a.replicates.to_numpy(), _boot(8, 10).replicates.to_numpy())


def test_moments_of_the_replicates() -> None:
    g, b = fit("cbpp_logit"), _boot(11)
    reps = b.replicates
    assert len(reps) == 100
    se = np.sqrt(np.diag(g.vcov.to_numpy()))
    sd = reps[list(g.fixef.index)].std(ddof=1).to_numpy()
    # the spread of the refitted fixed effects is their Hessian SE (sampling error of an SD from 100 draws ~7%)
    np.testing.assert_allclose(sd, se, rtol=0.3)
    # centred on the estimates: |mean - estimate| within 4 Monte Carlo standard errors
    mean = reps[list(g.fixef.index)].mean().to_numpy()
    assert np.all(np.abs(mean - g.fixef.to_numpy()) < 4 * se / np.sqrt(len(reps)) + 0.1 * se)
    sd_re = reps["sd_(Intercept)|herd"]
    assert (sd_re >= 0).all() and abs(sd_re.median() - b.t0["sd_(Intercept)|herd"]) < 0.2


def test_percentile_intervals_and_confint_hook() -> None:
    g = fit("cbpp_logit")
    b = _boot(11)
    ci = b.confint(level=0.9)
    q = np.quantile(b.replicates.to_numpy(), [0.05, 0.95], axis=0)
    np.testing.assert_allclose(ci[["lower", "upper"]].to_numpy(), q.T)
    hook = g.confint(method="boot", nsim=100, seed=11, level=0.9, parm="beta_")
    np.testing.assert_allclose(hook.to_numpy(), ci.loc[list(g.fixef.index)].to_numpy())
    # each percentile interval of a fixed effect contains its Wald centre
    assert ((hook["lower"] < g.fixef) & (g.fixef < hook["upper"])).all()


def test_user_statistic_and_poisson() -> None:
    g = fit("grouseticks_poisson")
    b = lf.bootstrap(g, statistic=lambda m: {"b0": m.fixef.iloc[0]}, nsim=3, seed=1, progress=False)
    assert list(b.replicates.columns) == ["b0"] and len(b.replicates) == 3
    assert b.t0["b0"] == g.fixef.iloc[0]


def test_refusals() -> None:
    with pytest.raises(ValueError, match="use_u"):
        lf.bootstrap(fit("cbpp_logit"), nsim=2, use_u=True)
    with pytest.raises(ValueError, match="nsim"):
        lf.bootstrap(fit("cbpp_logit"), nsim=0)


def _same(a: lf.inference.bootstrap.BootstrapResult, b: lf.inference.bootstrap.BootstrapResult) -> None:
    np.testing.assert_array_equal(a.replicates.to_numpy(), b.replicates.to_numpy())
    assert list(a.replicates.index) == list(b.replicates.index)
    assert a.failures == b.failures


def test_local_processes_equal_serial() -> None:
    # 23 replicates: three chunks of lmmflow.inference.glmm_bootstrap.CHUNK = 10, the last one short
    g = fit("cbpp_logit")
    _same(lf.bootstrap(g, nsim=23, seed=4, progress=False, n_jobs=2),
          lf.bootstrap(g, nsim=23, seed=4, progress=False))
    ci = g.confint(method="boot", nsim=23, seed=4, n_jobs=2)
    np.testing.assert_array_equal(ci.to_numpy(), g.confint(method="boot", nsim=23, seed=4).to_numpy())


def test_dask_client_equals_serial() -> None:
    distributed = pytest.importorskip("distributed")
    g = fit("grouseticks_poisson")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cl:
        with distributed.Client(cl) as client:
            b = lf.bootstrap(g, nsim=12, seed=9, progress=False, client=client)
    _same(b, lf.bootstrap(g, nsim=12, seed=9, progress=False))
    assert len(b.replicates) + b.failures.count == 12


def test_failures_are_counted_in_every_mode() -> None:
    g = fit("cbpp_logit")

    def stat(m: lf.GlmerResult) -> dict:  # fails on some replicates: a statistic that raises is a failed refit
        if m.fixef.iloc[0] < -1.4:
            raise ValueError("low intercept")
        return {"b0": m.fixef.iloc[0]}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = lf.bootstrap(g, statistic=stat, nsim=12, seed=2, progress=False)
        b = lf.bootstrap(g, statistic=stat, nsim=12, seed=2, progress=False, n_jobs=2)
    assert 0 < a.failures.count < 12
    _same(a, b)
