"""One model per response on one design: ``fit_many`` (the genomics / many-metrics case).

The design (model frame, X, the grouping factors, Z) and the response-independent cross-products are
built once; each response adds only its own parts (``Z'y``, ``X'y``, ``y'y``).  Responses with missing
values are grouped by their pattern of missing rows, and each pattern gets its own design (the rows an
``lf.lmer`` fit of that response would use), so every response is fitted to exactly the rows a separate
fit would use.

Two ways to find theta:

``method="profile"`` (the default for one random-effects term)
    The profiled objective is evaluated from sums over *level patterns* (:class:`SingleTermProfile`): an
    evaluation costs a few small array operations instead of a pass over the levels, and BOBYQA (lme4's
    optimizer, with lmmflow's convergence check and Newton polish) runs on it.  Estimates agree with
    separate ``lf.lmer`` fits to optimizer precision: ``lf.lmer`` also runs BOBYQA for one term (its
    ``optimizer="auto"``) on the engine's evaluation of the same objective; the two evaluations differ by
    rounding (about 1e-14 relative), which is enough for the two optimizer runs to stop at slightly
    different points of a flat optimum.  Tested: objective within 1e-8, fixed effects and sigma within
    1e-6, standard errors within 1e-5 relative, theta within 2e-5.
``method="exact"`` (the default otherwise)
    Each response is fitted as ``lf.lmer`` fits it (same optimizer, same start, the same cross-products up
    to rounding, so the same numbers to about 1e-10), without rebuilding the design.

Responses are cut into chunks of a fixed size, so the results are the same for any ``n_jobs`` and on a
Dask cluster (``client=``); the chunks run through :func:`lmmflow.inference.parallel.parallel_map`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..control import LmerControl
from ..core import CrossProducts, DevianceFunction
from ..design import ModelDesign, as_pandas, lformula
from ..formula import parse_formula
from ..optim import OptSummary, optimize_theta
from .single_term import SingleTermProfile

__all__ = ["CHUNK", "ManyFits", "ResponseFit", "fit_many"]

CHUNK = 64  # responses per task (fixed, so results do not depend on n_jobs)
_Y = "__lmmflow_response__"


@dataclass(frozen=True)
class ResponseFit:
    """The light record of one response's fit.

    Attributes
    ----------
    response : str
    nobs : int
    objective : float
        REML criterion or deviance.
    sigma : float
    theta : numpy.ndarray
    beta, std_errors : numpy.ndarray
        Fixed effects and their standard errors (in ``ManyFits.fixef_names`` order).
    converged : bool
    evaluations : int
    message : str
        Why the fit failed or a note from the optimizer; empty otherwise.
    """

    response: str
    nobs: int
    objective: float
    sigma: float
    theta: np.ndarray
    beta: np.ndarray
    std_errors: np.ndarray
    converged: bool
    evaluations: int
    message: str = ""


@dataclass
class _Payload:
    """What every chunk of one missingness group needs (sent once per worker)."""

    method: str
    reml: bool
    control: LmerControl
    profile: SingleTermProfile | None = None
    design: ModelDesign | None = None
    cp: CrossProducts | None = None
    offset: np.ndarray | None = None
    batched: bool = False  # profile method: minimize the chunk's responses together (batched Newton)


def _fail(name: str, nobs: int, p: int, k: int, msg: str) -> ResponseFit:
    nan = np.full(p, np.nan)
    return ResponseFit(name, nobs, math.nan, math.nan, np.full(k, np.nan), nan, nan.copy(), False, 0, msg)


def _profile_chunk(pl: _Payload, chunk: tuple[list[str], dict[str, np.ndarray]]) -> list[ResponseFit]:
    """Fit a chunk of responses on the pattern-compressed objective (module level: it pickles).

    The chunk carries the responses' sums (:meth:`SingleTermProfile.response_sums`), not the responses.
    """
    from ..optim.threads import blas_threads

    names, sums = chunk
    with blas_threads(getattr(pl.control, "blas_threads", "auto")):  # small BLAS calls: one thread each
        return _profile_fits(pl, names, sums)


class _CountingBatch:
    """The chunk's batched objective, counting the evaluations of each response."""

    def __init__(self, prof: SingleTermProfile, R: int):
        self.prof = prof
        self.evaluations = np.zeros(R, dtype=np.int64)

    def objective(self, theta: np.ndarray, rep: np.ndarray) -> np.ndarray:
        np.add.at(self.evaluations, rep, 1)
        return self.prof.objective_many(theta, rep)


def _profile_fits(pl: _Payload, names: list[str], sums: dict[str, np.ndarray]) -> list[ResponseFit]:
    from ..optim.batched import batched_newton

    prof = pl.profile
    assert prof is not None
    prof.use(sums)
    ctl = pl.control
    theta0 = np.asarray(ctl.theta0, dtype=float) if ctl.theta0 is not None else np.where(prof.lower == 0, 1.0, 0.0)
    done: dict[int, tuple[np.ndarray, int]] = {}
    if pl.batched:
        # all the chunk's responses at once, from lme4's start; a response the damped Newton iteration
        # cannot finish (a boundary optimum, a failed factorization) is refitted with BOBYQA below
        batch = _CountingBatch(prof, len(names))
        theta, _, ok = batched_newton(batch, theta0, prof.lower, len(names))
        done = {j: (theta[j], int(batch.evaluations[j])) for j in np.flatnonzero(ok)}
    out = []
    for j, name in enumerate(names):
        try:
            if j in done:
                th, evals, converged, msg = done[j][0], done[j][1], True, ""
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    opt = optimize_theta(lambda x, j=j: prof.objective(x, j), theta0, prof.lower, control=ctl)
                th, evals, converged = opt.theta, int(opt.evaluations), bool(opt.converged)
                msg = "; ".join(m for m in opt.messages if "converge" in m)
            est = prof.estimates(th, j)
            se = np.sqrt(np.diag(est["vcov"]))  # type: ignore[arg-type]
            out.append(ResponseFit(name, prof.n, float(est["objective"]), float(est["sigma"]),  # type: ignore[arg-type]
                                   np.array(th, dtype=float), np.asarray(est["beta"]), se, converged, evals, msg))
        except Exception as exc:  # noqa: BLE001 - a failed response is recorded, the others go on
            out.append(_fail(name, prof.n, prof.px, len(prof.lower), f"{type(exc).__name__}: {exc}"))
    return out


def _exact_fit(pl: _Payload, y: np.ndarray) -> Any:
    from ..api import fit_design

    design, cp = pl.design, pl.cp
    assert design is not None and cp is not None
    return fit_design(design.with_response(y), reml=pl.reml, control=pl.control,
                      cross=cp.with_response(design.less_offset(y), design.X))


def _exact_chunk(pl: _Payload, chunk: tuple[list[str], np.ndarray]) -> list[ResponseFit]:
    """Fit a chunk of responses exactly as ``lf.lmer`` would (module level: it pickles)."""
    names, Y = chunk
    design = pl.design
    assert design is not None
    out = []
    for j, name in enumerate(names):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = _exact_fit(pl, Y[:, j])
            msg = "; ".join(s for s in m.optinfo.messages if "converge" in s)
            out.append(ResponseFit(name, m.nobs, m.objective, m.sigma, m.theta, m.fixef.to_numpy(),
                                   m.std_errors.to_numpy(), bool(m.optinfo.converged), int(m.optinfo.evaluations),
                                   msg))
        except Exception as exc:  # noqa: BLE001
            k = design.param_map().n_params
            out.append(_fail(name, design.n, design.X.shape[1], k, f"{type(exc).__name__}: {exc}"))
    return out


@dataclass
class _Group:
    """Responses that share a pattern of missing rows, and their design."""

    names: list[str]
    design: ModelDesign
    cp: CrossProducts
    method: str
    optimizer: str = ""


class ManyFits:
    """Fits of one model to many responses (from :func:`fit_many`).

    Attributes
    ----------
    fits : pandas.DataFrame
        One row per response (indexed by response): nobs, objective, sigma, converged, evaluations,
        message, and ``theta_1``... .  For GLMMs (``family=``): nobs, loglik, deviance (-2 log L, glmer's
        summary), aic, bic, converged, singular, evaluations, nagq, message, warnings, ``theta_1``... and the
        SDs and correlations with lme4's names (``sd_(Intercept)|id``).
    fixef, std_errors : pandas.DataFrame
        Responses x fixed-effect terms.
    records : dict of ResponseFit
    fixef_names : list of str
    method : str
        ``"profile"``, ``"exact"`` or ``"mixed"`` (per missingness group); ``"glmer"`` for GLMMs.
    kind : str
        ``"lmm"`` or ``"glmm"``.
    family : family object or None
        The GLMM family (None for linear mixed models).

    Examples
    --------
    >>> import numpy as np, lmmflow as lf
    >>> df = lf.load_dataset("sleepstudy")
    >>> df["R2"] = df["Reaction"] + np.random.default_rng(1).normal(0, 10, len(df))
    >>> mf = lf.fit_many("Reaction ~ Days + (Days | Subject)", df, ["Reaction", "R2"], progress=False)
    >>> mf.fixef.round(2).loc["Reaction"].to_dict()
    {'(Intercept)': 251.41, 'Days': 10.47}
    >>> round(mf["Reaction"].objective, 2)
    1743.63
    """

    def __init__(self, records: list[ResponseFit], groups: list[_Group], fixef_names: list[str],
                 table: pd.DataFrame, reml: bool, control: LmerControl, formula: str, family: Any = None):
        self.records = {r.response: r for r in records}
        self._groups = groups
        self._table = table  # the responses, as given (not copied): read again by result()
        self.fixef_names = list(fixef_names)
        self.reml = reml
        self.control = control
        self.formula = formula
        self.family = family
        methods = {g.method for g in groups}
        self.method = methods.pop() if len(methods) == 1 else "mixed"

    @property
    def kind(self) -> str:
        """``"lmm"`` (``lf.lmer`` fits) or ``"glmm"`` (``lf.glmer`` fits, ``fit_many(..., family=)``)."""
        return "lmm" if self.family is None else "glmm"

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Any:
        return iter(self.records)

    @property
    def responses(self) -> list[str]:
        """Response names in order."""
        return list(self.records)

    @property
    def fits(self) -> pd.DataFrame:
        """One row per response: nobs, objective, sigma, converged, evaluations, message, theta_1..."""
        if self.kind == "glmm":
            return self._glmm_fits()
        rows = []
        for r in self.records.values():
            row = {"nobs": r.nobs, "objective": r.objective, "sigma": r.sigma, "converged": r.converged,
                   "evaluations": r.evaluations, "message": r.message}
            row.update({f"theta_{i + 1}": v for i, v in enumerate(r.theta)})
            rows.append(row)
        return pd.DataFrame(rows, index=pd.Index(self.responses, name="response"))

    def _glmm_fits(self) -> pd.DataFrame:
        from .many_glmm import _sdcor_names

        sd_names = _sdcor_names(self._groups[0].design) if self._groups else []
        npar = len(self.fixef_names) + len(sd_names)
        rows = []
        for r in self.records.values():
            row: dict[str, Any] = {"nobs": r.nobs, "loglik": -0.5 * r.objective, "deviance": r.objective,
                                   "aic": r.objective + 2.0 * npar, "bic": r.objective + math.log(r.nobs) * npar,
                                   "converged": r.converged, "singular": r.singular,  # type: ignore[attr-defined]
                                   "evaluations": r.evaluations, "nagq": r.nagq,  # type: ignore[attr-defined]
                                   "message": r.message,
                                   "warnings": "; ".join(r.warnings)}  # type: ignore[attr-defined]
            row.update({f"theta_{i + 1}": v for i, v in enumerate(r.theta)})
            row.update(dict(zip(sd_names, r.sdcor)))  # type: ignore[attr-defined]
            rows.append(row)
        return pd.DataFrame(rows, index=pd.Index(self.responses, name="response"))

    @property
    def fixef(self) -> pd.DataFrame:
        """Fixed-effect estimates, responses x terms."""
        return pd.DataFrame(np.vstack([r.beta for r in self.records.values()]),
                            index=pd.Index(self.responses, name="response"), columns=self.fixef_names)

    @property
    def std_errors(self) -> pd.DataFrame:
        """Standard errors of the fixed effects, responses x terms."""
        return pd.DataFrame(np.vstack([r.std_errors for r in self.records.values()]),
                            index=pd.Index(self.responses, name="response"), columns=self.fixef_names)

    def tidy(self) -> pd.DataFrame:
        """A long table: response, term, estimate, std_error, statistic (t), plus sigma and objective.

        For GLMMs: statistic is glmer's z value, with its two-sided normal ``p_value``, plus loglik, deviance
        and converged.
        """
        est, se = self.fixef, self.std_errors
        long = est.stack(future_stack=True).rename("estimate").to_frame()
        long["std_error"] = se.stack(future_stack=True).to_numpy()
        long["statistic"] = long["estimate"] / long["std_error"]
        if self.kind == "glmm":
            from scipy import stats

            long["p_value"] = 2.0 * stats.norm.sf(np.abs(long["statistic"].to_numpy()))
        long = long.reset_index().rename(columns={"level_1": "term"})
        long.columns = ["response", "term", *long.columns[2:]]
        cols = ["loglik", "deviance", "converged"] if self.kind == "glmm" else ["sigma", "objective", "converged"]
        fits = self.fits[cols]
        return long.merge(fits, left_on="response", right_index=True, how="left")

    def _group_of(self, name: str) -> Any:
        for g in self._groups:
            if name in g.names:
                return g
        raise KeyError(f"{name!r} is not one of the responses")

    def result(self, name: str) -> Any:
        """The full :class:`lmmflow.LmerResult` of one response, rebuilt on demand at its theta.

        No optimization is run: the design and cross-products are reused and the estimates are
        computed at the recorded theta (so they match the record to rounding).  For GLMMs the
        :class:`lmmflow.GlmerResult` is the response's fit run again from the start it had (lme4's, or the
        warm start), so its estimates are the record's.
        """
        from ..results.model import LmerResult

        g = self._group_of(name)
        rec = self.records[name]
        if self.kind == "glmm":
            from .many_glmm import _glmm_result

            return _glmm_result(g, rec, self._table[name], self.family, self.control)  # type: ignore[arg-type]
        y = self._table[name].to_numpy(dtype=float)[g.design.frame.rows]
        cp = g.cp.with_response(g.design.less_offset(y), g.design.X)
        devfun = DevianceFunction(cp, reml=self.reml)
        if not np.all(np.isfinite(rec.theta)):
            raise ValueError(f"the fit of {name!r} failed: {rec.message}")
        opt = OptSummary(optimizer=self.control.optimizer if g.method == "exact" else f"{g.optimizer} (fit_many)",
                         theta0=devfun.theta0, theta=rec.theta.copy(), fmin=rec.objective,
                         evaluations=rec.evaluations, returnvalue="fit_many", converged=rec.converged,
                         messages=(rec.message,) if rec.message else ())
        return LmerResult(g.design.with_response(y), devfun, opt, self.control, data_name=name)

    def __getitem__(self, name: str) -> Any:
        return self.result(name)

    def __repr__(self) -> str:
        bad = sum(not r.converged for r in self.records.values())
        fam = "" if self.family is None else f" ({self.family.name}, {self.family.link} link)"
        return (f"ManyFits: {len(self)} responses, formula {self.formula!r}, method {self.method!r}{fam}, "
                f"{len(self._groups)} missingness pattern(s), {bad} not converged")


def _responses_table(data: pd.DataFrame, responses: Any) -> pd.DataFrame:
    if isinstance(responses, str):
        responses = [responses]
    if isinstance(responses, pd.DataFrame):
        if len(responses) != len(data):
            raise ValueError(f"responses has {len(responses)} rows; data has {len(data)}")
        return responses.set_axis(data.index, axis=0).rename(columns=str)  # by position
    if isinstance(responses, np.ndarray):
        arr = responses if responses.ndim == 2 else responses[:, None]
        if arr.shape[0] != len(data):
            raise ValueError(f"responses has {arr.shape[0]} rows; data has {len(data)}")
        return pd.DataFrame(arr, index=data.index, columns=[f"y{i + 1}" for i in range(arr.shape[1])])
    names = list(responses)
    missing = [c for c in names if c not in data.columns]
    if missing:
        raise ValueError(f"response column(s) {missing} are not in the data")
    if len(set(names)) != len(names):
        raise ValueError("responses has duplicate names")
    return data[names]


def _pick_method(method: str, design: ModelDesign) -> str:
    if method not in ("auto", "profile", "exact"):
        raise ValueError(f"method={method!r}: use 'auto', 'profile' or 'exact'")
    single = len(design.terms) == 1
    if method == "profile" and not single:
        raise ValueError("method='profile' needs a model with one random-effects term; use 'exact'")
    if not design.param_map().identity:  # the pattern profile works on lme4's theta
        if method == "profile":
            raise ValueError(f"method='profile' needs lme4's unstructured parametrization; this model has "
                             f"{'/'.join(t.kind for t in design.terms if t.kind)} terms: use 'exact'")
        return "exact"
    return "profile" if (method == "auto" and single) or method == "profile" else "exact"


def fit_many(formula: str, data: Any, responses: Any, reml: bool = True, n_jobs: int = 1, client: Any = None,
             progress: bool = True, control: LmerControl | None = None, method: str = "auto",
             weights: Any = None, offset: Any = None, family: Any = None, link: str | None = None,
             nagq: int = 1, warm_start: bool = False) -> ManyFits:
    """Fit the same mixed model to many responses on one design (``lf.lmer``, or ``lf.glmer`` with ``family=``).

    Parameters
    ----------
    formula : str
        An lme4 formula; its left-hand side is replaced by each response in turn (any name will do,
        e.g. ``"y ~ time + (1 | id)"``).
    data : pandas.DataFrame, polars.DataFrame or dict
        The design's columns (and the response columns, when ``responses`` names them).
    responses : list of str, pandas.DataFrame or numpy.ndarray
        Column names of ``data``; or a frame / 2-D array with one row per row of ``data`` and one column
        per response.  Responses with missing values are grouped by their pattern of missing rows; each
        group is fitted on its own design, the rows a separate ``lf.lmer`` fit would use.
    reml : bool
    n_jobs : int
        Local processes (1: in this process; -1: one per core).
    client : dask.distributed.Client, optional
        Run the chunks of responses on a Dask cluster instead.
    progress : bool
        Show a progress bar (tqdm).
    control : LmerControl, optional
        For ``method="exact"`` as in ``lf.lmer``; for ``"profile"`` its tolerances, with BOBYQA as the
        optimizer unless it names another derivative-free one (``"auto"``, lmmflow's default, also
        takes BOBYQA for one random-effects term).
    method : {"auto", "profile", "exact"}
        See the module notes: ``"auto"`` uses ``"profile"`` for one random-effects term, else ``"exact"``.
    weights, offset : str or array-like, optional
        As in ``lf.lmer`` (shared by all responses).  With ``family="binomial"``, ``weights=`` are the
        trials of proportions, as in ``lf.glmer``.
    family : {"binomial", "poisson"} or family object, optional
        Fit each response as ``lf.glmer(formula, data, family=, link=, nagq=)`` does (0/1, boolean, two-level
        categorical or proportion responses; counts): see :mod:`lmmflow.scale.many_glmm`.  ``reml`` and
        ``method`` do not apply.  None (default): linear mixed models.
    link : str, optional
        The family's link (``None``: canonical).
    nagq : int
        As in ``lf.glmer``: 1 (Laplace), 0, or up to 25 quadrature points for one scalar random effect.
    warm_start : bool
        GLMMs only: start each fit at the previous response's (theta, beta) within a chunk, skipping lme4's
        first stage (about 10% less CPU, estimates equal to the optimizer's tolerance); the default is
        lme4's start, so each record equals a separate ``lf.glmer`` fit to rounding.

    Returns
    -------
    ManyFits

    Examples
    --------
    >>> import numpy as np, lmmflow as lf
    >>> df = lf.load_dataset("sleepstudy")
    >>> Y = np.random.default_rng(0).normal(300, 50, (len(df), 3))
    >>> mf = lf.fit_many("y ~ Days + (1 | Subject)", df, Y, progress=False)
    >>> mf.fits.shape[0], list(mf.fixef.columns)
    (3, ['(Intercept)', 'Days'])

    Binary responses (each fit as ``lf.glmer`` fits it):

    >>> rng = np.random.default_rng(2)
    >>> B = (rng.random((len(df), 2)) < 0.4).astype(float)
    >>> gf = lf.fit_many("y ~ Days + (1 | Subject)", df, B, family="binomial", progress=False)
    >>> gf.kind, list(gf.tidy().columns[:6])
    ('glmm', ['response', 'term', 'estimate', 'std_error', 'statistic', 'p_value'])
    """
    from ..inference.parallel import parallel_map

    df = as_pandas(data)
    table = _responses_table(df, responses)
    if table.shape[1] == 0:
        raise ValueError("no responses to fit")
    rhs = formula.split("~", 1)[1] if "~" in formula else formula
    parse_formula(f"{_Y} ~ {rhs}")  # fail early on a bad formula
    if _Y in df.columns:
        raise ValueError(f"the data has a column named {_Y!r}, which fit_many uses internally")
    if family is not None:
        if method != "auto":
            raise ValueError(f"method={method!r} is for linear mixed models; with family= each response is fitted "
                             "as lf.glmer fits it (leave method at 'auto')")
        return _fit_many_glmm(formula, rhs, df, table, family, link, nagq, n_jobs, client, progress, control,
                              weights, offset, warm_start)
    if link is not None or nagq != 1 or warm_start:
        raise ValueError("link=, nagq= and warm_start= are for GLMMs: give family='binomial' or 'poisson' too")
    control = control or LmerControl()
    na = table.isna().to_numpy()
    keys = [np.packbits(na[:, j]).tobytes() for j in range(na.shape[1])]
    order: dict[bytes, list[str]] = {}
    for key, name in zip(keys, table.columns):
        order.setdefault(key, []).append(str(name))
    groups: list[_Group] = []
    records: dict[str, ResponseFit] = {}
    bar = _progress(table.shape[1], progress)
    fixef_names: list[str] | None = None
    try:
        for names in order.values():
            work = df.assign(**{_Y: table[names[0]].to_numpy()})
            design = lformula(f"{_Y} ~ {rhs}", work, weights=weights, offset=offset)
            if fixef_names is None:
                fixef_names = list(design.fixed.names)
            elif list(design.fixed.names) != fixef_names:
                raise ValueError("responses with different missing rows lead to different fixed-effect columns "
                                 f"({fixef_names} vs {list(design.fixed.names)}); fit them separately")
            from ..fitting import cross_products as _cross_products

            cp = _cross_products(design)
            meth = _pick_method(method, design)
            rows = design.frame.rows
            Y = table[names].to_numpy(dtype=float)
            if len(rows) < len(Y):
                Y = Y[rows]
            if not np.isfinite(Y).all():
                raise ValueError("responses must be finite where they are not missing")
            Yeng = design.less_offset(Y)
            derivative_free = control.optimizer in ("bobyqa", "newuoa", "cobyqa", "nelder-mead")
            ctl = control if derivative_free else control.replace(optimizer="bobyqa")
            label = ("newton" if not derivative_free else ctl.optimizer) if meth == "profile" else control.optimizer
            groups.append(_Group(names=names, design=design, cp=cp, method=meth, optimizer=label))
            if meth == "profile":
                # the responses' sums are computed here (one sparse product per chunk) and are small to
                # send; the processes that optimize get the pattern sums, not the rows
                from ..optim.threads import blas_threads

                prof = SingleTermProfile(cp, design.X, reml=reml)
                with blas_threads(getattr(ctl, "blas_threads", "auto")):
                    chunks = [(names[s:s + CHUNK], prof.response_sums(Yeng[:, s:s + CHUNK]))
                              for s in range(0, len(names), CHUNK)]
                payload = _Payload(method=meth, reml=reml, control=ctl, profile=prof.for_workers(),
                                   batched=not derivative_free)
                func = _profile_chunk
            else:
                payload = _Payload(method=meth, reml=reml, control=control, design=design, cp=cp,
                                   offset=design.frame.offset)
                func = _exact_chunk
                chunks = [(names[s:s + CHUNK], np.ascontiguousarray(Y[:, s:s + CHUNK]))
                          for s in range(0, len(names), CHUNK)]
            results = parallel_map(func, chunks, n_jobs=n_jobs, client=client, payload=payload,
                                   on_result=lambda i, res: bar.update(len(res)) if bar is not None else None)
            for res in results:
                for rec in res:
                    records[rec.response] = rec
    finally:
        if bar is not None:
            bar.close()
    ordered = [records[str(nm)] for nm in table.columns]
    return ManyFits(ordered, groups, fixef_names or [], table, reml, control, formula)


def _fit_many_glmm(formula: str, rhs: str, df: pd.DataFrame, table: pd.DataFrame, family: Any, link: str | None,
                   nagq: int, n_jobs: int, client: Any, progress: bool, control: Any, weights: Any, offset: Any,
                   warm_start: bool) -> ManyFits:
    from .many_glmm import fit_many_glmm

    bar = _progress(table.shape[1], progress)
    try:
        records, groups, names, fam = fit_many_glmm(rhs, df, table, family, link, nagq, n_jobs, client, bar,
                                                    control, weights, offset, warm_start)
    finally:
        if bar is not None:
            bar.close()
    ctl = LmerControl(**control) if isinstance(control, dict) else (control or LmerControl())
    return ManyFits(records, groups, names, table, False, ctl, formula, family=fam)  # type: ignore[arg-type]


def _progress(total: int, show: bool, desc: str = "fit_many", unit: str = "response") -> Any:
    """A tqdm bar over ``total`` items, or None when not shown (also used by :func:`lmmflow.power`)."""
    if not show:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, desc=desc, unit=unit)

