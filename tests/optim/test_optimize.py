"""The optimizer's record and its convergence warnings, as lme4's (lf.ConvergenceWarning)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf

F = "Reaction ~ Days + (Days | Subject)"


@pytest.mark.filterwarnings("ignore:maxeval=4 < 10")
@pytest.mark.parametrize("optimizer", ["bobyqa", "nelder-mead", "cobyqa", "lbfgsb"])
def test_evaluation_limit_warns_as_lme4(sleepstudy: pd.DataFrame, optimizer: str) -> None:
    """lme4: "convergence code ... maxeval/maxfun reached" / "failure to converge in N evaluations"."""
    with pytest.warns(lf.ConvergenceWarning, match="failure to converge in 4 evaluations"):
        m = lf.lmer(F, sleepstudy, control=lf.LmerControl(optimizer=optimizer, maxeval=4, polish=False))
    assert not m.optinfo.converged
    assert m.optinfo.returnvalue == "MAXEVAL_REACHED"


def test_small_limit_is_not_recommended_as_lme4_bobyqa(sleepstudy: pd.DataFrame) -> None:
    """lme4's bobyqa: "maxfun < 10 * length(par)^2 is not recommended" (3 parameters: 90)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lf.lmer(F, sleepstudy, control=lf.LmerControl(optimizer="bobyqa", maxeval=60))
    msgs = [str(w.message) for w in caught if issubclass(w.category, lf.ConvergenceWarning)]
    assert any("maxeval=60 < 10 * length(theta)^2 = 90 is not recommended" in m for m in msgs)


def test_no_convergence_warning_on_a_good_fit(sleepstudy: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", lf.LmmflowWarning)
        m = lf.lmer(F, sleepstudy)
    assert m.optinfo.converged and m.optinfo.alerts == ()


def test_optimize_theta_records_alerts_without_warning_when_asked(sleepstudy: pd.DataFrame) -> None:
    f = lf.make_deviance(F, sleepstudy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = lf.optimize_theta(f, f.theta0, f.lower, control=lf.LmerControl(optimizer="bobyqa", maxeval=5),
                                warn=False)
    assert len(opt.alerts) == 2 and "failure to converge in 5" in opt.alerts[1]
    with pytest.warns(lf.ConvergenceWarning) as caught:
        lf.optimize_theta(f, f.theta0, f.lower, control=lf.LmerControl(optimizer="bobyqa", maxeval=5))
    assert [str(w.message) for w in caught] == list(opt.alerts)


def test_convergence_warnings_can_be_filtered_alone(sleepstudy: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", lf.ConvergenceWarning)
        m = lf.lmer(F, sleepstudy, control=lf.LmerControl(optimizer="bobyqa", maxeval=5))
    assert np.isfinite(m.objective)
