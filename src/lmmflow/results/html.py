"""HTML views of a fitted model for notebooks (Jupyter calls ``_repr_html_``): real tables, not preformatted text.

>>> import lmmflow as lf
>>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
>>> page = m._repr_html_()
>>> page.count("<table"), "REML criterion at convergence" in page     # random and fixed effects
(2, True)
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .printing import format_pvalue

if TYPE_CHECKING:
    from .model import LmerResult

__all__ = ["model_html"]

_STYLE = ("<style>.lmmflow-model table{border-collapse:collapse;margin:0.3em 0 0.8em 0}"
          ".lmmflow-model th,.lmmflow-model td{padding:0.15em 0.6em;text-align:right}"
          ".lmmflow-model th:first-child,.lmmflow-model td:first-child{text-align:left}"
          ".lmmflow-model caption{text-align:left;font-weight:bold}</style>")


def _num(v: object, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    return f"{float(v):.{digits}g}"


def _table(caption: str, header: list[str], rows: list[list[str]], left: int = 1) -> str:
    def cell(tag: str, k: int, text: str) -> str:
        align = ' style="text-align:left"' if k < left else ""
        return f"<{tag}{align}>{html.escape(text)}</{tag}>"

    head = "".join(cell("th", k, h) for k, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", k, c) for k, c in enumerate(r)) + "</tr>" for r in rows)
    return (f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _random_rows(m: LmerResult) -> list[list[str]]:
    vc = m.varcorr
    rows = []
    for _, r in vc.iterrows():
        if isinstance(r["var2"], str):
            rows.append([str(r["group"]), f"corr({r['var1']}, {r['var2']})", "", _num(r["sdcor"], 3)])
        else:
            name = r["var1"] if isinstance(r["var1"], str) else ""
            rows.append([str(r["group"]), name, _num(r["vcov"]), _num(r["sdcor"])])
    return rows


def _fixed_rows(coefs: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    cols = [c for c in ("estimate", "std_error", "df", "t_value", "z_value", "p_value") if c in coefs.columns]
    z = "z_value" in coefs.columns  # a GLMM's Wald z tests
    names = {"estimate": "Estimate", "std_error": "Std. Error", "df": "df", "t_value": "t value",
             "z_value": "z value", "p_value": "Pr(>|z|)" if z else "Pr(>|t|)"}
    rows = []
    for name, r in coefs.iterrows():
        cells = [str(name)]
        for c in cols:
            v = r[c]
            cells.append(format_pvalue(float(v)) if c == "p_value" else _num(v, 3 if c == "df" else 4))
        rows.append(cells)
    return ["", *[names[c] for c in cols]], rows


def model_html(m: LmerResult, coefficients: pd.DataFrame | None = None, heading: str | None = None) -> str:
    """The model as HTML: its call and criterion, the random effects and the fixed effects as tables.

    Parameters
    ----------
    m : LmerResult
    coefficients : pandas.DataFrame, optional
        The fixed-effects table to show (``m.coef_table(...)``); default: estimates and standard errors.
    heading : str, optional
        The first line (default: "Linear mixed model fit by REML" or "... by maximum likelihood").

    Returns
    -------
    str

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (1 | Subject)", lf.load_dataset("sleepstudy"), reml=False)
    >>> "<th>AIC</th>" in model_html(m)
    True
    """
    kind = "REML" if m.reml else "maximum likelihood"
    parts = [_STYLE, '<div class="lmmflow-model">',
             f"<p><b>{html.escape(heading or f'Linear mixed model fit by {kind}')}</b><br>"
             f"Formula: <code>{html.escape(m.formula)}</code></p>"]
    if m.reml:
        parts.append(f"<p>REML criterion at convergence: {m.objective:.1f}</p>")
    else:
        parts.append(_table("Fit", ["AIC", "BIC", "logLik", "deviance", "df.resid"],
                            [[_num(m.aic, 6), _num(m.bic, 6), _num(m.loglik, 6), _num(m.objective, 6),
                              _num(m.df_resid)]], left=0))
    parts.append(_table("Random effects", ["Groups", "Name", "Variance", "Std.Dev."], _random_rows(m), left=2))
    coefs = coefficients if coefficients is not None else pd.DataFrame(
        {"estimate": m.fixef, "std_error": m.std_errors})
    header, rows = _fixed_rows(coefs)
    parts.append(_table("Fixed effects", header, rows))
    groups = ", ".join(f"{g}, {k:,}" for g, k in m.ngroups.items())
    foot = f"Number of obs: {m.nobs:,}, groups: {html.escape(groups)}"
    if m.is_singular:
        foot += "<br>boundary (singular) fit"
    parts.append(f"<p>{foot}</p></div>")
    return "".join(parts)
