"""The workflow report for binary and count outcomes: a GLMM (``lf.glmer``) fitted, checked and written up.

The same steps, files and output safety as the LMM report (:func:`lmmflow.reporting.report`), with the GLMM's
content: observed proportions or mean counts, fitted probability (expected count) curves on the response scale,
binned residuals, random effects on the link scale, and a written summary in odds ratios (binomial, logit) or
rate ratios (Poisson, log) with Wald intervals. Nothing LMM-only: no residual SD, no Satterthwaite or
Kenward-Roger df, no REML.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..design import DataError
from ..formula import FormulaError, parse_formula
from .workflow import FORMATS, Report

__all__ = ["GlmmReport", "glmm_report", "glmm_fixed_table"]

DEFAULT_TITLE = "Generalized linear mixed model report"
#: the exponentiated coefficient's name for the links where it has one
RATIO_NAMES = {("binomial", "logit"): ("odds ratio", "OR"), ("poisson", "log"): ("rate ratio", "RR")}


def _response_vars(formula: str) -> list[str]:
    lhs = formula.split("~", 1)[0]
    return [n for n in dict.fromkeys(re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*", lhs))
            if n not in ("cbind", "I", "log", "np", "as", "int", "float")]


def glmm_fixed_table(g: Any, level: float = 0.95) -> pd.DataFrame:
    """Fixed effects with Wald z tests and intervals, and the exponentiated effects where they are ratios.

    Parameters
    ----------
    g : GlmerResult
    level : float

    Returns
    -------
    pandas.DataFrame
        ``term``, ``estimate`` (link scale), ``se``, ``z``, ``p``, ``ci_lower``, ``ci_upper`` (estimate ± z·SE);
        for a logit model ``odds_ratio``, ``or_lower``, ``or_upper``, for a log model ``rate_ratio``,
        ``rr_lower``, ``rr_upper`` (the exponentiated estimate and interval).

    Examples
    --------
    >>> import lmmflow as lf
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"))
    >>> round(float(glmm_fixed_table(g).loc[1, "odds_ratio"]), 3)
    0.371
    """
    ct = g.coef_table()
    z = float(stats.norm.ppf(0.5 + level / 2))
    est, se = ct["estimate"].to_numpy(dtype=float), ct["std_error"].to_numpy(dtype=float)
    out = pd.DataFrame({"term": [str(t) for t in ct.index], "estimate": est, "se": se,
                        "z": ct["z_value"].to_numpy(dtype=float), "p": ct["p_value"].to_numpy(dtype=float),
                        "ci_lower": est - z * se, "ci_upper": est + z * se})
    ratio = RATIO_NAMES.get((g.family, g.link))
    if ratio:
        col, short = ratio[0].replace(" ", "_"), ratio[1].lower()
        out[col] = np.exp(est)
        out[f"{short}_lower"] = np.exp(est - z * se)
        out[f"{short}_upper"] = np.exp(est + z * se)
    return out


def _random_rows(g: Any) -> dict[str, Any]:
    sds, cors = [], []
    for _, r in g.varcorr.iterrows():
        if r["var2"] is None or (isinstance(r["var2"], float) and math.isnan(r["var2"])):
            sds.append({"group": str(r["group"]), "term": str(r["var1"]), "variance": float(r["vcov"]),
                        "sd": float(r["sdcor"])})
        else:
            cors.append({"group": str(r["group"]), "term1": str(r["var1"]), "term2": str(r["var2"]),
                         "covariance": float(r["vcov"]), "r": float(r["sdcor"])})
    return {"sds": sds, "cors": cors}


def _random_table(rand: dict[str, Any]) -> pd.DataFrame:
    rows = [{"group": s["group"], "term": s["term"], "variance": s["variance"], "sd": s["sd"], "corr": None}
            for s in rand["sds"]]
    for c in rand["cors"]:
        for row in rows:
            if row["group"] == c["group"] and row["term"] == c["term2"] and row["corr"] is None:
                row["corr"] = c["r"]
    return pd.DataFrame(rows, columns=["group", "term", "variance", "sd", "corr"])


def _optional(notes: list[str], what: str, fn: Any) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()
    except (ImportError, AttributeError, KeyError, TypeError, NotImplementedError) as exc:
        notes.append(f"{what} not computed: this version's lf.{'r2' if what == 'R²' else 'icc'} does not support "
                     f"GLMMs ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})")
        return None
    except (ValueError, np.linalg.LinAlgError) as exc:
        notes.append(f"{what} not computed for this GLMM: {' '.join(str(exc).split())[:200]}")
        return None


def _r2(g: Any) -> dict[str, float]:
    from .. import r2

    out = r2(g)
    return {"marginal": float(out["marginal"]), "conditional": float(out["conditional"])}


def _icc(g: Any) -> dict[str, float]:
    from .. import icc

    out = icc(g)
    return {"adjusted": float(out["adjusted"]), "unadjusted": float(out["unadjusted"])}


@dataclass
class GlmmReport(Report):
    """A finished GLMM workflow (see :func:`glmm_report`): the :class:`Report` of a binary or count outcome.

    ``models["main"]`` (and ``models["compare"]``) are :class:`lmmflow.GlmerResult` fits; the tables are
    ``missing``, ``fixed_effects`` (with odds or rate ratios), ``random_effects`` (link scale), ``comparison``,
    ``fit_indices``, ``binned_residuals``, ``blups``. Written like the LMM report (:meth:`Report.write`).
    """

    @property
    def text(self) -> str:
        """The plain-text summary (``summary.txt``): paragraphs and the glmer summary."""
        from .glmm_text import glmm_summary_text

        return glmm_summary_text(self.values, model_summary=str(self.models["main"].summary()))

    @property
    def paragraphs(self) -> list[str]:
        """The written summary (APA style), one string per paragraph."""
        from .glmm_text import glmm_paragraphs

        return glmm_paragraphs(self.values)

    @property
    def markdown(self) -> str:
        """The Markdown summary (``summary.md``)."""
        from .glmm_text import glmm_summary_markdown

        figs = {self.figure_info[k]["title"]: f"{k}.png" for k in self.figure_png}
        return glmm_summary_markdown(self.values, self.tables, figs)

    @property
    def html(self) -> str:
        """The self-contained HTML report."""
        from .glmm_html import build_glmm_html

        return build_glmm_html(self)


def _check_columns(df: pd.DataFrame, formula: str) -> list[str]:
    from .workflow import check_long_format

    resp = _response_vars(formula)
    missing = [c for c in resp if c not in df.columns]
    if missing:
        lhs = formula.split("~")[0].strip()
        raise DataError(f"column(s) {', '.join(repr(c) for c in missing)} of the response {lhs!r} are not in the "
                        f"data; columns are {list(df.columns)[:12]}")
    check_long_format(df, f"{resp[0]} ~ {formula.split('~', 1)[1]}")
    return resp


def glmm_report(data: Any, formula: str, family: Any = "binomial", link: str | None = None, nagq: int = 1,
                compare: str | bool | None = None, out: str | os.PathLike[str] | None = None,
                time: str | None = None, unit: str | None = None, title: str = DEFAULT_TITLE, level: float = 0.95,
                seed: int | None = None, formats: tuple[str, ...] | list[str] = FORMATS, n_trajectories: int = 20,
                figures: bool = True, dpi: int = 110, design: str = "auto", weights: Any = None) -> GlmmReport:
    """Run the workflow for a binary or count outcome with a GLMM and (optionally) write the report.

    Called by :func:`lmmflow.report` with ``family=``; see there for the shared arguments.

    Parameters
    ----------
    data, formula, compare, out, time, unit, title, level, seed, formats, figures, dpi, design
        As for :func:`lmmflow.report`.
    family : {"binomial", "poisson"} or family object
    link : str, optional
        ``logit``/``probit``/``cloglog`` (binomial), ``log`` (Poisson).
    nagq : int
        As for :func:`lmmflow.glmer`.
    n_trajectories : int
        Units' curves drawn behind the population curve.
    weights : str or array-like, optional
        Binomial trials when the response is a proportion.

    Returns
    -------
    GlmmReport

    Examples
    --------
    >>> import lmmflow as lf
    >>> d = lf.simulate_growth(n_units=60, seed=2)
    >>> d["high"] = (d["y"] > 52).astype(int)
    >>> rep = glmm_report(d, "high ~ time + (1 | id)", figures=False)
    >>> rep.values["family"], rep.values["link"], "odds_ratio" in rep.tables["fixed_effects"]
    ('binomial', 'logit', True)
    """
    from ..glmm_api import glmer, make_family
    from .design import detect_design
    from .tables import blup_table, comparison_values, model_labels
    from .workflow import data_check, default_compare, formula_columns, infer_roles, load_data

    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    fam = make_family(family, link)  # a bad family or link fails here, before any work
    df = load_data(data)
    if not isinstance(formula, str) or "~" not in formula:
        raise FormulaError(f"formula {formula!r} needs a response, e.g. 'y ~ time + (1 | id)'")
    if out is not None:
        from .output import check_output_folder

        check_output_folder(out)
    resp_vars = _check_columns(df, formula)
    if not parse_formula(formula).random:
        raise FormulaError(f"formula {formula!r} has no random-effects term such as (1 | id): a mixed-model report "
                           "needs at least one grouping factor; add one, e.g. 'y ~ time + (1 | id)'")
    time_given = time is not None
    _, time, unit = infer_roles(formula, df, time, unit)
    des = detect_design(df, formula, time, unit, time_given=time_given, design=design)
    slope_var = time
    time = des["time"]
    if compare is None:
        compare = default_compare(formula, unit)
    elif compare is False:
        compare = None
    columns = formula_columns(df, formula) + [c for c in resp_vars if c in df.columns]
    info, missing = data_check(df, resp_vars[0], time, unit, columns=list(dict.fromkeys(columns)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = glmer(formula, df, family=fam, nagq=nagq, weights=weights, quiet=True)
        g0 = glmer(compare, df, family=fam, nagq=nagq, weights=weights, quiet=True) \
            if compare else None
    info["n_obs"] = int(g.nobs)
    info["n_dropped"] = int(g.n_dropped)
    notes: list[str] = []
    models: dict[str, Any] = {"main": g}
    tables: dict[str, pd.DataFrame] = {"missing": missing}
    values: dict[str, Any] = {"title": title, "formula": formula, "compare_formula": compare,
                              "response": formula.split("~", 1)[0].strip(), "time": time, "unit": unit,
                              "design": des, "slope_var": slope_var, "time_given": time_given,
                              "design_arg": design, "level": level, "data": info, "formats": tuple(formats),
                              "seed": seed, "family": g.family, "link": g.link, "nagq": int(nagq),
                              "model_kind": "glmm", "reml": False, "ddf": "none",
                              "source": os.fspath(data) if isinstance(data, (str, os.PathLike)) else None,
                              "reshape": None, "ratio": RATIO_NAMES.get((g.family, g.link))}
    values["lrt"] = None
    if g0 is not None:
        models["compare"] = g0
        try:
            values["lrt"], tables["comparison"] = comparison_values(g0, g)
        except (ImportError, AttributeError, ValueError, TypeError) as exc:
            notes.append(f"model comparison skipped: {exc}")
    values["main_label"], values["compare_label"] = model_labels(g, g0, slope_var, unit)
    fixed = glmm_fixed_table(g, level)
    tables["fixed_effects"] = fixed
    values["fixed"] = fixed.to_dict("records")
    values["intercept_term"] = "(Intercept)" if "(Intercept)" in g.fixef.index else None
    values["random"] = _random_rows(g)
    tables["random_effects"] = _random_table(values["random"])
    values["r2"] = _optional(notes, "R²", lambda: _r2(g))
    icc = _optional(notes, "ICC", lambda: _icc(g))
    values["icc"] = dict(icc, model="main") if icc else None
    rows = []
    if values["r2"]:
        rows += [("marginal R²", values["r2"]["marginal"]), ("conditional R²", values["r2"]["conditional"])]
    if values["icc"]:
        rows += [("ICC, adjusted", values["icc"]["adjusted"]), ("ICC, unadjusted", values["icc"]["unadjusted"])]
    tables["fit_indices"] = pd.DataFrame(rows, columns=["quantity", "value"])
    from ..plots.binned import binned_residuals_frame

    binned = binned_residuals_frame(g)
    tables["binned_residuals"] = binned
    values["binned"] = {"n_bins": int(len(binned)), "inside": int(binned["inside"].sum()),
                        "share_inside": float(binned["inside"].mean()) if len(binned) else float("nan")}
    values["singular"] = bool(g.is_singular)
    values["singular_parts"] = ([f"SD of {s['term']} | {s['group']} = {s['sd']:.2f}" for s in values["random"]["sds"]
                                 if s["sd"] <= 1e-4]
                                + [f"correlation of {c['term1']} and {c['term2']} | {c['group']} = {c['r']:.2f}"
                                   for c in values["random"]["cors"] if abs(c["r"]) >= 1 - 1e-4])
    values["compare_singular"] = bool(g0.is_singular) if g0 is not None else False
    opt = g.optinfo
    values["converged"] = bool(getattr(opt, "converged", True))
    values["messages"] = [str(x) for x in (getattr(opt, "messages", None) or [])]
    tables["blups"] = blup_table(g, unit)
    rep = GlmmReport(values=values, models=models, tables=tables, figure_png={}, figure_info={}, data=df,
                     notes=notes)
    if figures:
        from .glmm_figures import draw_glmm

        draw_glmm(rep, n_units=n_trajectories, seed=seed, dpi=dpi)
    if out is not None:
        rep.write(out, formats)
    return rep
