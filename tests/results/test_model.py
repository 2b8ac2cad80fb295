"""The result object: accessors, printing, prediction, simulation, refit and update."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmmflow as lf
from lmmflow import DataError

F = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def fit(sleepstudy: pd.DataFrame) -> lf.LmerResult:
    return lf.lmer(F, sleepstudy)


def test_basic_accessors(fit: lf.LmerResult) -> None:
    assert fit.nobs == 180 and fit.ngroups == {"Subject": 18}
    assert fit.npar == 6 and fit.df_resid == 174
    assert list(fit.fixef.index) == ["(Intercept)", "Days"]
    assert fit.vcov.shape == (2, 2)
    assert set(fit.varcorr.columns) == {"group", "var1", "var2", "vcov", "sdcor"}
    assert fit.ranef["Subject"].shape == (18, 2) and fit.ranef_sd["Subject"].shape == (18, 2)
    np.testing.assert_allclose(fit.coef["Subject"].to_numpy(),
                               fit.ranef["Subject"].to_numpy() + fit.fixef.to_numpy()[None, :])
    assert fit.optinfo.converged and fit.optinfo.evaluations > 0
    np.testing.assert_allclose(fit.fitted + fit.residuals, fit.data["Reaction"])


def test_summary_layout(fit: lf.LmerResult) -> None:
    text = str(fit.summary(ddf="none"))
    for piece in ("Linear mixed model fit by REML", "REML criterion at convergence: 1743.6", "Scaled residuals",
                  "Random effects:", "Groups", "Std.Dev.", "Corr", "Subject", "Residual",
                  "Number of obs: 180, groups:  Subject, 18", "Fixed effects:", "Estimate", "Std. Error",
                  "t value", "Correlation of Fixed Effects:"):
        assert piece in text, piece
    ml = str(fit.update(reml=False).summary(ddf="none"))
    assert "maximum likelihood" in ml and "AIC" in ml and "df.resid" in ml
    assert "Linear mixed model fit by REML" in repr(fit)


def test_predict(fit: lf.LmerResult, sleepstudy: pd.DataFrame) -> None:
    np.testing.assert_allclose(fit.predict(sleepstudy), fit.fitted, rtol=1e-12)
    pop = fit.predict(sleepstudy, re_form="~0")
    np.testing.assert_allclose(pop, fit.fixef["(Intercept)"] + fit.fixef["Days"] * sleepstudy["Days"])
    np.testing.assert_allclose(fit.predict(re_form=None), fit.fitted)
    new = pd.DataFrame({"Days": [0.0, 5.0], "Subject": ["new", "308"]})
    p = fit.predict(new, allow_new_levels=True)
    assert p.iloc[0] == pytest.approx(fit.fixef["(Intercept)"])
    assert p.iloc[1] == pytest.approx(fit.coef["Subject"].loc["308"] @ np.array([1.0, 5.0]))
    with pytest.raises(DataError, match="not in the fit"):
        fit.predict(new)  # lme4's default: allow.new.levels = FALSE
    with pytest.raises(DataError, match="grouping column"):
        fit.predict(pd.DataFrame({"Days": [1.0]}))


def test_simulate_is_seeded_and_plausible(fit: lf.LmerResult) -> None:
    a = fit.simulate(nsim=3, seed=1)
    b = fit.simulate(nsim=3, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert a.shape == (180, 3)
    big = fit.simulate(nsim=200, seed=2)
    assert abs(big.to_numpy().mean() - fit.data["Reaction"].mean()) < 10


def test_refit_and_update(fit: lf.LmerResult, sleepstudy: pd.DataFrame) -> None:
    y2 = fit.simulate(nsim=1, seed=5)["sim_1"].to_numpy()
    r = fit.refit(y2)
    direct = lf.lmer(F, sleepstudy.assign(Reaction=y2))
    assert r.objective == pytest.approx(direct.objective, rel=1e-10)
    ml = fit.update(reml=False)
    assert not ml.reml and ml.objective == pytest.approx(1751.9393444632, rel=1e-9)
    other = fit.update("Reaction ~ Days + (1 | Subject)", data=sleepstudy)
    assert other.npar == 4
    with pytest.raises(ValueError, match="one value per row"):
        fit.refit(y2[:10])


def test_singular_fit_is_said_not_raised() -> None:
    d = lf.load_dataset("dyestuff")
    rng = np.random.default_rng(0)
    e = pd.Series(rng.normal(size=len(d)))
    d = d.assign(Yield=(e - e.groupby(d["Batch"]).transform("mean")).to_numpy())  # batch means all equal
    with pytest.warns(UserWarning, match="singular"):
        m = lf.lmer("Yield ~ 1 + (1 | Batch)", d)
    assert m.is_singular
    assert "boundary (singular) fit" in str(m.summary(ddf="none"))


def test_resid_kinds(fit: lf.LmerResult) -> None:
    # lme4: without prior weights pearson = deviance = working = response; scaled divides by sigma
    for kind in ("working", "pearson", "deviance"):
        np.testing.assert_allclose(fit.resid(kind), fit.residuals)
    np.testing.assert_allclose(fit.resid("scaled"), fit.residuals / fit.sigma)
    np.testing.assert_allclose(fit.resid("pearson", scaled=True), fit.residuals / fit.sigma)
    with pytest.raises(ValueError, match="partial"):
        fit.resid("partial")


def test_control_and_optimizers(sleepstudy: pd.DataFrame) -> None:
    base = lf.lmer(F, sleepstudy)
    for opt in ("bobyqa", "newuoa", "cobyqa", "lbfgsb"):
        m = lf.lmer(F, sleepstudy, control=lf.LmerControl(optimizer=opt))
        assert m.objective == pytest.approx(base.objective, rel=1e-9), opt
    with pytest.raises(ValueError, match="optimizer"):
        lf.LmerControl(optimizer="magic")
    rec = lf.lmer(F, sleepstudy, record=True)
    assert len(rec.optinfo.log) > 5 and "final theta" in str(rec.optinfo)


def test_nested_and_crossed_group_names() -> None:
    pastes = lf.load_dataset("pastes")
    m = lf.lmer("strength ~ 1 + (1 | batch/cask)", pastes)
    assert set(m.ngroups) == {"cask:batch", "batch"}
    assert m.ngroups["cask:batch"] == 30
    pen = lf.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", lf.load_dataset("penicillin"))
    assert pen.ngroups == {"plate": 24, "sample": 6}


# ---- results are values (issue 11, item 5) -------------------------------------------------------------



def _snapshot(m: lf.LmerResult) -> dict:
    return {
        "fixef": m.fixef.to_numpy().copy(), "vcov": m.vcov.to_numpy().copy(),
        "varcorr": m.varcorr.copy(deep=True), "ranef": m.ranef["Subject"].to_numpy().copy(),
        "ranef_sd": m.ranef_sd["Subject"].to_numpy().copy(), "coef": m.coef["Subject"].to_numpy().copy(),
        "fitted": m.fitted.to_numpy().copy(), "residuals": m.residuals.to_numpy().copy(),
        "theta": m.theta.copy(), "weights": m.weights.copy(), "offset": m.offset.copy(),
        "data": m.data.copy(deep=True), "opt_theta": m.optinfo.theta.copy(),
        "table": m.coef_table(ddf="none").to_numpy().copy(), "pred": m.predict().to_numpy().copy(),
    }


def _assert_same(m: lf.LmerResult, snap: dict) -> None:
    now = _snapshot(m)
    for k, v in snap.items():
        if isinstance(v, pd.DataFrame):
            pd.testing.assert_frame_equal(now[k], v)
        else:
            np.testing.assert_array_equal(now[k], v, err_msg=k)


def _write(obj: object, pos: int, value: float) -> None:
    """Change a returned object in place, as a caller might."""
    if isinstance(obj, dict):
        obj = next(iter(obj.values()))
    if isinstance(obj, pd.Series):
        obj.iloc[pos % len(obj)] = value
    elif isinstance(obj, pd.DataFrame):
        num = [j for j, t in enumerate(obj.dtypes) if pd.api.types.is_float_dtype(t)]
        obj.iloc[pos % len(obj), num[pos % len(num)]] = value
    elif isinstance(obj, np.ndarray):
        obj.flat[pos % obj.size] = value
    else:  # the optimizer's record
        obj.theta[pos % len(obj.theta)] = value  # type: ignore[attr-defined]


ACCESSORS = ["fixef", "vcov", "varcorr", "ranef", "ranef_sd", "coef", "fitted", "residuals", "theta", "weights",
             "offset", "data", "optinfo"]


@pytest.fixture(scope="module")
def weighted(sleepstudy: pd.DataFrame) -> lf.LmerResult:
    return lf.lmer(F, sleepstudy, weights=1.0 + (sleepstudy["Days"] % 3) / 2.0,
                   offset=0.5 * sleepstudy["Days"].to_numpy())


@pytest.mark.parametrize("name", ACCESSORS)
def test_changing_what_an_accessor_returns_changes_nothing(weighted: lf.LmerResult, name: str) -> None:
    snap = _snapshot(weighted)
    got = getattr(weighted, name)
    _write(got, 1, -12345.0)
    _assert_same(weighted, snap)
    assert getattr(weighted, name) is not got


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.sampled_from(ACCESSORS), min_size=1, max_size=4), pos=st.integers(0, 10_000),
       value=st.floats(-1e6, 1e6, allow_nan=False))
def test_property_no_write_into_a_result_reaches_the_model(weighted: lf.LmerResult, names: list[str], pos: int,
                                                          value: float) -> None:
    snap = _snapshot(weighted)
    for name in names:
        _write(getattr(weighted, name), pos, value)
    _assert_same(weighted, snap)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(col=st.sampled_from(["Reaction", "Days", "Subject"]), row=st.integers(0, 179),
       how=st.sampled_from(["loc", "assign_column", "numpy"]))
def test_property_caller_frame_and_fit_are_independent(sleepstudy: pd.DataFrame, col: str, row: int,
                                                       how: str) -> None:
    df = sleepstudy.copy()
    before = df.copy(deep=True)
    w = pd.Series(1.0 + (df["Days"] % 3) / 2.0, index=df.index)
    w_before = w.copy()
    m = lf.lmer(F, df, weights=w)
    pd.testing.assert_frame_equal(df, before)  # the fit never changes the caller's frame or Series
    pd.testing.assert_series_equal(w, w_before)
    snap = _snapshot_plain(m)
    new = "999" if col == "Subject" else 1e4
    if how == "loc":
        df.loc[row, col] = new
        w.iloc[row] = 50.0
    elif how == "assign_column":
        df[col] = df[col] * 2 if col != "Subject" else df[col] + "x"
    else:
        arr = df[col].to_numpy()
        if arr.flags.writeable:
            arr[row] = new
    _assert_plain(m, snap)


def _snapshot_plain(m: lf.LmerResult) -> dict:
    return {"fixef": m.fixef.to_numpy().copy(), "fitted": m.fitted.to_numpy().copy(), "data": m.data.copy(deep=True),
            "weights": m.weights.copy(), "pred": m.predict().to_numpy().copy()}


def _assert_plain(m: lf.LmerResult, snap: dict) -> None:
    pd.testing.assert_frame_equal(m.data, snap["data"])
    for k in ("fixef", "fitted", "weights", "pred"):
        np.testing.assert_array_equal(getattr(m, k) if k != "pred" else m.predict(), snap[k], err_msg=k)


# ---- residual types as lme4's residuals.merMod (R values: tests/reference/make_inference.R) ------------

def _inference_ref() -> dict:
    import json
    from pathlib import Path

    return json.loads((Path(__file__).parents[1] / "reference" / "inference.json").read_text())


@pytest.mark.parametrize("kind", ["response", "working", "pearson", "deviance"])
@pytest.mark.parametrize("scaled", [False, True])
def test_resid_types_match_lme4_on_a_weighted_fit(sleepstudy: pd.DataFrame, kind: str, scaled: bool) -> None:
    ref = _inference_ref()["residuals"]
    m = lf.lmer(ref["formula"], sleepstudy, weights=1.0 + (sleepstudy["Days"] % 3) / 2.0)
    assert m.sigma == pytest.approx(ref["sigma"], rel=1e-6)
    want = np.asarray(ref[f"{kind}_scaled" if scaled else kind])
    np.testing.assert_allclose(m.resid(kind, scaled=scaled).to_numpy(), want, rtol=1e-5, atol=1e-6 * m.sigma)
    if kind == "response":
        np.testing.assert_allclose(m.resid("scaled").to_numpy(), np.asarray(ref["response_scaled"]), rtol=1e-5,
                                   atol=1e-8)


def test_update_on_new_data_keeps_contrasts_na_action_and_offset_column() -> None:
    import numpy as np
    import pandas as pd
    import pytest

    import lmmflow as lf

    df = lf.load_dataset("sleepstudy")
    df["dose"] = pd.Categorical(np.where(df["Days"] < 3, "a", np.where(df["Days"] < 7, "b", "c")))
    df["o"] = 0.1 * df["Days"]
    m = lf.lmer("Reaction ~ dose + (1 | Subject)", df, contrasts={"dose": "sum"}, offset="o",
                na_action="na.exclude")
    u = m.update(data=df.iloc[:150])
    assert list(u.fixef.index) == list(m.fixef.index)  # sum contrasts kept: dose1, dose2
    assert u.design.frame.na_action == "na.exclude" and u.design.frame.offset_column == "o"
    w = lf.lmer("Reaction ~ Days + (1 | Subject)", df, weights=np.ones(len(df)))
    with pytest.raises(ValueError, match="prior weights"):
        w.update(data=df)
