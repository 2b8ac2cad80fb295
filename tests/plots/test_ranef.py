import numpy as np
import pytest
from scipy import stats

import lmmflow as lf


def _segments(ax):
    # the error bars: one horizontal segment per unit
    segs = ax.collections[0].get_segments()
    return np.array([[s[0][0], s[1][0], s[0][1]] for s in segs])


def test_caterpillar_sorted_with_condsd_intervals(model):
    ax = lf.plots.caterpillar(model, term="time")
    x = ax.lines[0].get_xdata()
    y = ax.lines[0].get_ydata()
    assert len(x) == model.ngroups["id"]
    assert np.all(np.diff(x) >= 0)
    np.testing.assert_array_equal(y, np.arange(len(x)))
    re, sd = model.ranef["id"]["time"], model.ranef_sd["id"]["time"]
    order = np.argsort(re.to_numpy(), kind="stable")
    np.testing.assert_allclose(x, re.to_numpy()[order])
    seg = _segments(ax)
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(seg[:, 1] - seg[:, 0], 2 * z * sd.to_numpy()[order])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [str(v) for v in re.index[order]]
    assert "time" in ax.get_title() and "id" in ax.get_ylabel()


def test_caterpillar_add_fixed_centres_on_fixed_effect(model):
    ax = lf.plots.caterpillar(model, add_fixed=True, sort=False, level=0.5)
    np.testing.assert_allclose(ax.lines[0].get_xdata(), model.coef["id"]["(Intercept)"].to_numpy())
    ref = [ln for ln in ax.lines if ln.get_label() == "fixed effect"]
    assert ref and np.allclose(ref[0].get_xdata(), model.fixef["(Intercept)"])
    seg = _segments(ax)
    np.testing.assert_allclose(seg[:, 1] - seg[:, 0],
                               2 * stats.norm.ppf(0.75) * model.ranef_sd["id"]["(Intercept)"].to_numpy())


def test_caterpillar_panels_share_one_order(model):
    axes = lf.plots.caterpillar_panels(model)
    assert len(axes) == 2
    order = np.argsort(model.ranef["id"]["(Intercept)"].to_numpy(), kind="stable")
    np.testing.assert_allclose(axes[1].lines[0].get_xdata(), model.ranef["id"]["time"].to_numpy()[order])
    assert np.all(np.diff(axes[0].lines[0].get_xdata()) >= 0)


def test_caterpillar_many_units_hides_labels(make_growth):
    m = lf.lmer("y ~ time + (1 | id)", make_growth(n_units=60))
    ax = lf.plots.caterpillar(m)
    assert len(ax.get_yticks()) == 0
    assert len(ax.lines[0].get_xdata()) == 60


def test_caterpillar_unknown_term(model):
    with pytest.raises(ValueError, match="age"):
        lf.plots.caterpillar(model, term="age")
    with pytest.raises(ValueError, match="school"):
        lf.plots.caterpillar(model, group="school")
