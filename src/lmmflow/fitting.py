"""The fit driver: design -> cross-products -> deviance function -> optimizer -> result.

Below ``results/`` in the layering (formula -> design -> core -> optim -> fitting -> results): it imports
no result class.  The caller says how to make the result from the fit's pieces (``make_result``), so
:func:`lmmflow.fit_design` (in ``api.py``, glue) hands in :class:`~lmmflow.results.model.LmerResult` and
results reach the builders through :mod:`lmmflow.results.builders` without importing them.

The cross-product pass has one owner, :func:`cross_products`; the response it reads is the design's
``less_offset()``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from .control import LmerControl
from .core import CrossProducts, DevianceFunction
from .core.dense import SmallDenseObjective
from .core.schur import SchurObjective
from .core.start import moment_theta
from .design import DataError, ModelDesign
from .exceptions import ConvergenceWarning, DroppedRowsWarning, RankDeficiencyWarning, SingularFitWarning
from .optim import OptSummary, optimize_theta
from .optim.threads import HEAVY_DENSE, IdleCoreLapack, blas_threads

__all__ = ["check_response", "cross_products", "fit_lmm"]

R = TypeVar("R")


def check_response(y: np.ndarray, name: str) -> None:
    """Refuse a response that cannot be fitted: constant, or so large that its square overflows.

    lme4 fits a constant response with sigma ~ 0 and warnings; lmmflow says so plainly instead.

    Examples
    --------
    >>> import numpy as np
    >>> check_response(np.array([1.0, 2.0]), "y")
    >>> try:
    ...     check_response(np.ones(3), "y")
    ... except ValueError as e:
    ...     print(str(e)[:38])
    the response 'y' is constant (every va
    """
    if len(y) and float(np.ptp(y)) == 0.0:
        raise DataError(f"the response {name!r} is constant (every value is {y[0]:g}): there is no variation to "
                        "model; check the column or choose another response")
    with np.errstate(over="ignore"):
        ss = float(np.dot(y, y))
    if not np.isfinite(ss):
        raise DataError(f"the response {name!r} is too large in magnitude (max |y| = {np.abs(y).max():.3g}): its "
                        "cross-products are not finite in double precision; rescale it (e.g. divide by a power "
                        "of 10) before fitting")


def _check_cross_products(cp: CrossProducts, design: ModelDesign) -> None:
    """Non-finite cross-products (overflow from huge values) as a clear error naming the columns."""
    if np.isfinite(cp.xx).all() and all(np.isfinite(z).all() for z in cp.xz) and all(
            np.isfinite(d).all() for d in cp.diag):
        return
    names = list(design.fixed.names)
    bad = [names[j] for j in range(len(names)) if not np.isfinite(cp.xx[j]).all()]
    what = f"fixed-effect column(s) {bad}" if bad else f"the response {design.formula.response!r}"
    if not bad and np.isfinite(cp.xx[-1, -1]):
        what = "the random-effects model matrix"
    raise DataError(f"the cross-products of {what} are not finite (values too large in magnitude for double "
                    "precision); rescale the variables (e.g. divide by a power of 10) before fitting")


def cross_products(design: ModelDesign, check_y: bool = True) -> CrossProducts:
    """The cross-products of ``[Z X y - offset]`` of a design (the one pass over the rows), checked.

    Parameters
    ----------
    design : ModelDesign
        A design from :func:`lmmflow.lformula`; one read in row blocks brings its own (``design.cross``).
    check_y : bool
        Refuse a constant or overflowing response (off for a template design whose y is a placeholder).

    Examples
    --------
    >>> import lmmflow as lf
    >>> cp = cross_products(lf.lformula("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy")))
    >>> cp.n, cp.p, cp.xx.shape
    (180, 2, (3, 3))
    """
    if check_y:  # (a design built as a template for simulated responses has a placeholder y)
        check_response(design.y, design.formula.response)
    if design.cross is not None:
        cp = design.cross
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            cp = CrossProducts.build(design.blocks(), design.fixed.matrix, design.less_offset(), design.frame.weights)
    _check_cross_products(cp, design)
    return cp


def fit_lmm(design: ModelDesign, make_result: Callable[[ModelDesign, DevianceFunction, OptSummary, LmerControl], R],
            reml: bool = True, control: LmerControl | None = None, cross: CrossProducts | None = None,
            record: bool = False) -> R:
    """Fit a linear mixed model from its design: cross-products, deviance function, optimizer, result.

    Parameters
    ----------
    design : ModelDesign
    make_result : callable
        ``make_result(design, devfun, optinfo, control)`` -> the result (it solves at the optimum while the
        factor is still complete; the factor is released after).
    reml : bool
    control : LmerControl, optional
    cross : CrossProducts, optional
        The cross-products when already formed (large or distributed data, refits).
    record : bool
        Keep every (theta, objective) pair in the optimizer's record.

    Examples
    --------
    >>> import lmmflow as lf
    >>> d = lf.lformula("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> opt = fit_lmm(d, lambda design, devfun, opt, control: opt, reml=False)
    >>> round(opt.fmin, 2)
    1751.94
    """
    control = control or LmerControl()
    dense = max((t.nlevels * t.p for t in design.terms[1:]), default=0)  # rows of the largest dense block
    if reml and design.n <= design.fixed.p:
        raise ValueError(f"REML needs more observations ({design.n}) than fixed effects ({design.fixed.p})")
    with blas_threads(control.blas_threads):
        devfun = DevianceFunction(cross if cross is not None else cross_products(design), reml=reml)
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
            # structured covariances (cs, ar1): a standard deviation at 0 leaves the other parameters of its
            # term without effect, a saddle that derivative-free searches stop on (cs(time | id) on growth
            # data: BOBYQA ends 13.7 above the optimum); L-BFGS-B's analytic gradient and its bound check do not
            gradient_pays = gradient_pays or not devfun.pmap.identity
            control = control.replace(optimizer="lbfgsb" if gradient_pays else "bobyqa")
        start, scale = devfun.theta0, None
        if control.optimizer == "lbfgsb" and control.theta0 is None:
            # scalar terms: a moment estimate from the cross-products starts the gradient method next to the
            # optimum, with a first step of a tenth of each value (InstEval: 6 evaluations instead of 11);
            # lme4's start otherwise
            moments = moment_theta(devfun.cp) if devfun.pmap.identity else None
            if moments is not None:
                start, scale = moments, 0.1 * moments
        upper = None if devfun.pmap.identity else devfun.upper  # structured terms: bounded correlations
        opt = optimize_theta(devfun, start, devfun.lower, control=control, record=record, scale=scale,
                             value_and_grad=devfun.value_and_gradient,
                             cheap_gradient=small, warn=False, upper=upper)
        if not opt.converged and control.optimizer == "lbfgsb":
            # a gradient method that stopped early gets a second opinion from BOBYQA, started where it stopped
            # (the warnings are those of the optimization kept)
            retry = optimize_theta(devfun, opt.theta, devfun.lower, control=control.replace(optimizer="bobyqa"),
                                   record=record, warn=False, upper=upper)
            if retry.fmin <= opt.fmin:
                opt = retry
        for msg in opt.alerts:  # as lme4's convergence warnings
            warnings.warn(msg, ConvergenceWarning, stacklevel=4)
        result = make_result(design, devfun, opt, control)
        devfun.factor.release()  # the result holds its solution; later users update the factor again
        return result


def warn_fit(dropped: list[str], n_dropped: int, singular: bool = False, name: str = "m",
             scale_msg: str | None = None, stacklevel: int = 2) -> None:
    """lme4's messages after a fit, in lme4's order: dropped fixed-effect columns, dropped rows, predictors on very
    different scales, a singular fit (``name`` is the result's name in the message).  ``stacklevel`` as the caller's
    own ``warnings.warn`` would use it.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     warn_fit([], 3)
    >>> str(w[0].message)
    "3 row(s) with missing values in the model's columns were dropped"
    """
    level = stacklevel + 1
    if dropped:
        warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} column(s): {dropped}",
                      RankDeficiencyWarning, stacklevel=level)
    if n_dropped:
        warnings.warn(f"{n_dropped} row(s) with missing values in the model's columns were dropped",
                      DroppedRowsWarning, stacklevel=level)
    if scale_msg:
        warnings.warn(scale_msg, ConvergenceWarning, stacklevel=level)
    if singular:
        warnings.warn("boundary (singular) fit: a variance is (nearly) zero or a correlation is +/-1; "
                      f"see {name}.varcorr and consider a simpler random-effects structure", SingularFitWarning,
                      stacklevel=level)
