"""t-tests of fixed effects: the coefficient table with a choice of denominator degrees of freedom."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

if TYPE_CHECKING:
    from ..results.model import LmerResult

__all__ = ["coef_table"]

DDF_METHODS = ("satterthwaite", "kenward-roger", "residual", "none")


def coef_table(m: LmerResult, ddf: str = "satterthwaite") -> pd.DataFrame:
    """Estimates, standard errors, df, t values and p-values of the fixed effects.

    Parameters
    ----------
    m : LmerResult
    ddf : {"satterthwaite", "kenward-roger", "residual", "none"}

    Returns
    -------
    pandas.DataFrame
        Indexed by coefficient: estimate, std_error, df, t_value, p_value.
    """
    from ..results.base import require_kind

    require_kind(m, "lmm", f"coef_table(ddf={ddf!r}) with t tests")
    ddf = ddf.lower().replace("_", "-")
    if ddf in ("kr", "kenward roger", "kenwardroger"):
        ddf = "kenward-roger"
    if ddf not in DDF_METHODS:
        raise ValueError(f"ddf={ddf!r}: use one of {DDF_METHODS}")
    est = m.fixef.to_numpy()
    vcov = m.vcov.to_numpy()
    if ddf == "satterthwaite":
        from .satterthwaite import satterthwaite_df

        df = satterthwaite_df(m)
    elif ddf == "kenward-roger":
        from .kenward_roger import kenward_roger

        vcov, df = kenward_roger(m)
    elif ddf == "residual":
        df = np.full(len(est), float(m.nobs - len(est)))
    else:
        df = np.full(len(est), np.inf)
    se = np.sqrt(np.diag(vcov))
    t = est / se
    p = 2 * stats.t.sf(np.abs(t), df)
    return pd.DataFrame({"estimate": est, "std_error": se, "df": df, "t_value": t, "p_value": p},
                        index=pd.Index(m.fixef_names, name="term"))
