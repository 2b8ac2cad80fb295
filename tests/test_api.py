"""lmer's front door: lme4's predictor-scale check and one public warning class per kind, filterable alone."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf

# Whether lme4 1.1-31 warns "Some predictor variables are on very different scales: consider rescaling"
# for Reaction ~ <fixed> + (1 | Subject) on sleepstudy (f = factor(Days %% 2)); made in R with
#   lmer(as.formula(paste("Reaction ~", e, "+ (1|Subject)")), d)   and a calling handler collecting warnings
SCALE_CASES = [
    ("Days", False),
    ("I(Days * 1e6)", True),
    ("I(Days * 400)", True),  # one SD beyond 1e3
    ("I(Days * 1e-4)", True),  # one SD below 1e-3
    ("I(Days / 100)", False),
    ("Days + I(Days * Days * 50)", True),
    ("Days + f", False),  # 0/1 columns are left out, as lme4
    ("I(Days * 300) + I(Days * Days / 3)", False),  # ratio of SDs 97
]


@pytest.mark.parametrize("fixed, warns", SCALE_CASES)
def test_predictor_scale_check_as_lme4(sleepstudy: pd.DataFrame, fixed: str, warns: bool) -> None:
    d = sleepstudy.assign(f=(sleepstudy["Days"] % 2).astype(str))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lf.lmer(f"Reaction ~ {fixed} + (1 | Subject)", d)
    msgs = [w for w in caught if "very different scales" in str(w.message)]
    assert bool(msgs) == warns
    assert all(issubclass(w.category, lf.ConvergenceWarning) for w in msgs)
    if warns:
        assert str(msgs[0].message) == "Some predictor variables are on very different scales: consider rescaling"


def _singular(d: pd.DataFrame) -> tuple[str, pd.DataFrame, dict]:
    rng = np.random.default_rng(0)
    e = pd.Series(rng.normal(size=len(d)))
    return "Reaction ~ Days + (1 | Subject)", d.assign(
        Reaction=(e - e.groupby(d["Subject"]).transform("mean")).to_numpy()), {}


def _rank(d: pd.DataFrame) -> tuple[str, pd.DataFrame, dict]:
    return "Reaction ~ Days + Days2 + (1 | Subject)", d.assign(Days2=2.0 * d["Days"]), {}


def _dropped(d: pd.DataFrame) -> tuple[str, pd.DataFrame, dict]:
    return "Reaction ~ Days + (1 | Subject)", d.assign(Reaction=d["Reaction"].where(d.index != 3)), {}


def _convergence(d: pd.DataFrame) -> tuple[str, pd.DataFrame, dict]:
    return "Reaction ~ Days + (Days | Subject)", d, {"control": lf.LmerControl(optimizer="bobyqa", maxeval=5)}


def _scale(d: pd.DataFrame) -> tuple[str, pd.DataFrame, dict]:
    return "Reaction ~ I(Days * 1e6) + (1 | Subject)", d, {}


@pytest.mark.parametrize("make, cls", [
    (_singular, lf.SingularFitWarning),
    (_rank, lf.RankDeficiencyWarning),
    (_dropped, lf.DroppedRowsWarning),
    (_convergence, lf.ConvergenceWarning),
    (_scale, lf.ConvergenceWarning),
])
def test_each_warning_kind_has_its_class_and_filters_alone(sleepstudy: pd.DataFrame, make, cls: type) -> None:
    formula, d, kw = make(sleepstudy.copy())
    with pytest.warns(cls):
        lf.lmer(formula, d, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any other warning would fail the fit here
        warnings.simplefilter("ignore", cls)
        m = lf.lmer(formula, d, **kw)
    assert np.isfinite(m.objective)
    others = [c for c in (lf.SingularFitWarning, lf.RankDeficiencyWarning, lf.DroppedRowsWarning,
                          lf.ConvergenceWarning) if c is not cls]
    assert all(not issubclass(cls, o) for o in others) and issubclass(cls, lf.LmmflowWarning)
