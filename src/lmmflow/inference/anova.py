"""F tests of fixed-effect terms and contrasts, likelihood-ratio tests of nested models, ranova, AIC tables.

``anova(m)`` is lmerTest's type III table (``type="I"`` for the sequential one) with Satterthwaite's or
Kenward-Roger's denominator df; ``anova(m0, m1, ...)`` is lme4's likelihood-ratio comparison (REML
fits refit by ML first); ``ranova(m)`` tests each random-effects term by reducing or removing it;
``contrast(m, L)`` tests any linear combinations of the fixed effects; ``compare_models`` is an AIC
table with AIC weights.

Type III contrasts (lmerTest's ``get_contrasts_type3`` for treatment coding, SAS's definition): the
over-parameterized design ``rdX`` (intercept plus, for each term, the full indicator coding of its
factors times its numeric variables) is written in the model's columns, ``L = (X^+ rdX)'``; then,
from the highest-order terms down, the columns of ``L`` of each term are replaced by their
residuals on the columns of the terms that *contain* it (contain: the same numeric variables and a
strict superset of the variables).  The rows of ``L`` that are the model's own columns give, for
each term, the hypothesis matrix.  For a factor by numeric interaction (``recipe * temp``) this
tests ``temp`` as the slope averaged over the recipes and ``recipe`` at ``temp = 0`` (as SAS and
lmerTest do); numeric main effects in models without interactions and factors are tested by their
own coefficients.  Models with a single term use the type I (sequential, Doolittle) contrasts, as
lmerTest does.  Factors must be treatment-coded (lmmflow's default).  The hypothesis matrices of the three
types are built in :mod:`lmmflow.inference.term_contrasts`.

Fits on a Dask DataFrame (``lmmflow.scale``) keep no rows on the driver: type I contrasts come from the
cross-products ``X'X``; type III contrasts of models whose fixed terms are all numeric are each term's own
coefficients (no term contains another), and with factors they need the rows, so they raise (use
``contrast()``).  Likelihood-ratio tests of Dask fits check the rows used by a hash of their partition and
index (one pass over the data per model).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ..results.base import require_kind
from .term_contrasts import (  # noqa: F401 - the hypothesis matrices, also importable from here
    _factor_lists,
    _fixed_terms,
    _has_intercept,
    _model_spec,
    _rows_on_driver,
    _TreatmentTwin,
    _xtx,
    _zapsmall,
    type1_contrasts,
    type2_contrasts,
    type3_contrasts,
)

if TYPE_CHECKING:
    from ..results.model import LmerResult

__all__ = ["AnovaFrame", "anova", "compare_models", "contrast", "ranova", "type1_contrasts", "type3_contrasts"]

REFIT_NOTE = "refitting model(s) with ML (instead of REML)"
BOUNDARY_NOTE = ("the larger model adds variance parameters, which are tested on the boundary of their space: "
                 "the chi-square p-value is conservative; p_boundary is the 50:50 mixture of chi-square(df - 1) "
                 "and chi-square(df) (Stram & Lee 1994; exact when one random effect is added)")


class AnovaFrame(pd.DataFrame):
    """A DataFrame that prints like R's anova tables: a heading, R's column names, a note.

    The columns keep their Python names (``sum_sq``, ``p_value``, ...); ``attrs["display_names"]``
    maps them to R's, ``attrs["heading"]`` and ``attrs["note"]`` are printed around the table.
    """

    @property
    def _constructor(self) -> type:
        return AnovaFrame

    def to_display(self) -> pd.DataFrame:
        """The table with R's column names, as a plain DataFrame."""
        return pd.DataFrame(self).rename(columns=self.attrs.get("display_names", {}))

    def _body(self) -> str:
        disp = self.to_display()
        fmt = {}
        for col in disp.columns:
            if str(col).startswith("Pr(") or str(col) == "p_boundary":
                fmt[col] = _fmt_p
            elif pd.api.types.is_float_dtype(disp[col]):
                fmt[col] = _fmt_num
        return disp.to_string(formatters=fmt, na_rep="")

    def __repr__(self) -> str:
        parts = [self.attrs["heading"]] if self.attrs.get("heading") else []
        parts.append(self._body())
        if self.attrs.get("note"):
            parts.append("Note: " + self.attrs["note"])
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        head = f"<p>{self.attrs['heading']}</p>".replace("\n", "<br>") if self.attrs.get("heading") else ""
        note = f"<p><i>Note: {self.attrs['note']}</i></p>" if self.attrs.get("note") else ""
        return head + self.to_display().to_html(na_rep="") + note


def _fmt_p(v: float) -> str:
    if v is None or not np.isfinite(v):
        return ""
    return "< 2.2e-16" if v < 2.2e-16 else f"{v:.4g}"


def _fmt_num(v: float) -> str:
    if v is None or not np.isfinite(v):
        return ""
    return f"{v:.6g}" if abs(v) < 1e6 else f"{v:.1f}"


def _frame(data: dict[str, Any], index: Any, display: dict[str, str], heading: str, note: str = "") -> AnovaFrame:
    out = AnovaFrame(data, index=index)
    out.attrs.update({"heading": heading, "display_names": display, "note": note})
    return out


# ---- contrasts of the model's terms -------------------------------------------------------------
_F_DISPLAY = {"sum_sq": "Sum Sq", "mean_sq": "Mean Sq", "num_df": "NumDF", "den_df": "DenDF",
              "f_value": "F value", "p_value": "Pr(>F)"}


def _norm_ddf(ddf: str) -> str:
    d = ddf.lower().replace("_", "-").replace(" ", "-")
    if d in ("kr", "kenward-roger", "kenwardroger"):
        return "kenward-roger"
    if d in ("satterthwaite", "satt", "s"):
        return "satterthwaite"
    raise ValueError(f"ddf={ddf!r}: use 'satterthwaite' or 'kenward-roger'")


def _row_basis(L: np.ndarray, eps: float = np.sqrt(np.finfo(float).eps)) -> np.ndarray:
    """Rows spanning the row space of ``L`` (L itself when of full row rank): the same hypothesis, tested
    with its rank as numerator df (lmerTest's contestMD keeps the eigenvectors of L V L' above eps)."""
    if L.shape[0] <= 1 and np.abs(L).sum() > 0:
        return L
    if not L.size or not np.abs(L).sum():
        return L[:0]
    _, sv, vt = np.linalg.svd(L, full_matrices=False)
    q = int(np.sum(sv > eps * sv[0]))
    return L if q == L.shape[0] else vt[:q]


def _ftest(m: LmerResult, L: np.ndarray, ddf: str) -> dict[str, float]:
    if ddf == "kenward-roger":
        from .kenward_roger import kr_ftest

        r = kr_ftest(m, _row_basis(L))
        r.pop("scaling", None)
        return r
    from .satterthwaite import contrast_ftest

    return contrast_ftest(m, L)


def _ftable(m: LmerResult, Ls: dict[str, np.ndarray], ddf: str, heading: str) -> AnovaFrame:
    # a hypothesis of rank 0 (no rows, or only zero rows) has no test: no row, as lmerTest's contestMD
    Ls = {k: L for k, L in Ls.items() if _row_basis(np.atleast_2d(L)).shape[0] > 0}
    rows = [_ftest(m, L, ddf) for L in Ls.values()]
    data = {k: [r[k] for r in rows] for k in _F_DISPLAY}
    out = _frame(data, pd.Index(list(Ls), name="term"), _F_DISPLAY, heading)
    out["num_df"] = out["num_df"].astype(int)
    out.attrs["hypotheses"] = {k: pd.DataFrame(v, columns=m.fixef_names) for k, v in Ls.items()}
    return out


def anova(*models: LmerResult, ddf: str = "satterthwaite", type: str | int = "III",  # noqa: A002
          refit: bool = True, names: Sequence[str] | None = None) -> AnovaFrame:
    """F tests of the fixed-effect terms of one model, or likelihood-ratio tests of several.

    Parameters
    ----------
    *models : LmerResult
        One model: lmerTest's ANOVA table.  Several: lme4's ``anova(m0, m1, ...)``.
    ddf : {"satterthwaite", "kenward-roger"}
        Denominator df of the F tests (one model).
    type : {"III", "II", "I"} or {3, 2, 1}
        Type III (marginal, SAS), type II (each term after all terms that do not contain it) or type I
        (sequential) hypotheses (one model), as lmerTest's ``anova(m, type = ...)``.
    refit : bool
        Several models: refit REML fits by ML first (lme4's default; a note is attached).
    names : list of str, optional
        Several models: row labels (default ``m1, m2, ...`` in the order given).

    Returns
    -------
    AnovaFrame
        One model: a row per term with sum_sq, mean_sq, num_df, den_df, f_value, p_value
        (``attrs["hypotheses"]`` holds the contrast matrices).  Several: a row per model, sorted by
        npar, with npar, aic, bic, loglik, deviance, chisq, df, p_value, and p_boundary where the
        larger model adds variance parameters.

    Raises
    ------
    ValueError
        Several models fit to different rows or different responses.

    Examples
    --------
    >>> import lmmflow as lf
    >>> d = lf.load_dataset("sleepstudy")
    >>> m0 = lf.lmer("Reaction ~ Days + (1 | Subject)", d)
    >>> m1 = lf.lmer("Reaction ~ Days + (Days | Subject)", d)
    >>> a = lf.anova(m0, m1)
    >>> round(float(a["chisq"].iloc[-1]), 2), int(a["df"].iloc[-1])
    (42.14, 2)
    >>> round(float(lf.anova(m1)["f_value"].iloc[0]), 2)
    45.85
    """
    if not models:
        raise TypeError("anova() needs at least one fitted model")
    if len(models) > 1:
        return _lrt_table(list(models), refit=refit, names=names)
    m = models[0]
    require_kind(m, "lmm", "anova(m) with F tests (Satterthwaite's or Kenward-Roger's df)")
    ddf = _norm_ddf(ddf)
    t = str(type).upper()
    if t in ("3", "III"):
        Ls, label = type3_contrasts(m), "Type III"
    elif t in ("2", "II"):
        Ls, label = type2_contrasts(m), "Type II"
    elif t in ("1", "I"):
        Ls, label = type1_contrasts(m), "Type I"
    else:
        raise ValueError(f"type={type!r}: use 'III', 'II' or 'I' (or 3, 2, 1)")
    method = "Satterthwaite's" if ddf == "satterthwaite" else "Kenward-Roger's"
    return _ftable(m, Ls, ddf, f"{label} Analysis of Variance Table with {method} method")


def _contrast_matrix(m: LmerResult, L: Any) -> tuple[np.ndarray, list[str]]:
    names = m.fixef_names
    p = len(names)
    if isinstance(L, str):
        L = [L]
    if isinstance(L, pd.Series):
        L = L.to_frame().T
    if isinstance(L, dict):
        rows, labels = [], []
        for key, val in L.items():
            if isinstance(val, dict):
                row = np.zeros(p)
                for coef, w in val.items():
                    if coef not in names:
                        raise KeyError(f"{coef!r} is not a fixed effect; fixed effects are {names}")
                    row[names.index(coef)] = w
            else:
                row = np.asarray(val, dtype=float).ravel()
            rows.append(row)
            labels.append(str(key))
        return _check_width(np.array(rows), p), labels
    if isinstance(L, pd.DataFrame):
        unknown = [c for c in L.columns if c not in names]
        if unknown:
            raise KeyError(f"{unknown} are not fixed effects; fixed effects are {names}")
        full = L.reindex(columns=names, fill_value=0.0).to_numpy(dtype=float)
        return full, [str(i) for i in L.index]
    if isinstance(L, (list, tuple)) and L and all(isinstance(x, str) for x in L):
        missing = [x for x in L if x not in names]
        if missing:
            raise KeyError(f"{missing} are not fixed effects; fixed effects are {names}")
        return np.eye(p)[[names.index(x) for x in L]], list(L)
    arr = np.atleast_2d(np.asarray(L, dtype=float))
    return _check_width(arr, p), [f"c{i + 1}" for i in range(arr.shape[0])]


def _check_width(arr: np.ndarray, p: int) -> np.ndarray:
    if arr.ndim != 2 or arr.shape[1] != p:
        raise ValueError(f"a contrast needs one weight per fixed effect ({p}), got shape {arr.shape}")
    return arr


def contrast(m: LmerResult, L: Any, ddf: str = "satterthwaite", joint: bool = False) -> AnovaFrame:
    """t tests of linear combinations ``L beta`` of the fixed effects, or their joint F test.

    Parameters
    ----------
    m : LmerResult
    L : array-like, DataFrame, dict, str or list of str
        A (rows x p) matrix in the order of ``m.fixef``; a DataFrame whose columns are fixed-effect
        names (missing ones are 0; rows named by the index); a dict ``{name: {coef: weight}}`` or
        ``{name: row}``; or coefficient names (unit contrasts).
    ddf : {"satterthwaite", "kenward-roger"}
    joint : bool
        One F test of all rows together (lmerTest's ``contestMD``) instead of a t test per row.  A
        rank-deficient L is tested on its row space, with its rank as numerator df (as lmerTest); an L
        with no rows (or only zero rows) gives an empty table, as lmerTest's.

    Returns
    -------
    AnovaFrame
        Per row: estimate, std_error, df, t_value, p_value; or (joint) one row with sum_sq, mean_sq,
        num_df, den_df, f_value, p_value.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> c = lf.contrast(m, {"day 10": {"(Intercept)": 1, "Days": 10}})
    >>> round(float(c.loc["day 10", "estimate"]), 2), round(float(c.loc["day 10", "df"]), 2)
    (356.08, 17.0)
    """
    ddf = _norm_ddf(ddf)
    Lm, labels = _contrast_matrix(m, L)
    method = "Satterthwaite's" if ddf == "satterthwaite" else "Kenward-Roger's"
    if joint:
        return _ftable(m, {"contrast": Lm}, ddf, f"F test of {Lm.shape[0]} contrast(s) with {method} method")
    beta = m.fixef.to_numpy()
    if ddf == "kenward-roger":
        from .kenward_roger import kenward_roger_info, kr_ddf

        V = kenward_roger_info(m).vcov_adj
        dfs = [kr_ddf(m, row) for row in Lm]
    else:
        from .satterthwaite import satterthwaite_info

        info = satterthwaite_info(m)
        V = info.vcov_beta
        dfs = [info.df(row) for row in Lm]
    est = Lm @ beta
    se = np.sqrt(np.einsum("ia,ab,ib->i", Lm, V, Lm))
    t = est / se
    p = 2 * stats.t.sf(np.abs(t), dfs)
    disp = {"estimate": "Estimate", "std_error": "Std. Error", "df": "df", "t_value": "t value",
            "p_value": "Pr(>|t|)"}
    return _frame({"estimate": est, "std_error": se, "df": dfs, "t_value": t, "p_value": p},
                  pd.Index(labels, name="contrast"), disp, f"Contrasts with {method} method")


# ---- likelihood-ratio tests ---------------------------------------------------------------------------
def _partition_hash(df: pd.DataFrame, part: int) -> int:
    """A hash of the (partition, index) pairs of a partition's rows (order-free, modulo 2**64)."""
    keys = pd.DataFrame({"part": np.full(len(df), part), "index": np.asarray(df.index)})
    return int(pd.util.hash_pandas_object(keys, index=False).to_numpy(dtype=np.uint64).sum(dtype=np.uint64))


def _dask_rows_key(m: LmerResult) -> tuple[int, int, int]:
    """(partitions, rows, hash of the rows used) of a fit on a Dask DataFrame: one pass over its partitions."""
    import dask

    parts = m.data.to_delayed()
    hashes = dask.compute(*[dask.delayed(_partition_hash)(part, i) for i, part in enumerate(parts)])
    return len(parts), m.nobs, int(np.sum(np.asarray(hashes, dtype=np.uint64), dtype=np.uint64))


def _check_same_data(models: list[LmerResult]) -> None:
    from ..results.base import MixedModelResult

    for mm in models:
        if not isinstance(mm, MixedModelResult):
            raise TypeError(f"anova/compare_models take fitted models, got {type(mm).__name__}")
    first = models[0]
    kinds = {mm.model_kind for mm in models}
    if len(kinds) > 1:  # a Gaussian and a binomial / Poisson likelihood of one response are not nested
        raise TypeError("anova/compare_models cannot compare lf.lmer fits with lf.glmer fits: their likelihoods "
                        "are of different families; compare lmer fits with lmer fits and glmer fits with glmer fits")
    if kinds == {"glmm"}:
        fams = {(mm.family, mm.link) for mm in models}
        if len(fams) > 1:
            raise ValueError(f"the glmer fits have different families/links {sorted(fams)}: a likelihood-ratio test "
                             "compares nested models of one family and link")
        w0 = first.prior_weights
        for mm in models[1:]:
            if mm.nobs == first.nobs and not np.allclose(mm.prior_weights, w0):
                raise ValueError("the glmer fits have different prior weights (binomial trials): likelihoods of "
                                 "different data cannot be compared")
    rows_msg = ("models were fit to different rows ({a} and {b} observations, or different row labels): "
                "likelihoods of different data cannot be compared; drop the rows with missing values in any "
                "model's columns first and refit all models on the same frame")
    on_driver = [_rows_on_driver(mm) for mm in models]
    if not all(on_driver):
        if any(on_driver):
            raise ValueError("compare a fit on a Dask DataFrame with fits of the same Dask frame (whether their rows "
                             "agree cannot be checked against an in-memory fit)")
        key0 = _dask_rows_key(first)
        for mm in models[1:]:
            if mm.design.formula.response != first.design.formula.response:
                raise ValueError(
                    f"models have different responses ({first.design.formula.response!r} and "
                    f"{mm.design.formula.response!r}): likelihoods of different responses cannot be compared")
            if _dask_rows_key(mm) != key0:
                raise ValueError(rows_msg.format(a=first.nobs, b=mm.nobs))
        return
    for mm in models[1:]:
        if mm.nobs != first.nobs or not mm.data.index.equals(first.data.index):
            raise ValueError(rows_msg.format(a=first.nobs, b=mm.nobs))
        if mm.design.formula.response != first.design.formula.response or not np.array_equal(
                mm.design.y, first.design.y):
            raise ValueError(
                f"models have different responses ({first.design.formula.response!r} and "
                f"{mm.design.formula.response!r}): likelihoods of different responses cannot be compared")


def _chisq_p(chisq: float, df: float) -> float:
    if not np.isfinite(chisq) or df <= 0:
        return np.nan
    return float(stats.chi2.sf(chisq, df))


def _boundary_p(chisq: float, df: float) -> float:
    """50:50 mixture of chi-square(df - 1) and chi-square(df) (chi-square(0): a point mass at 0)."""
    if not np.isfinite(chisq) or df <= 0:
        return np.nan
    lo = (1.0 if chisq <= 0 else 0.0) if df - 1 <= 0 else float(stats.chi2.sf(chisq, df - 1))
    return 0.5 * lo + 0.5 * float(stats.chi2.sf(chisq, df))


def _lrt_table(models: list[LmerResult], refit: bool, names: Sequence[str] | None) -> AnovaFrame:
    _check_same_data(models)
    names = list(names) if names is not None else [f"m{i + 1}" for i in range(len(models))]
    if len(names) != len(models):
        raise ValueError(f"{len(names)} names for {len(models)} models")
    notes = []
    if refit and any(mm.reml for mm in models):
        models = [mm.update(reml=False) if mm.reml else mm for mm in models]
        notes.append(REFIT_NOTE)
    order = sorted(range(len(models)), key=lambda i: models[i].npar)
    ms = [models[i] for i in order]
    labels = [names[i] for i in order]
    npar = np.array([mm.npar for mm in ms])
    llk = np.array([mm.loglik for mm in ms])
    chisq = np.r_[np.nan, 2.0 * np.maximum(0.0, np.diff(llk))]
    dfc = np.r_[np.nan, np.diff(npar).astype(float)]
    p = [np.nan] + [_chisq_p(c, d) for c, d in zip(chisq[1:], dfc[1:])]
    data = {"npar": npar, "aic": [mm.aic for mm in ms], "bic": [mm.bic for mm in ms], "loglik": llk,
            "deviance": -2.0 * llk, "chisq": chisq, "df": dfc, "p_value": p}
    display = {"npar": "npar", "aic": "AIC", "bic": "BIC", "loglik": "logLik", "deviance": "deviance",
               "chisq": "Chisq", "df": "Df", "p_value": "Pr(>Chisq)"}
    bound = [np.nan] + [_boundary_p(chisq[i], dfc[i]) if len(ms[i].theta) > len(ms[i - 1].theta) else np.nan
                        for i in range(1, len(ms))]
    if np.isfinite(bound).any():
        data["p_boundary"] = bound
        display["p_boundary"] = "p_boundary"
        notes.append(BOUNDARY_NOTE)
    heading = "Models:\n" + "\n".join(f"{lab}: {mm.formula}" for lab, mm in zip(labels, ms))
    if REFIT_NOTE in notes:
        heading = REFIT_NOTE + "\n" + heading
    out = _frame(data, pd.Index(labels, name="model"), display, heading, "; ".join(notes))
    out["npar"] = out["npar"].astype(int)
    return out


# ---- ranova ----------------------------------------------------------------------------------------
def _lhs_terms(expr: str) -> tuple[bool, list[tuple[str, frozenset[str]]]]:
    from formulaic import Formula

    terms = list(Formula(expr))
    intercept = any(str(t) == "1" for t in terms)
    rest = [(str(t), frozenset(f.expr for f in t.factors)) for t in terms if str(t) != "1"]
    return intercept, rest


def _reductions(expr: str) -> list[tuple[str, str | None]]:
    """lmerTest's reductions of a random term's left-hand side: (dropped term, new lhs or None = remove)."""
    intercept, rest = _lhs_terms(expr)
    if not rest:
        return [("", None)]
    scope = [(lab, v) for lab, v in rest if not any(v < w for _, w in rest)]
    out = []
    for lab, _ in scope:
        remain = [x for x, _ in rest if x != lab]
        if not remain:
            new = "1"
        else:
            new = ("1 + " if intercept else "0 + ") + " + ".join(remain)
        out.append((lab, new))
    return out


def _lm_loglik(m: LmerResult, reml: bool) -> float:
    """Log-likelihood of the linear model with the same fixed effects (R's ``logLik(lm, REML=)``)."""
    if not _rows_on_driver(m):
        return _lm_loglik_cross(m, reml)
    X = m.design.X
    y = m.design.y - (m.offset if m.offset is not None else 0.0)
    w = m.weights
    if w is not None:
        sw = np.sqrt(w)
        X, y = X * sw[:, None], y * sw
    n, p = X.shape
    Qm, R = np.linalg.qr(X)
    res = y - Qm @ (Qm.T @ y)
    N = n - p if reml else n
    val = 0.5 * ((float(np.sum(np.log(w[w > 0]))) if w is not None else 0.0)
                 - N * (math.log(2 * math.pi) + 1.0 - math.log(N) + math.log(float(res @ res))))
    if reml:
        val -= float(np.sum(np.log(np.abs(np.diag(R)))))
    return val


def _lm_loglik_cross(m: LmerResult, reml: bool) -> float:
    """:func:`_lm_loglik` from the cross-products ``[X y]'[X y]`` (weighted, y less the offset), for a fit whose
    rows are not on the driver."""
    cp = m.devfun.cp
    p, n = cp.p, cp.n
    xx = np.asarray(cp.xx, dtype=float)
    R = np.linalg.cholesky(xx[:p, :p])
    r = np.linalg.solve(R, xx[:p, p])
    rss = float(xx[p, p] - r @ r)
    N = n - p if reml else n
    val = 0.5 * (cp.log_weights - N * (math.log(2 * math.pi) + 1.0 - math.log(N) + math.log(rss)))
    if reml:
        val -= float(np.sum(np.log(np.abs(np.diag(R)))))
    return val


def ranova(m: LmerResult) -> AnovaFrame:
    """Likelihood-ratio tests of the random-effects terms, one reduction at a time (lmerTest's ``ranova``).

    ``(1 + x | g)`` is reduced to ``(1 | g)`` (the row ``x in (1 + x | g)``), ``(0 + x | g)`` to
    ``(1 | g)``, and ``(1 | g)`` is removed (the row ``(1 | g)``); when it is the only random term the
    reduced model is the linear model, whose (REML) log-likelihood is computed by least squares.  The
    tests are REML likelihood-ratio tests for REML fits (the fixed effects are the same).

    Returns
    -------
    AnovaFrame
        Rows ``<none>`` then one per reduction: npar, loglik, aic, lrt, df, p_value and p_boundary
        (the 50:50 chi-square mixture, as the tested variances lie on the boundary).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> r = lf.ranova(m)
    >>> list(r.index), round(float(r["lrt"].iloc[1]), 2)
    (['<none>', 'Days in (Days | Subject)'], 42.84)
    """
    from ..api import lmer

    parsed = m.design.formula
    rand = list(parsed.random)
    rows = [("<none>", m.npar, m.loglik)]
    data, weights, offset = m.data, m.weights, m.offset
    if not _rows_on_driver(m) and (m.design.plan.weights is not None or m.design.plan.offset is not None):
        # a Dask fit: its lazy model frame lacks the weights and offset columns; refit on its source by name
        data, weights, offset = m.design.source, m.design.plan.weights, m.design.plan.offset
    for i, term in enumerate(rand):
        for dropped, new in _reductions(term.expr):
            others = [f"({t.expr} | {t.group_name})" for j, t in enumerate(rand) if j != i]
            label = f"({term.label})" if new is None else f"{dropped} in ({term.label})"
            if new is not None:
                reduced = f"({new} | {term.group_name})"
                # a reduction equal to another term is that term once, as R's formula keeps one copy of a
                # repeated term: (1 | g) + (0 + x | g) less x is (1 | g), not (1 | g) + (1 | g)
                if reduced.replace(" ", "") not in {o.replace(" ", "") for o in others}:
                    others.insert(i, reduced)
            if not others:
                rows.append((label, m.design.X.shape[1] + 1, _lm_loglik(m, m.reml)))
                continue
            formula = f"{parsed.response} ~ {parsed.fixed} + " + " + ".join(others)
            fit = lmer(formula, data, reml=m.reml, weights=weights, offset=offset, control=m.control, quiet=True)
            if fit.nobs != m.nobs:
                raise ValueError("number of rows in use has changed: remove missing values first")
            rows.append((label, fit.npar, fit.loglik))
    npar = np.array([r[1] for r in rows])
    ll = np.array([r[2] for r in rows])
    lrt = np.r_[np.nan, 2.0 * (ll[0] - ll[1:])]
    dfs = np.r_[np.nan, (npar[0] - npar[1:]).astype(float)]
    data = {"npar": npar, "loglik": ll, "aic": -2.0 * ll + 2.0 * npar, "lrt": lrt, "df": dfs,
            "p_value": [np.nan] + [_chisq_p(c, d) for c, d in zip(lrt[1:], dfs[1:])],
            "p_boundary": [np.nan] + [_boundary_p(c, d) for c, d in zip(lrt[1:], dfs[1:])]}
    display = {"npar": "npar", "loglik": "logLik", "aic": "AIC", "lrt": "LRT", "df": "Df", "p_value": "Pr(>Chisq)",
               "p_boundary": "p_boundary"}
    heading = ("ANOVA-like table for random-effects: Single term deletions\n\nModel:\n" + m.formula)
    out = _frame(data, pd.Index([r[0] for r in rows], name="term"), display, heading,
                 ("REML " if m.reml else "") + "likelihood-ratio tests; " + BOUNDARY_NOTE)
    out["npar"] = out["npar"].astype(int)
    return out


# ---- AIC table -------------------------------------------------------------------------------------
def compare_models(*models: LmerResult, names: Sequence[str] | None = None, refit: bool | None = None) -> AnovaFrame:
    """AIC/BIC table of several models of the same data, with delta AIC and Akaike weights.

    Parameters
    ----------
    *models : LmerResult
    names : list of str, optional
        Row labels (default ``m1, m2, ...``).
    refit : bool, optional
        Refit REML fits by ML.  Default: only when the fixed effects differ between the models (REML
        criteria of different fixed effects are not comparable); a note says so.

    Returns
    -------
    AnovaFrame
        A row per model in the order given: npar, loglik, aic, bic, delta_aic, aic_weight, delta_bic.

    Examples
    --------
    >>> import lmmflow as lf
    >>> d = lf.load_dataset("sleepstudy")
    >>> t = lf.compare_models(lf.lmer("Reaction ~ Days + (1 | Subject)", d),
    ...                       lf.lmer("Reaction ~ Days + (Days | Subject)", d))
    >>> round(float(t["aic_weight"].sum()), 6), t["delta_aic"].idxmin()
    (1.0, 'm2')
    """
    if not models:
        raise TypeError("compare_models() needs at least one fitted model")
    models_l = list(models)
    _check_same_data(models_l)
    names = list(names) if names is not None else [f"m{i + 1}" for i in range(len(models_l))]
    if len(names) != len(models_l):
        raise ValueError(f"{len(names)} names for {len(models_l)} models")
    X0 = models_l[0].design.X
    same_fixed = all(mm.fixef_names == models_l[0].fixef_names and mm.design.X.shape == X0.shape
                     and np.array_equal(mm.design.X, X0) for mm in models_l)
    mixed = len({mm.reml for mm in models_l}) > 1
    if refit is None:
        refit = (not same_fixed or mixed) and any(mm.reml for mm in models_l)
    note = ""
    if refit and any(mm.reml for mm in models_l):
        models_l = [mm.update(reml=False) if mm.reml else mm for mm in models_l]
        note = REFIT_NOTE
    elif all(mm.reml for mm in models_l):
        note = "REML criteria (same fixed effects): the AICs compare the random-effects structures"
    aic = np.array([mm.aic for mm in models_l])
    bic = np.array([mm.bic for mm in models_l])
    delta = aic - aic.min()
    w = np.exp(-0.5 * delta)
    data = {"npar": [mm.npar for mm in models_l], "loglik": [mm.loglik for mm in models_l], "aic": aic, "bic": bic,
            "delta_aic": delta, "aic_weight": w / w.sum(), "delta_bic": bic - bic.min()}
    display = {"npar": "npar", "loglik": "logLik", "aic": "AIC", "bic": "BIC", "delta_aic": "dAIC",
               "aic_weight": "weight", "delta_bic": "dBIC"}
    heading = "Model comparison by information criteria\n" + "\n".join(
        f"{lab}: {mm.formula}" for lab, mm in zip(names, models_l))
    return _frame(data, pd.Index(names, name="model"), display, heading, note)
