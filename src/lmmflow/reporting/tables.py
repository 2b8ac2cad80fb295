"""The model's results as plain numbers and tables for the report: fixed effects (with intervals on the p-values'
df), variance components, the model comparison, BLUPs, R², ICC and the share of positive slopes."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..exceptions import LmmflowWarning

if TYPE_CHECKING:
    from ..results import LmerResult

__all__ = ["blup_table", "comparison_values", "fit_indices_table", "fixed_effects_table", "model_labels",
           "random_effects_rows", "random_effects_table", "singular_parts", "slope_test"]

# ---- model results as plain numbers -----------------------------------------------------------------------
def fixed_effects_table(m: LmerResult, ddf: str = "satterthwaite", level: float = 0.95) -> tuple[pd.DataFrame, str]:
    """``m.coef_table(ddf)`` with confidence limits on the same df; falls back to ``ddf="none"`` if ``ddf`` fails.

    The interval is estimate ± q · SE with q the t quantile on the row's df (Satterthwaite, Kenward-Roger or
    residual, as the p-value), so an interval excludes zero exactly when p < 1 - level; with ``ddf="none"``
    q is the normal quantile (lme4's Wald interval).

    Returns
    -------
    (DataFrame, str)
        Columns term, estimate, std_error, df, t_value, p_value, conf_low, conf_high; and the ddf used.
    """
    try:
        tab = m.coef_table(ddf=ddf).copy()
    except Exception as exc:  # noqa: BLE001 - a report falls back to normal p-values rather than stopping
        if ddf == "none":
            raise
        warnings.warn(f"{ddf} df not available ({type(exc).__name__}: {exc}); using normal p-values", LmmflowWarning,
                      stacklevel=2)
        ddf = "none"
        tab = m.coef_table(ddf="none").copy()
    from scipy import stats

    # the intervals use the df of the p-values beside them (t with Satterthwaite or KR df; z without df)
    est, se = tab["estimate"].to_numpy(dtype=float), tab["std_error"].to_numpy(dtype=float)
    dfs = tab["df"].to_numpy(dtype=float) if "df" in tab.columns and ddf != "none" else np.full(len(tab), np.inf)
    dfs = np.where(np.isfinite(dfs) & (dfs > 0), dfs, np.inf)
    q = np.where(np.isfinite(dfs), stats.t.ppf(0.5 + level / 2, np.where(np.isfinite(dfs), dfs, 1.0)),
                 stats.norm.ppf(0.5 + level / 2))
    lo, hi = est - q * se, est + q * se
    tab["conf_low"], tab["conf_high"] = lo, hi
    tab.index.name = "term"
    return tab.reset_index(), ddf


def random_effects_rows(m: LmerResult) -> dict[str, Any]:
    """SDs, variances and correlations of the random effects and the residual SD, from ``m.varcorr``."""
    vc = m.varcorr
    sds, cors = [], []
    for _, r in vc.iterrows():
        if r["group"] == "Residual":
            continue
        if r["var2"] is None or (isinstance(r["var2"], float) and math.isnan(r["var2"])):
            sds.append({"group": str(r["group"]), "term": str(r["var1"]), "variance": float(r["vcov"]),
                        "sd": float(r["sdcor"])})
        else:
            cors.append({"group": str(r["group"]), "term1": str(r["var1"]), "term2": str(r["var2"]),
                         "covariance": float(r["vcov"]), "r": float(r["sdcor"])})
    return {"sds": sds, "cors": cors, "sigma": float(m.sigma), "residual_variance": float(m.sigma ** 2)}


def singular_parts(rand: dict[str, Any], tol: float = 1e-4) -> list[str]:
    """Which variance components sit on the boundary: SDs near 0 (relative to sigma) and correlations near ±1.

    Examples
    --------
    >>> singular_parts({"sds": [{"group": "site", "term": "(Intercept)", "sd": 0.0}], "cors": [], "sigma": 5.0})
    ['SD of (Intercept) | site = 0.00']
    """
    out = [f"SD of {s['term']} | {s['group']} = {s['sd']:.2f}" for s in rand["sds"] if s["sd"] <= tol * rand["sigma"]]
    out += [f"correlation of {c['term1']} and {c['term2']} | {c['group']} = {c['r']:.2f}" for c in rand["cors"]
            if abs(c["r"]) >= 1 - tol]
    return out


def random_effects_table(rand: dict[str, Any]) -> pd.DataFrame:
    """The variance components as a table: group, term, variance, sd, corr (with the first term)."""
    rows = [{"group": s["group"], "term": s["term"], "variance": s["variance"], "sd": s["sd"], "corr": None}
            for s in rand["sds"]]
    for c in rand["cors"]:
        for row in rows:
            if row["group"] == c["group"] and row["term"] == c["term2"] and row["corr"] is None:
                row["corr"] = c["r"]
    rows.append({"group": "Residual", "term": "", "variance": rand["residual_variance"], "sd": rand["sigma"],
                 "corr": None})
    return pd.DataFrame(rows)


def comparison_values(m0_ml: LmerResult, m1_ml: LmerResult) -> tuple[dict[str, Any], pd.DataFrame]:
    """Likelihood-ratio test of two ML fits with :func:`lmmflow.anova`; ΔAIC/ΔBIC = compare - main."""
    from .. import anova

    tab = pd.DataFrame(anova(m0_ml, m1_ml))
    last = tab.iloc[-1]
    first = tab.iloc[0]
    lrt = {"chisq": float(last["chisq"]), "df": float(last["df"]), "p_value": float(last["p_value"]),
           "aic0": float(first["aic"]), "aic1": float(last["aic"]), "bic0": float(first["bic"]),
           "bic1": float(last["bic"]), "loglik0": float(first["loglik"]), "loglik1": float(last["loglik"]),
           "npar0": int(first["npar"]), "npar1": int(last["npar"])}
    if "p_boundary" in tab.columns and pd.notna(last["p_boundary"]):
        lrt["p_boundary"] = float(last["p_boundary"])
    lrt["delta_aic"] = lrt["aic0"] - lrt["aic1"]
    lrt["delta_bic"] = lrt["bic0"] - lrt["bic1"]
    return lrt, tab


def blup_table(m: LmerResult, unit: str) -> pd.DataFrame:
    """Per-unit BLUPs (conditional modes), their conditional SDs and the unit-level coefficients."""
    group = unit if unit in m.ranef else next(iter(m.ranef))
    re_, sd, co = m.ranef[group], m.ranef_sd[group], m.coef[group]
    out = pd.DataFrame(index=re_.index)
    for c in re_.columns:
        out[f"blup_{c}"] = re_[c].to_numpy()
        out[f"cond_sd_{c}"] = sd[c].to_numpy()
    for c in co.columns:
        out[f"coef_{c}"] = co[c].to_numpy()
    out.index.name = group
    return out.reset_index()


def slope_test(values: dict[str, Any], m1: LmerResult, slope_var: str | None) -> dict[str, Any]:
    """Whether the data support variation of the random slope: the LRT of the random-slope model against the
    random-intercept model, p < 1 - level.

    Returns
    -------
    dict
        ``has_slope`` (the main model has a random slope on ``slope_var``), ``tested`` (an LRT of exactly that
        slope was run), ``p_value``, ``supported`` (tested and significant) and ``why`` (a clause for the text).

    Examples
    --------
    >>> slope_test({"lrt": None, "main_label": "main model", "level": 0.95}, None, None)["has_slope"]
    False
    """
    has = m1 is not None and slope_var is not None and _has_random_slope(m1, slope_var)
    out: dict[str, Any] = {"has_slope": bool(has), "tested": False, "p_value": None, "supported": False, "why": ""}
    if not has:
        return out
    lrt = values.get("lrt")
    alpha = 1 - values.get("level", 0.95)
    if lrt and values.get("main_label") == "random-slope model":
        p = lrt.get("p_value")
        out.update(tested=True, p_value=p, supported=bool(p is not None and p < alpha))
        if not out["supported"]:
            from .summary_text import fmt_p

            out["why"] = (f"the likelihood-ratio test of the random slope of {slope_var} was not significant "
                          f"({fmt_p(p)})" if p is not None else "the likelihood-ratio test failed")
    else:
        out["why"] = (f"the random slope of {slope_var} was not tested against a random-intercept model "
                      "(no comparison model)")
    return out


def _optional(notes: list[str], what: str, fn: Any) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # singular fits are reported once, in the text
            return fn()
    except (ImportError, AttributeError, ValueError, np.linalg.LinAlgError) as exc:
        notes.append(f"{what} not computed: {exc}")
        return None


def _r2(m: LmerResult) -> dict[str, float]:
    from .. import r2

    out = r2(m)
    return {"marginal": float(out["marginal"]), "conditional": float(out["conditional"])}


def _icc(m: LmerResult) -> dict[str, float]:
    from .. import icc

    out = icc(m)
    return {"adjusted": float(out["adjusted"]), "unadjusted": float(out["unadjusted"])}


def _share(m: LmerResult, time: str) -> dict[str, float]:
    from ..derived import share_positive_slopes

    s = share_positive_slopes(m, term=time)
    return {k: float(v) for k, v in s.items()}


def _intercept_only(m: LmerResult) -> bool:
    return all(list(t.cnames) == ["(Intercept)"] for t in m.design.terms)


def _has_random_slope(m: LmerResult, time: str) -> bool:
    return any(time in t.cnames for t in m.design.terms)


def model_labels(m1: LmerResult, m0: LmerResult | None, time: str | None, unit: str) -> tuple[str, str]:
    """Names for the two models in the text: "random-slope model" / "random-intercept model" when they are."""
    if m0 is not None and time is not None and _intercept_only(m0) and _has_random_slope(m1, time) \
            and list(m0.fixef.index) == list(m1.fixef.index):
        return "random-slope model", "random-intercept model"
    return "main model", "comparison model"


def fit_indices_table(values: dict[str, Any]) -> pd.DataFrame:
    """R², ICC and share of positive slopes as a two-column table (quantity, value)."""
    rows = []
    if values.get("r2"):
        rows += [("marginal R²", values["r2"]["marginal"]), ("conditional R²", values["r2"]["conditional"])]
    if values.get("icc"):
        src = "random-intercept model" if values["icc"]["model"] == "compare" else "main model"
        rows += [(f"ICC, adjusted ({src})", values["icc"]["adjusted"]),
                 (f"ICC, unadjusted ({src})", values["icc"]["unadjusted"])]
    if values.get("share_positive"):
        rows += [("share of positive slopes (distribution)", values["share_positive"]["from_distribution"]),
                 ("share of positive slopes (BLUPs)", values["share_positive"]["from_blups"])]
    return pd.DataFrame(rows, columns=["quantity", "value"])
