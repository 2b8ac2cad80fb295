"""Responses drawn from a linear mixed model: from a formula and parameters (lme4's ``simulate(formula, ...)``).

One function, :func:`draw_responses`, draws ``y = eta + Z b + sigma e`` with ``b = sigma Lambda(theta) u``,
``u ~ N(0, I)`` and ``e ~ N(0, 1/w)``; both :func:`simulate` (a formula, data and parameters, no fit) and
:meth:`lmmflow.LmerResult.simulate` (a fit) use it.

As lme4, the parameters are on lme4's scale: ``beta`` the fixed effects, ``theta`` the relative covariance
factors (each term's lower triangle column by column, terms in lme4's order, as ``m.theta``), ``sigma`` the
residual standard deviation.  Unlike lme4 1.1 (which ignores prior weights when it simulates a linear mixed
model), the residual of a row with prior weight ``w`` has standard deviation ``sigma / sqrt(w)``, the model's.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .core.crossprod import row_block, row_ranges, theta_layout
from .design import ModelDesign, as_pandas
from .design.fixed import build_fixed
from .design.frame import DataError, ModelFrame, required_columns
from .design.random import build_random_terms
from .exceptions import DroppedRowsWarning
from .formula import FormulaError, ParsedFormula, parse_formula

__all__ = ["RandomDraw", "draw_responses", "lambdas_of", "simulate", "simulation_design"]

_NO_RESPONSE = "lmmflow_simulated_response_"


@dataclass(frozen=True)
class RandomDraw:
    """One random-effects term to draw: the rows' values of Z, their level codes and the term's lambda.

    Attributes
    ----------
    Z : numpy.ndarray or row source
        n x p values of the term's columns (an array or a :class:`~lmmflow.design.lazy.RowMatrix`).
    codes : numpy.ndarray
        Level code of each row, 0 .. nlevels - 1.
    nlevels : int
        Levels for which u is drawn.
    lam : numpy.ndarray
        p x p relative covariance factor (lower triangular).
    """

    Z: Any
    codes: np.ndarray
    nlevels: int
    lam: np.ndarray


def draw_responses(eta: np.ndarray, draws: Sequence[RandomDraw], sigma: float, nsim: int,
                   rng: np.random.Generator, weights: np.ndarray | None = None, residuals: bool = True) -> np.ndarray:
    """Draw ``nsim`` responses ``eta + sum_k Z_k b_k + sigma e`` (n x nsim).

    For each simulation, each term's ``u`` (nlevels x p standard normals, levels in code order) is drawn,
    then the n residuals; ``b_k = sigma u Lambda_k'``.  ``e`` has variance ``1 / weights``.  The same
    generator state gives the same draws.

    Parameters
    ----------
    eta : numpy.ndarray
        The mean part of each row (X beta, the offset, and any random effects conditioned on).
    draws : sequence of RandomDraw
        The terms whose random effects are drawn anew.
    sigma : float
        Residual standard deviation.
    nsim : int
    rng : numpy.random.Generator
    weights : numpy.ndarray, optional
        Prior weights (residual variance sigma^2 / w).
    residuals : bool
        Add the residuals (False: the linear predictors only, for a GLMM whose responses come from its family).

    Returns
    -------
    numpy.ndarray
        n x nsim.

    Examples
    --------
    >>> import numpy as np
    >>> d = RandomDraw(Z=np.ones((4, 1)), codes=np.array([0, 0, 1, 1]), nlevels=2, lam=np.zeros((1, 1)))
    >>> draw_responses(np.arange(4.0), [d], sigma=0.0, nsim=2, rng=np.random.default_rng(1)).tolist()
    [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]
    """
    eta = np.asarray(eta, dtype=float)
    n = len(eta)
    scale = sigma / np.sqrt(weights) if weights is not None else np.full(n, float(sigma))
    out = np.empty((n, nsim))
    for s in range(nsim):
        bs = [sigma * rng.standard_normal((d.nlevels, d.lam.shape[0])) @ d.lam.T for d in draws]
        y = eta.copy()
        for a, e in row_ranges(n, whole=not any(not isinstance(d.Z, np.ndarray) for d in draws)):
            for d, b in zip(draws, bs):
                y[a:e] += np.einsum("ip,ip->i", row_block(d.Z, a, e), b[d.codes[a:e]])
        out[:, s] = y + scale * rng.standard_normal(n) if residuals else y
    return out


def lambdas_of(design: ModelDesign, theta: np.ndarray) -> list[np.ndarray]:
    """Each term's relative covariance factor (p x p) from ``theta`` in lme4's order, as the engine maps it."""
    slices, positions, _ = theta_layout(design.blocks())
    out = []
    for term, sl, (r, c) in zip(design.terms, slices, positions):
        lam = np.zeros((term.p, term.p))
        lam[r, c] = theta[sl]
        out.append(lam)
    return out


def theta_names(design: ModelDesign) -> list[str]:
    """lme4's names of the theta elements (``Subject.(Intercept)``, ``Subject.Days.(Intercept)``, ...)."""
    slices, positions, _ = theta_layout(design.blocks())
    names = []
    for term, (r, c) in zip(design.terms, positions):
        for i, j in zip(r, c):
            names.append(f"{term.group}.{term.cnames[i]}" if i == j
                         else f"{term.group}.{term.cnames[i]}.{term.cnames[j]}")
    return names


def _parse_one_or_two_sided(formula: str) -> ParsedFormula:
    if not isinstance(formula, str):
        raise FormulaError(f"formula must be a string such as '~ x + (1 | g)', got {type(formula).__name__}")
    text = formula.strip()
    if text.startswith("~"):
        parsed = parse_formula(f"{_NO_RESPONSE} {text}")
        return ParsedFormula(formula=formula, response="", fixed=parsed.fixed, random=parsed.random)
    return parse_formula(formula)


def simulation_design(formula: str, newdata: Any, weights: Any = None, offset: Any = None) -> ModelDesign:
    """The model matrices of ``formula`` on ``newdata``, without a response (lme4's ``lFormula`` for ``simulate``).

    The response, if the formula has one, need not be a column of ``newdata``: it is not read.  Rows with a
    missing value in a column the formula reads are dropped (lme4's default ``na.omit``) with a
    :class:`~lmmflow.DroppedRowsWarning`.

    Examples
    --------
    >>> import lmmflow as lf
    >>> d = simulation_design("~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> d.fixed.names, d.terms[0].nlevels
    (['(Intercept)', 'Days'], 18)
    """
    parsed = _parse_one_or_two_sided(formula)
    if not parsed.random:
        raise FormulaError(f"formula {formula!r} has no random-effects term such as (1 | group)")
    data = as_pandas(newdata)
    if len(data) == 0:
        raise DataError("newdata has no rows")
    needed = required_columns(parsed, data.columns)
    needed.pop("response", None)
    cols: list[str] = []
    for part, names in needed.items():
        where = "the fixed effects" if part == "fixed" else f"random term {part}"
        for col in sorted(names):
            if col not in data.columns:
                raise DataError(f"column {col!r} used in {where} is not in newdata; "
                                f"columns are {list(data.columns)}")
            if col not in cols:
                cols.append(col)
    frame = data[cols]
    w = _row_values(weights, data, "weights")
    off = _row_values(offset, data, "offset")
    complete = ~frame.isna().any(axis=1).to_numpy() if cols else np.ones(len(frame), dtype=bool)
    for arr in (w, off):
        if arr is not None:
            complete &= ~np.isnan(arr)
    if not complete.any():
        raise DataError(f"no complete rows in newdata: every row has a missing value in one of {cols}")
    n_dropped = int((~complete).sum())
    if n_dropped:
        warnings.warn(f"{n_dropped} row(s) of newdata with missing values in the formula's columns were dropped",
                      DroppedRowsWarning, stacklevel=3)
        frame = frame[complete]
    rows = np.flatnonzero(complete)
    w = None if w is None else w[rows]
    off = None if off is None else off[rows]
    if w is not None and ((w < 0).any() or not np.isfinite(w).all()):
        raise DataError("weights must be finite and non-negative")
    if off is not None and not np.isfinite(off).all():
        raise DataError("offset has infinite values")
    mframe = ModelFrame(data=frame, rows=rows, n_dropped=n_dropped, n_input=len(data), weights=w, offset=off)
    fixed = build_fixed(parsed.fixed, frame)
    terms = build_random_terms(parsed.random, frame)
    return ModelDesign(formula=parsed, frame=mframe, y=np.zeros(len(frame)), fixed=fixed, terms=terms)


def _row_values(value: Any, data: pd.DataFrame, name: str) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in data.columns:
            raise DataError(f"{name}={value!r} is not a column of newdata; columns are {list(data.columns)}")
        arr = data[value].to_numpy()
    elif isinstance(value, pd.Series):
        if not value.index.equals(data.index):
            raise DataError(f"{name} is a Series whose index is not newdata's: align it (or pass .to_numpy())")
        arr = value.to_numpy()
    else:
        arr = np.asarray(value)
    if arr.ndim != 1 or len(arr) != len(data):
        raise DataError(f"{name} must have one value per row of newdata ({len(data)}), got shape {arr.shape}")
    try:
        return arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric") from exc


def _in_order(value: Any, names: list[str], what: str, noun: str) -> np.ndarray:
    """``newparams[what]`` as floats in the order of ``names``: a mapping naming each exactly once, or a sequence
    (taken as it is; its length is the caller's to check)."""
    if isinstance(value, (Mapping, pd.Series)):
        given = dict(value.items())
        missing = [nm for nm in names if nm not in given]
        extra = [str(k) for k in given if k not in names]
        if missing or extra:
            raise ValueError(f"newparams[{what!r}] must name each {noun} {names}; "
                             + (f"missing {missing}" if missing else "")
                             + ("; " if missing and extra else "") + (f"unknown {extra}" if extra else ""))
        return np.asarray([given[nm] for nm in names], dtype=float)
    return np.atleast_1d(np.asarray(value, dtype=float)).ravel()


def beta_vector(beta: Any, names: Sequence[str]) -> np.ndarray:
    """Fixed effects as a vector in model-matrix order, from a mapping by name or a sequence."""
    names = list(names)
    vals = _in_order(beta, names, "beta", "fixed effect")
    if not isinstance(beta, (Mapping, pd.Series)):
        if len(vals) != len(names):
            raise ValueError(f"newparams['beta'] has {len(vals)} value(s) for {len(names)} fixed effect(s) {names}; "
                             "give one per column of the model matrix, or a dict by name")
    out = np.asarray(vals, dtype=float)
    if not np.isfinite(out).all():
        raise ValueError("newparams['beta'] has missing or infinite values")
    return out


def theta_vector(theta: Any, design: ModelDesign) -> np.ndarray:
    """Relative covariance parameters in lme4's order, checked for length and bounds."""
    names = theta_names(design)
    vals = _in_order(theta, names, "theta", "parameter")
    if len(vals) != len(names):
        raise ValueError(f"newparams['theta'] has {len(vals)} value(s); the random effects need {len(names)} "
                         f"in lme4's order: {names}")
    if not np.isfinite(vals).all():
        raise ValueError("newparams['theta'] has missing or infinite values")
    lower = theta_layout(design.blocks())[2]
    bad = [nm for nm, v, lo in zip(names, vals, lower) if v < lo]
    if bad:
        raise ValueError(f"newparams['theta'] elements {bad} are diagonal entries of Lambda and must be >= 0")
    return vals


def sigma_value(sigma: Any) -> float:
    """The residual standard deviation, checked."""
    try:
        s = float(sigma)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"newparams['sigma'] must be a number, got {sigma!r}") from exc
    if not np.isfinite(s) or s < 0:
        raise ValueError(f"newparams['sigma']={sigma!r}: a finite standard deviation >= 0")
    return s


def check_newparams(newparams: Any, required: Sequence[str] = ()) -> dict[str, Any]:
    """``newparams`` as a dict with only the keys beta, theta and sigma; ``required`` ones must be there."""
    if not isinstance(newparams, Mapping):
        raise ValueError("newparams must be a dict such as {'beta': [...], 'theta': [...], 'sigma': 1.0}")
    unknown = [k for k in newparams if k not in ("beta", "theta", "sigma")]
    if unknown:
        raise ValueError(f"newparams has unknown entries {unknown}; use 'beta', 'theta' and 'sigma'")
    missing = [k for k in required if newparams.get(k) is None]
    if missing:
        raise ValueError(f"newparams lacks {missing}: simulating from a formula needs beta, theta and sigma")
    return dict(newparams)


def check_nsim(nsim: Any) -> int:
    """``nsim`` as a positive int."""
    try:
        k = int(nsim)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"nsim={nsim!r}: a positive whole number of simulations") from exc
    if k != nsim or k < 1:
        raise ValueError(f"nsim={nsim!r}: a positive whole number of simulations")
    return k


def sim_frame(values: np.ndarray, index: pd.Index) -> pd.DataFrame:
    """lme4's layout: one column per simulation, ``sim_1`` .. ``sim_nsim``."""
    return pd.DataFrame(values, index=index, columns=[f"sim_{i + 1}" for i in range(values.shape[1])])


def simulate(formula: str, newdata: Any, newparams: Mapping[str, Any], nsim: int = 1, seed: Any = None,
             weights: Any = None, offset: Any = None, re_form: Any = "~0") -> pd.DataFrame:
    """Simulate responses from a formula, data and parameters, without a fit (lme4's ``simulate(formula, ...)``).

    The design (X, Z) is built from ``formula`` on ``newdata``; then ``u ~ N(0, I)``, ``b = sigma Lambda(theta) u``
    and ``y = X beta + Z b + offset + sigma e`` with ``e ~ N(0, 1/w)``.

    Parameters
    ----------
    formula : str
        An lme4 formula; one-sided (``"~ x + (1 | g)"``) or with a response that ``newdata`` need not have.
    newdata : DataFrame (pandas or polars) or dict of columns
        The covariates and grouping factors of the rows to simulate.
    newparams : dict
        ``beta``: fixed effects, a dict by coefficient name (``"(Intercept)"``, ``"x"``, ``"g[T.b]"``) or a
        sequence in model-matrix order; ``theta``: relative covariance parameters in lme4's order (each
        term's lower triangle column by column, as ``m.theta``), a sequence or a dict by lme4's names
        (``"Subject.(Intercept)"``, ``"Subject.Days.(Intercept)"``); ``sigma``: the residual SD.
    nsim : int
        Number of simulated responses.
    seed : int or numpy.random.Generator, optional
        The same seed gives the same draws.
    weights, offset : str or array-like, optional
        Prior weights (residual variance sigma^2 / w) and an offset: a column of ``newdata`` or one value per row.
    re_form : "~0" (default), NA or a formula of random terms
        As lme4's ``re.form``: the terms listed are conditioned on; with no fit their random effects are 0.
        The default (lme4's ``NA``) draws every term's random effects.  ``None`` conditions on all terms
        (no random-effect variation).

    Returns
    -------
    pandas.DataFrame
        Columns ``sim_1`` .. ``sim_nsim``, indexed as ``newdata`` (rows with missing values dropped).

    Raises
    ------
    ValueError
        ``newparams`` missing beta, theta or sigma, or of the wrong length or names (FormulaError /
        DataError for the formula and data).

    Examples
    --------
    >>> import lmmflow as lf
    >>> d = lf.load_dataset("sleepstudy")
    >>> sims = lf.simulate("~ Days + (Days | Subject)", d, {"beta": [250, 10], "theta": [1, 0, 0.2], "sigma": 25},
    ...                    nsim=3, seed=1)
    >>> sims.shape, list(sims.columns)
    ((180, 3), ['sim_1', 'sim_2', 'sim_3'])
    >>> exact = lf.simulate("Reaction ~ Days + (1 | Subject)", d,
    ...                     {"beta": {"(Intercept)": 250, "Days": 10}, "theta": [0], "sigma": 0})
    >>> exact["sim_1"].head(3).tolist()
    [250.0, 260.0, 270.0]
    """
    from .results.predict import parse_re_form

    nsim = check_nsim(nsim)
    params = check_newparams(newparams, required=("beta", "theta", "sigma"))
    design = simulation_design(formula, newdata, weights=weights, offset=offset)
    beta = beta_vector(params["beta"], design.fixed.names)
    theta = theta_vector(params["theta"], design)
    sigma = sigma_value(params["sigma"])
    kept = parse_re_form(re_form, design.terms)
    eta = design.X @ beta
    if design.frame.offset is not None:
        eta = eta + design.frame.offset
    lams = lambdas_of(design, theta)
    draws = [RandomDraw(Z=t.matrix, codes=t.codes, nlevels=t.nlevels, lam=lam)
             for k, (t, lam) in enumerate(zip(design.terms, lams)) if k not in kept]
    rng = np.random.default_rng(seed)
    vals = draw_responses(eta, draws, sigma, nsim, rng, weights=design.frame.weights)
    return sim_frame(vals, design.frame.data.index)


