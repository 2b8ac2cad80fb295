"""The written summary of a GLMM report: APA-style sentences with odds or rate ratios and Wald intervals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .summary_text import (
    _criteria_phrase,
    _join,
    _missing_sentence,
    _per_unit,
    fmt_count,
    fmt_num,
    fmt_p,
    markdown_table,
    wrap,
)

__all__ = ["glmm_paragraphs", "glmm_summary_markdown", "glmm_summary_text"]

FAMILY_WORDS = {"binomial": "binary (binomial)", "poisson": "count (Poisson)"}
SCALE_WORDS = {"logit": "log-odds (logit)", "probit": "probit", "cloglog": "complementary log-log", "log": "log"}


def _method(v: Mapping[str, Any]) -> str:
    n = int(v.get("nagq", 1))
    if n == 0:
        return "the Laplace approximation with the fixed effects estimated with the random effects (nAGQ = 0)"
    if n == 1:
        return "maximum likelihood (Laplace approximation)"
    return f"maximum likelihood (adaptive Gauss-Hermite quadrature, {n} points)"


def _design_sentence(v: Mapping[str, Any]) -> str:
    d = v["data"]
    kind = (v.get("design") or {}).get("kind", "waves" if v.get("time") else "grouped")
    what = FAMILY_WORDS.get(v["family"], v["family"])
    obs = (f"We fitted a generalized linear mixed model for a {what} outcome with a {v['link']} link to "
           f"{fmt_count(d['n_obs'])} observations of {v['response']}")
    if kind in ("waves", "times") and v.get("time"):
        s = f"{obs} from {fmt_count(d['n_units'])} units ({v['unit']}; {_per_unit(d, 'observations')})"
        s += f", with {v['time']} as the time variable"
    else:
        s = f"{obs} in {fmt_count(d['n_units'])} groups ({v['unit']}; {_per_unit(d, 'observations')})"
    s += (f". The model, {v['formula']}, was estimated by {_method(v)}; fixed effects are tested with Wald z "
          "tests and their confidence intervals are Wald intervals (estimate ± z·SE)")
    ratio = v.get("ratio")
    if ratio:
        s += f", reported as {ratio[0]}s ({ratio[1]}, the exponentiated coefficients)"
    return s + ". " + _missing_sentence(v)


def _comparison_sentence(v: Mapping[str, Any]) -> str | None:
    lrt = v.get("lrt")
    if not lrt:
        return None
    main, comp = v.get("main_label", "main model"), v.get("compare_label", "comparison model")
    stat = f"χ²({lrt['df']:g}) = {fmt_num(lrt['chisq'])}, {fmt_p(lrt['p_value'])}"
    deltas = f"ΔAIC = {fmt_num(lrt['delta_aic'], 1)}, ΔBIC = {fmt_num(lrt['delta_bic'], 1)}"
    verb = "favoured" if lrt["p_value"] < 1 - v.get("level", 0.95) else "did not favour"
    return (f"A likelihood-ratio test {verb} the {main} over the {comp}, {stat}, {deltas}; "
            f"{_criteria_phrase(lrt['delta_aic'], lrt['delta_bic'], main, comp)}.")


def _ratio_phrase(row: Mapping[str, Any], v: Mapping[str, Any]) -> str:
    lvl = f"{round(100 * v.get('level', 0.95))}% CI"
    ratio = v.get("ratio")
    if ratio:
        col, short = ratio[0].replace(" ", "_"), ratio[1].lower()
        return (f"{ratio[1]} = {fmt_num(row[col])}, {lvl} [{fmt_num(row[f'{short}_lower'])}, "
                f"{fmt_num(row[f'{short}_upper'])}], b = {fmt_num(row['estimate'])}, z = {fmt_num(row['z'])}, "
                f"{fmt_p(row['p'])}")
    return (f"b = {fmt_num(row['estimate'])} on the {SCALE_WORDS.get(v['link'], v['link'])} scale, {lvl} "
            f"[{fmt_num(row['ci_lower'])}, {fmt_num(row['ci_upper'])}], z = {fmt_num(row['z'])}, {fmt_p(row['p'])}")


def _fixed_sentences(v: Mapping[str, Any]) -> list[str]:
    import math

    out = []
    alpha = 1 - v.get("level", 0.95)
    rows = {r["term"]: r for r in v["fixed"]}
    icpt = rows.get("(Intercept)")
    if icpt is not None:
        eta = icpt["estimate"]
        if v["family"] == "binomial":
            p = {"logit": lambda e: 1 / (1 + math.exp(-e)),
                 "probit": lambda e: 0.5 * math.erfc(-e / math.sqrt(2)),
                 "cloglog": lambda e: -math.expm1(-math.exp(e))}.get(v["link"], lambda e: float("nan"))(eta)
            what = f"a probability of {fmt_num(p)}"
            if v["link"] == "logit":
                what += f" (odds {fmt_num(math.exp(eta))})"
        else:
            what = f"an expected count of {fmt_num(math.exp(eta))}"
        out.append(f"For a typical unit (random effects at zero) with every predictor at zero or its reference "
                   f"level, the model gives {what}.")
    effects = []
    for term, row in rows.items():
        if term == "(Intercept)":
            continue
        sig = "" if row["p"] < alpha else " (not significant)"
        effects.append(f"{term}: {_ratio_phrase(row, v)}{sig}")
    if effects:
        ratio = v.get("ratio")
        lead = (f"The {ratio[0]}s (per unit of a predictor, or a level against the reference level) were"
                if ratio else "The fixed effects on the link scale were")
        out.append(f"{lead}: " + "; ".join(effects) + ".")
    return out


def _random_sentences(v: Mapping[str, Any]) -> list[str]:
    rand = v["random"]
    scale = SCALE_WORDS.get(v["link"], v["link"])
    parts = [f"{fmt_num(s['sd'])} for {s['term']} | {s['group']}" for s in rand["sds"]]
    out = []
    if parts:
        out.append(f"The random-effect standard deviations, on the {scale} scale, were {_join(parts)}.")
    for c in rand["cors"]:
        if abs(c["r"]) >= 1 - 1e-4:
            continue  # singular: named in the last paragraph, not interpreted
        out.append(f"The correlation of {c['term1']} and {c['term2']} across {c['group']} was {fmt_num(c['r'])}.")
    if v["family"] == "binomial" and v["link"] == "logit" and rand["sds"]:
        s = next((s for s in rand["sds"] if s["term"] == "(Intercept)"), None)
        if s is not None:
            import math

            mor = math.exp(math.sqrt(2) * s["sd"] * 0.6744897501960817)
            out.append(f"The median odds ratio between two random units of {s['group']} is {fmt_num(mor)}.")
    return out


def _fit_sentences(v: Mapping[str, Any]) -> list[str]:
    out = []
    if v.get("r2"):
        out.append(f"Marginal R² = {fmt_num(v['r2']['marginal'])}, conditional R² = "
                   f"{fmt_num(v['r2']['conditional'])} (Nakagawa's, on the latent scale).")
    if v.get("icc"):
        out.append(f"ICC (adjusted) = {fmt_num(v['icc']['adjusted'])}.")
    b = v.get("binned")
    if b and b["n_bins"]:
        out.append(f"Of {b['n_bins']} bins of binned residuals, {b['inside']} "
                   f"({round(100 * b['share_inside'])}%) lay inside their 95% band (about 95% expected for a "
                   "well-calibrated model; the fitted values include the random effects, as in "
                   "performance::binned_residuals).")
    if v.get("singular"):
        parts = v.get("singular_parts") or []
        out.append("The fit is singular (a variance at zero or a correlation at ±1"
                   + (f": {_join(parts)}" if parts else "") + "); those components are not interpreted.")
    if not v.get("converged", True):
        out.append("The optimizer reported a convergence problem: " + "; ".join(v.get("messages") or []) + ".")
    return out


def glmm_paragraphs(values: Mapping[str, Any]) -> list[str]:
    """The GLMM report's written summary, one string per paragraph.

    Parameters
    ----------
    values : mapping
        ``GlmmReport.values``.

    Returns
    -------
    list of str

    Examples
    --------
    >>> import lmmflow as lf
    >>> d = lf.simulate_growth(n_units=60, seed=2)
    >>> d["high"] = (d["y"] > 52).astype(int)
    >>> rep = lf.report(d, "high ~ time + (1 | id)", family="binomial", figures=False)
    >>> "odds ratios" in glmm_paragraphs(rep.values)[0]
    True
    """
    first = [_design_sentence(values)]
    second = [s for s in [_comparison_sentence(values)] if s] + _fixed_sentences(values)
    third = _random_sentences(values)
    fourth = _fit_sentences(values)
    return [" ".join(p) for p in (first, second, third, fourth) if p]


def glmm_summary_text(values: Mapping[str, Any], width: int = 100, model_summary: str | None = None) -> str:
    """``summary.txt`` of a GLMM report: title, wrapped paragraphs and the glmer summary."""
    title = values.get("title", "Results")
    lines = [title, "=" * len(title), ""]
    for p in glmm_paragraphs(values):
        lines += wrap(p, width) + [""]
    if model_summary:
        lines += ["Model summary", "-------------", model_summary.rstrip(), ""]
    return "\n".join(lines)


def glmm_summary_markdown(values: Mapping[str, Any], tables: Mapping[str, Any] | None = None,
                          figures: Mapping[str, str] | None = None) -> str:
    """``summary.md`` of a GLMM report: paragraphs, the fixed and random effects tables and figure links."""
    out = [f"# {values.get('title', 'Results')}", ""]
    for p in glmm_paragraphs(values):
        out += [p, ""]
    tables = tables or {}
    captions = {"comparison": "Model comparison (likelihood-ratio test)", "fixed_effects": "Fixed effects (Wald)",
                "random_effects": f"Random effects ({values.get('link')} scale)", "fit_indices": "Variance explained",
                "binned_residuals": "Binned residuals"}
    for key, caption in captions.items():
        t = tables.get(key)
        if t is not None and len(t):
            frame = t.reset_index() if key == "comparison" else t
            out += [f"## {caption}", "", markdown_table(frame, digits=3), ""]
    if figures:
        out += ["## Figures", ""] + [f"![{name}]({path})" for name, path in figures.items()] + [""]
    return "\n".join(out)
