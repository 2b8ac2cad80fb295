"""Hat values, Cook's distances and leave-one-group-out refits of glmer fits against lme4 1.1-31
(tests/reference/glmm_influence.json, made by make_glmm_influence.R).

R's fits (tight optimizer settings) and ours sit at the same optimum to ~1e-6 in the estimates: hat values and
observation Cook's distances are compared at rtol 1e-4, the deleted fits' estimates at rtol 1e-4 and their
Cook's distances and DFBETAS (differences of two fits) at rtol 1e-3 / atol 1e-3.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.core.leverage import leverages
from lmmflow.diagnostics.glmm_influence import glmm_hatvalues
from tests.glmm_fits import REF, case, fit, reference_json

INF = reference_json("glmm_influence.json")
HAT_CASES = sorted(INF)
INF_CASES = [(name, grp) for name in HAT_CASES for grp in INF[name].get("influence", {})]


def test_cases_kept() -> None:
    assert set(HAT_CASES) >= {"cbpp_logit", "cbpp_prop_weights", "grouseticks_poisson", "contraception_logit",
                              "binary_growth_rs", "owls_offset"}
    assert ("cbpp_logit", "herd") in INF_CASES and ("cbpp_logit", ".case") in INF_CASES
    assert all(all(INF["cbpp_logit"]["influence"][grp]["se_stable"]) for grp in ("herd", ".case"))


@pytest.mark.parametrize("name", HAT_CASES)
def test_hatvalues_and_cooks_match_lme4(name: str) -> None:
    g, want = fit(name), INF[name]
    h = lf.hatvalues(g)
    assert h.index.equals(g.data.index) and h.name == "hat"
    np.testing.assert_allclose(h.to_numpy(), want["hat"], rtol=1e-4)
    np.testing.assert_allclose(g.resid("pearson").to_numpy(), want["pearson"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(lf.cooks_distance(g).to_numpy(), want["cooksd"], rtol=1e-4, atol=1e-8)


def test_hatvalues_equal_dense_formula() -> None:
    """lme4's formula with dense matrices: rows sqrt(w_prior) [Lambda'z; x], the system of the working weights."""
    for name in ("cbpp_logit", "grouseticks_poisson", "binary_growth_rs"):
        g = fit(name)
        n, X = g.nobs, g.design.X
        Zs = []
        for t, lam in zip(g.design.terms, g.lambdas):
            Z = np.zeros((n, t.nlevels * t.p))
            for a in range(t.p):
                Z[np.arange(n), t.codes * t.p + a] = t.Z[:, a]
            Zs.append(Z @ np.kron(np.eye(t.nlevels), lam))
        A = np.hstack(Zs + [X])
        q = A.shape[1] - X.shape[1]
        M = A.T @ (g.working_weights[:, None] * A) + np.diag(np.r_[np.ones(q), np.zeros(X.shape[1])])
        Ap = A * np.sqrt(g.prior_weights)[:, None]
        want = np.einsum("ij,ji->i", Ap, np.linalg.solve(M, Ap.T))
        np.testing.assert_allclose(lf.hatvalues(g).to_numpy(), want, rtol=1e-9)
        f = g.working_factor()
        for gram in (True, False):
            got = leverages(f, X, row_scale=np.sqrt(g.prior_weights), chunk_rows=7, gram=gram)
            np.testing.assert_allclose(got, want, rtol=1e-9)
        np.testing.assert_allclose(glmm_hatvalues(g, chunk_rows=5).to_numpy(), want, rtol=1e-9)


@pytest.fixture(scope="module")
def influences() -> dict[tuple[str, str], lf.Influence]:
    out = {}
    for name, grp in INF_CASES:
        out[(name, grp)] = lf.influence(fit(name), None if grp == ".case" else grp, progress=False)
    return out


@pytest.mark.parametrize(("name", "grp"), INF_CASES, ids=[f"{n}-{g}" for n, g in INF_CASES])
def test_group_deletion_matches_lme4(name: str, grp: str, influences: dict) -> None:
    inf, c = influences[(name, grp)], INF[name]["influence"][grp]
    labels = [str(v) for v in c["deleted"]]
    order = [list(inf.cooks_distance.index).index(lab) for lab in labels]
    G = len(order)
    se = np.asarray(c["del_se"]).reshape(G, -1)
    # to 1e-3 of each deleted fit's standard errors: R stops up to 5e-4 SE short on owls' flat refits (below)
    np.testing.assert_allclose(inf.fixef.to_numpy()[order], np.asarray(c["del_fixef"]).reshape(G, -1), rtol=0,
                               atol=1e-3 * se.min())
    # SEs (and DFBETAS, which divide by them) where R's finite-difference Hessian is stable in PIRLS' tolerance
    # (all of cbpp's refits; none of owls', whose SEs move by > 1e-3 between tolPwrss 1e-12 and 1e-14: those are
    # checked against an lf.glmer fit of the reduced data in test_refit_is_the_glmer_fit_without_the_group)
    ok = np.asarray(c["se_stable"], dtype=bool)
    np.testing.assert_allclose(inf.std_errors.to_numpy()[order][ok], se[ok], rtol=1e-4)
    np.testing.assert_allclose(inf.theta.to_numpy()[order], np.asarray(c["del_theta"]).reshape(G, -1), rtol=1e-4,
                               atol=1e-6)
    assert list(inf.var_cov.columns) == c["vc_names"]
    np.testing.assert_allclose(inf.var_cov.to_numpy()[order], np.asarray(c["del_vc"]).reshape(G, -1), rtol=2e-4,
                               atol=1e-6)
    np.testing.assert_allclose(inf.var_cov_full.to_numpy(), c["vc"], rtol=1e-4)
    assert (inf.sigma == 1.0).all()
    np.testing.assert_allclose(inf.cooks_distance.to_numpy()[order], c["cooks"], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(inf.dfbetas.to_numpy()[order][ok], np.asarray(c["dfbetas"]).reshape(G, -1)[ok],
                               atol=1e-3)
    assert inf.converged.all()


def test_refits_at_least_as_good_as_r(influences: dict) -> None:
    """Where a deleted fit's estimates differ from R's by more than 1e-4 relative (owls: R's bobyqa and nloptwrap
    stop ~1e-6 above the optimum), ours have the lower objective, and equal an independent lf.glmer fit."""
    from lmmflow.core.pirls import GlmmObjective

    inf, c = influences[("owls_offset", "Nest")], INF["owls_offset"]["influence"]["Nest"]
    cs = case("owls_offset")
    checked = 0
    for j, lev in enumerate(c["deleted"]):
        ours, theirs = inf.fixef.loc[lev].to_numpy(), np.asarray(c["del_fixef"][j])
        if np.allclose(ours, theirs, rtol=1e-4, atol=0):
            continue
        df = data_of("owls_offset")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = lf.glmer(cs["formula"], df[df["Nest"] != lev], family="poisson", quiet=True)
        obj = GlmmObjective(d.design.blocks(), d.design.X, d.design.y, d.family_object, offset=d.design.frame.offset)
        f_ours = obj.laplace(inf.theta.loc[lev].to_numpy(), ours)
        f_r = obj.laplace(np.atleast_1d(np.asarray(c["del_theta"][j], dtype=float)), theirs)
        assert f_ours <= f_r
        assert f_ours == pytest.approx(d.objective, abs=1e-7)
        np.testing.assert_allclose(ours, d.fixef.to_numpy(), rtol=1e-5)
        checked += 1
    assert checked <= 3


def test_cooks_distance_of_groups_is_influence_s() -> None:
    g = fit("cbpp_logit")
    d = lf.cooks_distance(g, groups="herd", progress=False)
    assert d.index.name == "herd" and len(d) == 15
    np.testing.assert_allclose(d.loc["1"], lf.influence(g, "herd", progress=False).cooks_distance.loc["1"])


def test_parallel_refits_equal_serial(influences: dict) -> None:
    inf2 = lf.influence(fit("cbpp_logit"), "herd", progress=False, n_jobs=2)
    pd.testing.assert_frame_equal(inf2.fixef, influences[("cbpp_logit", "herd")].fixef)


def data_of(name: str) -> pd.DataFrame:
    c = case(name)
    df = pd.read_csv(REF / "data" / Path(c["data"]).name)
    for f in c.get("factors") or []:
        df[f] = df[f].astype(str)
    return df


@pytest.mark.parametrize(("name", "grp", "level"), [("cbpp_logit_agq25", "herd", "3"), ("cbpp_probit", "herd", "7"),
                                                    ("owls_offset_arg", "Nest", "Oleyes")])
def test_refit_is_the_glmer_fit_without_the_group(name: str, grp: str, level: str) -> None:
    """Each refit is lf.glmer on the data without the group: the fit's nagq, link, weights and offset carried."""
    g, c = fit(name), case(name)
    inf = lf.influence(g, grp, progress=False)
    df = data_of(name)
    df = df[df[grp] != level]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = lf.glmer(c["formula"], df, family=c["family"], link=c["link"], nagq=c["nagq"],
                          offset=c.get("offset"), quiet=True)
    np.testing.assert_allclose(inf.fixef.loc[level].to_numpy(), direct.fixef.to_numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(inf.std_errors.loc[level].to_numpy(), direct.std_errors.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(inf.theta.loc[level].to_numpy(), direct.theta, rtol=1e-5, atol=1e-6)


class _NotAFit:
    model_kind = "glmm"


@pytest.mark.parametrize("fn", [lf.hatvalues, lf.cooks_distance, lf.influence])
def test_other_results_are_refused(fn: object) -> None:
    with pytest.raises(TypeError, match="lf.lmer or lf.glmer"):
        fn(_NotAFit())
    with pytest.raises(TypeError, match="not dict"):
        fn({})
