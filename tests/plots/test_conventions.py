"""Every plot function: returns Axes, draws into given Axes, leaves global state alone."""

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import lmmflow as lf


def _calls(growth, model):
    zeta = pd.DataFrame({"parameter": ["a"] * 3, "value": [0.0, 1.0, 2.0], "zeta": [-2.5, 0.0, 2.5]})
    return {
        "spaghetti": lambda ax: lf.plots.spaghetti(growth, "time", "y", "id", ax=ax),
        "residuals_vs_fitted": lambda ax: lf.plots.residuals_vs_fitted(model, ax=ax),
        "qq_residuals": lambda ax: lf.plots.qq_residuals(model, ax=ax),
        "caterpillar": lambda ax: lf.plots.caterpillar(model, ax=ax),
        "shrinkage": lambda ax: lf.plots.shrinkage(model, ax=ax),
        "trajectories": lambda ax: lf.plots.trajectories(model, ax=ax, seed=1),
        "prediction_curve": lambda ax: lf.plots.prediction_curve(model, "time", ax=ax),
        "variance_over_time": lambda ax: lf.plots.variance_over_time(model, ax=ax),
        "icc_over_time": lambda ax: lf.plots.icc_over_time(model, ax=ax),
        "qq_ranef": lambda ax: lf.plots.qq_ranef(model, axes=None if ax is None else [ax, ax]),
        "caterpillar_panels": lambda ax: lf.plots.caterpillar_panels(model, axes=None if ax is None else [ax, ax]),
        "shrinkage_panels": lambda ax: lf.plots.shrinkage_panels(model, axes=None if ax is None else [ax, ax]),
        "trajectory_panels": lambda ax: lf.plots.trajectory_panels(model, n=2, axes=None if ax is None else [ax, ax]),
        "profile_zeta": lambda ax: lf.plots.profile_zeta(zeta, axes=None if ax is None else [ax]),
    }


NAMES = ["spaghetti", "residuals_vs_fitted", "qq_residuals", "caterpillar", "shrinkage", "trajectories",
         "prediction_curve", "variance_over_time", "icc_over_time", "qq_ranef", "caterpillar_panels",
         "shrinkage_panels", "trajectory_panels", "profile_zeta"]


def test_every_public_plot_is_covered():
    assert set(NAMES) <= set(lf.plots.__all__)


@pytest.mark.parametrize("name", NAMES)
def test_new_figure_given_axes_and_no_global_changes(name, growth, model, monkeypatch):
    def no_show(*args, **kwargs):
        raise AssertionError("plot functions must not call plt.show()")

    monkeypatch.setattr(plt, "show", no_show)
    before = dict(mpl.rcParams)
    call = _calls(growth, model)[name]
    out = call(None)
    first = np.ravel(np.asarray(out, dtype=object))[0]
    assert isinstance(first, mpl.axes.Axes)
    fig, ax = plt.subplots()
    again = call(ax)
    assert np.ravel(np.asarray(again, dtype=object))[0] is ax
    fig.canvas.draw()  # renders without error
    assert dict(mpl.rcParams) == before


def test_panel_functions_return_arrays(model):
    out = lf.plots.caterpillar_panels(model)
    assert isinstance(out, np.ndarray) and out.shape == (2,)


def test_too_few_axes(model):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="needs 2 Axes"):
        lf.plots.qq_ranef(model, axes=[ax])
