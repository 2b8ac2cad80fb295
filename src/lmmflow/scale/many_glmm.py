"""``fit_many(..., family=)``: one GLMM (lme4's ``glmer``) per response on one design.

What does not depend on the response is built once per pattern of missing responses: the parsed formula, the
model frame, X, the random-effects terms (Z, the level codes, the lambda layout) and the offset.  Each response
then adds only its own part: the family reads it as ``lf.glmer`` reads a response
(:func:`lmmflow.design.response.glm_response`, with the same checks and errors naming the column), and the fit is
``lf.glmer``'s (:class:`~lmmflow.core.pirls.GlmmObjective` and :func:`~lmmflow.optim.glmm.fit_glmm`, lme4's two
stages), so each record equals a separate ``lf.glmer`` fit of that response.

``warm_start=True`` starts each fit at the previous converged, non-singular response's (theta, beta) in the same
chunk, which skips lme4's first stage (theta with beta inside PIRLS; chunks have a fixed size, so the results
still do not depend on ``n_jobs`` or on a Dask cluster).  The optimum is the same; only the path to it changes,
so the estimates agree with lme4's start to the optimizer's tolerance (about 1e-7) rather than to rounding.
Measured on 200 binary responses (20 units x 10 waves, ``y ~ wave + (1 | unit)``, see docs/scaling.md) it
saved about 10% of the CPU time, so the default is lme4's start.

A response that cannot be read or fitted is recorded (``converged`` False, NaN estimates, the error in
``message``), not raised; warnings of a fit (convergence, singular fit, non-integer counts) are kept in the
record's ``warnings``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from ..control import LmerControl
from ..design import ModelDesign, lformula
from ..design.response import GlmResponse, glm_response

__all__ = ["CHUNK", "GlmmResponseFit", "fit_many_glmm"]

_Y = "__lmmflow_response__"
CHUNK = 16  # responses per task: a glmer fit takes milliseconds to seconds, so smaller chunks than an LMM's 64


@dataclass(frozen=True)
class GlmmResponseFit:
    """The light record of one response's GLMM fit (``ManyFits.records`` of ``fit_many(..., family=)``).

    Attributes
    ----------
    response : str
    nobs : int
    objective : float
        -2 log-likelihood (glmer's ``deviance`` in its summary).
    theta, beta, std_errors : numpy.ndarray
        Covariance parameters (lme4's order), fixed effects and their Hessian-based standard errors.
    sdcor : numpy.ndarray
        The random effects' SDs and correlations, theta's order (lme4's ``sd_``/``cor_`` names).
    converged, singular : bool
    evaluations : int
    nagq : int
    message : str
        Why the fit failed; empty otherwise.
    warnings : tuple of str
        The warnings ``lf.glmer`` would have shown for this response.

    Examples
    --------
    >>> import lmmflow as lf
    >>> df = lf.load_dataset("cbpp")
    >>> df["p"] = df["incidence"] / df["size"]
    >>> mf = lf.fit_many("y ~ period + (1 | herd)", df, ["p"], family="binomial", weights="size", progress=False)
    >>> rec = mf.records["p"]
    >>> round(rec.objective, 2), rec.nagq, rec.converged
    (184.05, 1, True)
    """

    response: str
    nobs: int
    objective: float
    theta: np.ndarray
    beta: np.ndarray
    std_errors: np.ndarray
    sdcor: np.ndarray
    converged: bool
    evaluations: int
    nagq: int
    singular: bool = False
    message: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)
    start: dict[str, np.ndarray] | None = field(default=None, repr=False, compare=False)

    @property
    def sigma(self) -> float:
        """1, as glmer's ``sigma`` for the binomial and Poisson families."""
        return 1.0 if math.isfinite(self.objective) else math.nan

    @property
    def loglik(self) -> float:
        """Log-likelihood at the optimum."""
        return -0.5 * self.objective


@dataclass
class _GlmmGroup:
    """Responses that share a pattern of missing rows, and their design (a placeholder response)."""

    names: list[str]
    design: ModelDesign
    method: str = "glmer"
    optimizer: str = "bobyqa"


@dataclass
class _Payload:
    """What every chunk of one group needs (sent once per worker)."""

    design: ModelDesign
    family: Any
    nagq: int
    control: LmerControl
    warm_start: bool
    sd_layout: list[tuple[slice, np.ndarray, np.ndarray, int]]


def _read(design: ModelDesign, family: Any, name: str, values: pd.Series) -> tuple[pd.Series, GlmResponse]:
    """One response on the group's rows, read by the family as ``lformula(..., family=)`` reads it."""
    frame = design.frame
    col = values.iloc[frame.rows] if len(values) != len(frame.rows) else values  # the rows used (or those only)
    return col, glm_response(name, pd.DataFrame({name: col.reset_index(drop=True)}), family, frame.weights)


def _response_design(design: ModelDesign, family: Any, name: str, values: pd.Series) -> ModelDesign:
    """The group's design with one response read by the family (as ``lformula(..., family=)`` reads it)."""
    frame = design.frame
    col, resp = _read(design, family, name, values)
    col = col.set_axis(frame.data.index)
    parsed = replace(design.formula, response=name,
                     formula=f"{_quote(name)} ~ {design.formula.formula.split('~', 1)[1].strip()}")
    data = frame.data.drop(columns=[_Y]).assign(**{name: col}) if _Y in frame.data.columns else frame.data
    return replace(design, formula=parsed, frame=replace(frame, weights=resp.weights, data=data), y=resp.y,
                   response=resp)


def _quote(name: str) -> str:
    return name if name.isidentifier() else f"`{name}`"


def _fail(name: str, design: ModelDesign, nagq: int, msg: str, notes: tuple[str, ...] = ()) -> GlmmResponseFit:
    p, k = design.X.shape[1], design.param_map().n_params
    nan = np.full(p, np.nan)
    return GlmmResponseFit(name, design.n, math.nan, np.full(k, np.nan), nan, nan.copy(), np.full(k, np.nan),
                           False, 0, nagq, False, msg, notes)


def _glmm_chunk(pl: _Payload, chunk: tuple[list[str], list[pd.Series]]) -> list[GlmmResponseFit]:
    """Fit a chunk of responses as ``lf.glmer`` would (module level: it pickles for processes and Dask)."""
    from ..core.pirls import GlmmObjective
    from ..inference.intervals import sdcor_from_theta
    from ..optim.glmm import fit_glmm
    from ..optim.threads import blas_threads

    names, columns = chunk
    design, out = pl.design, []
    blocks, X = design.blocks(), design.X
    start: dict[str, np.ndarray] | None = None
    with blas_threads(pl.control.blas_threads):  # as glmer's fit: PIRLS's small products, one thread
        for name, values in zip(names, columns):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    resp = _read(design, pl.family, name, values)[1]
                    obj = GlmmObjective(blocks, X, resp.y, pl.family, prior_weights=resp.weights,
                                        offset=design.frame.offset, nagq=pl.nagq, trials=resp.trials)
                    fit = fit_glmm(obj, nagq=pl.nagq, control=pl.control, start=start)
                except Exception as exc:  # noqa: BLE001 - a failed response is recorded, the others go on
                    out.append(_fail(name, design, pl.nagq, f"{type(exc).__name__}: {exc}",
                                     tuple(str(w.message) for w in caught)))
                    continue
            notes = [str(w.message) for w in caught]
            if fit.singular:
                notes.append("boundary (singular) fit: a variance is (nearly) zero or a correlation is +/-1")
            se = np.sqrt(np.diag(np.asarray(fit.vcov, dtype=float)))
            theta = np.asarray(fit.theta, dtype=float)
            sdcor = np.asarray(sdcor_from_theta(pl.sd_layout, theta, 1.0), dtype=float).reshape(-1)
            out.append(GlmmResponseFit(name, len(resp.y), float(fit.objective), theta,
                                       np.asarray(fit.beta, dtype=float), se, sdcor, bool(fit.converged),
                                       int(sum(s.evaluations for s in fit.stages)), pl.nagq, bool(fit.singular),
                                       "", tuple(notes), start=start))
            if pl.warm_start and fit.converged and not fit.singular:
                start = {"theta": theta.copy(), "beta": np.asarray(fit.beta, dtype=float).copy()}
    return out


def _sd_layout(design: ModelDesign) -> list[tuple[slice, np.ndarray, np.ndarray, int]]:
    from ..core.crossprod import theta_layout

    blocks = design.blocks()
    slices, positions, _ = theta_layout(blocks)
    return [(sl, r, c, b.p) for sl, (r, c), b in zip(slices, positions, blocks)]


def _sdcor_names(design: ModelDesign) -> list[str]:
    """lme4's names of the SDs and correlations (``sd_(Intercept)|id``...), theta's order."""
    from ..inference.intervals import variance_parameter_names

    return variance_parameter_names(SimpleNamespace(design=design))  # type: ignore[arg-type]


def fit_many_glmm(rhs: str, df: pd.DataFrame, table: pd.DataFrame, family: Any, link: str | None, nagq: int,
                  n_jobs: int, client: Any, bar: Any, control: LmerControl | None, weights: Any, offset: Any,
                  warm_start: bool, chunk: int = CHUNK
                  ) -> tuple[list[GlmmResponseFit], list[_GlmmGroup], list[str], Any]:
    """The GLMM branch of :func:`lmmflow.fit_many` (its arguments checked there): records, groups, names, family."""
    from ..glmm_api import _check_nagq, make_family
    from ..inference.parallel import parallel_map

    fam = make_family(family, link)
    if isinstance(control, dict):
        control = LmerControl(**control)
    control = control or LmerControl()
    na = table.isna().to_numpy()
    order: dict[bytes, list[str]] = {}
    for j, name in enumerate(table.columns):
        order.setdefault(np.packbits(na[:, j]).tobytes(), []).append(str(name))
    groups: list[_GlmmGroup] = []
    records: dict[str, GlmmResponseFit] = {}
    fixef_names: list[str] | None = None
    for names in order.values():
        # a placeholder response with the group's missing rows, valid for both families (0 where present):
        # the frame, X and Z are the ones lf.glmer builds for each of the group's responses
        holder = np.where(table[names[0]].isna().to_numpy(), np.nan, 0.0)
        design = lformula(f"{_Y} ~ {rhs}", df.assign(**{_Y: holder}), weights=weights, offset=offset, family=fam)
        if fixef_names is None:
            fixef_names = list(design.fixed.names)
        elif list(design.fixed.names) != fixef_names:
            raise ValueError("responses with different missing rows lead to different fixed-effect columns "
                             f"({fixef_names} vs {list(design.fixed.names)}); fit them separately")
        nq = _check_nagq(nagq, design)
        groups.append(_GlmmGroup(names=names, design=design))
        payload = _Payload(design=design, family=fam, nagq=nq, control=control, warm_start=warm_start,
                           sd_layout=_sd_layout(design))
        rows = design.frame.rows
        cols = [table[nm].iloc[rows] if len(rows) < len(table) else table[nm] for nm in names]  # small to send
        chunks = [(names[s:s + chunk], cols[s:s + chunk]) for s in range(0, len(names), chunk)]
        results = parallel_map(_glmm_chunk, chunks, n_jobs=n_jobs, client=client, payload=payload,
                               on_result=lambda i, res: bar.update(len(res)) if bar is not None else None)
        for res in results:
            for rec in res:
                records[rec.response] = rec
    return [records[str(nm)] for nm in table.columns], groups, fixef_names or [], fam


def _glmm_result(group: _GlmmGroup, rec: GlmmResponseFit, values: pd.Series, family: Any, control: LmerControl,
                ) -> Any:
    """The full :class:`lmmflow.GlmerResult` of one response: its fit run again from the start it had (lme4's, or
    the warm start), so the result is the recorded fit itself, not a second optimization from the optimum (which
    can end elsewhere within the optimizer's tolerance)."""
    from ..glmm_api import fit_glmm_design

    if not np.all(np.isfinite(rec.theta)):
        raise ValueError(f"the fit of {rec.response!r} failed: {rec.message}")
    d = _response_design(group.design, family, rec.response, values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_glmm_design(d, family=family, nagq=rec.nagq, control=control,
                               start=rec.start, data_name=rec.response)
