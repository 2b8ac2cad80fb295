"""Derivatives in the variance parameters: analytic against finite differences and against explicit
n x n matrix algebra, and the (theta, sigma) deviance against lme4's objective."""

from __future__ import annotations

import numpy as np
import pytest

import lmmflow as lf
from lmmflow.inference import derivatives as dv

from ..conftest import load_case

# (case name in the reference, whether the multi-term dense path is used)
CASES = ["sleepstudy_rs_reml", "sleepstudy_rs_ml", "sleepstudy_uncorr_reml", "penicillin_crossed",
         "pastes_nested_colon", "dyestuff2_singular", "cake_factorial", "growth_unbalanced_rs_reml"]


def _case(reference: dict, name: str) -> dict:
    return next(c for c in reference["cases"] if c["name"] == name)


def _fit(reference: dict, name: str) -> lf.LmerResult:
    c = _case(reference, name)
    return lf.lmer(c["formula"], load_case(c), reml=c["reml"], quiet=True)


def dense_quantities(m: lf.LmerResult, theta: np.ndarray, sigma: float) -> dict:
    """Everything by brute force with explicit n x n matrices (small data only)."""
    n = m.nobs
    X, y = m.design.X, m.design.y
    f = m.devfun.factor
    lams = f.lambdas_of(theta)
    Zs, Ls = [], []
    for term, lam in zip(m.design.terms, lams):
        Zk = np.zeros((n, term.nlevels * term.p))
        for a in range(term.p):
            Zk[np.arange(n), term.codes * term.p + a] = term.Z[:, a]
        Zs.append(Zk)
        Ls.append(np.kron(np.eye(term.nlevels), lam))
    Z = np.hstack(Zs)
    Lam = np.zeros((Z.shape[1], Z.shape[1]))
    start = 0
    for Lk in Ls:
        Lam[start:start + len(Lk), start:start + len(Lk)] = Lk
        start += len(Lk)
    V = sigma ** 2 * (np.eye(n) + Z @ Lam @ Lam.T @ Z.T)
    G = []
    for k, (rows, cols) in enumerate(f.positions):
        for r, c in zip(rows, cols):
            E = np.zeros((m.design.terms[k].p,) * 2)
            E[r, c] = E[c, r] = 1.0
            G.append(Zs[k] @ np.kron(np.eye(m.design.terms[k].nlevels), E) @ Zs[k].T)
    G.append(np.eye(n))
    Vi = np.linalg.inv(V)
    C = np.linalg.inv(X.T @ Vi @ X)
    P = Vi - Vi @ X @ C @ X.T @ Vi
    k = len(G)
    out = {"C": C, "V": V, "Vi": Vi, "Pm": P, "G": G}
    out["P"] = np.array([X.T @ Vi @ Gi @ Vi @ X for Gi in G])
    out["Q"] = np.array([[X.T @ Vi @ G[i] @ Vi @ G[j] @ Vi @ X for j in range(k)] for i in range(k)])
    out["tr_vg"] = np.array([np.trace(Vi @ Gi) for Gi in G])
    out["tr_vgvg"] = np.array([[np.trace(Vi @ G[i] @ Vi @ G[j]) for j in range(k)] for i in range(k)])
    out["tr_pg"] = np.array([np.trace(P @ Gi) for Gi in G])
    out["tr_pgpg"] = np.array([[np.trace(P @ G[i] @ P @ G[j]) for j in range(k)] for i in range(k)])
    Py = P @ y
    out["y_pgp"] = np.array([Py @ Gi @ Py for Gi in G])
    out["y_pgpgp"] = np.array([[Py @ G[i] @ P @ G[j] @ Py for j in range(k)] for i in range(k)])
    return out


@pytest.mark.parametrize("name", ["sleepstudy_rs_reml", "sleepstudy_uncorr_reml", "penicillin_crossed",
                                  "pastes_nested_colon", "dyestuff2_singular", "sleepstudy_rs_ml"])
def test_woodbury_quantities_match_dense_algebra(reference: dict, name: str) -> None:
    """P_i, Q_ij, the traces and the y-forms equal their n x n definitions (rel 1e-8), off the optimum."""
    m = _fit(reference, name)
    theta = m.theta * 1.2 + 0.05 * (m.devfun.lower == 0)
    sigma = m.sigma * 0.9
    d = dv.variance_derivatives(m, theta, sigma)
    ref = dense_quantities(m, theta, sigma)
    np.testing.assert_allclose(d.vcov, ref["C"], rtol=1e-9)
    for key in ("P", "Q", "tr_vg", "tr_vgvg", "tr_pg", "tr_pgpg", "y_pgp", "y_pgpgp"):
        got, want = getattr(d, key), ref[key]
        scale = np.max(np.abs(want))
        assert np.max(np.abs(got - want)) <= 1e-8 * scale, key


@pytest.mark.parametrize("name", CASES)
def test_deviance_at_lme4_estimates_is_lme4_objective(reference: dict, name: str) -> None:
    """The non-profiled deviance at lme4's (theta, sigma) is lme4's objective (rel 1e-9)."""
    c = _case(reference, name)
    m = _fit(reference, name)
    val = dv.deviance_varpar(m, np.r_[c["theta"], c["sigma"]])
    assert val == pytest.approx(c["objective"], rel=1e-9)
    np.testing.assert_allclose(dv.vcov_varpar(m, np.r_[m.theta, m.sigma]), m.vcov.to_numpy(), rtol=1e-10)


def _points(m: lf.LmerResult) -> list[np.ndarray]:
    opt = np.r_[m.theta, m.sigma]
    off = np.r_[m.theta * 1.25 + 0.1 * (m.devfun.lower == 0), m.sigma * 0.85]
    return [opt, off]


@pytest.mark.parametrize("name", CASES)
def test_varpar_hessian_and_gradient_match_richardson(reference: dict, name: str) -> None:
    """Analytic Hessian (rel 2e-5 of its largest entry) and gradient (rel 1e-6) in (theta, sigma) against
    Richardson finite differences of the exact deviance, at the optimum and off it."""
    m = _fit(reference, name)
    for vp in _points(m):
        d = dv.variance_derivatives(m, vp[:-1], vp[-1])
        H = dv.fd_hessian(lambda v: dv.deviance_varpar(m, v), vp)
        assert np.max(np.abs(d.hessian_varpar - H)) <= 2e-5 * np.max(np.abs(H))
        g = dv.fd_jacobian(lambda v: dv.deviance_varpar(m, v), vp)[0]
        assert np.max(np.abs(d.gradient_varpar - g)) <= 1e-6 * max(1.0, np.max(np.abs(H)))


@pytest.mark.parametrize("name", CASES)
def test_vcov_jacobian_matches_richardson(reference: dict, name: str) -> None:
    """dVar(beta)/d(theta, sigma): analytic against finite differences (rel 1e-7 of the largest entry)."""
    m = _fit(reference, name)
    for vp in _points(m):
        d = dv.variance_derivatives(m, vp[:-1], vp[-1])
        J = d.vcov_jacobian_varpar
        fd = dv.fd_jacobian(lambda v: dv.vcov_varpar(m, v).ravel(), vp).T.reshape(J.shape)
        assert np.max(np.abs(J - fd)) <= 1e-7 * np.max(np.abs(fd))


@pytest.mark.parametrize("name", ["sleepstudy_rs_reml", "penicillin_crossed", "cake_factorial"])
def test_component_quantities_are_consistent(reference: dict, name: str) -> None:
    """In the variance components: the REML criterion is stationary at the estimates (rel 1e-4), the
    expected information is symmetric positive definite, and the chain rule maps the gradient."""
    m = _fit(reference, name)
    d = dv.variance_derivatives(m)
    assert np.max(np.abs(d.gradient)) <= 1e-4 * np.max(np.abs(d.hessian))
    info = d.expected_information
    np.testing.assert_allclose(info, info.T, rtol=1e-12)
    assert np.all(np.linalg.eigvalsh(info) > 0)
    np.testing.assert_allclose(d.gradient_varpar, d.J.T @ d.gradient)


def test_finite_difference_fallback_agrees_with_analytic(reference: dict) -> None:
    """The fall-back for large crossed models (differences of factor evaluations in theta) agrees with the
    analytic Hessian (rel 1e-6) and Jacobian (rel 1e-7), also with a small theta element (sleepstudy's
    off-diagonal 0.015, growth's -0.096), whose steps are floored at a tenth of the largest element."""
    for name in ("penicillin_crossed", "sleepstudy_rs_reml", "growth_rs_reml"):
        m = _fit(reference, name)
        d = dv.variance_derivatives(m)
        H, J = dv.fd_varpar_derivatives(m)
        assert np.max(np.abs(H - d.hessian_varpar)) <= 1e-6 * np.max(np.abs(H))
        assert np.max(np.abs(J - d.vcov_jacobian_varpar)) <= 1e-7 * np.max(np.abs(J))


@pytest.mark.parametrize("name", ["sleepstudy_rs_reml", "penicillin_crossed"])
def test_result_factor_is_never_moved(reference: dict, name: str) -> None:
    """Evaluating elsewhere works on a factor of its own: the result's factor keeps its state."""
    m = _fit(reference, name)
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in m.devfun.factor.__dict__.items()
              if k in ("theta", "complete_theta", "_pending_theta")}
    dv.variance_derivatives(m, m.theta * 2, m.sigma)
    dv.deviance_varpar(m, np.r_[m.theta * 3, 1.0])
    dv.vcov_varpar(m, np.r_[m.theta * 1.5, 2.0])
    dv.fd_varpar_derivatives(m, r=1)
    after = {k: v for k, v in m.devfun.factor.__dict__.items() if k in before}
    assert after.keys() == before.keys()
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v)


def test_threads_computing_derivatives_on_one_result_agree(reference: dict) -> None:
    """Two threads computing derivatives at different points of the same result get the serial answers."""
    from concurrent.futures import ThreadPoolExecutor

    m = _fit(reference, "sleepstudy_rs_reml")
    points = [(m.theta * s, m.sigma * s) for s in (0.5, 0.8, 1.25, 2.0)] * 3

    def work(pt: tuple[np.ndarray, float]) -> tuple[np.ndarray, np.ndarray, float]:
        d = dv.variance_derivatives(m, pt[0], pt[1])
        return d.hessian_varpar, d.vcov_jacobian_varpar, dv.deviance_varpar(m, np.r_[pt[0], pt[1]])

    serial = [work(pt) for pt in points]
    with ThreadPoolExecutor(max_workers=2) as pool:
        threaded = list(pool.map(work, points))
    for (h1, j1, d1), (h2, j2, d2) in zip(serial, threaded):
        np.testing.assert_array_equal(h1, h2)
        np.testing.assert_array_equal(j1, j2)
        assert d1 == d2


def test_dense_limit_raises(reference: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    m = _fit(reference, "penicillin_crossed")
    monkeypatch.setattr(dv, "DENSE_MAX", 10)
    with pytest.raises(dv.TooLargeForExact):
        dv.variance_derivatives(m, m.theta, m.sigma)


def test_richardson_helpers() -> None:
    jac = dv.fd_jacobian(lambda v: np.array([np.sin(v[0]) * v[1], np.exp(v[1])]), [0.3, 1.2])
    want = np.array([[np.cos(0.3) * 1.2, np.sin(0.3)], [0.0, np.exp(1.2)]])
    np.testing.assert_allclose(jac, want, rtol=1e-10, atol=1e-12)
    H = dv.fd_hessian(lambda v: np.exp(v[0] * v[1]), [0.5, -0.7])
    e = np.exp(-0.35)
    want = np.array([[0.49 * e, (1 - 0.35) * e], [(1 - 0.35) * e, 0.25 * e]])
    np.testing.assert_allclose(H, want, rtol=1e-8)
