"""Reports of the longitudinal workflow: run the nine steps on a data set and write them up.

>>> import lmmflow as lf
>>> rep = lf.report(lf.simulate_growth(n_units=50, seed=3), "y ~ time + (1 + time | id)", figures=False)
>>> sorted(rep.models)
['compare', 'compare_ml', 'main', 'main_ml']

:func:`report` returns a :class:`Report`; ``rep.write("out")`` (or ``out=`` in the call) writes
``report.html`` (one self-contained file), ``summary.txt``, ``summary.md``, the figures as PNG files,
``blups.csv`` and ``fixed_effects.csv``.

The report reads the design first (:func:`detect_design`): shared waves, unit-specific times, grouped data
without time, crossed grouping factors; its words and figures follow. Writing is staged and never replaces
a file lmmflow did not write (:class:`OutputFolderError`).

>>> rep.values["design"]["kind"]
'waves'
"""

from .design import detect_design
from .output import OutputFolderError
from .summary_text import results_paragraphs, summary_markdown, summary_text
from .workflow import Report, report

__all__ = ["OutputFolderError", "Report", "detect_design", "report", "results_paragraphs", "summary_markdown",
           "summary_text"]
