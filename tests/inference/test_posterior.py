"""arm::sim-style posterior simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmmflow as lf


@pytest.fixture(scope="module")
def fm1(sleepstudy: pd.DataFrame) -> lf.LmerResult:
    return lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)


def test_shapes_and_reproducibility(fm1: lf.LmerResult) -> None:
    s = lf.sim(fm1, n_sims=300, seed=4)
    assert s.n_sims == 300
    assert list(s.fixef.columns) == ["(Intercept)", "Days"]
    assert s.ranef["Subject"].shape == (300, 18, 2)
    assert list(s.levels["Subject"]) == list(fm1.ranef["Subject"].index)
    assert s.terms["Subject"] == ["(Intercept)", "Days"]
    again = lf.sim(fm1, n_sims=300, seed=4)
    pd.testing.assert_frame_equal(s.fixef, again.fixef)
    np.testing.assert_array_equal(s.sigma, again.sigma)
    assert "300 draws" in repr(s)


def test_moments_follow_arms_algorithm(fm1: lf.LmerResult) -> None:
    s = lf.sim(fm1, n_sims=20000, seed=1)
    n, p = fm1.nobs, 2
    # sigma: scaled inverse chi-square with n - p df -> median sigma_hat * sqrt((n-p)/median(chi2))
    med = fm1.sigma * np.sqrt((n - p) / stats.chi2.median(n - p))
    assert np.median(s.sigma) == pytest.approx(med, rel=0.01)
    # fixed effects: mean beta_hat, covariance V_beta * E[sigma^2] / sigma_hat^2 = V_beta (n-p)/(n-p-2)
    np.testing.assert_allclose(s.fixef.mean(), fm1.fixef, atol=0.05 * fm1.std_errors.max())
    inflate = (n - p) / (n - p - 2)
    np.testing.assert_allclose(np.cov(s.fixef.to_numpy().T), fm1.vcov.to_numpy() * inflate, rtol=0.05, atol=0.05)
    # random effects: conditional modes and conditional covariances
    draws = s.ranef["Subject"]
    mc_se = fm1.ranef_sd["Subject"].to_numpy() / np.sqrt(s.n_sims)
    assert (np.abs(draws.mean(axis=0) - fm1.ranef["Subject"].to_numpy()) < 4.5 * mc_se).all()
    np.testing.assert_allclose(draws.std(axis=0), fm1.ranef_sd["Subject"].to_numpy(), rtol=0.05)
    c = np.cov(draws[:, 0, :].T)
    np.testing.assert_allclose(c, fm1.cond_cov_blocks[0][0], rtol=0.1, atol=0.05)


def test_coef_and_long_frame(fm1: lf.LmerResult) -> None:
    s = lf.sim(fm1, n_sims=50, seed=2)
    co = s.coef()["Subject"]
    np.testing.assert_allclose(co[:, :, 1], s.ranef["Subject"][:, :, 1] + s.fixef["Days"].to_numpy()[:, None])
    long = s.ranef_frame("Subject")
    assert list(long.columns) == ["draw", "level", "term", "value"] and len(long) == 50 * 18 * 2


def test_bad_n_sims(fm1: lf.LmerResult) -> None:
    with pytest.raises(ValueError):
        lf.sim(fm1, n_sims=0)
