"""Text and HTML of a fitted GLMM, in glmer's layout (``print(summary(m))``, ``print(m)``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .printing import _abbrev, format_table, varcorr_text

if TYPE_CHECKING:
    from .glmm import GlmerResult

__all__ = ["GlmmSummary", "glmm_html", "glmm_short_repr", "method_title"]


def method_title(m: GlmerResult) -> str:
    """lme4's first line: the approximation behind the likelihood.

    Examples
    --------
    >>> class M:
    ...     nagq = 25
    >>> method_title(M())[57:]
    "(Adaptive Gauss-Hermite Quadrature, nAGQ = 25) ['glmerMod']"
    """
    approx = "Laplace Approximation" if m.nagq == 1 else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {m.nagq}"
    return f"Generalized linear mixed model fit by maximum likelihood ({approx}) ['glmerMod']"


def _fit_line(m: GlmerResult) -> str:
    tab = pd.DataFrame([[m.aic, m.bic, m.loglik, m.objective, m.df_resid]],
                       columns=["AIC", "BIC", "logLik", "deviance", "df.resid"], index=[""])
    return format_table(tab.astype(object).map(lambda v: f"{v:.1f}" if isinstance(v, float) else str(v)))


def _groups_line(m: GlmerResult) -> str:
    groups = ", ".join(f"{g}, {k}" for g, k in m.ngroups.items())
    return f"Number of obs: {m.nobs}, groups:  {groups}"


class GlmmSummary:
    """A GLMM summary that prints as glmer's (``print(g.summary())``) and renders as HTML in notebooks.

    Attributes
    ----------
    coefficients : pandas.DataFrame
        ``g.coef_table()``: estimate, std_error, z_value, p_value.
    """

    def __init__(self, m: GlmerResult, correlation: bool | None = None):
        self.model = m
        self.coefficients = m.coef_table()
        self.correlation = (len(m.fixef_names) <= 12) if correlation is None else correlation

    def __str__(self) -> str:
        m = self.model
        lines = [method_title(m), f" Family: {m.family}  ( {m.link} )", f"Formula: {m.formula}",
                 f"   Data: {m.data_name}"]
        if m.design.frame.weights is not None and (m.design.response is None or m.design.response.kind != "cbind"):
            lines.append("Weights: (prior weights)")
        if m.offset is not None:
            lines.append(" Offset: (given)")
        lines += ["", _fit_line(m), "", "Scaled residuals: "]
        q = np.quantile(m.resid("pearson").to_numpy(), [0, 0.25, 0.5, 0.75, 1])
        lines.append(format_table(pd.DataFrame([[f"{v:.4f}" for v in q]], columns=["Min", "1Q", "Median", "3Q", "Max"],
                                               index=[""])))
        lines += ["", "Random effects:", varcorr_text(m), _groups_line(m)]
        if m.n_dropped:
            lines.append(f"({m.n_dropped} observation(s) deleted due to missingness)")
        ct = self.coefficients
        tab = pd.DataFrame({"Estimate": ct["estimate"], "Std. Error": ct["std_error"], "z value": ct["z_value"],
                            "Pr(>|z|)": ct["p_value"]})
        lines += ["", "Fixed effects:", format_table(tab, pvalue_columns=("Pr(>|z|)",))]
        if self.correlation and len(m.fixef_names) > 1:
            v = m.vcov.to_numpy()
            sd = np.sqrt(np.diag(v))
            corr = v / np.outer(sd, sd)
            short = [_abbrev(n) for n in m.fixef_names]
            if len(set(short)) < len(short):  # abbreviations that collide (period[T.2], period[T.3]): full names
                short = list(m.fixef_names)
            rows = [[f"{corr[i, j]:.3f}" for j in range(i)] + [""] * (len(short) - 1 - i) for i in range(1, len(short))]
            lines += ["", "Correlation of Fixed Effects:",
                      format_table(pd.DataFrame(rows, index=short[1:], columns=short[:-1]))]
        if m.design.fixed.dropped:
            lines.append(f"fixed-effect model matrix is rank deficient so dropping {len(m.design.fixed.dropped)} "
                         f"column(s): {', '.join(m.design.fixed.dropped)}")
        if m.is_singular:
            lines.append("boundary (singular) fit: a variance is estimated as (nearly) zero or a correlation "
                         "as +/-1; consider a simpler random-effects structure")
        for msg in getattr(m.optinfo, "messages", ()) or ():
            if "converge" in msg or "Hessian" in msg:
                lines.append(f"optimizer convergence code: {msg}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return glmm_html(self.model, self.coefficients)


def glmm_short_repr(m: GlmerResult) -> str:
    """lme4's ``print(m)`` for glmer: method, family, criteria, random and fixed effects, briefly."""
    crit = (f"      AIC       BIC    logLik  deviance  df.resid\n{m.aic:9.4f} {m.bic:9.4f} {m.loglik:9.4f} "
            f"{m.objective:9.4f} {m.df_resid:9d}")
    fe = "  ".join(f"{n}: {v:.4g}" for n, v in m.fixef.items())
    lines = [method_title(m), f" Family: {m.family}  ( {m.link} )", f"Formula: {m.formula}", crit,
             "Random effects:", varcorr_text(m), _groups_line(m), "Fixed Effects:", fe]
    if m.is_singular:
        lines.append("boundary (singular) fit")
    return "\n".join(lines)


def glmm_html(m: GlmerResult, coefficients: pd.DataFrame | None = None) -> str:
    """The GLMM as HTML tables (the LMM page's layout with glmer's heading and z tests)."""
    from .html import model_html

    coefs = m.coef_table() if coefficients is None else coefficients
    return model_html(m, coefs, heading=f"{method_title(m)}; family {m.family} ({m.link})")
