"""Confidence intervals of a GLMM (``GlmerResult.confint``): Wald here, profile and bootstrap by method table.

``"wald"`` is computed here: the fixed effects, estimate +/- z SE with the Hessian-based standard errors (lme4's
``confint(m, method = "Wald")`` gives no Wald interval for the variance parameters; they are left out).
``"profile"`` and ``"boot"`` are looked up in :data:`GLMM_INTERVAL_METHODS` (module, function) when called, so the
modules that compute them load only when used; a method whose module is not there is a clear ``ValueError`` naming
the methods that exist.  Each function is called as ``fn(g, level=level, parm=parm, **kwargs)`` and returns a
DataFrame indexed by parameter with columns ``lower`` and ``upper``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..results.base import require_kind

if TYPE_CHECKING:
    from ..results.glmm import GlmerResult

__all__ = ["GLMM_INTERVAL_METHODS", "glmm_confint", "glmm_wald_intervals"]

GLMM_INTERVAL_METHODS: dict[str, tuple[str, str]] = {
    "profile": ("lmmflow.inference.glmm_profile", "glmm_confint_profile"),
    "boot": ("lmmflow.inference.glmm_bootstrap", "glmm_confint_boot"),
}


def _check_level(level: float) -> float:
    level = float(level)
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must be between 0 and 1 (e.g. 0.95)")
    return level


def _select(out: pd.DataFrame, parm: Any) -> pd.DataFrame:
    if parm is None or (isinstance(parm, str) and parm == "beta_"):
        return out
    names = [parm] if isinstance(parm, str) else list(parm)
    missing = [p for p in names if p not in out.index]
    if missing:
        raise ValueError(f"parm={missing}: not a parameter with a Wald interval; those are {list(out.index)}")
    return out.loc[names]


def glmm_wald_intervals(g: GlmerResult, level: float = 0.95, parm: Any = None) -> pd.DataFrame:
    """Wald intervals of the fixed effects, estimate +/- z_(1+level)/2 SE.

    Parameters
    ----------
    g : GlmerResult
    level : float
    parm : str or list of str, optional
        Fixed effects to keep (``"beta_"``: all).

    Returns
    -------
    pandas.DataFrame
        Indexed by fixed effect: lower, upper.

    Examples
    --------
    >>> import lmmflow as lf
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
    ...              family="binomial")
    >>> glmm_wald_intervals(g).shape
    (4, 2)
    """
    from scipy import stats

    require_kind(g, "glmm", "glmm_wald_intervals")
    q = stats.norm.ppf(0.5 + _check_level(level) / 2)
    est = g.fixef.to_numpy()
    se = np.sqrt(np.diag(g.vcov.to_numpy()))
    out = pd.DataFrame({"lower": est - q * se, "upper": est + q * se}, index=g.fixef_names)
    return _select(out, parm)


def _method(method: str) -> Callable[..., pd.DataFrame] | None:
    entry = GLMM_INTERVAL_METHODS.get(method)
    if entry is None:
        return None
    try:
        return getattr(import_module(entry[0]), entry[1])
    except (ImportError, AttributeError):
        return None


def glmm_confint(g: GlmerResult, method: str = "wald", level: float = 0.95, parm: Any = None,
                 **kwargs: Any) -> pd.DataFrame:
    """Confidence intervals of a GLMM by ``method``; see :meth:`lmmflow.GlmerResult.confint`.

    Examples
    --------
    >>> import lmmflow as lf
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
    ...              family="binomial")
    >>> list(glmm_confint(g, "wald").columns)
    ['lower', 'upper']
    """
    require_kind(g, "glmm", "glmm_confint")
    key = str(method).lower()
    if key == "wald":
        if kwargs:
            raise TypeError(f"confint(method='wald') takes no {sorted(kwargs)}")
        return glmm_wald_intervals(g, level=level, parm=parm)
    fn = _method(key)
    if fn is None:
        have = ["wald"] + [k for k in GLMM_INTERVAL_METHODS if _method(k) is not None]
        raise ValueError(f"confint(method={method!r}) for a GLMM: the methods available are {have}")
    return fn(g, level=_check_level(level), parm=parm, **kwargs)
