"""Printed summaries in lme4's layout (with lmerTest's df and p-values)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .model import LmerResult

__all__ = ["Summary", "format_table", "short_repr", "varcorr_text"]


def _fmt(x: float, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    return f"{x:.{digits}g}" if abs(x) >= 1e-4 or x == 0 else f"{x:.{max(digits - 1, 1)}e}"


def _column_decimals(values: np.ndarray, digits: int) -> int | None:
    """Decimals so the smallest non-zero magnitude shows ``digits`` significant digits (R's column style);
    None when the column needs scientific notation."""
    finite = np.abs(values[np.isfinite(values) & (values != 0)])
    if finite.size == 0:
        return 0
    lo, hi = finite.min(), finite.max()
    if hi >= 1e15 or lo < 1e-4:
        return None
    return int(min(max(digits - 1 - np.floor(np.log10(lo)), 0), 8))


def format_pvalue(p: float) -> str:
    """R's ``format.pval`` style: ``< 2e-16`` below machine precision, else 3-4 significant digits."""
    if not np.isfinite(p):
        return ""
    if p < 2.2e-16:
        return "< 2e-16"
    return f"{p:.3g}" if p < 1e-4 else f"{p:.4f}".rstrip("0").rstrip(".") if p < 1 else "1"


def format_table(frame: pd.DataFrame, digits: int = 4, pvalue_columns: tuple[str, ...] = ("Pr(>|t|)", "Pr(>F)",
                                                                                        "Pr(>Chisq)")) -> str:
    """Right-aligned text table with R-like number formatting, column by column."""
    cols = [str(c) for c in frame.columns]
    idx = [str(i) for i in frame.index]
    columns: list[list[str]] = []
    for name in frame.columns:
        values = frame[name].to_numpy()
        if str(name) in pvalue_columns:
            columns.append([format_pvalue(float(v)) if not isinstance(v, str) else v for v in values])
            continue
        if values.dtype == object or isinstance(values[0], str) if len(values) else False:
            columns.append(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values])
            continue
        if np.issubdtype(values.dtype, np.integer):
            columns.append([str(v) for v in values])
            continue
        vals = values.astype(float)
        dec = _column_decimals(vals, digits)
        columns.append(["" if np.isnan(v) else (f"{v:.{digits - 1}e}" if dec is None else f"{v:.{dec}f}")
                        for v in vals])
    cells = [[columns[j][i] for j in range(len(cols))] for i in range(len(idx))]
    widths = [max([len(c)] + [len(r[j]) for r in cells]) for j, c in enumerate(cols)]
    iw = max([0] + [len(i) for i in idx])
    out = [" " * iw + " " + " ".join(c.rjust(w) for c, w in zip(cols, widths))]
    for i, r in zip(idx, cells):
        out.append(i.ljust(iw) + " " + " ".join(c.rjust(w) for c, w in zip(r, widths)))
    return "\n".join(out)


def varcorr_text(m: LmerResult, digits: int = 4) -> str:
    """The 'Random effects' block: Groups, Name, Variance, Std.Dev., Corr."""
    vc = m.varcorr
    rows: list[tuple[str, str, str, str, list[str]]] = []
    for g in dict.fromkeys(vc["group"]):
        part = vc[vc["group"] == g]
        var_rows = part[part["var2"].isna()]
        cor_rows = part[part["var2"].notna()]
        names = [str(v) if isinstance(v, str) else "" for v in var_rows["var1"]]
        for i, (_, r) in enumerate(var_rows.iterrows()):
            corr = []
            for j in range(i):
                hit = cor_rows[((cor_rows["var1"] == names[j]) & (cor_rows["var2"] == names[i]))
                               | ((cor_rows["var1"] == names[i]) & (cor_rows["var2"] == names[j]))]
                corr.append(f"{hit['sdcor'].iloc[0]:.2f}" if len(hit) else "")
            rows.append((g if i == 0 else "", names[i], _fmt(r["vcov"], digits), _fmt(r["sdcor"], digits), corr))
    header = ("Groups", "Name", "Variance", "Std.Dev.")
    w = [max(len(header[k]), *(len(r[k]) for r in rows)) for k in range(4)]
    has_corr = any(c for r in rows for c in r[4])
    lines = [" " + " ".join([header[0].ljust(w[0]), header[1].ljust(w[1]), header[2].rjust(w[2]),
                             header[3].rjust(w[3])]) + (" Corr" if has_corr else "")]
    for r in rows:
        corr = " ".join(c.rjust(5) for c in r[4])
        lines.append(" " + " ".join([r[0].ljust(w[0]), r[1].ljust(w[1]), r[2].rjust(w[2]), r[3].rjust(w[3])])
                     + (" " + corr if corr.strip() else ""))
    return "\n".join(lines)


class Summary:
    """A model summary that prints as lme4's (``print(m.summary())``) and renders as HTML in notebooks."""

    def __init__(self, m: LmerResult, ddf: str = "satterthwaite", correlation: bool | None = None):
        self.model = m
        self.ddf = ddf
        try:
            self.coefficients = m.coef_table(ddf=ddf)
            self.ddf_note = None
        except Exception as exc:  # df approximations can fail on odd models: fall back, and say so
            self.coefficients = m.coef_table(ddf="none")
            self.ddf_note = f"{ddf} df could not be computed ({exc}); t-values shown without df"
            self.ddf = "none"
        p = len(m.fixef)
        self.correlation = (p <= 12) if correlation is None else correlation

    def __str__(self) -> str:
        m = self.model
        method = {"satterthwaite": "Satterthwaite's method", "kenward-roger": "Kenward-Roger's method",
                  "residual": "residual degrees of freedom"}.get(self.ddf)
        kind = "REML" if m.reml else "maximum likelihood"
        head = f"Linear mixed model fit by {kind}"
        if method:
            head += f". t-tests use {method}"
        lines = [head, f"Formula: {m.formula}", f"   Data: {m.data_name}"]
        if m.weights is not None:
            lines.append("Weights: (prior weights)")
        if m.offset is not None:
            lines.append(" Offset: (given)")
        lines.append("")
        if m.reml:
            lines.append(f"REML criterion at convergence: {m.objective:.1f}")
        else:
            tab = pd.DataFrame([[m.aic, m.bic, m.loglik, m.objective, m.df_resid]],
                               columns=["AIC", "BIC", "logLik", "deviance", "df.resid"], index=[""])
            lines.append(format_table(tab.astype(object).map(lambda v: f"{v:.1f}" if isinstance(v, float) else str(v))))
        lines += ["", "Scaled residuals: "]
        q = np.quantile(m.resid("pearson", scaled=True).to_numpy(), [0, 0.25, 0.5, 0.75, 1])
        lines.append(format_table(pd.DataFrame([[f"{v:.4f}" for v in q]], columns=["Min", "1Q", "Median", "3Q", "Max"],
                                               index=[""])))
        lines += ["", "Random effects:", varcorr_text(m)]
        groups = ", ".join(f"{g}, {k}" for g, k in m.ngroups.items())
        lines.append(f"Number of obs: {m.nobs}, groups:  {groups}")
        if m.n_dropped:
            lines.append(f"({m.n_dropped} observation(s) deleted due to missingness)")
        lines += ["", "Fixed effects:"]
        ct = self.coefficients
        tab = pd.DataFrame({"Estimate": ct["estimate"], "Std. Error": ct["std_error"]})
        if self.ddf != "none":
            tab["df"] = ct["df"]
        tab["t value"] = ct["t_value"]
        if self.ddf != "none":
            tab["Pr(>|t|)"] = ct["p_value"]
        lines.append(format_table(tab))
        if self.ddf_note:
            lines.append(f"note: {self.ddf_note}")
        if self.correlation and len(m.fixef) > 1:
            lines += ["", "Correlation of Fixed Effects:"]
            v = m.vcov.to_numpy()
            sd = np.sqrt(np.diag(v))
            corr = v / np.outer(sd, sd)
            short = [_abbrev(n) for n in m.fixef_names]
            rows = []
            for i in range(1, len(short)):
                rows.append([f"{corr[i, j]:.3f}" for j in range(i)] + [""] * (len(short) - 1 - i))
            lines.append(format_table(pd.DataFrame(rows, index=short[1:], columns=short[:-1])))
        if m.design.fixed.dropped:
            lines.append(f"fixed-effect model matrix is rank deficient so dropping {len(m.design.fixed.dropped)} "
                         f"column(s): {', '.join(m.design.fixed.dropped)}")
        if m.is_singular:
            lines.append("boundary (singular) fit: a variance is estimated as (nearly) zero or a correlation "
                         "as +/-1; consider a simpler random-effects structure")
        for msg in m.optinfo.messages:
            if "converge" in msg or "Hessian" in msg:
                lines.append(f"optimizer ({m.optinfo.optimizer}) convergence code: {msg}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        from .html import model_html

        method = {"satterthwaite": "Satterthwaite's", "kenward-roger": "Kenward-Roger's"}.get(self.ddf)
        kind = "REML" if self.model.reml else "maximum likelihood"
        heading = f"Linear mixed model fit by {kind}" + (f". t-tests use {method} method" if method else "")
        return model_html(self.model, self.coefficients, heading=heading)


def _abbrev(name: str) -> str:
    if name == "(Intercept)":
        return "(Intr)"
    return name if len(name) <= 6 else name[:6]


def short_repr(m: LmerResult) -> str:
    """lme4's ``print(m)``: criterion, random effects and fixed effects, briefly."""
    kind = "REML" if m.reml else "maximum likelihood"
    crit = f"REML criterion at convergence: {m.objective:.4f}" if m.reml else (
        f"     AIC       BIC    logLik  deviance  df.resid\n{m.aic:9.4f} {m.bic:9.4f} {m.loglik:9.4f} "
        f"{m.objective:9.4f} {m.df_resid:9d}")
    groups = ", ".join(f"{g}, {k}" for g, k in m.ngroups.items())
    fe = "  ".join(f"{n}: {v:.4g}" for n, v in m.fixef.items())
    lines = [f"Linear mixed model fit by {kind}", f"Formula: {m.formula}", crit, "Random effects:",
             varcorr_text(m), f"Number of obs: {m.nobs}, groups:  {groups}", "Fixed Effects:", fe]
    if m.is_singular:
        lines.append("boundary (singular) fit")
    return "\n".join(lines)
