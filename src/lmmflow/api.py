"""``lmer()`` and the public stages it glues together (lme4's modular functions); the driver is
:mod:`lmmflow.fitting`, below the results.

    lformula(formula, data)        -> ModelDesign        (formula -> model matrices)
    make_deviance(design, reml)    -> DevianceFunction   (-> objective of theta; lme4's devFunOnly)
    optimize_theta(devfun, ...)    -> OptSummary         (-> optimum and its record)
    LmerResult(design, devfun, opt)                      (-> the fitted model)
"""

from __future__ import annotations

import os
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from .control import LmerControl
from .core import CrossProducts, DevianceFunction
from .design import ModelDesign, lformula
from .design.lazy import RowMatrix
from .exceptions import (  # noqa: F401
    ConvergenceWarning,
    DroppedRowsWarning,
    FitMessage,
    RankDeficiencyWarning,
    SingularFitWarning,
)
from .fitting import check_response, cross_products, fit_lmm, warn_fit
from .optim.threads import blas_threads
from .results.builders import register_builders
from .results.model import LmerResult

__all__ = ["fit_design", "lmer", "load_dataset", "make_deviance"]


def make_deviance(design: ModelDesign | str, data: Any = None, reml: bool = True,
                  weights: Any = None, offset: Any = None) -> DevianceFunction:
    """The objective as a function of theta, for tests and custom optimizers (lme4's ``devFunOnly``).

    Parameters
    ----------
    design : ModelDesign or str
        A design from :func:`lformula`, or a formula (then ``data`` is needed).
    data : DataFrame, optional
    reml : bool
    weights, offset : str, array-like or pandas.Series, optional
        As for :func:`lmer` (a Series is aligned on the data's index).

    Returns
    -------
    DevianceFunction
        Call it with theta; ``.theta0`` and ``.lower`` give the start and bounds.

    Examples
    --------
    >>> import lmmflow as lf
    >>> f = lf.make_deviance("Reaction ~ Days + (1 | Subject)", lf.load_dataset("sleepstudy"), reml=False)
    >>> round(f([1.0]), 4) > 0
    True
    """
    if isinstance(design, str):
        if data is None:
            raise ValueError("make_deviance(formula, data): data is needed with a formula")
        design = lformula(design, data, weights=weights, offset=offset)
    return DevianceFunction(cross_products(design), reml=reml)


def check_scale(design: ModelDesign, tol: float = 1e3) -> str | None:
    """lme4's ``checkScaleX``: the message when the fixed-effect columns are on very different scales.

    As lme4: columns that hold only 0 and 1 (intercept, dummies) are left out; the warning is due when the
    ratio of two columns' standard deviations, or a standard deviation itself, is beyond ``tol`` or below
    ``1/tol``.  Designs read in row blocks (large data) are not checked.

    Examples
    --------
    >>> import lmmflow as lf
    >>> d = lf.load_dataset("sleepstudy")
    >>> check_scale(lf.lformula("Reaction ~ Days + (1 | Subject)", d)) is None
    True
    >>> check_scale(lf.lformula("Reaction ~ I(Days * 1e6) + (1 | Subject)", d))
    'Some predictor variables are on very different scales: consider rescaling'
    """
    X = design.fixed.matrix
    if isinstance(X, RowMatrix) or X.shape[1] == 0 or X.shape[0] < 2:
        return None
    cont = ~np.all((X == 0) | (X == 1), axis=0)
    if not cont.any():
        return None
    with np.errstate(divide="ignore"):
        logsd = np.log(X[:, cont].std(axis=0, ddof=1))
    spread = np.abs(logsd[:, None] - logsd[None, :]).max() if logsd.size > 1 else 0.0
    if max(spread, np.abs(logsd).max()) > np.log(tol):
        return "Some predictor variables are on very different scales: consider rescaling"
    return None


def fit_design(design: ModelDesign, reml: bool = True, control: LmerControl | None = None,
               cross: CrossProducts | None = None, record: bool = False, data_name: str = "data") -> LmerResult:
    """Fit a model from a built design (and, optionally, its cross-products): lme4's ``optimizeLmer`` + ``mkMerMod``.

    Parameters
    ----------
    design : ModelDesign
        From :func:`lmmflow.lformula`.
    reml : bool
        REML (default) or maximum likelihood.
    control : LmerControl, optional
        Optimizer and checks.
    cross : CrossProducts, optional
        The cross-products of ``[Z X y]`` when already formed (large or distributed data).
    record : bool
        Keep every (theta, objective) pair in ``m.optinfo.log``.
    data_name : str
        The data's name in the printed call.

    Returns
    -------
    LmerResult

    Examples
    --------
    >>> import lmmflow as lf
    >>> design = lf.lformula("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> m = lf.fit_design(design, reml=False)
    >>> round(m.objective, 2)
    1751.94
    """
    return fit_lmm(design, lambda d, f, o, c: LmerResult(d, f, o, c, data_name=data_name), reml=reml,
                   control=control, cross=cross, record=record)


def lmer(formula: str, data: Any, reml: bool = True, weights: Any = None, offset: Any = None,
         control: LmerControl | None = None, record: bool = False, quiet: bool = False,
         contrasts: dict[str, str] | None = None, na_action: str = "na.omit") -> LmerResult:
    """Fit a linear mixed model with lme4's formula language.

    Parameters
    ----------
    formula : str
        ``response ~ fixed effects + (effects | group) + ...``.  Random terms: ``(1 | g)`` random intercept;
        ``(x | g)`` or ``(1 + x | g)`` correlated intercept and slope; ``(0 + x | g)`` slope only;
        ``(x || g)`` uncorrelated; ``(1 | a/b)`` b nested in a (= ``(1 | a) + (1 | a:b)``); several terms
        for crossed factors, e.g. ``(1 | subject) + (1 | item)``.  Fixed part: formulaic's syntax
        (``*``, ``:``, ``I(x**2)``, ``np.log(x)``, ``C(x)``, ``0 +`` / ``- 1``); text columns are categorical
        with treatment contrasts, levels sorted, the first the reference.
    data : pandas.DataFrame, polars.DataFrame or dict of columns
        Long-format data.  Not modified.  Rows with missing values in the columns used are dropped and counted.
    reml : bool
        REML (default, as lme4) or maximum likelihood (``reml=False``; needed to compare fixed effects by LRT).
    weights, offset : str, array-like or pandas.Series, optional
        Prior weights (residual variance sigma^2 / w) and an offset, as lme4's: a column name, a Series
        (aligned on the data's index, never by position; refused when its index does not cover the data's)
        or an array (one value per row, by position).  Weights must be non-negative, not all zero.  The
        offset is added to the formula's ``offset(...)`` terms.
    control : LmerControl, optional
        Optimizer and tolerances.
    record : bool
        Keep every optimizer evaluation in ``m.optinfo.log``.
    quiet : bool
        Do not warn about dropped rows/columns, predictors on very different scales or singular fits (they
        are still in the summary).  Convergence problems (the optimizer's evaluation limit, a Newton step
        that would still lower the objective) always warn, as lme4's, with :class:`lmmflow.ConvergenceWarning`.
    contrasts : dict, optional
        Column -> ``"treatment"``, ``"sum"``, ``"helmert"`` or ``"poly"`` (R's ``contrasts=``); ordered
        categoricals get ``"poly"`` by default, as in R.
    na_action : {"na.omit", "na.exclude", "na.fail", "na.pass"}
        Rows with missing values in the model's columns, as lme4's ``na.action``: dropped ("na.omit", the
        default); dropped with ``fitted``/``residuals``/``predict()`` padded with NaN to the data's rows
        ("na.exclude"); an error naming the columns ("na.fail", and "na.pass": a fit cannot use them).

    Returns
    -------
    LmerResult

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> m.fixef.round(3).to_dict()
    {'(Intercept)': 251.405, 'Days': 10.467}
    >>> round(m.update(reml=False).aic, 2)
    1763.94
    """
    if _is_distributed(data):
        from .scale import lmer_dask  # optional: needs the lmmflow[dask] extra

        if contrasts:
            raise ValueError("contrasts= is not supported for Dask data yet: fit an in-memory frame")
        if na_action != "na.omit":
            raise ValueError(f"na_action={na_action!r} is not supported for Dask data yet (rows with missing "
                             "values are dropped, as na.omit): fit an in-memory frame")
        return lmer_dask(formula, data, reml=reml, weights=weights, offset=offset, control=control, quiet=quiet)
    with blas_threads((control or LmerControl()).blas_threads):  # the design's QR and products too
        design = lformula(formula, data, weights=weights, offset=offset, contrasts=contrasts, na_action=na_action)
        m = fit_design(design, reml=reml, control=control, record=record)
    if not quiet:
        warn_fit(design.fixed.dropped, design.frame.n_dropped, m.is_singular, "m", check_scale(design))
    return m


def load_dataset(name: str) -> pd.DataFrame:
    """A small example data set shipped with lmmflow.

    Parameters
    ----------
    name : {"sleepstudy", "dyestuff", "penicillin", "pastes", "cbpp"}
        Classic data sets from the mixed-models literature (as in lme4; ``cbpp``: contagious bovine
        pleuropneumonia, ``incidence`` of ``size`` cattle per ``herd`` and ``period``, for binomial GLMMs).

    Examples
    --------
    >>> load_dataset("sleepstudy").shape
    (180, 3)
    """
    names = {"sleepstudy", "dyestuff", "penicillin", "pastes", "cbpp"}
    if name not in names:
        raise ValueError(f"unknown data set {name!r}; available: {sorted(names)}")
    with resources.files("lmmflow.datasets").joinpath(f"{name}.csv").open() as fh:
        df = pd.read_csv(fh)
    for col in df.columns:
        if df[col].dtype == object or str(df[col].dtype) == "str":
            df[col] = df[col].astype(str)
    if name == "sleepstudy":
        df["Subject"] = df["Subject"].astype(str)
    if name == "cbpp":  # factors in R: herd levels in R's order (1, 2, ..., 15), period 1-4
        df["herd"] = pd.Categorical(df["herd"].astype(str), categories=[str(i) for i in range(1, 16)])
        df["period"] = df["period"].astype(str)
    return df


def _is_distributed(data: Any) -> bool:
    """A Dask DataFrame, or a path to a directory / glob of Parquet files: fit partition by partition."""
    if type(data).__module__.startswith("dask"):
        return True
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        return os.path.isdir(path) or path.endswith(".parquet") or "*" in path
    return False


_cross_products = cross_products  # (the name earlier code imports)
register_builders(fit_design=fit_design, lmer=lmer, check_response=check_response)
