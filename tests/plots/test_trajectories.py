import numpy as np
import pytest

import lmmflow as lf


def test_sampled_units_lines_and_points(model, growth):
    ax = lf.plots.trajectories(model, n=6, seed=2)
    assert len(ax.lines) == 7  # six units + population
    assert ax.lines[-1].get_label() == "population (fixed effects)"
    assert sum(len(c.get_offsets()) for c in ax.collections) == 6 * 5
    colours = {tuple(ln.get_color()) for ln in ax.lines[:-1]}
    assert len(colours) == 6
    assert ax.get_xlabel() == "time" and ax.get_ylabel() == "y"


def test_named_units_show_observed_and_fitted(model, growth):
    ax = lf.plots.trajectories(model, units=[3, 17], population=False)
    assert len(ax.lines) == 2
    rows = growth.index[growth["id"] == 17]
    line = ax.lines[1]
    assert line.get_label() == "17"
    np.testing.assert_allclose(line.get_xdata(), growth.loc[rows, "time"])
    np.testing.assert_allclose(line.get_ydata(), model.fitted.loc[rows])
    np.testing.assert_allclose(ax.collections[1].get_offsets()[:, 1], growth.loc[rows, "y"])


def test_population_line_is_fixed_effects(model):
    ax = lf.plots.trajectories(model, n=3, seed=0)
    pop = ax.lines[-1]
    b = model.fixef
    np.testing.assert_allclose(pop.get_ydata(), b["(Intercept)"] + b["time"] * pop.get_xdata())


def test_reproducible_sample(model):
    a = lf.plots.trajectories(model, n=4, seed=9)
    b = lf.plots.trajectories(model, n=4, seed=9)
    assert [ln.get_label() for ln in a.lines] == [ln.get_label() for ln in b.lines]


def test_panels_one_per_unit(model):
    axes = lf.plots.trajectory_panels(model, n=5, seed=1)
    assert len(axes) == 5
    for ax in axes:
        assert len(ax.lines) == 2 and len(ax.collections[0].get_offsets()) == 5
        assert ax.get_title().startswith("id ")


def test_unknown_unit(model):
    with pytest.raises(ValueError, match="999"):
        lf.plots.trajectories(model, units=[999])
