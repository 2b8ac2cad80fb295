import numpy as np
from scipy import stats

import lmmflow as lf
from lmmflow.plots.residuals import binned_means, normal_scores


def test_residuals_vs_fitted_content(model):
    ax = lf.plots.residuals_vs_fitted(model)
    pts = ax.collections[0].get_offsets()
    assert len(pts) == model.nobs
    np.testing.assert_allclose(pts[:, 0], model.fitted.to_numpy())
    np.testing.assert_allclose(pts[:, 1], model.resid("pearson").to_numpy())
    zero = [ln for ln in ax.lines if np.allclose(ln.get_ydata(), 0.0)]
    assert zero, "zero line missing"
    smooth = [ln for ln in ax.lines if ln.get_label() == "binned mean"]
    assert len(smooth) == 1 and len(smooth[0].get_xdata()) >= 5
    assert ax.get_xlabel() == "Fitted values" and ax.get_ylabel() == "Pearson residuals"


def test_residuals_vs_fitted_response_no_smoother(model):
    ax = lf.plots.residuals_vs_fitted(model, type="response", smoother=False)
    assert not [ln for ln in ax.lines if ln.get_label() == "binned mean"]
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1], model.residuals.to_numpy())


def test_binned_means_are_bin_averages():
    x = np.arange(10.0)
    bx, by = binned_means(x, 2 * x, bins=2)
    np.testing.assert_allclose(bx, [2.0, 7.0])
    np.testing.assert_allclose(by, [4.0, 14.0])


def test_normal_scores_match_r_ppoints():
    # R: qnorm(ppoints(5)) and qnorm(ppoints(20))
    np.testing.assert_allclose(normal_scores(5), stats.norm.ppf((np.arange(1, 6) - 0.375) / 5.25))
    np.testing.assert_allclose(normal_scores(20), stats.norm.ppf((np.arange(1, 21) - 0.5) / 20))


def test_qq_residuals_points_and_line(model):
    ax = lf.plots.qq_residuals(model)
    pts = ax.collections[0].get_offsets()
    assert len(pts) == model.nobs
    np.testing.assert_allclose(pts[:, 1], np.sort(model.resid("pearson").to_numpy()))
    np.testing.assert_allclose(pts[:, 0], normal_scores(model.nobs))
    assert any(ln.get_label() == "line through quartiles" for ln in ax.lines)
    assert ax.get_xlabel() == "Theoretical normal quantiles"


def test_qq_ranef_one_panel_per_term(model):
    axes = lf.plots.qq_ranef(model)
    assert len(axes) == 2
    assert [a.get_title() for a in axes] == ["(Intercept) | id", "time | id"]
    for a, name in zip(axes, ["(Intercept)", "time"]):
        pts = a.collections[0].get_offsets()
        assert len(pts) == model.ngroups["id"]
        np.testing.assert_allclose(pts[:, 1], np.sort(model.ranef["id"][name].to_numpy()))


def test_qq_ranef_into_given_axes(model_ri):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3)
    out = lf.plots.qq_ranef(model_ri, group="id", axes=axes)
    assert len(out) == 1 and out[0] is axes[0]
