"""broom's trio beside :func:`lmmflow.tidy`: ``glance`` (one row per model) and ``augment`` (one row per observation).

The columns are broom.mixed's (``glance.merMod``, ``augment.merMod``), in snake case for glance:

* glance: ``nobs``, ``sigma``, ``loglik``, ``aic``, ``bic``, ``deviance`` (ML fits) or ``reml_crit`` (REML fits,
  as broom.mixed renames it ``REMLcrit``: the REML criterion, not a deviance), ``df_residual`` (n minus the
  number of parameters, as lme4's ``df.residual``).
* augment: the rows used, then ``.fitted`` (fixed + random effects + offset), ``.resid`` (y - ``.fitted``),
  ``.hat`` (:func:`lmmflow.hatvalues`), ``.cooksd`` (:func:`lmmflow.cooks_distance`), ``.fixed`` (fixed effects +
  offset, ``predict(re.form = NA)``), ``.mu`` (the conditional mean, = ``.fitted`` for an LMM), ``.offset``,
  ``.sqrtXwt`` (1 for an LMM), ``.sqrtrwt`` (square roots of the prior weights), ``.weights`` and ``.wtres``
  (``sqrt(w) * .resid``), as lme4's response module holds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..design import as_pandas

if TYPE_CHECKING:
    from .model import LmerResult

__all__ = ["augment", "glance"]


def glance(m: LmerResult) -> pd.DataFrame:
    """One row of model-level statistics (broom.mixed's ``glance``).

    Parameters
    ----------
    m : LmerResult

    Returns
    -------
    pandas.DataFrame
        Columns ``nobs, sigma, loglik, aic, bic, deviance, df_residual`` for ML fits; REML fits have
        ``reml_crit`` (the REML criterion, broom.mixed's ``REMLcrit``) in place of ``deviance``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> g = lf.glance(m)
    >>> list(g.columns)
    ['nobs', 'sigma', 'loglik', 'aic', 'bic', 'reml_crit', 'df_residual']
    >>> int(g.loc[0, "nobs"]), round(float(g.loc[0, "reml_crit"]), 2), int(g.loc[0, "df_residual"])
    (180, 1743.63, 174)
    >>> list(lf.glance(m.update(reml=False)).columns)
    ['nobs', 'sigma', 'loglik', 'aic', 'bic', 'deviance', 'df_residual']
    """
    crit = "reml_crit" if m.reml else "deviance"
    row = {"nobs": m.nobs, "sigma": m.sigma, "loglik": m.loglik, "aic": m.aic, "bic": m.bic, crit: m.objective,
           "df_residual": m.df_resid}
    return pd.DataFrame([row])


def augment(m: LmerResult, data: Any = None, newdata: Any = None) -> pd.DataFrame:
    """The data with fitted values, residuals, leverages and Cook's distances (broom.mixed's ``augment``).

    Parameters
    ----------
    m : LmerResult
    data : DataFrame, optional
        The data the model was fitted to (with any other columns): its rows are kept in order, and rows the
        fit did not use (missing values) get missing values in the new columns.  Default: the model frame
        (the columns and rows used).
    newdata : DataFrame, optional
        New rows: only ``.fitted`` (with random effects; new levels at the population) and ``.fixed`` are
        added, and ``.resid`` when the response column is present.

    Returns
    -------
    pandas.DataFrame
        A new frame (the inputs are not modified).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> a = lf.augment(m)
    >>> list(a.columns[:8])
    ['Reaction', 'Days', 'Subject', '.fitted', '.resid', '.hat', '.cooksd', '.fixed']
    >>> a[[".fitted", ".resid", ".hat", ".cooksd"]].iloc[0].round(4).to_dict()
    {'.fitted': 253.6637, '.resid': -4.1037, '.hat': 0.2293, '.cooksd': 0.005}
    """
    from ..diagnostics.influence import cooks_distance, hatvalues

    if data is not None and newdata is not None:
        raise ValueError("give data= (the fitted rows) or newdata= (new rows), not both")
    if getattr(m, "model_kind", "lmm") == "glmm":
        return _augment_glmm(m, data, newdata)
    if newdata is not None:
        new = as_pandas(newdata).copy()
        new[".fitted"] = np.asarray(m.predict(new, allow_new_levels=True))
        new[".fixed"] = np.asarray(m.predict(new, re_form="~0"))
        response = m.design.formula.response
        if isinstance(response, str) and response in new.columns:
            new[".resid"] = pd.to_numeric(new[response], errors="coerce").to_numpy() - new[".fitted"].to_numpy()
        return new
    n = m.nobs
    fitted = m.fitted.to_numpy()
    resid = m.residuals.to_numpy()
    w = m.weights if m.weights is not None else np.ones(n)
    off = m.offset if m.offset is not None else np.zeros(n)
    cols = {
        ".fitted": fitted,
        ".resid": resid,
        ".hat": hatvalues(m).to_numpy(),
        ".cooksd": cooks_distance(m).to_numpy(),
        ".fixed": m._linear_predictor(with_re=False),
        ".mu": fitted,
        ".offset": off,
        ".sqrtXwt": np.ones(n),
        ".sqrtrwt": np.sqrt(w),
        ".weights": w,
        ".wtres": np.sqrt(w) * resid,
    }
    added = pd.DataFrame(cols, index=m.data.index)
    if data is None:
        base = m.data.copy()
        for c in added.columns:
            base[c] = added[c].to_numpy()
        return base
    base = as_pandas(data).copy()
    if not m.data.index.isin(base.index).all():
        raise ValueError(f"data= does not hold the {n} rows the model used (by index); pass the data frame the "
                         "model was fitted to, or leave data= out for the model frame")
    added = added.reindex(base.index)
    for c in added.columns:
        base[c] = added[c].to_numpy()
    return base


def _augment_glmm(m: Any, data: Any = None, newdata: Any = None) -> pd.DataFrame:
    """augment for a GLMM (broom.mixed's glmer columns): ``.fitted`` on the link scale (broom's
    ``type.predict = "link"``), ``.resid`` deviance residuals, ``.fixed`` the population-level linear predictor,
    ``.mu`` the fitted mean, ``.offset``, ``.sqrtXwt`` (dmu/deta over sqrt(V(mu)/w), lme4's), ``.sqrtrwt``,
    ``.weights`` and ``.wtres`` (Pearson residuals).  Leverages and Cook's distances are for LMMs only."""
    if newdata is not None:
        new = as_pandas(newdata).copy()
        new[".fitted"] = np.asarray(m.predict(new, allow_new_levels=True))
        new[".fixed"] = np.asarray(m.predict(new, re_form="~0"))
        new[".mu"] = np.asarray(m.predict(new, type="response", allow_new_levels=True))
        return new
    fam = m.family_object
    eta, mu, w = m._eta, m._mu, m.prior_weights
    off = m.offset if m.offset is not None else np.zeros(m.nobs)
    with np.errstate(divide="ignore", invalid="ignore"):
        sqrt_xwt = np.asarray(fam.mu_eta(eta), float) * np.sqrt(w / np.asarray(fam.variance(mu), float))
    cols = {".fitted": eta, ".resid": m._resid_values("deviance"), ".fixed": m._linear_predictor(with_re=False),
            ".mu": mu, ".offset": off, ".sqrtXwt": sqrt_xwt, ".sqrtrwt": np.sqrt(w), ".weights": w,
            ".wtres": m._resid_values("pearson")}
    added = pd.DataFrame(cols, index=m.data.index)
    base = m.data.copy() if data is None else as_pandas(data).copy()
    if data is not None and not m.data.index.isin(base.index).all():
        raise ValueError(f"data= does not hold the {m.nobs} rows the model used (by index); pass the data frame the "
                         "model was fitted to, or leave data= out for the model frame")
    added = added.reindex(base.index)
    for c in added.columns:
        base[c] = added[c].to_numpy()
    return base
