"""Predictions for new data and simulation of new responses from a fit (lme4's ``predict`` and ``simulate``)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..design import as_pandas, encode_groups
from ..design.frame import DataError
from ..exceptions import LmmflowWarning
from ..formula import FormulaError, parse_formula

if TYPE_CHECKING:
    from ..design.random import ReTerm
    from .model import LmerResult

__all__ = ["NA_ACTIONS", "PredictionRows", "check_fixed_levels", "finish_rows", "parse_re_form", "population_only",
           "predict", "prediction_rows", "random_part", "simulate"]

_NONE_FORMS = {"~0", "NA", "0", "~-1", "~1-1", "~0+1", "~-1+1", "nan", "~1"}


def population_only(re_form: Any) -> bool:
    """True when ``re_form`` asks for fixed effects only (lme4's ``re.form = NA`` or ``~0``), False for ``None``.

    A formula of some terms is an error here (:func:`parse_re_form` reads those): callers that can include
    only all terms or none (the Dask back-end) use this, so a formula is never taken to mean all terms.
    """
    if re_form is None:
        return False
    if re_form is False:
        return True
    if isinstance(re_form, str):
        if re_form.replace(" ", "") in _NONE_FORMS:
            return True
        raise ValueError(f"re_form={re_form!r}: here only None (all random effects) or '~0' / NA (none) is "
                         "possible; formulas of some terms are read by LmerResult.predict and simulate")
    if isinstance(re_form, float) and np.isnan(re_form):
        return True
    if re_form is pd.NA:
        return True
    raise ValueError(f"re_form={re_form!r}: use None (all random effects), '~0' or NA (none), or a formula "
                     "of the model's random terms such as '~(1 | Subject)'")


def parse_re_form(re_form: Any, terms: list[ReTerm], frame: pd.DataFrame | None = None) -> dict[int, np.ndarray]:
    """The random effects ``re_form`` includes: term index -> boolean mask over the term's columns.

    ``None``: every term, every column; ``"~0"``, ``NA``, ``np.nan``, ``False``: none; an lme4 formula of
    random terms (``"~(1 | plate)"``, ``"~(0 + Days | Subject)"``): those terms' columns, matched as lme4's
    ``mkNewReTrms`` matches them (by grouping factor, then by column name).  A term whose grouping factor or
    column the model lacks is a :class:`~lmmflow.FormulaError`.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> {k: v.tolist() for k, v in parse_re_form("~(0 + Days | Subject)", m.design.terms, m.data).items()}
    {0: [False, True]}
    """
    if re_form is None:
        return {k: np.ones(t.p, dtype=bool) for k, t in enumerate(terms)}
    if not isinstance(re_form, str):
        population_only(re_form)  # raises for what is neither None, NA nor a formula
        return {}
    text = re_form.strip()
    if text.replace(" ", "") in _NONE_FORMS:
        return {}
    if not text.startswith("~"):
        raise FormulaError(f"re_form={re_form!r}: a formula of random terms starts with '~', e.g. "
                           "'~(1 | Subject)'; use None for all random effects and '~0' for none")
    try:
        parsed = parse_formula(f"y {text}")
    except FormulaError as exc:
        raise FormulaError(f"re_form={re_form!r} cannot be read: {exc}") from exc
    if parsed.fixed.replace(" ", "") not in {"1", "0", "-1", "1-1", "0+1", ""}:
        raise FormulaError(f"re_form={re_form!r} has fixed-effect terms ({parsed.fixed!r}); it lists random "
                           "terms only, e.g. '~(1 | Subject)'")
    if not parsed.random:
        return {}
    by_group: dict[str, list[int]] = {}
    for k, t in enumerate(terms):
        by_group.setdefault(t.group, []).append(k)
    out: dict[int, np.ndarray] = {}
    for rt in parsed.random:
        ks = by_group.get(rt.group_name)
        if ks is None:
            raise FormulaError(f"re_form term ({rt.label}): grouping factor {rt.group_name!r} is not in the model; "
                               f"its grouping factors are {sorted(by_group)}")
        have = [c for k in ks for c in terms[k].cnames]
        names = _term_names(rt.expr, rt.label, frame, rt.group_name, have)
        for nm in names:
            hits = [k for k in ks if nm in terms[k].cnames]
            if not hits:
                raise FormulaError(f"re_form term ({rt.label}): the model has no random effect {nm!r} for "
                                   f"{rt.group_name!r}; it has {have}")
            k = hits[0]
            mask = out.setdefault(k, np.zeros(terms[k].p, dtype=bool))
            mask[terms[k].cnames.index(nm)] = True
    return out


def _term_names(expr: str, label: str, frame: pd.DataFrame | None, group: str, have: list[str]) -> list[str]:
    """Column names of a random term's expression, as the fit names them."""
    from ..design.contrasts import r_names
    from ..design.matrices import build_matrix, rename_intercept

    bare = expr.replace(" ", "")
    if bare in {"1", "1+1"}:
        return ["(Intercept)"]
    if frame is None:
        raise FormulaError(f"re_form term ({label}) needs the model's data to be read")
    try:
        _, names, spec = build_matrix(expr, frame)
    except Exception as exc:  # formulaic raises several kinds (a column the model does not read, ...)
        raise FormulaError(f"re_form term ({label}) is not among the model's random effects: the model has no "
                           f"random effect {expr!r} for {group!r}; it has {have} ({exc})") from exc
    return r_names(rename_intercept(names), spec, {})  # as the fit names them (R's poly(x, 2)1, ...)


def _level_codes(term: ReTerm, data: pd.DataFrame, allow_new_levels: bool) -> np.ndarray:
    """Codes of ``data``'s rows in the fit's levels of ``term``; -1 for new levels (an error unless allowed)."""
    missing = [c for c in term.group_cols if c not in data.columns]
    if missing:
        raise DataError(f"newdata lacks grouping column(s) {missing} of term | {term.group}; "
                        "add them or use re_form='~0' for population-level predictions")
    cols = list(term.group_cols)
    absent = data[cols].isna().any(axis=1).to_numpy()
    if absent.any():  # lme4: a missing grouping value is a new level (an error unless new levels are allowed)
        if not allow_new_levels:
            raise DataError(f"newdata has {int(absent.sum())} missing value(s) in grouping column(s) {cols} of term "
                            f"| {term.group} (lme4: NAs are not allowed in prediction data); pass "
                            "allow_new_levels=True to predict those rows at the population level for this term")
        codes = np.full(len(data), -1, dtype=np.int64)
        if (~absent).any():
            codes[~absent] = encode_groups(term, data.loc[~absent])
        return codes
    codes = encode_groups(term, data)
    new = codes < 0
    if new.any() and not allow_new_levels:
        levels = pd.unique(data.loc[new, list(term.group_cols)].astype(str).agg(":".join, axis=1))[:5]
        raise DataError(f"newdata has level(s) of {term.group!r} not in the fit (e.g. {list(levels)}); "
                        "pass allow_new_levels=True to predict them at the population level")
    return codes


NA_ACTIONS = ("na.pass", "na.omit", "na.exclude", "na.fail")


@dataclass
class PredictionRows:
    """The rows a prediction is for, encoded: X, offset, and each needed term's Z and level codes.

    ``pad_index`` / ``pad_positions``: the result is laid out on ``pad_index`` (NaN elsewhere) when rows with
    missing values are kept as NaN (``na_action`` "na.pass" or "na.exclude").
    """

    index: pd.Index
    X: np.ndarray
    offset: np.ndarray | float
    Z: dict[int, np.ndarray]
    codes: dict[int, np.ndarray]
    weights: np.ndarray | None = None
    pad_index: pd.Index | None = None
    pad_positions: np.ndarray | None = None
    positions: np.ndarray | None = None

    def fit(self, m: LmerResult, include: dict[int, np.ndarray]) -> np.ndarray:
        """x'beta + offset + the included random effects (0 for new levels)."""
        vals = self.X @ m.solution.beta + self.offset
        for k, mask in include.items():
            codes = self.codes[k]
            b = m.solution.b[k][np.maximum(codes, 0)]
            vals = vals + np.where(codes < 0, 0.0, np.einsum("ip,ip->i", self.Z[k] * mask, b))
        return np.asarray(vals, dtype=float)


def finish_rows(rows: PredictionRows, out: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    """Lay ``out`` on the padded index (NaN for rows with missing values) when the rows ask for it."""
    if rows.pad_index is None:
        return out
    shape = (len(rows.pad_index),) + out.shape[1:]
    full = np.full(shape, np.nan)
    full[rows.pad_positions] = out.to_numpy()
    if isinstance(out, pd.Series):
        return pd.Series(full, index=rows.pad_index, name=out.name)
    return pd.DataFrame(full, index=rows.pad_index, columns=out.columns)


def _pads(frame: Any) -> bool:
    """Whether results for the fitted rows are padded to the data's rows (a fit with na_action="na.exclude")."""
    return (getattr(frame, "na_action", "na.omit") == "na.exclude" and bool(frame.n_dropped)
            and getattr(frame, "input_index", None) is not None)


def _check_na_action(na_action: str) -> str:
    if na_action not in NA_ACTIONS:
        raise ValueError(f"na_action={na_action!r}: use one of {list(NA_ACTIONS)} (lme4's na.action)")
    return na_action


def _needed_columns(m: LmerResult, data: pd.DataFrame, terms: list[int]) -> list[str]:
    """The columns of ``data`` the fixed part and the random terms ``terms`` read."""
    from ..design.frame import _named_columns, _vars, required_columns

    have = {str(c) for c in data.columns}
    cols = set(required_columns(m.design.formula, data.columns)["fixed"])
    for k in terms:
        t = m.design.terms[k]
        cols |= set(t.group_cols)
        for expr in t.exprs:
            cols |= _vars(expr, f"random term ({expr} | {t.group})") | _named_columns(expr, have)
    return sorted(cols)


def check_fixed_levels(m: LmerResult, data: pd.DataFrame) -> None:
    """A level of a categorical fixed-effect column that the fit never saw is an error naming column and level.

    The levels are the fit's encoding's (formulaic's ``encoder_state``), so they hold for every back-end.
    """
    state = getattr(m.design.fixed.spec, "encoder_state", None) or {}
    for name, (kind, info) in state.items():
        cats = info.get("categories") if isinstance(info, dict) else None
        if cats is None or name not in data.columns or getattr(kind, "value", kind) != "categorical":
            continue
        new = data[name].dropna()
        bad = pd.unique(new[~new.isin(list(cats))])
        if len(bad):
            raise DataError(f"newdata column {name!r} has level(s) {[str(v) for v in bad[:5]]} that the fit never "
                            f"saw (its levels: {[str(v) for v in list(cats)[:10]]}); a fixed effect has no "
                            "estimate for them: drop those rows or recode them to a level of the fit")


def prediction_rows(m: LmerResult, newdata: Any, include: dict[int, np.ndarray], allow_new_levels: bool,
                    na_action: str = "na.pass", all_terms: bool = False) -> PredictionRows:
    """Encode the rows to predict: the fitted rows (``newdata=None``) or ``newdata`` after ``na_action``.

    ``all_terms``: also encode the terms ``include`` leaves out, where ``newdata`` has their columns (their
    variance enters a prediction interval).
    """
    _check_na_action(na_action)
    d = m.design
    if newdata is None:
        from ..inference.prediction import fitted_rows_z

        Zs = fitted_rows_z(m)
        frame = d.frame
        pad = _pads(frame) or (na_action == "na.exclude" and frame.input_index is not None)
        return PredictionRows(index=m.data.index, X=d.X, offset=m.offset if m.offset is not None else 0.0,
                              Z=dict(enumerate(Zs)), codes={k: t.codes for k, t in enumerate(d.terms)},
                              weights=m.weights, pad_index=frame.input_index if pad else None,
                              pad_positions=frame.rows if pad else None)
    data = as_pandas(newdata)
    if len(data) == 0:
        raise DataError("newdata has no rows: pass at least one row to predict")
    terms = sorted(include)
    cols = _needed_columns(m, data, terms)
    missing_cols = [c for c in cols if c not in data.columns]
    if missing_cols:
        groups = [c for k in terms for c in d.terms[k].group_cols if c in missing_cols]
        what = (f"grouping column(s) {groups}; add them or use re_form='~0' for population-level predictions"
                if groups else f"column(s) {missing_cols} that the model reads; columns are {list(data.columns)}")
        raise DataError(f"newdata lacks {what}")
    # missing grouping values are new levels, as lme4 has them (see _level_codes), not missing rows
    grouping = {c for k in terms for c in d.terms[k].group_cols} - set(_needed_columns(m, data, []))
    cols = [c for c in cols if c not in grouping]
    na = data[cols].isna() if cols else pd.DataFrame(index=data.index)
    complete = ~na.any(axis=1).to_numpy() if cols else np.ones(len(data), dtype=bool)
    if not complete.all():
        if na_action == "na.fail":
            counts = {c: int(v) for c, v in na.sum().items() if v}
            raise DataError(f"newdata has missing values in column(s) {counts} (na_action='na.fail'); "
                            "drop or fill them, or use na_action='na.omit' / 'na.exclude' / 'na.pass'")
        sub = data[complete]
    else:
        sub = data
    if len(sub) == 0:  # every row has a missing value: nothing to encode
        return PredictionRows(index=sub.index, X=np.zeros((0, d.fixed.p)), offset=0.0,
                              Z={k: np.zeros((0, d.terms[k].p)) for k in terms},
                              codes={k: np.zeros(0, dtype=np.int64) for k in terms},
                              pad_index=data.index if na_action != "na.omit" else None,
                              pad_positions=np.zeros(0, dtype=np.int64), positions=np.zeros(0, dtype=np.int64))
    check_fixed_levels(m, sub)
    X = d.fixed.encode(sub)
    offset: np.ndarray | float = 0.0
    col = getattr(d.frame, "offset_column", None)
    if col is not None:
        if col not in sub.columns:
            raise DataError(f"the fit's offset is the column {col!r}, which newdata lacks; add it")
        offset = sub[col].to_numpy(dtype=float)
    elif getattr(d.frame, "offset_values", False):
        warnings.warn("the fit's offset= was given as values, not a column, so predictions for newdata leave it "
                      "out (as lme4's); pass offset= as a column name to lf.lmer to have it recomputed",
                      LmmflowWarning, stacklevel=4)
    formula_part = d.fixed.formula_offset(sub) if getattr(d.fixed, "offsets", ()) else None
    if formula_part is not None:  # the formula's offset(...) terms, recomputed from newdata as R does
        offset = offset + formula_part
    Z, codes = {}, {}
    for k in terms:
        t = d.terms[k]
        codes[k] = _level_codes(t, sub, allow_new_levels)
        Z[k] = t.encode(sub)
    if all_terms:  # the values of the terms left out (no levels needed), where newdata has their columns
        for k, t in enumerate(d.terms):
            if k not in Z:
                try:
                    Z[k] = t.encode(sub)
                except Exception:  # formulaic raises several kinds for absent columns
                    continue
    pad = na_action in ("na.pass", "na.exclude") and not complete.all()
    return PredictionRows(index=sub.index, X=X, offset=offset, Z=Z, codes=codes,
                          pad_index=data.index if pad else None,
                          pad_positions=np.flatnonzero(complete) if pad else None,
                          positions=np.flatnonzero(complete))


def random_part(m: LmerResult, data: pd.DataFrame, allow_new_levels: bool = True,
                include: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """Z b for new data over the included terms and columns (0 for levels the fit has not seen)."""
    include = parse_re_form(None, m.design.terms) if include is None else include
    out = np.zeros(len(data))
    for k, mask in include.items():
        term, b = m.design.terms[k], m.solution.b[k]
        codes = _level_codes(term, data, allow_new_levels)
        Z = term.encode(data)
        vals = np.einsum("ip,ip->i", Z * mask, b[np.maximum(codes, 0)])
        out += np.where(codes < 0, 0.0, vals)
    return out


def predict(m: LmerResult, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = False,
            interval: str | None = None, level: float = 0.95, se_fit: bool = False,
            na_action: str = "na.pass") -> pd.Series | pd.DataFrame:
    """Predictions; see :meth:`LmerResult.predict`."""
    _check_na_action(na_action)
    if interval is not None or se_fit:
        from ..inference.prediction import predict_interval

        return predict_interval(m, newdata, re_form=re_form, interval=interval, level=level,
                                allow_new_levels=allow_new_levels, na_action=na_action)
    include = parse_re_form(re_form, m.design.terms, m.data)
    if newdata is None:
        if len(include) == len(m.design.terms) and all(v.all() for v in include.values()):
            vals = m._linear_predictor(with_re=True)
        elif not include:
            vals = m._linear_predictor(with_re=False)
        else:
            b = [m.solution.b[k] * include[k] if k in include else np.zeros_like(m.solution.b[k])
                 for k in range(len(m.design.terms))]
            vals = m._linear_predictor(b=b)
        out = pd.Series(vals, index=m.data.index, name="predicted")
        frame = m.design.frame
        if _pads(frame) or (na_action == "na.exclude" and frame.input_index is not None):  # as R's na.exclude
            rows = PredictionRows(index=out.index, X=np.zeros((0, 0)), offset=0.0, Z={}, codes={},
                                  pad_index=frame.input_index, pad_positions=frame.rows)
            return finish_rows(rows, out)
        return out
    rows = prediction_rows(m, newdata, include, allow_new_levels, na_action)
    return finish_rows(rows, pd.Series(rows.fit(m, include), index=rows.index, name="predicted"))


def simulate(m: LmerResult, nsim: int = 1, seed: Any = None, use_u: bool = False, newdata: Any = None,
             newparams: Any = None, re_form: Any = "~0", allow_new_levels: bool = False,
             family: Any = None) -> pd.DataFrame:
    """Responses simulated from the fitted model; see :meth:`LmerResult.simulate`.

    With a ``family`` (a GLMM), the linear predictors are drawn as for an LMM without residuals, and each
    response from the family at ``linkinv(eta)`` (:func:`glm_draws`).
    """
    from ..simulate import (
        RandomDraw,
        beta_vector,
        check_newparams,
        check_nsim,
        draw_responses,
        lambdas_of,
        sigma_value,
        sim_frame,
        theta_vector,
    )

    nsim = check_nsim(nsim)
    d = m.design
    if use_u:
        if parse_re_form(re_form, d.terms, m.data):
            raise ValueError("give only one of use_u and re_form (use_u=True is re_form=None)")
        re_form = None
    params = check_newparams(newparams) if newparams is not None else {}
    beta = m.solution.beta if params.get("beta") is None else beta_vector(params["beta"], d.fixed.names)
    theta = m.solution.theta if params.get("theta") is None else theta_vector(params["theta"], d)
    sigma = m.sigma if params.get("sigma") is None else sigma_value(params["sigma"])
    if family is not None:
        sigma = 1.0  # the random effects' scale (b = Lambda u); the responses come from the family below
    include = parse_re_form(re_form, d.terms, m.data)
    partial = [d.terms[k].group for k, mask in include.items() if not mask.all()]
    if partial:
        raise FormulaError(f"re_form in simulate() conditions on whole random terms; the term(s) of {partial} "
                           "are listed in part: list all of a term's effects, e.g. '~(Days | Subject)'")
    lams = lambdas_of(d, theta)
    conditioned = [m.solution.b[k] if k in include else None for k in range(len(d.terms))]
    if include and params.get("theta") is not None:
        raise ValueError("newparams with a new theta: the conditional modes belong to the fitted theta; "
                         "use re_form='~0' (draw all random effects) with new parameters")
    if newdata is None:
        eta = m._linear_predictor(beta=beta, b=[c if c is not None else np.zeros_like(m.solution.b[k])
                                                for k, c in enumerate(conditioned)], with_re=bool(include))
        draws = [RandomDraw(Z=t.matrix, codes=t.codes, nlevels=t.nlevels, lam=lam)
                 for k, (t, lam) in enumerate(zip(d.terms, lams)) if k not in include]
        weights, index = m.weights, m.data.index
    else:
        data = as_pandas(newdata)
        every = {k: np.ones(t.p, dtype=bool) for k, t in enumerate(d.terms)}
        rows = prediction_rows(m, data, every, allow_new_levels, na_action="na.omit")  # lme4: na.omit
        eta = rows.X @ beta + rows.offset
        draws = []
        for k, (t, lam) in enumerate(zip(d.terms, lams)):
            codes, Z = rows.codes[k], rows.Z[k]
            if k in include:
                eta = eta + np.where(codes < 0, 0.0, np.einsum("ip,ip->i", Z, m.solution.b[k][np.maximum(codes, 0)]))
                continue
            new = codes < 0
            nlev = t.nlevels
            if new.any():  # new levels get random effects of their own, drawn as the fitted levels'
                labels = encode_labels(t, data.iloc[rows.positions])
                extra, inv = np.unique(labels[new], return_inverse=True)
                codes = codes.copy()
                codes[new] = t.nlevels + inv
                nlev += len(extra)
            draws.append(RandomDraw(Z=Z, codes=codes, nlevels=nlev, lam=lam))
        weights, index = None, rows.index
    rng = np.random.default_rng(seed)
    if family is None:
        out = sim_frame(draw_responses(eta, draws, sigma, nsim, rng, weights=weights), index)
    else:
        etas = draw_responses(eta, draws, sigma, nsim, rng, weights=None, residuals=False)
        out = sim_frame(glm_draws(family, etas, weights, rng), index)
    frame = d.frame
    if newdata is None and _pads(frame):
        pad = PredictionRows(index=index, X=np.zeros((0, 0)), offset=0.0, Z={}, codes={},
                             pad_index=frame.input_index, pad_positions=frame.rows)
        return finish_rows(pad, out)  # as lme4: rows of the data, NaN for those the fit left out
    return out


def glm_draws(family: Any, etas: np.ndarray, weights: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Responses drawn from a binomial or Poisson family at mu = linkinv(eta), column by column.

    Binomial: successes out of the prior weights (trials; 1 without weights) as proportions (0 where the
    trials are 0), as R's ``binomial()$simulate``; Poisson: counts.

    Examples
    --------
    >>> import numpy as np
    >>> class Fam:
    ...     name = "poisson"
    ...     def linkinv(self, eta):
    ...         return np.exp(eta)
    >>> glm_draws(Fam(), np.zeros((3, 2)), None, np.random.default_rng(1)).shape
    (3, 2)
    """
    mu = np.asarray(family.linkinv(etas), dtype=float)
    n = etas.shape[0]
    wt = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    out = np.empty_like(mu)
    for s in range(mu.shape[1]):
        if str(family.name) == "binomial":
            trials = np.round(wt).astype(np.int64)
            k = rng.binomial(trials, np.clip(mu[:, s], 0.0, 1.0))
            out[:, s] = np.where(trials > 0, k / np.maximum(trials, 1), 0.0)
        else:
            out[:, s] = rng.poisson(mu[:, s])
    return out


def encode_labels(term: ReTerm, data: pd.DataFrame) -> np.ndarray:
    """The grouping factor's label of each row of ``data`` (``a:b`` for an interaction)."""
    cols = list(term.group_cols)
    if len(cols) == 1:
        return data[cols[0]].astype(str).to_numpy()
    return data[cols].astype(str).agg(":".join, axis=1).to_numpy()
