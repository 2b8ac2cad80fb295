"""The numerical core at fixed theta, independent of the optimizer: the objective against lme4's,
the analytic gradient against finite differences, the blocked factor against dense linear algebra."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lmmflow as lf
from lmmflow.core import CrossProducts, DevianceFunction
from lmmflow.core.dense import SmallDenseObjective
from lmmflow.core.gradient import profiled_gradient
from lmmflow.results.model import make_blocks

from ..conftest import load_case


def _cases(reference: dict) -> list[dict]:
    return reference["cases"]


def test_objective_at_lme4_theta(reference: dict) -> None:
    """At lme4's optimal theta the profiled criterion equals lme4's to 1e-9 relative."""
    for case in _cases(reference):
        fn = lf.make_deviance(case["formula"], load_case(case), reml=case["reml"])
        val = fn(np.array(case["theta"]))
        assert val == pytest.approx(case["objective"], rel=1e-9), case["name"]


def _fd_gradient(fn: DevianceFunction, theta: np.ndarray, h: float = 1e-5) -> np.ndarray:
    g = np.zeros(len(theta))
    for j in range(len(theta)):
        e = np.zeros(len(theta))
        e[j] = h
        g[j] = (fn(theta + e) - fn(theta - e)) / (2 * h)
    return g


@pytest.mark.parametrize("reml", [True, False])
def test_analytic_gradient_matches_finite_differences(reference: dict, reml: bool) -> None:
    """Central differences (h = 1e-5) agree with the analytic gradient to 2e-5 relative."""
    for case in _cases(reference):
        fn = lf.make_deviance(case["formula"], load_case(case), reml=reml)
        theta = np.array(case["theta"]) * 1.3 + 0.05
        g = fn.gradient(theta)
        g_fd = _fd_gradient(fn, theta)
        np.testing.assert_allclose(g, g_fd, rtol=2e-5, atol=1e-4, err_msg=case["name"])


def _dense_objective(case: dict, df, theta: np.ndarray, reml: bool) -> float:
    """The same criterion from dense matrices: V = sigma^2 (I + Z Lambda Lambda' Z'), profiled."""
    design = lf.lformula(case["formula"], df)
    fn = lf.make_deviance(design, reml=reml)
    X, y, n = design.X, design.y, design.n
    Zs, lams = [], fn.factor.lambdas_of(theta)
    for term, lam in zip(design.terms, lams):
        Z = make_blocks(design)[design.terms.index(term)].sparse_z().toarray()
        Lam = np.kron(np.eye(term.nlevels), lam)
        Zs.append(Z @ Lam)
    ZL = np.hstack(Zs)
    V = np.eye(n) + ZL @ ZL.T
    Vi = np.linalg.inv(V)
    XtViX = X.T @ Vi @ X
    beta = np.linalg.solve(XtViX, X.T @ Vi @ y)
    r = y - X @ beta
    rss = float(r @ Vi @ r)
    _, logdet_v = np.linalg.slogdet(V)
    p = X.shape[1]
    if reml:
        return logdet_v + np.linalg.slogdet(XtViX)[1] + (n - p) * (1 + np.log(2 * np.pi * rss / (n - p)))
    return logdet_v + n * (1 + np.log(2 * np.pi * rss / n))


@pytest.mark.parametrize("name", ["sleepstudy_rs_reml", "penicillin_crossed", "pastes_nested_slash",
                                  "sleepstudy_uncorr_reml", "cake_factorial"])
@pytest.mark.parametrize("reml", [True, False])
def test_blocked_factor_equals_dense_algebra(reference: dict, name: str, reml: bool) -> None:
    case = next(c for c in _cases(reference) if c["name"] == name)
    df = load_case(case)
    fn = lf.make_deviance(case["formula"], df, reml=reml)
    for theta in (np.array(case["theta"]), fn.theta0 * 0.7 + 0.1):
        assert fn(theta) == pytest.approx(_dense_objective(case, df, theta, reml), rel=1e-10)


def test_conditional_variances_equal_dense_inverse(reference: dict) -> None:
    """Diagonal blocks of (Lambda'Z'Z Lambda + I)^-1 from the blocked factor = dense inverse."""
    for name in ("penicillin_crossed", "pastes_nested_colon", "sleepstudy_rs_reml"):
        case = next(c for c in _cases(reference) if c["name"] == name)
        design = lf.lformula(case["formula"], load_case(case))
        fn = lf.make_deviance(design)
        theta = np.array(case["theta"])
        fn.blocked(theta)
        blocks = fn.factor.inverse_diag_blocks(chunk=7)  # small chunks exercise the chunking
        zl = sp.hstack([sp.csr_matrix(b.sparse_z().toarray() @ np.kron(np.eye(b.nlevels), lam))
                        for b, lam in zip(make_blocks(design), fn.factor.lambdas_of(theta))]).toarray()
        dense = np.linalg.inv(zl.T @ zl + np.eye(zl.shape[1]))
        start = 0
        for term, blk in zip(design.terms, blocks):
            for lvl in range(term.nlevels):
                sl = slice(start + lvl * term.p, start + (lvl + 1) * term.p)
                np.testing.assert_allclose(blk[lvl], dense[sl, sl], rtol=1e-8, atol=1e-12)
            start += term.nlevels * term.p


def test_fill_products_equal_sparse_products(reference: dict) -> None:
    """The fixed-pattern layout for scalar crossed terms gives the same factor as sparse products."""
    case = next(c for c in _cases(reference) if c["name"] == "penicillin_crossed")
    fn = lf.make_deviance(case["formula"], load_case(case))
    assert fn.factor.pairs
    theta = np.array([1.3, 0.4])
    a = fn.blocked(theta)
    ld = fn.factor.Ld[(1, 1)].copy()
    fn.factor.pairs = {}
    assert fn.blocked(theta) == pytest.approx(a, rel=1e-13)
    np.testing.assert_allclose(fn.factor.Ld[(1, 1)], ld, rtol=1e-12, atol=1e-14)


def test_fill_products_three_terms_objective_and_gradient() -> None:
    """Three scalar terms (a (k, j) fill block besides the diagonal ones): the fixed-pattern layout gives
    the objective and the analytic gradient of sparse products, and the gradient equals central differences."""
    rng = np.random.default_rng(11)
    n = 600
    df = pd.DataFrame({"a": rng.integers(0, 40, n), "b": rng.integers(0, 12, n), "c": rng.integers(0, 7, n),
                       "x": rng.normal(size=n)})
    df["y"] = (1 + 0.5 * df["x"] + rng.normal(size=40)[df["a"]] + 0.7 * rng.normal(size=12)[df["b"]]
               + 0.4 * rng.normal(size=7)[df["c"]] + rng.normal(size=n))
    fn = lf.make_deviance("y ~ x + (1 | a) + (1 | b) + (1 | c)", df, reml=False)
    assert len(fn.factor.pairs) == 3  # (1, 1), (2, 1), (2, 2)
    theta = np.array([0.9, 0.6, 0.35])

    def blocked_value_and_gradient() -> tuple[float, np.ndarray]:  # the blocked factor, not the dense path
        return fn.blocked(theta), profiled_gradient(fn, theta, updated=True)

    v_pairs, g_pairs = blocked_value_and_gradient()
    fn.factor.pairs = {}
    v_sparse, g_sparse = blocked_value_and_gradient()
    assert v_pairs == pytest.approx(v_sparse, rel=1e-13)
    np.testing.assert_allclose(g_pairs, g_sparse, rtol=1e-9, atol=1e-9)
    h = 1e-6
    fd = [(fn(theta + h * e) - fn(theta - h * e)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(g_pairs, fd, rtol=1e-5, atol=1e-5)


def test_cross_products_with_new_response(sleepstudy) -> None:
    design = lf.lformula("Reaction ~ Days + (Days | Subject)", sleepstudy)
    rng = np.random.default_rng(3)
    y2 = design.y + rng.normal(size=design.n)
    cp = CrossProducts.build(make_blocks(design), design.X, design.y)
    new = cp.with_response(y2, design.X)
    direct = CrossProducts.build(make_blocks(design), design.X, y2)
    np.testing.assert_allclose(new.xx, direct.xx, rtol=1e-12)
    for a, b in zip(new.xz, direct.xz):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_weights_scale_sigma_only(sleepstudy) -> None:
    """Constant prior weights c: residual variance sigma^2 / c is the same, so sigma doubles for c = 4,
    theta (relative to sigma) halves, and beta and the random-effect covariances do not change."""
    f = "Reaction ~ Days + (Days | Subject)"
    w = np.full(len(sleepstudy), 4.0)
    # exact identity at fixed theta: the weighted criterion at theta / 2 equals the unweighted one at theta
    fa, fb = lf.make_deviance(f, sleepstudy), lf.make_deviance(f, sleepstudy, weights=w)
    for theta in (np.array([0.97, 0.015, 0.23]), np.array([1.5, -0.2, 0.4])):
        assert fb(theta / 2) == pytest.approx(fa(theta), rel=1e-12)
    # and at the optimum (gradient-based optimizer: converged to the gradient tolerance)
    ctl = lf.LmerControl(optimizer="lbfgsb")
    a = lf.lmer(f, sleepstudy, control=ctl)
    b = lf.lmer(f, sleepstudy, weights=w, control=ctl)
    np.testing.assert_allclose(b.fixef, a.fixef, rtol=1e-6)
    np.testing.assert_allclose(b.theta, a.theta / 2.0, rtol=1e-5, atol=1e-7)
    assert b.sigma == pytest.approx(2.0 * a.sigma, rel=1e-6)
    np.testing.assert_allclose(b.re_covariances[0], a.re_covariances[0], rtol=1e-5)
    np.testing.assert_allclose(b.fitted, a.fitted, rtol=1e-7)


def test_weights_equal_rescaled_rows(sleepstudy) -> None:
    """Unequal weights equal an unweighted fit of rows scaled by sqrt(w) at fixed theta (pwrss part)."""
    f = "Reaction ~ Days + (1 | Subject)"
    w = np.linspace(0.5, 2.0, len(sleepstudy))
    m = lf.lmer(f, sleepstudy, weights=w)
    assert m.optinfo.converged
    # a weighted fit must differ from the unweighted one, and beta solves the weighted GLS equations
    design = m.design
    V = np.diag(1 / w) + (m.re_covariances[0][0, 0] / m.sigma ** 2) * (
        (design.terms[0].codes[:, None] == design.terms[0].codes[None, :]).astype(float))
    Vi = np.linalg.inv(V)
    beta = np.linalg.solve(design.X.T @ Vi @ design.X, design.X.T @ Vi @ design.y)
    np.testing.assert_allclose(m.fixef.to_numpy(), beta, rtol=1e-8)


def test_offset_equals_shifted_response(sleepstudy) -> None:
    f = "Reaction ~ Days + (Days | Subject)"
    off = 3.0 * sleepstudy["Days"].to_numpy() + 10
    a = lf.lmer(f, sleepstudy, offset=off)
    b = lf.lmer(f, sleepstudy.assign(Reaction=sleepstudy["Reaction"] - off))
    assert a.objective == pytest.approx(b.objective, rel=1e-10)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-7)
    np.testing.assert_allclose(a.fitted, b.fitted + off, rtol=1e-9)


def test_small_dense_path_equals_blocked_factor(reference: dict) -> None:
    """Small models are evaluated from one dense matrix; it must agree with the blocked factor."""
    used = 0
    for case in _cases(reference):
        for reml in (True, False):
            fn = lf.make_deviance(case["formula"], load_case(case), reml=reml)
            if fn.small is None:
                continue
            used += 1
            for theta in (np.array(case["theta"]), fn.theta0 * 0.6 + 0.2):
                assert fn(theta) == pytest.approx(fn.blocked(theta), rel=1e-12), case["name"]
    assert used >= 6


def test_evaluation_never_touches_the_rows(sleepstudy) -> None:
    """After the one pass that builds the cross-products, the objective and its gradient use only
    level- and term-sized arrays: with every per-row array removed they give the same values."""
    import dataclasses

    f = "Reaction ~ Days + (Days | Subject)"
    fn = lf.make_deviance(f, sleepstudy)
    theta = np.array([0.9, 0.02, 0.25])
    want, grad = fn.blocked(theta), fn.gradient(theta)
    cp = fn.cp
    cp.blocks = [dataclasses.replace(b, codes=np.zeros(0, dtype=np.int64), Z=np.zeros((0, b.p))) for b in cp.blocks]
    fresh = DevianceFunction(cp, reml=True)
    assert fresh.blocked(theta) == pytest.approx(want, rel=1e-14)
    np.testing.assert_allclose(fresh.gradient(theta), grad, rtol=1e-12)
    assert fresh(theta) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("reml", [True, False])
def test_small_dense_gradient_equals_blocked_gradient_and_differences(reference: dict, reml: bool) -> None:
    """The small models' gradient from the dense system (log-determinants of Omega's leading blocks)
    equals the blocked factor's analytic gradient to 1e-9 relative and central differences to 2e-5."""
    used = 0
    for case in _cases(reference):
        fn = lf.make_deviance(case["formula"], load_case(case), reml=reml)
        if not isinstance(fn.small, SmallDenseObjective):
            continue
        used += 1
        for theta in (np.array(case["theta"]) * 1.3 + 0.05, fn.theta0 * 0.6 + 0.2):
            val, g = fn.value_and_gradient(theta)
            assert val == pytest.approx(fn.blocked(theta), rel=1e-12)
            np.testing.assert_allclose(g, fn.gradient(theta), rtol=1e-9, atol=1e-9, err_msg=case["name"])
            np.testing.assert_allclose(g, _fd_gradient(fn, theta), rtol=2e-5, atol=1e-4, err_msg=case["name"])
    assert used >= 6


def test_dense_gradient_on_a_bound_points_into_the_interior(sleepstudy) -> None:
    """A diagonal entry of lambda at 0 enters only squared: its analytic derivative is 0 there, so the
    gradient takes a one-sided difference, which is negative when the objective falls into the interior."""
    fn = lf.make_deviance("Reaction ~ Days + (Days | Subject)", sleepstudy)
    theta = np.array([0.97, 0.015, 0.0])  # the slope's SD on its bound; the optimum has it at 0.23
    _, g = fn.value_and_gradient(theta)
    assert g[2] < 0
    assert g[2] == pytest.approx((fn(theta + [0, 0, 1e-6]) - fn(theta)) / 1e-6, rel=1e-9)


def test_factor_at_is_a_factor_of_its_own() -> None:
    """factor_at works on its own arrays: the deviance function's factor (dense blocks too) is untouched."""
    fn = lf.make_deviance("diameter ~ 1 + (1 | plate) + (1 | sample)", lf.load_dataset("penicillin"))
    fn.blocked(np.array([1.5, 3.0]))
    f = fn.factor
    before = {"LXX": f.LXX.copy(), "Ld": {k: v.copy() for k, v in f.Ld.items()}, "theta": f.theta.copy()}
    assert before["Ld"]  # the second term has a dense block
    g = fn.factor_at([0.5, 1.0])
    assert g is not f and g.cp is f.cp
    np.testing.assert_array_equal(f.theta, before["theta"])
    np.testing.assert_array_equal(f.LXX, before["LXX"])
    for k, v in before["Ld"].items():
        np.testing.assert_array_equal(f.Ld[k], v)
        assert not np.shares_memory(f.Ld[k], g.Ld[k])
    assert not np.allclose(g.LXX, f.LXX)
    again = fn.factor_at([1.5, 3.0])
    np.testing.assert_allclose(again.LXX, f.LXX, rtol=1e-13)
