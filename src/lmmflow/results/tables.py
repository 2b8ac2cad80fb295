"""Tables built from a fit: variance components (VarCorr), random effects, tidy frames (broom.mixed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .model import LmerResult

__all__ = ["block_groups", "ranef_frames", "tidy", "varcorr_frame"]


def block_groups(term_group: str, nblocks: int) -> list[str]:
    """lme4's names of the pieces of an uncorrelated term: ``g``, ``g.1``, ``g.2``..."""
    return [term_group if i == 0 else f"{term_group}.{i}" for i in range(nblocks)]


def varcorr_frame(m: LmerResult) -> pd.DataFrame:
    """Variance components as lme4's ``as.data.frame(VarCorr(m))``: group, var1, var2, vcov, sdcor."""
    rows = []
    for term, cov in zip(m.design.terms, m.re_covariances):
        names = term.cnames
        for gname, blk in zip(block_groups(term.group, len(term.blocks)), term.blocks):
            for a in blk:
                rows.append((gname, names[a], None, cov[a, a], np.sqrt(cov[a, a])))
            for ia, a in enumerate(blk):
                for b in blk[ia + 1:]:
                    sd = np.sqrt(cov[a, a] * cov[b, b])
                    corr = cov[b, a] / sd if sd > 0 else np.nan
                    rows.append((gname, names[a], names[b], cov[b, a], corr))
    if getattr(m, "model_kind", "lmm") != "glmm":  # binomial and Poisson GLMMs have no residual variance
        rows.append(("Residual", None, None, m.sigma ** 2, m.sigma))
    return pd.DataFrame(rows, columns=["group", "var1", "var2", "vcov", "sdcor"])


def ranef_frames(m: LmerResult, cond_sd: bool = False) -> dict[str, pd.DataFrame]:
    """Conditional modes (or their conditional SDs) per grouping factor: levels x terms."""
    out = {}
    values = m.cond_sd_blocks if cond_sd else m.solution.b
    for term, vals in zip(m.design.terms, values):
        frame = pd.DataFrame(np.asarray(vals), index=pd.Index(term.levels, name=term.group), columns=term.cnames)
        out[term.group] = frame
    return out


def _tidy_ddf(ddf: str | None) -> str:
    """The df method of tidy's p-values and intervals: Satterthwaite by default; ``"normal"`` = no df."""
    if ddf is None:
        return "satterthwaite"
    d = str(ddf).lower().replace("_", "-")
    return "none" if d in ("normal", "none", "z", "wald") else d


def tidy(m: LmerResult, effects: str | list[str] = "fixed", conf_int: bool = False, conf_level: float = 0.95,
         conf_method: str = "wald", ddf: str | None = None, scales: str = "sdcor", scale: str | None = None,
         **kwargs: Any) -> pd.DataFrame:
    """A tidy frame of one kind of estimate, with broom.mixed's columns.

    Parameters
    ----------
    m : LmerResult
    effects : {"fixed", "ran_pars", "ran_vals", "ran_coefs"} or a list of them
        Fixed effects; random-effect parameters (SDs and correlations, and the residual SD);
        conditional modes of the random effects with their conditional SDs; or per-group coefficients.
        A list stacks the tables (broom.mixed's default is ``["ran_pars", "fixed"]``).
    conf_int : bool
        Add ``conf_low`` and ``conf_high``.
    conf_level : float
    conf_method : {"wald", "profile", "boot"}
        ``"wald"``: for fixed effects, t intervals with the same df as the p-values (as broom.mixed on a
        lmerTest fit, lmerTest's ``contest1D(confint = TRUE)``); normal intervals with ``ddf="normal"``.
    ddf : {"satterthwaite", "kenward-roger", "residual", "normal"}, optional
        For fixed effects: degrees of freedom of df, p_value and the Wald intervals (default:
        Satterthwaite; ``"normal"`` or ``"none"``: z tests and intervals, df infinite).
    scales : {"sdcor", "vcov"}
        For ``ran_pars``: standard deviations and correlations, or variances and covariances; the
        intervals (profile or bootstrap) are on the same scale.
    scale : {"sdcor", "vcov"}, optional
        The same as ``scales`` (which it overrides when given).
    **kwargs
        Passed to the interval method (e.g. ``nsim=1000, seed=1`` for ``conf_method="boot"``).

    Returns
    -------
    pandas.DataFrame
        Fixed: effect, group (None), term, estimate, std_error, statistic, df, p_value (conf_low, conf_high):
        broom.mixed's columns in snake_case.
        ran_pars: effect, group, term, estimate (conf_low, conf_high).
        ran_vals: effect, group, level, term, estimate, std_error (conf_low, conf_high).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> list(lf.tidy(m, effects="fixed").columns)[:5]
    ['effect', 'group', 'term', 'estimate', 'std_error']
    >>> lf.tidy(m, conf_int=True)[["conf_low", "conf_high"]].round(2).to_numpy().tolist()  # t, 17 df
    [[237.01, 265.8], [7.21, 13.73]]
    """
    from scipy import stats

    if not isinstance(effects, str):  # several kinds, stacked as broom.mixed's default c("ran_pars", "fixed")
        parts = [tidy(m, effects=e, conf_int=conf_int, conf_level=conf_level, conf_method=conf_method, ddf=ddf,
                      scales=scales, scale=scale, **kwargs) for e in effects]
        return pd.concat(parts, ignore_index=True)
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level={conf_level!r} must be between 0 and 1 (e.g. 0.95)")
    z = stats.norm.ppf(0.5 + conf_level / 2)
    glmm = getattr(m, "model_kind", "lmm") == "glmm"
    if effects == "fixed" and glmm:  # z tests (broom.mixed on glmer: no df column)
        table = m.coef_table()
        out = pd.DataFrame({"effect": "fixed", "group": None, "term": table.index,
                            "estimate": table["estimate"].to_numpy(), "std_error": table["std_error"].to_numpy(),
                            "statistic": table["z_value"].to_numpy(), "p_value": table["p_value"].to_numpy()})
        if conf_int:
            ci = m.confint(method=conf_method, level=conf_level, parm=list(table.index), **kwargs)
            out["conf_low"] = ci.loc[out["term"], "lower"].to_numpy()
            out["conf_high"] = ci.loc[out["term"], "upper"].to_numpy()
        return out
    if effects == "fixed":
        table = m.coef_table(ddf=_tidy_ddf(ddf))
        df = table["df"].to_numpy(dtype=float)
        out = pd.DataFrame({"effect": "fixed", "group": None, "term": table.index,
                            "estimate": table["estimate"].to_numpy(), "std_error": table["std_error"].to_numpy(),
                            "statistic": table["t_value"].to_numpy(), "df": df,
                            "p_value": table["p_value"].to_numpy()})
        if conf_int:
            if str(conf_method).lower() == "wald":
                # t intervals with the df of the p-values beside them (broom.mixed with lmerTest; lmerTest's
                # contest1D(confint = TRUE)); normal quantiles where there is no df (ddf="normal")
                finite = np.isfinite(df)
                q = np.where(finite, stats.t.ppf(0.5 + conf_level / 2, np.where(finite, df, 1.0)), z)
                se = out["std_error"].to_numpy()
                out["conf_low"] = out["estimate"].to_numpy() - q * se
                out["conf_high"] = out["estimate"].to_numpy() + q * se
            else:
                ci = m.confint(method=conf_method, level=conf_level, parm="beta_", **kwargs)
                out["conf_low"] = ci.loc[out["term"], "lower"].to_numpy()
                out["conf_high"] = ci.loc[out["term"], "upper"].to_numpy()
        return out
    if effects == "ran_pars":
        from ..inference.intervals import check_scale, ran_pars_intervals

        scales = check_scale(scales if scale is None else scale)
        vc = m.varcorr
        col = "sdcor" if scales == "sdcor" else "vcov"
        terms = []
        for _, r in vc.iterrows():
            if r["group"] == "Residual":
                terms.append("sd__Observation" if scales == "sdcor" else "var__Observation")
            elif r["var2"] is None or (isinstance(r["var2"], float) and np.isnan(r["var2"])):
                terms.append(("sd__" if scales == "sdcor" else "var__") + str(r["var1"]))
            else:
                terms.append(("cor__" if scales == "sdcor" else "cov__") + f"{r['var1']}.{r['var2']}")
        out = pd.DataFrame({"effect": "ran_pars", "group": vc["group"].to_numpy(), "term": terms,
                            "estimate": vc[col].to_numpy()})
        if conf_int and glmm:
            raise ValueError("tidy(g, effects='ran_pars', conf_int=True) for a GLMM: use g.confint(method='profile') "
                             "or method='boot' for the variance parameters (Wald intervals cover fixed effects only)")
        if conf_int:
            ci = ran_pars_intervals(m, method=conf_method, level=conf_level, scale=scales, **kwargs)
            out["conf_low"] = ci["lower"].to_numpy()
            out["conf_high"] = ci["upper"].to_numpy()
        return out
    if effects == "ran_vals":
        est, sds = ranef_frames(m), ranef_frames(m, cond_sd=True)
        parts = []
        for g, frame in est.items():
            long = frame.reset_index().melt(id_vars=frame.index.name or g, var_name="term", value_name="estimate")
            long = long.rename(columns={frame.index.name or g: "level"})
            long["std_error"] = sds[g].to_numpy().T.ravel()
            long.insert(0, "group", g)
            parts.append(long)
        out = pd.concat(parts, ignore_index=True)
        out.insert(0, "effect", "ran_vals")
        out["level"] = out["level"].astype(str)
        if conf_int:
            out["conf_low"] = out["estimate"] - z * out["std_error"]
            out["conf_high"] = out["estimate"] + z * out["std_error"]
        return out[["effect", "group", "level", "term", "estimate", "std_error"]
                   + (["conf_low", "conf_high"] if conf_int else [])]
    if effects == "ran_coefs":
        parts = []
        for g, frame in m.coef.items():
            long = frame.reset_index().melt(id_vars=frame.index.name or g, var_name="term", value_name="estimate")
            long = long.rename(columns={frame.index.name or g: "level"})
            long.insert(0, "group", g)
            parts.append(long)
        out = pd.concat(parts, ignore_index=True)
        out.insert(0, "effect", "ran_coefs")
        return out
    raise ValueError(f"effects={effects!r}: use 'fixed', 'ran_pars', 'ran_vals' or 'ran_coefs'")
