"""The dense Schur-complement objective (crossed terms densely coupled to the first, e.g. subjects x items)
at fixed theta: objective equal to the blocked factor's, gradients equal to central differences, on the
interior and on the boundary (maximal models end there), for ML and REML, with weights, with three terms;
and fits that use it reach BOBYQA's optimum from lme4's start."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.core.schur import SchurObjective


def _crossed(nsubj: int = 14, nitem: int = 9, reps: int = 1, seed: int = 1, weights: bool = False) -> pd.DataFrame:
    """A psycholinguistic design: every subject sees every item; two-level predictors coded -0.5/0.5."""
    rng = np.random.default_rng(seed)
    s = np.repeat(np.arange(nsubj), nitem * reps)
    i = np.tile(np.repeat(np.arange(nitem), reps), nsubj)
    a = np.where(i % 2 == 0, -0.5, 0.5)
    b = np.where((i // 2 + s) % 2 == 0, -0.5, 0.5)
    bs = rng.normal(0, [1.0, 0.5, 0.3], (nsubj, 3))
    bi = rng.normal(0, [0.8, 0.2, 0.4], (nitem, 3))
    y = 1 + 0.5 * a - 0.3 * b + bs[s, 0] + bs[s, 1] * a + bs[s, 2] * b + bi[i, 0] + bi[i, 1] * a + bi[i, 2] * b
    df = pd.DataFrame({"y": y + rng.normal(0, 1, len(s)), "a": a, "b": b, "subj": s, "item": i,
                       "blk": (s + i) % 4})
    if weights:
        df["w"] = rng.uniform(0.5, 2.0, len(df))
    return df


MODELS = [
    ("y ~ a * b + (1 + a + b | subj) + (1 + a + b | item)", {}),
    ("y ~ a + b + (1 + a | subj) + (1 + b | item) + (1 | blk)", {}),
    ("y ~ a * b + (1 + a + b | subj) + (1 + a | item)", {"weights": "w"}),
    ("y ~ a + (a || subj) + (1 + a + b | item)", {}),
]


def _schur(formula: str, kwargs: dict, reml: bool) -> tuple[lf.DevianceFunction, SchurObjective]:
    df = _crossed(weights="weights" in kwargs)
    fn = lf.make_deviance(formula, df, reml=reml, weights=df[kwargs["weights"]] if kwargs else None)
    return fn, SchurObjective(fn.cp, fn.factor.slices, fn.factor.positions)


def _thetas(fn: lf.DevianceFunction) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    inner = np.where(fn.lower == 0, rng.uniform(0.2, 1.2, fn.n_theta), rng.uniform(-0.6, 0.6, fn.n_theta))
    boundary = inner.copy()
    boundary[np.flatnonzero(fn.lower == 0)[1::2]] = 0.0  # every other diagonal entry on its bound
    return [fn.theta0, inner, boundary]


def _fd_log_dets(so: SchurObjective, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of the log-determinants of Omega's three leading blocks (q, q + p, all) from the parts
    (log|M|, log|R_X|^2 = D2 - D1, pwrss = exp(D3 - D2)): 3 x n_theta."""
    fd = np.zeros((3, len(theta)))
    for j in range(len(theta)):
        e = np.zeros(len(theta))
        e[j] = h
        hi, lo = so(theta + e), so(theta - e)
        for k, (a, b) in enumerate([(hi[0], lo[0]), (hi[0] + hi[1], lo[0] + lo[1]),
                                    (hi[0] + hi[1] + np.log(hi[2]), lo[0] + lo[1] + np.log(lo[2]))]):
            fd[k, j] = (a - b) / (2 * h)
    return fd


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize(("formula", "kwargs"), MODELS)
def test_objective_equals_blocked_factor(formula: str, kwargs: dict, reml: bool) -> None:
    fn, so = _schur(formula, kwargs, reml)
    for theta in _thetas(fn):
        assert fn._criterion(so(theta)) == pytest.approx(fn.blocked(theta), rel=1e-11, abs=1e-9)


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize(("formula", "kwargs"), MODELS)
def test_gradient_of_log_determinants_matches_central_differences(formula: str, kwargs: dict, reml: bool) -> None:
    """Each of the three log-determinant gradients against central differences (h = 1e-6), interior and
    boundary points alike (the formula needs no inverse of lambda)."""
    fn, so = _schur(formula, kwargs, reml)
    for theta in _thetas(fn):
        _, grads = so.with_gradients(theta)
        np.testing.assert_allclose(grads, _fd_log_dets(so, theta), rtol=1e-6, atol=1e-6)


def _zero_columns_theta(fn: lf.DevianceFunction) -> tuple[np.ndarray, list[int]]:
    """An interior theta with the last column of every term's lambda set to zero, and those diagonal entries."""
    theta = _thetas(fn)[1].copy()
    diag = []
    for sl, (r, c) in zip(fn.factor.slices, fn.factor.positions):
        last = c == c.max()
        theta[sl][last] = 0.0
        diag.append(sl.start + int(np.flatnonzero(last & (r == c))[0]))
    return theta, diag


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize(("formula", "kwargs"), MODELS)
def test_curvature_of_zero_columns_matches_second_differences(formula: str, kwargs: dict, reml: bool) -> None:
    """Along the diagonal entry of a zero column the log-determinants change by t^2 S_k[c, c] + O(t^4): the
    coefficient against second differences (t = 1e-4), and the gradient there is exactly 0."""
    fn, so = _schur(formula, kwargs, reml)
    theta, diag = _zero_columns_theta(fn)
    parts, grads, curv = so.with_curvature(theta)
    _, grads_only = so.with_gradients(theta)
    np.testing.assert_array_equal(grads, grads_only)

    def log_dets(p: tuple[float, float, float]) -> np.ndarray:
        return np.array([p[0], p[0] + p[1], p[0] + p[1] + np.log(p[2])])

    h = 1e-4
    for j in diag:
        assert np.all(grads[:, j] == 0.0)
        e = np.zeros(len(theta))
        e[j] = h
        np.testing.assert_allclose(curv[:, j], (log_dets(so(theta + e)) - log_dets(parts)) / h ** 2,
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reml", [False, True])
def test_slope_off_a_zero_column_needs_no_evaluation(reml: bool) -> None:
    """value_and_gradient gives a zero column's diagonal entry the one-sided slope h S[c, c] into the interior
    (h = 1e-6), equal to the one-sided difference, from the same factor: one evaluation, not two."""
    fn, so = _schur(MODELS[0][0], {}, reml)
    fn.small = so
    theta, diag = _zero_columns_theta(fn)
    before = fn.evaluations
    val, grad = fn.value_and_gradient(theta)
    assert fn.evaluations == before + 1
    for j in diag:
        e = np.zeros(len(theta))
        e[j] = 1e-6
        assert grad[j] == pytest.approx((fn(theta + e) - val) / 1e-6, rel=1e-4, abs=1e-7)


def test_objective_and_fitted_model_pickle() -> None:
    """The per-thread work arrays stay out of pickles and copies (a fitted model holds its objective); the copy
    evaluates as the original."""
    import copy
    import pickle

    df = _crossed(nsubj=40, nitem=24, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.LmmflowWarning)
        m = lf.lmer("y ~ a * b + (1 + a + b | subj) + (1 + a + b | item)", df, reml=False)
    assert isinstance(m.devfun.small, SchurObjective)
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.objective == m.objective
    so = copy.deepcopy(m.devfun.small)
    theta = m.optinfo.theta
    assert so(theta) == m.devfun.small(theta)
    np.testing.assert_array_equal(so.with_gradients(theta)[1], m.devfun.small.with_gradients(theta)[1])


def test_large_workspaces_are_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above WORKSPACE_KEPT bytes the work arrays are allocated per call (a fitted model holds its objective):
    same numbers, nothing kept."""
    import lmmflow.core.schur as schur

    fn, so = _schur(MODELS[0][0], {}, False)
    theta = _thetas(fn)[2]
    kept = so.with_curvature(theta)
    assert getattr(so._local, "ws", None) is not None
    monkeypatch.setattr(schur, "WORKSPACE_KEPT", 0)
    fresh = SchurObjective(fn.cp, fn.factor.slices, fn.factor.positions)
    got = fresh.with_curvature(theta)
    assert getattr(fresh._local, "ws", None) is None
    assert got[0] == kept[0]
    np.testing.assert_array_equal(got[1], kept[1])
    np.testing.assert_array_equal(got[2], kept[2])


def test_workspace_is_per_thread() -> None:
    """The evaluation reuses work arrays (no page faults per call); threads sharing one objective each get
    their own, so concurrent evaluations equal sequential ones."""
    from concurrent.futures import ThreadPoolExecutor

    fn, so = _schur(MODELS[0][0], {}, False)
    rng = np.random.default_rng(3)
    thetas = [np.where(fn.lower == 0, rng.uniform(0.2, 1.2, fn.n_theta), rng.uniform(-0.6, 0.6, fn.n_theta))
              for _ in range(8)]
    expected = [so.with_gradients(t) for t in thetas]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda t: [so.with_gradients(t) for _ in range(20)][-1], thetas))
    for (p1, g1), (p2, g2) in zip(expected, got):
        assert p1 == p2
        np.testing.assert_array_equal(g1, g2)


@pytest.mark.parametrize(("formula", "kwargs"), MODELS[:2])
def test_criterion_gradient_matches_the_blocked_gradient(formula: str, kwargs: dict) -> None:
    """Through DevianceFunction: the Schur objective's gradient equals the blocked factor's analytic one
    in the interior."""
    fn, so = _schur(formula, kwargs, reml=True)
    fn.small = so
    theta = _thetas(fn)[1]
    val, grad = fn.value_and_gradient(theta)
    assert val == pytest.approx(fn.blocked(theta), rel=1e-11)
    np.testing.assert_allclose(grad, fn.gradient(theta), rtol=1e-7, atol=1e-7)


def test_large_crossed_design_uses_the_schur_objective_and_reaches_bobyqas_optimum() -> None:
    """A maximal crossed model too large for the small dense path: the Schur objective is chosen, and the
    gradient fit is no worse than BOBYQA from lme4's start (1e-7 relative), with the same estimates."""
    df = _crossed(nsubj=40, nitem=24, seed=3)
    formula = "y ~ a * b + (1 + a + b | subj) + (1 + a + b | item)"
    fn = lf.make_deviance(formula, df, reml=False)
    assert isinstance(fn.small, SchurObjective)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.LmmflowWarning)
        m = lf.lmer(formula, df, reml=False)
        ref = lf.lmer(formula, df, reml=False, control=lf.LmerControl(optimizer="bobyqa", maxeval=100_000))
    assert m.optinfo.optimizer == "lbfgsb"
    assert m.objective <= ref.objective + 1e-7 * abs(ref.objective)
    np.testing.assert_allclose(m.fixef, ref.fixef, rtol=1e-3, atol=1e-4)


def test_sparse_coupling_keeps_the_blocked_factor() -> None:
    """Where few subject-item pairs are observed (2% here, as InstEval), the sparse fill wins."""
    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame({"y": rng.normal(size=n), "s": rng.integers(0, 600, n), "i": rng.integers(0, 250, n)})
    fn = lf.make_deviance("y ~ 1 + (1 | s) + (1 | i)", df)
    assert not SchurObjective.fits(fn.cp) and not isinstance(fn.small, SchurObjective)


# ---------------------------------------------------------------------------------------------- nested terms
def _nested(nschool: int = 12, nclass: int = 3, nstud: int = 5, ntime: int = 4, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_st = nschool * nclass * nstud
    school = np.repeat(np.arange(nschool), nclass * nstud * ntime)
    klass = np.repeat(np.arange(nschool * nclass), nstud * ntime)
    student = np.repeat(np.arange(n_st), ntime)
    t = np.tile(np.arange(ntime, dtype=float), n_st)
    y = (t + rng.normal(0, 1, nschool)[school] + rng.normal(0, 0.3, nschool)[school] * t
         + rng.normal(0, 1, n_st)[student] + rng.normal(0, 0.5, n_st)[student] * t + rng.normal(0, 1, len(t)))
    return pd.DataFrame({"y": y, "t": t, "school": school, "klass": klass % nclass, "student": student % nstud})


NESTED = [
    "y ~ t + (1 + t | school) + (1 + t | school:klass:student)",
    "y ~ t + (1 + t | school) + (1 | school:klass) + (1 + t | school:klass:student)",
    "y ~ t + (1 | school) + (0 + t | school) + (1 + t | school:klass:student)",
]


def _nested_classes() -> list:
    from lmmflow.core.nested import NestedSchurObjective
    from lmmflow.core.twolevel import TwoLevelObjective

    return [(f, NestedSchurObjective) for f in NESTED] + [(NESTED[0], TwoLevelObjective)]


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize(("formula", "cls"), _nested_classes())
def test_nested_objective_and_gradient(formula: str, cls: type, reml: bool) -> None:
    """Students in classes in schools: the gathered Schur objectives (any depth; two levels with per-level
    blocks of both terms) equal the blocked factor's, and their log-determinant gradients equal central
    differences, interior and boundary."""
    fn = lf.make_deviance(formula, _nested(), reml=reml)
    assert cls.fits(fn.cp)
    so = cls(fn.cp, fn.factor.slices, fn.factor.positions)
    for theta in _thetas(fn):
        assert fn._criterion(so(theta)) == pytest.approx(fn.blocked(theta), rel=1e-11, abs=1e-9)
        _, grads = so.with_gradients(theta)
        np.testing.assert_allclose(grads, _fd_log_dets(so, theta), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("formula", "kind"), [(NESTED[0], "TwoLevelObjective"), (NESTED[1], "NestedSchurObjective")])
def test_nested_fit_uses_it_and_reaches_bobyqas_optimum(formula: str, kind: str) -> None:
    df = _nested(nschool=20, nclass=4, nstud=8)
    fn = lf.make_deviance(formula, df)
    assert type(fn.small).__name__ == kind
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.LmmflowWarning)
        m = lf.lmer(formula, df)
        ref = lf.lmer(formula, df, control=lf.LmerControl(optimizer="bobyqa", maxeval=100_000))
    assert m.objective <= ref.objective + 1e-7 * abs(ref.objective)
    np.testing.assert_allclose(m.fixef, ref.fixef, rtol=1e-4, atol=1e-5)


def test_crossed_terms_are_not_taken_for_nested() -> None:
    from lmmflow.core.nested import NestedSchurObjective
    from lmmflow.core.twolevel import TwoLevelObjective

    fn = lf.make_deviance("y ~ a + (1 + a | subj) + (1 | item)", _crossed())
    assert not NestedSchurObjective.fits(fn.cp) and not TwoLevelObjective.fits(fn.cp)


def test_many_schools_keep_per_level_blocks() -> None:
    """1,000 schools: no dense 2,000-square trailing block, and the fit takes the gradient route."""
    from lmmflow.core.twolevel import TwoLevelObjective

    df = _nested(nschool=1000, nclass=1, nstud=3, ntime=3)
    fn = lf.make_deviance(NESTED[0], df)
    assert isinstance(fn.small, TwoLevelObjective) and fn.small.arr.size == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.LmmflowWarning)
        m = lf.lmer(NESTED[0], df)
    assert m.optinfo.optimizer == "lbfgsb"
    theta = m.theta
    assert fn(theta) == pytest.approx(fn.blocked(theta), rel=1e-11)


def test_forty_crossed_terms_fit_in_under_a_minute() -> None:
    """(1|g1) + ... + (1|g40): issue 12's bound (it took minutes through the blocked factor's 780 fill blocks)."""
    import time

    rng = np.random.default_rng(0)
    n, k = 2000, 40
    df = pd.DataFrame({f"g{j}": rng.integers(0, 8, n) for j in range(1, k + 1)})
    df["y"] = rng.normal(size=n) + sum(rng.normal(0, 0.3, 8)[df[f"g{j}"]] for j in range(1, k + 1))
    formula = "y ~ 1 + " + " + ".join(f"(1 | g{j})" for j in range(1, k + 1))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.LmmflowWarning)
        m = lf.lmer(formula, df)
    assert time.perf_counter() - t0 < 60
    assert m.optinfo.converged and len(m.theta) == k
    assert m.devfun(m.theta) == pytest.approx(m.devfun.blocked(m.theta), rel=1e-10)


@pytest.mark.parametrize("kind", ["dense", "nested", "twolevel"])
def test_solution_equals_the_blocked_factors(kind: str) -> None:
    """beta, the spherical random effects and R_X at theta from each Schur objective, as from the blocked factor."""
    from lmmflow.core.nested import NestedSchurObjective
    from lmmflow.core.twolevel import TwoLevelObjective

    if kind == "dense":
        fn = lf.make_deviance(MODELS[1][0], _crossed(), reml=False)
        so = SchurObjective(fn.cp, fn.factor.slices, fn.factor.positions)
    else:
        cls = NestedSchurObjective if kind == "nested" else TwoLevelObjective
        fn = lf.make_deviance(NESTED[1] if kind == "nested" else NESTED[0], _nested())
        so = cls(fn.cp, fn.factor.slices, fn.factor.positions)
    for theta in _thetas(fn)[1:]:
        parts, beta, u, rx = so.solution(theta)
        f = fn.factor
        f.update(theta)
        np.testing.assert_allclose(beta, f.solve_fixef(), rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(u, np.concatenate(f.solve_u(f.solve_fixef())), rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(rx, f.LXX[:fn.cp.p, :fn.cp.p], rtol=1e-10, atol=1e-12)
        assert parts == pytest.approx(so(theta), rel=1e-12)


def test_schur_working_memory_is_a_few_copies_of_its_dense_blocks() -> None:
    """Memory of a crossed vector-valued fit: one value-and-gradient evaluation allocates about five copies of
    the Schur objective's two dense blocks (coupling q_1 x N_r and trailing N_r x N_r; measured 4.9-5.3 from
    56 x 32 to 300 x 100 subjects x items), nothing of the size q x q; and the blocks themselves are bounded
    (a trailing system over MAX_TRAILING, or a coupling block over MAX_COUPLING_VALUES, is left to the blocked
    factor), so the worst case is about 5 x (30M + 2500^2) doubles."""
    import tracemalloc

    from lmmflow.core.schur import MAX_COUPLING_VALUES, MAX_TRAILING

    df = _crossed(nsubj=120, nitem=60, seed=2)
    fn = lf.make_deviance("y ~ a * b + (1 + a + b | subj) + (1 + a + b | item)", df, reml=False)
    so = fn.small
    assert isinstance(so, SchurObjective)
    blocks = (so.q1 * so.nr + so.nr ** 2) * 8
    theta = np.maximum(0.7 * fn.theta0, fn.lower)
    fn.value_and_gradient(theta)
    tracemalloc.start()
    try:
        fn.value_and_gradient(theta)
        fn(theta)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * blocks
    # and the bounds: more trailing effects than MAX_TRAILING, or too large a coupling block, are refused
    assert MAX_TRAILING ** 2 + MAX_COUPLING_VALUES <= 40_000_000
    rng = np.random.default_rng(1)
    n = 6 * MAX_TRAILING
    big = pd.DataFrame({"y": rng.normal(size=n), "a": rng.normal(size=n), "b": rng.normal(size=n),
                        "subj": rng.integers(0, MAX_TRAILING // 2, n), "item": rng.integers(0, MAX_TRAILING // 2, n)})
    cp = lf.make_deviance("y ~ a + (1 + a + b | subj) + (1 + a + b | item)", big, reml=False).cp
    assert sum(b.q for b in cp.blocks[1:]) + cp.p + 1 > MAX_TRAILING
    assert not SchurObjective.fits(cp)
