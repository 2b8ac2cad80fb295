"""Running the longitudinal workflow on a data set: check, plot, fit, compare, diagnose, interpret, write.

:func:`report` is the one call; it returns a :class:`Report` that holds the models, the tables, the figures
(PNG bytes) and the numbers of the written summary (``Report.values``), and writes them with
:meth:`Report.write`.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..design import DataError, as_pandas
from ..formula import FormulaError, parse_formula
from .tables import (  # noqa: F401 - re-exported: these lived here before
    _has_random_slope,
    _icc,
    _intercept_only,
    _optional,
    _r2,
    _share,
    blup_table,
    comparison_values,
    fit_indices_table,
    fixed_effects_table,
    model_labels,
    random_effects_rows,
    random_effects_table,
    singular_parts,
    slope_test,
)

if TYPE_CHECKING:
    from ..results import LmerResult

__all__ = ["Report", "check_long_format", "data_check", "default_compare", "infer_roles", "report", "suggest_waves",
           "fit_with_time_hint", "text_time_hint", "wide_columns"]

DEFAULT_TITLE = "Linear mixed model report"
FORMATS = ("html", "md", "txt")


# ---- reading and checking the data ---------------------------------------------------------------------
def load_data(data: Any) -> pd.DataFrame:
    """A DataFrame from a frame, a dict of columns or a CSV/Parquet path (via :func:`lmmflow.read_data`)."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.exists():
            raise FileNotFoundError(f"data file not found: {path}")
        try:
            from ..data import read_data
        except ImportError:  # pragma: no cover - lmmflow.data ships with the package
            return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        return as_pandas(read_data(path))
    return as_pandas(data)


_WAVE_RE = re.compile(r"^(?P<stem>.*?)(?P<num>\d+)$")


def wide_columns(df: pd.DataFrame, stem: str | None = None) -> list[str]:
    """Columns that look like the waves of wide data: a common stem followed by a number (y1..y5, y_t1..).

    Parameters
    ----------
    df : DataFrame
    stem : str, optional
        Prefer columns starting with this name (the formula's response).

    Returns
    -------
    list of str
        The largest group of two or more such columns sharing a stem (preferring ``stem``), else ``[]``.
    """
    groups: dict[str, list[str]] = {}
    for col in map(str, df.columns):
        hit = _WAVE_RE.match(col)
        if hit:
            groups.setdefault(hit.group("stem"), []).append(col)
    groups = {k: v for k, v in groups.items() if len(v) >= 2}
    if not groups:
        return []
    best = max(groups, key=lambda k: len(groups[k]))
    if stem is not None:
        preferred = [k for k in groups if k.rstrip("_.-tTwW ").lower() == stem.lower() or k.startswith(stem)]
        if preferred:
            best = max(preferred, key=lambda k: len(groups[k]))
    return sorted(groups[best], key=lambda c: int(_WAVE_RE.match(c).group("num")))


def suggest_waves(cols: list[str]) -> dict[str, float]:
    """Times for numbered wave columns: 0, 1, 2... when the numbers run consecutively (y1..y5), else the
    numbers themselves (m0, m3, m6 -> 0, 3, 6: the slope is then per unit of those numbers).

    Examples
    --------
    >>> suggest_waves(["y1", "y2", "y3"]), suggest_waves(["m0", "m3", "m12"])
    ({'y1': 0.0, 'y2': 1.0, 'y3': 2.0}, {'m0': 0.0, 'm3': 3.0, 'm12': 12.0})
    """
    nums = [int(_WAVE_RE.match(c).group("num")) for c in cols]
    if all(b - a == 1 for a, b in zip(nums, nums[1:])):
        return {c: float(i) for i, c in enumerate(cols)}
    return {c: float(n) for c, n in zip(cols, nums)}


def check_long_format(df: pd.DataFrame, formula: str, hint: str = "python") -> None:
    """Raise a :class:`DataError` that names the fix when the formula's columns are not all in ``df``.

    Wide data (one row per unit, columns ``y1..y5``) given where long data is expected is recognised and the
    message says how to reshape it.

    Parameters
    ----------
    df : DataFrame
    formula : str
    hint : {"python", "cli"}
        Phrase the fix as :func:`lmmflow.wide_to_long` or as the CLI's ``--wide`` option.

    Examples
    --------
    >>> import pandas as pd
    >>> wide = pd.DataFrame({"id": [1, 2], "y1": [3.0, 4.0], "y2": [5.0, 6.0]})
    >>> check_long_format(wide, "y ~ time + (1 | id)")
    Traceback (most recent call last):
    ...
    lmmflow.design.frame.DataError: column(s) 'y', 'time' of the formula are not in the data, ...
    """
    parsed = parse_formula(formula)
    names = set(re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*", formula.split("~", 1)[1]))
    names |= {parsed.response}
    for term in parsed.random:
        names |= set(term.group)
    known_funcs = {"C", "I", "np", "log", "exp", "sqrt", "poly", "center", "scale", "abs", "bs", "cr", "cc",
                   "Q", "Treatment", "Sum", "Diff", "Helmert", "Poly", "contr", "lag",
                   "us", "diag", "cs", "homcs", "ar1"}  # covariance structures of random terms
    needed = [n for n in dict.fromkeys([parsed.response, *sorted(names - {parsed.response})])
              if n not in known_funcs and not n.startswith(("np.", "math."))]
    missing = [n for n in needed if n not in df.columns and not _is_attribute(n, formula)]
    if not missing:
        return
    waves = wide_columns(df, stem=parsed.response)
    msg = (f"column(s) {', '.join(repr(c) for c in missing)} of the formula are not in the data, "
           f"whose columns are {_short_list(df.columns)}")
    if waves:
        ids = [c for c in df.columns if c not in waves]
        id_hint = ids[0] if ids else "ID"
        spec = ",".join(f"{c}={t:g}" for c, t in suggest_waves(waves).items())
        py_spec = "{" + ", ".join(f"{c!r}: {t:g}" for c, t in suggest_waves(waves).items()) + "}"
        if hint == "cli":
            msg += (f"; columns {_short_list(waves)} look like waves of WIDE data (one row per unit): "
                    f"use --wide --id {id_hint} --waves \"{spec}\"")
        else:
            msg += (f"; columns {_short_list(waves)} look like waves of WIDE data (one row per unit): reshape "
                    f"with lf.wide_to_long(df, id_col={id_hint!r}, wave_cols={py_spec}) first")
    raise DataError(msg)


def fit_with_time_hint(formula: str, df: pd.DataFrame, **kwargs: Any) -> LmerResult:
    """``lmer(formula, df, **kwargs)``; a fit that fails because a random slope is on a text column (wave
    labels where times were meant) raises a :class:`DataError` that says so (see :func:`text_time_hint`)."""
    from .. import lmer

    try:
        return lmer(formula, df, **kwargs)
    except ValueError as exc:  # DataError and numpy's LinAlgError are ValueErrors
        hint = text_time_hint(df, formula)
        if hint:
            raise DataError(f"{hint} (the fit said: {' '.join(str(exc).split())})") from exc
        raise


def text_time_hint(df: pd.DataFrame, formula: str) -> str:
    """A hint for a failed fit whose random slopes are on text columns (wave labels where times were meant).

    A random slope on a text column is a slope per category, one random effect per label and unit, which a
    growth model with one row per unit and wave cannot identify. lme4 allows such terms, so this is only
    added to the message of a fit that failed.

    Parameters
    ----------
    df : DataFrame
    formula : str

    Returns
    -------
    str
        ``""`` when no random slope is on a text column, else a sentence that names the column, shows some of
        its labels and says how to make it numeric.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"id": [1, 1, 2], "wave": ["w1", "w2", "w1"], "y": [1.0, 2.0, 3.0]})
    >>> text_time_hint(d, "y ~ wave + (1 + wave | id)").split(":")[0]
    "column 'wave' holds text ('w1', 'w2'), not numbers"
    """
    try:
        parsed = parse_formula(formula)
    except FormulaError:
        return ""
    for term in parsed.random:
        for var in _expr_vars(term.expr):
            if var not in df.columns or pd.api.types.is_numeric_dtype(df[var]) or pd.api.types.is_bool_dtype(df[var]):
                continue
            labels = [str(v) for v in pd.unique(df[var].dropna())]
            shown = ", ".join(repr(v) for v in labels[:4]) + (", ..." if len(labels) > 4 else "")
            return (f"column {var!r} holds text ({shown}), not numbers: in a random slope it becomes categories "
                    "with one random effect per label and unit, not a time; replace the labels by numeric times "
                    "(e.g. 0, 1, 2, ...)")
    return ""


def _is_attribute(name: str, formula: str) -> bool:
    # "np.log" is matched as one token by the regex above; plain dotted R-style names (a.b) are columns
    return "." in name and name.split(".")[0] in {"np", "math", "scipy"}


def _short_list(cols: Any, k: int = 8) -> str:
    cols = [str(c) for c in cols]
    return "[" + ", ".join(cols[:k]) + (f", ... ({len(cols)} in all)" if len(cols) > k else "") + "]"


def infer_roles(formula: str, df: pd.DataFrame, time: str | None = None,
                unit: str | None = None) -> tuple[str, str | None, str]:
    """The response, time and unit columns of a growth model formula.

    Parameters
    ----------
    formula : str
    df : DataFrame
    time, unit : str, optional
        Given names win. Otherwise the first random slope on a numeric column gives both the time variable and
        the unit (its grouping factor); without one, the unit is the first grouping factor and time the first
        numeric column of the fixed part.

    Returns
    -------
    (response, time or None, unit)

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"y": [1.0], "wave": [0], "person": ["a"]})
    >>> infer_roles("y ~ wave + (1 + wave | person)", d)
    ('y', 'wave', 'person')
    """
    parsed = parse_formula(formula)
    if time is not None and time not in df.columns:
        raise DataError(f"time column {time!r} is not in the data; columns are {_short_list(df.columns)}")

    def numeric(c: str) -> bool:
        return c in df.columns and c != parsed.response and pd.api.types.is_numeric_dtype(df[c])

    slopes = [(":".join(t.group), v) for t in parsed.random for v in _expr_vars(t.expr) if numeric(v)]
    slopes = [(g, v) for g, v in slopes if (unit is None or g == unit) and (time is None or v == time)]
    if slopes:
        unit = unit or slopes[0][0]
        time = time or slopes[0][1]
    if unit is None:
        unit = ":".join(parsed.random[0].group)
    if time is None:
        time = next((c for c in _expr_vars(parsed.fixed) if numeric(c)), None)
    return parsed.response, time, unit


def default_compare(formula: str, unit: str) -> str | None:
    """The random-intercept model nested in ``formula``: same fixed part, ``(1 | unit)``, other random terms kept.

    Returns None when ``formula`` already has only a random intercept for ``unit``.

    Examples
    --------
    >>> default_compare("y ~ time + (1 + time | id)", "id")
    'y ~ time + (1 | id)'
    >>> default_compare("y ~ time + (1 | id)", "id") is None
    True
    >>> default_compare("y ~ time + (1 | site) + (time | id)", "id")
    'y ~ time + (1 | id) + (1 | site)'

    """
    parsed = parse_formula(formula)
    mine = [t for t in parsed.random if ":".join(t.group) == unit]
    if not mine or all(t.expr.replace(" ", "") == "1" for t in mine):
        return None
    others = [(t.label if t.kind else f"({t.expr} {'|' if t.correlated else '||'} {':'.join(t.group)})")
              for t in parsed.random if ":".join(t.group) != unit]
    return " + ".join([f"{parsed.response} ~ {parsed.fixed}", f"(1 | {unit})", *others])


def _expr_vars(expr: str) -> list[str]:
    """Variable names in a formula part, in order (``"1 + time"`` -> ``["time"]``)."""
    return [n for n in dict.fromkeys(re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*", expr)) if n not in {"I", "C", "np"}]


def formula_columns(df: pd.DataFrame, formula: str) -> list[str]:
    """The data columns a formula uses, response first, in the order they appear (grouping factors included).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"y": [1.0], "x": [2.0], "g": ["a"], "h": ["b"], "unused": [0]})
    >>> formula_columns(d, "y ~ log(x) + (1 | g) + (1 | g:h)")
    ['y', 'x', 'g', 'h']
    """
    parsed = parse_formula(formula)
    names = re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*", formula.split("~", 1)[1])
    for term in parsed.random:
        names += [c for g in term.group for c in str(g).split(":")]
    return [c for c in dict.fromkeys([parsed.response, *names]) if c in df.columns]


def data_check(df: pd.DataFrame, response: str, time: str | None, unit: str,
               columns: list[str] | None = None) -> tuple[dict[str, Any], pd.DataFrame]:
    """Rows, units, observations per unit, time values and missing values of every column the model uses.

    Parameters
    ----------
    df : DataFrame
    response, time, unit : str
        ``time`` may be None (a design without time).
    columns : list of str, optional
        Every column the model uses (see :func:`formula_columns`); default the response, time and unit.

    Returns
    -------
    (dict, DataFrame)
        The numbers (``n_incomplete``: rows with a missing value in any of these columns), and a per-column
        missingness table (column, dtype, n_missing, pct_missing) with one row per column used.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"id": [1, 1, 2], "time": [0, 1, 0], "y": [1.0, None, 2.0], "x": [None, 1, 2]})
    >>> info, miss = data_check(d, "y", "time", "id", columns=["y", "time", "x", "id"])
    >>> info["n_rows"], info["n_units"], info["waves_max"], int(miss.loc["y", "n_missing"]), info["n_incomplete"]
    (3, 2, 1, 1, 2)
    """
    unit_cols = unit.split(":") if unit not in df.columns else [unit]
    cols = [c for c in dict.fromkeys([*(columns or []), response, time, *unit_cols])
            if c is not None and c in df.columns]
    units = df[unit_cols].astype(str).agg(":".join, axis=1) if len(unit_cols) > 1 else df[unit]
    complete = df[cols].notna().all(axis=1)
    per_unit = complete.groupby(units).sum()
    info: dict[str, Any] = {
        "n_rows": int(len(df)),
        "n_units": int(units.nunique()),
        "n_complete": int(complete.sum()),
        "n_incomplete": int((~complete).sum()),
        "waves_min": int(per_unit.min()) if len(per_unit) else 0,
        "waves_max": int(per_unit.max()) if len(per_unit) else 0,
        "waves_median": float(per_unit.median()) if len(per_unit) else 0.0,
        "units_one_wave": int((per_unit <= 1).sum()),
    }
    if time is not None and time in df.columns:
        tv = pd.to_numeric(df[time], errors="coerce").dropna().unique()
        info["times"] = sorted(float(t) for t in tv)[:50]
        info["n_times"] = int(len(tv))
    miss = pd.DataFrame({"dtype": [str(df[c].dtype) for c in cols],
                         "n_missing": [int(df[c].isna().sum()) for c in cols]}, index=pd.Index(cols, name="column"))
    miss["pct_missing"] = 100.0 * miss["n_missing"] / max(len(df), 1)
    info["missing"] = {c: int(n) for c, n in miss["n_missing"].items()}
    return info, miss


# ---- the report object ------------------------------------------------------------------------------------
@dataclass
class Report:
    """A finished workflow: models, tables, figures and the written summary.

    Attributes
    ----------
    values : dict
        Every number the written summary uses (see :func:`lmmflow.reporting.summary_text.results_paragraphs`).
    models : dict of str to LmerResult
        ``main`` (REML unless ``reml=False``), ``compare`` and their ML refits ``main_ml``, ``compare_ml``.
    tables : dict of str to DataFrame
        ``missing``, ``comparison``, ``fixed_effects``, ``random_effects``, ``fit_indices``, ``blups``.
    figure_png : dict of str to bytes
        PNG bytes per figure name; ``figure_info`` has each figure's title and caption.
    figures : dict of str to Path
        Files written by :meth:`write` (empty until then).
    notes : list of str
        Figures or steps that were skipped, and why.
    data : DataFrame
        The long-format data analysed.
    """

    values: dict[str, Any]
    models: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    figure_png: dict[str, bytes]
    figure_info: dict[str, dict[str, str]]
    data: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Path] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The plain-text summary (``summary.txt``)."""
        from .summary_text import summary_text

        return summary_text(self.values, model_summary=str(self.models["main"].summary(ddf=self.values["ddf"])))

    @property
    def paragraphs(self) -> list[str]:
        """The written summary, one string per paragraph."""
        from .summary_text import results_paragraphs

        return results_paragraphs(self.values)

    @property
    def markdown(self) -> str:
        """The Markdown summary (``summary.md``), linking the figure files by name."""
        from .summary_text import summary_markdown

        figs = {self.figure_info[k]["title"]: f"{k}.png" for k in self.figure_png}
        return summary_markdown(self.values, self.tables, figs)

    @property
    def html(self) -> str:
        """The self-contained HTML report (figures inline as base64 PNG)."""
        from .html import build_html

        return build_html(self)

    def write(self, out_dir: str | os.PathLike[str],
              formats: tuple[str, ...] | list[str] | None = None) -> dict[str, Path]:
        """Write the report, summaries, figures (PNG) and CSV tables into ``out_dir``, losing nothing.

        The files are written into a temporary folder beside ``out_dir`` and moved into place when complete,
        so an interrupted run leaves the previous report (or none), never half of one. ``out_dir`` may be new,
        empty, or a report lmmflow wrote before (it is replaced); a folder holding any file lmmflow did not
        write is refused with :class:`lmmflow.reporting.output.OutputFolderError` (a ``FileExistsError``)
        before anything is written. What was written is listed in ``.lmmflow-manifest.json``.

        Parameters
        ----------
        out_dir : path
            Created if needed.
        formats : sequence of {"html", "md", "txt"}, optional
            Which documents to write (default: the ones given to :func:`report`). Figures, ``blups.csv`` and
            ``fixed_effects.csv`` are always written.

        Returns
        -------
        dict of str to Path
            Everything written, by name (``report.html``, ``summary.txt``, ..., ``figure:spaghetti``).

        Examples
        --------
        >>> import lmmflow as lf, tempfile
        >>> rep = lf.report(lf.simulate_growth(n_units=40, seed=2), "y ~ time + (1 + time | id)", figures=False)
        >>> files = rep.write(tempfile.mkdtemp(), formats=("txt",))
        >>> sorted(files)
        ['blups.csv', 'fixed_effects.csv', 'summary.txt']
        """
        from .output import staged_folder

        out = Path(out_dir)
        formats = self._formats(formats)
        with staged_folder(out) as tmp:
            staged = self.write_into(tmp, formats)
        files = {k: out / p.relative_to(tmp) for k, p in staged.items()}
        self.figures.update({k.split(":", 1)[1]: p for k, p in files.items() if k.startswith("figure:")})
        self.files.update(files)
        return files

    def _formats(self, formats: tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
        formats = tuple(formats if formats is not None else self.values.get("formats", FORMATS))
        bad = [f for f in formats if f not in FORMATS]
        if bad:
            raise ValueError(f"unknown format(s) {bad}; choose from {FORMATS}")
        return formats

    def write_into(self, folder: str | os.PathLike[str],
                   formats: tuple[str, ...] | list[str] | None = None) -> dict[str, Path]:
        """Write the files straight into an existing ``folder`` (no staging, no checks; see :meth:`write`).

        For callers that stage a folder themselves (:func:`lmmflow.reporting.output.staged_folder`), as the
        CLI's tutorial does to add its data and explorer to the same folder.
        """
        out = Path(folder)
        formats = self._formats(formats)
        files: dict[str, Path] = {}
        for name, png in self.figure_png.items():
            p = out / f"{name}.png"
            p.write_bytes(png)
            files[f"figure:{name}"] = p
        for name in ("blups", "fixed_effects"):
            p = out / f"{name}.csv"
            self.tables[name].to_csv(p, index=False)
            files[f"{name}.csv"] = p
        docs = {"html": ("report.html", lambda: self.html), "md": ("summary.md", lambda: self.markdown),
                "txt": ("summary.txt", lambda: self.text)}
        for f in formats:
            fname, make = docs[f]
            p = out / fname
            p.write_text(make(), encoding="utf-8")
            files[fname] = p
        return files

    def __repr__(self) -> str:
        v = self.values
        return (f"<Report {v['title']!r}: {v['formula']} on {v['data']['n_obs']} obs / {v['data']['n_units']} units; "
                f"{len(self.figure_png)} figures>")


# ---- the workflow -----------------------------------------------------------------------------------------
def report(data: Any, formula: str, compare: str | bool | None = None, out: str | os.PathLike[str] | None = None,
           time: str | None = None, unit: str | None = None, title: str = DEFAULT_TITLE, level: float = 0.95,
           seed: int | None = None, formats: tuple[str, ...] | list[str] = FORMATS, ddf: str = "satterthwaite",
           reml: bool = True, n_trajectories: int = 30, figures: bool = True, dpi: int = 110,
           design: str = "auto", family: Any = None, link: str | None = None, nagq: int = 1) -> Report:
    """Run the mixed-model workflow on long-format data and (optionally) write a report.

    The report reads the design first (see :func:`lmmflow.reporting.design.detect_design`): longitudinal data
    on shared waves, longitudinal data at unit-specific times (the mean curve is then smoothed), or grouped
    data without a time variable (plants in sites, students in schools, subjects crossed with items), whose
    text and figures speak of predictors and groups instead of trajectories.

    Steps: data check (rows, units, waves per unit, missingness); spaghetti plot; fit of the comparison
    model (by default the random-intercept model) and of the main model; likelihood-ratio test, AIC and BIC
    on ML refits; diagnostics (residuals vs fitted, Q-Q plots of residuals and random effects, singular fit
    and convergence); interpretation (fixed effects with SE, CI, df and p; SDs and correlations of the
    random effects; marginal and conditional R²; ICC; share of units with a positive slope); BLUPs
    (caterpillar plot, ``blups.csv``); shrinkage; individual trajectories; prediction curve; variance over
    time; an APA-style written summary.

    Parameters
    ----------
    data : DataFrame, dict of columns, or path to a CSV/Parquet file
        Long format: one row per unit and occasion.
    formula : str
        The main model, e.g. ``"y ~ time + (1 + time | id)"``.
    compare : str, False or None
        The nested model to test against; ``None`` derives the random-intercept model
        (``y ~ time + (1 | id)``) when the main model has random slopes; ``False`` skips the comparison.
    out : path, optional
        Write everything into this folder (see :meth:`Report.write`).
    time, unit : str, optional
        Time and unit columns; inferred from the formula when not given. A ``time`` given here is taken as
        time whatever its name; an inferred one only when it is named like time (``time``, ``wave``, ``Days``,
        ``age``, ...).
    title : str
    level : float
        Confidence level of the intervals (and the test's alpha is ``1 - level`` in the text).
    seed : int, optional
        Seeds the choice of units drawn in the trajectory plot.
    formats : sequence of {"html", "md", "txt"}
        Documents to write when ``out`` is given.
    ddf : {"satterthwaite", "kenward-roger", "residual", "none"}
        Degrees of freedom of the fixed-effect t tests.
    reml : bool
        Fit the main and comparison models by REML (default) or ML; the LRT always uses ML refits.
    n_trajectories : int
        How many units the trajectory plot shows.
    figures : bool
        Draw the figures (False: numbers and text only, faster).
    dpi : int
        Resolution of the PNG figures.
    design : {"auto", "waves", "times", "grouped", "crossed"}
        The design; ``"auto"`` reads it from the data.
    family : {"binomial", "poisson"} or family object, optional
        A binary or count outcome: fit a GLMM (:func:`lmmflow.glmer`) and write the GLMM report
        (:func:`lmmflow.reporting.glmm_report.glmm_report`: observed proportions or rates, response-scale curves,
        binned residuals, odds or rate ratios; ``ddf`` and ``reml`` do not apply). ``None`` or ``"gaussian"``:
        the linear mixed model.
    link : str, optional
        The GLMM's link (``logit``, ``probit``, ``cloglog``; ``log``).
    nagq : int
        The GLMM's quadrature points (1: Laplace).

    Returns
    -------
    Report

    Notes
    -----
    The written summary interprets a random slope's SD, its correlation and the share of positive slopes
    only when the likelihood-ratio test of the slope (main vs random-intercept model) has p < 1 - level;
    a variance at zero or a correlation at ±1 is called singular instead of being interpreted. Confidence
    intervals of fixed effects use the t distribution on the same df as the p-values. ``out=`` writes as
    :meth:`Report.write` does: staged, and never over files lmmflow did not write.

    Examples
    --------
    >>> import lmmflow as lf
    >>> d = lf.simulate_growth(n_units=60, seed=2)
    >>> rep = lf.report(d, "y ~ time + (1 + time | id)", figures=False)
    >>> rep.values["lrt"]["df"]
    2.0
    >>> rep.paragraphs[1].startswith("A likelihood-ratio test")
    True
    """
    from .. import lmer

    if family is not None and not (isinstance(family, str) and family.lower() == "gaussian"):
        from .glmm_report import DEFAULT_TITLE as GLMM_TITLE
        from .glmm_report import glmm_report

        return glmm_report(data, formula, family=family, link=link, nagq=nagq, compare=compare, out=out,
                           time=time, unit=unit, title=GLMM_TITLE if title == DEFAULT_TITLE else title,
                           level=level, seed=seed, formats=formats, n_trajectories=min(n_trajectories, 30),
                           figures=figures, dpi=dpi, design=design)
    if link is not None or nagq != 1:
        raise ValueError("link= and nagq= are for a GLMM: pass family='binomial' or 'poisson' as well")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    df = load_data(data)
    if not isinstance(formula, str) or "~" not in formula:
        raise FormulaError(f"formula {formula!r} needs a response, e.g. 'y ~ time + (1 + time | id)'")
    if out is not None:
        from .output import check_output_folder

        check_output_folder(out)  # refuse before the work, not after it
    check_long_format(df, formula)
    if not parse_formula(formula).random:
        raise FormulaError(f"formula {formula!r} has no random-effects term such as (1 | id): a mixed-model report "
                           "needs at least one grouping factor; add one, e.g. 'y ~ time + (1 | id)'")
    time_given = time is not None
    response, time, unit = infer_roles(formula, df, time, unit)
    from .design import detect_design

    des = detect_design(df, formula, time, unit, time_given=time_given, design=design)
    slope_var = time
    time = des["time"]
    if compare is None:
        compare = default_compare(formula, unit)
    elif compare is False:
        compare = None
    if compare is not None:
        check_long_format(df, compare)
    columns = formula_columns(df, formula)
    if compare:
        columns += [c for c in formula_columns(df, compare) if c not in columns]
    info, missing = data_check(df, response, time, unit, columns=columns)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m1 = fit_with_time_hint(formula, df, reml=reml, quiet=True)
        m0 = lmer(compare, df, reml=reml, quiet=True) if compare else None
    info["n_obs"] = int(m1.nobs)
    info["n_dropped"] = int(m1.n_dropped)
    models: dict[str, Any] = {"main": m1}
    tables: dict[str, pd.DataFrame] = {"missing": missing}
    values: dict[str, Any] = {"title": title, "formula": formula, "compare_formula": compare, "response": response,
                              "time": time, "unit": unit, "design": des, "slope_var": slope_var,
                              "time_given": time_given, "design_arg": design, "level": level,
                              "reml": reml, "data": info,
                              "formats": tuple(formats), "seed": seed,
                              "source": os.fspath(data) if isinstance(data, (str, os.PathLike)) else None,
                              "reshape": None}
    notes: list[str] = []

    # comparison (ML refits)
    values["lrt"] = None
    if m0 is not None:
        models["compare"] = m0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m0_ml = m0 if not m0.reml else m0.update(reml=False)
            m1_ml = m1 if not m1.reml else m1.update(reml=False)
        models["compare_ml"], models["main_ml"] = m0_ml, m1_ml
        try:
            values["lrt"], tables["comparison"] = comparison_values(m0_ml, m1_ml)
        except (ImportError, AttributeError) as exc:
            notes.append(f"model comparison skipped: {exc}")
    values["main_label"], values["compare_label"] = model_labels(m1, m0, slope_var, unit)
    values["slope_test"] = slope_test(values, m1, slope_var)

    # interpretation
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fixed, values["ddf"] = fixed_effects_table(m1, ddf=ddf, level=level)
    notes += [str(w.message) for w in caught if "df not available" in str(w.message)]
    tables["fixed_effects"] = fixed
    values["fixed"] = fixed.to_dict("records")
    values["intercept_term"] = "(Intercept)" if "(Intercept)" in m1.fixef.index else None
    values["slope_term"] = slope_var if slope_var in m1.fixef.index else None
    values["random"] = random_effects_rows(m1)
    tables["random_effects"] = random_effects_table(values["random"])
    values["r2"] = _optional(notes, "R²", lambda: _r2(m1))
    icc_model, icc_which = (m0, "compare") if m0 is not None and _intercept_only(m0) else (m1, "main")
    icc = _optional(notes, "ICC", lambda: _icc(icc_model))
    values["icc"] = dict(icc, model=icc_which) if icc else None
    values["share_positive"] = None
    values["time_interactions"] = [n for n in m1.fixef.index if ":" in n and slope_var in n.split(":")]
    if values["time_interactions"]:
        notes.append(f"share of positive slopes not computed: the slope of {slope_var} depends on "
                     f"{', '.join(values['time_interactions'])}")
    elif slope_var is not None and _has_random_slope(m1, slope_var):
        if values["slope_test"]["supported"]:
            values["share_positive"] = _optional(notes, "share of positive slopes", lambda: _share(m1, slope_var))
        else:
            notes.append(f"share of positive slopes not interpreted: {values['slope_test']['why']}")
    tables["fit_indices"] = fit_indices_table(values)
    values["singular"] = bool(m1.is_singular)
    values["singular_parts"] = singular_parts(values["random"]) if values["singular"] else []
    values["compare_singular"] = bool(m0.is_singular) if m0 is not None else False
    opt = m1.optinfo
    values["converged"] = bool(getattr(opt, "converged", True))
    values["messages"] = [str(x) for x in (getattr(opt, "messages", None) or [])]
    tables["blups"] = blup_table(m1, unit)

    rep = Report(values=values, models=models, tables=tables, figure_png={}, figure_info={}, data=df, notes=notes)
    if figures:
        from .figures import draw_all

        draw_all(rep, n_trajectories=n_trajectories, seed=seed, dpi=dpi)
    if out is not None:
        rep.write(out, formats)
    return rep
