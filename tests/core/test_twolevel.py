"""The two-level nested objective's structure-of-arrays path (students in schools on a padded grid of slots)
against its stacked path and the blocked factor: objective, log-determinant gradients and solution equal to
1e-10 on interior and boundary points, gradients equal to central differences, for several sizes of the two
terms' blocks, unbalanced schools (empty slots), weights, ML and REML; and the layout it falls back from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.core import twolevel
from lmmflow.core.twolevel import TwoLevelObjective


def _schools(nschool: int = 9, ntime: int = 4, seed: int = 3, unbalanced: bool = False,
             weights: bool = False) -> pd.DataFrame:
    """Students in schools with times and a second covariate; ``unbalanced`` gives schools 2-7 students and
    students 2-4 observations."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 8, nschool) if unbalanced else np.full(nschool, 5)
    school = np.repeat(np.arange(nschool), sizes)
    student = np.arange(len(school))
    nobs = rng.integers(2, ntime + 1, len(student)) if unbalanced else np.full(len(student), ntime)
    school, student = np.repeat(school, nobs), np.repeat(student, nobs)
    t = np.concatenate([np.arange(k, dtype=float) for k in nobs])
    x = rng.normal(size=len(t))
    y = (t + 0.5 * x + rng.normal(0, 1, nschool)[school] + rng.normal(0, 0.3, nschool)[school] * t
         + rng.normal(0, 1, len(nobs))[student] + rng.normal(0, 0.5, len(nobs))[student] * t
         + rng.normal(0, 1, len(t)))
    df = pd.DataFrame({"y": y, "t": t, "x": x, "school": school, "student": student})
    if weights:
        df["w"] = rng.uniform(0.5, 2.0, len(df))
    return df


CASES = [  # (formula, data options): p_1 x p_2 = 2 x 2, 1 x 2, 2 x 1, 3 x 2, 1 x 1
    ("y ~ t + (1 + t | school) + (1 + t | school:student)", {}),
    ("y ~ t + (1 + t | school) + (1 + t | school:student)", {"unbalanced": True}),
    ("y ~ t + x + (1 + t | school) + (1 + t | school:student)", {"weights": True}),
    ("y ~ t + (1 + t | school) + (1 | school:student)", {"unbalanced": True}),
    ("y ~ t + (1 | school) + (1 + t | school:student)", {}),
    ("y ~ t + x + (1 + t | school) + (1 + t + x | school:student)", {"unbalanced": True, "ntime": 7}),
    ("y ~ t + (1 | school) + (1 | school:student)", {"unbalanced": True}),
]


def _objectives(formula: str, opts: dict, reml: bool) -> tuple[lf.DevianceFunction, TwoLevelObjective,
                                                               TwoLevelObjective]:
    df = _schools(**opts)
    fn = lf.make_deviance(formula, df, reml=reml, weights=df["w"] if opts.get("weights") else None)
    assert TwoLevelObjective.fits(fn.cp)
    soa = TwoLevelObjective(fn.cp, fn.factor.slices, fn.factor.positions)
    saved = twolevel.SOA_MAX_P
    try:
        twolevel.SOA_MAX_P = 0
        stacked = TwoLevelObjective(fn.cp, fn.factor.slices, fn.factor.positions)
    finally:
        twolevel.SOA_MAX_P = saved
    assert soa.soa and not stacked.soa
    return fn, soa, stacked


def _thetas(fn: lf.DevianceFunction) -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    out = []
    for _ in range(3):
        out.append(np.where(fn.lower == 0, rng.uniform(0.2, 1.6, fn.n_theta), rng.uniform(-0.6, 0.6, fn.n_theta)))
    boundary = out[0].copy()
    boundary[np.flatnonzero(fn.lower == 0)[::2]] = 0.0  # diagonal entries on their bound
    return [fn.theta0, *out, boundary]


def _fd_log_dets(obj: TwoLevelObjective, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    fd = np.zeros((3, len(theta)))
    for j in range(len(theta)):
        e = np.zeros(len(theta))
        e[j] = h
        hi, lo = obj(theta + e), obj(theta - e)
        for k, (a, b) in enumerate([(hi[0], lo[0]), (hi[0] + hi[1], lo[0] + lo[1]),
                                    (hi[0] + hi[1] + np.log(hi[2]), lo[0] + lo[1] + np.log(lo[2]))]):
            fd[k, j] = (a - b) / (2 * h)
    return fd


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize(("formula", "opts"), CASES)
def test_structure_of_arrays_equals_the_stacked_path(formula: str, opts: dict, reml: bool) -> None:
    fn, soa, stacked = _objectives(formula, opts, reml)
    for theta in _thetas(fn):
        assert soa(theta) == pytest.approx(stacked(theta), rel=1e-10)
        assert fn._criterion(soa(theta)) == pytest.approx(fn.blocked(theta), rel=1e-11, abs=1e-9)
        parts, grads = soa.with_gradients(theta)
        parts0, grads0 = stacked.with_gradients(theta)
        assert parts == pytest.approx(parts0, rel=1e-10)
        np.testing.assert_allclose(grads, grads0, rtol=1e-10, atol=1e-10 * np.abs(grads0).max())
        sol, sol0 = soa.solution(theta), stacked.solution(theta)
        assert sol[0] == pytest.approx(sol0[0], rel=1e-10)
        for a, b in zip(sol[1:], sol0[1:]):
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10 * max(1.0, np.abs(b).max()))


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize(("formula", "opts"), CASES)
def test_structure_of_arrays_gradient_matches_central_differences(formula: str, opts: dict, reml: bool) -> None:
    fn, soa, _ = _objectives(formula, opts, reml)
    for theta in _thetas(fn):
        _, grads = soa.with_gradients(theta)
        np.testing.assert_allclose(grads, _fd_log_dets(soa, theta), rtol=1e-6, atol=1e-6)


def test_very_unequal_schools_keep_the_stacked_path() -> None:
    """One school of 200 students among 30 of 2: the padded grid would hold 31 x 200 slots for 260 students,
    so the stacked path is kept, with the same numbers."""
    rng = np.random.default_rng(5)
    sizes = np.r_[200, np.full(30, 2)]
    school = np.repeat(np.arange(31), sizes * 3)
    student = np.repeat(np.arange(sizes.sum()), 3)
    t = np.tile(np.arange(3.0), sizes.sum())
    df = pd.DataFrame({"y": t + rng.normal(size=len(t)) + rng.normal(size=sizes.sum())[student], "t": t,
                       "school": school, "student": student})
    fn = lf.make_deviance("y ~ t + (1 + t | school) + (1 + t | school:student)", df)
    assert isinstance(fn.small, TwoLevelObjective) and not fn.small.soa
    theta = fn.theta0 * 0.7
    assert fn(theta) == pytest.approx(fn.blocked(theta), rel=1e-11)


def test_fit_through_the_structure_of_arrays_path_keeps_its_optimum() -> None:
    """The fit reaches the same optimum through either path (same criterion to 1e-10, same estimates)."""
    df = _schools(nschool=30, unbalanced=True, seed=8)
    formula = "y ~ t + (1 + t | school) + (1 + t | school:student)"
    m = lf.lmer(formula, df)
    assert m.devfun.small.soa
    saved = twolevel.SOA_MAX_P
    try:
        twolevel.SOA_MAX_P = 0
        m0 = lf.lmer(formula, df)
    finally:
        twolevel.SOA_MAX_P = saved
    assert not m0.devfun.small.soa
    assert m.objective == pytest.approx(m0.objective, rel=1e-10)
    np.testing.assert_allclose(m.theta, m0.theta, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.fixef, m0.fixef, rtol=1e-7)
    for b, b0 in zip(m.solution.b, m0.solution.b):
        np.testing.assert_allclose(b, b0, rtol=1e-4, atol=1e-6)
