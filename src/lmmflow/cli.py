"""The ``lmmflow`` command line: the tutorial, fits, reports, simulated data and the explorer.

Run ``lmmflow --help`` or ``lmmflow COMMAND --help``; every command's help ends with examples.
Errors in the input (a missing file, an unknown column, a formula that does not parse or has no random term,
wide data where long data is expected, an output folder holding other files, data too big for memory) are
reported as one line, ``lmmflow: error: ...``, with exit status 1 (2 for a wrong command line);
``--debug`` shows the traceback instead. ``report`` and ``tutorial`` write their folder all at once (staged,
then moved into place) and never overwrite a file lmmflow did not write.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time as _time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["build_parser", "main", "parse_waves"]

PROG = "lmmflow"
TUTORIAL_FORMULA = "y ~ time + (1 + time | id)"
TUTORIAL_COMPARE = "y ~ time + (1 | id)"
TUTORIAL_SEED = 9
#: The tutorial's size limits: it draws every figure and writes every file, which is for learning, not scale.
TUTORIAL_MAX_UNITS = 100_000
TUTORIAL_MAX_ROWS = 1_000_000


class CliError(Exception):
    """A problem with the command line or its input, shown as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that points at ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


_FMT = argparse.RawDescriptionHelpFormatter


def _sub(subs: Any, name: str, help_: str, description: str, examples: str) -> argparse.ArgumentParser:
    return subs.add_parser(name, help=help_, description=description, epilog="examples:\n" + examples,
                           formatter_class=_FMT)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lmmflow`` command (for the docs and tests).

    Examples
    --------
    >>> p = build_parser()
    >>> p.parse_args(["tutorial", "--out", "tut"]).units
    200
    """
    from . import __version__

    p = _Parser(prog=PROG, formatter_class=_FMT,
                description="Linear mixed models for longitudinal data: lme4's formulas and numbers, and the whole "
                            "workflow from data to a written report.",
                epilog="start here:\n"
                       "  lmmflow tutorial --out tutorial_out      # the nine steps on simulated data\n"
                       "  lmmflow report mydata.csv --formula \"y ~ time + (1 + time | id)\" --out report\n\n"
                       "formulas use lme4's syntax: (1 | id) random intercept, (1 + time | id) random intercept "
                       "and slope,\n(time || id) uncorrelated. Run 'lmmflow COMMAND --help' for each command.")
    p.add_argument("--version", action="version", version=f"lmmflow {__version__}")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks instead of one-line errors")
    subs = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = _sub(subs, "tutorial", "run the nine-step tutorial on simulated data",
             "Simulate growth data with known parameters (intercept 50, slope 2, intercept SD 10, slope SD 1,\n"
             "intercept-slope covariance -2, residual SD 5), run the whole workflow on it and write a report:\n"
             "report.html (one self-contained file), summary.txt/.md, the figures, blups.csv, fixed_effects.csv,\n"
             "the simulated data.csv and explorer.html (an interactive look at the fitted model).",
             "  lmmflow tutorial --out tutorial_out\n"
             "  lmmflow tutorial --out small --units 50 --waves 4 --seed 7\n")
    t.add_argument("--out", default="tutorial_out", metavar="DIR",
                   help="output folder (default: %(default)s); new, empty, or one lmmflow wrote before")
    t.add_argument("--seed", type=int, default=TUTORIAL_SEED,
                   help="random seed (default: %(default)s, a typical sample; try 2024 for one where the slope "
                        "variance is hard to detect)")
    t.add_argument("--units", type=int, default=200, help="number of simulated units (default: %(default)s)")
    t.add_argument("--waves", type=int, default=5, help="waves per unit, at times 0, 1, ... (default: %(default)s)")
    t.add_argument("--no-explorer", action="store_true", help="do not write explorer.html")

    f = _sub(subs, "fit", "fit one model and print its summary",
             "Fit a linear mixed model to long-format data (CSV or Parquet; one row per unit and occasion)\n"
             "and print lme4's summary with lmerTest's df and p-values.",
             "  lmmflow fit data.csv \"y ~ time + (1 + time | id)\"\n"
             "  lmmflow fit data.csv \"y ~ time + (1 | id)\" --ml --ddf kenward-roger\n"
             "  lmmflow fit data.csv \"passed ~ time + (1 | id)\" --family binomial --link probit --nagq 1\n")
    f.add_argument("data", help="CSV or Parquet file in long format")
    f.add_argument("formula", help="lme4 formula, e.g. \"y ~ time + (1 + time | id)\"")
    f.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    f.add_argument("--ddf", default="satterthwaite", choices=["satterthwaite", "kenward-roger", "residual", "none"],
                   help="degrees of freedom of the t tests (default: %(default)s)")
    _glmm_args(f)

    r = _sub(subs, "report", "run the workflow on your data and write a report",
             "Check the data, plot the trajectories, fit the model and a nested comparison model (by default\n"
             "the random-intercept model), test them against each other, draw diagnostics, interpret the\n"
             "estimates and write report.html, summary.txt/.md, figures, blups.csv and fixed_effects.csv.\n\n"
             "Wide data (one row per unit, one column per wave) is reshaped with --wide: --waves maps each\n"
             "column to its time, so unequal spacing is kept (\"m0=0,m1=1,m3=3,m6=6\" gives a slope per month).",
             "  lmmflow report data.csv --formula \"y ~ time + (1 + time | id)\" --out report\n"
             "  lmmflow report wide.csv --formula \"y ~ time + (1 + time | id)\" --wide --id id \\\n"
             "      --waves \"y1=0,y2=1,y3=3,y4=6\" --out report\n"
             "  lmmflow report d.csv --formula \"score ~ wave + (wave | person)\" \\\n"
             "      --compare \"score ~ wave + (1 | person)\" --out rep --formats html,txt\n"
             "  lmmflow report d.csv --formula \"passed ~ time + (1 + time | id)\" --family binomial --out rep\n"
             "  lmmflow report d.csv --formula \"visits ~ time + (1 | id)\" --family poisson --out rep\n")
    r.add_argument("data", help="CSV or Parquet file, long format (one row per unit and occasion) or wide with --wide")
    r.add_argument("--formula", required=True, help="the main model, e.g. \"y ~ time + (1 + time | id)\"")
    r.add_argument("--compare", help="nested model to compare with (default: the random-intercept model)")
    r.add_argument("--no-compare", action="store_true", help="skip the model comparison")
    r.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: new, empty, or one lmmflow wrote before (never one holding other files)")
    r.add_argument("--time", help="time column (default: taken from the formula)")
    r.add_argument("--unit", help="unit column (default: the grouping factor of the formula)")
    r.add_argument("--wide", action="store_true", help="the data has one row per unit and one column per wave")
    r.add_argument("--id", dest="id_col", help="with --wide: the unit column")
    r.add_argument("--waves", help="with --wide: columns and their times, \"y1=0,y2=1,y3=3\" "
                                   "(or \"y1,y2,y3\" for 0,1,2)")
    r.add_argument("--title", help="report title (default: \"Linear mixed model report\", or \"Generalized ...\" "
                                   "with --family)")
    r.add_argument("--level", type=float, default=0.95, help="confidence level (default: %(default)s)")
    r.add_argument("--ddf", default="satterthwaite", choices=["satterthwaite", "kenward-roger", "residual", "none"],
                   help="degrees of freedom of the t tests (default: %(default)s)")
    r.add_argument("--formats", default="html,md,txt", help="documents to write (default: %(default)s)")
    r.add_argument("--seed", type=int, help="seed for the units drawn in the trajectory plot")
    r.add_argument("--no-figures", action="store_true", help="numbers and text only (faster)")
    _glmm_args(r)
    r.add_argument("--design", default="auto", choices=["auto", "waves", "times", "grouped", "crossed"],
                   help="the design: longitudinal on shared waves, at unit-specific times, grouped without time, "
                        "or crossed grouping factors (default: read from the data)")

    s = _sub(subs, "simulate", "simulate growth data with known parameters",
             "Simulate long-format growth data: y = (intercept + u0) + (slope + u1) * time + e, with (u0, u1)\n"
             "normal with variances tau00, tau11 and covariance tau01, and e normal with SD sigma.",
             "  lmmflow simulate --out sim.csv\n"
             "  lmmflow simulate --out sim.csv --units 500 --times 0,1,2,4,8 --slope 1.5 --seed 3\n")
    s.add_argument("--out", required=True, metavar="FILE", help="CSV (or .parquet) file to write")
    s.add_argument("--units", type=int, default=200, help="number of units (default: %(default)s)")
    s.add_argument("--times", default="0,1,2,3,4", help="measurement times (default: %(default)s)")
    for name, default, what in [("intercept", 50.0, "mean intercept"), ("slope", 2.0, "mean slope"),
                                ("tau00", 100.0, "intercept variance"), ("tau11", 1.0, "slope variance"),
                                ("tau01", -2.0, "intercept-slope covariance"), ("sigma", 5.0, "residual SD")]:
        s.add_argument(f"--{name}", type=float, default=default, help=f"{what} (default: %(default)s)")
    s.add_argument("--seed", type=int, help="random seed")

    e = _sub(subs, "explore", "write the interactive random-effects explorer",
             "Write a self-contained HTML page to explore how intercept and slope variances, their correlation\n"
             "and the residual SD shape trajectories; with --model it opens on a model fitted to your data.",
             "  lmmflow explore --out explorer.html\n"
             "  lmmflow explore --model data.csv --formula \"y ~ time + (1 + time | id)\" --out explorer.html\n")
    e.add_argument("--model", metavar="DATA", help="data file to fit --formula to")
    e.add_argument("--formula", help="formula of the model to open on (with --model)")
    e.add_argument("--out", required=True, metavar="FILE", help="HTML file to write")
    return p


# ---- helpers -----------------------------------------------------------------------------------------------
def parse_waves(spec: str) -> dict[str, float]:
    """``"w1=0,w2=1,w3=3"`` -> ``{"w1": 0.0, "w2": 1.0, "w3": 3.0}``; ``"a,b,c"`` -> times 0, 1, 2.

    Examples
    --------
    >>> parse_waves("y1=0, y2=1.5")
    {'y1': 0.0, 'y2': 1.5}
    >>> parse_waves("a,b")
    {'a': 0.0, 'b': 1.0}
    """
    items = [x.strip() for x in spec.split(",") if x.strip()]
    if not items:
        raise CliError(f"--waves {spec!r} is empty: write e.g. \"y1=0,y2=1,y3=3\"")
    out: dict[str, float] = {}
    for i, item in enumerate(items):
        if "=" in item:
            col, _, val = item.partition("=")
            try:
                out[col.strip()] = float(val)
            except ValueError:
                raise CliError(f"--waves: time {val.strip()!r} of column {col.strip()!r} is not a number") from None
        else:
            out[item] = float(i)
    return out


def _parse_times(spec: str) -> list[float]:
    try:
        vals = [float(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        raise CliError(f"--times {spec!r}: give numbers separated by commas, e.g. 0,1,2,4") from None
    if len(vals) < 2:
        raise CliError("--times needs at least two times, e.g. 0,1,2")
    return [int(v) if v.is_integer() else v for v in vals]


def _read(path: str) -> Any:
    from .reporting.workflow import load_data

    return load_data(path)


def _say(msg: str) -> None:
    print(msg, flush=True)


def _note(msg: str) -> None:
    print(f"{PROG}: note: {msg}", file=sys.stderr, flush=True)


def _wide_to_long(df: Any, formula: str, id_col: str | None, waves: str | None,
                  time: str | None) -> tuple[Any, str]:
    """Reshape wide data for ``formula``: the response and time columns get the formula's names.

    Returns the long frame and the arguments of the same :func:`lmmflow.wide_to_long` call as Python source
    (for the report's "Reproduce" section).
    """
    from . import wide_to_long
    from .formula import parse_formula
    from .reporting.workflow import suggest_waves, wide_columns

    parsed = parse_formula(formula)
    if id_col is None:
        raise CliError("--wide needs --id, the column that identifies the units")
    if id_col not in df.columns:
        raise CliError(f"--id {id_col!r} is not a column of the data; columns are {list(df.columns)[:12]}")
    if waves:
        mapping = parse_waves(waves)
    else:
        cols = wide_columns(df, stem=parsed.response)
        if not cols:
            raise CliError("--wide: give --waves \"col1=0,col2=1,...\" (no numbered wave columns found)")
        mapping = suggest_waves(cols)
        _note("using waves " + ",".join(f"{c}={v:g}" for c, v in mapping.items()) + " (set them with --waves)")
    missing = [c for c in mapping if c not in df.columns]
    if missing:
        raise CliError(f"--waves column(s) {missing} are not in the data; columns are {list(df.columns)[:12]}")
    if time is None:
        names = re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", parsed.fixed + " " + " ".join(t.expr for t in parsed.random))
        time = next((n for n in names if n not in df.columns and n != parsed.response), "time")
    with warnings.catch_warnings(record=True) as caught:  # missed waves: one note line, not a warning dump
        warnings.simplefilter("always")
        long = wide_to_long(df, id_col=id_col, wave_cols=mapping, value_name=parsed.response, time_name=time)
    _emit_warnings(caught)
    wave_cols = {c: int(v) if float(v).is_integer() else v for c, v in mapping.items()}
    call = f"id_col={id_col!r}, wave_cols={wave_cols!r}, value_name={parsed.response!r}, time_name={time!r}"
    return long, call


def _fit(formula: str, df: Any, reml: bool = True) -> Any:
    """``lmer(formula, df)``; a failure caused by wave labels in a random slope says so."""
    from .reporting.workflow import fit_with_time_hint

    return fit_with_time_hint(formula, df, reml=reml)


def _out_dir(path: str) -> Path:
    """The output folder ``path``, checked before any work: a clear error when a file is in the way or when the
    folder holds files lmmflow did not write (it never overwrites those; see
    :func:`lmmflow.reporting.output.check_output_folder`)."""
    from .reporting.output import check_output_folder

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {path!r} is a file; give a folder name (it is created if needed)")
    try:
        check_output_folder(out)
    except FileExistsError as exc:
        raise CliError(f"--out {str(exc).removeprefix('output folder ')}") from None
    return out


def _emit_warnings(caught: Sequence[warnings.WarningMessage]) -> None:
    for w in caught:
        _note(str(w.message).splitlines()[0])


# ---- commands ----------------------------------------------------------------------------------------------
def cmd_tutorial(a: argparse.Namespace) -> int:
    """The nine steps on simulated data."""
    from . import simulate_growth
    from .reporting import report

    if a.units < 3:
        raise CliError("--units must be at least 3")
    if a.waves < 3:
        raise CliError("--waves must be at least 3 for a random-slope model")
    if a.units > TUTORIAL_MAX_UNITS or a.units * a.waves > TUTORIAL_MAX_ROWS:
        raise CliError(f"--units {a.units:,} x --waves {a.waves} is {a.units * a.waves:,} rows; the tutorial draws "
                       f"every figure and stops at {TUTORIAL_MAX_UNITS:,} units and {TUTORIAL_MAX_ROWS:,} rows: "
                       "for large data write it with 'lmmflow simulate' and fit it with lf.lmer or lmmflow.scale")
    t0 = _time.perf_counter()
    out = _out_dir(a.out)
    _say(f"lmmflow tutorial: {a.units} units x {a.waves} waves, seed {a.seed} -> {out}/")
    data = simulate_growth(n_units=a.units, times=tuple(range(a.waves)), seed=a.seed)
    _say(f"  1-2  simulated {len(data):,} rows (true values: intercept 50, slope 2, SDs 10 and 1, r = -.20, "
         "residual SD 5) -> data.csv")
    rep = report(data, TUTORIAL_FORMULA, compare=TUTORIAL_COMPARE, title="lmmflow tutorial: growth of 'y' over time",
                 seed=a.seed)
    _say(f"  3-9  fitted {TUTORIAL_COMPARE} and {TUTORIAL_FORMULA}; compared, checked and interpreted them")
    rep.values["source"] = "data.csv"  # written next to report.html
    from .reporting.output import staged_folder

    with staged_folder(out) as tmp:  # all or nothing: an interrupted run leaves the previous folder (or none)
        data.to_csv(tmp / "data.csv", index=False)
        staged = rep.write_into(tmp)
        if not a.no_explorer:
            try:
                from . import write_explorer

                write_explorer(tmp / "explorer.html", model=rep.models["main"])
                staged["explorer.html"] = tmp / "explorer.html"
            except (ImportError, AttributeError) as exc:
                _note(f"explorer.html not written: {exc}")
    files = {k: out / p.relative_to(tmp) for k, p in staged.items()}
    rep.files.update(files)
    for note in rep.notes:
        _note(note)
    _say(f"  wrote {len(files) + 1} files: " + ", ".join(sorted(p.name for p in files.values())) + ", data.csv")
    _say("")
    for par in rep.paragraphs:
        _say(par)
        _say("")
    _say(f"Open {out / 'report.html'} in a browser. Done in {_time.perf_counter() - t0:.1f} s.")
    return 0


def _glmm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--family", help="binary or count outcome: binomial or poisson (a GLMM, as lme4's glmer; "
                                    "default: gaussian, a linear mixed model)")
    p.add_argument("--link", help="with --family: logit, probit or cloglog (binomial); log (poisson)")
    p.add_argument("--nagq", type=int, help="with --family: 1 Laplace (default), >1 adaptive Gauss-Hermite points "
                                           "(one scalar random effect), 0 the fast approximation")


def _glmm_family(a: argparse.Namespace) -> Any:
    """The family of --family/--link/--nagq (None for a linear mixed model); a bad one fails in one line."""
    fam = (a.family or "gaussian").strip().lower()
    if fam == "gaussian":
        if a.link not in (None, "identity") or a.nagq is not None:
            raise CliError("--link and --nagq are for a GLMM: add --family binomial or --family poisson")
        return None
    from .glmm_api import make_family

    family = make_family(fam, a.link)  # ValueError naming the families or links on offer
    if a.nagq is not None and a.nagq < 0:
        raise CliError(f"--nagq must be 0, 1 or more quadrature points, got {a.nagq}")
    if getattr(a, "ddf", "satterthwaite") != "satterthwaite":
        raise CliError(f"--ddf {a.ddf} does not apply to a GLMM: its fixed effects are tested with Wald z tests")
    if getattr(a, "ml", False):
        raise CliError("--ml does not apply to a GLMM: glmer always fits by maximum likelihood")
    return family


def _check_glmm_columns(df: Any, formula: str) -> None:
    from .reporting.glmm_report import _check_columns

    _check_columns(df, formula)


def cmd_fit(a: argparse.Namespace) -> int:
    """Fit one model and print its summary."""
    from .reporting.workflow import check_long_format

    family = _glmm_family(a)
    df = _read(a.data)
    if family is not None:
        from . import glmer

        _check_glmm_columns(df, a.formula)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            g = glmer(a.formula, df, family=family, nagq=1 if a.nagq is None else a.nagq)
            text = str(g.summary())
        _say(text)
        _emit_warnings(caught)
        return 0
    check_long_format(df, a.formula, hint="cli")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = _fit(a.formula, df, reml=not a.ml)
        text = str(m.summary(ddf=a.ddf))
    _say(text)
    _emit_warnings(caught)
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    """Run the workflow on the user's data."""
    from .reporting import report

    if a.compare and a.no_compare:
        raise CliError("--compare and --no-compare exclude each other")
    formats = tuple(f.strip() for f in a.formats.split(",") if f.strip())
    bad = [f for f in formats if f not in ("html", "md", "txt")]
    if bad or not formats:
        raise CliError(f"--formats: choose from html, md, txt (got {a.formats!r})")
    if not (0 < a.level < 1):
        raise CliError(f"--level must be between 0 and 1, got {a.level}")
    family = _glmm_family(a)
    _out_dir(a.out)
    df = _read(a.data)
    reshape = None
    if a.wide:
        df, reshape = _wide_to_long(df, a.formula, a.id_col, a.waves, a.time)
    elif a.waves or a.id_col:
        raise CliError("--id and --waves go with --wide (data with one row per unit)")
    from .reporting.workflow import check_long_format

    if family is None:
        check_long_format(df, a.formula, hint="cli")
    else:
        _check_glmm_columns(df, a.formula)
    compare = False if a.no_compare else a.compare
    glmm = {} if family is None else {"family": family, "nagq": 1 if a.nagq is None else a.nagq}
    title = a.title or ("Linear mixed model report" if family is None else "Generalized linear mixed model report")
    t0 = _time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        unit = a.unit or (a.id_col if a.wide else None)
        rep = report(df, a.formula, compare=compare, time=a.time, unit=unit,
                     title=title, level=a.level, seed=a.seed, formats=formats, ddf=a.ddf,
                     figures=not a.no_figures, design=a.design, **glmm)
    rep.values["source"], rep.values["reshape"] = a.data, reshape
    rep.write(_out_dir(a.out), formats)
    _emit_warnings([w for w in caught if "df not available" not in str(w.message)])
    for note in rep.notes:
        _note(note)
    for par in rep.paragraphs:
        _say(par)
        _say("")
    _say(f"Wrote {len(rep.files)} files to {a.out}/ in {_time.perf_counter() - t0:.1f} s: "
         + ", ".join(sorted(p.name for p in rep.files.values())))
    return 0


def cmd_simulate(a: argparse.Namespace) -> int:
    """Simulate growth data to a file."""
    from . import simulate_growth

    if a.units < 1:
        raise CliError("--units must be positive")
    data = simulate_growth(n_units=a.units, times=tuple(_parse_times(a.times)), intercept=a.intercept, slope=a.slope,
                           tau00=a.tau00, tau11=a.tau11, tau01=a.tau01, sigma=a.sigma, seed=a.seed)
    out = Path(a.out)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        data.to_parquet(out, index=False)
    else:
        data.to_csv(out, index=False)
    _say(f"wrote {len(data):,} rows ({a.units} units x {len(_parse_times(a.times))} times) to {out}")
    return 0


def cmd_explore(a: argparse.Namespace) -> int:
    """Write the explorer, optionally opened on a fitted model."""
    from . import write_explorer

    model = None
    if bool(a.model) != bool(a.formula):
        raise CliError("--model and --formula go together: --model data.csv --formula \"y ~ time + (1 + time | id)\"")
    if a.model:
        from .reporting.workflow import check_long_format

        df = _read(a.model)
        check_long_format(df, a.formula, hint="cli")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = _fit(a.formula, df)
    write_explorer(a.out, model=model)
    _say(f"wrote {a.out}" + (f" (opened on {a.formula})" if model is not None else ""))
    return 0


COMMANDS = {"tutorial": cmd_tutorial, "fit": cmd_fit, "report": cmd_report, "simulate": cmd_simulate,
            "explore": cmd_explore}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, KeyError) and text.startswith("'"):
        text = f"column or key {text} not found"
    if isinstance(exc, FileNotFoundError) and exc.filename and str(exc.filename) not in text:
        text = f"file not found: {exc.filename}"
    return text or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lmmflow`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 success, 1 bad input or a failed fit, 2 a wrong command line.

    Examples
    --------
    >>> main(["simulate", "--out", "/tmp/lmmflow_doc_sim.csv", "--units", "10", "--seed", "1"])  # doctest: +SKIP
    wrote 50 rows (10 units x 5 times) to /tmp/lmmflow_doc_sim.csv
    0
    """
    from .design import DataError
    from .formula import FormulaError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    debug = args.debug or os.environ.get("LMMFLOW_DEBUG") == "1"
    try:
        return COMMANDS[args.command](args)
    except (CliError, DataError, FormulaError, ValueError, FileNotFoundError, KeyError, OSError, ImportError,
            ArithmeticError, RuntimeError, TypeError) as exc:
        if debug:
            raise
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except MemoryError:
        if debug:
            raise
        print(f"{PROG}: error: out of memory: the data (or the model's matrices) are too big for this machine; "
              "use fewer rows or units, or fit with lmmflow.scale (Dask)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (nothing half-written was left in the output folder)", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, never a traceback
        if debug:
            raise
        print(f"{PROG}: error: {type(exc).__name__}: {_one_line(exc)} (an unexpected failure: rerun with --debug "
              "for the traceback and please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
