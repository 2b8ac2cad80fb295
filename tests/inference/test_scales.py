"""Intervals on the scale asked for (SD/correlation or variance/covariance), and `level` honoured everywhere.

The traps these guard against: broom.mixed's ``tidy(scales = "vcov", conf.int = TRUE)`` reports SD-scale
intervals next to variance estimates (broom.mixed issues #94, #161); lme4's ``confint(method = "boot")``
ignores ``level`` (lme4 issue #543).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import lmmflow as lf
from lmmflow.inference.bootstrap import BootstrapResult, BootstrapWarning
from lmmflow.inference.derivatives import deviance_varpar
from lmmflow.inference.intervals import (
    ran_pars_intervals,
    sdcor_to_vcov,
    theta_from_sdcor,
    variance_layout,
)
from lmmflow.inference.profile import Profile

VC_NAMES = ["var_(Intercept)|Subject", "cov_Days.(Intercept)|Subject", "var_Days|Subject", "var_Residual"]
SD_NAMES = ["sd_(Intercept)|Subject", "cor_Days.(Intercept)|Subject", "sd_Days|Subject", "sigma"]


@pytest.fixture(scope="module")
def fm1(sleepstudy: pd.DataFrame) -> lf.LmerResult:
    return lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)


@pytest.fixture(scope="module")
def prof_sd(fm1: lf.LmerResult) -> Profile:
    return lf.profile(fm1, progress=False)


@pytest.fixture(scope="module")
def prof_vc(fm1: lf.LmerResult) -> Profile:
    return lf.profile(fm1, progress=False, scale="vcov")


@pytest.fixture(scope="module")
def boot(fm1: lf.LmerResult) -> BootstrapResult:
    return lf.bootstrap(fm1, nsim=400, seed=99, progress=False)


# ---- names and the transformation ----------------------------------------------------------------------
def test_vcov_names_and_wald_rows(fm1: lf.LmerResult) -> None:
    ci = fm1.confint(method="wald", scale="vcov")
    assert list(ci.index) == [*VC_NAMES, "(Intercept)", "Days"]
    assert ci.loc[VC_NAMES].isna().all().all()  # as lme4: no Wald intervals for variance parameters
    pd.testing.assert_frame_equal(ci.loc[["(Intercept)", "Days"]], fm1.confint(method="wald", parm="beta_"))
    assert list(fm1.confint(method="wald", scale="vcov", parm="theta_").index) == VC_NAMES
    assert list(fm1.confint(method="wald", scale="vcov", parm=["var_Residual"]).index) == ["var_Residual"]
    with pytest.raises(ValueError, match="unknown parameter"):
        fm1.confint(method="wald", scale="vcov", parm=["sigma"])  # sdcor names are not vcov names
    with pytest.raises(ValueError, match="scale"):
        fm1.confint(method="wald", scale="variance")


def test_sdcor_to_vcov_matches_varcorr(fm1: lf.LmerResult) -> None:
    layout = variance_layout(fm1)
    assert layout == [("sd", 0, 0), ("cor", 2, 0), ("sd", 2, 2)]
    vc = fm1.varcorr
    sd = np.array([vc.sdcor[0], vc.sdcor[2], vc.sdcor[1], vc.sdcor[3], 1.5])
    np.testing.assert_allclose(sdcor_to_vcov(layout, sd), [vc.vcov[0], vc.vcov[2], vc.vcov[1], vc.vcov[3], 1.5],
                               rtol=1e-12)
    # a zero SD: the correlation is undefined (NaN) but the covariance is 0
    np.testing.assert_array_equal(sdcor_to_vcov(layout, np.array([0.0, np.nan, 2.0, 3.0])), [0.0, 0.0, 4.0, 9.0])


# ---- profile on the variance / covariance scale ---------------------------------------------------------------
def test_profile_variances_are_squared_sd_intervals(prof_sd, prof_vc) -> None:
    a, b = prof_sd.confint(), prof_vc.confint()
    assert list(b.index) == [*VC_NAMES, "(Intercept)", "Days"]
    for sd, var in [(SD_NAMES[0], VC_NAMES[0]), (SD_NAMES[2], VC_NAMES[2]), ("sigma", "var_Residual")]:
        np.testing.assert_allclose(b.loc[var], a.loc[sd] ** 2, rtol=1e-12)
    pd.testing.assert_frame_equal(b.loc[["(Intercept)", "Days"]], a.loc[["(Intercept)", "Days"]])
    for level in (0.5, 0.9):  # also at other levels
        np.testing.assert_allclose(prof_vc.confint(level).loc["var_Residual"], prof_sd.confint(level).loc["sigma"] ** 2,
                                   rtol=1e-12)
    # the estimates and every column along the paths are on the vcov scale
    est = prof_vc.estimates
    np.testing.assert_allclose(est[VC_NAMES[3]], prof_sd.estimates["sigma"] ** 2, rtol=1e-12)
    cov_rows = prof_vc.frame[prof_vc.frame.parameter == VC_NAMES[1]]
    np.testing.assert_allclose(cov_rows[VC_NAMES[1]], cov_rows["value"], rtol=1e-9, atol=1e-9)
    assert (prof_vc.frame[VC_NAMES[0]] >= 0).all()


def test_covariance_interval_brackets_and_is_not_an_sd_interval(prof_sd, prof_vc) -> None:
    ci = prof_vc.confint()
    cov_hat = prof_vc.estimates[VC_NAMES[1]]
    assert ci.loc[VC_NAMES[1], "lower"] < 0 < cov_hat < ci.loc[VC_NAMES[1], "upper"]
    sd_ci = prof_sd.confint()
    # nothing like the correlation's interval [-0.48, 0.68]: the covariance is in Reaction^2 / day
    assert ci.loc[VC_NAMES[1], "upper"] - ci.loc[VC_NAMES[1], "lower"] > 100 * (
        sd_ci.loc[SD_NAMES[1], "upper"] - sd_ci.loc[SD_NAMES[1], "lower"])
    z = prof_vc.zeta_frame()
    z = z[z.parameter == VC_NAMES[1]].sort_values("value")
    assert np.all(np.diff(z["zeta"]) > 0) and z["zeta"].min() < -2 and z["zeta"].max() > 2


def test_covariance_profile_is_the_constrained_minimum(fm1: lf.LmerResult, prof_vc) -> None:
    """At points of the covariance's profile, an independent minimization of the ML deviance over
    (sd_1, sd_2, sigma) with the covariance held fixed finds the same deviance (and nothing lower)."""
    mml = fm1.update(reml=False)
    f = mml.devfun.factor
    layout = [(sl, r, c, b.p) for sl, (r, c), b in zip(f.slices, f.positions, f.cp.blocks)]
    rows = prof_vc.frame[prof_vc.frame.parameter == VC_NAMES[1]]
    rows = rows.iloc[np.argsort(np.abs(rows["zeta"].to_numpy() - 1.5))[:1].tolist()
                     + np.argsort(np.abs(rows["zeta"].to_numpy() + 2.5))[:1].tolist()]
    for _, row in rows.iterrows():
        x = row["value"]

        def dev(p: np.ndarray, x: float = x) -> float:
            s1, s2, sig = np.exp(p)
            cor = x / (s1 * s2)
            if abs(cor) >= 1:
                return 1e10
            th = theta_from_sdcor(layout, np.array([s1, cor, s2]), sig)
            return deviance_varpar(mml, np.r_[th, sig])

        best = np.inf
        for start in (np.log([24.0, 6.0, 25.0]), np.log([40.0, 10.0, 24.0]), np.log([15.0, 4.0, 27.0])):
            r = optimize.minimize(dev, start, method="Nelder-Mead",
                                  options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
            best = min(best, r.fun)
        want = np.sign(row["zeta"]) * np.sqrt(best - prof_vc.base)
        assert row["zeta"] == pytest.approx(want, abs=1e-6)


def test_front_doors_on_vcov_scale(fm1: lf.LmerResult, prof_vc) -> None:
    ci = fm1.confint(method="profile", scale="vcov", parm="theta_")
    pd.testing.assert_frame_equal(ci, prof_vc.confint().loc[VC_NAMES])
    r = ran_pars_intervals(fm1, "profile", scale="vcov")
    assert list(r.index) == list(fm1.varcorr.index)
    np.testing.assert_allclose(r["estimate"], fm1.varcorr["vcov"])
    order = ["var_(Intercept)|Subject", "var_Days|Subject", "cov_Days.(Intercept)|Subject", "var_Residual"]
    assert r["parameter"].tolist() == order
    np.testing.assert_allclose(r[["lower", "upper"]], prof_vc.confint().loc[order], rtol=1e-12)
    s = ran_pars_intervals(fm1, "profile", scale="sdcor")
    np.testing.assert_allclose(s["estimate"], fm1.varcorr["sdcor"])
    # every estimate lies inside its own interval, on its own scale (REML estimates inside ML-profile intervals)
    for t in (r, s):
        assert ((t["lower"] < t["estimate"]) & (t["estimate"] < t["upper"])).all()


def test_uncorrelated_terms_on_vcov_scale(sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (Days || Subject)", sleepstudy)
    r = ran_pars_intervals(m, "profile", scale="vcov")
    assert r["parameter"].tolist() == ["var_(Intercept)|Subject", "var_Days|Subject.1", "var_Residual"]
    s = ran_pars_intervals(m, "profile", scale="sdcor")
    np.testing.assert_allclose(r[["lower", "upper"]], s[["lower", "upper"]] ** 2, rtol=1e-12)


# ---- bootstrap on the variance / covariance scale ------------------------------------------------------------
def test_bootstrap_vcov_intervals_are_quantiles_of_transformed_replicates(fm1: lf.LmerResult, boot) -> None:
    reps = boot.replicates
    ci = boot.confint(scale="vcov", level=0.9)
    assert list(ci.index) == [*VC_NAMES, "(Intercept)", "Days"]
    cov = reps[SD_NAMES[1]] * reps[SD_NAMES[0]] * reps[SD_NAMES[2]]
    for name, vals in [(VC_NAMES[0], reps[SD_NAMES[0]] ** 2), (VC_NAMES[1], cov), (VC_NAMES[2], reps[SD_NAMES[2]] ** 2),
                       (VC_NAMES[3], reps["sigma"] ** 2)]:
        np.testing.assert_allclose(ci.loc[name], np.quantile(vals, [0.05, 0.95]), rtol=1e-12)
    vc_reps, t0 = boot.on_scale("vcov")
    np.testing.assert_allclose(t0[VC_NAMES], fm1.varcorr["vcov"].to_numpy()[[0, 2, 1, 3]], rtol=1e-10)
    basic = boot.confint(scale="vcov", type="basic")
    q = np.quantile(vc_reps[VC_NAMES[1]], [0.025, 0.975])
    np.testing.assert_allclose(basic.loc[VC_NAMES[1]], [2 * t0[VC_NAMES[1]] - q[1], 2 * t0[VC_NAMES[1]] - q[0]])
    front = fm1.confint(method="boot", nsim=400, seed=99, scale="vcov", level=0.9)
    pd.testing.assert_frame_equal(front, ci)
    assert front.attrs["nsim"] == 400 and front.attrs["n_failed"] == 0
    with pytest.raises(ValueError, match="default statistic"):
        lf.bootstrap(fm1, statistic=lambda f: f.fixef, nsim=3, seed=1, progress=False).confint(scale="vcov")


def test_undefined_replicates_are_reported_not_silently_dropped(boot) -> None:
    """A correlation is NaN in a refit with an SD of 0: its interval uses the other replicates, with a
    warning that counts them; on the vcov scale the covariance is 0 there and nothing is left out."""
    reps = boot.replicates.copy()
    reps.iloc[:7, 0] = 0.0  # sd_(Intercept) at 0 in seven refits
    reps.iloc[:7, 1] = np.nan  # ... so their correlation is undefined
    b = BootstrapResult(reps, boot.t0, boot.failures, boot.nsim, boot.seed, 0.0, 1, False, layout=boot.layout)
    with pytest.warns(BootstrapWarning, match=r"cor_Days.\(Intercept\)\|Subject \(7\)"):
        ci = b.confint()
    assert ci.attrs["n_used"][SD_NAMES[1]] == 400 - 7 and ci.attrs["n_used"][SD_NAMES[0]] == 400
    np.testing.assert_allclose(ci.loc[SD_NAMES[1]], np.quantile(reps.iloc[7:, 1], [0.025, 0.975]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vc = b.confint(scale="vcov")
    assert vc.attrs["n_used"][VC_NAMES[1]] == 400
    assert b.summary().loc[SD_NAMES[1], "n"] == 393


def test_failed_refits_reach_the_confint_front_door(fm1: lf.LmerResult, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every refit failing is reported (warning, count, NaN intervals), never turned into a silent result."""
    from lmmflow.inference import bootstrap as boot_mod

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the optimizer gave up")

    monkeypatch.setattr(boot_mod, "MAX_BATCH_PARAMS", 0)  # every replicate through _refit
    monkeypatch.setattr(boot_mod, "_refit", broken)
    with pytest.warns(BootstrapWarning, match="20 of 20 bootstrap refits failed"):
        ci = fm1.confint(method="boot", nsim=20, seed=1)
    assert ci.attrs["n_failed"] == 20 and ci.isna().all().all()


# ---- level everywhere ---------------------------------------------------------------------------------------------
def _width(ci: pd.DataFrame) -> np.ndarray:
    return (ci["upper"] - ci["lower"]).to_numpy(dtype=float)


def test_level_is_honoured_everywhere(fm1: lf.LmerResult, boot, prof_sd, prof_vc, sleepstudy: pd.DataFrame) -> None:
    z80, z95 = stats.norm.ppf(0.9), stats.norm.ppf(0.975)
    # Wald and predictions: exactly the ratio of normal quantiles
    w = [fm1.confint(method="wald", parm="beta_", level=lv) for lv in (0.8, 0.95)]
    np.testing.assert_allclose(_width(w[0]) / _width(w[1]), z80 / z95, rtol=1e-12)
    new = sleepstudy.head(3)
    for re_form in (None, "~0"):
        for interval in ("confidence", "prediction"):
            p = [fm1.predict(new, re_form=re_form, interval=interval, level=lv) for lv in (0.8, 0.95)]
            np.testing.assert_allclose(_width(p[0]) / _width(p[1]), z80 / z95, rtol=1e-12)
    # profile (both scales): zeta crosses -+z at the ends
    for prof in (prof_sd, prof_vc):
        a, b = prof.confint(0.8), prof.confint(0.95)
        assert (_width(a) < _width(b)).all()
    fwd = prof_sd._spline("sigma")[0]
    assert fwd(prof_sd.confint(0.8).loc["sigma", "upper"]) == pytest.approx(z80, abs=2e-3)
    # bootstrap (every type and scale): quantiles at (1 -+ level) / 2
    for scale in ("sdcor", "vcov"):
        reps, _ = boot.on_scale(scale)
        ci = boot.confint(level=0.8, scale=scale)
        np.testing.assert_allclose(ci.to_numpy(), np.quantile(reps, [0.1, 0.9], axis=0).T, rtol=1e-12)
        for kind in ("basic", "norm"):
            assert (_width(boot.confint(level=0.8, type=kind, scale=scale))
                    < _width(boot.confint(level=0.95, type=kind, scale=scale))).all()
    # the front doors pass level through: confint, tidy, ran_pars intervals
    for method, kw in (("profile", {}), ("boot", {"nsim": 400, "seed": 99})):
        a = fm1.confint(method=method, level=0.8, **kw)
        b = fm1.confint(method=method, level=0.95, **kw)
        assert (_width(a) < _width(b)).all(), method
        r = ran_pars_intervals(fm1, method, level=0.8, scale="vcov", **kw)
        r95 = ran_pars_intervals(fm1, method, level=0.95, scale="vcov", **kw)
        assert (_width(r) < _width(r95)).all(), method
    t80 = lf.tidy(fm1, effects="fixed", conf_int=True, conf_level=0.8, ddf="normal")  # z: as confint(wald)
    np.testing.assert_allclose(t80[["conf_low", "conf_high"]], w[0], rtol=1e-12)
    rv = [lf.tidy(fm1, effects="ran_vals", conf_int=True, conf_level=lv) for lv in (0.8, 0.95)]
    np.testing.assert_allclose((rv[0].conf_high - rv[0].conf_low) / (rv[1].conf_high - rv[1].conf_low), z80 / z95)
    for bad in (95, 0.0, 1.0):
        with pytest.raises(ValueError, match="level"):
            fm1.confint(method="wald", level=bad)
        with pytest.raises(ValueError, match="level"):
            boot.confint(level=bad)
        with pytest.raises(ValueError, match="level"):
            prof_sd.confint(level=bad)


# ---- the tidy front door -------------------------------------------------------------------------------------
def test_tidy_ran_pars_intervals_on_the_scale_asked_for(fm1: lf.LmerResult) -> None:
    for scale in ("sdcor", "vcov"):
        t = lf.tidy(fm1, effects="ran_pars", conf_int=True, conf_method="profile", scales=scale, conf_level=0.9)
        want = ran_pars_intervals(fm1, "profile", level=0.9, scale=scale)
        np.testing.assert_allclose(t["estimate"], want["estimate"], rtol=1e-12)
        np.testing.assert_allclose(t[["conf_low", "conf_high"]], want[["lower", "upper"]], rtol=1e-12)
        assert t["term"].str.startswith("sd__" if scale == "sdcor" else "var__").sum() == 3
    alias = lf.tidy(fm1, effects="ran_pars", conf_int=True, conf_method="profile", scale="vcov")
    np.testing.assert_allclose(alias[["conf_low", "conf_high"]],
                               ran_pars_intervals(fm1, "profile", scale="vcov")[["lower", "upper"]], rtol=1e-12)
    # bootstrap intervals: on the estimates' scale (variances >= 0 around the variance, covariance in its units)
    t = lf.tidy(fm1, effects="ran_pars", conf_int=True, conf_method="boot", scales="vcov")
    assert ((t["conf_low"] < t["estimate"]) & (t["estimate"] < t["conf_high"])).all()
    var = t["term"].str.startswith("var__")
    assert (t.loc[var, "conf_low"] >= 0).all() and (t.loc[var, "conf_high"] > 2 * t.loc[var, "estimate"] ** 0.5).all()
    cov = t["term"].str.startswith("cov__")
    assert (t.loc[cov, "conf_high"] - t.loc[cov, "conf_low"] > 10).all()  # not a correlation's [-1, 1]
