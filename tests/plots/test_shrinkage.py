import numpy as np
import pandas as pd
from matplotlib.patches import FancyArrowPatch

import lmmflow as lf


def _arrows(ax):
    return [p for p in ax.patches if isinstance(p, FancyArrowPatch)]


def test_one_arrow_per_unit_from_ols_to_blup(model, growth):
    ax = lf.plots.shrinkage(model)
    arrows = _arrows(ax)
    assert len(arrows) == model.ngroups["id"]
    ols = lf.lm_list("y ~ time", growth, "id")["(Intercept)"]
    blup = model.coef["id"]["(Intercept)"]
    pts = ax.collections[0].get_offsets()
    np.testing.assert_allclose(pts[:, 0], ols.loc[blup.index].to_numpy())
    np.testing.assert_allclose(pts[:, 1], blup.to_numpy())
    start, end = arrows[0]._posA_posB
    assert np.allclose(start, (pts[0, 0], pts[0, 0])) and np.allclose(end, pts[0])
    fixed = [ln for ln in ax.lines if ln.get_label().startswith("fixed effect")]
    assert fixed and np.allclose(fixed[0].get_ydata(), model.fixef["(Intercept)"])
    assert "OLS" in ax.get_xlabel() and "partial pooling" in ax.get_ylabel()


def test_slopes_shrink_toward_fixed_effect(model):
    ax = lf.plots.shrinkage(model, unit="id", term="time")
    pts = ax.collections[0].get_offsets()
    g = model.fixef["time"]
    # partial pooling pulls estimates toward the fixed effect: smaller spread, most units closer to it
    assert np.std(pts[:, 1]) < np.std(pts[:, 0])
    assert np.mean(np.abs(pts[:, 1] - g) < np.abs(pts[:, 0] - g)) > 0.8


def test_units_without_ols_fit_are_skipped(make_growth):
    df = make_growth(n_units=20)
    df = df[~((df["id"] == 3) & (df["time"] > 0))]  # unit 3 keeps one point: no OLS slope
    m = lf.lmer("y ~ time + (1 + time | id)", df)
    ax = lf.plots.shrinkage(m, term="time")
    assert len(_arrows(ax)) == 19
    assert "19 of 20" in ax.get_title()


def test_max_units_samples(model):
    ax = lf.plots.shrinkage(model, max_units=10, seed=1)
    assert len(_arrows(ax)) == 10
    assert len(ax.collections[0].get_offsets()) == 10


def test_panels_for_intercept_and_slope(model):
    axes = lf.plots.shrinkage_panels(model)
    assert len(axes) == 2
    assert all(len(_arrows(a)) == model.ngroups["id"] for a in axes)
    assert "(Intercept)" in axes[0].get_title() and "time" in axes[1].get_title()


def test_shrinkage_frame_with_split_terms(make_growth):
    df = make_growth(n_units=25)
    m = lf.lmer("y ~ time + (1 | id) + (0 + time | id)", df)
    frame = lf.plots.shrinkage_frame(m)
    ols = lf.lm_list("y ~ time", df, "id")
    pd.testing.assert_series_equal(frame["ols_time"], ols["time"].reindex(frame.index), check_names=False)


def test_sd_label_compares_the_two_spreads(model, growth):
    ax = lf.plots.shrinkage(model, term="time")
    label = [t.get_text() for t in ax.texts if t.get_text().startswith("SD across units")]
    assert len(label) == 1
    ols_txt, blup_txt = label[0].split("OLS ")[1].split(", BLUP ")
    assert len(ols_txt.split(".")[1]) == len(blup_txt.split(".")[1])  # same number of decimals
    ols = lf.lm_list("y ~ time", growth, "id")["time"].std(ddof=1)
    blup = model.coef["id"]["time"].std(ddof=1)
    step = 10.0 ** -len(ols_txt.split(".")[1])
    assert abs(float(ols_txt) - ols) <= step / 2 + 1e-12 and abs(float(blup_txt) - blup) <= step / 2 + 1e-12
    assert float(blup_txt) < float(ols_txt)
