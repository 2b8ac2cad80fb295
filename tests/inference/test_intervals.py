"""Wald and profile intervals against lme4, and the confint front door (level, parm, names)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.inference.intervals import (
    sdcor_from_theta,
    select_parameters,
    theta_from_sdcor,
    variance_parameter_names,
)

from ..conftest import load_case


@pytest.fixture(scope="module")
def fm1(sleepstudy: pd.DataFrame) -> lf.LmerResult:
    return lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)


def _cases(reference: dict, key: str) -> list[dict]:
    return [c for c in reference["cases"] if key in c]


def test_wald_matches_lme4_for_every_case(reference: dict) -> None:
    for case in _cases(reference, "confint_wald"):
        m = lf.lmer(case["formula"], load_case(case), reml=case["reml"], quiet=True)
        ci = m.confint(method="wald")
        got = {k.replace("[T.", "").replace("]", ""): v for k, v in ci.iterrows()}
        for w in case["confint_wald"]:
            row = got[w["term"]] if w["term"] in got else ci.loc[w["term"]]
            np.testing.assert_allclose([row["lower"], row["upper"]], [w["lower"], w["upper"]], rtol=1e-5,
                                       err_msg=f"{case['name']} {w['term']}")


def test_wald_variance_rows_are_nan_like_lme4(fm1: lf.LmerResult) -> None:
    ci = fm1.confint(method="Wald")
    assert list(ci.index) == ["sd_(Intercept)|Subject", "cor_Days.(Intercept)|Subject", "sd_Days|Subject",
                              "sigma", "(Intercept)", "Days"]
    assert ci.iloc[:4].isna().all().all()
    assert list(ci.columns) == ["lower", "upper"]


def test_level_is_honoured(fm1: lf.LmerResult) -> None:
    w95 = fm1.confint(method="wald", level=0.95, parm="beta_")
    w80 = fm1.confint(method="wald", level=0.80, parm="beta_")
    width95 = (w95["upper"] - w95["lower"]).to_numpy()
    width80 = (w80["upper"] - w80["lower"]).to_numpy()
    np.testing.assert_allclose(width80 / width95, 1.2815515655446004 / 1.959963984540054, rtol=1e-10)
    p95 = fm1.confint(method="profile", level=0.95, parm=["sigma"])
    p80 = fm1.confint(method="profile", level=0.80, parm=["sigma"])
    assert p80.loc["sigma", "lower"] > p95.loc["sigma", "lower"]
    assert p80.loc["sigma", "upper"] < p95.loc["sigma", "upper"]
    with pytest.raises(ValueError, match="level"):
        fm1.confint(method="wald", level=95)


def test_parm_selection(fm1: lf.LmerResult) -> None:
    assert list(fm1.confint(method="wald", parm="theta_").index) == [
        "sd_(Intercept)|Subject", "cor_Days.(Intercept)|Subject", "sd_Days|Subject", "sigma"]
    assert list(fm1.confint(method="wald", parm=["Days", "sigma"]).index) == ["sigma", "Days"]
    assert list(fm1.confint(method="wald", parm=[4]).index) == ["(Intercept)"]
    with pytest.raises(ValueError, match="unknown parameter"):
        fm1.confint(method="wald", parm=["nope"])
    with pytest.raises(ValueError, match="method"):
        fm1.confint(method="bayes")


def test_t_based_wald_with_ddf(fm1: lf.LmerResult) -> None:
    normal = fm1.confint(method="wald", parm="beta_")
    t_based = fm1.confint(method="wald", parm="beta_", ddf="residual")
    assert (t_based["upper"] - t_based["lower"] > normal["upper"] - normal["lower"]).all()


def test_profile_matches_lme4_for_every_case(reference: dict) -> None:
    for case in _cases(reference, "confint_profile"):
        m = lf.lmer(case["formula"], load_case(case), reml=case["reml"], quiet=True)
        with _no_fail():
            ci = m.confint(method="profile")
        for w in case["confint_profile"]:
            width = w["upper"] - w["lower"]
            got = ci.loc[w["term"]]
            assert abs(got["lower"] - w["lower"]) <= 2e-3 * width, (case["name"], w["term"], got.tolist())
            assert abs(got["upper"] - w["upper"]) <= 2e-3 * width, (case["name"], w["term"], got.tolist())


class _no_fail:
    """A context that lets warnings through (non-monotone profiles warn, as in lme4)."""

    def __enter__(self) -> None:
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)


def test_names_and_sdcor_round_trip(sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (Days || Subject)", sleepstudy)
    assert variance_parameter_names(m) == ["sd_(Intercept)|Subject", "sd_Days|Subject.1"]
    m2 = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    f = m2.devfun.factor
    layout = [(sl, r, c, b.p) for sl, (r, c), b in zip(f.slices, f.positions, f.cp.blocks)]
    v = sdcor_from_theta(layout, m2.theta, m2.sigma)
    vc = m2.varcorr
    np.testing.assert_allclose(v, [vc.sdcor[0], vc.sdcor[2], vc.sdcor[1]], rtol=1e-12)
    np.testing.assert_allclose(theta_from_sdcor(layout, v, m2.sigma), m2.theta, rtol=1e-10, atol=1e-14)
    assert theta_from_sdcor(layout, np.array([1.0, 1.5, 1.0]), 1.0) is None  # |cor| > 1


def test_select_parameters_positions_and_groups() -> None:
    names = ["sd_a|g", "sigma", "b0", "b1"]
    assert select_parameters(names, 2, None) == names
    assert select_parameters(names, 2, ["beta_", "sigma"]) == ["sigma", "b0", "b1"]
    assert select_parameters(names, 2, -1) == ["b1"]
