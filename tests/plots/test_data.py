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


# ---- unit-specific times: a smoothed mean, not a zig-zag through single points ----------------------------
def _person_times(seed=3, n_units=60):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_units):
        k = int(rng.integers(4, 9))
        t = np.sort(rng.uniform(0, 10, k))
        y = 50 + rng.normal(0, 8) + (2 + rng.normal(0, 0.8)) * t + rng.normal(0, 4, k)
        rows += [(i, a, b) for a, b in zip(t, y)]
    import pandas as pd

    return pd.DataFrame(rows, columns=["id", "years", "y"])


def test_unit_specific_times_get_a_smooth_mean():
    d = _person_times()
    ax = lf.plots.spaghetti(d, x="years", y="y", unit="id")
    mean_line = ax.lines[-1]
    assert mean_line.get_label() == "mean (smoothed)"
    xs, ys = np.asarray(mean_line.get_xdata()), np.asarray(mean_line.get_ydata())
    assert len(xs) == 100 and np.all(np.diff(xs) > 0)
    # the truth is 50 + 2 t: the smooth stays near it; joining the means per distinct time zig-zags far off it
    assert np.max(np.abs(ys - (50 + 2 * xs))) < 4.0
    raw = d.groupby("years")["y"].mean()
    assert np.mean(np.abs(np.diff(raw.to_numpy()))) > 5 * np.mean(np.abs(np.diff(ys)))
    # no kinks: the smooth's sharpest bend is a small fraction of the zig-zag's average one
    assert np.max(np.abs(np.diff(ys, 2))) < 0.02 * np.mean(np.abs(np.diff(raw.to_numpy(), 2)))
    plt.close("all")


@pytest.mark.parametrize("mean, label", [("points", "mean"), ("smooth", "mean (smoothed)"), (True, "mean")])
def test_mean_modes_on_shared_waves(growth, mean, label):
    ax = lf.plots.spaghetti(growth, x="time", y="y", unit="id", mean=mean)
    assert ax.lines[-1].get_label() == label
    plt.close("all")


def test_mean_mode_checked(growth):
    with pytest.raises(ValueError, match="mean must be"):
        lf.plots.spaghetti(growth, x="time", y="y", unit="id", mean="median")


def test_local_linear_reproduces_lines_and_follows_curves():
    from lmmflow.plots.data import local_linear

    x = np.linspace(0, 6, 400)
    gx, gy = local_linear(x, 1 - 0.5 * x, n_grid=7)
    np.testing.assert_allclose(gy, 1 - 0.5 * gx, atol=1e-9)
    gx, gy = local_linear(x, np.sin(x), frac=0.1)
    assert np.max(np.abs(gy - np.sin(gx))) < 0.02
    with pytest.raises(ValueError, match="frac"):
        local_linear(x, x, frac=0)
    with pytest.raises(ValueError, match="two observations"):
        local_linear([1.0], [2.0])
