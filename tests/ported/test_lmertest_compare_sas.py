"""Ported from lmerTest's tests/test_compare_sas.R (runehaubo/lmerTestR 35dc588): lmerTest's agreement with SAS
PROC MIXED. Type III tables do not depend on the contrasts, so lmerTest's contr.SAS fit is compared with lmmflow's
treatment-coded one; the coefficient p-values (which do depend on them) and the type II table are pending."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lmmflow as lf

from ._data import all_equal, load

TOL, TOL2 = 1e-4, 1e-5


def test_carrots_three_way_anova_as_sas():
    """test_compare_sas.R:15-29: Preference ~ sens2*Frequency*Income + (1+sens2|Consumer): type III p-values
    (2e-5, 0.15512, 0.06939, 0.08223, 0.52459, 0.03119, 0.48344) (1e-4) and DenDF 83 throughout."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.SingularFitWarning)
        with pytest.warns(lf.RankDeficiencyWarning):  # empty Frequency x Income cells, as lme4 drops them
            with pytest.warns(lf.DroppedRowsWarning, match="75 row"):  # NA Income, as R's na.omit
                m = lf.lmer("Preference ~ sens2*Frequency*Income +(1+sens2|Consumer)", load("carrots"))
    an = lf.anova(m)
    assert all_equal([2e-5, 0.15512, 0.06939, 0.08223, 0.52459, 0.03119, 0.48344], an["p_value"], tolerance=TOL)
    assert np.round(an["den_df"]).tolist() == [83] * 7


def test_carrots_no_intercept_f_values():
    """test_compare_sas.R:76-91: Preference ~ 0 + sens2 + Homesize + (1+sens2 | Consumer): F values type I
    (56.5394, 4169.87) and type III (54.8206, 4169.87), tolerance 1e-5."""
    with pytest.warns(lf.DroppedRowsWarning, match="3 row"):
        m = lf.lmer("Preference ~ 0 + sens2 + Homesize + (1+sens2 | Consumer)", load("carrots"))
    assert all_equal([56.5394, 4169.87], lf.anova(m, type=1)["f_value"], tolerance=TOL2)
    assert all_equal([54.8206, 4169.87], lf.anova(m, type=3)["f_value"], tolerance=TOL2)
