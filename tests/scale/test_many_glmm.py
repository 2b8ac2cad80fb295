"""fit_many(..., family=) equals a loop of lf.glmer, serially, over local processes and on Dask."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow import DataError


def _cbpp_like() -> tuple[pd.DataFrame, list[str]]:
    """cbpp's design (herd x period, size trials) with simulated proportions, one with a missing value and
    two that fail (a proportion above 1; text)."""
    df = lf.load_dataset("cbpp")
    rng = np.random.default_rng(5)
    size = df["size"].to_numpy()
    herd = pd.factorize(df["herd"])[0]
    names = []
    for j in range(5):
        u = rng.normal(0, 0.7, herd.max() + 1)[herd]
        p = 1 / (1 + np.exp(-(-1.5 + 0.3 * j - 0.4 * (df["period"].astype(int) - 1) + u)))
        df[f"p{j}"] = rng.binomial(size, p) / size
        names.append(f"p{j}")
    df.loc[4, "p2"] = np.nan
    df["bad"] = df["p0"] * 2.5  # values above 1: lf.glmer's DataError names the column
    df["text"] = np.array(["a", "b", "c"])[np.arange(len(df)) % 3]  # three levels: not binomial
    return df, [*names, "bad", "text"]


def _poisson_like() -> tuple[pd.DataFrame, list[str]]:
    rng = np.random.default_rng(8)
    n_units, waves = 30, 6
    df = pd.DataFrame({"unit": np.repeat(np.arange(n_units), waves), "wave": np.tile(np.arange(waves) / 5, n_units)})
    df["expo"] = rng.uniform(1, 3, len(df))
    names = []
    for j in range(4):
        u = rng.normal(0, 0.5, n_units)[df["unit"]]
        df[f"c{j}"] = rng.poisson(np.exp(0.2 + 0.5 * df["wave"] + u) * df["expo"])
        names.append(f"c{j}")
    df.loc[[0, 7], "c1"] = np.nan
    df["neg"] = df["c0"] - 3  # negative counts
    return df, [*names, "neg"]


CASES = {
    "cbpp": (_cbpp_like, "y ~ period + (1 | herd)", {"family": "binomial", "weights": "size"}),
    "cbpp_probit_agq": (_cbpp_like, "y ~ period + (1 | herd)", {"family": "binomial", "link": "probit",
                                                                 "weights": "size", "nagq": 5}),
    "poisson": (_poisson_like, "y ~ wave + (1 | unit)", {"family": "poisson", "offset": np.log}),
}


def _kw(df: pd.DataFrame, kw: dict) -> dict:
    kw = dict(kw)
    if callable(kw.get("offset")):
        kw["offset"] = kw["offset"](df["expo"].to_numpy())
    return kw


def _glmer(df: pd.DataFrame, formula: str, name: str, kw: dict):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lf.glmer(formula.replace("y ~", f"{name} ~", 1), df, quiet=True, **kw)


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    make, formula, kw = CASES[request.param]
    df, names = make()
    kw = _kw(df, kw)
    mf = lf.fit_many(formula, df, names, progress=False, **kw)
    return request.param, df, names, formula, kw, mf


def test_equals_a_loop_of_glmer(case):
    _, df, names, formula, kw, mf = case
    assert mf.kind == "glmm" and mf.method == "glmer" and len(mf) == len(names)
    for name in names:
        rec = mf.records[name]
        try:
            g = _glmer(df, formula, name, kw)
        except (DataError, ValueError) as exc:  # the same error, recorded with the column's name
            assert not rec.converged and np.isnan(rec.beta).all()
            assert rec.message == f"{type(exc).__name__}: {exc}" and repr(name) in rec.message
            continue
        assert rec.converged and rec.message == ""
        assert rec.nobs == g.nobs and rec.nagq == g.nagq
        assert rec.objective == pytest.approx(g.objective, abs=1e-8)
        np.testing.assert_allclose(rec.beta, g.fixef.to_numpy(), atol=1e-6, rtol=0)
        np.testing.assert_allclose(rec.theta, g.theta, atol=1e-6, rtol=0)
        np.testing.assert_allclose(rec.std_errors, np.sqrt(np.diag(g.vcov.to_numpy())), atol=1e-6, rtol=0)
        row = mf.fits.loc[name]
        assert row["loglik"] == pytest.approx(g.loglik, abs=1e-8)
        assert row["aic"] == pytest.approx(g.aic, abs=1e-8) and row["bic"] == pytest.approx(g.bic, abs=1e-8)
        sd = g.varcorr["sdcor"].to_numpy() if "sdcor" in g.varcorr else None
        if sd is not None:
            assert row.filter(like="sd_").to_numpy(dtype=float) == pytest.approx(sd[: len(g.theta)], abs=1e-6)
        tidy = mf.tidy().set_index(["response", "term"]).loc[name]
        ct = g.coef_table()
        np.testing.assert_allclose(tidy["statistic"].to_numpy(), ct.iloc[:, 2].to_numpy(), atol=1e-5)
        np.testing.assert_allclose(tidy["p_value"].to_numpy(), ct.iloc[:, 3].to_numpy(), atol=1e-6)


def test_missing_values_get_their_own_rows(case):
    name, df, names, formula, kw, mf = case
    missing = "p2" if name.startswith("cbpp") else "c1"
    assert mf.records[missing].nobs == len(df) - int(df[missing].isna().sum())
    assert len(mf._groups) >= 2


def test_result_is_the_glmer_fit(case):
    _, df, names, formula, kw, mf = case
    g = mf[names[0]]
    assert isinstance(g, lf.GlmerResult)
    ref = _glmer(df, formula, names[0], kw)
    np.testing.assert_allclose(g.fixef.to_numpy(), ref.fixef.to_numpy(), atol=1e-6)
    assert g.objective == pytest.approx(ref.objective, abs=1e-8)
    assert g.formula.split("~")[0].strip() == names[0]
    with pytest.raises(ValueError, match="failed"):
        mf[names[-1]]


def test_local_processes_equal_serial():
    df, names = _poisson_like()
    kw = _kw(df, CASES["poisson"][2])
    one = lf.fit_many("y ~ wave + (1 | unit)", df, names, progress=False, **kw)
    two = lf.fit_many("y ~ wave + (1 | unit)", df, names, progress=False, n_jobs=2, **kw)
    pd.testing.assert_frame_equal(one.fits, two.fits)
    pd.testing.assert_frame_equal(one.fixef, two.fixef)


def test_dask_client_equals_serial():
    distributed = pytest.importorskip("distributed")
    df, names = _cbpp_like()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cl:
        with distributed.Client(cl) as client:
            mf = lf.fit_many("y ~ period + (1 | herd)", df, names, family="binomial", weights="size",
                             client=client, progress=False)
    serial = lf.fit_many("y ~ period + (1 | herd)", df, names, family="binomial", weights="size", progress=False)
    pd.testing.assert_frame_equal(mf.fits, serial.fits)
    pd.testing.assert_frame_equal(mf.std_errors, serial.std_errors)


def test_binary_forms_and_warm_start():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"unit": np.repeat(np.arange(25), 8), "wave": np.tile(np.arange(8) / 8, 25)})
    u = rng.normal(0, 1, 25)[df["unit"]]
    for j in range(4):
        df[f"b{j}"] = rng.random(len(df)) < 1 / (1 + np.exp(-(u - 0.3 + df["wave"])))
    df["b1"] = df["b1"].astype(float)
    df["b2"] = np.where(df["b2"], "yes", "no")  # a two-level text response: "yes" is a success
    df["b3"] = pd.Categorical(np.where(df["b3"], "hi", "lo"), categories=["lo", "hi"])
    names = ["b0", "b1", "b2", "b3"]
    mf = lf.fit_many("y ~ wave + (1 | unit)", df, names, family="binomial", progress=False)
    warm = lf.fit_many("y ~ wave + (1 | unit)", df, names, family="binomial", progress=False, warm_start=True)
    for name in names:
        g = _glmer(df, "y ~ wave + (1 | unit)", name, {"family": "binomial"})
        np.testing.assert_allclose(mf.fixef.loc[name].to_numpy(), g.fixef.to_numpy(), atol=1e-6, rtol=0)
        np.testing.assert_allclose(warm.fixef.loc[name].to_numpy(), g.fixef.to_numpy(), atol=1e-5, rtol=0)
        assert warm.records[name].objective == pytest.approx(g.objective, abs=1e-6)
    # the same responses as a 2-D array (named y1..): the same numbers
    arr = lf.fit_many("y ~ wave + (1 | unit)", df, df[["b0", "b1"]].to_numpy(dtype=float), family="binomial",
                      progress=False)
    np.testing.assert_array_equal(arr.fixef.to_numpy(), mf.fixef.loc[["b0", "b1"]].to_numpy())


def test_singular_fit_is_noted_and_bad_arguments():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": np.repeat(np.arange(10), 10), "x": rng.normal(size=100)})
    df["y"] = (rng.random(100) < 0.5).astype(float)  # no group effect: typically a singular fit
    mf = lf.fit_many("y ~ x + (1 | g)", df, ["y"], family="binomial", progress=False)
    g = _glmer(df, "y ~ x + (1 | g)", "y", {"family": "binomial"})
    rec = mf.records["y"]
    assert rec.singular == g.is_singular
    assert ("singular" in "; ".join(rec.warnings)) == g.is_singular
    with pytest.raises(ValueError, match="for GLMMs"):
        lf.fit_many("y ~ x + (1 | g)", df, ["y"], nagq=2, progress=False)
    with pytest.raises(ValueError, match="family"):
        lf.fit_many("y ~ x + (1 | g)", df, ["y"], family="gamma", progress=False)
    with pytest.raises(ValueError, match="nagq"):
        lf.fit_many("y ~ x + (x | g)", df, ["y"], family="binomial", nagq=3, progress=False)
    with pytest.raises(ValueError, match="method='exact' is for linear"):
        lf.fit_many("y ~ x + (1 | g)", df, ["y"], family="binomial", method="exact", progress=False)


def test_progress_bar_and_picklable_work(capsys):
    import pickle

    from lmmflow.inference.glmm_bootstrap import _Payload, _Refitter

    df, names = _poisson_like()
    kw = _kw(df, CASES["poisson"][2])
    mf = lf.fit_many("y ~ wave + (1 | unit)", df, names[:2], progress=True, **kw)
    assert "fit_many" in capsys.readouterr().err
    # what a process cluster receives must pickle: the group's design with the family, and the bootstrap payload
    pickle.loads(pickle.dumps((mf._groups[0].design, mf.family)))
    g = mf[names[0]]
    pickle.loads(pickle.dumps(_Payload(g, _Refitter(g), None)))
