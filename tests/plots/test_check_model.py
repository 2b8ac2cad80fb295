"""performance::check_model's panels: content, titles, ax= in and Axes out, the figure of all of them."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import stats

import lmmflow as lf
from lmmflow.plots.check_model import density, smoother

PANELS = {
    "check_ppc": ("Posterior Predictive Check", "Model-predicted lines should resemble observed data line"),
    "check_linearity": ("Linearity", "Reference line should be flat and horizontal"),
    "check_homogeneity": ("Homogeneity of Variance", "Reference line should be flat and horizontal"),
    "check_influence": ("Influential Observations", "Points should be inside the contour lines"),
    "check_normality": ("Normality of Residuals", "Dots should fall along the line"),
    "check_ranef_normality": ("Normality of Random Effects (id)", "dots should be plotted along the line"),
}


def _subtitle(ax):
    return " ".join(t.get_text() for t in ax.texts)


@pytest.mark.parametrize("name", sorted(PANELS))
def test_panel_draws_into_given_axes_with_performance_titles(name, model):
    fig, ax = plt.subplots()
    out = getattr(lf.plots, name)(model, ax=ax)
    assert out is ax
    title, subtitle = PANELS[name]
    assert ax.get_title(loc="left") == title
    assert subtitle in _subtitle(ax)
    plt.close(fig)


@pytest.mark.parametrize("name", sorted(PANELS))
def test_panel_makes_its_own_figure(name, model):
    ax = getattr(lf.plots, name)(model)
    assert ax.figure is not None and ax.get_title(loc="left") == PANELS[name][0]


def test_ppc_lines_are_densities(model):
    ax = lf.plots.check_ppc(model, nsim=7, seed=3)
    lines = ax.get_lines()
    assert len(lines) == 8 and lines[-1].get_label() == "Observed data"
    for ln in lines:
        x, y = ln.get_xdata(), ln.get_ydata()
        assert np.sum(y) * (x[1] - x[0]) == pytest.approx(1.0, abs=0.02)
    assert ax.get_xlabel() == "y"


def test_linearity_points_are_residuals(model):
    ax = lf.plots.check_linearity(model)
    pts = ax.collections[0].get_offsets()
    np.testing.assert_allclose(pts[:, 0], model.fitted.to_numpy())
    np.testing.assert_allclose(pts[:, 1], model.residuals.to_numpy())


def test_influence_points_and_cooks_contour(model):
    ax = lf.plots.check_influence(model)
    h = lf.hatvalues(model).to_numpy()
    pts = np.vstack([c.get_offsets() for c in ax.collections])
    assert len(pts) == model.nobs
    np.testing.assert_allclose(np.sort(pts[:, 0]), np.sort(h))
    # every point beyond the contour has Cook's distance (lme4's) above the threshold
    cut = stats.f.ppf(0.5, 2, model.nobs - 2)
    r, hh = pts[:, 1], pts[:, 0]
    d = r * r * hh / (2 * (1 - hh))
    cooks = np.sort(lf.cooks_distance(model).to_numpy())
    np.testing.assert_allclose(np.sort(d), cooks, rtol=1e-8)
    contour = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(contour) == 2
    x, y = contour[0].get_xdata(), contour[0].get_ydata()
    np.testing.assert_allclose(y ** 2 * x / (2 * (1 - x)), cut, rtol=1e-8)


def test_influence_groups_panel(model):
    ax = lf.plots.check_influence(model, groups="id", progress=False)
    assert ax.get_title(loc="left") == "Influential Groups"
    d = lf.cooks_distance(model, groups="id", progress=False)
    shown = sorted(float(v) for v in ax.collections[-1].get_offsets()[:, 0])  # the dots (after the stems)
    np.testing.assert_allclose(shown, np.sort(d.to_numpy())[-len(shown):])
    assert len(shown) == min(30, len(d))


def test_ranef_normality_choices_and_errors(model):
    ax = lf.plots.check_ranef_normality(model, effect="time")
    assert "time" in ax.get_ylabel()
    with pytest.raises(ValueError, match="not a grouping factor"):
        lf.plots.check_ranef_normality(model, group="nope")
    with pytest.raises(ValueError, match="not a random effect"):
        lf.plots.check_ranef_normality(model, effect="nope")


def test_check_model_figure(model):
    fig = lf.plots.check_model(model)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.get_title(loc="left") for ax in visible]
    assert titles[:5] == [t for t, _ in PANELS.values()][:5]
    assert len(visible) == 5 + sum(f.shape[1] for f in model.ranef.values())
    fig = lf.plots.check_model(model, groups="id", progress=False)
    assert fig.axes[3].get_title(loc="left") == "Influential Groups"


def test_density_matches_scipy_gaussian_kde():
    v = np.random.default_rng(5).normal(size=400)
    g = np.linspace(-5, 5, 1001)
    bw = 0.9 * min(v.std(ddof=1), (np.quantile(v, 0.75) - np.quantile(v, 0.25)) / 1.34) * 400 ** -0.2
    kde = stats.gaussian_kde(v, bw_method=bw / v.std(ddof=1))
    np.testing.assert_allclose(density(v, g), kde(g), atol=2e-3)


def test_smoother_follows_a_curve():
    x = np.linspace(0, 3, 400)
    gx, gy = smoother(x, np.sin(x))
    assert np.max(np.abs(gy - np.sin(gx))) < 0.05


def test_ranef_panel_of_a_zero_variance_says_so():
    rng = np.random.default_rng(1)
    d = lf.load_dataset("sleepstudy")
    d["noise"] = rng.normal(size=len(d))
    d["g"] = np.repeat(np.arange(30), 6).astype(str)
    m = lf.lmer("noise ~ 1 + (1 | g)", d, quiet=True)
    assert m.is_singular
    ax = lf.plots.check_ranef_normality(m)
    assert "variance estimated as zero" in " ".join(t.get_text() for t in ax.texts)
    assert not ax.lines  # no line or band through constant values
