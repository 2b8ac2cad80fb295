import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.lines import Line2D

import lmmflow as lf


def test_one_line_per_unit_plus_mean(growth):
    ax = lf.plots.spaghetti(growth, x="time", y="y", unit="id")
    lines = [a for a in ax.get_children() if isinstance(a, Line2D)]
    assert len(lines) == growth["id"].nunique() + 1
    mean_line = ax.lines[-1]
    assert mean_line.get_label() == "mean"
    expected = growth.groupby("time")["y"].mean()
    np.testing.assert_allclose(mean_line.get_xdata(), expected.index)
    np.testing.assert_allclose(mean_line.get_ydata(), expected.to_numpy())
    assert mean_line.get_linewidth() > ax.lines[0].get_linewidth()
    assert ax.get_xlabel() == "time" and ax.get_ylabel() == "y"
    assert "N = 40" in ax.get_title()


def test_unit_lines_follow_each_unit_in_time_order(growth):
    shuffled = growth.sample(frac=1.0, random_state=3)
    ax = lf.plots.spaghetti(shuffled, x="time", y="y", unit="id", mean=False)
    assert len(ax.lines) == 40
    first = ax.lines[0]
    unit1 = growth[growth["id"] == 1].sort_values("time")
    np.testing.assert_allclose(first.get_xdata(), unit1["time"])
    np.testing.assert_allclose(first.get_ydata(), unit1["y"])
    assert first.get_alpha() < 0.5  # many lines are drawn transparent


def test_sample_draws_fewer_units_reproducibly(growth):
    ax1 = lf.plots.spaghetti(growth, "time", "y", "id", sample=7, seed=5)
    ax2 = lf.plots.spaghetti(growth, "time", "y", "id", sample=7, seed=5)
    assert len(ax1.lines) == 8
    assert "7 of 40" in ax1.get_title()
    for a, b in zip(ax1.lines, ax2.lines):
        np.testing.assert_array_equal(a.get_ydata(), b.get_ydata())


def test_draws_into_given_axes_and_handles_missing_values(make_growth):
    df = make_growth(n_units=5)
    df.loc[3, "y"] = np.nan
    fig, ax = plt.subplots()
    out = lf.plots.spaghetti(df, "time", "y", "id", ax=ax)
    assert out is ax
    assert len(ax.lines) == 6
    assert len(ax.lines[0].get_xdata()) == 4  # unit 1 lost its missing row


def test_missing_column_is_named(growth):
    with pytest.raises(ValueError, match="wave"):
        lf.plots.spaghetti(growth, "wave", "y", "id")
