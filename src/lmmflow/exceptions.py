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
    """Something lme4 would say while fitting: the base of lmmflow's warning classes.

    Examples
    --------
    >>> import warnings, lmmflow as lf
    >>> df = lf.load_dataset("sleepstudy")
    >>> df.loc[[0, 5], "Reaction"] = float("nan")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     m = lf.lmer("Reaction ~ Days + (1 | Subject)", df)
    >>> [issubclass(w.category, lf.LmmflowWarning) for w in caught]
    [True]
    """


FitMessage = LmmflowWarning


class ConvergenceWarning(LmmflowWarning):
    """The optimizer stopped where the objective could still fall noticeably, or hit its evaluation limit.

    Examples
    --------
    >>> import warnings, lmmflow as lf
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", lf.ConvergenceWarning)   # make non-convergence an error
    ...     m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> m.optinfo.converged
    True
    """


class SingularFitWarning(LmmflowWarning):
    """A boundary (singular) fit: a variance is (nearly) zero or a correlation is +/-1.

    Examples
    --------
    >>> import warnings, numpy as np, pandas as pd, lmmflow as lf
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"y": rng.normal(size=60), "g": np.repeat(np.arange(12), 5)})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     m = lf.lmer("y ~ 1 + (1 | g)", df)
    >>> m.is_singular, [w.category.__name__ for w in caught]
    (True, ['SingularFitWarning'])
    """


class RankDeficiencyWarning(LmmflowWarning):
    """The fixed-effect model matrix is rank deficient: aliased columns were dropped.

    Examples
    --------
    >>> import warnings, lmmflow as lf
    >>> df = lf.load_dataset("sleepstudy").assign(Days2=lambda d: 2 * d["Days"])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     m = lf.lmer("Reaction ~ Days + Days2 + (1 | Subject)", df)
    >>> [w.category.__name__ for w in caught], list(m.fixef.index)
    (['RankDeficiencyWarning'], ['(Intercept)', 'Days'])
    """


class DroppedRowsWarning(LmmflowWarning):
    """Rows with missing values in the model's columns were dropped.

    Examples
    --------
    >>> import warnings, lmmflow as lf
    >>> df = lf.load_dataset("sleepstudy")
    >>> df.loc[[0, 5, 9], "Days"] = float("nan")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     m = lf.lmer("Reaction ~ Days + (1 | Subject)", df)
    >>> [w.category.__name__ for w in caught], m.n_dropped
    (['DroppedRowsWarning'], 3)
    """
