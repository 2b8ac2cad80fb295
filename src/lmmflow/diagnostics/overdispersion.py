"""Overdispersion test of a Poisson or binomial GLMM (``performance::check_overdispersion``).

The Pearson chi-square statistic, sum of squared Pearson residuals ``(y - mu) sqrt(w) / sqrt(V(mu))``, is
compared with a chi-square distribution on the residual degrees of freedom (lme4's ``df.residual``: the
number of rows minus the number of parameters).  A dispersion ratio (statistic / df) well above 1 says the
data vary more than the family allows (Gelman & Hill 2007, p. 115; Bolker's GLMM FAQ).  As performance,
binomial models are tested only with trials > 1 (0/1 responses carry no information on overdispersion).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from ..results.base import require_kind

if TYPE_CHECKING:
    from ..results.glmm import GlmerResult

__all__ = ["OverdispersionTest", "check_overdispersion"]


@dataclass(frozen=True, repr=False)
class OverdispersionTest:
    """The result of :func:`check_overdispersion`.

    Attributes
    ----------
    chisq : float
        Pearson's chi-square statistic.
    ratio : float
        The dispersion ratio, ``chisq / df``.
    df : int
        Residual degrees of freedom.
    p_value : float
        Upper-tail chi-square probability.
    overdispersed : bool
        ``p_value <= 0.05`` (performance's message "Overdispersion detected.").

    Examples
    --------
    >>> t = OverdispersionTest(chisq=120.0, ratio=1.2, df=100, p_value=0.08)
    >>> print(t)  # doctest: +NORMALIZE_WHITESPACE
    # Overdispersion test
    <BLANKLINE>
           dispersion ratio =   1.200
      Pearson's Chi-Squared = 120.000
                    p-value =    0.08
    <BLANKLINE>
    No overdispersion detected.
    """

    chisq: float
    ratio: float
    df: int
    p_value: float

    @property
    def overdispersed(self) -> bool:
        """True when the test rejects at 5% (performance's ``p > 0.05`` rule)."""
        return bool(self.p_value <= 0.05)

    def _lines(self) -> list[tuple[str, str]]:
        p = round(self.p_value, 3)
        ptxt = "< 0.001" if p < 0.001 else f"{p:g}"
        return [("dispersion ratio", f"{self.ratio:.3f}"), ("Pearson's Chi-Squared", f"{self.chisq:.3f}"),
                ("p-value", ptxt)]

    def _verdict(self) -> str:
        return "Overdispersion detected." if self.overdispersed else "No overdispersion detected."

    def __str__(self) -> str:
        lines = self._lines()
        width = max(len(v) for _, v in lines)
        body = "\n".join(f"{k:>23} = {v:>{width}}" for k, v in lines)
        return f"# Overdispersion test\n\n{body}\n\n{self._verdict()}"

    __repr__ = __str__  # the REPL shows the test as performance prints it

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                       for k, v in self._lines())
        return (f"<div><b>Overdispersion test</b><table>{rows}</table>"
                f"<p>{html.escape(self._verdict())}</p></div>")

    def to_dict(self) -> dict[str, float]:
        """The four numbers, as performance's list: chisq, ratio, df, p_value."""
        return {"chisq": self.chisq, "ratio": self.ratio, "df": self.df, "p_value": self.p_value}


def check_overdispersion(g: GlmerResult) -> OverdispersionTest:
    """Test a Poisson (or binomial with trials > 1) GLMM for overdispersion (``performance::check_overdispersion``).

    Parameters
    ----------
    g : GlmerResult

    Returns
    -------
    OverdispersionTest
        Prints as performance does and shows as HTML in a notebook.

    Raises
    ------
    ValueError
        For a binary (0/1, Bernoulli) response, where the test is meaningless.
    TypeError
        For a linear mixed model.

    Examples
    --------
    >>> import lmmflow as lf
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
    ...              family="binomial")
    >>> t = check_overdispersion(g)
    >>> round(t.chisq, 3), t.df, round(t.p_value, 4)
    (63.078, 51, 0.1195)
    """
    require_kind(g, "glmm", "check_overdispersion")
    if g.family == "binomial":
        trials = np.asarray(g.prior_weights, dtype=float)
        if np.all(trials == 1):
            raise ValueError("check_overdispersion: a binary (0/1, Bernoulli) response cannot show overdispersion "
                             "(performance refuses it too); group the rows into cbind(successes, failures) "
                             "counts per cluster and covariate pattern to test it")
    elif g.family != "poisson":
        raise ValueError(f"check_overdispersion needs a Poisson or binomial GLMM, not {g.family!r}")
    r = g._resid_values("pearson")
    chisq = float(np.sum(r ** 2))
    df = int(g.nobs - g.npar)
    return OverdispersionTest(chisq=chisq, ratio=chisq / df, df=df, p_value=float(stats.chi2.sf(chisq, df)))
