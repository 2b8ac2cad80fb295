"""lmmflow: linear mixed models in Python with lme4's formulas and numbers, and the whole workflow.

>>> import lmmflow as lf
>>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
>>> round(m.sigma, 3)
25.592
"""

from .api import fit_design, lmer, load_dataset, make_deviance
from .control import LmerControl
from .core import DevianceFunction
from .design import DataError, ModelDesign, lformula
from .formula import FormulaError, parse_formula
from .optim import OptSummary, optimize_theta
from .results import LmerResult, tidy

__version__ = "0.1.0"

__all__ = [
    "DataError",
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
    "tidy",
]
