"""arm::sim-style posterior simulation."""

from __future__ import annotations

import json
from pathlib import Path

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
    # random effects: centred on the conditional modes, with more spread than lme4's condVar (they carry the
    # fixed effects' uncertainty too, drawn jointly as arm::sim does)
    draws = s.ranef["Subject"]
    theory = _joint_cov(fm1)
    sd_b = np.sqrt(np.diag(theory)[2:]).reshape(18, 2)
    assert (np.abs(draws.mean(axis=0) - fm1.ranef["Subject"].to_numpy()) < 4.5 * sd_b / np.sqrt(s.n_sims)).all()
    assert (draws.std(axis=0) > fm1.ranef_sd["Subject"].to_numpy()).all()
    np.testing.assert_allclose(draws.std(axis=0), sd_b, rtol=0.03)


def _joint_cov(m: lf.LmerResult) -> np.ndarray:
    """Covariance of (beta, b) draws, from dense algebra: E[sigma_s^2] [I 0; 0 Lambda] A^-1 [I 0; 0 Lambda'],
    A = [[Lambda'Z'Z Lambda + I, Lambda'Z'X], [X'Z Lambda, X'X]], E[sigma_s^2] = pwrss / (n - p - 2)."""
    X = m.design.X
    n, p = X.shape
    t = m.design.terms[0]
    lam = m.devfun.factor.lambdas_of(m.solution.theta)[0]
    pk, nl = lam.shape[0], t.nlevels
    Z = np.zeros((n, nl * pk))
    for j in range(pk):
        Z[np.arange(n), t.codes * pk + j] = t.matrix[:, j]
    big = np.kron(np.eye(nl), lam)
    M = np.hstack([X, Z @ big])
    A = M.T @ M + np.diag(np.r_[np.zeros(p), np.ones(nl * pk)])
    T = np.block([[np.eye(p), np.zeros((p, nl * pk))], [np.zeros((nl * pk, p)), big]])
    pwrss = m.sigma ** 2 * (n - p if m.reml else n)
    return pwrss / (n - p - 2) * T @ np.linalg.inv(A) @ T.T


def test_fixed_and_random_effects_are_drawn_jointly(fm1: lf.LmerResult) -> None:
    s = lf.sim(fm1, n_sims=40000, seed=7)
    j = np.column_stack([s.fixef.to_numpy(), s.ranef["Subject"][:, 0, :]])
    theory = _joint_cov(fm1)[:4, :4]
    np.testing.assert_allclose(np.var(j, axis=0, ddof=1), np.diag(theory), rtol=0.05)
    sd = np.sqrt(np.diag(theory))
    corr = np.corrcoef(j.T)
    np.testing.assert_allclose(corr, theory / np.outer(sd, sd), atol=0.02)
    assert corr[0, 2] < -0.3  # the intercept and a level's random intercept move against each other


SIM_REF = json.loads((Path(__file__).parents[1] / "reference" / "inference.json").read_text())["sim"]


@pytest.mark.parametrize("case", SIM_REF, ids=lambda c: f"{c['formula']}-{'REML' if c['reml'] else 'ML'}")
def test_draws_match_arm_sim_within_monte_carlo_error(sleepstudy: pd.DataFrame, case: dict) -> None:
    """arm::sim(m, 40000) in R (make_inference.R) against 40,000 draws here: means within 4.5 combined
    standard errors, SDs within 2.5%, correlations within 0.03.  For the correlated (Days | Subject) term
    arm maps u to b with Lambda' instead of Lambda (see the module notes): there the random effects are
    compared with the exact covariance instead, the fixed effects and sigma with arm."""
    m = lf.lmer(case["formula"], sleepstudy, reml=case["reml"])
    assert m.sigma ** 2 * (m.nobs - 2 if m.reml else m.nobs) == pytest.approx(case["pwrss"], rel=1e-6)
    nr = case["n_sims"]
    s = lf.sim(m, n_sims=40000, seed=11)
    se = np.sqrt(1 / nr + 1 / s.n_sims)
    fsd = np.asarray(case["fixef_sd"])
    assert (np.abs(s.fixef.mean().to_numpy() - case["fixef_mean"]) < 4.5 * fsd * se).all()
    np.testing.assert_allclose(s.fixef.std().to_numpy(), fsd, rtol=0.025)
    assert abs(s.sigma.mean() - case["sigma_mean"]) < 4.5 * case["sigma_sd"] * se
    assert s.sigma.std() == pytest.approx(case["sigma_sd"], rel=0.025)
    draws = s.ranef["Subject"]
    rsd = np.asarray(case["ranef_sd"])
    assert (np.abs(draws.mean(axis=0) - np.asarray(case["ranef_mean"])) < 4.5 * rsd * se).all()
    if draws.shape[2] == 1:
        np.testing.assert_allclose(draws.std(axis=0), rsd, rtol=0.025)
        j = np.column_stack([s.fixef.to_numpy(), draws[:, 0, :], s.sigma])
        np.testing.assert_allclose(np.corrcoef(j.T), np.asarray(case["joint_cor"]), atol=0.03)
    else:
        sd_b = np.sqrt(np.diag(_joint_cov(m))[2:]).reshape(draws.shape[1:])
        np.testing.assert_allclose(draws.std(axis=0), sd_b, rtol=0.025)


def test_coef_and_long_frame(fm1: lf.LmerResult) -> None:
    s = lf.sim(fm1, n_sims=50, seed=2)
    co = s.coef()["Subject"]
    np.testing.assert_allclose(co[:, :, 1], s.ranef["Subject"][:, :, 1] + s.fixef["Days"].to_numpy()[:, None])
    long = s.ranef_frame("Subject")
    assert list(long.columns) == ["draw", "level", "term", "value"] and len(long) == 50 * 18 * 2


def test_bad_n_sims(fm1: lf.LmerResult) -> None:
    with pytest.raises(ValueError):
        lf.sim(fm1, n_sims=0)


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (Days | Subject)", "Reaction ~ Days + (1 | Subject) + (1 | g)"])
def test_draws_from_rows_and_from_cross_products_agree(sleepstudy: pd.DataFrame, formula: str) -> None:
    """The two ways to the joint draws (rows in memory; cross-products only, as for a Dask fit) have the
    covariance A^-1 of the weighted penalized least-squares system, several terms included."""
    from lmmflow.inference import posterior as P

    d = sleepstudy.assign(g=(sleepstudy["Days"] % 4).astype(str))
    m = lf.lmer(formula, d, weights=1.0 + d["Days"] % 2, quiet=True)
    lams = m.devfun.factor.lambdas_of(m.solution.theta)
    X, n = m.design.X, m.nobs
    blocks = []
    for t, lam in zip(m.design.terms, lams):
        pk = lam.shape[0]
        Z = np.zeros((n, t.nlevels * pk))
        V = t.matrix @ lam
        for j in range(pk):
            Z[np.arange(n), t.codes * pk + j] = V[:, j]
        blocks.append(Z)
    M = np.hstack(blocks + [X])
    q = M.shape[1] - X.shape[1]
    Ai = np.linalg.inv(M.T @ (m.weights[:, None] * M) + np.diag(np.r_[np.ones(q), np.zeros(X.shape[1])]))
    sd = np.sqrt(np.diag(Ai))
    ones = np.ones(60000)
    for draw in (P._joint_draws, P._joint_draws_from_cross):
        c = np.cov(np.hstack(draw(m, lams, ones, np.random.default_rng(3))).T)
        np.testing.assert_allclose(np.diag(c), np.diag(Ai), rtol=0.035)
        csd = np.sqrt(np.diag(c))
        np.testing.assert_allclose(c / np.outer(csd, csd), Ai / np.outer(sd, sd), atol=0.03)
