"""The result of a power simulation: a table, simr's printout, an HTML table."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["PowerResult"]

METHOD_TEXT = {"satterthwaite": "Satterthwaite {stat} test (package lmerTest)",
               "kr": "Kenward-Roger {stat} test (package pbkrtest)",
               "lrt": "Likelihood ratio (ML refits, as lme4's anova)",
               "custom": "a user-supplied test"}


@dataclass
class PowerResult:
    """Power estimates by simulation, per design (from :func:`lmmflow.power`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per design: ``value`` (the number of units or values along ``along``; None without it),
        ``nobs``, ``n_units``, ``nsim``, ``successes`` (p < alpha), ``failed`` (fits or tests that failed;
        counted as non-rejections, as simr does), ``warnings`` (fits that did not converge or where
        lmerTest would warn about the Hessian), ``singular``, ``power``, ``lower`` / ``upper`` (the
        Clopper-Pearson interval of R's ``binom.test``) and ``errors`` (the failures' messages).
    test : str
        The fixed effect tested (or the callable's name).
    method : str
    alpha, level : float
    along : str or None
    pvalues : dict
        The simulations' p-values per design value (NaN where a fit failed).
    nsim : int
    seed : int or None
    formula : str
    effect : float or None
        The value of the tested coefficient in the simulated model.
    statistic : str
        ``"t"`` (a coefficient) or ``"F"`` (a term of several columns).
    elapsed : float
        Seconds taken.

    Examples
    --------
    >>> import pandas as pd
    >>> r = PowerResult(table=pd.DataFrame([{"value": None, "nobs": 150, "n_units": 30, "nsim": 1000,
    ...     "successes": 832, "failed": 0, "warnings": 0, "singular": 0, "power": 0.832,
    ...     "lower": 0.8071, "upper": 0.8550, "errors": ""}]), test="time", method="satterthwaite",
    ...     alpha=0.05, level=0.95, along=None, nsim=1000)
    >>> print(str(r).splitlines()[1])
          83.20% (80.71, 85.50)
    """

    table: pd.DataFrame
    test: str
    method: str
    alpha: float
    level: float
    along: str | None
    nsim: int
    along_kind: str | None = None
    along_column: str | None = None
    pvalues: dict[Any, np.ndarray] = field(default_factory=dict)
    seed: int | None = None
    formula: str = ""
    effect: float | None = None
    elapsed: float = 0.0
    statistic: str = "t"

    def _method_text(self) -> str:
        return METHOD_TEXT.get(self.method, self.method).format(stat=self.statistic)

    @property
    def power(self) -> float | np.ndarray:
        """The estimated power (a float for one design, an array along a curve)."""
        p = self.table["power"].to_numpy(dtype=float)
        return float(p[0]) if len(p) == 1 else p.copy()

    @property
    def ci(self) -> tuple[float, float] | np.ndarray:
        """The binomial confidence interval(s): ``(lower, upper)``, or an array of them along a curve."""
        ci = self.table[["lower", "upper"]].to_numpy(dtype=float)
        return (float(ci[0, 0]), float(ci[0, 1])) if len(ci) == 1 else ci.copy()

    def to_frame(self) -> pd.DataFrame:
        """The table of results (a copy)."""
        return self.table.copy()

    def _by_text(self) -> str:
        if self.along_kind == "units":
            return f"by number of levels in {self.along_column}"
        return f"by number of values of {self.along_column}"

    def summary(self) -> str:
        """simr's printout: power with its interval, the test, the counts of warnings and errors."""
        pct = int(round(self.level * 100))
        t = self.table
        lines = []
        if self.along is None:
            r = t.iloc[0]
            lines += [f"Power for predictor '{self.test}', ({pct}% confidence interval):",
                      f"      {100 * r.power:.2f}% ({100 * r.lower:.2f}, {100 * r.upper:.2f})", ""]
        else:
            lines += [f"Power for predictor '{self.test}', ({pct}% confidence interval),", f"{self._by_text()}:"]
            width = max(len(str(v)) for v in t["value"])
            for r in t.itertuples():
                lines.append(f"  {str(r.value).rjust(width + 4)}: {100 * r.power:.2f}% ({100 * r.lower:.2f}, "
                             f"{100 * r.upper:.2f}) - {r.nobs} rows")
            lines.append("")
        lines.append(f"Test: {self._method_text()}")
        if self.effect is not None:
            lines.append(f"      Effect size for {self.test} is {self.effect:.4g}")
        lines.append("")
        warn, err, sing = int(t["warnings"].sum()), int(t["failed"].sum()), int(t["singular"].sum())
        total = self.nsim * len(t)
        lines.append(f"Based on {total} simulations, ({warn} warnings, {err} errors; {sing} singular fits)")
        nrow = t["nobs"].iloc[0] if len(t) == 1 else f"{t['nobs'].min()}-{t['nobs'].max()}"
        lines.append(f"alpha = {self.alpha:g}, nrow = {nrow}")
        secs = int(round(self.elapsed))
        lines += ["", f"Time elapsed: {secs // 3600} h {secs // 60 % 60} m {secs % 60} s"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        pct = int(round(self.level * 100))
        test = html.escape(self._method_text())
        head = (f"<p><b>Power for predictor '{html.escape(self.test)}'</b> ({test}, "
                f"alpha = {self.alpha:g}, {self.nsim} simulations per design)</p>")
        cols = (["value"] if self.along is not None else []) + ["nobs", "n_units", "successes", "failed", "warnings",
                                                               "singular"]
        hdr = "".join(f"<th>{html.escape(c)}</th>" for c in cols) + f"<th>power ({pct}% CI)</th>"
        body = []
        for r in self.table.to_dict("records"):
            cells = "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in cols)
            cells += f"<td>{100 * r['power']:.2f}% ({100 * r['lower']:.2f}, {100 * r['upper']:.2f})</td>"
            body.append(f"<tr>{cells}</tr>")
        return f"{head}<table><thead><tr>{hdr}</tr></thead><tbody>{''.join(body)}</tbody></table>"
