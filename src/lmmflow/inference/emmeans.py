"""Estimated marginal means and trends of a fit: emmeans' reference grid, ``emmeans()`` and ``emtrends()``.

The **reference grid** (emmeans' ``ref_grid``) has one row per combination of every factor of the
fixed-effects formula at all its levels and every numeric covariate at its mean over the rows used in the
fit (``cov_reduce``), unless ``at`` gives values (or a subset of a factor's levels). A factor is a text,
categorical or boolean column, or a numeric column the formula makes a factor (``C(x)``, R's
``factor(x)``). Each grid row is encoded as at fit time, giving a row ``x`` of the fixed-effects
matrix; the grid's predictions are ``x' beta``.

**Marginal means** average those rows over the factors not in ``specs`` (equal weights by default,
emmeans' ``weights="equal"``; ``"proportional"`` weighs each combination of the averaged factors by its
frequency in the data, ``"outer"`` by the product of their marginal frequencies, ``"cells"`` by the
frequency of each cell, ``"flat"`` equally over the cells with data). Each mean is a linear function
``l' beta`` of the fixed effects; its standard error is ``sqrt(l' V l)`` and its df is that of the
one-row contrast ``l``:

* ``ddf="kenward-roger"`` (emmeans' default for LMMs): ``V`` is pbkrtest's adjusted covariance
  (``vcovAdj``) and the df pbkrtest's ``Lb_ddf``;
* ``ddf="satterthwaite"`` (emmeans' ``lmer.df="satterthwaite"``): ``V = vcov(m)``, lmerTest's df;
* ``ddf="asymptotic"``: ``V = vcov(m)``, infinite df (z intervals).

emmeans drops to asymptotic df above 3000 observations unless ``pbkrtest.limit`` / ``lmerTest.limit``
are raised; lmmflow computes the requested method at any size (pass ``ddf="asymptotic"`` for emmeans'
numbers on larger data).

**Rank-deficient fits** (an empty cell of ``a * b``): the linear functions span every column of the
formula, including those the fit dropped as aliased; a row ``l`` is estimable when it is orthogonal to the
null space ``N`` of the full fixed-effects matrix (``|N' l|^2 < 1e-8 |l|^2``, the estimability package's
test that emmeans uses), and a non-estimable mean or contrast is reported as missing (emmeans' "nonEst").

**Trends** (``emtrends``): emmeans' difference quotient of the reference grid in ``var``,
``(x(v + h) - x(v)) / h`` with ``h = 0.001 * range(var)`` (a forward difference, as emmeans computes
it: exact for terms linear in ``var``, and for ``I(var**2)`` the slope at ``v + h/2``), then averaged as
marginal means are.

The results are :class:`EmmGrid` objects: a table (``to_frame()``) and the linear functions behind it,
from which :func:`lmmflow.inference.emm_contrasts.contrasts` takes contrasts. Only the linear predictor's
scale exists today (LMMs); the grid keeps the linear functions so that a response scale (``type=
"response"`` for GLMMs: the inverse link of each estimate, delta-method SEs) can be added to
:meth:`EmmGrid.summary` later without changing the grid.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..design import DataError

if TYPE_CHECKING:
    from ..results.model import LmerResult

__all__ = ["EmmGrid", "emmeans", "emtrends", "reference_grid"]

DDF_METHODS = ("kenward-roger", "satterthwaite", "asymptotic")
WEIGHTS = ("equal", "proportional", "outer", "cells", "flat")
_NULL_BASIS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_C_CALL = re.compile(r"^C\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(,.*)?\)$")


def _norm_ddf(ddf: str) -> str:
    d = str(ddf).lower().replace("_", "-").replace(" ", "-")
    if d in ("kr", "kenward-roger", "kenwardroger"):
        return "kenward-roger"
    if d in ("satterthwaite", "satt", "s"):
        return "satterthwaite"
    if d in ("asymptotic", "asymp", "z", "inf", "none"):
        return "asymptotic"
    raise ValueError(f"ddf={ddf!r}: use 'kenward-roger' (emmeans' default), 'satterthwaite' or 'asymptotic'")


def r_label(value: Any) -> str:
    """A grid value as R's ``as.character`` prints it (``4`` not ``4.0``, 15 significant digits)."""
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.15g}"
    return str(value)


# ---- the reference grid ---------------------------------------------------------------------------
class _Variables:
    """The predictors of the fixed part, in formula order, with the factors' levels."""

    def __init__(self, m: LmerResult):
        fixed = m.design.fixed
        spec = fixed.spec
        rhs = m.design.formula.fixed
        data = m.data
        if not isinstance(data, pd.DataFrame):
            raise NotImplementedError("emmeans needs the fit's data in memory (a pandas frame); fit on a pandas "
                                      "DataFrame, or compute the Dask frame first")
        if getattr(m, "offset", None) is not None:
            raise NotImplementedError("emmeans of a fit with an offset is not supported (emmeans would add the "
                                      "offset at its mean); fit without offset=")
        if hasattr(spec, "variables_by_source"):
            names = set(spec.variables_by_source.get("data", set()))
            contrasts = dict(spec.factor_contrasts)
        else:  # NumericSpec: bare numeric columns and their products
            names = {c for t in spec.terms for c in t}
            contrasts = {}
        order = {}
        for nm in names:
            hit = re.search(rf"(?<![\w.]){re.escape(nm)}(?![\w.])", rhs)
            order[nm] = hit.start() if hit else len(rhs)
        self.names = sorted(names, key=lambda nm: (order[nm], nm))
        self.levels: dict[str, list] = {}
        for factor, state in contrasts.items():
            expr = str(getattr(factor, "expr", factor)).strip()
            hit = _C_CALL.match(expr)
            var = hit.group(1) if hit else expr
            if var in names:
                self.levels[var] = list(state.levels)
        for nm in self.names:
            if nm in self.levels:
                continue
            col = data[nm]
            if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
                if isinstance(col.dtype, pd.CategoricalDtype):
                    self.levels[nm] = list(col.cat.categories)
                else:
                    self.levels[nm] = sorted(pd.unique(col.dropna()))
        for nm, levels in self.levels.items():  # levels the fit's rows never take are not in the grid (as lme4's
            present = {r_label(v) for v in pd.unique(data[nm].dropna())}  # model frame drops unused levels)
            self.levels[nm] = [lv for lv in levels if r_label(lv) in present]
        self.data = data

    def is_factor(self, name: str) -> bool:
        return name in self.levels


def _values(var: _Variables, at: dict[str, Any], cov_reduce: Callable[[np.ndarray], float]) -> dict[str, list]:
    """Each predictor's values in the grid."""
    unknown = [k for k in at if k not in var.names]
    if unknown:
        raise DataError(f"at= names {unknown} that are not predictors of the fixed effects; they are {var.names}")
    out: dict[str, list] = {}
    for nm in var.names:
        if nm in at:
            given = at[nm]
            vals = list(given) if isinstance(given, (list, tuple, np.ndarray, pd.Series, pd.Index)) else [given]
            if not vals:
                raise DataError(f"at={{{nm!r}: []}} gives no values")
            if var.is_factor(nm):
                levels = var.levels[nm]
                labels = {r_label(v): v for v in levels}
                picked = []
                for v in vals:
                    if v in levels:
                        picked.append(levels[levels.index(v)])
                    elif r_label(v) in labels:
                        picked.append(labels[r_label(v)])
                    else:
                        raise DataError(f"at= gives level {v!r} of {nm!r}, which the fit never saw; "
                                        f"its levels are {[r_label(x) for x in levels]}")
                out[nm] = picked
            else:
                try:
                    out[nm] = [float(v) for v in vals]
                except (TypeError, ValueError) as exc:
                    raise DataError(f"at= gives non-numeric values {vals!r} for the numeric covariate {nm!r}") from exc
        elif var.is_factor(nm):
            out[nm] = list(var.levels[nm])
        else:
            out[nm] = [float(cov_reduce(var.data[nm].to_numpy(dtype=float)))]
    return out


def _expand(values: dict[str, list]) -> pd.DataFrame:
    """R's ``expand.grid``: the first variable varies fastest."""
    names = list(values)
    if not names:
        return pd.DataFrame(index=range(1))
    sizes = [len(values[nm]) for nm in names]
    n = int(np.prod(sizes))
    cols, rep = {}, 1
    for nm, size in zip(names, sizes):
        idx = (np.arange(n) // rep) % size
        vals = values[nm]
        cols[nm] = pd.Series([vals[i] for i in idx])
        rep *= size
    return pd.DataFrame(cols)


def _encode(m: LmerResult, grid: pd.DataFrame, var: _Variables) -> np.ndarray:
    """The grid's rows of the fixed-effects matrix with every column of the formula (aliased ones included)."""
    frame = grid.copy()
    for nm in var.names:  # the encoding expects the data's column types
        col = var.data[nm]
        if isinstance(col.dtype, pd.CategoricalDtype):
            frame[nm] = pd.Categorical(frame[nm], categories=col.cat.categories)
        elif pd.api.types.is_integer_dtype(col) and var.is_factor(nm):
            frame[nm] = frame[nm].astype(col.dtype)
        elif pd.api.types.is_bool_dtype(col):
            frame[nm] = frame[nm].astype(bool)
    try:
        X = np.asarray(m.design.fixed.spec.get_model_matrix(frame, na_action="ignore"), dtype=float)
    except Exception as exc:  # noqa: BLE001 - formulaic raises several kinds
        raise DataError(f"cannot encode the reference grid with the fit's formula ({exc})") from exc
    if not np.isfinite(X).all():
        raise DataError("the reference grid gives missing or infinite model-matrix values (e.g. log of a "
                        "covariate's mean <= 0); give values with at=")
    return X


def _cell_counts(var: _Variables, grid: pd.DataFrame) -> np.ndarray:
    """emmeans' ``.wgt.``: data rows in each grid row's combination of factor levels."""
    factors = [nm for nm in var.names if var.is_factor(nm)]
    if not factors:
        return np.full(len(grid), float(len(var.data)))
    counts = var.data.groupby(factors, observed=True, dropna=True).size()
    keys = [tuple(r_label(v) for v in (k if isinstance(k, tuple) else (k,))) for k in counts.index]
    table = dict(zip(keys, counts.to_numpy(dtype=float)))
    return np.array([table.get(tuple(r_label(v) for v in row), 0.0)
                     for row in grid[factors].itertuples(index=False, name=None)])


def nonestimable_basis(m: LmerResult) -> np.ndarray | None:
    """An orthonormal basis of the null space of the full fixed-effects matrix (every formula column), or
    None when it has full column rank (the estimability package's ``nonest.basis``)."""
    fixed = m.design.fixed
    if not fixed.dropped:
        return None
    hit = _NULL_BASIS.get(m)
    if hit is None:
        X = np.asarray(fixed.spec.get_model_matrix(m.data, na_action="ignore"), dtype=float)
        R = np.linalg.qr(X, mode="r")
        _, _, vt = np.linalg.svd(R)
        hit = vt[len(fixed.kept):].T
        _NULL_BASIS[m] = hit
    return hit


def estimable(m: LmerResult, L: np.ndarray, tol: float = 1e-8) -> np.ndarray:
    """Whether each row ``l`` of ``L`` (full width) is estimable: ``|N' l|^2 < tol |l|^2`` with ``N`` the
    null-space basis (estimability's ``is.estble``); all True for a full-rank fit."""
    L = np.atleast_2d(L)
    N = nonestimable_basis(m)
    if N is None:
        return np.ones(len(L), dtype=bool)
    chk = L @ N
    return np.sum(chk * chk, axis=1) < tol * np.sum(L * L, axis=1)


def reference_grid(m: LmerResult, at: dict[str, Any] | None = None,
                   cov_reduce: Callable[[np.ndarray], float] = np.mean) -> pd.DataFrame:
    """emmeans' reference grid of a fit: every factor at all its levels, covariates at their means.

    Parameters
    ----------
    m : LmerResult
    at : dict, optional
        Values for covariates (one or several) or a subset of a factor's levels.
    cov_reduce : callable
        How a covariate not in ``at`` is reduced to one value (default: its mean over the fit's rows).

    Returns
    -------
    pandas.DataFrame
        One row per grid point (the first predictor varies fastest), with ``prediction`` (``x' beta``)
        and ``weight`` (emmeans' ``.wgt.``: data rows with that combination of factor levels).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> reference_grid(m).round(2).to_dict("records")
    [{'Days': 4.5, 'prediction': 298.51, 'weight': 180.0}]
    """
    var = _Variables(m)
    grid = _expand(_values(var, dict(at or {}), cov_reduce))
    X = _encode(m, grid, var)
    out = grid.copy()
    est = X[:, m.design.fixed.kept] @ m.fixef.to_numpy()
    out["prediction"] = np.where(estimable(m, X), est, np.nan)
    out["weight"] = _cell_counts(var, grid)
    return out


# ---- specs ------------------------------------------------------------------------------------------
def _names_in(text: str) -> list[str]:
    out: list[str] = []
    for tok in re.split(r"[+*:\s]+", text.strip()):
        tok = tok.strip().strip("`")
        if tok and tok not in out:
            out.append(tok)
    return out


def parse_specs(specs: Any, by: Any = None) -> tuple[list[str], list[str]]:
    """emmeans' ``specs`` and ``by``: ``"a"``, ``["a", "b"]`` or ``"~ a | b"`` (``|`` means by).

    Examples
    --------
    >>> parse_specs("~ group | time")
    (['group'], ['time'])
    """
    by_list = [] if by is None else ([by] if isinstance(by, str) else list(by))
    if isinstance(specs, str) and "~" in specs:
        lhs, rhs = specs.split("~", 1)
        if lhs.strip():
            raise ValueError(f"specs={specs!r}: a left-hand side (emmeans' 'pairwise ~ group') is not supported; "
                             "use lf.pairs(lf.emmeans(m, '~ group')) or lf.contrasts(...)")
        parts = rhs.split("|")
        if len(parts) > 2:
            raise ValueError(f"specs={specs!r}: at most one '|'")
        names = _names_in(parts[0])
        if len(parts) == 2:
            by_list = [b for b in dict.fromkeys(_names_in(parts[1]) + by_list) if b not in names]
    elif isinstance(specs, str):
        names = _names_in(specs)
    elif isinstance(specs, Sequence):
        names = [str(s) for s in specs]
    else:
        raise TypeError(f"specs must be a name, a list of names or a formula string, not {type(specs).__name__}")
    if not names:
        raise ValueError(f"specs={specs!r} names no predictor (use '~ 1' for the overall mean)")
    return names, [b for b in by_list if b not in names]


# ---- the result -------------------------------------------------------------------------------------
class EmmGrid:
    """Estimates that are linear functions of the fixed effects, as emmeans' ``emmGrid``.

    Made by :func:`emmeans`, :func:`emtrends` and :func:`~lmmflow.inference.emm_contrasts.contrasts`;
    prints as emmeans prints its summary, shows as an HTML table in Jupyter, and ``to_frame()`` gives
    the table (label columns, then the estimate, ``std_error``, ``df``, ``lower_cl``, ``upper_cl``
    and, for contrasts, ``t_ratio``, ``p_value``).

    Attributes
    ----------
    model : LmerResult
    grid : pandas.DataFrame
        The label columns (a copy).
    linfct : numpy.ndarray
        The linear functions, one row per estimate, over the columns of the fixed-effects formula (those
        of ``model.fixef``, plus aliased ones a rank-deficient fit dropped), a copy.
    by : list of str
    ddf : str
    level : float
    adjust : str

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> e = lf.emmeans(m, "Days", at={"Days": [0, 9]})
    >>> e.to_frame()[["Days", "emmean"]].round(2).to_dict("list")
    {'Days': [0.0, 9.0], 'emmean': [251.41, 345.61]}
    """

    def __init__(self, model: LmerResult, grid: pd.DataFrame, linfct: np.ndarray, *, by: list[str],
                 est_name: str, ddf: str, level: float, adjust: str = "none", fam_size: int | None = None,
                 est_type: str = "prediction", infer: tuple[bool, bool] = (True, False), desc: str = "emmeans",
                 avgd_over: list[str] | None = None, scheffe_rank: int | None = None,
                 default_adjust: str = "none"):
        self.model = model
        self._grid = grid.reset_index(drop=True)
        self._linfct = np.atleast_2d(np.asarray(linfct, dtype=float))
        self.by = list(by)
        self.est_name = est_name
        self.ddf = _norm_ddf(ddf)
        level = float(level)
        if not 0 < level < 1:
            raise ValueError(f"level={level}: a confidence level strictly between 0 and 1")
        self.level = level
        self.adjust = adjust
        self.default_adjust = default_adjust
        self.est_type = est_type
        self.infer = tuple(infer)
        self.desc = desc
        self.avgd_over = list(avgd_over or [])
        self.scheffe_rank = scheffe_rank
        groups = self.by_rows()
        self.fam_size = int(fam_size) if fam_size is not None else len(groups[0])
        self._df_cache: dict[bytes, float] = {}
        self._table: pd.DataFrame | None = None

    # ---- pieces -------------------------------------------------------------------------------------
    @property
    def grid(self) -> pd.DataFrame:
        """The label columns of the estimates (a copy)."""
        return self._grid.copy()

    @property
    def linfct(self) -> np.ndarray:
        """The linear functions ``L`` (estimates are ``L[:, kept] @ m.fixef``, ``kept`` the columns the fit
        kept: all of them unless the fixed effects are rank deficient), a copy."""
        return self._linfct.copy()

    def by_rows(self, by: list[str] | None = None) -> list[np.ndarray]:
        """Row positions of each ``by`` group, groups in order of first appearance (emmeans' ``.find.by.rows``)."""
        by = self.by if by is None else by
        n = len(self._grid)
        if not by:
            return [np.arange(n)]
        keys = ["\x1f".join(r_label(v) for v in row) for row in self._grid[by].itertuples(index=False, name=None)]
        order: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            order.setdefault(k, []).append(i)
        return [np.asarray(v) for v in order.values()]

    def vcov_beta(self) -> np.ndarray:
        """The covariance of the fixed effects used for SEs (Kenward-Roger's adjusted one for ``"kenward-roger"``)."""
        if self.ddf == "kenward-roger":
            from .kenward_roger import kenward_roger_info

            return kenward_roger_info(self.model).vcov_adj
        return self.model.vcov.to_numpy()

    def df_of(self, row: np.ndarray) -> float:
        """The df of the estimate ``row @ beta`` by this grid's method."""
        key = np.asarray(row, dtype=float).tobytes()
        hit = self._df_cache.get(key)
        if hit is not None:
            return hit
        if self.ddf == "asymptotic" or not np.any(row):
            df = np.inf
        elif self.ddf == "kenward-roger":
            from .kenward_roger import kenward_roger_info

            df = float(kenward_roger_info(self.model).adjust(row)["df"])
        else:
            from .satterthwaite import satterthwaite_info

            df = float(satterthwaite_info(self.model).df(row))
        self._df_cache[key] = df
        return df

    def estimates(self) -> pd.DataFrame:
        """Estimate, standard error and df of each row (no intervals or tests)."""
        ok = estimable(self.model, self._linfct)
        L = self._linfct[:, self.model.design.fixed.kept]
        est = L @ self.model.fixef.to_numpy()
        V = self.vcov_beta()
        se = np.sqrt(np.maximum(np.einsum("ia,ab,ib->i", L, V, L), 0.0))
        df = np.array([self.df_of(row) if good else np.nan for row, good in zip(L, ok)])
        est[~ok] = np.nan
        se[~ok] = np.nan
        return pd.DataFrame({self.est_name: est, "std_error": se, "df": df})

    # ---- the table ----------------------------------------------------------------------------------
    def summary(self, level: float | None = None, adjust: str | None = None,
                infer: tuple[bool, bool] | None = None) -> pd.DataFrame:
        """emmeans' ``summary``: the estimates with intervals and/or tests.

        Parameters
        ----------
        level : float, optional
            Confidence level (default: the grid's).
        adjust : str, optional
            Multiplicity adjustment of intervals and p-values (default: the grid's); see
            :func:`lmmflow.contrasts`.
        infer : (bool, bool), optional
            Whether to give intervals and tests (default: intervals for means, both for contrasts).

        Returns
        -------
        pandas.DataFrame
        """
        from .emm_contrasts import adjusted_critical_values, adjusted_p_values

        level = self.level if level is None else float(level)
        adjust = self.adjust if adjust is None else adjust
        infer = self.infer if infer is None else tuple(infer)
        est = self.estimates()
        out = pd.concat([self._grid, est], axis=1)
        rows = self.by_rows()
        n_contr = len(rows[0])
        value, se, df = est[self.est_name].to_numpy(), est["std_error"].to_numpy(), est["df"].to_numpy()
        self.messages = [f"Degrees-of-freedom method: {self.ddf}"]
        if self.avgd_over:
            self.messages.insert(0, "Results are averaged over the levels of: " + ", ".join(self.avgd_over))
        if infer[0]:
            cv, used, msg = adjusted_critical_values(level, df, adjust, self.fam_size, n_contr, self.est_type,
                                                     rows, self.scheffe_rank, self._linfct)
            out["lower_cl"] = value - cv * se
            out["upper_cl"] = value + cv * se
            self.messages.append(f"Confidence level used: {level:g}")
            if msg:
                self.messages.append(msg)
        if infer[1]:
            t = value / se
            p, used, msg = adjusted_p_values(t, df, adjust, self.fam_size, n_contr, self.est_type, rows,
                                             self.scheffe_rank, self._linfct)
            out["t_ratio"] = t
            out["p_value"] = p
            if msg:
                self.messages.append(msg)
        return out

    def to_frame(self) -> pd.DataFrame:
        """The summary table as a plain DataFrame (a new copy each call)."""
        if self._table is None:
            self._table = self.summary()
        return self._table.copy()

    def __getitem__(self, key: Any) -> Any:
        return self.to_frame()[key]

    def __len__(self) -> int:
        return len(self._grid)

    def _display(self) -> pd.DataFrame:
        tab = self.to_frame()
        names = {"std_error": "SE", "lower_cl": "lower.CL", "upper_cl": "upper.CL", "t_ratio": "t.ratio",
                 "p_value": "p.value"}
        if self.est_name.endswith("_trend"):
            names[self.est_name] = self.est_name[:-6] + ".trend"
        if self.ddf == "asymptotic":
            names.update(lower_cl="asymp.LCL", upper_cl="asymp.UCL", t_ratio="z.ratio")
        return tab.rename(columns=names)

    def _blocks(self) -> list[tuple[str, pd.DataFrame]]:
        disp = self._display()
        if not self.by:
            return [("", disp)]
        out = []
        for rows in self.by_rows():
            head = ", ".join(f"{b} = {r_label(self._grid[b].iloc[rows[0]])}" for b in self.by) + ":"
            out.append((head, disp.iloc[rows].drop(columns=self.by)))
        return out

    def __repr__(self) -> str:
        parts = []
        for head, block in self._blocks():
            if head:
                parts.append(head)
            parts.append(block.to_string(index=False, formatters=_formatters(block)))
            parts.append("")
        self.to_frame()
        parts.extend(self.messages)
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        html = []
        for head, block in self._blocks():
            if head:
                html.append(f"<p><b>{head}</b></p>")
            html.append(block.to_html(index=False, formatters=_formatters(block)))
        self.to_frame()
        html.append("<p><i>" + "<br>".join(self.messages) + "</i></p>")
        return "\n".join(html)


def _formatters(block: pd.DataFrame) -> dict[str, Callable[[Any], str]]:
    fmt: dict[str, Callable[[Any], str]] = {}
    for col in block.columns:
        if col == "p.value":
            fmt[col] = lambda v: "<.0001" if v < 1e-4 else f"{v:.4f}"
        elif col == "df":
            fmt[col] = lambda v: "Inf" if not np.isfinite(v) else f"{v:.2f}"
        elif pd.api.types.is_float_dtype(block[col]):
            fmt[col] = lambda v: f"{v:.4g}"
    return fmt


# ---- emmeans and emtrends ---------------------------------------------------------------------------
def _marginal(m: LmerResult, specs: Any, by: Any, at: dict[str, Any] | None, weights: str,
              cov_reduce: Callable[[np.ndarray], float], trend: str | None = None
              ) -> tuple[pd.DataFrame, np.ndarray, list[str], list[str]]:
    names, by_list = parse_specs(specs, by)
    facs = names + by_list
    var = _Variables(m)
    overall = facs == ["1"]
    if not overall:
        missing = [f for f in facs if f not in var.names]
        if missing:
            raise DataError(f"specs/by name {missing}, which are not predictors of the fixed effects "
                            f"{var.names}" + ("; '1' (the overall mean) stands alone" if "1" in missing else ""))
    values = _values(var, dict(at or {}), cov_reduce)
    grid = _expand(values)
    X = _encode(m, grid, var)
    if trend is not None:
        if trend not in var.names:
            raise DataError(f"var={trend!r} is not a predictor of the fixed effects {var.names}")
        if var.is_factor(trend):
            raise DataError(f"var={trend!r} is a factor; emtrends needs a numeric covariate")
        x = var.data[trend].to_numpy(dtype=float)
        h = 0.001 * float(np.max(x) - np.min(x))
        if h == 0:
            raise DataError(f"var={trend!r} is constant in the data; its trend is not defined")
        shifted = grid.copy()
        shifted[trend] = shifted[trend].astype(float) + h
        X = (_encode(m, shifted, var) - X) / h
    wgt = _cell_counts(var, grid)
    if np.allclose(wgt, 0):
        wgt = wgt + 1
    weights = str(weights).lower()
    if weights not in WEIGHTS:
        raise ValueError(f"weights={weights!r}: use one of {list(WEIGHTS)}")
    avgd = [nm for nm in var.names if nm not in facs and len(values[nm]) > 1]
    w_row = np.ones(len(grid))  # emmeans applies weights only when something is averaged over
    if avgd and weights == "proportional":
        keys = grid[avgd].map(r_label).agg("\x1f".join, axis=1)
        w_row = keys.map(pd.Series(wgt, index=keys).groupby(level=0).sum()).to_numpy(dtype=float)
    elif avgd and weights == "outer":
        total = float(wgt.sum())
        w_row = np.full(len(grid), total)
        for nm in avgd:
            keys = grid[nm].map(r_label)
            w_row *= keys.map(pd.Series(wgt, index=keys).groupby(level=0).sum()).to_numpy(dtype=float) / total
    elif avgd and weights == "cells":
        w_row = wgt
    elif avgd and weights == "flat":
        w_row = (wgt > 0).astype(float)
    if overall:
        combos = pd.DataFrame({"1": ["overall"]})
        members = [np.arange(len(grid))]
    else:
        combos = _expand({f: values[f] for f in facs})
        gkeys = grid[facs].map(r_label).agg("\x1f".join, axis=1).to_numpy()
        ckeys = combos.map(r_label).agg("\x1f".join, axis=1).to_numpy()
        members = [np.flatnonzero(gkeys == k) for k in ckeys]
    L = np.empty((len(combos), X.shape[1]))
    for i, idx in enumerate(members):
        w = w_row[idx]
        total = w.sum()
        L[i] = (w @ X[idx]) / total if total > 0 else np.nan
    if np.isnan(L).any():
        raise DataError(f"weights={weights!r}: some combinations of {facs} have no data rows to weigh; "
                        "use weights='equal'")
    return combos, L, by_list, avgd


def emmeans(m: LmerResult, specs: Any, by: Any = None, at: dict[str, Any] | None = None,
            ddf: str = "kenward-roger", level: float = 0.95, weights: str = "equal",
            cov_reduce: Callable[[np.ndarray], float] = np.mean) -> EmmGrid:
    """Estimated marginal means (emmeans' ``emmeans``).

    Parameters
    ----------
    m : LmerResult
    specs : str, list of str
        The predictors whose means are wanted: ``"group"``, ``["a", "b"]`` or emmeans' formula
        ``"~ a | b"`` (means of ``a`` for each level of ``b``); ``"~ 1"`` for the overall mean.
    by : str or list of str, optional
        Predictors that split the table into groups (contrasts and adjustments work within them).
    at : dict, optional
        Values of covariates (``{"time": [0, 4]}``) or a subset of a factor's levels.
    ddf : {"kenward-roger", "satterthwaite", "asymptotic"}
        df (and, for Kenward-Roger, the adjusted covariance used for the SEs), as emmeans' ``lmer.df``.
    level : float
        Confidence level of the intervals.
    weights : {"equal", "proportional", "outer", "cells", "flat"}
        How predictions are averaged over the factors not in ``specs`` (emmeans' ``weights``): equally;
        by the frequency of each combination of the averaged factors; by the product of their marginal
        frequencies; by each cell's frequency; equally over the cells that have data.
    cov_reduce : callable
        How covariates not in ``at`` are reduced to one value (default: mean of the fit's rows).

    Returns
    -------
    EmmGrid
        Columns: the ``specs`` and ``by`` predictors, ``emmean``, ``std_error``, ``df``, ``lower_cl``,
        ``upper_cl``.

    Raises
    ------
    DataError
        For names that are not predictors, levels the fit never saw, covariate values that are not numbers.
    ValueError
        Kenward-Roger on an ML fit (refit with ``reml=True`` or use ``ddf="satterthwaite"``).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("diameter ~ sample + (1 | plate)", lf.load_dataset("penicillin"))
    >>> e = lf.emmeans(m, "sample")
    >>> e.to_frame().round(3).iloc[0].to_dict()
    {'sample': 'A', 'emmean': 25.167, 'std_error': 0.206, 'df': 39.732, 'lower_cl': 24.75, 'upper_cl': 25.583}
    """
    combos, L, by_list, avgd = _marginal(m, specs, by, at, weights, cov_reduce)
    ddf = _norm_ddf(ddf)
    if ddf == "kenward-roger" and not m.reml:
        raise ValueError("Kenward-Roger needs a REML fit; refit with reml=True (m.update(reml=True)) or use "
                         "ddf='satterthwaite'")
    return EmmGrid(m, combos, L, by=by_list, est_name="emmean", ddf=ddf, level=level, desc="emmeans",
                   avgd_over=avgd)


def emtrends(m: LmerResult, specs: Any, var: str, by: Any = None, at: dict[str, Any] | None = None,
             ddf: str = "kenward-roger", level: float = 0.95, weights: str = "equal",
             cov_reduce: Callable[[np.ndarray], float] = np.mean) -> EmmGrid:
    """Estimated marginal trends: slopes of the prediction in ``var`` (emmeans' ``emtrends``).

    The slope at each reference-grid point is emmeans' difference quotient
    ``(x(v + h) - x(v)) / h``, ``h = 0.001 * (max(var) - min(var))``, then averaged over the factors
    not in ``specs`` as :func:`emmeans` averages means. For a model linear in ``var`` this is the exact
    slope; for ``I(var**2)`` terms it is the slope at ``v + h/2``, as emmeans reports it.

    Parameters
    ----------
    m : LmerResult
    specs : str, list of str
        As for :func:`emmeans` (``"group"``, ``"~ group | x"``, ``"~ 1"``).
    var : str
        The numeric covariate (a column name) whose slope is wanted.
    by, at, ddf, level, weights, cov_reduce
        As for :func:`emmeans`; ``at={var: [...]}`` gives the points where slopes of a curved term are taken.

    Returns
    -------
    EmmGrid
        Columns: the predictors, ``{var}_trend``, ``std_error``, ``df``, ``lower_cl``, ``upper_cl``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> t = lf.emtrends(m, "~ 1", var="Days")
    >>> t.to_frame().round(3).iloc[0].to_dict()
    {'1': 'overall', 'Days_trend': 10.467, 'std_error': 1.546, 'df': 17.0, 'lower_cl': 7.206, 'upper_cl': 13.729}
    """
    combos, L, by_list, avgd = _marginal(m, specs, by, at, weights, cov_reduce, trend=var)
    ddf = _norm_ddf(ddf)
    if ddf == "kenward-roger" and not m.reml:
        raise ValueError("Kenward-Roger needs a REML fit; refit with reml=True (m.update(reml=True)) or use "
                         "ddf='satterthwaite'")
    return EmmGrid(m, combos, L, by=by_list, est_name=f"{var}_trend", ddf=ddf, level=level, desc="emtrends",
                   avgd_over=avgd)

