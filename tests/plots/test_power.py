"""lf.plots.power_curve: power against units with binomial intervals and the target line."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

import lmmflow as lf


@pytest.fixture(scope="module")
def curve():
    df = lf.simulate_growth(n_units=20, seed=3)[["id", "time"]]
    return lf.power(formula="y ~ time + (1 | id)", data=df, nsim=20, seed=1, progress=False,
                    params={"beta": [0.0, 0.4], "theta": [1.0], "sigma": 2.0}, along="n_units", values=[5, 10, 30])


def test_power_curve_draws_points_bars_and_target(curve):
    ax = lf.plots.power_curve(curve)
    line = ax.lines[0]
    np.testing.assert_array_equal(line.get_xdata(), [5, 10, 30])
    np.testing.assert_allclose(line.get_ydata(), curve.to_frame()["power"])
    target = [ln for ln in ax.lines if ln.get_label() == "target"]
    assert len(target) == 1 and target[0].get_ydata()[0] == 0.8
    assert ax.get_xlabel() == "number of levels of id" and ax.get_ylabel() == "power"
    assert ax.get_title() == "Power for 'time' (95% CI, 20 simulations each)"
    assert len(ax.collections) == 1  # the error bars


def test_power_curve_given_axes_one_design_no_target(curve):
    df = lf.simulate_growth(n_units=10, seed=3)[["id", "time"]]
    one = lf.power(formula="y ~ time + (1 | id)", data=df, nsim=10, seed=1, progress=False,
                   params={"beta": [0.0, 0.4], "theta": [1.0], "sigma": 2.0})
    fig, ax = plt.subplots()
    assert lf.plots.power_curve(one, ax=ax, target=None) is ax
    assert ax.lines[0].get_xdata().tolist() == [10]
    assert not [ln for ln in ax.lines if ln.get_label() == "target"]
    fig.canvas.draw()
