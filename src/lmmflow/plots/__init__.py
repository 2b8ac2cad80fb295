"""Plots of the longitudinal workflow, drawn with matplotlib.

Every function takes ``ax=`` (or ``axes=`` for multi-panel plots) to draw into existing Axes, creates a
figure when none is given, and returns the Axes (an array of Axes for multi-panel plots). Nothing global
is changed: no ``plt.show()``, no rcParams.

===========================  ===============================================================
Look at the data             :func:`spaghetti`, :func:`observed_proportions` (binary outcomes, counts)
Check the fit                :func:`residuals_vs_fitted`, :func:`qq_residuals`, :func:`qq_ranef`,
                             :func:`binned_residuals` (GLMMs)
Model checks (performance)   :func:`check_model`; its panels :func:`check_ppc`, :func:`check_linearity`,
                             :func:`check_homogeneity`, :func:`check_influence`, :func:`check_normality`,
                             :func:`check_ranef_normality`
Random effects               :func:`caterpillar`, :func:`caterpillar_panels`
Partial pooling              :func:`shrinkage`, :func:`shrinkage_panels`
Units' trajectories          :func:`trajectories`, :func:`trajectory_panels`
Population curve             :func:`prediction_curve`, :func:`response_curve` (GLMMs)
Variance parameters          :func:`profile_zeta`, :func:`variance_over_time`, :func:`icc_over_time`
Planning                     :func:`power_curve`
===========================  ===============================================================

Examples
--------
>>> import lmmflow as lf
>>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
>>> ax = lf.plots.caterpillar(m, term="Days", add_fixed=True)
>>> ax.get_title()
'Days | Subject: 18 units'
"""

from .binned import binned_residuals, binned_residuals_frame
from .check_model import (
    check_homogeneity,
    check_influence,
    check_linearity,
    check_model,
    check_normality,
    check_ppc,
    check_ranef_normality,
)
from .data import spaghetti
from .power import power_curve
from .prediction import prediction_curve, prediction_grid
from .profile import profile_zeta
from .proportions import observed_proportions, proportion_table
from .ranef import caterpillar, caterpillar_panels, qq_ranef
from .residuals import qq_residuals, residuals_vs_fitted
from .response import response_band, response_curve
from .shrinkage import shrinkage, shrinkage_frame, shrinkage_panels
from .trajectories import trajectories, trajectory_panels
from .variance import icc_over_time, variance_over_time

__all__ = [
    "binned_residuals",
    "binned_residuals_frame",
    "caterpillar",
    "caterpillar_panels",
    "check_homogeneity",
    "check_influence",
    "check_linearity",
    "check_model",
    "check_normality",
    "check_ppc",
    "check_ranef_normality",
    "icc_over_time",
    "observed_proportions",
    "power_curve",
    "prediction_curve",
    "prediction_grid",
    "profile_zeta",
    "proportion_table",
    "qq_ranef",
    "qq_residuals",
    "residuals_vs_fitted",
    "response_band",
    "response_curve",
    "shrinkage",
    "shrinkage_frame",
    "shrinkage_panels",
    "spaghetti",
    "trajectories",
    "trajectory_panels",
    "variance_over_time",
]
