"""Power by simulation (simr's ``powerSim`` and ``powerCurve``): simulate, refit, test, count.

From a fitted model (simr's ``powerSim(fit)``: the estimates are the truth) or from a formula, a design
and parameters (simr's ``makeLmer``), ``nsim`` responses are drawn, the model is refitted to each, the
chosen test is run, and the share of p-values below ``alpha`` is the power, with an exact
(Clopper-Pearson) binomial interval as R's ``binom.test`` gives it.  Failed fits count as non-rejections
(simr: their p-value is missing), and are reported.

Refits reuse the design: the responses change, X and Z do not.  With one random-effects term and the
Satterthwaite t test (the default), the fits run through :func:`lmmflow.fit_many`'s pattern-compressed
objective and the tests through :func:`lmmflow.planning.fast.satterthwaite_many`, all responses at once;
the likelihood-ratio test is two ``fit_many`` runs (ML, with and without the term, as lme4's ``anova``
refits); Kenward-Roger, a callable test and models with several random-effects terms refit each response
as ``lf.lmer`` would (on the shared cross-products) and test the full fit, in chunks run in parallel
(``n_jobs``, or a Dask ``client``).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..control import LmerControl
from ..design import as_pandas, lformula
from ..formula import parse_formula
from .designs import design_rows, resolve_along
from .result import PowerResult

__all__ = ["power"]

METHODS = {"satterthwaite": "Satterthwaite t test (lmerTest)", "kr": "Kenward-Roger t test (pbkrtest)",
           "lrt": "Likelihood-ratio test (ML refits, lme4's anova)"}
CHUNK = 32  # responses per task of the general path (fixed: results do not depend on n_jobs)


def _params_of(params: Any, design: Any) -> tuple[np.ndarray, np.ndarray, float]:
    from ..simulate import beta_vector, check_newparams, sigma_value, theta_vector

    p = check_newparams(params, required=("beta", "theta", "sigma"))
    sigma = sigma_value(p["sigma"])
    if not sigma > 0:
        raise ValueError("params['sigma'] must be positive (with sigma = 0 every refit fails)")
    return beta_vector(p["beta"], design.fixed.names), theta_vector(p["theta"], design), sigma


def _with_response(data: pd.DataFrame, response: str) -> pd.DataFrame:
    if response in data.columns:
        return data
    return data.assign(**{response: 0.0})


_W, _O = "__lmmflow_power_weights__", "__lmmflow_power_offset__"


def _row_columns(data: pd.DataFrame, weights: Any, offset: Any) -> tuple[pd.DataFrame, str | None, str | None]:
    """Weights and offset as columns of the data, so rows cut or copied along a curve keep theirs."""
    out, names = data, []
    for value, col, label in ((weights, _W, "weights"), (offset, _O, "offset")):
        if value is None:
            names.append(None)
            continue
        if isinstance(value, str):
            if value not in data.columns:
                raise ValueError(f"{label}={value!r} is not a column of the data; columns are {list(data.columns)}")
            arr = data[value].to_numpy(dtype=float)
        else:
            arr = np.asarray(value, dtype=float).ravel()
            if len(arr) != len(data):
                raise ValueError(f"{label} has {len(arr)} values; the data has {len(data)} rows")
        out = out.assign(**{col: arr})
        names.append(col)
    return out, names[0], names[1]


def _test_coefficient(test: Any, names: list[str], method: str) -> str | None:
    if callable(test):
        return None
    if test is None:
        rest = [n for n in names if n != "(Intercept)"]
        if not rest:
            raise ValueError("the model has no fixed effect but the intercept; name the test (test=...)")
        return rest[0]
    if not isinstance(test, str):
        raise ValueError("test must be a fixed-effect name or a callable taking the fitted model")
    return test


def _reduced_formula(formula: str, term: str, data: pd.DataFrame, p_full: int) -> tuple[str, int]:
    reduced = f"{formula} - {term}"
    try:
        d0 = lformula(reduced, data)
    except Exception as exc:  # noqa: BLE001 - reported with the term named
        raise ValueError(f"test={term!r} is neither a fixed effect of the model nor a term of its formula "
                         f"({exc})") from exc
    dropped = p_full - d0.fixed.p
    if dropped <= 0:
        raise ValueError(f"test={term!r} is neither a fixed effect of the model nor a term of its formula; name a "
                         "coefficient (t test) or a term (F test, or the likelihood-ratio test)")
    return reduced, dropped


# ---- the general path: full fits, any test ---------------------------------------------------------------
def _general_chunk(payload: tuple[Any, str, Any, str], Y: np.ndarray) -> list[tuple[float, bool, bool, str]]:
    """Refit each response of the chunk as lf.lmer would and test it (module level: it pickles)."""
    from ..scale.many import _exact_fit

    pl, method, test, coef = payload
    out = []
    for j in range(Y.shape[1]):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                m = _exact_fit(pl, Y[:, j])
                if callable(test):
                    val = test(m)
                    p = (0.0 if val else 1.0) if isinstance(val, bool | np.bool_) else float(val)
                else:
                    ddf = "kenward-roger" if method == "kr" else "satterthwaite"
                    if coef in m.fixef.index:
                        p = float(m.coef_table(ddf=ddf).loc[coef, "p_value"])
                    else:  # a term of several columns: lmerTest's F test (type III)
                        from ..inference.anova import anova

                        p = float(anova(m, ddf=ddf).loc[coef, "p_value"])
            warned = bool(caught) or not m.optinfo.converged
            out.append((p, warned, bool(m.is_singular), ""))
        except Exception as exc:  # noqa: BLE001 - a failed fit is counted, the others go on
            out.append((math.nan, False, False, f"{type(exc).__name__}: {exc}"))
    return out


def _general(design: Any, cp: Any, Y: np.ndarray, reml: bool, control: LmerControl, method: str, test: Any,
             coef: str | None, n_jobs: int, client: Any, bar: Any) -> dict[str, np.ndarray]:
    from ..inference.parallel import parallel_map
    from ..scale.many import _Payload

    pl = _Payload(method="exact", reml=reml, control=control, design=design, cp=cp, offset=design.frame.offset)
    chunks = [np.ascontiguousarray(Y[:, s:s + CHUNK]) for s in range(0, Y.shape[1], CHUNK)]
    res = parallel_map(_general_chunk, chunks, n_jobs=n_jobs, client=client, payload=(pl, method, test, coef),
                       on_result=lambda i, r: bar.update(len(r)) if bar is not None else None)
    flat = [r for chunk in res for r in chunk]
    return {"p": np.array([r[0] for r in flat]), "warned": np.array([r[1] for r in flat]),
            "singular": np.array([r[2] for r in flat]), "errors": [r[3] for r in flat if r[3]]}


# ---- the fast paths: fit_many --------------------------------------------------------------------------------
def _singular(theta: np.ndarray, lower: np.ndarray, tol: float) -> np.ndarray:
    diag = lower == 0
    return np.any(np.abs(theta[:, diag]) < tol, axis=1)


def _fast_satterthwaite(formula: str, data: pd.DataFrame, Y: np.ndarray, reml: bool, control: LmerControl,
                        coef: str, n_jobs: int, client: Any, progress: bool, rows: dict[str, Any]) -> dict[str, Any]:
    from ..scale.many import fit_many
    from ..scale.single_term import SingleTermProfile
    from .fast import satterthwaite_many

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = fit_many(formula, data, Y, reml=reml, n_jobs=n_jobs, client=client, progress=progress,
                      control=control, method="profile", **rows)
    g = mf._groups[0]
    prof = SingleTermProfile(g.cp, g.design.X, reml=reml)
    off = g.design.frame.offset
    prof.set_responses(Y if off is None else Y - off[:, None])
    fits = mf.fits
    theta = fits[[c for c in fits.columns if c.startswith("theta_")]].to_numpy(dtype=float)
    j = mf.fixef_names.index(coef)
    out = satterthwaite_many(prof, theta, fits["sigma"].to_numpy(dtype=float), mf.fixef.to_numpy(dtype=float), j)
    conv = fits["converged"].to_numpy(dtype=bool)
    bad = ~np.isfinite(out["p"])
    return {"p": out["p"], "warned": (out["hessian_warning"] | ~conv) & ~bad,
            "singular": _singular(theta, prof.lower, control.singular_tol) & ~bad,
            "errors": [m or "the fit failed" for m in fits["message"][bad]]}


def _fast_lrt(formula: str, reduced: str, dropped: int, data: pd.DataFrame, Y: np.ndarray, control: LmerControl,
              n_jobs: int, client: Any, progress: bool, rows: dict[str, Any]) -> dict[str, Any]:
    from ..scale.many import fit_many

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m1 = fit_many(formula, data, Y, reml=False, n_jobs=n_jobs, client=client, progress=progress, control=control,
                      **rows)
        m0 = fit_many(reduced, data, Y, reml=False, n_jobs=n_jobs, client=client, progress=progress, control=control,
                      **rows)
    f1, f0 = m1.fits, m0.fits
    chisq = np.maximum(f0["objective"].to_numpy(dtype=float) - f1["objective"].to_numpy(dtype=float), 0.0)
    p = stats.chi2.sf(chisq, dropped)
    theta = f1[[c for c in f1.columns if c.startswith("theta_")]].to_numpy(dtype=float)
    lower = _lower_of(m1)
    bad = ~(np.isfinite(f1["objective"].to_numpy(dtype=float)) & np.isfinite(f0["objective"].to_numpy(dtype=float)))
    p = np.where(bad, np.nan, p)
    conv = f1["converged"].to_numpy(dtype=bool) & f0["converged"].to_numpy(dtype=bool)
    msgs = [a or b or "the fit failed" for a, b in zip(f1["message"][bad], f0["message"][bad])]
    return {"p": p, "warned": ~conv & ~bad, "singular": _singular(theta, lower, control.singular_tol) & ~bad,
            "errors": msgs}


def _lower_of(mf: Any) -> np.ndarray:
    from ..core import DevianceFunction

    return np.asarray(DevianceFunction(mf._groups[0].cp, reml=False).lower)


# ---- the front door ---------------------------------------------------------------------------------------
def power(model: Any = None, test: str | Callable[[Any], Any] | None = None, nsim: int = 1000, *,
          formula: str | None = None, data: Any = None, params: dict[str, Any] | None = None,
          along: str | None = None, values: Sequence[int] | None = None, alpha: float = 0.05,
          method: str = "satterthwaite", level: float = 0.95, seed: int | None = None, n_jobs: int = 1,
          client: Any = None, progress: bool = True, reml: bool | None = None,
          control: LmerControl | None = None, weights: Any = None, offset: Any = None) -> PowerResult:
    """Power of a test of a fixed effect, by simulation (simr's ``powerSim`` / ``powerCurve``).

    Parameters
    ----------
    model : LmerResult, optional
        A fitted model: responses are simulated from its estimates (simr's ``powerSim(fit)``).
    test : str or callable, optional
        The fixed effect tested (default: the first one after the intercept): a coefficient (a t test, or
        the LRT of that column) or a term of the formula such as a factor (lmerTest's type III F test,
        or the LRT of all its columns).  A callable takes each refitted :class:`~lmmflow.LmerResult` and
        returns a p-value (or a bool: significant or not).
    nsim : int
        Simulations per design.
    formula, data, params : optional
        A specified model instead of ``model`` (simr's ``makeLmer``): an lme4 formula, the design (the
        response column may be absent) and ``{"beta": ..., "theta": ..., "sigma": ...}`` as lme4's
        ``newparams`` (beta as a dict by name or in the fixed effects' order; theta lme4's relative
        Cholesky factor).
    along : str, optional
        ``"n_units"`` or a grouping factor's name: the design is enlarged or cut to ``values`` units (new
        units are copies of the design's units under new ids, simr's ``extend``); or a within-unit column
        such as ``"time"``: the design keeps the rows with the first ``values`` distinct values.
    values : sequence of int, optional
        The numbers of units (or values) of the power curve.
    alpha : float
        Significance level of the test.
    method : {"satterthwaite", "kr", "lrt"}
        Satterthwaite's t test (lmerTest, the default), Kenward-Roger's (REML fits), or the likelihood-ratio
        test against the model without ``test`` (ML refits, as lme4's ``anova``; simr's ``fixed(x, "lr")``).
    level : float
        Confidence level of the binomial intervals.
    seed : int, optional
    n_jobs : int
        Local processes for the refits (1: here; -1: one per core).
    client : dask.distributed.Client, optional
        Run the refits on a Dask cluster.
    progress : bool
        Show a progress bar (tqdm).
    reml : bool, optional
        REML refits (default: as the fitted model; REML for a specified model).  The likelihood-ratio test
        always refits by ML.
    control : LmerControl, optional
    weights, offset : str or array-like, optional
        Prior weights and an offset of a specified model (a column of ``data`` or one value per row); a
        fitted model's are taken from the fit.  Units or rows copied along a curve keep theirs.

    Returns
    -------
    PowerResult

    Examples
    --------
    >>> import lmmflow as lf
    >>> df = lf.simulate_growth(n_units=30, seed=2)
    >>> m = lf.lmer("y ~ time + (1 + time | id)", df)
    >>> res = lf.power(m, "time", nsim=50, seed=1, progress=False)
    >>> print(str(res).splitlines()[0])
    Power for predictor 'time', (95% confidence interval):
    >>> res.to_frame()[["nsim", "successes", "failed"]].iloc[0].tolist()
    [50, 50, 0]
    >>> spec = lf.power(formula="y ~ time + (1 + time | id)", data=df[["id", "time"]], nsim=50, seed=2,
    ...                 params={"beta": {"(Intercept)": 50, "time": 0.3}, "theta": [1, 0, 0.2], "sigma": 5},
    ...                 along="n_units", values=[10, 40], progress=False)
    >>> spec.to_frame()["n_units"].tolist()
    [10, 40]
    """
    from ..fitting import cross_products as _cross_products
    from ..simulate import simulate

    t0 = time.perf_counter()
    if method not in METHODS:
        raise ValueError(f"method={method!r}: use one of {sorted(METHODS)}")
    if int(nsim) != nsim or nsim < 1:
        raise ValueError(f"nsim must be a positive whole number (got {nsim!r})")
    if not 0 < alpha < 1 or not 0 < level < 1:
        raise ValueError("alpha and level must lie between 0 and 1")
    if callable(test) and method == "lrt":
        raise ValueError("a callable test computes its own p-value; leave method at its default")
    nsim = int(nsim)
    if model is not None:
        if formula is not None or params is not None or data is not None:
            raise ValueError("give either a fitted model or formula=, data= and params=, not both")
        if weights is not None or offset is not None:
            raise ValueError("a fitted model's weights and offset are the fit's; give them only with formula=")
        formula = model.formula
        base = model.data.reset_index(drop=True)
        weights, offset = model.weights, model.offset
        params = {"beta": dict(model.fixef), "theta": np.asarray(model.theta), "sigma": float(model.sigma)}
        reml = model.reml if reml is None else reml
    else:
        if formula is None or data is None or params is None:
            raise ValueError("give a fitted model, or formula=, data= and params= (a specified model)")
        base = as_pandas(data).reset_index(drop=True)
        reml = True if reml is None else reml
    control = control or LmerControl()
    assert formula is not None and params is not None
    response = parse_formula(formula).response
    base = _with_response(base, response)
    base, wcol, ocol = _row_columns(base, weights, offset)
    design0 = lformula(formula, base, weights=wcol, offset=ocol)
    names = list(design0.fixed.names)
    beta, theta, sigma = _params_of(params, design0)
    newparams = {"beta": beta, "theta": theta, "sigma": sigma}
    coef = _test_coefficient(test, names, method)
    base = base.iloc[design0.frame.rows].reset_index(drop=True)
    if coef is not None and coef not in names:
        _reduced_formula(formula, coef, base, len(names))  # a term of the formula, or a clear error
    if along is None:
        if values is not None:
            raise ValueError("values= needs along= (e.g. along='n_units')")
        plans: list[tuple[Any, pd.DataFrame]] = [(None, base)]
        kind = col = None
    else:
        if values is None or len(values) == 0:
            raise ValueError(f"along={along!r} needs values=, e.g. values=[20, 40, 80]")
        kind, col = resolve_along(along, design0, base)
        plans = [(int(v), design_rows(base, kind, col, v)) for v in values]
    rng = np.random.default_rng(seed)
    rows, pvals = [], {}
    bar = _bar(nsim * len(plans) * (2 if method == "lrt" else 1), progress)
    try:
        for value, frame in plans:
            design = lformula(formula, frame, weights=wcol, offset=ocol)
            if list(design.fixed.names) != names:
                raise ValueError(f"with {value} {along}, the fixed effects are {list(design.fixed.names)} "
                                 f"instead of {names}; choose larger values")
            Y = simulate(formula, frame, newparams, nsim=nsim, seed=rng, weights=wcol, offset=ocol).to_numpy()
            cp = _cross_products(design, check_y=False)  # y: a placeholder; each simulated response replaces it
            out = _run(formula, frame, design, cp, Y, bool(reml), control, method, test, coef, n_jobs, client, bar,
                       wcol, ocol)
            pvals[value] = out["p"]
            units = next((t.nlevels for t in design.terms if kind == "units" and t.group == col),
                         design.terms[0].nlevels)
            rows.append(_row(value, out, alpha, level, design.n, units, nsim))
    finally:
        if bar is not None:
            bar.close()
    table = pd.DataFrame(rows)
    label = coef if coef is not None else getattr(test, "__name__", "custom test")
    effect = float(beta[names.index(coef)]) if coef in names else None
    statistic = "t" if coef in names or method == "lrt" else "F"
    return PowerResult(table=table, test=str(label), method=method if not callable(test) else "custom",
                       statistic=statistic, alpha=alpha, level=level, along=along, along_kind=kind,
                       along_column=col, pvalues=pvals, nsim=nsim, seed=seed, formula=formula, effect=effect,
                       elapsed=time.perf_counter() - t0)


def _pvalues(formula: str, data: pd.DataFrame, Y: np.ndarray, test: Any, method: str = "satterthwaite",
             reml: bool = True, control: LmerControl | None = None, general: bool = False, weights: Any = None,
             offset: Any = None) -> dict[str, Any]:
    """The tests' p-values for given responses (the columns of ``Y``) on the design ``data`` (for checks).

    ``general=True`` takes the path of full refits whatever the method.
    """
    data = _with_response(as_pandas(data).reset_index(drop=True), parse_formula(formula).response)
    data, wcol, ocol = _row_columns(data, weights, offset)
    from ..fitting import cross_products as _cross_products

    design = lformula(formula, data, weights=wcol, offset=ocol)
    cp = _cross_products(design, check_y=False)  # the responses come as Y; the data's y may be a placeholder
    coef = _test_coefficient(test, list(design.fixed.names), method)
    if coef is not None and coef not in design.fixed.names:
        _reduced_formula(formula, coef, data, design.fixed.p)
    control = control or LmerControl()
    if general:
        return _general(design, cp, Y, reml, control, method, test, coef, 1, None, None)
    return _run(formula, data, design, cp, Y, reml, control, method, test, coef, 1, None, None, wcol, ocol)


def _run(formula: str, frame: pd.DataFrame, design: Any, cp: Any, Y: np.ndarray, reml: bool, control: LmerControl,
         method: str, test: Any, coef: str | None, n_jobs: int, client: Any, bar: Any, wcol: str | None = None,
         ocol: str | None = None) -> dict[str, Any]:
    rows = {"weights": wcol, "offset": ocol}
    if method == "lrt":
        reduced, dropped = _reduced_formula(formula, str(coef), frame, design.fixed.p)
        out = _fast_lrt(formula, reduced, dropped, frame, Y, control, n_jobs, client, False, rows)
    elif (method == "satterthwaite" and coef in design.fixed.names and len(design.terms) == 1
          and design.param_map().identity):  # the pattern profile works on lme4's theta
        out = _fast_satterthwaite(formula, frame, Y, reml, control, str(coef), n_jobs, client, False, rows)
    else:
        if method == "kr" and not reml and not callable(test):
            raise ValueError("Kenward-Roger's method needs REML refits (reml=True)")
        return _general(design, cp, Y, reml, control, method, test, coef, n_jobs, client, bar)
    if bar is not None:
        bar.update(Y.shape[1] * (2 if method == "lrt" else 1))
    return out


def _row(value: Any, out: dict[str, Any], alpha: float, level: float, nobs: int, units: int, nsim: int
         ) -> dict[str, Any]:
    p = np.asarray(out["p"], dtype=float)
    failed = int(np.sum(~np.isfinite(p)))
    k = int(np.sum(np.isfinite(p) & (p < alpha)))
    ci = stats.binomtest(k, nsim).proportion_ci(confidence_level=level, method="exact")
    return {"value": value, "nobs": nobs, "n_units": units, "nsim": nsim, "successes": k, "failed": failed,
            "warnings": int(np.sum(out["warned"])), "singular": int(np.sum(out["singular"])),
            "power": k / nsim, "lower": float(ci.low), "upper": float(ci.high),
            "errors": "; ".join(sorted(set(out["errors"])))[:500]}


def _bar(total: int, show: bool) -> Any:
    from ..scale.many import _progress

    return _progress(total, show, desc="power", unit="sim")
