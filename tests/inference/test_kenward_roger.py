"""Kenward-Roger (pbkrtest 0.5-2): reference values, an explicit n x n implementation of pbkrtest's
algorithm on small data, the ML-fit error and a size sanity run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.inference import kenward_roger as kr

from ..conftest import REFERENCE, load_case
from .test_derivatives import dense_quantities


def _norm(name: str) -> str:
    s = str(name).lower().replace("[t.", "").replace("]", "").replace("(", "").replace(")", "")
    return ":".join(sorted(s.split(":")))


def test_reference_df_se_p(reference: dict) -> None:
    """df, adjusted SE and p of every REML reference case agree with pbkrtest (rel 1e-4, p 1e-3)."""
    n = 0
    for case in reference["cases"]:
        if "kenward_roger" not in case:
            continue
        m = lf.lmer(case["formula"], load_case(case), reml=True, quiet=True)
        t = m.coef_table(ddf="kenward-roger")
        got = {_norm(i): r for i, r in t.iterrows()}
        want = case["kenward_roger"]
        for term in want["df"]:
            row = got[_norm(term)]
            assert row["df"] == pytest.approx(want["df"][term], rel=1e-4), (case["name"], term)
            assert row["std_error"] == pytest.approx(want["se"][term], rel=1e-4), (case["name"], term)
            assert row["p_value"] == pytest.approx(want["p"][term], rel=1e-3), (case["name"], term)
        n += 1
    assert n >= 10


def _pbkr_dense(m: lf.LmerResult, L: np.ndarray) -> dict:
    """pbkrtest's vcovAdj, Lb_ddf and F scaling with explicit n x n matrices."""
    q = dense_quantities(m, m.theta, m.sigma)
    Vi, G, X = q["Vi"], q["G"], m.design.X
    Phi = m.vcov.to_numpy()
    k = len(G)
    P = [-(X.T @ Vi @ Gi @ Vi @ X) for Gi in G]
    Q = [[X.T @ Vi @ G[i] @ Vi @ G[j] @ Vi @ X for j in range(k)] for i in range(k)]
    IE2 = np.array([[np.trace(Vi @ G[i] @ Vi @ G[j]) - 2 * np.sum(Phi * Q[i][j])
                     + np.sum((Phi @ P[i]) * (P[j] @ Phi)) for j in range(k)] for i in range(k)])
    W = 2 * np.linalg.inv(IE2)
    U = sum(W[i, j] * (Q[i][j] - P[i] @ Phi @ P[j]) for i in range(k) for j in range(k))
    PhiA = Phi + 2 * Phi @ U @ Phi
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    A1 = A2 = 0.0
    for i in range(k):
        for j in range(k):
            ui = Theta @ Phi @ P[i] @ Phi
            uj = Theta @ Phi @ P[j] @ Phi
            A1 += W[i, j] * np.trace(ui) * np.trace(uj)
            A2 += W[i, j] * np.sum(ui * uj.T)
    qq = np.linalg.matrix_rank(L)
    B = (A1 + 6 * A2) / (2 * qq)
    g = ((qq + 1) * A1 - (qq + 4) * A2) / ((qq + 2) * A2)
    c1, c2, c3 = (g / (3 * qq + 2 * (1 - g)), (qq - g) / (3 * qq + 2 * (1 - g)),
                  (qq + 2 - g) / (3 * qq + 2 * (1 - g)))
    rho = (1 - A2 / qq) ** 2 / (1 - c2 * B) ** 2 * (1 + c1 * B) / (1 - c3 * B) / qq
    df = 4 + (qq + 2) / (qq * rho - 1)
    scaling = df * (1 - A2 / qq) / (df - 2)
    return {"PhiA": PhiA, "df": df, "scaling": scaling}


@pytest.mark.parametrize("formula,data,factors", [
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy.csv", []),
    ("Reaction ~ Days + (Days || Subject)", "sleepstudy.csv", []),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin.csv", ["plate", "sample"]),
    ("strength ~ 1 + (1 | batch/cask)", "pastes.csv", ["batch", "cask"]),
    ("angle ~ recipe * temp + (1 | recipe:replicate)", "cake.csv", ["recipe", "replicate"]),
])
def test_matches_explicit_pbkrtest_algorithm(formula: str, data: str, factors: list[str]) -> None:
    """Adjusted covariance (rel 1e-8), df and F scaling (rel 1e-7) of one- and multi-row contrasts equal
    pbkrtest's algorithm evaluated with n x n matrices."""
    if not REFERENCE.exists():
        pytest.skip("reference data not found")
    df = pd.read_csv(REFERENCE.parent / "data" / data)
    for f in factors:
        df[f] = df[f].astype(str)
    m = lf.lmer(formula, df, quiet=True)
    p = len(m.fixef_names)
    info = kr.kenward_roger_info(m)
    Ls = [np.eye(p)[[i]] for i in range(p)]
    if p >= 3:
        Ls.append(np.eye(p)[1:3])
        Ls.append(np.eye(p)[[1, 2, 4]] + 0.5 * np.eye(p)[[3, 3, 5]])
    for L in Ls:
        want = _pbkr_dense(m, L)
        np.testing.assert_allclose(info.vcov_adj, want["PhiA"], rtol=1e-8, atol=1e-12)
        a = info.adjust(L)
        assert a["df"] == pytest.approx(want["df"], rel=1e-7)
        assert a["scaling"] == pytest.approx(want["scaling"], rel=1e-7)


def test_ml_fit_raises(sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy, reml=False)
    with pytest.raises(ValueError, match="Kenward-Roger needs a REML fit; refit with reml=True"):
        kr.kenward_roger(m)
    with pytest.raises(ValueError, match="REML"):
        m.coef_table(ddf="kenward-roger")


def test_ftest_single_row_uses_adjusted_vcov(sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy)
    t = m.coef_table(ddf="kenward-roger")
    r = kr.kr_ftest(m, [[0, 1]])
    assert r["den_df"] == pytest.approx(t.loc["Days", "df"], rel=1e-12)
    assert r["mean_sq"] / m.sigma ** 2 == pytest.approx(t.loc["Days", "t_value"] ** 2, rel=1e-10)
    assert r["f_value"] == pytest.approx(r["scaling"] * t.loc["Days", "t_value"] ** 2, rel=1e-10)


def test_twenty_thousand_rows_runs(reference: dict) -> None:
    """Sanity run (not a timing assertion): the growth data replicated 20 times, 20,000 rows."""
    case = next(c for c in reference["cases"] if c["name"] == "growth_rs_reml")
    g = load_case(case)
    reps = []
    for r in range(20):
        d = g.copy()
        d["id"] = d["id"].astype(str) + f"_{r}"
        reps.append(d)
    big = pd.concat(reps, ignore_index=True)
    m = lf.lmer(case["formula"], big, quiet=True)
    v, df = kr.kenward_roger(m)
    assert len(big) == 20_000
    assert np.all(np.isfinite(df)) and np.all(df > 1000)
    assert np.all(np.diag(v) >= np.diag(m.vcov.to_numpy()) * (1 - 1e-8))


def test_too_large_for_exact_kr_says_so(reference: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Crossed terms beyond the exact size limit: a clear error naming the alternative, not a run that never
    finishes (pbkrtest forms n x n matrices); Satterthwaite still works there (finite differences)."""
    from lmmflow.inference import derivatives as dv

    case = next(c for c in reference["cases"] if c["name"] == "penicillin_crossed")
    m = lf.lmer(case["formula"], load_case(case), quiet=True)
    monkeypatch.setattr(dv, "DENSE_MAX", 10)
    with pytest.raises(NotImplementedError, match="ddf='satterthwaite'"):
        m.coef_table(ddf="kenward-roger")
    assert np.isfinite(m.coef_table(ddf="satterthwaite")["df"]).all()
