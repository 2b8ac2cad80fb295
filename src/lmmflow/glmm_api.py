"""``glmer()``: generalized linear mixed models, glue over the stages (lme4's ``glFormula`` -> ``mkGlmerDevfun`` ->
``optimizeGlmer`` -> ``mkMerMod``).

    lformula(formula, data, family=...)       -> ModelDesign     (the response read as the family does)
    GlmmObjective(blocks, X, y, family, ...)  -> the Laplace / quadrature objective (lmmflow.core.pirls)
    fit_glmm(objective, nagq, control)        -> the optimum, its Hessian-based vcov (lmmflow.optim.glmm)
    GlmerResult(design, family, solution)     -> the fitted model (lmmflow.results.glmm)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .control import LmerControl
from .design import ModelDesign, lformula
from .fitting import warn_fit
from .results.glmm import GlmerResult, GlmmSolution

__all__ = ["fit_glmm_design", "glmer", "make_family"]


def make_family(family: Any = "binomial", link: str | None = None) -> Any:
    """A family object from a name and a link (``None``: the canonical link), or a family object as given.

    Parameters
    ----------
    family : {"binomial", "poisson"} or family object
    link : str, optional
        ``"logit"``, ``"probit"``, ``"cloglog"`` (binomial); ``"log"`` (Poisson).

    Examples
    --------
    >>> f = make_family("binomial", "probit")
    >>> f.name, f.link
    ('binomial', 'probit')
    """
    from .core.family import binomial, poisson

    if isinstance(family, str):
        name = family.lower()
        if name == "binomial":
            return binomial(link or "logit")
        if name == "poisson":
            return poisson(link or "log")
        raise ValueError(f"family={family!r}: use 'binomial' or 'poisson' (or lf.binomial(link=...), lf.poisson()); "
                         "for a Gaussian response use lf.lmer")
    name = getattr(family, "name", None)
    if name not in ("binomial", "poisson"):
        raise ValueError(f"family={family!r}: use 'binomial', 'poisson', lf.binomial(link=...) or lf.poisson()")
    if link is not None and link != family.link:
        raise ValueError(f"link={link!r} but the family object has link {family.link!r}: give one of them")
    return family


def _check_nagq(nagq: Any, design: ModelDesign) -> int:
    if isinstance(nagq, bool) or not isinstance(nagq, (int, np.integer)) or nagq < 0:
        raise ValueError(f"nagq={nagq!r}: use 1 (Laplace, the default), 0 (beta estimated within PIRLS) or an "
                         "integer > 1 (adaptive Gauss-Hermite quadrature, one scalar random term)")
    nagq = int(nagq)
    if nagq > 1 and (len(design.terms) != 1 or design.terms[0].p != 1):
        terms = [f"({' + '.join(t.cnames)} | {t.group})" for t in design.terms]
        raise ValueError(f"nagq={nagq} (adaptive Gauss-Hermite quadrature) needs a single scalar random-effects "
                         f"term such as (1 | g), as lme4; this model has {terms}: use nagq=1 (Laplace)")
    if nagq > 25:
        raise ValueError(f"nagq={nagq}: at most 25 quadrature points (lme4's guidance); 25 is already exact to "
                         "many digits for one scalar random effect")
    return nagq


def _solution(fit: Any, design: ModelDesign) -> GlmmSolution:
    """The engine's fit record -> the estimates a result holds."""
    sol = fit.solution
    b = [np.asarray(v, dtype=float).reshape(t.nlevels, t.p) for v, t in zip(sol.b, design.terms)]
    cond = getattr(sol, "cond_cov", None)
    if cond is None:
        sds = [np.asarray(v, dtype=float).reshape(t.nlevels, t.p) for v, t in zip(sol.cond_sd, design.terms)]
        cond = [np.einsum("ip,pq->ipq", s ** 2, np.eye(s.shape[1])) for s in sds]
    lambdas = getattr(sol, "lambdas", None) or []
    return GlmmSolution(theta=np.asarray(fit.theta, dtype=float), beta=np.asarray(fit.beta, dtype=float), b=b,
                        cond_cov=[np.asarray(c, dtype=float) for c in cond], objective=float(fit.objective),
                        vcov=np.asarray(fit.vcov, dtype=float), lambdas=[np.asarray(x, float) for x in lambdas])


def fit_glmm_design(design: ModelDesign, family: Any = None, nagq: int = 1, control: Any = None,
                    start: Any = None, data_name: str = "data") -> GlmerResult:
    """Fit a GLMM from a built design (lme4's ``mkGlmerDevfun`` + ``optimizeGlmer`` + ``mkMerMod``).

    Parameters
    ----------
    design : ModelDesign
        From ``lf.lformula(formula, data, family=...)``.
    family : family object, optional
        Default: the design's family with its canonical link.
    nagq : int
    control : LmerControl or dict, optional
        Optimizer settings passed to the engine (``maxeval``, ``conv_tol``, ``singular_tol``, ``check_conv``,
        ``theta0``).
    start : dict or array, optional
        Starting values: ``{"theta": ..., "beta": ...}`` (lme4's ``start``).
    data_name : str

    Returns
    -------
    GlmerResult

    Examples
    --------
    >>> import lmmflow as lf
    >>> d = lf.lformula("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
    ...                 family="binomial")
    >>> round(fit_glmm_design(d).objective, 2)
    184.05
    """
    from .core.pirls import GlmmObjective
    from .optim.glmm import fit_glmm
    from .optim.threads import blas_threads

    if design.response is None:
        raise ValueError("this design has no GLMM response: build it with lf.lformula(formula, data, family=...)")
    family = make_family(family if family is not None else "binomial" if design.response.kind != "count"
                         else "poisson")
    nagq = _check_nagq(nagq, design)
    if isinstance(control, dict):
        control = LmerControl(**control)
    objective = GlmmObjective(design.blocks(), design.X, design.y, family, prior_weights=design.frame.weights,
                              offset=design.frame.offset, nagq=nagq, trials=design.response.trials)
    # the BLAS threads lmer's fit uses ("auto": one per library): PIRLS makes many small products, whose
    # waiting threads cost more than they gain (binary growth, 120k rows: 50 s CPU with OpenBLAS's own
    # threads on a loaded machine, 11.6 s with one)
    with blas_threads((control or LmerControl()).blas_threads):
        fit = fit_glmm(objective, nagq=nagq, control=control, start=start)
    return GlmerResult(design, family, _solution(fit, design), nagq=nagq, optinfo=fit.optinfo,
                       control=control, data_name=data_name, refitter=fit_glmm_design,
                       fit_args={"family": family, "nagq": nagq, "control": control, "data_name": data_name},
                       stages=fit.stages)


def glmer(formula: str, data: Any, family: Any = "binomial", link: str | None = None, nagq: int = 1,
          weights: Any = None, offset: Any = None, control: Any = None, na_action: str = "na.omit",
          start: Any = None, contrasts: dict[str, str] | None = None, quiet: bool = False) -> GlmerResult:
    """Fit a generalized linear mixed model (binomial or Poisson) with lme4's formula language, as ``glmer``.

    Parameters
    ----------
    formula : str
        ``response ~ fixed + (effects | group)``, as for :func:`lmmflow.lmer`.  Binomial responses: 0/1
        numbers or booleans, a two-level categorical (the second level in sorted order is a success, as R's
        factor), a proportion with ``weights=`` the trials, or ``cbind(successes, failures)`` (any expressions,
        e.g. ``cbind(incidence, size - incidence)``).  Poisson: counts, with ``offset(log(exposure))`` in the
        formula or ``offset=``.
    data : pandas.DataFrame, polars.DataFrame, dict of columns, dask.dataframe.DataFrame or Parquet path
        A Dask frame or a Parquet path is fitted partition by partition (:func:`lmmflow.scale.dask_glmm.glmer_dask`:
        one grouping factor, Laplace; returns a ``DaskGlmerResult``).
    family : {"binomial", "poisson"} or a family object (``lf.binomial("probit")``, ``lf.poisson()``)
    link : str, optional
        ``"logit"`` (default), ``"probit"``, ``"cloglog"`` for binomial; ``"log"`` for Poisson.
    nagq : int
        1: the Laplace approximation (default); > 1: adaptive Gauss-Hermite quadrature with that many points
        (one scalar random-effects term only, at most 25); 0: beta estimated inside PIRLS with the conditional
        modes, only theta by the optimizer (fast, less exact).
    weights : str, array-like or pandas.Series, optional
        Prior weights: for a binomial proportion the number of trials.
    offset : str, array-like or pandas.Series, optional
        An offset on the link scale, added to the formula's ``offset(...)`` terms.
    control : LmerControl or dict, optional
        Optimizer settings, passed to the engine (:func:`lmmflow.optim.glmm.fit_glmm`: ``maxeval``,
        ``conv_tol``, ``singular_tol``, ``check_conv``, ``theta0``).
    na_action : {"na.omit", "na.exclude", "na.fail", "na.pass"}
        As for :func:`lmmflow.lmer`.
    start : dict, optional
        ``{"theta": ..., "beta": ...}`` starting values.
    contrasts : dict, optional
        As for :func:`lmmflow.lmer`.
    quiet : bool
        Do not warn about dropped rows or columns or a singular fit.

    Returns
    -------
    GlmerResult

    Examples
    --------
    >>> import lmmflow as lf
    >>> df = lf.load_dataset("cbpp")
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", df, family="binomial")
    >>> g.fixef.round(3).tolist()
    [-1.399, -0.992, -1.129, -1.58]
    >>> round(g.aic, 2)
    194.05
    """
    from .api import _is_distributed

    if _is_distributed(data):  # a Dask frame or a Parquet path: PIRLS pass by pass over the partitions
        from .scale.dask_glmm import glmer_dask  # optional: needs the lmmflow[dask] extra

        unsupported = {"contrasts": contrasts, "start": start, "control": control}
        named = [k for k, v in unsupported.items() if v] + (["na_action"] if na_action != "na.omit" else [])
        if named:
            raise ValueError(f"{', '.join(named)} not supported for Dask data yet: fit an in-memory frame")
        return glmer_dask(formula, data, family=family, link=link, nagq=nagq, weights=weights,  # type: ignore
                          offset=offset, quiet=quiet)
    fam = make_family(family, link)
    design = lformula(formula, data, weights=weights, offset=offset, contrasts=contrasts, na_action=na_action,
                      family=fam)
    _check_nagq(nagq, design)
    g = fit_glmm_design(design, family=fam, nagq=nagq, control=control, start=start)
    if not quiet:
        warn_fit(design.fixed.dropped, design.frame.n_dropped, g.is_singular, "g")
    return g
