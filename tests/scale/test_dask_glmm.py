"""GLMM fits from Dask data: lme4's optimum (the shared reference cases), whatever the partitioning."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmmflow.design import DataError
from lmmflow.scale.dask_glmm import glmer_dask

dd = pytest.importorskip("dask.dataframe")

REF = Path(__file__).resolve().parents[1] / "reference"
CASES = {c["name"]: c for c in json.loads((REF / "glmm_reference.json").read_text())["cases"]}


def norm(name: str) -> str:
    """R's ``period2`` and formulaic's ``period[T.2]`` to one key."""
    s = re.sub(r"\[t\.|\]|\[|\(|\)", "", name.lower().replace(" ", ""))
    return ":".join(sorted(s.split(":")))


def frame(case: dict) -> pd.DataFrame:
    d = pd.read_csv(REF / case["data"])
    for f in case.get("factors") or []:
        d[f] = d[f].astype(str).astype("category")
    return d


@pytest.mark.parametrize(("name", "kwargs", "nparts"), [
    ("cbpp_logit", {}, 3),                               # cbind(successes, failures), one scalar term
    ("cbpp_prop_weights", {"weights": "size"}, 2),       # a proportion with weights= the trials (a column)
    ("cbpp_probit", {"link": "probit"}, 4),              # a non-canonical link
    ("owls_offset_arg", {"offset": "logBroodSize"}, 5),  # Poisson with an offset column
    ("binary_growth_rs", {}, 4),                         # 0/1 response, correlated intercept and slope
])
def test_matches_lme4_optimum(name: str, kwargs: dict, nparts: int) -> None:
    c = CASES[name]
    g = glmer_dask(c["formula"], dd.from_pandas(frame(c), npartitions=nparts), family=c["family"], **kwargs)
    assert g.nobs == c["nobs"]
    assert g.objective == pytest.approx(c["objective"], abs=1e-6)  # at least as low, to PIRLS rounding
    assert g.objective <= c["objective"] + 1e-6
    assert g.loglik == pytest.approx(c["loglik"], abs=1e-6)
    assert g.aic == pytest.approx(c["aic"], abs=1e-6) and g.bic == pytest.approx(c["bic"], abs=1e-6)
    np.testing.assert_allclose(g.theta, c["theta"], rtol=1e-6, atol=1e-6)
    want = {norm(k): v for k, v in c["fixef"].items()}
    se = {norm(k): v for k, v in c["fixef_se"].items()}
    assert sorted(norm(k) for k in g.fixef.index) == sorted(want)
    for k, v in g.fixef.items():
        assert v == pytest.approx(want[norm(k)], rel=1e-6, abs=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(g.vcov)), [se[norm(k)] for k in g.fixef.index], rtol=2e-4)
    table = g.coef_table()
    assert list(table.columns) == ["estimate", "std_error", "z_value", "p_value"]


def test_partitioning_does_not_change_the_fit() -> None:
    c = CASES["binary_growth_rs"]
    d = frame(c)
    one = glmer_dask(c["formula"], dd.from_pandas(d, npartitions=1), family="binomial")
    # rows shuffled, a person's rows split over several of 7 partitions
    shuffled = d.sample(frac=1.0, random_state=3).reset_index(drop=True)
    many = glmer_dask(c["formula"], dd.from_pandas(shuffled, npartitions=7), family="binomial")
    assert many.objective == pytest.approx(one.objective, rel=1e-12)
    np.testing.assert_allclose(many.fixef, one.fixef, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(many.theta, one.theta, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(many.ranef.loc[one.ranef.index], one.ranef, atol=1e-6)
    assert many.passes > 10 and set(many.timings) >= {"levels_pass", "encode_pass", "stage2"}


def test_factor_response_uses_global_levels() -> None:
    """A partition holding only 'N' still codes 'Y' (the second global level) as a success."""
    c = CASES["verbagg_crossed"]
    d = frame(c).sort_values("r2").reset_index(drop=True)  # the first partitions hold only N
    d["r2"] = d["r2"].astype(str)
    formula = "r2 ~ btype + Anger + (1 | id)"
    g = glmer_dask(formula, dd.from_pandas(d, npartitions=4), family="binomial")
    d01 = d.assign(r2=(d["r2"] == "Y").astype(int))
    g01 = glmer_dask(formula, dd.from_pandas(d01, npartitions=3), family="binomial")
    assert g.objective == pytest.approx(g01.objective, rel=1e-12)
    np.testing.assert_allclose(g.fixef, g01.fixef, rtol=1e-6, atol=1e-6)


def test_results_are_copies() -> None:
    c = CASES["cbpp_logit"]
    g = glmer_dask(c["formula"], dd.from_pandas(frame(c), npartitions=2), family="binomial")
    fe, th = g.fixef, g.theta
    fe.iloc[0] = 99.0
    th[0] = 99.0
    assert g.fixef.iloc[0] != 99.0 and g.theta[0] != 99.0
    vc = g.varcorr
    assert list(vc.columns) == ["group", "var1", "var2", "vcov", "sdcor"]
    assert vc["sdcor"].iloc[0] == pytest.approx(g.theta[0])


@pytest.mark.parametrize(("formula", "kwargs", "error", "match"), [
    ("cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | period)", {}, NotImplementedError,
     "one grouping factor"),
    ("cbind(incidence, size - incidence) ~ period + (1 | herd)", {"nagq": 5}, NotImplementedError, "nagq=5"),
    ("cbind(incidence, size - incidence) ~ period + (1 | herd)", {"family": "gaussian"}, ValueError, "lf.lmer"),
    ("cbind(incidence, size - incidence) ~ period + (1 | herd)", {"link": "log"}, ValueError, "link='log'"),
    ("period ~ size + (1 | herd)", {}, DataError, "exactly two"),
    ("incidence ~ period + (1 | herd)", {"offset": "nope"}, DataError, "nope"),
])
def test_clear_errors(formula: str, kwargs: dict, error: type, match: str) -> None:
    c = CASES["cbpp_logit"]
    kwargs = {"family": "binomial", **kwargs}
    with pytest.raises(error, match=match):
        glmer_dask(formula, dd.from_pandas(frame(c), npartitions=2), **kwargs)


@pytest.mark.parametrize(("name", "kwargs", "nparts"), [
    ("binary_growth_rs", {}, 6),
    ("cbpp_logit", {}, 2),
    ("cbpp_prop_weights", {"weights": "size"}, 3),
])
def test_lf_glmer_on_dask_equals_the_in_memory_fit(name: str, kwargs: dict, nparts: int) -> None:
    """lf.glmer dispatches a Dask frame to glmer_dask; the numbers are the in-memory fit's."""
    import lmmflow as lf

    c = CASES[name]
    d = frame(c)
    m = lf.glmer(c["formula"], d, family=c["family"], **kwargs)
    g = lf.glmer(c["formula"], dd.from_pandas(d, npartitions=nparts), family=c["family"], **kwargs)
    assert type(g).__name__ == "DaskGlmerResult"
    assert g.nobs == m.nobs
    assert g.objective == pytest.approx(m.objective, rel=1e-10)
    assert list(g.fixef.index) == list(m.fixef.index)
    np.testing.assert_allclose(g.fixef, m.fixef, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g.theta, m.theta, rtol=1e-6, atol=1e-6)
    # standard errors come from finite-difference Hessians of the objective on both sides
    np.testing.assert_allclose(np.sqrt(np.diag(g.vcov)), np.sqrt(np.diag(np.asarray(m.vcov))), rtol=1e-4)


def test_lf_glmer_on_dask_refuses_in_memory_only_options() -> None:
    import lmmflow as lf

    c = CASES["cbpp_logit"]
    ddf = dd.from_pandas(frame(c), npartitions=2)
    with pytest.raises(ValueError, match="start not supported for Dask data"):
        lf.glmer(c["formula"], ddf, family="binomial", start={"theta": [1.0]})


@pytest.mark.parametrize(("name", "kwargs", "nparts", "slack"), [
    ("binary_growth_rs", {}, 4, 0),                          # correlated intercept and slope, beta profiled out
    ("cbpp_logit", {}, 3, 5),                                # cbind() response, one scalar term
    ("owls_offset_arg", {"offset": "logBroodSize"}, 3, 12),  # Poisson with an offset (a flat optimum)
])
def test_dask_and_in_memory_fits_run_the_same_driver(name: str, kwargs: dict, nparts: int, slack: int) -> None:
    """One driver (optim.glmm.fit_glmm): the same stages and the same evaluations in stage 1.  Stage 2 stops at
    ftol_rel = 1e-13, the level at which the two PIRLS implementations' objectives differ (both stop Newton at
    modes within ~1e-12), so BOBYQA's last few trial points, and the count, may differ there (``slack``)."""
    import lmmflow as lf

    c = CASES[name]
    d = frame(c)
    m = lf.glmer(c["formula"], d, family=c["family"], **kwargs)
    g = glmer_dask(c["formula"], dd.from_pandas(d, npartitions=nparts), family=c["family"], **kwargs)
    assert len(g.stages) == len(m.stages) == 2
    assert g.stages[0].evaluations == m.stages[0].evaluations
    assert abs(g.stages[1].evaluations - m.stages[1].evaluations) <= slack
    assert g.stages[0].returnvalue == m.stages[0].returnvalue
    assert g.objective == pytest.approx(m.objective, rel=1e-10)


def test_dask_objective_matches_the_in_memory_objective() -> None:
    """The Laplace objective, the nagq = 0 objective and the exact beta gradient at the same points."""
    import lmmflow as lf
    from lmmflow.core.family import binomial
    from lmmflow.core.pirls import GlmmObjective
    from lmmflow.scale.dask_glmm import dask_glmm_objective

    c = CASES["binary_growth_rs"]
    d = frame(c)
    m = lf.glmer(c["formula"], d, family="binomial")
    mem = GlmmObjective(m.design.blocks(), m.design.X, m.design.y, binomial())
    dsk = dask_glmm_objective(c["formula"], dd.from_pandas(d, npartitions=5))
    assert (dsk.n_theta, dsk.n_beta) == (mem.n_theta, mem.n_beta)
    np.testing.assert_array_equal(dsk.lower, mem.lower)
    theta, beta = np.asarray(m.theta) * 0.9, np.asarray(m.fixef) + 0.05
    assert dsk.laplace(theta, beta) == pytest.approx(mem.laplace(theta, beta), rel=1e-11)
    assert dsk.nagq0(theta) == pytest.approx(mem.nagq0(theta), rel=1e-11)
    np.testing.assert_allclose(dsk.beta_hat, mem.beta_hat, rtol=1e-8)
    f1, g1, h1 = dsk.laplace_beta_gradient(theta, beta, hessian=True)
    f2, g2, h2 = mem.laplace_beta_gradient(theta, beta, hessian=True)
    assert f1 == pytest.approx(f2, rel=1e-11)
    np.testing.assert_allclose(g1, g2, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(h1, h2, rtol=1e-9)
    s1, s2 = dsk.solve(theta, None), mem.solve(theta, None)
    np.testing.assert_allclose(s1.RX.T @ s1.RX, s2.RX.T @ s2.RX, rtol=1e-8)
    np.testing.assert_allclose(s1.b[0], s2.b[0], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(("theta_scale", "beta_shift"), [
    (1.0, 0.0), (3.0, 1.0), (0.1, -2.0), (None, 1.0), (1.0, 0.0), (1.0001, 0.0), (0.0, 0.5)])
def test_objective_along_a_path_of_evaluations(theta_scale: float | None, beta_shift: float) -> None:
    """Each evaluation starts from modes predicted from the one before (jumps far from the optimum included):
    the objective, the nagq = 0 objective and the beta gradient stay the in-memory ones.  (Far out, e.g. theta
    (5, -3, 0.01) with beta + 4, PIRLS stops on rounding at points that depend on its start, in memory as in
    Dask, before and after the predicted starts: not a point to compare at.)"""
    import lmmflow as lf
    from lmmflow.core.family import binomial
    from lmmflow.core.pirls import GlmmObjective
    from lmmflow.scale.dask_glmm import dask_glmm_objective

    c = CASES["binary_growth_rs"]
    if "path" not in PATH:
        d = frame(c)
        m = lf.glmer(c["formula"], d, family="binomial")
        PATH["path"] = (m, GlmmObjective(m.design.blocks(), m.design.X, m.design.y, binomial()),
                        dask_glmm_objective(c["formula"], dd.from_pandas(d, npartitions=5)))
    m, mem, dsk = PATH["path"]  # one objective of each kind along the whole path (the warm starts carry over)
    theta = np.array([2.0, -0.5, 0.2]) if theta_scale is None else np.asarray(m.theta) * theta_scale
    beta = np.asarray(m.fixef) + beta_shift
    assert dsk.laplace(theta, beta) == pytest.approx(mem.laplace(theta, beta), rel=1e-13)
    f1, g1, _ = dsk.laplace_beta_gradient(theta, beta)
    f2, g2, _ = mem.laplace_beta_gradient(theta, beta)
    assert f1 == pytest.approx(f2, rel=1e-13)
    np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-9)
    assert dsk.nagq0(theta) == pytest.approx(mem.nagq0(theta), rel=1e-13)


PATH: dict[str, tuple] = {}


def test_passes_per_evaluation() -> None:
    """Warm starts predicted by one IRLS step with the last sums, and the beta gradient from the last PIRLS
    pass: about 2.5 passes per PIRLS solve (4 before both)."""
    c = CASES["binary_growth_rs"]
    g = glmer_dask(c["formula"], dd.from_pandas(frame(c), npartitions=4), family="binomial")
    assert g.passes <= 2.75 * g.evaluations


@pytest.mark.parametrize(("uniq", "head", "run"), [
    ([4, 5, 6, 7], [], (4, 8)),            # a run
    ([1, 9, 10, 11], [1], (9, 12)),        # one level shared with an earlier partition, then a run
    ([0, 2, 7, 8], [0, 2], (7, 9)),
    ([3], [], (3, 4)),
    ([], [], (0, 0)),
])
def test_placement_of_a_partitions_sums(uniq: list, head: list, run: tuple) -> None:
    from lmmflow.scale.dask_glmm_passes import placement

    h, k, tail = placement(np.asarray(uniq, dtype=np.intp))
    assert h.tolist() == head and k == len(head) and (tail.start, tail.stop) == run


def test_levels_numbered_by_first_appearance() -> None:
    from lmmflow.scale.dask_glmm import _numbering

    perm = _numbering([np.array([2, 5, 7]), np.array([5, 0, 1]), np.array([], dtype=np.intp)], 9)
    assert perm.tolist() == [3, 4, 0, 5, 6, 1, 7, 2, 8]  # 2, 5, 7 first; then 0, 1; the unseen last


def _arrays(obj: object, seen: set | None = None) -> list[np.ndarray]:
    """The numpy arrays an object holds (attributes, tuples, lists, dicts), recursively."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [a for x in obj for a in _arrays(x, seen)]
    if isinstance(obj, dict):
        return [a for x in obj.values() for a in _arrays(x, seen)]
    if hasattr(obj, "__dict__") and type(obj).__module__.startswith("lmmflow.scale.dask_glmm"):
        return [a for x in vars(obj).values() for a in _arrays(x, seen)]
    return []


def test_driver_holds_level_sized_arrays_only() -> None:
    """After a fit the objective's arrays (warm starts, the last pass's sums) are sized by the levels: with 40
    levels of 150 rows each, none has as many as 6,000 values (the largest, the last gradient pass's per-level
    sums, has (q(q+1)/2 (p + q) + p q + q(q+1)/2 + q) x levels = 31 x 40 here)."""
    from lmmflow.optim.glmm import fit_glmm
    from lmmflow.scale.dask_glmm import dask_glmm_objective

    rng = np.random.default_rng(5)
    n_id, per = 40, 150
    g = np.repeat(np.arange(n_id), per)
    t = np.tile(np.arange(per) / per, n_id)
    grp = (g % 2).astype(float)
    eta = -0.5 + 0.8 * t + 0.3 * grp + rng.normal(0, 0.8, n_id)[g] + rng.normal(0, 0.5, n_id)[g] * t
    d = pd.DataFrame({"y": (rng.random(len(g)) < 1 / (1 + np.exp(-eta))).astype(int), "t": t, "grp": grp,
                      "id": [f"s{k}" for k in g]})
    obj = dask_glmm_objective("y ~ t * grp + (1 + t | id)", dd.from_pandas(d, npartitions=4))
    fit_glmm(obj)
    sizes = [a.size for a in _arrays({k: v for k, v in vars(obj).items() if k != "passes"})]
    assert sizes and max(sizes) <= 31 * n_id < len(d)


# last in the module: while the module's cluster runs it is the default scheduler
def test_distributed_client_gives_the_in_memory_fit(client) -> None:
    """The passes run on the workers of a distributed cluster (the encoded partitions stay there)."""
    import lmmflow as lf

    c = CASES["cbpp_logit"]
    d = frame(c)
    m = lf.glmer(c["formula"], d, family="binomial")
    g = glmer_dask(c["formula"], dd.from_pandas(d, npartitions=2), family="binomial", client=client)
    assert g.objective == pytest.approx(m.objective, rel=1e-10)
    np.testing.assert_allclose(g.fixef, m.fixef, rtol=1e-6, atol=1e-6)
    fitted = client.compute(g.fitted).result()
    np.testing.assert_allclose(fitted, m.fitted, rtol=1e-6, atol=1e-6)
