import numpy as np
import pytest
from matplotlib.collections import PolyCollection

import lmmflow as lf


def _tau(model):
    vc = model.varcorr
    t00 = vc.loc[(vc.var1 == "(Intercept)") & vc.var2.isna(), "vcov"].item()
    t11 = vc.loc[(vc.var1 == "time") & vc.var2.isna(), "vcov"].item()
    t01 = vc.loc[vc.var2.notna(), "vcov"].item()
    return t00, t01, t11


def test_variance_stack(model):
    ax = lf.plots.variance_over_time(model, times=np.linspace(0, 4, 9))
    polys = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(polys) == 2
    total = ax.lines[0]
    t = total.get_xdata()
    t00, t01, t11 = _tau(model)
    np.testing.assert_allclose(total.get_ydata(), t00 + 2 * t * t01 + t ** 2 * t11 + model.sigma ** 2)
    # the residual layer has constant thickness sigma^2
    top = polys[1].get_paths()[0].vertices
    assert top[:, 1].max() == pytest.approx(total.get_ydata().max())
    assert ax.get_xlabel() == "time" and "Variance" in ax.get_ylabel()


def test_icc_curve(model):
    ax = lf.plots.icc_over_time(model)
    line = ax.lines[0]
    t = line.get_xdata()
    t00, t01, t11 = _tau(model)
    between = t00 + 2 * t * t01 + t ** 2 * t11
    np.testing.assert_allclose(line.get_ydata(), between / (between + model.sigma ** 2))
    assert len(ax.collections[0].get_offsets()) == 5  # the observed waves
    assert tuple(ax.get_ylim()) == (0.0, 1.0)


def test_needs_random_slope(model_ri):
    with pytest.raises(ValueError, match="slope"):
        lf.plots.variance_over_time(model_ri)
