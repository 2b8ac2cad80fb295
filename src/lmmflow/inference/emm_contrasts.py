"""Contrasts of estimated marginal means and their multiplicity adjustments (emmeans' ``contrast``/``pairs``).

A contrast method turns the ``k`` estimates of each ``by`` group into coefficient vectors (emmeans'
``.emmc`` functions): ``"pairwise"`` (``a - b`` for every pair, Tukey-adjusted by default),
``"revpairwise"``, ``"trt.vs.ctrl"`` / ``"trt.vs.ctrlk"`` (each level minus a reference; emmeans'
``"dunnettx"`` approximation by default), ``"poly"`` (integer orthogonal polynomials; no adjustment),
``"consec"`` (each level minus the one before), ``"eff"`` / ``"del.eff"`` (each level minus the mean of all
or of the others; FDR), or a dict of custom coefficient vectors (no adjustment). Each contrast is the linear
function ``c' L`` of the fixed effects; its estimate, SE and df follow the grid's method
(:class:`~lmmflow.inference.emmeans.EmmGrid`).

Adjustments as emmeans' ``.adj.p.value`` and ``.adj.critval`` apply them within each ``by`` group:

========== ============================================ ============================================
adjust     p-value                                      interval half-width / SE
========== ============================================ ============================================
none       2 P(T_df > |t|)                              t quantile
tukey      P(studentized range(k, df) > sqrt(2)|t|)     qtukey(level, k, df) / sqrt(2)
sidak      1 - (1 - p)^n                                t quantile at level^(1/n)
bonferroni min(1, n p)                                  t quantile at 1 - (1 - level) / n
holm ...   R's p.adjust (holm, hochberg, BH/fdr, BY)    as bonferroni
scheffe    P(F(r, df) > t^2 / r), r the rank            sqrt(r qf(level, r, df))
dunnettx   emmeans' Tukey/Sidak mixture                 its quantile (root found as emmeans does)
========== ============================================ ============================================

with ``k`` the number of means in the family and ``n`` the number of contrasts; Tukey becomes Sidak for
contrasts that are not one set of pairwise comparisons and a family of one is not adjusted (both as
emmeans). emmeans' ``"mvt"`` (multivariate t, the default for ``"consec"``) needs a randomized
integration and is not implemented: ``"consec"`` asks for an explicit ``adjust``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .emmeans import EmmGrid, r_label
from .studentized import f_dist, ptukey, qdunnettx, qtukey

__all__ = ["adjusted_critical_values", "adjusted_p_values", "contrast_coefficients", "contrasts", "pairs"]

P_ADJUST = ("holm", "hochberg", "bonferroni", "BH", "BY", "fdr", "none")
SPECIAL = ("sidak", "tukey", "scheffe", "dunnettx", "mvt")
_PARENS = ("-", "+", "/", "*")


# ---- R's p.adjust and zapsmall ----------------------------------------------------------------------
def p_adjust(p: np.ndarray, method: str, n: int | None = None) -> np.ndarray:
    """R's ``p.adjust(p, method, n)`` for holm, hochberg, bonferroni, BH (fdr), BY and none.

    Missing p-values stay missing and count in the default ``n``, as in R.

    Examples
    --------
    >>> p_adjust(np.array([0.01, 0.04, 0.03]), "holm").round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p, dtype=float)
    n = len(p) if n is None else int(n)
    ok = ~np.isnan(p)
    if not ok.all():
        out = np.full(len(p), np.nan)
        out[ok] = p_adjust(p[ok], method, n)
        return out
    if n <= 1 or method == "none":
        return p.copy()
    lp = len(p)
    if method == "bonferroni":
        return np.minimum(1.0, n * p)
    if method == "holm":
        o = np.argsort(p, kind="stable")
        i = np.arange(1, lp + 1)
        out = np.minimum(1.0, np.maximum.accumulate((n - i + 1) * p[o]))
    elif method in ("hochberg", "BH", "fdr", "BY"):
        o = np.argsort(-p, kind="stable")
        i = np.arange(lp, 0, -1)
        if method == "hochberg":
            scaled = (n - i + 1) * p[o]
        elif method == "BY":
            scaled = float(np.sum(1.0 / np.arange(1, n + 1))) * n / i * p[o]
        else:
            scaled = n / i * p[o]
        out = np.minimum(1.0, np.minimum.accumulate(scaled))
    else:
        raise ValueError(f"p.adjust method {method!r} is not supported")
    res = np.empty(lp)
    res[o] = out
    return res


def zapsmall(x: np.ndarray, digits: int = 7) -> np.ndarray:
    """R's ``zapsmall``: round to ``digits`` significant digits of the largest absolute value."""
    x = np.asarray(x, dtype=float)
    finite = x[~np.isnan(x)]
    mx = float(np.max(np.abs(finite))) if finite.size else 0.0
    if mx > 0:
        d = 0 if not math.isfinite(mx) else max(0, digits - math.ceil(math.log10(mx)))
    else:
        d = digits
    return np.round(x, d)


def _norm_adjust(adjust: str) -> str:
    a = str(adjust).lower()
    if a in ("bh", "by"):
        return a.upper()
    if a in SPECIAL or a in P_ADJUST:
        return a
    raise ValueError(f"adjust={adjust!r}: use one of 'tukey', 'dunnettx', 'sidak', 'bonferroni', 'holm', "
                     "'hochberg', 'BH' (or 'fdr'), 'BY', 'scheffe', 'none'")


def _common(adjust: str, n_contr: int, est_type: str) -> str:
    adjust = _norm_adjust(adjust)
    if n_contr == 1 and adjust != "scheffe":
        adjust = "none"
    if adjust == "tukey" and est_type != "pairs":
        adjust = "sidak"
    if adjust == "mvt":
        raise NotImplementedError("adjust='mvt' (emmeans' multivariate t) is not implemented: its randomized "
                                  "integration cannot be reproduced; choose e.g. adjust='holm', 'sidak' or 'none'")
    return adjust


def _rank(L: np.ndarray) -> int:
    Z = zapsmall(L)
    if not Z.any():
        return 0
    s = np.linalg.svd(Z, compute_uv=False)
    return int(np.sum(s > 1e-7 * s[0]))


def adjusted_p_values(t: np.ndarray, df: np.ndarray, adjust: str, fam_size: int, n_contr: int, est_type: str,
                      rows: list[np.ndarray], scheffe_rank: int | None = None,
                      L: np.ndarray | None = None) -> tuple[np.ndarray, str, str]:
    """Two-sided p-values adjusted as emmeans' ``.adj.p.value`` (returns p, the method used, a note)."""
    adjust = _common(adjust, n_contr, est_type)
    t = np.asarray(t, dtype=float)
    df = np.where(np.isnan(df), np.inf, np.asarray(df, dtype=float))
    unadj = 2.0 * stats.t.sf(np.abs(t), df)
    if adjust in P_ADJUST:
        method = "BH" if adjust == "fdr" else adjust
        p = np.empty_like(unadj)
        for r in rows:
            p[r] = p_adjust(unadj[r], method, n=len(r))
    elif adjust == "sidak":
        p = 1.0 - (1.0 - unadj) ** n_contr
    elif adjust == "tukey":
        zdf = zapsmall(df)
        p = np.array([ptukey(math.sqrt(2.0) * abs(ti), fam_size, di, lower_tail=False) for ti, di in zip(t, zdf)])
    elif adjust == "scheffe":
        r = scheffe_rank if scheffe_rank is not None else _rank(L[rows[0]])
        p = np.array([f_dist(r, d).sf(ti ** 2 / r) for ti, d in zip(t, df)])
    else:  # dunnettx
        from .studentized import pdunnettx

        p = np.array([1.0 - pdunnettx(abs(ti), n_contr, di) for ti, di in zip(t, df)])
    note = ""
    if adjust != "none" and not (fam_size < 3 and adjust in ("tukey", "scheffe")):
        extra = (f"for comparing a family of {fam_size} estimates" if adjust == "tukey"
                 else f"with rank {scheffe_rank}" if adjust == "scheffe" else f"for {n_contr} tests")
        note = f"P value adjustment: {adjust} method {extra}"
    return p, adjust, note


def adjusted_critical_values(level: float, df: np.ndarray, adjust: str, fam_size: int, n_contr: int,
                             est_type: str, rows: list[np.ndarray], scheffe_rank: int | None = None,
                             L: np.ndarray | None = None) -> tuple[np.ndarray, str, str]:
    """Interval half-widths in SEs as emmeans' ``.adj.critval`` (returns them, the method used, a note).

    p.adjust methods other than Bonferroni (Holm, FDR, ...) give Bonferroni intervals, as in emmeans."""
    adjust = _common(adjust, n_contr, est_type)
    if adjust in P_ADJUST and adjust != "none":
        adjust = "bonferroni"
    df = np.where(np.isnan(df), np.inf, np.asarray(df, dtype=float))
    cache: dict[float, float] = {}

    def per_df(fn: Any) -> np.ndarray:
        out = np.empty(len(df))
        for i, d in enumerate(df):
            if d not in cache:
                cache[d] = fn(d)
            out[i] = cache[d]
        return out

    if adjust == "none":
        cv = stats.t.ppf(1.0 - (1.0 - level) / 2.0, df)
    elif adjust == "sidak":
        cv = -stats.t.ppf((1.0 - level ** (1.0 / n_contr)) / 2.0, df)
    elif adjust == "bonferroni":
        cv = -stats.t.ppf((1.0 - level) / n_contr / 2.0, df)
    elif adjust == "tukey":
        cv = per_df(lambda d: qtukey(level, fam_size, d) / math.sqrt(2.0))
    elif adjust == "scheffe":
        r = scheffe_rank if scheffe_rank is not None else _rank(L[rows[0]])
        cv = np.sqrt(r * per_df(lambda d: f_dist(r, d).ppf(level)))
    else:  # dunnettx
        cv = per_df(lambda d: qdunnettx(level, n_contr, d))
    note = ""
    if adjust != "none" and not (fam_size < 3 and adjust in ("tukey", "scheffe")):
        extra = (f"for comparing a family of {fam_size} estimates" if adjust == "tukey"
                 else f"with rank {scheffe_rank}" if adjust == "scheffe" else f"for {n_contr} estimates")
        note = f"Conf-level adjustment: {adjust} method {extra}"
    return np.asarray(cv, dtype=float), adjust, note


# ---- contrast coefficients (emmeans' .emmc functions) ----------------------------------------------
def _ref_positions(levs: list[str], ref: Any) -> list[int]:
    refs = ref if isinstance(ref, (list, tuple)) else [ref]
    out = []
    for r in refs:
        if isinstance(r, (int, np.integer)) and not isinstance(r, bool):
            if not -len(levs) <= r < len(levs):
                raise ValueError(f"ref={r}: a position among the {len(levs)} levels (0-based) or a level label")
            out.append(int(r) % len(levs))
        elif str(r) in levs:
            out.append(levs.index(str(r)))
        else:
            raise ValueError(f"ref={r!r} is not one of the levels {levs}")
    return out


def _poly(k: int, degree: int) -> list[np.ndarray]:
    """Orthogonal polynomials on 1..k with positive leading coefficients (R's ``poly``), as integer vectors
    (emmeans' ``poly.emmc`` scaling)."""
    x = np.arange(1, k + 1, dtype=float)
    x = x - x.mean()
    basis = [np.ones(k)]
    out = []
    for d in range(1, degree + 1):
        v = x ** d
        for b in basis:
            v = v - (v @ b) / (b @ b) * b
        basis.append(v)
        con = v / np.linalg.norm(v)
        con = con / np.min(con[con > 0.01])
        z = np.max(np.abs(con - np.round(con)))
        while z > 0.05:
            con = con / z
            z = np.max(np.abs(con - np.round(con)))
        out.append(np.round(con))
    return out


def contrast_coefficients(levs: list[str], method: Any, ref: Any = None, reverse: bool = False
                          ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The coefficient vectors of a contrast method on the labels ``levs`` and its attributes
    (``adjust``: default adjustment, ``type``: ``"pairs"`` for pairwise, ``desc``).

    Examples
    --------
    >>> coefs, attrs = contrast_coefficients(["a", "b", "c"], "pairwise")
    >>> {k: v.tolist() for k, v in coefs.items()}, attrs["adjust"]
    ({'a - b': [1.0, -1.0, 0.0], 'a - c': [1.0, 0.0, -1.0], 'b - c': [0.0, 1.0, -1.0]}, 'tukey')
    """
    k = len(levs)
    coefs: dict[str, np.ndarray] = {}
    if isinstance(method, dict):
        for name, c in method.items():
            c = np.asarray(c, dtype=float).ravel()
            if len(c) != k:
                raise ValueError(f"contrast {name!r} has {len(c)} coefficients for {k} estimates ({levs})")
            coefs[str(name)] = c
        return coefs, {"adjust": "none", "type": None, "desc": "custom contrasts"}
    m = str(method).lower().replace("_", ".")
    if m in ("pairwise", "revpairwise"):
        pairs_ = ([(i, j) for i in range(k) for j in range(i + 1, k)] if m == "pairwise"
                  else [(i, j) for i in range(1, k) for j in range(i)])
        for i, j in pairs_:
            c = np.zeros(k)
            c[i], c[j] = 1.0, -1.0
            coefs[f"{levs[i]} - {levs[j]}"] = c
        return coefs, {"adjust": "tukey", "type": "pairs", "desc": "pairwise differences", "fam_size": k}
    if m in ("trt.vs.ctrl", "trt.vs.ctrl1", "trt.vs.ctrlk"):
        if ref is None:
            ref = k - 1 if m == "trt.vs.ctrlk" else 0
        pos = _ref_positions(levs, ref)
        cname = levs[pos[0]] if len(pos) == 1 else "avg(" + ",".join(levs[p] for p in pos) + ")"
        for i in range(k):
            if i in pos:
                continue
            c = np.zeros(k)
            c[pos] = -1.0 / len(pos)
            c[i] = 1.0
            name = f"{cname} - {levs[i]}" if reverse else f"{levs[i]} - {cname}"
            coefs[name] = -c if reverse else c
        return coefs, {"adjust": "dunnettx", "type": None, "desc": "differences from control"}
    if m == "poly":
        names = ["linear", "quadratic", "cubic", "quartic"] + [f"degree {d}" for d in range(5, 21)]
        for d, c in enumerate(_poly(k, min(6, k - 1))):
            coefs[names[d]] = c
        return coefs, {"adjust": "none", "type": None, "desc": "polynomial contrasts"}
    if m == "consec":
        sgn = -1.0 if reverse else 1.0
        for i in range(k - 1):
            c = np.zeros(k)
            c[i], c[i + 1] = -sgn, sgn
            coefs[f"{levs[i]} - {levs[i + 1]}" if reverse else f"{levs[i + 1]} - {levs[i]}"] = c
        return coefs, {"adjust": "mvt", "type": None, "desc": "changes between consecutive levels"}
    if m in ("eff", "del.eff"):
        for i in range(k):
            c = np.full(k, -1.0 / k)
            c[i] += 1.0
            if m == "del.eff":
                c = c / c[i]
            coefs[f"{levs[i]} effect"] = c
        desc = "differences from grand mean" if m == "eff" else "differences from mean of others"
        return coefs, {"adjust": "fdr", "type": None, "desc": desc}
    raise ValueError(f"method={method!r}: use 'pairwise', 'revpairwise', 'trt.vs.ctrl', 'trt.vs.ctrlk', 'poly', "
                     "'consec', 'eff', 'del.eff' or a dict {name: coefficients}")


# ---- contrasts and pairs ----------------------------------------------------------------------------
def _labels(grid: pd.DataFrame, cols: list[str]) -> list[str]:
    parts = []
    for c in cols:
        col = grid[c]
        numeric = c != "1" and pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        parts.append([(c if numeric else "") + r_label(v) for v in col])
    labs = [" ".join(p) for p in zip(*parts)] if parts else [""] * len(grid)
    return [f"({lab})" if any(s in lab for s in _PARENS) else lab for lab in labs]


def contrasts(emm: EmmGrid, method: Any = "eff", by: list[str] | str | None = None, adjust: str | None = None,
              ref: Any = None, reverse: bool = False, level: float | None = None) -> EmmGrid:
    """Contrasts of estimated marginal means or trends (emmeans' ``contrast``).

    Parameters
    ----------
    emm : EmmGrid
        From :func:`lmmflow.emmeans`, :func:`lmmflow.emtrends` or an earlier contrast.
    method : str or dict
        ``"pairwise"``, ``"revpairwise"``, ``"trt.vs.ctrl"``, ``"trt.vs.ctrlk"``, ``"poly"``, ``"consec"``,
        ``"eff"`` (emmeans' default), ``"del.eff"``, or ``{name: coefficients}`` (one coefficient per
        estimate in each ``by`` group).
    by : str or list of str, optional
        Groups within which contrasts are taken and adjusted; default: the grid's ``by``; ``[]`` for none
        (contrasts across all estimates, emmeans' ``by = NULL``).
    adjust : str, optional
        Multiplicity adjustment (module docstring); default: the method's (Tukey for pairwise, dunnettx
        for trt.vs.ctrl, FDR for eff, none for poly and custom contrasts). ``"consec"`` needs one
        (emmeans' default "mvt" is not implemented).
    ref : str, int or list, optional
        The control level(s) for ``"trt.vs.ctrl"``: a label, or a 0-based position (emmeans' ``ref`` counts
        from 1).
    reverse : bool
        Reverse the differences of ``"trt.vs.ctrl"`` and ``"consec"``.
    level : float, optional
        Confidence level (default: the grid's).

    Returns
    -------
    EmmGrid
        Columns: ``contrast`` (``contrast1``, ... for contrasts of contrasts), the ``by`` columns,
        ``estimate``, ``std_error``, ``df``, ``lower_cl``, ``upper_cl``, ``t_ratio``, ``p_value``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("diameter ~ sample + (1 | plate)", lf.load_dataset("penicillin"))
    >>> c = lf.contrasts(lf.emmeans(m, "sample"), "trt.vs.ctrl", ref="F")
    >>> c.to_frame()[["contrast", "estimate"]].round(3).head(2).to_dict("list")
    {'contrast': ['A - F', 'B - F'], 'estimate': [5.208, 2.0]}
    """
    by_list = list(emm.by) if by is None else ([by] if isinstance(by, str) else list(by))
    grid = emm.grid
    unknown = [b for b in by_list if b not in grid.columns]
    if unknown:
        raise ValueError(f"by={unknown} are not columns of the grid {list(grid.columns)}")
    rows = emm.by_rows(by_list)
    if len({len(r) for r in rows}) > 1:
        raise ValueError("the by groups have different sizes; contrasts need a regular grid")
    label_cols = [c for c in grid.columns if c not in by_list]
    levs = _labels(grid.iloc[rows[0]], label_cols)
    coefs, attrs = contrast_coefficients(levs, method, ref=ref, reverse=reverse)
    if not coefs:
        raise ValueError(f"method={method!r} gives no contrast of {len(levs)} estimate(s)")
    C = np.vstack(list(coefs.values()))
    L = emm.linfct
    new_L = np.vstack([C @ L[r] for r in rows])
    n_prev = sum(1 for c in grid.columns if str(c).startswith("contrast"))
    con_name = "contrast" if n_prev == 0 else f"contrast{n_prev}"  # emmeans: contrast, contrast1, ...
    out = {con_name: [nm for _ in rows for nm in coefs]}
    for b in by_list:
        out[b] = [grid[b].iloc[r[0]] for r in rows for _ in coefs]
    new_grid = pd.DataFrame(out)
    for b in by_list:
        if pd.api.types.is_numeric_dtype(grid[b]):
            new_grid[b] = new_grid[b].astype(float)
    if attrs["type"] == "pairs":
        est_type = "pairs"
    else:
        sums = C.sum(axis=1)
        est_type = "contrast" if np.all(np.abs(sums) < 1e-3) else "prediction"
    if adjust is None:
        adjust = attrs["adjust"]
        if adjust == "mvt":
            raise NotImplementedError("method='consec' defaults to emmeans' adjust='mvt', which is not implemented; "
                                      "pass adjust= (e.g. 'holm', 'sidak', 'bonferroni' or 'none')")
    _norm_adjust(adjust)
    scheffe = _rank(new_L[:len(coefs)])  # emmeans: the rank of the first by group's contrasts
    return EmmGrid(emm.model, new_grid, new_L, by=by_list, est_name="estimate", ddf=emm.ddf,
                   level=emm.level if level is None else level, adjust=adjust,
                   fam_size=attrs.get("fam_size", len(rows[0])), est_type=est_type, infer=(True, True),
                   desc=attrs["desc"], scheffe_rank=scheffe)


def pairs(emm: EmmGrid, reverse: bool = False, by: list[str] | str | None = None, adjust: str | None = None,
          level: float | None = None) -> EmmGrid:
    """Pairwise differences of estimated marginal means or trends (emmeans' ``pairs``; Tukey by default).

    ``reverse=True`` gives ``"revpairwise"`` (later level minus earlier). Other arguments as
    :func:`contrasts`.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("strength ~ cask + (1 | batch) + (1 | sample)", lf.load_dataset("pastes"))
    >>> p = lf.pairs(lf.emmeans(m, "cask"))
    >>> p.to_frame()[["contrast", "estimate", "p_value"]].round(3).to_dict("list")
    {'contrast': ['a - b', 'a - c', 'b - c'], 'estimate': [-0.85, -1.425, -0.575], 'p_value': [0.807, 0.555, 0.906]}
    """
    return contrasts(emm, "revpairwise" if reverse else "pairwise", by=by, adjust=adjust, level=level)
