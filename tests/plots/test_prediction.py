import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from scipy import stats

import lmmflow as lf
from lmmflow.plots.prediction import population_band, prediction_grid


def _band(ax):
    polys = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(polys) == 1
    verts = polys[0].get_paths()[0].vertices
    return verts


def test_curve_with_band(model):
    ax = lf.plots.prediction_curve(model, "time")
    line = [ln for ln in ax.lines if ln.get_label() == "fixed-effects prediction"][0]
    x = line.get_xdata()
    assert len(x) == 100 and x.min() == 0 and x.max() == 4
    b = model.fixef
    np.testing.assert_allclose(line.get_ydata(), b["(Intercept)"] + b["time"] * x)
    verts = _band(ax)
    assert verts[:, 1].min() < line.get_ydata().min() and verts[:, 1].max() > line.get_ydata().max()
    assert ax.get_xlabel() == "time" and ax.get_ylabel() == "y"
    assert any(len(c.get_offsets()) == model.nobs for c in ax.collections)  # observed points


def test_band_is_wald_for_the_mean(model):
    grid = pd.DataFrame({"time": [0.0, 2.0, 4.0]})
    band = population_band(model, grid, level=0.9)
    X = np.column_stack([np.ones(3), grid["time"]])
    se = np.sqrt(np.einsum("ij,jk,ik->i", X, model.vcov.to_numpy(), X))
    half = (band["upper"] - band["lower"]).to_numpy() / 2
    np.testing.assert_allclose(band["fit"], X @ model.fixef.to_numpy())
    # a normal or t quantile: between the normal one and a generous t with 5 df
    assert np.all(half >= stats.norm.ppf(0.95) * se * (1 - 1e-9))
    assert np.all(half <= stats.t.ppf(0.95, 5) * se)


def test_newdata_and_no_points(model):
    nd = pd.DataFrame({"time": [4.0, 0.0, 2.0]})
    ax = lf.plots.prediction_curve(model, "time", newdata=nd, data=False)
    line = ax.lines[0]
    np.testing.assert_allclose(line.get_xdata(), [0.0, 2.0, 4.0])
    assert len(ax.collections) == 1


def test_grid_holds_other_columns_at_typical_values(make_growth):
    df = make_growth(n_units=30)
    df["arm"] = np.where(df["id"] % 2 == 0, "treat", "control")
    df["age"] = 20.0 + df["id"] % 7
    m = lf.lmer("y ~ time * arm + age + (1 + time | id)", df)
    grid = prediction_grid(m, "time", n_points=5)
    assert (grid["arm"] == "control").all()
    np.testing.assert_allclose(grid["age"], df["age"].mean())
    ax = lf.plots.prediction_curve(m, "time")
    assert len(ax.lines[0].get_xdata()) == 100


def test_uses_predict_interval_when_available(model):
    grid = pd.DataFrame({"time": [0.0, 4.0]})
    try:
        ref = model.predict(grid, re_form="~0", interval="confidence", level=0.95)
    except (ImportError, NotImplementedError):
        pytest.skip("m.predict(interval='confidence') not available yet")
    band = population_band(model, grid)
    np.testing.assert_allclose(band["lower"], np.asarray(ref["lower"]))
    np.testing.assert_allclose(band["upper"], np.asarray(ref["upper"]))


def test_non_numeric_x_rejected(growth):
    df = growth.assign(unit="u" + growth["id"].astype(str))
    m = lf.lmer("y ~ time + (1 | unit)", df)
    with pytest.raises(ValueError, match="numeric"):
        lf.plots.prediction_curve(m, "unit")
