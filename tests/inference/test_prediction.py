"""Confidence and prediction intervals for predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.design import DataError


@pytest.fixture(scope="module")
def fm1(sleepstudy: pd.DataFrame) -> lf.LmerResult:
    return lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)


def test_population_confidence_is_x_vbeta_x(fm1: lf.LmerResult) -> None:
    new = pd.DataFrame({"Days": [0.0, 4.5, 9.0]})
    out = fm1.predict(new, re_form="~0", interval="confidence", level=0.9)
    assert list(out.columns[:3]) == ["fit", "lower", "upper"]
    X = np.column_stack([np.ones(3), new.Days])
    np.testing.assert_allclose(out["fit"], X @ fm1.fixef.to_numpy())
    se = np.sqrt(np.einsum("ij,jk,ik->i", X, fm1.vcov.to_numpy(), X))
    np.testing.assert_allclose(out["upper"] - out["fit"], 1.6448536269514722 * se)
    # at Days = 0 this is the Wald interval of the intercept
    wald = fm1.confint(method="wald", level=0.9).loc["(Intercept)"]
    np.testing.assert_allclose(out.iloc[0][["lower", "upper"]], wald, rtol=1e-12)


def test_population_prediction_adds_random_and_residual_variance(fm1: lf.LmerResult) -> None:
    new = pd.DataFrame({"Days": [0.0, 5.0]})
    conf = fm1.predict(new, re_form="~0", interval="confidence")
    pred = fm1.predict(new, re_form="~0", interval="prediction")
    Sigma = fm1.re_covariances[0]
    Z = np.column_stack([np.ones(2), new.Days])
    extra = np.einsum("ia,ab,ib->i", Z, Sigma, Z) + fm1.sigma ** 2
    np.testing.assert_allclose(pred["se_fit"] ** 2, conf["se_fit"] ** 2 + extra)


def test_unit_level_uses_the_joint_covariance_of_fixed_and_random(fm1: lf.LmerResult,
                                                                  sleepstudy: pd.DataFrame) -> None:
    # var = [z x]' C [z x] with C the joint covariance of (b_hat - b, beta_hat) (lme4 >= 1.1-35's se.fit),
    # formed here from the dense mixed-model equations
    new = sleepstudy.iloc[[0, 15, 179]].reset_index(drop=True)
    out = fm1.predict(new, interval="confidence")
    np.testing.assert_allclose(out["fit"], fm1.predict(new).to_numpy())
    d = fm1.design
    Zs = d.blocks()[0].sparse_z().toarray()
    lam = fm1.devfun.factor.lambdas_of(fm1.theta)[0]
    L = np.kron(np.eye(d.terms[0].nlevels), lam)
    X = d.X
    ZL = Zs @ L
    Mme = np.block([[ZL.T @ ZL + np.eye(L.shape[0]), ZL.T @ X], [X.T @ ZL, X.T @ X]])
    T = np.block([[L, np.zeros((L.shape[0], 2))], [np.zeros((2, L.shape[0])), np.eye(2)]])
    C = fm1.sigma ** 2 * T @ np.linalg.inv(Mme) @ T.T
    rows = [0, 15, 179]
    ZX = np.hstack([Zs[rows], X[rows]])
    var = np.einsum("ij,jk,ik->i", ZX, C, ZX)
    np.testing.assert_allclose(out["se_fit"] ** 2, var, rtol=1e-8)
    pred = fm1.predict(new, interval="prediction", level=0.5)
    np.testing.assert_allclose(pred["se_fit"] ** 2, var + fm1.sigma ** 2, rtol=1e-8)
    assert ((pred["upper"] - pred["lower"]) < 2 * (out["upper"] - out["lower"]) + 2 * fm1.sigma).all()


def test_fitted_rows_and_new_levels(fm1: lf.LmerResult) -> None:
    full = fm1.predict(interval="prediction")
    assert len(full) == fm1.nobs
    np.testing.assert_allclose(full["fit"], fm1.fitted)
    new = pd.DataFrame({"Days": [3.0], "Subject": ["not-a-subject"]})
    unit = fm1.predict(new, interval="confidence", allow_new_levels=True)
    pop = fm1.predict(new, re_form="~0", interval="prediction")
    # a new level: population prediction; its variance includes the random-effect variance
    assert unit["fit"].iloc[0] == pytest.approx(pop["fit"].iloc[0])
    assert unit["se_fit"].iloc[0] ** 2 == pytest.approx(pop["se_fit"].iloc[0] ** 2 - fm1.sigma ** 2)
    with pytest.raises(DataError, match="allow_new_levels=True"):  # lme4's default: allow.new.levels = FALSE
        fm1.predict(new, interval="confidence")
    with pytest.raises(DataError, match="not-a-subject"):
        fm1.predict(new)


def test_bad_interval_arguments(fm1: lf.LmerResult) -> None:
    with pytest.raises(ValueError, match="interval"):
        fm1.predict(interval="credible")
    with pytest.raises(ValueError, match="level"):
        fm1.predict(interval="confidence", level=1.5)
