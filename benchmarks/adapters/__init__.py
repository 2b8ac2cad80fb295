"""One adapter per library, and the registry ``run.py`` picks from.

To add a library: write ``<lib>_adapter.py`` (for Python, the module interface described in
``lmmflow_adapter``; for anything else, a subclass of :class:`~benchmarks.adapters.runner.Adapter`) and add
it to :func:`registry`.
"""

from __future__ import annotations

from .base import RunResult
from .glmmtmb_adapter import GlmmtmbAdapter
from .lme4_adapter import Lme4Adapter
from .runner import Adapter, PythonAdapter, RunSettings

LIBS = ("lmmflow", "lme4", "glmmtmb", "statsmodels")
"""Library names, in table order."""


def registry(python: str | None = None, rscript: str | None = None) -> dict[str, Adapter]:
    """The adapters by library name.

    Parameters
    ----------
    python : str, optional
        Interpreter for the Python workers (default: the running one).
    rscript : str, optional
        ``Rscript`` program (default: found on ``PATH``).

    Returns
    -------
    dict of str to Adapter
    """
    return {
        "lmmflow": PythonAdapter("lmmflow", "benchmarks.adapters.lmmflow_adapter", python),
        "lme4": Lme4Adapter(rscript),
        "glmmtmb": GlmmtmbAdapter(rscript),
        "statsmodels": PythonAdapter("statsmodels", "benchmarks.adapters.statsmodels_adapter", python),
    }


__all__ = ["LIBS", "Adapter", "GlmmtmbAdapter", "Lme4Adapter", "PythonAdapter", "RunResult", "RunSettings", "registry"]
