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


def tidy(m: LmerResult, effects: str = "fixed", conf_int: bool = False, conf_level: float = 0.95,
         conf_method: str = "wald", ddf: str | None = None, scales: str = "sdcor", scale: str | None = None,
         **kwargs: Any) -> pd.DataFrame:
    """A tidy frame of one kind of estimate, with broom.mixed's columns.

    Parameters
    ----------
    m : LmerResult
    effects : {"fixed", "ran_pars", "ran_vals", "ran_coefs"}
        Fixed effects; random-effect parameters (SDs and correlations, and the residual SD);
        conditional modes of the random effects with their conditional SDs; or per-group coefficients.
    conf_int : bool
        Add ``conf_low`` and ``conf_high``.
    conf_level : float
    conf_method : {"wald", "profile", "boot"}
    ddf : {"satterthwaite", "kenward-roger", "residual", "none"}, optional
        For fixed effects: degrees of freedom for df and p_value (default: Satterthwaite).
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
        Fixed: effect, term, estimate, std_error, statistic, df, p_value (conf_low, conf_high).
        ran_pars: effect, group, term, estimate (conf_low, conf_high).
        ran_vals: effect, group, level, term, estimate, std_error (conf_low, conf_high).

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> list(lf.tidy(m, effects="fixed").columns)[:4]
    ['effect', 'term', 'estimate', 'std_error']
    """
    from scipy import stats

    z = stats.norm.ppf(0.5 + conf_level / 2)
    if effects == "fixed":
        table = m.coef_table(ddf=ddf or "satterthwaite")
        out = pd.DataFrame({"effect": "fixed", "term": table.index, "estimate": table["estimate"].to_numpy(),
                            "std_error": table["std_error"].to_numpy(), "statistic": table["t_value"].to_numpy(),
                            "df": table["df"].to_numpy(), "p_value": table["p_value"].to_numpy()})
        if conf_int:
            ci = m.confint(method=conf_method, level=conf_level, parm="beta_", ddf=ddf, **kwargs)
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
