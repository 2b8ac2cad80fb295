"""glmmTMB through ``Rscript``: the lme4 adapter's protocol with ``glmmtmb_fit.R``.

The fit time is measured inside R around the ``glmmTMB()`` call alone; the objective is reported on lme4's
scale (``2 * m$fit$objective``: -2 logLik for ML, the REML criterion for REML); memory is measured as for
lme4 (``VmHWM`` reset after loading, ``/usr/bin/time -v`` for the whole process).  glmmTMB reads lme4
formulas and the structured terms ``ar1()``, ``cs()``, ``diag()``, ``us()``, so it can run every problem.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..problems import Problem
from .lme4_adapter import MEMORY_METHOD, Lme4Adapter

SCRIPT = Path(__file__).with_name("glmmtmb_fit.R")


class GlmmtmbAdapter(Lme4Adapter):
    """glmmTMB, one fresh ``Rscript --vanilla`` per measurement.

    Parameters
    ----------
    rscript : str
        The ``Rscript`` program (default: found on ``PATH``).
    """

    name = "glmmtmb"
    script = SCRIPT
    version_key = "glmmtmb_version"
    install_hint = "apt-get install r-base-core r-cran-glmmtmb"
    memory_method = MEMORY_METHOD.replace("data = object.size", "glmmTMB() timed alone (with its sdreport); "
                                          "data = object.size")

    def cannot_express(self, problem: Problem) -> str | None:
        """glmmTMB reads every formula of the registry: always ``None``."""
        return None


def glmmtmb_version(rscript: str = "Rscript", timeout: float = 60) -> str:
    """glmmTMB's version (``"not installed"`` / empty where R or the package is missing).

    Parameters
    ----------
    rscript : str
    timeout : float

    Returns
    -------
    str
    """
    code = 'cat(tryCatch(as.character(packageVersion("glmmTMB")), error=function(e) "not installed"))'
    try:
        done = subprocess.run([rscript, "--vanilla", "-e", code], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()
