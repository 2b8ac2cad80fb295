"""``lmer()`` and the public stages it glues together (lme4's modular functions).

    lformula(formula, data)        -> ModelDesign        (formula -> model matrices)
    make_deviance(design, reml)    -> DevianceFunction   (-> objective of theta; lme4's devFunOnly)
    optimize_theta(devfun, ...)    -> OptSummary         (-> optimum and its record)
    LmerResult(design, devfun, opt)                      (-> the fitted model)
"""

from __future__ import annotations

import os
import warnings
from importlib import resources
from typing import Any

import pandas as pd

from .control import LmerControl
from .core import CrossProducts, DevianceFunction
from .core.dense import SmallDenseObjective
from .core.schur import SchurObjective
from .core.start import moment_theta
from .design import ModelDesign, lformula
from .exceptions import DroppedRowsWarning, FitMessage, RankDeficiencyWarning, SingularFitWarning  # noqa: F401
from .optim import optimize_theta
from .optim.threads import HEAVY_DENSE, IdleCoreLapack, blas_threads
from .results.model import LmerResult, make_blocks

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
    return DevianceFunction(_cross_products(design), reml=reml)


def _cross_products(design: ModelDesign) -> CrossProducts:
    if design.cross is not None:
        return design.cross
    y = design.y if design.frame.offset is None else design.y - design.frame.offset
    return CrossProducts.build(make_blocks(design), design.fixed.matrix, y, design.frame.weights)


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
    control = control or LmerControl()
    dense = max((t.nlevels * t.p for t in design.terms[1:]), default=0)  # rows of the largest dense block
    if reml and design.n <= design.fixed.p:
        raise ValueError(f"REML needs more observations ({design.n}) than fixed effects ({design.fixed.p})")
    with blas_threads(control.blas_threads):
        devfun = DevianceFunction(cross if cross is not None else _cross_products(design), reml=reml)
        if control.blas_threads == "auto" and dense >= HEAVY_DENSE:
            devfun.factor.dense_hook = IdleCoreLapack()  # idle cores for the large dense factorizations
        small = isinstance(devfun.small, SmallDenseObjective)
        if control.optimizer == "auto":
            # gradient-based for several terms, unless the dense block is so large that the gradient's
            # selected inversion costs more than the evaluations it saves; derivative-free for one term
            # (evaluations are cheap, the gradient costs several) and for small models, whose evaluation
            # is one product and one Cholesky (core/dense.py): there 60 of them cost less than the 20
            # value-and-gradient calls L-BFGS-B needs
            # (the Schur objectives of crossed and nested designs hold no dense block of the fill's size)
            schur = isinstance(devfun.small, SchurObjective)
            gradient_pays = not small and len(design.terms) > 1 and (schur or dense < 2000)
            control = control.replace(optimizer="lbfgsb" if gradient_pays else "bobyqa")
        start, scale = devfun.theta0, None
        if control.optimizer == "lbfgsb" and control.theta0 is None:
            # scalar terms: a moment estimate from the cross-products starts the gradient method next to the
            # optimum, with a first step of a tenth of each value (InstEval: 6 evaluations instead of 11);
            # lme4's start otherwise
            moments = moment_theta(devfun.cp)
            if moments is not None:
                start, scale = moments, 0.1 * moments
        opt = optimize_theta(devfun, start, devfun.lower, control=control, record=record, scale=scale,
                             value_and_grad=devfun.value_and_gradient,
                             cheap_gradient=small)
        if not opt.converged and control.optimizer == "lbfgsb":
            # a gradient method that stopped early gets a second opinion from BOBYQA, started where it stopped
            retry = optimize_theta(devfun, opt.theta, devfun.lower, control=control.replace(optimizer="bobyqa"),
                                   record=record)
            if retry.fmin <= opt.fmin:
                opt = retry
        result = LmerResult(design, devfun, opt, control, data_name=data_name)
        devfun.factor.release()  # the result holds its solution; later users update the factor again
        return result


def lmer(formula: str, data: Any, reml: bool = True, weights: Any = None, offset: Any = None,
         control: LmerControl | None = None, record: bool = False, quiet: bool = False) -> LmerResult:
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
    weights, offset : str or array-like, optional
        Prior weights (residual variance sigma^2 / w) and an offset, as lme4's.
    control : LmerControl, optional
        Optimizer and tolerances.
    record : bool
        Keep every optimizer evaluation in ``m.optinfo.log``.
    quiet : bool
        Do not warn about dropped rows/columns or singular fits (they are still in the summary).

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

        return lmer_dask(formula, data, reml=reml, weights=weights, offset=offset, control=control, quiet=quiet)
    with blas_threads((control or LmerControl()).blas_threads):  # the design's QR and products too
        design = lformula(formula, data, weights=weights, offset=offset)
        m = fit_design(design, reml=reml, control=control, record=record)
    if not quiet:
        if design.fixed.dropped:
            warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {len(design.fixed.dropped)} "
                          f"column(s): {design.fixed.dropped}", RankDeficiencyWarning, stacklevel=2)
        if design.frame.n_dropped:
            warnings.warn(f"{design.frame.n_dropped} row(s) with missing values in the model's columns were "
                          "dropped", DroppedRowsWarning, stacklevel=2)
        if m.is_singular:
            warnings.warn("boundary (singular) fit: a variance is (nearly) zero or a correlation is +/-1; "
                          "see m.varcorr and consider a simpler random-effects structure", SingularFitWarning,
                          stacklevel=2)
    return m


def load_dataset(name: str) -> pd.DataFrame:
    """A small example data set shipped with lmmflow.

    Parameters
    ----------
    name : {"sleepstudy", "dyestuff", "penicillin", "pastes"}
        Classic data sets from the mixed-models literature (as in lme4).

    Examples
    --------
    >>> load_dataset("sleepstudy").shape
    (180, 3)
    """
    names = {"sleepstudy", "dyestuff", "penicillin", "pastes"}
    if name not in names:
        raise ValueError(f"unknown data set {name!r}; available: {sorted(names)}")
    with resources.files("lmmflow.datasets").joinpath(f"{name}.csv").open() as fh:
        df = pd.read_csv(fh)
    for col in df.columns:
        if df[col].dtype == object or str(df[col].dtype) == "str":
            df[col] = df[col].astype(str)
    if name == "sleepstudy":
        df["Subject"] = df["Subject"].astype(str)
    return df


def _is_distributed(data: Any) -> bool:
    """A Dask DataFrame, or a path to a directory / glob of Parquet files: fit partition by partition."""
    if type(data).__module__.startswith("dask"):
        return True
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        return os.path.isdir(path) or path.endswith(".parquet") or "*" in path
    return False
