"""The self-contained HTML report: one file, CSS inline, figures as base64 PNG ``data:`` URIs, no network.

The page carries a few lines of inline JavaScript that count the images once they have loaded and set
``data-images-loaded`` (and ``data-images-failed``) on ``<body>``; a headless browser test reads them back.
CSV tables are embedded as ``data:`` download links, so the file still works when mailed on its own.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from .summary_text import fmt_count, fmt_num, fmt_p, fmt_unit, keep_together, p_cell

if TYPE_CHECKING:
    from .workflow import Report

__all__ = ["build_html", "html_table"]

CSS = """
:root { --ink: #1f2430; --muted: #5b6475; --line: #d8dde6; --accent: #2b6cb0; --bg: #ffffff; --soft: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); background: var(--bg); }
header { padding: 28px 40px 18px; border-bottom: 1px solid var(--line); background: var(--soft); }
header h1 { margin: 0 0 6px; font-size: 26px; }
header .meta { color: var(--muted); font-size: 13px; }
nav { padding: 10px 40px; border-bottom: 1px solid var(--line); font-size: 13px; }
nav a { color: var(--accent); text-decoration: none; margin-right: 14px; white-space: nowrap; }
main { max-width: 1100px; margin: 0 auto; padding: 8px 40px 60px; }
section { margin-top: 30px; }
h2 { font-size: 20px; border-bottom: 2px solid var(--accent); padding-bottom: 4px; }
h3 { font-size: 16px; margin-bottom: 6px; }
.summary { background: #eef4fb; border-left: 4px solid var(--accent); padding: 12px 18px; }
.summary p { margin: 8px 0; }
table { border-collapse: collapse; margin: 10px 0 16px; font-size: 13.5px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right; }
th { background: var(--soft); font-weight: 600; }
td.text, th.text { text-align: left; }
figure { margin: 14px 0 22px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13px; max-width: 820px; }
pre { background: var(--soft); padding: 10px 14px; overflow-x: auto; font-size: 12.5px; border: 1px solid var(--line); }
.note { background: #fff8e6; border-left: 4px solid #d69e2e; padding: 8px 14px; margin: 10px 0; }
.ok { background: #eefaf1; border-left: 4px solid #38a169; padding: 8px 14px; margin: 10px 0; }
.muted { color: var(--muted); }
a.download { display: inline-block; margin: 4px 12px 4px 0; color: var(--accent); }
"""

JS = """
(function () {
  var body = document.body, imgs = Array.prototype.slice.call(document.images), ok = 0, bad = 0;
  function publish() {
    body.setAttribute('data-images-loaded', String(ok));
    body.setAttribute('data-images-failed', String(bad));
    if (ok + bad === imgs.length) { body.setAttribute('data-images-done', 'true'); }
  }
  imgs.forEach(function (img) {
    function check() { if (img.naturalWidth > 0) { ok += 1; } else { bad += 1; } publish(); }
    if (img.complete) { check(); }
    else { img.addEventListener('load', check); img.addEventListener('error', function () { bad += 1; publish(); }); }
  });
  publish();
})();
"""


DDF_NAMES = {"satterthwaite": "Satterthwaite's degrees of freedom",
             "kenward-roger": "Kenward-Roger's degrees of freedom",
             "residual": "the residual degrees of freedom", "none": "no df (normal p-values)"}


def esc(x: Any) -> str:
    """HTML-escaped text."""
    return html.escape(str(x), quote=True)


def _cell(x: Any, digits: int) -> tuple[str, bool]:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "", True
    if isinstance(x, bool):
        return esc(x), False
    if isinstance(x, int) or type(x).__name__.startswith("int"):
        return esc(f"{int(x):,}" if abs(int(x)) >= 10000 else int(x)), True
    if isinstance(x, float) or type(x).__name__.startswith("float"):
        return esc(fmt_num(float(x), digits)), True
    return esc(x), False


def html_table(frame: pd.DataFrame | Sequence[Mapping[str, Any]], headers: Mapping[str, str] | None = None,
               digits: int = 2, formatters: Mapping[str, Any] | None = None, max_rows: int | None = None) -> str:
    """An HTML table: text left-aligned, numbers right-aligned with ``digits`` decimals.

    Parameters
    ----------
    frame : DataFrame or list of dicts
    headers : mapping, optional
        Column -> header text.
    digits : int
    formatters : mapping, optional
        Column -> function(value) -> str (already escaped text is not expected; it is escaped).
    max_rows : int, optional
        Show at most this many rows (a note says how many were left out).

    Examples
    --------
    >>> html_table([{"term": "time", "estimate": 2.0123}]).count("<td")
    2
    """
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(list(frame))
    headers = dict(headers or {})
    formatters = dict(formatters or {})
    shown = frame if max_rows is None else frame.head(max_rows)
    cols = list(frame.columns)
    text_cols = {c for c in cols if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])}
    head = "".join(f'<th class="{"text" if c in text_cols else "num"}">{esc(headers.get(c, c))}</th>' for c in cols)
    rows = []
    for rec in shown.to_dict("records"):
        tds = []
        for c in cols:
            if c in formatters and rec[c] is not None and not (isinstance(rec[c], float) and math.isnan(rec[c])):
                txt, num = esc(formatters[c](rec[c])), c not in text_cols
            else:
                txt, num = _cell(rec[c], digits)
            tds.append(f'<td class="{"num" if num and c not in text_cols else "text"}">{txt}</td>')
        rows.append("<tr>" + "".join(tds) + "</tr>")
    more = ""
    if max_rows is not None and len(frame) > max_rows:
        more = f'<p class="muted">First {max_rows} of {fmt_count(len(frame))} rows.</p>'
    thead = f"<thead><tr>{head}</tr></thead>" if any(str(headers.get(c, c)) for c in cols) else ""
    return f"<table>{thead}<tbody>{''.join(rows)}</tbody></table>{more}"


def _figure(rep: Report, name: str) -> str:
    png = rep.figure_png.get(name)
    if png is None:
        return ""
    info = rep.figure_info[name]
    src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return (f'<figure id="fig-{esc(name)}"><img src="{src}" alt="{esc(info["title"])}">'
            f"<figcaption><b>{esc(info['title'])}.</b> {esc(info['caption'])}</figcaption></figure>")


def _figure_or_note(rep: Report, name: str) -> str:
    """The figure, or the note that says why it was skipped."""
    if name in rep.figure_png:
        return _figure(rep, name)
    why = [n for n in rep.notes if n.startswith((f"{name} plot skipped", f"figure {name!r} skipped"))]
    return "".join(_p(n[0].upper() + n[1:] + ".", "muted") for n in why)


def _download(frame: pd.DataFrame, filename: str, label: str, limit: int = 2_000_000) -> str:
    data = frame.to_csv(index=False).encode("utf-8")
    if len(data) > limit:
        return f'<p class="muted">{esc(filename)} is written next to this file ({fmt_count(len(data))} bytes).</p>'
    uri = "data:text/csv;base64," + base64.b64encode(data).decode("ascii")
    return f'<a class="download" download="{esc(filename)}" href="{uri}">{esc(label)}</a>'


def _pre(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


def _p(text: str, cls: str | None = None) -> str:
    return f'<p class="{cls}">{esc(text)}</p>' if cls else f"<p>{esc(text)}</p>"


def _kind(v: Mapping[str, Any]) -> str:
    return (v.get("design") or {}).get("kind", "waves" if v.get("time") else "grouped")


def _longitudinal(v: Mapping[str, Any]) -> bool:
    return _kind(v) in ("waves", "times") and bool(v.get("time"))


def _data_section(rep: Report) -> str:
    d, v = rep.values["data"], rep.values
    longi = _longitudinal(v)
    waves = (f"{d['waves_min']}" if d["waves_min"] == d["waves_max"]
             else f"{d['waves_min']} to {d['waves_max']} (median {fmt_num(d['waves_median'], 0)})")
    des = v.get("design") or {}
    rows = [("rows", fmt_count(d["n_rows"])), ("observations used in the fit", fmt_count(d["n_obs"]))]
    if des.get("kind"):
        from .design import DESIGNS

        rows.append(("design", f"{DESIGNS[des['kind']]}: {des.get('reason', '')}"))
    if longi:
        rows += [(f"units ({v['unit']})", fmt_count(d["n_units"])),
                 ("waves per unit" if _kind(v) == "waves" else "observations per unit", waves)]
    else:
        groups = des.get("groups") or {v["unit"]: d["n_units"]}
        rows += [(f"levels of {g}", fmt_count(n)) for g, n in groups.items()]
        rows.append((f"observations per level of {v['unit']}", waves))
        if des.get("predictors"):
            rows.append(("predictors", ", ".join(des["predictors"])))
    if longi and "n_times" in d:
        times = ", ".join(fmt_num(t, 2).rstrip("0").rstrip(".") for t in d["times"][:20])
        more = ", ..." if d["n_times"] > 20 else ""
        rows.append((f"distinct values of {v['time']}", f"{d['n_times']} ({times}{more})"))
    rows.append(("rows with a missing value in a column used", fmt_count(d.get("n_incomplete", d["n_dropped"]))))
    rows.append(("rows dropped from the fit (missing values)", fmt_count(d["n_dropped"])))
    facts = html_table(pd.DataFrame(rows, columns=["quantity", "value"]), headers={"quantity": "", "value": ""})
    miss = rep.tables["missing"].reset_index()
    out = [facts, "<h3>Missing values in every column the models use</h3>",
           html_table(miss, headers={"column": "column", "dtype": "type", "n_missing": "missing",
                                     "pct_missing": "% missing"}, digits=1)]
    if d.get("units_one_wave"):
        who = "unit(s)" if longi else f"level(s) of {v['unit']}"
        out.append(_p(f"{d['units_one_wave']} {who} have a single observation: they inform the intercept "
                      "variance but not the slopes.", "note"))
    return "".join(out)


def _comparison_section(rep: Report) -> str:
    v = rep.values
    lrt = v.get("lrt")
    if not lrt:
        if "compare" in rep.models:
            return _p("The likelihood-ratio test could not be computed (see the notes at the end).", "note")
        return _p("No comparison model (the main model has only a random intercept, or compare=False).", "muted")
    tab = rep.tables["comparison"].copy()
    tab.insert(0, "model", [v["compare_label"], v["main_label"]][: len(tab)])
    tab.insert(1, "formula", [v["compare_formula"], v["formula"]][: len(tab)])
    tab = tab.reset_index(drop=True)
    out = [html_table(tab, headers={"npar": "npar", "aic": "AIC", "bic": "BIC", "loglik": "logLik",
                                    "deviance": "deviance", "chisq": "χ²", "df": "df", "p_value": "p",
                                    "p_boundary": "p (boundary)"},
                      formatters={"p_value": p_cell, "p_boundary": p_cell, "npar": lambda x: f"{int(x)}",
                                  "df": lambda x: f"{x:g}"})]
    out.append(_p(f"χ²({lrt['df']:g}) = {fmt_num(lrt['chisq'])}, {fmt_p(lrt['p_value'])}; "
                  f"ΔAIC = {fmt_num(lrt['delta_aic'], 1)}, ΔBIC = {fmt_num(lrt['delta_bic'], 1)} "
                  f"(comparison minus main: positive values favour the {v['main_label']})."))
    boundary = ""
    if lrt.get("p_boundary") is not None and math.isfinite(lrt["p_boundary"]):
        boundary = (f" Referred to a 50:50 mixture of χ²({lrt['df'] - 1:g}) and χ²({lrt['df']:g}), which allows for "
                    f"the boundary, the test gives {fmt_p(lrt['p_boundary'])}.")
    out.append(_p("Both models were refitted by maximum likelihood for this test; estimates elsewhere in the "
                  "report come from the REML fits. A variance tested at zero lies on the boundary of its range, so "
                  "the usual χ² p-value is conservative." + boundary, "muted"))
    return "".join(out)


def _diagnostics_notes(rep: Report) -> str:
    v = rep.values
    out = []
    if v.get("singular"):
        parts = v.get("singular_parts") or []
        which = f" ({'; '.join(parts)})" if parts else ""
        fix = ("rescaling or centring time, or collecting more waves" if _longitudinal(v)
               else "rescaling the predictors, or collecting more groups")
        out.append(_p(f"Singular fit{which}: a random-effect variance is (near) zero or a correlation is ±1, so "
                      "those components are not interpreted. The random-effects structure is more than the data "
                      f"support: consider dropping a random slope, {fix}.", "note"))
    if v.get("compare_singular"):
        out.append(_p("The comparison model's fit is singular.", "note"))
    if not v.get("converged", True):
        out.append(_p("Convergence problem: " + ("; ".join(v.get("messages") or []) or "see m.optinfo"), "note"))
    if not out:
        out.append(_p("The fit converged and is not singular.", "ok"))
    return "".join(out)


def _interpretation_section(rep: Report) -> str:
    v = rep.values
    lvl = round(100 * v["level"])
    fixed = rep.tables["fixed_effects"]
    out = ["<h3>Fixed effects</h3>",
           html_table(fixed, headers={"term": "term", "estimate": "estimate", "std_error": "SE", "df": "df",
                                      "t_value": "t", "p_value": "p", "conf_low": f"{lvl}% CI low",
                                      "conf_high": f"{lvl}% CI high"},
                      formatters={"p_value": p_cell, "df": lambda x: fmt_num(x, 1)}),
           _p("Confidence intervals are estimate ± q × SE with q from the same distribution as the p-values: "
              + (f"t tests and intervals use {DDF_NAMES.get(v['ddf'], v['ddf'])}." if v["ddf"] != "none"
                 else "the normal distribution (no df)."), "muted"),
           "<h3>Random effects</h3>",
           html_table(rep.tables["random_effects"], headers={"group": "group", "term": "term", "variance": "variance",
                                                             "sd": "SD", "corr": "corr"},
                      formatters={"corr": lambda r: fmt_unit(r)})]
    fi = rep.tables.get("fit_indices")
    if fi is not None and len(fi):
        out += ["<h3>Variance explained, clustering" + (" and direction of change" if _longitudinal(v) else "")
                + "</h3>",
                html_table(fi, headers={"quantity": "", "value": ""}, digits=3)]
    return "".join(out)


def _blup_section(rep: Report) -> str:
    blups = rep.tables["blups"]
    return "".join([
        _p("BLUPs (conditional modes) are each " + ("unit" if _longitudinal(rep.values) else "group")
           + "'s predicted deviation from the fixed effects; adding the fixed effects gives its own coefficients "
           "(coef_ columns)."),
        _download(blups, "blups.csv", "Download blups.csv"),
        _download(rep.tables["fixed_effects"], "fixed_effects.csv", "Download fixed_effects.csv"),
        html_table(blups, digits=3, max_rows=10),
    ])


def reproduce_code(values: dict) -> str:
    """Python that reruns the report: read the data (and reshape it, if it was wide), then :func:`lmmflow.report`.

    Parameters
    ----------
    values : dict
        ``Report.values``; ``source`` (the data file, if known) and ``reshape`` (the arguments of a
        :func:`lmmflow.wide_to_long` call) are used when present.

    Returns
    -------
    str

    Examples
    --------
    >>> print(reproduce_code({"formula": "y ~ time + (1 | id)", "source": "d.csv", "ddf": "satterthwaite"}))
    import lmmflow as lf
    <BLANKLINE>
    data = lf.read_data('d.csv')
    rep = lf.report(data, 'y ~ time + (1 | id)', compare=False, out='report')
    print(rep.text)
    <BLANKLINE>
    m = rep.models['main']
    print(m.summary())
    """
    src = values.get("source")
    read = (f"data = lf.read_data({src!r})" if src
            else "data = lf.read_data('data.csv')  # or the DataFrame that was analysed")
    lines = ["import lmmflow as lf", "", read]
    if values.get("reshape"):
        lines.append(f"data = lf.wide_to_long(data, {values['reshape']})")
    args = [repr(values["formula"]), f"compare={values['compare_formula']!r}" if values.get("compare_formula")
            else "compare=False"]
    if values.get("level", 0.95) != 0.95:
        args.append(f"level={values['level']!r}")
    if values.get("ddf", "satterthwaite") != "satterthwaite":
        args.append(f"ddf={values['ddf']!r}")
    if values.get("time_given") and values.get("slope_var"):
        args.append(f"time={values['slope_var']!r}")
    if values.get("design_arg", "auto") != "auto":
        args.append(f"design={values['design_arg']!r}")
    args.append("out='report'")
    lines += [f"rep = lf.report(data, {', '.join(args)})", "print(rep.text)", "", "m = rep.models['main']",
              "print(m.summary())"]
    return "\n".join(lines)


def _code_section(rep: Report) -> str:
    return _pre(reproduce_code(rep.values))


def build_html(rep: Report) -> str:
    """The report as one HTML document (a string).

    Parameters
    ----------
    rep : Report

    Returns
    -------
    str
        UTF-8 HTML with no external references: CSS and JS inline, images as ``data:image/png;base64``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> rep = lf.report(lf.simulate_growth(n_units=30, seed=2), "y ~ time + (1 + time | id)")  # doctest: +SKIP
    >>> "http" in rep.html.split("<body")[1]  # doctest: +SKIP
    False
    """
    from .. import __version__

    v = rep.values
    m = rep.models["main"]
    longi = _longitudinal(v)
    paragraphs = "".join(_p(keep_together(p)) for p in rep.paragraphs)
    sections: list[tuple[str, str, str]] = [
        ("summary", "Written summary", f'<div class="summary">{paragraphs}</div>'),
        ("data", "1. The data", _data_section(rep)),
        ("look", "2. Look at the trajectories", _figure(rep, "spaghetti")) if longi else
        ("look", "2. Look at the data", _figure(rep, "by_predictor") + _figure(rep, "by_group")),
        ("models", "3. The models",
         (f"<h3>{esc(v['compare_label'].capitalize())}: {esc(v['compare_formula'])}</h3>"
          + _pre(str(rep.models["compare"].summary(ddf=v["ddf"]))) if "compare" in rep.models else "")
         + f"<h3>{esc(v['main_label'].capitalize())}: {esc(v['formula'])}</h3>" + _pre(str(m.summary(ddf=v["ddf"])))),
        ("compare", "4. Model comparison", _comparison_section(rep)),
        ("diagnostics", "5. Diagnostics", _diagnostics_notes(rep) + _figure(rep, "residuals_vs_fitted")
         + _figure(rep, "qq_residuals") + _figure(rep, "qq_ranef")),
        ("interpret", "6. Interpretation", _interpretation_section(rep) + _figure(rep, "prediction_curve")
         + _figure(rep, "variance_over_time") + _figure(rep, "icc_over_time")),
        ("blups", "7. Unit-level effects (BLUPs)" if longi else "7. Group-level effects (BLUPs)",
         _blup_section(rep) + _figure(rep, "caterpillar") + _figure(rep, "caterpillar_other")),
        ("shrinkage", "8. Shrinkage and individual trajectories", _figure_or_note(rep, "shrinkage")
         + _figure(rep, "trajectories")) if longi else ("shrinkage", "8. Shrinkage", _figure_or_note(rep, "shrinkage")),
        ("code", "9. Reproduce", _code_section(rep)),
    ]
    if rep.notes:
        sections.append(("notes", "Notes", "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in rep.notes) + "</ul>"))
    nav = "\n".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{esc(title)}</h2>{content}</section>' for sid, title, content in sections)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    n_img = len(rep.figure_png)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(v['title'])}</title><style>{CSS}</style></head>"
        f"<body data-images-total=\"{n_img}\" data-images-loaded=\"0\">"
        f"<header><h1>{esc(v['title'])}</h1><div class=\"meta\">{esc(v['formula'])} · "
        f"{fmt_count(v['data']['n_obs'])} observations · {fmt_count(v['data']['n_units'])} "
        f"{'units' if longi else 'levels of ' + esc(v['unit'])} · "
        f"lmmflow {esc(__version__)} · {esc(stamp)}</div></header>"
        f"<nav>{nav}</nav><main>{body}</main><script>{JS}</script></body></html>\n"
    )
