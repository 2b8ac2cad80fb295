"""The console table and ``docs/benchmarks.md``, built from :class:`RunResult` records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .adapters import LIBS
from .adapters.base import CANNOT_EXPRESS, ERROR, MISSING, OK, TIMEOUT, UNSUPPORTED, RunResult
from .problems import PROBLEMS, Problem

DASH = "—"
_STATUS_TEXT = {TIMEOUT: "timed out", ERROR: "error", CANNOT_EXPRESS: "cannot express",
                UNSUPPORTED: "unsupported", MISSING: "no data"}

Index = dict[tuple[str, str], RunResult]


def index(results: Sequence[RunResult]) -> Index:
    """Records keyed by ``(problem, lib)`` (the last one wins)."""
    return {(r.problem, r.lib): r for r in results}


def fmt_seconds(seconds: float | None) -> str:
    """``7.2 ms``, ``1.30 s``, ``123 s``; a dash for ``None``."""
    if seconds is None:
        return DASH
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"


def fmt_mb(mb: float | None) -> str:
    """MiB with a precision that suits the size; a dash for ``None``."""
    if mb is None:
        return DASH
    return f"{mb:.2f}" if mb < 10 else f"{mb:.0f}"


def fmt_objective(value: float | None) -> str:
    """An objective to four decimals, or a dash."""
    return DASH if value is None else f"{value:.4f}"


def time_cell(r: RunResult | None) -> str:
    """Fit time of a record, or what happened instead; ``*`` marks a subsample, ``†`` a reused figure."""
    if r is None:
        return DASH
    if r.status != OK:
        text = _STATUS_TEXT.get(r.status, r.status)
        return f"{text} after {r.note.split('after ')[-1]}" if r.status == TIMEOUT else text
    marks = ("*" if r.subsample < 1 else "") + ("†" if r.reused_from else "")
    return fmt_seconds(r.seconds) + marks


def comparable(a: RunResult | None, b: RunResult | None) -> bool:
    """Both fitted successfully, on the same rows (no subsample, same count)."""
    return (a is not None and b is not None and a.status == OK and b.status == OK and a.subsample == 1
            and b.subsample == 1 and a.nobs == b.nobs)


def ratio(num: RunResult | None, den: RunResult | None) -> str:
    """``num`` time over ``den`` time, as ``12.3x``, when :func:`comparable`."""
    if not comparable(num, den) or not den.seconds:  # type: ignore[union-attr]
        return DASH
    return f"{num.seconds / den.seconds:.1f}x"  # type: ignore[union-attr,operator]


def difference(a: RunResult | None, b: RunResult | None) -> str:
    """``a`` objective minus ``b`` objective, when :func:`comparable`."""
    if not comparable(a, b) or a.objective is None or b.objective is None:  # type: ignore[union-attr]
        return DASH
    return f"{a.objective - b.objective:+.2e}"  # type: ignore[union-attr,operator]


def timing_text(r: RunResult | None) -> str:
    """How the headline time of a record was obtained."""
    if r is None or r.status != OK:
        return DASH
    if r.kind == "warm":
        return f"median of {len(r.times)} warm fits"
    if len(r.times) > 1:
        return f"median of {len(r.times)} fresh processes (min {fmt_seconds(min(r.times))})"
    return "1 cold fit"


def load_text(r: RunResult | None) -> str:
    """The 1-minute load average when a record's measurement started (the machine may be shared)."""
    load = (r.extra.get("loadavg_1min") or [None])[0] if r is not None else None
    return DASH if load is None else f"{load:.1f}"


LABELS = {"lmmflow": "lmmflow", "lme4": "lme4", "glmmtmb": "glmmTMB", "statsmodels": "statsmodels"}
"""How each library is named in the tables."""
REFERENCES = ("lme4", "glmmtmb", "statsmodels")
"""The libraries lmmflow is compared with, in column order."""


def _problems(results: Sequence[RunResult]) -> list[Problem]:
    names = dict.fromkeys(r.problem for r in results)
    return [PROBLEMS[n] for n in names if n in PROBLEMS]


def _libs(results: Sequence[RunResult]) -> list[str]:
    """The reference libraries that appear in ``results`` (any status), in column order."""
    present = {r.lib for r in results}
    return [lib for lib in REFERENCES if lib in present]


def _nobs(idx: Index, name: str) -> str:
    for lib in LIBS:
        r = idx.get((name, lib))
        if r is not None and r.status == OK and r.nobs and r.subsample == 1:
            return f"{r.nobs:,}"
    return DASH


def time_rows(results: Sequence[RunResult]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the fit-time table: a column and a ratio to lmmflow per library that was run."""
    idx = index(results)
    libs = _libs(results)
    head = ["problem", "rows", "lmmflow", *(LABELS[lib] for lib in libs),
            *(f"{LABELS[lib]} / lmmflow" for lib in libs), "timing (lmmflow)",
            "load " + " / ".join(LABELS[lib] for lib in ("lmmflow", *libs) if lib != "statsmodels")]
    rows = []
    for p in _problems(results):
        lf = idx.get((p.name, "lmmflow"))
        refs = [idx.get((p.name, lib)) for lib in libs]
        loads = [load_text(idx.get((p.name, lib))) for lib in ("lmmflow", *libs) if lib != "statsmodels"]
        rows.append([p.name, _nobs(idx, p.name), time_cell(lf), *(time_cell(r) for r in refs),
                     *(ratio(r, lf) for r in refs), timing_text(lf), " / ".join(loads)])
    return head, rows


def _objective_cell(r: RunResult | None) -> str:
    if r is None or r.status != OK:
        return DASH
    return fmt_objective(r.objective) + ("*" if r.subsample < 1 else "")


def objective_rows(results: Sequence[RunResult]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the objective table: lmmflow minus lme4 and minus glmmTMB; statsmodels minus lme4."""
    idx = index(results)
    libs = _libs(results)
    head = ["problem", "criterion", "lmmflow"]
    for lib in libs:
        head += [LABELS[lib], "statsmodels − lme4" if lib == "statsmodels" else f"lmmflow − {LABELS[lib]}"]
    rows = []
    for p in _problems(results):
        lf = idx.get((p.name, "lmmflow"))
        row = [p.name, p.criterion, _objective_cell(lf)]
        for lib in libs:
            r = idx.get((p.name, lib))
            diff = difference(r, idx.get((p.name, "lme4"))) if lib == "statsmodels" else difference(lf, r)
            row += [_objective_cell(r), diff]
        rows.append(row)
    return head, rows


def _increment_share(r: RunResult | None) -> str:
    if r is None or r.status != OK or r.fit_increment_mb is None or not r.data_mb:
        return DASH
    return f"{r.fit_increment_mb / r.data_mb:.1f}x"


def _get(r: RunResult | None, attr: str) -> str:
    return fmt_mb(getattr(r, attr)) if r is not None and r.status == OK else DASH


def memory_rows(results: Sequence[RunResult]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the memory table (MiB): per R library its data.frame, fit peak and process peak."""
    idx = index(results)
    r_libs = [lib for lib in _libs(results) if lib != "statsmodels"]
    head = ["problem", "data frame (pandas)", "lmmflow fit peak − loaded", "÷ data", "lmmflow process peak",
            "data.frame (R)"]
    for lib in r_libs:
        head += [f"{LABELS[lib]} fit peak − loaded", "÷ data", f"{LABELS[lib]} process peak"]
    if "statsmodels" in _libs(results):
        head.append("statsmodels process peak")
    rows = []
    for p in _problems(results):
        lf, sm = idx.get((p.name, "lmmflow")), idx.get((p.name, "statsmodels"))
        pandas_mb = next((_get(r, "data_mb") for r in (lf, sm) if r is not None and r.status == OK and
                          r.subsample == 1), DASH)
        r_frame = next((_get(r, "data_mb") for r in (idx.get((p.name, lib)) for lib in r_libs)
                        if r is not None and r.status == OK), DASH)
        row = [p.name, pandas_mb, _get(lf, "fit_increment_mb"), _increment_share(lf), _get(lf, "process_peak_mb"),
               r_frame]
        for lib in r_libs:
            r = idx.get((p.name, lib))
            row += [_get(r, "fit_increment_mb"), _increment_share(r), _get(r, "process_peak_mb")]
        if "statsmodels" in _libs(results):
            row.append(_get(sm, "process_peak_mb") + ("*" if sm is not None and sm.status == OK and sm.subsample < 1
                                                      else ""))
        rows.append(row)
    return head, rows


def _record_notes(r: RunResult) -> list[str]:
    """What a reader needs to know about one record: failures, subsamples, reused figures, warnings."""
    label = LABELS.get(r.lib, r.lib)
    if r.status != OK:
        reused = f" (reused from {r.reused_from}, measured {r.measured_at})" if r.reused_from else ""
        return [f"{label}: {_STATUS_TEXT.get(r.status, r.status)}" + (f": {r.note}" if r.note else "") + reused]
    lines = []
    if r.note:
        lines.append(f"{label}: {r.note}")
    if r.reused_from:
        lines.append(f"{label}: reused from {r.reused_from}, measured {r.measured_at}")
    if r.warnings:
        lines.append(f"{label} warnings: " + "; ".join(w.strip() for w in r.warnings))
    if r.converged is False and not r.warnings:
        lines.append(f"{label}: the library reports no convergence")
    return lines


OBJECTIVE_RTOL = 1e-7
"""Relative tolerance of "an objective no worse than lme4's" in :func:`target_text`."""


def target_text(p: Problem, idx: Index) -> str | None:
    """Whether a problem with a speed target (``options["target_vs_lme4"]``) met it in this run.

    The target is met when lme4's time over lmmflow's is at least the target and lmmflow's objective is not
    above lme4's by more than :data:`OBJECTIVE_RTOL` relative.

    Parameters
    ----------
    p : Problem
    idx : dict
        Records by ``(problem, lib)``.

    Returns
    -------
    str or None
        ``None`` for a problem without a target.
    """
    target = p.options.get("target_vs_lme4")
    if target is None:
        return None
    lf, r4 = idx.get((p.name, "lmmflow")), idx.get((p.name, "lme4"))
    head = f"target lme4 / lmmflow ≥ {float(target):g}x with a {p.criterion} no worse than lme4's"  # type: ignore[arg-type]
    if not comparable(lf, r4) or not lf.seconds or r4.objective is None or lf.objective is None:  # type: ignore[union-attr]
        return f"{head}: not measured in this run"
    speed = r4.seconds / lf.seconds  # type: ignore[union-attr,operator]
    diff = lf.objective - r4.objective  # type: ignore[union-attr]
    ok = speed >= float(target) and diff <= OBJECTIVE_RTOL * abs(r4.objective)  # type: ignore[arg-type,union-attr]
    return f"{head}: {'met' if ok else 'NOT met'} ({speed:.1f}x, lmmflow − lme4 = {diff:+.2e})"


def problem_notes(results: Sequence[RunResult]) -> dict[str, list[str]]:
    """Notes per problem: the registry's note, whether a speed target was met, then one line per record that
    needs explaining."""
    out: dict[str, list[str]] = {}
    idx = index(results)
    for p in _problems(results):
        lines = [p.note] if p.note else []
        target = target_text(p, idx)
        if target is not None:
            lines.append(target)
        for lib in LIBS:
            lines += [n for r in results if r.problem == p.name and r.lib == lib for n in _record_notes(r)]
        if lines:
            out[p.name] = lines
    return out


def notes(results: Sequence[RunResult]) -> list[str]:
    """The notes of :func:`problem_notes` as one flat list, each line prefixed with its problem."""
    return [f"{name} / {line}" for name, lines in problem_notes(results).items() for line in lines]


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(head), "| " + " | ".join("---" for _ in head) + " |", *(line(r) for r in rows)])


def text_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with aligned columns, for the console."""
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*r) for r in rows)])


def console(results: Sequence[RunResult]) -> str:
    """Time, objective and memory tables and the notes, as plain text."""
    parts = []
    for title, build in (("Fit time", time_rows), ("Objective", objective_rows), ("Memory (MiB)", memory_rows)):
        parts.append(f"{title}\n{text_table(*build(results))}")
    extra = notes(results)
    if extra:
        parts.append("Notes\n" + "\n".join("- " + n for n in extra))
    return "\n\n".join(parts)


def _machine_lines(machine: dict[str, Any]) -> list[str]:
    threads = machine.get("threads_env") or {}
    return [
        f"- CPU: {machine.get('cpu_model', '?')}; `nproc` {machine.get('nproc', '?')}; "
        f"memory {machine.get('memory_gib', '?')} GiB; {machine.get('os', '')}",
        f"- load average when the run started: {machine.get('loadavg_at_start', '?')} "
        "(the machine is shared; other work running at the same time slows every library)",
        f"- Python {machine.get('python', '?')}, numpy {machine.get('numpy', '?')} "
        f"({machine.get('numpy_blas') or 'BLAS unknown'}), scipy {machine.get('scipy', '?')}, "
        f"pandas {machine.get('pandas', '?')}, statsmodels {machine.get('statsmodels', '?')}",
        f"- lmmflow {machine.get('lmmflow', '?')} at commit `{machine.get('lmmflow_commit') or '?'}`",
        f"- {machine.get('r_version', 'R: not found')}, lme4 {machine.get('lme4_version', '?')}, "
        + (f"glmmTMB {machine['glmmtmb_version']}, " if machine.get("glmmtmb_version") else "")
        + f"R's BLAS {machine.get('r_blas', '?')}",
        "- thread settings: " + (", ".join(f"{k}={v}" for k, v in threads.items()) or "library defaults"),
    ]


def _problem_lines(results: Sequence[RunResult]) -> list[str]:
    lines = []
    for p in _problems(results):
        quick = any(r.quick for r in results if r.problem == p.name)
        lines.append(f"- `{p.name}`: `{p.formula}`, {'REML' if p.reml else 'ML'}; {p.description}; data "
                     f"`{p.dataset.file(quick).name}`{' (quick: scale 0.1)' if quick and p.dataset.quick_path else ''}"
                     f"; factors: {', '.join(p.categorical) or 'none'}")
    return lines


METHODS = """\
- **Fit time**: wall seconds of the fit call alone, with the data already in memory (reading the CSV is timed
  separately and reported in `benchmarks/results/latest.json` as `load_seconds`). `fit` problems: one cold fit
  per fresh process (Python worker or `Rscript`), median over `--repeat` processes. `warm` problems: a warm-up
  fit, then the median of repeated fits in the same process (Python `time.perf_counter`; R `Sys.time`
  differences, since `system.time` has a 1 ms resolution). lme4's time is measured inside R around `lmer()`,
  glmmTMB's around `glmmTMB()` (its default call, which includes the `sdreport` of standard errors).
- **Load**: the 1-minute load average when each measurement started; above the number of cores, other work
  shared the CPUs and the time is inflated.
- **Objective**: lme4's scale: `REMLcrit(m)` for REML, `deviance(m)` for ML; lmmflow `m.objective`;
  glmmTMB `2 * m$fit$objective` (its negative log-likelihood, restricted for `REML = TRUE`: the same scale
  as lme4's, checked on sleepstudy in `benchmarks/tests`); statsmodels `-2 * llf`. Differences are shown only
  when both fits used the same rows.
- **Memory** (MiB): each fit runs in a fresh process that first imports its library and loads the data. The
  kernel's RSS high-water mark is then reset (`/proc/self/clear_refs`) and read after the fit (`VmHWM`);
  "fit peak − loaded" is that peak minus the RSS just before the fit, i.e. what the fit itself needed on top
  of the data; "÷ data" divides it by the in-memory size of the data frame (pandas
  `memory_usage(deep=True)` with factors as `category`; R `object.size` of the `data.frame`). "Process
  peak" is the whole process (interpreter, libraries, data, fit): `getrusage(RUSAGE_SELF).ru_maxrss` in the
  Python worker, `/usr/bin/time -v` around `Rscript`.
- `*` marks a figure on a subsample (statsmodels on large data: a random tenth of the groups, so the same
  model on fewer rows; its time and objective are not comparable and no ratio is given).
  `†` marks an lme4 or glmmTMB figure reused from `benchmarks/results/lme4_baseline.json` or
  `glmmtmb_baseline.json` (see the notes for when it was measured).
- **cannot express**: the library has no way to write the model (lme4 1.1 has no `ar1()`/`cs()` terms;
  statsmodels' MixedLM has one grouping factor and unstructured covariances), so nothing was run."""


def render_markdown(results: Sequence[RunResult], machine: dict[str, Any], command: str, generated_at: str,
                    remarks: Sequence[str] = ()) -> str:
    """The whole ``docs/benchmarks.md``.

    Parameters
    ----------
    results : sequence of RunResult
    machine : dict
        From :func:`benchmarks.machine.describe`.
    command : str
        The command line that produced the run.
    generated_at : str
        ISO time.
    remarks : sequence of str
        Paragraphs from ``--note``, shown under the tables.

    Returns
    -------
    str
    """
    dates = sorted({r.measured_at[:10] for r in results if r.measured_at})
    quick = any(r.quick for r in results)
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by benchmarks/run.py; edit benchmarks/report.py instead of this file. -->",
        "",
        f"Generated {generated_at} by `{command}`"
        + (f"; figures measured on {', '.join(dates)}" if dates else "") + ".",
    ]
    if quick:
        out += ["", "**Quick run**: the growth and ratings problems use the scale-0.1 data (`benchmarks/data/small`)."]
    out += ["", "## Machine", "", *_machine_lines(machine), "", "## Problems", "", *_problem_lines(results)]
    for title, build in (("Fit time", time_rows), ("Objective", objective_rows), ("Memory (MiB)", memory_rows)):
        out += ["", f"## {title}", "", markdown_table(*build(results))]
    per_problem = problem_notes(results)
    if per_problem or remarks:
        out += ["", "## Notes", "", *(f"{r}\n" for r in remarks)]
        for name, lines in per_problem.items():
            out += [f"### {name}", "", *("- " + n for n in lines), ""]
    commands = sorted({(r.reused_from, r.extra.get("baseline_command", "?")) for r in results if r.reused_from})
    if commands:
        out += ["", "Figures marked † were not measured in this run but read from a saved baseline, measured by:", ""]
        out += [f"- `{cmd}` (into `benchmarks/results/{name}`)" for name, cmd in commands]
    out += ["", "## How it is measured", "", METHODS, "", "## Reproduce", "",
            "```sh",
            "apt-get install -y r-base-core r-cran-lme4 r-cran-glmmtmb   # R: only for the lme4 and glmmTMB columns",
            "python benchmarks/make_crossed.py                  # kb07, kb07_large, nested18k, nested1_8m",
            "python ../shared/bench/make_data.py benchmarks/data",
            "python ../shared/bench/make_data.py benchmarks/data/small --scale 0.1",
            command,
            "```", ""]
    return "\n".join(out)
