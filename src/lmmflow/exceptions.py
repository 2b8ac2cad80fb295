"""Public warning classes, so that users can filter one kind (``warnings.simplefilter("ignore", lf.X)``).

Every warning lmmflow gives while fitting derives from :class:`LmmflowWarning` (alias ``FitMessage``, the
name earlier releases used), itself a ``UserWarning``; each kind has its own class:

>>> import warnings
>>> import lmmflow as lf
>>> issubclass(lf.SingularFitWarning, lf.LmmflowWarning) and issubclass(lf.LmmflowWarning, UserWarning)
True
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore", lf.SingularFitWarning)   # silence singular-fit messages only
...     m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
"""

from __future__ import annotations

__all__ = [
    "ConvergenceWarning",
    "DroppedRowsWarning",
    "FitMessage",
    "LmmflowWarning",
    "RankDeficiencyWarning",
    "SingularFitWarning",
]


class LmmflowWarning(UserWarning):
    """Something lme4 would say while fitting: the base of lmmflow's warning classes."""


FitMessage = LmmflowWarning


class ConvergenceWarning(LmmflowWarning):
    """The optimizer stopped where the objective could still fall noticeably, or hit its evaluation limit."""


class SingularFitWarning(LmmflowWarning):
    """A boundary (singular) fit: a variance is (nearly) zero or a correlation is +/-1."""


class RankDeficiencyWarning(LmmflowWarning):
    """The fixed-effect model matrix is rank deficient: aliased columns were dropped."""


class DroppedRowsWarning(LmmflowWarning):
    """Rows with missing values in the model's columns were dropped."""
