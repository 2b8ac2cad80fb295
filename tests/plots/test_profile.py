import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.plots.profile import zeta_crossings


def _frame():
    v = np.linspace(-3, 3, 13)
    return pd.DataFrame({"parameter": ["sd_(Intercept)|id"] * 13 + ["sigma"] * 13 + ["time"] * 13,
                         "value": np.r_[v + 10, v / 3 + 5, v / 10 + 2],
                         "zeta": np.r_[v, np.sign(v) * v ** 2 / 3, v]})


class _Profile:
    def zeta_frame(self):
        return _frame()


def test_one_panel_per_parameter_with_reference_lines():
    axes = lf.plots.profile_zeta(_Profile())
    assert [a.get_title() for a in axes] == ["sd_(Intercept)|id", "sigma", "time"]
    for a in axes:
        flat = {round(float(ln.get_ydata()[0]), 2) for ln in a.lines if np.ptp(ln.get_ydata()) == 0}
        assert {-1.96, 1.96} <= flat
        assert len(a.lines[0].get_xdata()) == 13
    assert axes[0].get_ylabel() == "ζ"


def test_interval_ends_marked():
    axes = lf.plots.profile_zeta(_frame())
    vertical = [ln for ln in axes[0].lines if np.ptp(ln.get_xdata()) == 0 and len(ln.get_xdata()) == 2]
    ends = sorted(float(ln.get_xdata()[0]) for ln in vertical)
    np.testing.assert_allclose(ends, [10 - 1.959964, 10 + 1.959964], atol=1e-5)


def test_crossings_missing_end_is_nan():
    lo, hi = zeta_crossings(np.array([0.0, 1.0, 2.0]), np.array([-1.0, 0.0, 3.0]), 1.96)
    assert np.isnan(lo) and hi == pytest.approx(1 + 1.96 / 3)


def test_bad_input():
    with pytest.raises(ValueError, match="zeta"):
        lf.plots.profile_zeta(pd.DataFrame({"parameter": ["a"], "value": [1.0]}))
    with pytest.raises(TypeError):
        lf.plots.profile_zeta([1, 2, 3])


def test_with_real_profile(model):
    try:
        prof = lf.profile(model)
    except (AttributeError, ImportError, NotImplementedError):
        pytest.skip("lf.profile not available yet")
    frame = prof.zeta_frame()
    axes = lf.plots.profile_zeta(prof)
    assert len(axes) == frame["parameter"].nunique()
