"""Hat values, Cook's distances and leave-one-group-out influence against lme4 (tests/reference/make_influence.R)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.core.leverage import leverages
from lmmflow.results.model import LmerResult

REF_DIR = Path(__file__).resolve().parents[1] / "reference"
CASES = json.loads((REF_DIR / "influence_reference.json").read_text())
IDS = [c["name"] for c in CASES]


def case_data(c: dict) -> pd.DataFrame:
    """A reference case's data as the R script built it."""
    if c["data"].endswith(".csv"):
        return pd.read_csv(REF_DIR / "data" / c["data"])
    d = lf.load_dataset(c["data"])
    if c["data"] == "sleepstudy":
        d["w"] = 1 + (d["Days"] % 3) / 2
    return d


def fit(c: dict) -> LmerResult:
    return lf.lmer(c["formula"], case_data(c), reml=c["reml"], weights=c["weights"] or None, quiet=True)


def at_theta(m: LmerResult, theta: list[float]) -> LmerResult:
    """The model's estimates at R's theta: tests of the formulas, not of the optimizer."""
    return LmerResult(m.design, m.devfun, replace(m.optinfo, theta=np.asarray(theta, dtype=float)), m.control)


@pytest.fixture(scope="module")
def fits() -> dict[str, LmerResult]:
    out = {c["name"]: fit(c) for c in CASES}
    three = pd.read_csv(REF_DIR / "data" / "threelevel.csv")  # three terms, one with a slope: fill across terms
    out["three_terms"] = lf.lmer("y ~ x + (1 + x | a) + (1 | a:b) + (1 | item)", three, quiet=True)
    return out


@pytest.fixture(scope="module")
def influences(fits: dict[str, LmerResult]) -> dict[str, lf.Influence]:
    return {c["name"]: lf.influence(fits[c["name"]], c["groups"], progress=False) for c in CASES}


def test_six_cases_kept() -> None:
    assert len(CASES) >= 6
    assert {c["name"] for c in CASES} >= {"sleep_reml", "sleep_ml", "sleep_weights", "penicillin", "pastes_nested",
                                          "growth_arm"}


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_hatvalues_and_cooks_at_r_theta(c: dict, fits: dict[str, LmerResult]) -> None:
    """lme4's hatvalues() and cooks.distance() to 1e-5 relative, at lme4's optimum."""
    m = at_theta(fits[c["name"]], c["theta"])
    h = lf.hatvalues(m)
    assert h.index.equals(m.data.index)
    np.testing.assert_allclose(h.to_numpy(), c["hat"], rtol=1e-5)
    np.testing.assert_allclose(lf.cooks_distance(m).to_numpy(), c["cooksd"], rtol=1e-5)


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_hatvalues_of_own_fit(c: dict, fits: dict[str, LmerResult]) -> None:
    """At lmmflow's own optimum (theta within the optimizers' tolerance of lme4's) the values agree to 1e-4."""
    m = fits[c["name"]]
    np.testing.assert_allclose(lf.hatvalues(m).to_numpy(), c["hat"], rtol=1e-5)
    np.testing.assert_allclose(lf.cooks_distance(m).to_numpy(), c["cooksd"], rtol=1e-4)


def test_hatvalues_equal_dense_hat_matrix(fits: dict[str, LmerResult]) -> None:
    """The row-block computation equals the diagonal of the explicit hat matrix, in any block size."""
    for name in ("sleep_weights", "penicillin", "pastes_nested", "three_terms"):
        m = fits[name]
        X = m.design.X
        Zs, lams = [], m.devfun.factor.lambdas_of(m.solution.theta)
        for t, lam in zip(m.design.terms, lams):
            Z = np.zeros((m.nobs, t.nlevels * t.p))
            for a in range(t.p):
                Z[np.arange(m.nobs), t.codes * t.p + a] = t.Z[:, a]
            Zs.append(Z @ np.kron(np.eye(t.nlevels), lam))
        w = np.sqrt(m.weights) if m.weights is not None else np.ones(m.nobs)
        A = np.hstack(Zs + [X]) * w[:, None]
        q = A.shape[1] - X.shape[1]
        M = A.T @ A + np.diag(np.r_[np.ones(q), np.zeros(X.shape[1])])
        H = A @ np.linalg.solve(M, A.T)
        np.testing.assert_allclose(lf.hatvalues(m).to_numpy(), np.diag(H), rtol=1e-9)
        f = m.devfun.factor
        f.update(m.solution.theta)
        for gram in (True, False):
            got = leverages(f, m.design.fixed.matrix, row_scale=f.cp.w_sqrt, chunk_rows=7, gram=gram)
            np.testing.assert_allclose(got, np.diag(H), rtol=1e-9)


@pytest.mark.parametrize("c", CASES, ids=IDS)
def test_group_deletion_against_lme4(c: dict, influences: dict[str, lf.Influence]) -> None:
    """Leave-one-group-out refits: fixed effects, SEs, theta, sigma, variance components, Cook's D, DFBETAS."""
    inf = influences[c["name"]]
    order = [list(inf.cooks_distance.index).index(str(g)) for g in c["deleted"]]
    G = len(order)
    fe = np.asarray(c["del_fixef"], dtype=float).reshape(G, -1)
    np.testing.assert_allclose(inf.fixef.to_numpy()[order], fe, rtol=1e-4)
    np.testing.assert_allclose(inf.std_errors.to_numpy()[order], np.asarray(c["del_se"]).reshape(G, -1), rtol=1e-4)
    np.testing.assert_allclose(inf.sigma.to_numpy()[order], c["del_sigma"], rtol=1e-4)
    theta = np.asarray(c["del_theta"], dtype=float).reshape(G, -1)
    np.testing.assert_allclose(inf.theta.to_numpy()[order], theta, rtol=1e-4, atol=1e-5)
    assert list(inf.var_cov.columns) == c["vc_names"]
    got, want = inf.var_cov.to_numpy()[order], np.asarray(c["del_vc"], dtype=float).reshape(G, -1)
    for j, name in enumerate(c["vc_names"]):
        if name.split(":")[-1].startswith("C["):  # a covariance: on the scale of its SDs (a correlation's)
            a, b = name[name.index("C[") + 2:-1].split(",")
            pre = name[:name.index("C[")]
            scale = np.sqrt(want[:, c["vc_names"].index(f"{pre}v[{a}]")] * want[:, c["vc_names"].index(f"{pre}v[{b}]")])
            np.testing.assert_allclose(got[:, j] / scale, want[:, j] / scale, atol=1e-4, err_msg=name)
        else:
            np.testing.assert_allclose(got[:, j], want[:, j], rtol=1e-4, atol=1e-6 * want[:, 0].max(), err_msg=name)
    np.testing.assert_allclose(inf.cooks_distance.to_numpy()[order], c["cooks"], rtol=1e-4)
    np.testing.assert_allclose(inf.dfbetas.to_numpy()[order], np.asarray(c["dfbetas"]).reshape(G, -1), atol=1e-4)
    assert inf.converged.all()


def test_influence_at_r_theta_is_exact(fits: dict[str, LmerResult]) -> None:
    """Cook's D and DFBETAS of the reference are functions of the deleted fits: with the full fit at lme4's theta
    the group Cook's distances agree to 1e-4 relative."""
    c = next(c for c in CASES if c["name"] == "sleep_reml")
    m = at_theta(fits["sleep_reml"], c["theta"])
    d = lf.cooks_distance(m, groups="Subject", progress=False)
    np.testing.assert_allclose(d.loc[[str(g) for g in c["deleted"]]].to_numpy(), c["cooks"], rtol=1e-4)


def test_influence_result_is_a_value(influences: dict[str, lf.Influence]) -> None:
    inf = influences["sleep_reml"]
    d = inf.dfbetas
    d.iloc[0, 0] = 99.0
    assert inf.dfbetas.iloc[0, 0] != 99.0
    assert "Influence of 18 groups of 'Subject'" in repr(inf)
    html = inf._repr_html_()
    assert html.startswith("<p>") and "<table" in html
    t = inf.table()
    assert list(t.columns) == ["cooks_distance", "dfbetas_(Intercept)", "dfbetas_Days"]
    assert t["cooks_distance"].is_monotonic_decreasing
    ch = inf.var_cov_change
    np.testing.assert_allclose(ch.to_numpy(), inf.var_cov.to_numpy() - inf.var_cov_full.to_numpy()[None, :])


def test_groups_as_labels_and_other_data(fits: dict[str, LmerResult]) -> None:
    m = fits["sleep_reml"]
    a = lf.cooks_distance(m, groups="Subject", progress=False)
    b = lf.cooks_distance(m, groups=m.data["Subject"].to_numpy(), progress=False)
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy())
    d = lf.load_dataset("sleepstudy")
    d["half"] = np.where(d["Days"] < 5, "early", "late")
    inf = lf.influence(m, "half", data=d, progress=False)
    assert list(inf.cooks_distance.index) == ["early", "late"]


def test_parallel_refits_equal_serial(fits: dict[str, LmerResult], influences: dict[str, lf.Influence]) -> None:
    inf2 = lf.influence(fits["penicillin"], "plate", progress=False, n_jobs=2)
    pd.testing.assert_frame_equal(inf2.fixef, influences["penicillin"].fixef)


@pytest.mark.parametrize(("groups", "kwargs", "match"), [
    ("Nope", {}, "not a column of the model's data"),
    (np.arange(5), {}, "one per row used"),
    (np.zeros(180), {}, "at least two"),
])
def test_group_errors(fits: dict[str, LmerResult], groups: object, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        lf.influence(fits["sleep_reml"], groups, progress=False, **kwargs)


def test_obs_cooks_rejects_refit_options(fits: dict[str, LmerResult]) -> None:
    with pytest.raises(ValueError, match="apply only with groups="):
        lf.cooks_distance(fits["sleep_reml"], n_jobs=2)


def test_rank_deficient_deletion_gives_nan_row() -> None:
    d = lf.load_dataset("sleepstudy")
    d["special"] = (d["Subject"] == "308").astype(float)
    m = lf.lmer("Reaction ~ Days + special + (1 | Subject)", d, quiet=True)
    with pytest.warns(lf.RankDeficiencyWarning, match="308"):
        inf = lf.influence(m, "Subject", data=d, progress=False)
    assert inf.fixef.loc["308"].isna().all()
    assert inf.fixef.drop("308").notna().all().all()


def test_streamed_design_gives_the_same_values(monkeypatch: pytest.MonkeyPatch, fits: dict[str, LmerResult]) -> None:
    """A design read in row blocks (X and Z never held whole) gives the held design's hat values and refits."""
    from lmmflow.core import crossprod
    from lmmflow.design import lazy

    monkeypatch.setattr(lazy, "STREAM_MIN_ROWS", 1)
    monkeypatch.setattr(crossprod, "CHUNK_ROWS", 37)
    c = next(c for c in CASES if c["name"] == "penicillin")
    m = fit(c)
    assert m.design.streamed
    held = fits["penicillin"]
    np.testing.assert_allclose(lf.hatvalues(m).to_numpy(), lf.hatvalues(held).to_numpy(), rtol=1e-6)
    a, b = lf.influence(m, "plate", progress=False), lf.influence(held, "plate", progress=False)
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), rtol=1e-6)


def test_case_deletion_equals_refits_without_each_row() -> None:
    d = lf.load_dataset("dyestuff")
    m = lf.lmer("Yield ~ 1 + (1 | Batch)", d)
    inf = lf.influence(m, progress=False)
    assert inf.groups == "case" and len(inf.cooks_distance) == m.nobs
    for i in (0, 17):
        m1 = lf.lmer("Yield ~ 1 + (1 | Batch)", d.drop(index=i))
        np.testing.assert_allclose(inf.fixef.loc[str(i)].to_numpy(), m1.fixef.to_numpy(), rtol=1e-7)
        assert inf.sigma.loc[str(i)] == pytest.approx(m1.sigma, rel=1e-5)
