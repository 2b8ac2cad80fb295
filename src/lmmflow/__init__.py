"""lmmflow: linear mixed models in Python with lme4's formulas and numbers, and the whole workflow.

>>> import lmmflow as lf
>>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
>>> round(m.sigma, 3)
25.592

The fitting pipeline is imported at once; inference, diagnostics, plots, report, explorer and the
Dask back-end load on first use (so ``import lmmflow`` does not import matplotlib or Dask).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .api import fit_design, lmer, load_dataset, make_deviance
from .control import LmerControl
from .core import DevianceFunction
from .design import DataError, ModelDesign, lformula
from .exceptions import (
    ConvergenceWarning,
    DroppedRowsWarning,
    FitMessage,
    LmmflowWarning,
    RankDeficiencyWarning,
    SingularFitWarning,
)
from .formula import FormulaError, parse_formula
from .optim import OptSummary, optimize_theta
from .results import LmerResult, tidy
from .simulate import simulate  # noqa: E402  (eager: the function, not the module lmmflow.simulate, is lf.simulate)

__version__ = "0.1.0"

from .optim.threads import find_blas_libraries as _find_blas_libraries  # noqa: E402

_find_blas_libraries()  # numpy's and scipy's BLAS are loaded by now: the first fit need not look for them

_LAZY = {
    # inference
    "anova": "lmmflow.inference.anova",
    "ranova": "lmmflow.inference.anova",
    "contrast": "lmmflow.inference.anova",
    "compare_models": "lmmflow.inference.anova",
    "profile": "lmmflow.inference.profile",
    "bootstrap": "lmmflow.inference.bootstrap",
    "sim": "lmmflow.inference.posterior",
    # marginal means and contrasts (emmeans)
    "emmeans": "lmmflow.inference.emmeans",
    "emtrends": "lmmflow.inference.emmeans",
    "EmmGrid": "lmmflow.inference.emmeans",
    "contrasts": "lmmflow.inference.emm_contrasts",
    "pairs": "lmmflow.inference.emm_contrasts",
    # diagnostics
    "r2": "lmmflow.diagnostics.variance",
    "icc": "lmmflow.diagnostics.variance",
    "hatvalues": "lmmflow.diagnostics.influence",
    "cooks_distance": "lmmflow.diagnostics.influence",
    "influence": "lmmflow.diagnostics.influence",
    "Influence": "lmmflow.diagnostics.influence",
    # broom's trio (tidy is imported at once)
    "glance": "lmmflow.results.broom",
    "augment": "lmmflow.results.broom",
    # data
    "simulate_growth": "lmmflow.data",
    "wide_to_long": "lmmflow.data",
    "read_data": "lmmflow.data",
    # derived quantities of the workflow
    "lm_list": "lmmflow.derived",
    "unit_coefficients": "lmmflow.derived",
    "share_positive_slopes": "lmmflow.derived",
    "variance_partition": "lmmflow.derived",
    # report and explorer
    "report": "lmmflow.reporting",
    "detect_design": "lmmflow.reporting",
    "OutputFolderError": "lmmflow.reporting",
    "explorer_html": "lmmflow.explore",
    "write_explorer": "lmmflow.explore",
    "explorer_inputs": "lmmflow.explore",
    # generalized linear mixed models
    "glmer": "lmmflow.glmm_api",
    "GlmerResult": "lmmflow.results.glmm",
    "binomial": "lmmflow.core.family",
    "poisson": "lmmflow.core.family",
    # scale-out
    "fit_many": "lmmflow.scale.many",
    # planning: power by simulation
    "power": "lmmflow.planning.power",
    "PowerResult": "lmmflow.planning.result",
}
_LAZY_MODULES = {"plots": "lmmflow.plots"}

if TYPE_CHECKING:  # what type checkers and IDEs see for the names loaded on first use (tests/test_typing.py)
    from . import plots
    from .core.family import binomial, poisson
    from .data import read_data, simulate_growth, wide_to_long
    from .derived import lm_list, share_positive_slopes, unit_coefficients, variance_partition
    from .diagnostics.influence import Influence, cooks_distance, hatvalues, influence
    from .diagnostics.variance import icc, r2
    from .explore import explorer_html, explorer_inputs, write_explorer
    from .glmm_api import glmer
    from .inference.anova import anova, compare_models, contrast, ranova
    from .inference.bootstrap import bootstrap
    from .inference.emm_contrasts import contrasts, pairs
    from .inference.emmeans import EmmGrid, emmeans, emtrends
    from .inference.posterior import sim
    from .inference.profile import profile
    from .planning.power import power
    from .planning.result import PowerResult
    from .reporting import OutputFolderError, detect_design, report
    from .results.broom import augment, glance
    from .results.glmm import GlmerResult
    from .scale.many import fit_many


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name in _LAZY_MODULES:
        return import_module(_LAZY_MODULES[name])
    raise AttributeError(f"module 'lmmflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_MODULES))


__all__ = [
    "ConvergenceWarning",
    "DataError",
    "DroppedRowsWarning",
    "FitMessage",
    "LmmflowWarning",
    "RankDeficiencyWarning",
    "SingularFitWarning",
    "DevianceFunction",
    "FormulaError",
    "LmerControl",
    "LmerResult",
    "ModelDesign",
    "OptSummary",
    "fit_design",
    "lformula",
    "lmer",
    "load_dataset",
    "make_deviance",
    "optimize_theta",
    "parse_formula",
    "simulate",
    "tidy",
    *_LAZY,
    *_LAZY_MODULES,
]
