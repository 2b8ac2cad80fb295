"""Designs read in row blocks (large data): the same fit as with whole matrices, and X / Z never held.

The thresholds are lowered here (``STREAM_MIN_ROWS`` to 1, ``CHUNK_ROWS`` to a few dozen rows) so the
small reference data sets go through the streaming path in many blocks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from formulaic import model_matrix

import lmmflow as lf
import lmmflow.core.crossprod as crossprod
from lmmflow.design import lazy
from lmmflow.design.lazy import RowMatrix, prototype_rows
from lmmflow.design.matrices import build_matrix, build_spec, numeric_spec
from lmmflow.formula import FormulaError

from ..conftest import load_case


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch):
    """Fit through the streaming path in blocks of 37 rows."""
    monkeypatch.setattr(lazy, "STREAM_MIN_ROWS", 1)
    monkeypatch.setattr(crossprod, "CHUNK_ROWS", 37)


def _whole(formula: str, data: pd.DataFrame, **kw: object) -> lf.LmerResult:
    old = lazy.STREAM_MIN_ROWS
    lazy.STREAM_MIN_ROWS = 10**12
    try:
        return lf.lmer(formula, data, quiet=True, **kw)
    finally:
        lazy.STREAM_MIN_ROWS = old


def _assert_same_fit(a: lf.LmerResult, b: lf.LmerResult) -> None:
    assert b.objective == pytest.approx(a.objective, rel=1e-10)
    np.testing.assert_allclose(b.theta, a.theta, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(b.fixef.to_numpy(), a.fixef.to_numpy(), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(b.vcov.to_numpy(), a.vcov.to_numpy(), rtol=1e-5, atol=1e-10)
    assert b.sigma == pytest.approx(a.sigma, rel=1e-6)
    np.testing.assert_allclose(b.fitted.to_numpy(), a.fitted.to_numpy(), rtol=1e-6, atol=1e-5)
    assert list(b.fixef.index) == list(a.fixef.index)


CASES = ["sleepstudy_rs_reml", "sleepstudy_uncorr_reml", "penicillin_crossed", "pastes_nested_slash",
         "growth_unbalanced_rs_reml", "cake_factorial", "dyestuff_ml"]


@pytest.mark.parametrize("name", CASES)
def test_streamed_fit_equals_whole_fit(reference: dict, streamed: None, name: str) -> None:
    case = next(c for c in reference["cases"] if c["name"] == name)
    df = load_case(case)
    whole = _whole(case["formula"], df, reml=case["reml"])
    m = lf.lmer(case["formula"], df, reml=case["reml"], quiet=True)
    assert m.design.streamed and m.design.cross is not None
    _assert_same_fit(whole, m)
    # lme4's numbers, not only the whole-matrix path's
    assert m.objective <= case["objective"] * (1 + 1e-6)
    np.testing.assert_allclose(m.fixef.to_numpy(), list(case["fixef"].values()), rtol=1e-5)


def test_the_fit_never_holds_x_or_z(sleepstudy: pd.DataFrame, streamed: None) -> None:
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    _ = m.fitted, m.residuals, m.ranef, m.ranef_sd, m.simulate(2, seed=1), m.predict()
    assert isinstance(m.design.fixed.matrix, RowMatrix) and not m.design.fixed.matrix.materialized
    assert all(isinstance(t.matrix, RowMatrix) and not t.matrix.materialized for t in m.design.terms)
    # asking for the whole matrix builds it once, equal to formulaic's
    X = m.design.X
    np.testing.assert_array_equal(X, np.asarray(model_matrix("Days", sleepstudy), dtype=float))
    assert m.design.fixed.matrix.materialized


def test_streamed_refit_update_and_weights(sleepstudy: pd.DataFrame, streamed: None) -> None:
    df = sleepstudy.assign(w=np.linspace(0.5, 2.0, len(sleepstudy)), off=np.sin(np.arange(len(sleepstudy))))
    f = "Reaction ~ Days + (Days | Subject)"
    whole = _whole(f, df, weights="w", offset="off")
    m = lf.lmer(f, df, weights="w", offset="off")
    _assert_same_fit(whole, m)
    y = sleepstudy["Reaction"].to_numpy()[::-1].copy()
    _assert_same_fit(whole.refit(y), m.refit(y))
    _assert_same_fit(whole.update(reml=False), m.update(reml=False))


def test_streamed_aliased_columns_are_dropped_as_lme4_does(sleepstudy: pd.DataFrame, streamed: None) -> None:
    df = sleepstudy.assign(Days2=2.0 * sleepstudy["Days"], c=np.where(sleepstudy["Days"] > 4, "late", "early"))
    f = "Reaction ~ Days + Days2 + c + (1 | Subject)"
    whole = _whole(f, df)
    m = lf.lmer(f, df, quiet=True)
    assert m.design.fixed.dropped == whole.design.fixed.dropped == ["Days2"]
    _assert_same_fit(whole, m)


def test_streamed_text_factor_levels_absent_from_early_blocks(streamed: None) -> None:
    rng = np.random.default_rng(3)
    n = 400
    g = np.repeat(np.arange(40), 10)
    # the level "z" appears only in the last rows: the encoding must still know it from the start
    kind = np.where(np.arange(n) < 380, np.where(np.arange(n) % 2, "b", "a"), "z")
    y = rng.normal(size=n) + (kind == "z") * 3.0 + rng.normal(size=40)[g]
    df = pd.DataFrame({"y": y, "g": g, "kind": kind, "x": rng.normal(size=n)})
    f = "y ~ x * kind + (1 | g)"
    m = lf.lmer(f, df)
    assert "kind[T.z]" in m.fixef.index
    _assert_same_fit(_whole(f, df), m)


def test_streamed_infinite_values_after_evaluation_name_the_part(sleepstudy: pd.DataFrame, streamed: None) -> None:
    df = sleepstudy.assign(x=np.where(np.arange(len(sleepstudy)) == 150, 0.0, 1.0 + sleepstudy["Days"]))
    with pytest.raises(FormulaError, match=r"np.log\(x\)"):
        lf.lmer("Reaction ~ np.log(x) + (1 | Subject)", df)


def test_stateful_transforms_are_built_whole(sleepstudy: pd.DataFrame, streamed: None) -> None:
    f = "Reaction ~ center(Days) + (1 | Subject)"
    m = lf.lmer(f, sleepstudy)
    assert isinstance(m.design.fixed.matrix, np.ndarray)  # the centring needs every row: no row source
    _assert_same_fit(_whole(f, sleepstudy), m)
    assert build_spec("center(Days)", sleepstudy) is None
    assert build_spec("C(Days)", sleepstudy) is None


@pytest.mark.parametrize("rhs", ["time*group", "x + time:group + 1", "0 + time*group*x", "group:time + time",
                                 "time - 1", "1", "0 + x", "x - 1 + time"])
def test_numeric_products_match_formulaic(rhs: str) -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"time": np.arange(12.0) % 4, "group": np.tile([0, 1, 1], 4), "x": rng.normal(size=12)})
    assert numeric_spec(rhs, df) is not None
    X, names, _ = build_matrix(rhs, df)
    mm = model_matrix(rhs, df)
    assert names == [str(c) for c in mm.columns]
    np.testing.assert_allclose(X, np.asarray(mm, dtype=float))


@pytest.mark.parametrize("rhs", ["time + I(time**2)", "x * g", "b + x", "np.log(time + 1)"])
def test_other_parts_go_through_formulaic(rhs: str) -> None:
    df = pd.DataFrame({"time": np.arange(6.0), "x": np.ones(6), "g": list("abcabc"), "b": [True, False] * 3})
    assert numeric_spec(rhs, df) is None


def test_prototype_rows_hold_every_level() -> None:
    df = pd.DataFrame({"g": ["b", "b", "a", "c", "a"], "h": pd.Categorical(["x", "x", "x", "x", "y"])})
    rows = prototype_rows(df, ["g", "h"])
    assert rows.tolist() == [0, 2, 3, 4]
    assert set(df["g"].iloc[rows]) == {"a", "b", "c"} and set(df["h"].iloc[rows]) == {"x", "y"}
