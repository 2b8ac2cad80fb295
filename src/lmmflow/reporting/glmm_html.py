"""The self-contained HTML page of a GLMM report (same layout, CSS and image check as the LMM report)."""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

import pandas as pd

from .html import CSS, JS, _data_section, _download, _figure, _p, _pre, esc, html_table
from .summary_text import fmt_count, fmt_p, keep_together

if TYPE_CHECKING:
    from .glmm_report import GlmmReport

__all__ = ["build_glmm_html", "glmm_reproduce_code"]


def glmm_reproduce_code(values: dict) -> str:
    """Python that reruns the GLMM report.

    Examples
    --------
    >>> v = {"formula": "y ~ time + (1 | id)", "family": "poisson", "link": "log", "nagq": 1}
    >>> print(glmm_reproduce_code(v).splitlines()[3])
    rep = lf.report(data, 'y ~ time + (1 | id)', family='poisson', compare=False, out='report')
    """
    src = values.get("source")
    read = (f"data = lf.read_data({src!r})" if src
            else "data = lf.read_data('data.csv')  # or the DataFrame that was analysed")
    args = [repr(values["formula"]), f"family={values['family']!r}"]
    default_link = {"binomial": "logit", "poisson": "log"}.get(values["family"])
    if values.get("link") and values["link"] != default_link:
        args.append(f"link={values['link']!r}")
    if int(values.get("nagq", 1)) != 1:
        args.append(f"nagq={int(values['nagq'])}")
    args.append(f"compare={values['compare_formula']!r}" if values.get("compare_formula") else "compare=False")
    if values.get("level", 0.95) != 0.95:
        args.append(f"level={values['level']!r}")
    if values.get("time_given") and values.get("slope_var"):
        args.append(f"time={values['slope_var']!r}")
    args.append("out='report'")
    return "\n".join(["import lmmflow as lf", "", read, f"rep = lf.report(data, {', '.join(args)})",
                      "print(rep.text)", "", "g = rep.models['main']", "print(g.summary())"])


def _fixed_html(rep: GlmmReport) -> str:
    v = rep.values
    fixed = rep.tables["fixed_effects"].copy()
    lvl = f"{round(100 * v['level'])}%"
    headers = {"term": "term", "estimate": f"b ({v['link']} scale)", "se": "SE", "z": "z", "p": "p",
               "ci_lower": f"{lvl} CI lower", "ci_upper": f"{lvl} CI upper", "odds_ratio": "odds ratio",
               "or_lower": "OR lower", "or_upper": "OR upper", "rate_ratio": "rate ratio", "rr_lower": "RR lower",
               "rr_upper": "RR upper"}
    out = [html_table(fixed, headers=headers, digits=3, formatters={"p": lambda x: fmt_p(x).replace("p ", "")})]
    if v.get("ratio"):
        out.append(_p(f"{v['ratio'][0].capitalize()}s ({v['ratio'][1]}) are the exponentiated coefficients, "
                      "their intervals the exponentiated Wald intervals.", "muted"))
    return "".join(out)


def _random_html(rep: GlmmReport) -> str:
    v = rep.values
    out = [_p(f"Variances and standard deviations of the random effects on the {v['link']} scale (a GLMM has no "
              "residual variance: the outcome's variance follows from its mean)."),
           html_table(rep.tables["random_effects"], digits=3)]
    fi = rep.tables.get("fit_indices")
    if fi is not None and len(fi):
        out += ["<h3>Variance explained</h3>", html_table(fi, headers={"quantity": "", "value": ""}, digits=3)]
    return "".join(out)


def _comparison_html(rep: GlmmReport) -> str:
    v = rep.values
    if not v.get("lrt"):
        return _p("No comparison model (pass compare= a nested formula).", "muted")
    tab = rep.tables["comparison"].reset_index()
    return (_p(f"{v['compare_label'].capitalize()} ({v['compare_formula']}) against the {v['main_label']} "
               f"({v['formula']}): likelihood-ratio test of the two maximum-likelihood fits.")
            + html_table(tab, digits=2))


def _diagnostics_html(rep: GlmmReport) -> str:
    v = rep.values
    out = []
    if v.get("singular"):
        out.append(_p("Singular fit: " + "; ".join(v.get("singular_parts") or ["a variance component at the "
                                                                             "boundary"]) + ".", "note"))
    if not v.get("converged", True):
        out.append(_p("Convergence: " + "; ".join(v.get("messages") or ["the optimizer did not converge"]) + ".",
                      "note"))
    if not out:
        out.append(_p("The fit converged and is not singular.", "ok"))
    b = v.get("binned") or {}
    if b.get("n_bins"):
        out.append(_p(f"{b['inside']} of {b['n_bins']} bins ({round(100 * b['share_inside'])}%) of binned "
                      "residuals lie inside their 95% band."))
    return "".join(out)


def build_glmm_html(rep: GlmmReport) -> str:
    """The GLMM report as one HTML document (no external references; figures inline as base64 PNG)."""
    from .. import __version__

    v = rep.values
    g = rep.models["main"]
    longi = bool(v.get("time")) and (v.get("design") or {}).get("kind") in ("waves", "times")
    paragraphs = "".join(_p(keep_together(p)) for p in rep.paragraphs)
    models = ""
    if "compare" in rep.models:
        models += (f"<h3>{esc(v['compare_label'].capitalize())}: {esc(v['compare_formula'])}</h3>"
                   + _pre(str(rep.models["compare"].summary())))
    models += f"<h3>{esc(v['main_label'].capitalize())}: {esc(v['formula'])}</h3>" + _pre(str(g.summary()))
    binned = rep.tables.get("binned_residuals", pd.DataFrame())
    sections = [
        ("summary", "Written summary", f'<div class="summary">{paragraphs}</div>'),
        ("data", "1. The data", _data_section(rep)),
        ("look", "2. Observed proportions" if g.family == "binomial" else "2. Observed rates",
         _figure(rep, "observed")),
        ("models", "3. The models", models),
        ("compare", "4. Model comparison", _comparison_html(rep)),
        ("diagnostics", "5. Diagnostics", _diagnostics_html(rep) + _figure(rep, "binned_residuals")
         + (_download(binned, "binned_residuals.csv", "Download the bins (CSV)") if len(binned) else "")
         + _figure(rep, "qq_ranef")),
        ("interpret", "6. Interpretation", "<h3>Fixed effects</h3>" + _fixed_html(rep)
         + "<h3>Random effects</h3>" + _random_html(rep) + _figure(rep, "response_curve")),
        ("blups", "7. Unit-level effects" if longi else "7. Group-level effects",
         _p("Conditional modes of the random effects on the link scale; coef_ columns add the fixed effects.")
         + _download(rep.tables["blups"], "blups.csv", "Download blups.csv")
         + _download(rep.tables["fixed_effects"], "fixed_effects.csv", "Download fixed_effects.csv")
         + html_table(rep.tables["blups"], digits=3, max_rows=10) + _figure(rep, "caterpillar")),
        ("shrinkage", "8. Shrinkage", _figure(rep, "shrinkage")),
        ("code", "9. Reproduce", _pre(glmm_reproduce_code(v))),
    ]
    if rep.notes:
        sections.append(("notes", "Notes", "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in rep.notes) + "</ul>"))
    nav = "\n".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{esc(title)}</h2>{content}</section>' for sid, title, content in sections)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(v['title'])}</title><style>{CSS}</style></head>"
        f"<body data-images-total=\"{len(rep.figure_png)}\" data-images-loaded=\"0\">"
        f"<header><h1>{esc(v['title'])}</h1><div class=\"meta\">{esc(v['formula'])} · {esc(v['family'])} "
        f"({esc(v['link'])}) · {fmt_count(v['data']['n_obs'])} observations · {fmt_count(v['data']['n_units'])} "
        f"{'units' if longi else 'levels of ' + esc(v['unit'])} · lmmflow {esc(__version__)} · {esc(stamp)}</div>"
        f"</header><nav>{nav}</nav><main>{body}</main><script>{JS}</script></body></html>\n"
    )
