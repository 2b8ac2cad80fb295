"""Predictions for new data and simulation of new responses from a fit (lme4's ``predict`` and ``simulate``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..design import as_pandas, encode_groups
from ..design.frame import DataError
from ..formula import FormulaError, parse_formula

if TYPE_CHECKING:
    from ..design.random import ReTerm
    from .model import LmerResult

__all__ = ["parse_re_form", "population_only", "predict", "random_part", "simulate"]

_NONE_FORMS = {"~0", "NA", "0", "~-1", "~1-1", "~0+1", "~-1+1", "nan", "~1"}


def population_only(re_form: Any) -> bool:
    """True when ``re_form`` asks for fixed effects only (lme4's ``re.form = NA`` or ``~0``)."""
    if re_form is None:
        return False
    if re_form is False:
        return True
    if isinstance(re_form, str):
        return re_form.replace(" ", "") in _NONE_FORMS
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
        names = _term_names(rt.expr, rt.label, frame)
        for nm in names:
            hits = [k for k in ks if nm in terms[k].cnames]
            if not hits:
                have = [c for k in ks for c in terms[k].cnames]
                raise FormulaError(f"re_form term ({rt.label}): the model has no random effect {nm!r} for "
                                   f"{rt.group_name!r}; it has {have}")
            k = hits[0]
            mask = out.setdefault(k, np.zeros(terms[k].p, dtype=bool))
            mask[terms[k].cnames.index(nm)] = True
    return out


def _term_names(expr: str, label: str, frame: pd.DataFrame | None) -> list[str]:
    """Column names of a random term's expression, as the fit names them."""
    from ..design.matrices import build_matrix, rename_intercept

    bare = expr.replace(" ", "")
    if bare in {"1", "1+1"}:
        return ["(Intercept)"]
    if frame is None:
        raise FormulaError(f"re_form term ({label}) needs the model's data to be read")
    try:
        _, names, _ = build_matrix(expr, frame)
    except Exception as exc:  # formulaic raises several kinds
        raise FormulaError(f"re_form term ({label}) cannot be read: {exc}") from exc
    return rename_intercept(names)


def _level_codes(term: ReTerm, data: pd.DataFrame, allow_new_levels: bool, valid: np.ndarray) -> np.ndarray:
    """Codes of ``data``'s rows in the fit's levels of ``term``; -1 for new levels (an error unless allowed)."""
    missing = [c for c in term.group_cols if c not in data.columns]
    if missing:
        raise DataError(f"newdata lacks grouping column(s) {missing} of term | {term.group}; "
                        "add them or use re_form='~0' for population-level predictions")
    codes = encode_groups(term, data)
    new = (codes < 0) & valid
    if new.any() and not allow_new_levels:
        levels = pd.unique(data.loc[new, list(term.group_cols)].astype(str).agg(":".join, axis=1))[:5]
        raise DataError(f"newdata has level(s) of {term.group!r} not in the fit (e.g. {list(levels)}); "
                        "pass allow_new_levels=True to predict them at the population level")
    return codes


def random_part(m: LmerResult, data: pd.DataFrame, allow_new_levels: bool = True,
                include: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """Z b for new data over the included terms and columns (0 for levels the fit has not seen).

    Rows with a missing grouping value get NaN.
    """
    include = parse_re_form(None, m.design.terms) if include is None else include
    out = np.zeros(len(data))
    for k, mask in include.items():
        term, b = m.design.terms[k], m.solution.b[k]
        valid = ~data[[c for c in term.group_cols if c in data.columns]].isna().any(axis=1).to_numpy()
        codes = _level_codes(term, data, allow_new_levels, valid)
        Z = term.encode(data)
        vals = np.einsum("ip,ip->i", Z[:, mask], b[np.where(codes < 0, 0, codes)][:, mask])
        out += np.where(codes < 0, 0.0, vals)
        out[~valid] = np.nan
    return out


def predict(m: LmerResult, newdata: Any = None, re_form: Any = None, allow_new_levels: bool = True,
            interval: str | None = None, level: float = 0.95) -> pd.Series | pd.DataFrame:
    """Predictions; see :meth:`LmerResult.predict`."""
    if interval is not None:
        from ..inference.prediction import predict_interval

        return predict_interval(m, newdata, re_form=re_form, interval=interval, level=level,
                                allow_new_levels=allow_new_levels)
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
        return pd.Series(vals, index=m.data.index, name="predicted")
    data = as_pandas(newdata)
    X = m.design.fixed.encode(data)
    vals = X @ m.solution.beta
    if include:
        vals = vals + random_part(m, data, allow_new_levels, include)
    return pd.Series(vals, index=data.index, name="predicted")


def simulate(m: LmerResult, nsim: int = 1, seed: Any = None, use_u: bool = False, newdata: Any = None,
             newparams: Any = None, re_form: Any = "~0", allow_new_levels: bool = False) -> pd.DataFrame:
    """Responses simulated from the fitted model; see :meth:`LmerResult.simulate`."""
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
    if use_u:
        if not population_only(re_form):
            raise ValueError("give only one of use_u and re_form (use_u=True is re_form=None)")
        re_form = None
    d = m.design
    params = check_newparams(newparams) if newparams is not None else {}
    beta = m.solution.beta if params.get("beta") is None else beta_vector(params["beta"], d.fixed.names)
    theta = m.solution.theta if params.get("theta") is None else theta_vector(params["theta"], d)
    sigma = m.sigma if params.get("sigma") is None else sigma_value(params["sigma"])
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
        eta = d.fixed.encode(data) @ beta
        draws = []
        for k, (t, lam) in enumerate(zip(d.terms, lams)):
            valid = np.ones(len(data), dtype=bool)
            codes = _level_codes(t, data, allow_new_levels, valid)
            Z = t.encode(data)
            if k in include:
                eta = eta + np.where(codes < 0, 0.0, np.einsum("ip,ip->i", Z, m.solution.b[k][np.maximum(codes, 0)]))
            else:
                new = codes < 0
                if new.any():  # new levels get random effects of their own, drawn as the fitted levels'
                    extra, inv = np.unique(pd.Series(encode_labels(t, data)[new]).to_numpy(), return_inverse=True)
                    codes = codes.copy()
                    codes[new] = t.nlevels + inv
                    nlev = t.nlevels + len(extra)
                else:
                    nlev = t.nlevels
                draws.append(RandomDraw(Z=Z, codes=codes, nlevels=nlev, lam=lam))
        weights, index = None, data.index
        if not np.isfinite(eta).all():
            raise DataError("newdata has missing values in the model's columns: drop those rows first")
    rng = np.random.default_rng(seed)
    return sim_frame(draw_responses(eta, draws, sigma, nsim, rng, weights=weights), index)


def encode_labels(term: ReTerm, data: pd.DataFrame) -> np.ndarray:
    """The grouping factor's label of each row of ``data`` (``a:b`` for an interaction)."""
    cols = list(term.group_cols)
    if len(cols) == 1:
        return data[cols[0]].astype(str).to_numpy()
    return data[cols].astype(str).agg(":".join, axis=1).to_numpy()
