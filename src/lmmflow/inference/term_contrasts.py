"""Hypothesis matrices of the fixed-effect terms for ``lf.anova``: lmerTest's type I (sequential), type II
(marginal, respecting hierarchy) and type III contrasts; see :mod:`lmmflow.inference.anova` for their definitions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..design.contrasts import term_label

if TYPE_CHECKING:
    from ..results.model import LmerResult

__all__ = ["type1_contrasts", "type2_contrasts", "type3_contrasts"]


def _fixed_terms(m: LmerResult) -> tuple[list[str], dict[str, list[int]], dict[str, set[str]], dict[str, set[str]]]:
    """Term labels (no intercept), their columns in X, their variables and their numeric variables."""
    from formulaic.parser.types import Factor

    fixed = m.design.fixed
    spec = _model_spec(m)
    pos = {int(j): i for i, j in enumerate(fixed.kept)}
    labels: list[str] = []
    cols: dict[str, list[int]] = {}
    vars_: dict[str, set[str]] = {}
    nums: dict[str, set[str]] = {}
    for term in spec.terms:
        factors = [f.expr for f in term.factors if f.expr != "1"]
        if not factors:
            continue
        label = term_label(str(term))  # f:x, not the contrast coding's C(f, contr.sum, ...):x
        labels.append(label)
        cols[label] = [pos[j] for j in spec.term_indices[term] if j in pos]
        vars_[label] = set(factors)
        nums[label] = set()
        for f in factors:
            state = spec.encoder_state.get(f)
            if state is None or state[0] != Factor.Kind.CATEGORICAL:
                nums[label].add(f)
    return labels, cols, vars_, nums


def _model_spec(m: LmerResult) -> Any:
    """formulaic's ModelSpec of the fixed part (rebuilt on the model frame when the design used a direct path)."""
    spec = m.design.fixed.spec
    if hasattr(spec, "terms") and hasattr(spec, "term_indices") and hasattr(spec, "encoder_state"):
        return spec
    from formulaic import model_matrix

    data = m.data
    if not isinstance(data, pd.DataFrame) and hasattr(data, "_meta"):
        data = data._meta  # a Dask fit's direct (numeric-only) path: the columns' types are all formulaic needs
    return model_matrix(m.design.formula.fixed, data, na_action="ignore").model_spec


def _rows_on_driver(m: LmerResult) -> bool:
    """Whether the fit's rows are in memory (False for a fit on a Dask DataFrame)."""
    return m.design.X.shape[0] == m.nobs


def _factor_lists(m: LmerResult) -> dict[str, list[str]]:
    """The factors (variables) of each fixed term, in the order of the term."""
    return {term_label(str(t)): [f.expr for f in t.factors if f.expr != "1"] for t in _model_spec(m).terms}


def _has_intercept(m: LmerResult) -> bool:
    return "(Intercept)" in m.fixef_names


def type1_contrasts(m: LmerResult) -> dict[str, np.ndarray]:
    """Sequential (type I) contrasts per term: rows of the unit upper factor of X'X (lmerTest's Doolittle).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (1 | Subject)", lf.load_dataset("sleepstudy"))
    >>> type1_contrasts(m)["Days"]
    array([[0., 1.]])
    """
    labels, cols, _, _ = _fixed_terms(m)
    R = np.linalg.cholesky(_xtx(m))
    Lunit = R / np.diag(R)[None, :]
    Lunit[np.abs(Lunit) < 1e-6] = 0.0
    Lt = Lunit.T
    return {t: Lt[cols[t]] for t in labels if cols[t]}


def type2_contrasts(m: LmerResult) -> dict[str, np.ndarray]:
    """Type II hypothesis matrices per term (lmerTest's ``get_contrasts_type2_unfolded``).

    A term contained in no other (its variables are not all in a larger term with the same numeric
    variables) is tested marginally: its own coefficients.  A contained term is tested after every term
    except those containing it: the term's rows of the unit upper Doolittle factor of X'X with the columns
    reordered as (other terms, the term, the terms containing it).

    Examples
    --------
    >>> import lmmflow as lf, pandas as pd
    >>> d = pd.DataFrame({"y": [1., 3, 2, 5, 4, 6, 5, 8, 7, 9, 8, 12], "x": [0., 1, 2, 3] * 3,
    ...                   "f": list("aaaabbbbcccc"), "g": list("pqrpqrpqrpqr")})
    >>> m = lf.lmer("y ~ f * x + (1 | g)", d, quiet=True)
    >>> type2_contrasts(m)["f:x"]
    array([[0., 0., 0., 0., 1., 0.],
           [0., 0., 0., 0., 0., 1.]])
    """
    labels, cols, vars_, nums = _fixed_terms(m)
    p = len(m.fixef_names)
    if p <= 1 or len(labels) <= 1:
        return type1_contrasts(m)
    xtx = _xtx(m)
    out = {}
    for t in labels:
        if not cols[t]:
            continue
        contains = [u for u in labels if u != t and vars_[t] <= vars_[u] and len(vars_[u]) > len(vars_[t])
                    and nums[t] == nums[u]]
        if not contains:
            out[t] = np.eye(p)[cols[t]]
            continue
        block = list(cols[t]) + [c for u in contains for c in cols[u]]
        order = [j for j in range(p) if j not in block] + block
        R = np.linalg.cholesky(xtx[np.ix_(order, order)])
        Lunit = R / np.diag(R)[None, :]
        Lunit[np.abs(Lunit) < 1e-6] = 0.0
        rows = Lunit.T[[order.index(j) for j in cols[t]]]
        L = np.zeros((len(rows), p))
        L[:, order] = rows
        out[t] = L
    return out


def _xtx(m: LmerResult) -> np.ndarray:
    """X'X (unweighted, as lmerTest's ``crossprod(X)``), from the rows or, for a Dask fit, the cross-products."""
    if _rows_on_driver(m):
        X = m.design.X
        return X.T @ X
    if m.weights is not None:
        raise NotImplementedError("type I contrasts of a weighted fit on a Dask DataFrame need the unweighted X'X, "
                                  "which the fit does not keep; use lf.contrast(m, L)")
    p = m.devfun.cp.p
    return np.asarray(m.devfun.cp.xx[:p, :p], dtype=float)


def _zapsmall(x: np.ndarray, digits: int = 7) -> np.ndarray:
    mx = float(np.max(np.abs(x))) if x.size else 0.0
    if mx == 0:
        return x
    return np.round(x, max(0, digits - math.ceil(math.log10(mx))))


class _TreatmentTwin:
    """A model's fixed part coded with treatment contrasts throughout (what type III contrasts are built on)."""

    def __init__(self, m: LmerResult):
        from dataclasses import replace

        from ..design.fixed import build_fixed

        twin = build_fixed(m.design.formula.fixed, m.data, contrasts=dict.fromkeys(m.design.fixed.contrasts,
                                                                                  "treatment"))
        self.design = replace(m.design, fixed=twin)
        self.data = m.data
        self.nobs = m.nobs
        self.fixef_names = list(twin.names)


def type3_contrasts(m: LmerResult) -> dict[str, np.ndarray]:
    """Type III hypothesis matrices per term (lmerTest's for treatment coding; see the module notes).

    Returns
    -------
    dict
        Term label -> (rows, p) matrix in the order of ``m.fixef``.

    Examples
    --------
    >>> import lmmflow as lf, pandas as pd
    >>> d = pd.DataFrame({"y": [1., 3, 2, 5, 4, 6, 5, 8, 7, 9, 8, 12], "x": [0., 1, 2, 3] * 3,
    ...                   "f": list("aaaabbbbcccc"), "g": list("pqrpqrpqrpqr")})
    >>> m = lf.lmer("y ~ f * x + (1 | g)", d, quiet=True)
    >>> type3_contrasts(m)["x"].round(4)
    array([[0.    , 0.    , 0.    , 1.    , 0.3333, 0.3333]])
    """
    from formulaic import model_matrix

    X = m.design.X
    p = X.shape[1]
    labels, cols, vars_, nums = _fixed_terms(m)
    if p <= 1 or len(labels) <= 1:
        return type1_contrasts(m)
    if not _rows_on_driver(m):
        if all(nums[t] == vars_[t] for t in labels):  # numeric terms only: nothing contains anything
            eye = np.eye(p)
            return {t: eye[cols[t]] for t in labels if cols[t]}
        raise NotImplementedError("type III contrasts of a model with factors need the rows of the design, which a "
                                  "fit on a Dask DataFrame keeps in its partitions; test the terms with "
                                  "lf.contrast(m, L, joint=True), or fit the pandas frame")
    factor_lists = _factor_lists(m)
    data = m.data
    blocks, col_term = [], []
    if _has_intercept(m):
        blocks.append(np.ones((len(data), 1)))
        col_term.append(None)
    for t in labels:
        mats = []
        for f in factor_lists[t]:
            mats.append(np.asarray(model_matrix(f"0 + {f}", data, na_action="ignore"), dtype=float))
        cur = mats[0]
        for nxt in mats[1:]:
            cur = np.einsum("ia,ib->iab", cur, nxt).reshape(len(data), -1)
        blocks.append(cur)
        col_term.extend([t] * cur.shape[1])
    rdX = np.column_stack(blocks)
    coef = np.linalg.lstsq(X, rdX, rcond=None)[0]  # p x pp
    L = _zapsmall(coef.T)  # pp x p
    # rows of L that are the model's own columns (a unit vector of coefficients)
    rows = []
    for k in range(p):
        hit = np.flatnonzero(np.abs(coef.T - np.eye(p)[k]).max(axis=1) < 1e-8)
        if not len(hit):
            if m.design.fixed.contrasts and not isinstance(m, _TreatmentTwin):
                # sum / Helmert / polynomial coding: lmerTest's type III hypotheses do not depend on the coding,
                # so take them from the treatment-coded twin and carry them over (X = X_trt A, L = L_trt A)
                twin = _TreatmentTwin(m)
                A = np.linalg.lstsq(twin.design.X, X, rcond=None)[0]
                return {t: Lt @ A for t, Lt in type3_contrasts(twin).items()}  # type: ignore[arg-type]
            raise NotImplementedError(
                "type III contrasts need treatment-coded factors (lmmflow's default coding): column "
                f"{m.fixef_names[k]!r} is not a column of the over-parameterized design; use type='I' or contrast()")
        rows.append(int(hit[0]))
    contains = {t: [u for u in labels if u != t and vars_[t] <= vars_[u] and len(vars_[u]) > len(vars_[t])
                    and nums[t] == nums[u]] for t in labels}
    order = sorted(labels, key=lambda t: -len(vars_[t]))
    for t in order:
        if contains[t] and cols[t]:
            other = [c for u in contains[t] for c in cols[u]]
            Xo, Y = L[:, other], L[:, cols[t]]
            beta = np.linalg.lstsq(Xo, Y, rcond=None)[0]
            L[:, cols[t]] = _zapsmall(Y - Xo @ beta)
    Lx = L[rows]  # p x p
    out = {}
    for t in labels:
        if not cols[t]:
            continue
        Lt = Lx[:, cols[t]].T
        out[t] = Lt[np.abs(Lt).sum(axis=1) > 1e-8] + 0.0  # no negative zeros
    return out


# ---- F tests ----------------------------------------------------------------------------------------
