"""The written results: an APA-style paragraph built from a dictionary of the model's numbers.

Every number in the text comes from ``values`` (see :func:`lmmflow.reporting.workflow.collect_values`), so a test
can compare the dictionary with a direct fit and parse the numbers back out of the text.  Formatting follows
APA conventions: two decimals for estimates, no leading zero for quantities bounded by one (p, r, R², ICC),
``p < .001`` below a thousandth.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "fmt_count",
    "fmt_num",
    "fmt_p",
    "p_cell",
    "fmt_unit",
    "keep_together",
    "markdown_table",
    "results_paragraphs",
    "summary_markdown",
    "summary_text",
    "wrap",
]


# ---- number formatting -----------------------------------------------------------------------------------
def fmt_num(x: float | None, digits: int = 2) -> str:
    """An estimate with ``digits`` decimals (three significant digits for tiny non-zero values).

    Parameters
    ----------
    x : float or None
    digits : int

    Returns
    -------
    str
        ``"NA"`` for missing values; ASCII minus sign.

    Examples
    --------
    >>> fmt_num(50.2714), fmt_num(-0.18), fmt_num(0.000123), fmt_num(1234.56)
    ('50.27', '-0.18', '0.000123', '1234.56')
    """
    if x is None or not math.isfinite(float(x)):
        return "NA"
    x = float(x)
    if x != 0 and abs(x) < 0.5 * 10 ** (-digits):
        return f"{x:.3g}"
    out = f"{x:.{digits}f}"
    return "0." + "0" * digits if out == "-0." + "0" * digits else out


def fmt_unit(x: float | None, digits: int = 2) -> str:
    """A quantity bounded by one (correlation, R², ICC) without the leading zero, as APA asks.

    Examples
    --------
    >>> fmt_unit(0.8012), fmt_unit(-0.183), fmt_unit(1.0)
    ('.80', '-.18', '1.00')
    """
    s = fmt_num(x, digits)
    if s.startswith("0."):
        return s[1:]
    if s.startswith("-0."):
        return "-" + s[2:]
    return s


def fmt_p(p: float | None) -> str:
    """A p-value in APA form, with its relation sign: ``"p = .023"``, ``"p < .001"``.

    Examples
    --------
    >>> fmt_p(0.00123), fmt_p(0.0004), fmt_p(0.5), fmt_p(0.99991)
    ('p = .001', 'p < .001', 'p = .500', 'p > .999')
    """
    if p is None or not math.isfinite(float(p)):
        return "p = NA"
    if p < 0.001:
        return "p < .001"
    if p > 0.999:
        return "p > .999"
    return "p = " + f"{p:.3f}"[1:]


def p_cell(p: float | None) -> str:
    """A p-value for a table cell: ``".023"``, ``"< .001"``, ``"> .999"``.

    Examples
    --------
    >>> p_cell(0.0234), p_cell(1e-9)
    ('.023', '< .001')
    """
    s = fmt_p(p)
    return s[4:] if s.startswith("p = ") else s[2:]


def fmt_count(n: int) -> str:
    """A count with a thousands separator: ``fmt_count(1000) == "1,000"``."""
    return f"{int(n):,}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%" if 0.001 < x < 0.999 or x in (0.0, 1.0) else f"{100 * x:.2f}%"


# ---- the paragraphs -------------------------------------------------------------------------------------
def _kind(v: Mapping[str, Any]) -> str:
    des = v.get("design") or {}
    return des.get("kind") or ("waves" if v.get("time") else "grouped")


def _longitudinal(v: Mapping[str, Any]) -> bool:
    return _kind(v) in ("waves", "times") and bool(v.get("time"))


def _per_unit(d: Mapping[str, Any], word: str) -> str:
    if d["waves_min"] == d["waves_max"]:
        return f"{d['waves_min']} {word} each"
    return f"{d['waves_min']} to {d['waves_max']} {word}, median {fmt_num(d['waves_median'], 0)}"


def _design_sentence(v: Mapping[str, Any]) -> str:
    d, kind = v["data"], _kind(v)
    obs = f"We fitted a linear mixed model to {fmt_count(d['n_obs'])} observations of {v['response']}"
    if kind == "waves":
        s = f"{obs} from {fmt_count(d['n_units'])} units ({v['unit']}; {_per_unit(d, 'waves')})"
        s += f", with {v['time']} as the time variable"
    elif kind == "times":
        n_times = d.get("n_times")
        s = (f"{obs} from {fmt_count(d['n_units'])} units ({v['unit']}; {_per_unit(d, 'observations')}) measured "
             f"at unit-specific values of {v['time']}" + (f" ({fmt_count(n_times)} distinct values)" if n_times else "")
             + f", with {v['time']} as the time variable")
    else:
        des = v.get("design") or {}
        groups = des.get("groups") or {v["unit"]: d["n_units"]}
        if kind == "crossed" and len(groups) > 1:
            parts = [f"{fmt_count(n)} levels of {g}" for g, n in groups.items()]
            s = f"{obs}, grouped by {_join(parts)} (crossed: each observation belongs to one level of each)"
        else:
            s = f"{obs} in {fmt_count(d['n_units'])} groups ({v['unit']}; {_per_unit(d, 'observations')})"
            others = [g for g in groups if g != v["unit"]]
            if others:
                s += f" and {_join([f'{fmt_count(groups[g])} levels of {g}' for g in others])}"
        preds = des.get("predictors") or []
        if preds:
            s += f", with {_join(list(preds))} as predictor{'s' if len(preds) > 1 else ''}"
    s += f". The model, {v['formula']}, was estimated by {'REML' if v['reml'] else 'maximum likelihood'}"
    ddf = v.get("ddf", "none")
    if ddf and ddf != "none":
        name = {"satterthwaite": "Satterthwaite's", "kenward-roger": "Kenward-Roger's",
                "residual": "residual"}.get(ddf, ddf)
        s += f"; tests of fixed effects and their confidence intervals use {name} degrees of freedom"
    s += "."
    return s + " " + _missing_sentence(v)


def _missing_sentence(v: Mapping[str, Any]) -> str:
    d = v["data"]
    miss = d.get("missing") or {}
    cols = ", ".join(miss)
    dropped = int(d.get("n_dropped") or 0)
    if not any(miss.values()):
        s = f"No values were missing in the columns used ({cols})"
    else:
        counts = "; ".join(f"{c} {fmt_count(n)}" for c, n in miss.items())
        s = f"Missing values per column used: {counts}"
    if dropped:
        rows = "rows with a missing value were" if dropped != 1 else "row with a missing value was"
        s += f"; {fmt_count(dropped)} {rows} left out"
    elif any(miss.values()):
        s += "; no row was left out"
    return s + "."


def _criteria_phrase(delta_aic: float, delta_bic: float, main: str, comp: str) -> str:
    # deltas are criterion(compare) - criterion(main): positive means the main model has the lower value
    if delta_aic > 0 and delta_bic > 0:
        return f"both AIC and BIC were lower for the {main}"
    if delta_aic <= 0 and delta_bic <= 0:
        return f"both AIC and BIC were lower for the {comp}"
    if delta_aic > 0:
        return (f"AIC was lower for the {main} but BIC, which penalises extra parameters more, was lower for "
                f"the {comp}")
    return f"AIC was lower for the {comp} but BIC was lower for the {main}"


def _comparison_sentence(v: Mapping[str, Any]) -> str | None:
    lrt = v.get("lrt")
    if not lrt:
        return None
    main, comp = v["main_label"], v["compare_label"]
    stat = f"χ²({lrt['df']:g}) = {fmt_num(lrt['chisq'])}, {fmt_p(lrt['p_value'])}"
    deltas = f"ΔAIC = {fmt_num(lrt['delta_aic'], 1)}, ΔBIC = {fmt_num(lrt['delta_bic'], 1)}"
    alpha = 1 - v.get("level", 0.95)
    verb = "favoured" if lrt["p_value"] < alpha else "did not favour"
    return (f"A likelihood-ratio test of maximum-likelihood refits {verb} the {main} over the {comp}, {stat}, "
            f"{deltas}; {_criteria_phrase(lrt['delta_aic'], lrt['delta_bic'], main, comp)}.")


def _fixed_sentences(v: Mapping[str, Any]) -> list[str]:
    level = f"{round(100 * v.get('level', 0.95))}% CI"
    fixed = {row["term"]: row for row in v["fixed"]}

    def detail(row: Mapping[str, Any], with_test: bool = True) -> str:
        s = f"SE = {fmt_num(row['std_error'])}, {level} [{fmt_num(row['conf_low'])}, {fmt_num(row['conf_high'])}]"
        if with_test and row.get("p_value") is not None and math.isfinite(row.get("p_value", math.nan)):
            df = row.get("df")
            t = fmt_num(row["t_value"])
            stat = f"t({fmt_num(df, 1)}) = {t}" if df is not None and math.isfinite(df) else f"z = {t}"
            s += f", {stat}, {fmt_p(row['p_value'])}"
        return s

    out = []
    icpt, slope = v.get("intercept_term"), v.get("slope_term")
    others = len(fixed) > 2 or v.get("time_interactions")
    if _longitudinal(v) and icpt in fixed and slope in fixed and slope == v.get("time"):
        where = f"{v['time']} = 0" + (", other predictors at zero or their reference level" if others else "")
        a, b = fixed[icpt], fixed[slope]
        direction = "increased" if b["estimate"] >= 0 else "decreased"
        out.append(f"The average initial level ({where}) was {fmt_num(a['estimate'])} ({detail(a)}) and "
                   f"{direction} by {fmt_num(abs(b['estimate']))} points per unit of {v['time']}"
                   f"{' at that reference' if v.get('time_interactions') else ''} "
                   f"(b = {fmt_num(b['estimate'])}, {detail(b)}).")
        done = {icpt, slope}
    elif icpt in fixed:
        a = fixed[icpt]
        what = ("level at the reference point" if _longitudinal(v) or len(fixed) == 1
                else f"{v['response']} with every predictor at zero (or its reference level)")
        out.append(f"The average {what} was {fmt_num(a['estimate'])} ({detail(a)}).")
        done = {icpt}
    else:
        done = set()
    for term, row in fixed.items():
        if term not in done:
            out.append(f"The fixed effect of {term} was b = {fmt_num(row['estimate'])} ({detail(row)}).")
    return out


def _random_sentences(v: Mapping[str, Any]) -> list[str]:
    out = []
    icpt, slope_var, unit = v.get("intercept_term"), v.get("slope_var") or v.get("slope_term"), v["unit"]
    longi = _longitudinal(v)
    test = v.get("slope_test") or {}
    unsupported = bool(test.get("has_slope")) and not test.get("supported")
    sigma = v["random"]["sigma"]
    zero_tol = 1e-4 * sigma
    singular_words = []
    for group, comps in _by_group(v["random"]["sds"]).items():
        parts = []
        for c in comps:
            if c["sd"] <= zero_tol:
                singular_words.append(f"the variance of the {_term_name(c['term'], v)} across {group} was estimated "
                                      "at zero, on the boundary of its range (a singular fit), so it is not "
                                      "interpreted")
                continue
            if c["term"] == slope_var and group == unit and unsupported:
                continue
            if c["term"] == "(Intercept)" and (group != unit or not longi):
                parts.append(f"in their average level (SD = {fmt_num(c['sd'])})")
            elif c["term"] == icpt:
                parts.append(f"in their initial level (SD = {fmt_num(c['sd'])})")
            elif c["term"] == slope_var and longi:
                parts.append(f"in their rate of change (SD = {fmt_num(c['sd'])} per unit of {v['time']})")
            elif c["term"] == slope_var:
                parts.append(f"in the effect of {c['term']} (SD = {fmt_num(c['sd'])} per unit of {c['term']})")
            else:
                parts.append(f"in the effect of {c['term']} (SD = {fmt_num(c['sd'])})")
        if parts:
            who = "Units" if group == unit and longi else f"Levels of {group}"
            out.append(f"{who} differed {_join(parts)}.")
    for w in singular_words:
        out.append(w[0].upper() + w[1:] + ".")
    if unsupported:
        sd = next((c["sd"] for c in v["random"]["sds"] if c["term"] == slope_var and c["group"] == unit), None)
        if sd is not None and sd > zero_tol:
            why = test.get("why") or "it was not tested"
            what = "rate of change" if longi else f"effect of {slope_var}"
            out.append(f"The data do not support variation between {unit} in the {what}: {why}; its estimated SD "
                       f"({fmt_num(sd)}), its correlation and the share of positive slopes are therefore not "
                       "interpreted.")
    for c in v["random"]["cors"]:
        r = c["r"]
        pair = {c["term1"], c["term2"]}
        names = f"the random {_term_name(c['term1'], v)} and {_term_name(c['term2'], v)}"
        if math.isfinite(r) and abs(r) >= 1 - 1e-4:
            out.append(f"The correlation between {names} was estimated at r = {fmt_unit(r)}, on the boundary "
                       "(a singular fit): it says the model cannot separate these effects, not that they are "
                       "perfectly related, and is not interpreted.")
            continue
        if unsupported and slope_var in pair and c["group"] == unit:
            continue
        s = f"The correlation between {names} was r = {fmt_unit(r)}"
        if pair == {icpt, slope_var} and math.isfinite(r):
            if abs(r) < 0.1:
                s += (", close to zero: the starting level said little about the rate of change" if longi
                      else f", close to zero: the average level said little about the effect of {slope_var}")
            elif longi:
                s += (", so units that started higher tended to change " + ("more slowly" if r < 0 else "faster")
                      + " than units that started lower")
            else:
                s += (f", so levels of {c['group']} with a higher intercept tended to have a "
                      + ("smaller" if r < 0 else "larger") + f" effect of {slope_var}")
        out.append(s + ".")
    out.append(f"The residual SD was {fmt_num(sigma)}.")
    share = v.get("share_positive")
    if share:
        who = "units" if longi else f"levels of {unit}"
        what = "a positive slope" if longi else f"a positive effect of {slope_var}"
        s = (f"Given the mean slope and its SD, an estimated {_pct(share['from_distribution'])} of {who} have "
             f"{what}; {_pct(share['from_blups'])} of the {fmt_count(v['data']['n_units'])} "
             f"{'unit' if longi else unit}-level (BLUP) slopes were positive")
        if abs(share["from_blups"] - share["from_distribution"]) > 0.01:
            s += " (BLUPs are shrunk toward the mean slope, which pulls this share toward 0 or 1)"
        out.append(s + ".")
    return out


def _term_name(term: str, v: Mapping[str, Any]) -> str:
    if term == v.get("intercept_term"):
        return "intercepts"
    if term == (v.get("slope_var") or v.get("slope_term")):
        return "slopes" if _longitudinal(v) else f"slopes of {term}"
    return f"effects of {term}"


def _by_group(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["group"], []).append(r)
    return out


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _variance_sentences(v: Mapping[str, Any]) -> list[str]:
    out = []
    r2 = v.get("r2")
    if r2:
        out.append(f"The fixed effects explained {_pct(r2['marginal'])} of the variance (marginal R² = "
                   f"{fmt_unit(r2['marginal'])}); fixed and random effects together explained "
                   f"{_pct(r2['conditional'])} (conditional R² = {fmt_unit(r2['conditional'])}).")
    icc = v.get("icc")
    if icc:
        where = "In the random-intercept model" if icc.get("model") == "compare" else "In the model"
        groups = list((v.get("design") or {}).get("groups") or {v["unit"]: 0})
        between = ("units" if _longitudinal(v) and len(groups) <= 1 else f"levels of {v['unit']}" if len(groups) <= 1
                   else f"the levels of {_join(groups)} together")
        out.append(f"{where}, {_pct(icc['adjusted'])} of the variance not explained by the fixed effects lay "
                   f"between {between} (ICC = {fmt_unit(icc['adjusted'])}).")
    return out


def _problem_sentences(v: Mapping[str, Any]) -> list[str]:
    out = []
    if v.get("singular"):
        parts = v.get("singular_parts") or []
        which = f" ({_join(parts)})" if parts else ""
        out.append(f"The fit was singular: a variance was estimated at (or near) zero or a correlation at ±1{which}, "
                   "so the random-effects structure is more complex than these data support; consider dropping that "
                   + ("component, rescaling or centring time, or collecting more waves." if _longitudinal(v)
                      else "component, rescaling the predictors, or collecting more groups."))
    if v.get("compare_singular"):
        out.append("The comparison model's fit was singular.")
    if not v.get("converged", True):
        msg = "; ".join(v.get("messages") or []) or "no details"
        out.append(f"The optimizer reported a convergence problem ({msg}); treat the estimates with caution.")
    if not out:
        out.append("The fit converged and was not singular.")
    return out


def results_paragraphs(values: Mapping[str, Any]) -> list[str]:
    """The written summary as a list of paragraphs (plain text, one string each).

    Parameters
    ----------
    values : mapping
        The report's numbers (``Report.values``): ``data``, ``formula``, ``lrt``, ``fixed``, ``random``,
        ``r2``, ``icc``, ``share_positive``, ``singular``, ``converged`` ...

    Returns
    -------
    list of str
        Design; model comparison and fixed effects; random effects; variance explained and fit notes.

    Examples
    --------
    >>> import lmmflow as lf
    >>> rep = lf.report(lf.simulate_growth(n_units=40, seed=1), "y ~ time + (1 + time | id)")  # doctest: +SKIP
    >>> results_paragraphs(rep.values)[1].startswith("A likelihood-ratio test")  # doctest: +SKIP
    True
    """
    first = [_design_sentence(values)]
    second = [s for s in [_comparison_sentence(values)] if s] + _fixed_sentences(values)
    third = _random_sentences(values)
    fourth = _variance_sentences(values) + _problem_sentences(values)
    return [" ".join(p) for p in (first, second, third, fourth) if p]


def summary_text(values: Mapping[str, Any], width: int = 100, model_summary: str | None = None) -> str:
    """The plain-text summary (``summary.txt``): title, the wrapped paragraphs and, optionally, lme4's printout.

    Parameters
    ----------
    values : mapping
        The report's numbers.
    width : int
        Line width for wrapping.
    model_summary : str, optional
        ``str(m.summary())`` of the main model, appended under a heading.

    Returns
    -------
    str

    Examples
    --------
    >>> text = summary_text(rep.values)  # doctest: +SKIP
    """
    title = values.get("title", "Results")
    lines = [title, "=" * len(title), ""]
    for p in results_paragraphs(values):
        lines += wrap(p, width) + [""]
    if model_summary:
        lines += ["Model summary", "-------------", model_summary.rstrip(), ""]
    return "\n".join(lines)


def keep_together(text: str, glue: str = "\u00a0") -> str:
    """Join the pieces of statistics (``p < .001``, ``SE = 0.70``, ``95% CI [1.2, 3.4]``) with ``glue``.

    With the default no-break space a browser or word processor will not split them across lines.

    Examples
    --------
    >>> keep_together("p < .001", "~")
    'p~<~.001'
    """
    keep = re.sub(r" ([=<>]) ", glue + "\\1" + glue, text)
    keep = re.sub(r"(CI) \[", "\\1" + glue + "[", keep)
    keep = re.sub(r"(\d+%) CI", "\\1" + glue + "CI", keep)
    return re.sub(r"\[([^\]]*), ([^\]]*)\]", "[\\1," + glue + "\\2]", keep)


def wrap(paragraph: str, width: int = 100) -> list[str]:
    """Wrap a paragraph without breaking inside ``p < .001``, ``SE = 0.70`` or ``95% CI [1.2, 3.4]``.

    Examples
    --------
    >>> wrap("a b p < .001", width=6)
    ['a b', 'p < .001']
    """
    keep = keep_together(paragraph, "\x00")
    lines = textwrap.wrap(keep, width=width, break_on_hyphens=False, break_long_words=False)
    return [line.replace("\x00", " ") for line in lines]


def markdown_table(rows: Sequence[Mapping[str, Any]] | Any, columns: Sequence[str] | None = None,
                   headers: Mapping[str, str] | None = None, digits: int = 2,
                   formatters: Mapping[str, Any] | None = None) -> str:
    """A GitHub-flavoured Markdown table from records or a DataFrame (numbers with ``digits`` decimals).

    Parameters
    ----------
    rows : DataFrame or sequence of dicts
    columns : sequence of str, optional
    headers : mapping, optional
        Column -> header text.
    digits : int
    formatters : mapping, optional
        Column -> function(value) -> str, used for non-missing values.

    Examples
    --------
    >>> print(markdown_table([{"a": 1, "b": 2.345}]))
    | a | b |
    | ---: | ---: |
    | 1 | 2.35 |
    """
    if hasattr(rows, "to_dict"):
        rows = rows.to_dict("records")
    rows = list(rows)
    columns = list(columns or (rows[0].keys() if rows else []))
    headers = dict(headers or {})
    formatters = dict(formatters or {})

    def is_num(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) or type(x).__name__.startswith(("int", "float"))

    def cell(c: str, x: Any) -> str:
        if x is None or (is_num(x) and not isinstance(x, int) and math.isnan(float(x))):
            return ""
        if c in formatters:
            return str(formatters[c](x))
        if isinstance(x, bool):
            return str(x)
        if isinstance(x, int) or type(x).__name__.startswith("int"):
            return str(x)
        if is_num(x):
            return fmt_num(float(x), digits)
        return str(x).replace("|", "\\|")

    numeric = [all(is_num(r.get(c)) or r.get(c) is None for r in rows) for c in columns]
    out = ["| " + " | ".join(headers.get(c, str(c)) for c in columns) + " |",
           "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"]
    out += ["| " + " | ".join(cell(c, r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(out)


P_FORMAT = {"p_value": p_cell, "p_boundary": p_cell, "df": lambda x: fmt_num(x, 1), "corr": fmt_unit}
HEADERS = {"std_error": "SE", "t_value": "t", "p_value": "p", "conf_low": "CI low", "conf_high": "CI high",
           "chisq": "χ²", "aic": "AIC", "bic": "BIC", "loglik": "logLik", "sd": "SD",
           "p_boundary": "p (boundary)"}


def summary_markdown(values: Mapping[str, Any], tables: Mapping[str, Any] | None = None,
                     figures: Mapping[str, str] | None = None) -> str:
    """The Markdown summary (``summary.md``): paragraphs, the key tables and links to the figure files.

    Parameters
    ----------
    values : mapping
        The report's numbers.
    tables : mapping of str to DataFrame, optional
        ``comparison``, ``fixed_effects``, ``random_effects`` are shown when present.
    figures : mapping of str to str, optional
        Figure name -> relative file name (PNG next to the Markdown file).

    Returns
    -------
    str
    """
    out = [f"# {values.get('title', 'Results')}", ""]
    for p in results_paragraphs(values):
        out += [p, ""]
    tables = tables or {}
    captions = {"comparison": "Model comparison (ML refits)", "fixed_effects": "Fixed effects",
                "random_effects": "Random effects (REML)", "fit_indices": "Variance explained"}
    for key, caption in captions.items():
        t = tables.get(key)
        if t is not None and len(t):
            frame = t.reset_index() if key == "comparison" else t
            fmts = dict(P_FORMAT, npar=lambda x: f"{int(x)}", df=(lambda x: f"{x:g}") if key == "comparison"
                        else P_FORMAT["df"])
            out += [f"## {caption}", "", markdown_table(frame, headers=HEADERS, formatters=fmts,
                                                        digits=3 if key == "fit_indices" else 2), ""]
    if figures:
        out += ["## Figures", ""]
        out += [f"![{name}]({path})" for name, path in figures.items()]
        out.append("")
    return "\n".join(out)
