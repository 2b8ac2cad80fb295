"""Influence of observations and of whole groups: hat values, Cook's distances, DFBETAS.

Observations (lme4's ``hatvalues.merMod`` and ``cooks.distance.merMod``).  With prior weights W, the
fitted values (fixed plus random effects) are a linear map of y, the solution of the penalized least squares
problem in the rows ``a_i = sqrt(w_i) [Lambda' z_i; x_i]``.  Its hat matrix is ``A M^-1 A'`` with ``M = L L'``
the system the fit factors, so

    h_i = || L^-1 a_i ||^2 .

The blocked factor of the fit (``lmmflow.core.blocked``) gives ``L^-1 a_i`` by a forward substitution that
touches row i's level of each term only; rows are processed in blocks, and no n x n matrix is formed
(:func:`lmmflow.core.leverage.leverages`, which PIRLS's beta gradient uses too).
Cook's distance of observation i is then lme4's

    D_i = (e_i / (1 - h_i))^2 h_i / (sigma^2 p),     e_i = sqrt(w_i) (y_i - fitted_i),  p = rank of X.

Groups (lme4's ``influence.merMod(m, groups=)``, influence.ME's measures).  Each group's rows are deleted
and the model refitted; the refits reuse the design (no formula, no model frame: the cross-products of the
kept rows only) and start at the full fit's theta.  From the deleted fits' beta_(-j) and standard errors:

    Cook's D_j  = (beta - beta_(-j))' V^-1 (beta - beta_(-j)) / p      (V: the full fit's vcov)
    DFBETAS_j   = (beta - beta_(-j)) / se_(-j)

as influence.ME defines them.  lme4's ``cooks.distance(influence(m, groups))`` is ``(G - p) / G`` times D_j
(G groups) and its ``dfbetas()`` has the opposite sign (beta_(-j) - beta).  Without groups, ``influence(m)``
deletes each observation in turn, as lme4's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..control import LmerControl
from ..core import CrossProducts, DevianceFunction, ReBlock
from ..core.crossprod import row_block, row_ranges
from ..core.leverage import leverages
from ..exceptions import ConvergenceWarning, RankDeficiencyWarning
from ..optim import OptSummary, optimize_theta
from ..results.tables import block_groups

if TYPE_CHECKING:
    from ..results.glmm import GlmerResult
    from ..results.model import LmerResult

__all__ = ["Influence", "cooks_distance", "hatvalues", "influence"]

_WARM_STEP = 0.1  # BOBYQA's initial trust radius for the refits started at the full fit's theta


# ---- observations --------------------------------------------------------------------------------------------
def _kind(m: Any, what: str) -> str:
    """``"lmm"`` or ``"glmm"``; any other result is a TypeError naming what applies."""
    kind = getattr(m, "model_kind", None)
    if kind in ("lmm", "glmm") and hasattr(m, "design"):
        return str(kind)
    raise TypeError(f"{what} is for models fitted in memory by lf.lmer or lf.glmer (LmerResult, GlmerResult), "
                    f"not {type(m).__name__}: refit the model with lf.lmer / lf.glmer on a pandas DataFrame")


def hatvalues(m: LmerResult | GlmerResult, chunk_rows: int | None = None) -> pd.Series:
    """Leverages: the diagonal of the hat matrix of the fitted values, random effects included.

    The same numbers as lme4's ``hatvalues(m)``: the fitted values ``X beta + Z b`` are a linear map of the
    response, and ``h_i`` is the derivative of fitted value i with respect to y_i (on the scale of the prior
    weights).  Computed row block by row block from the fit's factor; no n x n matrix is formed.

    For a glmer fit, lme4's ``hatvalues`` (which warns "the hat matrix may not make sense for GLMMs"): the
    factor of the final PIRLS system (working weights at the modes) with rows scaled by the square roots of
    the prior weights, so values can exceed 1 (see :mod:`lmmflow.diagnostics.glmm_influence`).

    Parameters
    ----------
    m : LmerResult or GlmerResult
    chunk_rows : int, optional
        Rows per block (default: as many as keep the work arrays near 32 MiB).

    Returns
    -------
    pandas.Series
        One value per row used, indexed as the model frame; they sum to the effective number of parameters
        of the fitted values.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> h = lf.hatvalues(m)
    >>> round(float(h.iloc[0]), 5), round(float(h.sum()), 3)
    (0.2293, 29.022)
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
    ...              family="binomial")
    >>> round(float(lf.hatvalues(g).iloc[0]), 4)
    1.9241
    """
    from ..optim.threads import blas_threads

    if _kind(m, "hat values") == "glmm":
        from .glmm_influence import glmm_hatvalues

        return glmm_hatvalues(m, chunk_rows)

    with blas_threads(m.control.blas_threads):  # as the fit: the dense factor and products use the cores
        f = m.devfun.factor_at(m.solution.theta)  # its own (dropped after): the result's is not moved
        h = leverages(f, m.design.fixed.matrix, row_scale=f.cp.w_sqrt, chunk_rows=chunk_rows)
        del f
    return pd.Series(h, index=m.data.index, name="hat")


def _obs_cooks(m: LmerResult) -> pd.Series:
    h = hatvalues(m).to_numpy()
    w = m.weights
    e = m.residuals.to_numpy() * (np.sqrt(w) if w is not None else 1.0)
    p = m.design.fixed.p
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (e / (1.0 - h)) ** 2 * h / (m.sigma ** 2 * p)
    d[np.isinf(d)] = np.nan
    return pd.Series(d, index=m.data.index, name="cooks_distance")


def cooks_distance(m: LmerResult | GlmerResult, groups: Any = None, **kwargs: Any) -> pd.Series:
    """Cook's distance of each observation (lme4's ``cooks.distance``) or of each group (influence.ME's).

    Parameters
    ----------
    m : LmerResult or GlmerResult
    groups : str, array-like or None
        ``None``: one value per observation, from the hat values and residuals (no refits; for a glmer fit
        lme4's formula with the Pearson residuals and lme4's hat values, see :func:`hatvalues`).  A column of
        the model's data (e.g. ``"Subject"``) or one label per row used: one value per group, from
        leave-one-group-out refits (see :func:`influence`).
    **kwargs
        Passed to :func:`influence` (``progress``, ``n_jobs``, ``data``).

    Returns
    -------
    pandas.Series
        Indexed as the model frame (observations) or by group label.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> round(float(lf.cooks_distance(m).iloc[2]), 5)
    0.2261
    >>> d = lf.cooks_distance(m, groups="Subject", progress=False)
    >>> d.idxmax(), round(float(d.max()), 4)
    ('309', 0.1485)
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
    ...              family="binomial")
    >>> round(float(lf.cooks_distance(g).iloc[2]), 4)
    6.7621
    """
    if groups is None:
        if kwargs:
            raise ValueError(f"{sorted(kwargs)} apply only with groups=: observation-level Cook's distances "
                             "need no refits")
        if _kind(m, "Cook's distance") == "glmm":
            from .glmm_influence import glmm_cooks

            return glmm_cooks(m)
        return _obs_cooks(m)
    return influence(m, groups, **kwargs).cooks_distance


# ---- groups --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Payload:
    """What every leave-one-group-out refit needs (read-only, shipped once to each worker)."""

    X: np.ndarray
    y: np.ndarray  # the response with any offset subtracted
    weights: np.ndarray | None
    blocks: list[ReBlock]
    reml: bool
    control: LmerControl
    theta_hat: np.ndarray
    group_codes: np.ndarray


def _take(M: Any, keep: np.ndarray) -> np.ndarray:
    if isinstance(M, np.ndarray):
        return M[keep]
    return np.vstack([row_block(M, a, e)[keep[a:e]] for a, e in row_ranges(len(keep))])


def _refit_optimum(devfun: DevianceFunction, theta_hat: np.ndarray, control: LmerControl) -> OptSummary:
    """The optimizer of ``fit_design`` started at the full fit's theta; a second optimizer (and lme4's start)
    when it stops early or ends on a boundary, keeping the best optimum (as the bootstrap's refits)."""
    lower = devfun.lower
    bounded = np.isfinite(lower)
    other = control.replace(optimizer="lbfgsb" if control.optimizer != "lbfgsb" else "bobyqa")
    # deleting one group moves the optimum little: a derivative-free search from theta-hat starts with a
    # smaller trust region than from lme4's start (fewer evaluations; the tolerances are the fit's)
    near = control.replace(initial_step=min(control.initial_step, _WARM_STEP))
    best: OptSummary | None = None
    for start, first in ((theta_hat, near), (devfun.theta0, control)):
        for ctrl in (first, other):
            try:
                opt = optimize_theta(devfun, start, lower, control=ctrl, value_and_grad=devfun.value_and_gradient,
                                     upper=None if devfun.pmap.identity else devfun.upper)
            except Exception:  # noqa: BLE001 - the next optimizer or start is tried
                continue
            if best is None or (opt.converged, -opt.fmin) > (best.converged, -best.fmin):
                best = opt
            if opt.converged:
                break
            start = opt.theta
        if best is not None and best.converged and not np.any(bounded & (best.theta < 1e-4)):
            break
    if best is None:
        raise RuntimeError("every refit attempt failed")
    return best


def _delete_group(pl: _Payload, j: int) -> dict[str, Any]:
    keep = pl.group_codes != j
    blocks = [ReBlock(codes=b.codes[keep], Z=b.Z[keep], nlevels=b.nlevels, mask=b.mask, structure=b.structure)
              for b in pl.blocks]
    X = pl.X[keep]
    p = X.shape[1]
    if p and np.linalg.matrix_rank(X) < p:
        return {"ok": False, "why": "the fixed-effects matrix is rank deficient without this group"}
    w = pl.weights[keep] if pl.weights is not None else None
    devfun = DevianceFunction(CrossProducts.build(blocks, X, pl.y[keep], w), reml=pl.reml)
    opt = _refit_optimum(devfun, pl.theta_hat, pl.control)
    sol = devfun.solve(opt.theta)
    lams = devfun.factor.lambdas_of(sol.theta)
    return {"ok": True, "converged": bool(opt.converged), "feval": int(opt.evaluations), "theta": sol.theta,
            "beta": sol.beta, "sigma": sol.sigma, "vcov": sol.sigma ** 2 * sol.vcov_unscaled,
            "covs": [sol.sigma ** 2 * lam @ lam.T for lam in lams]}


def _delete_chunk(pl: _Payload, js: list[int]) -> list[dict[str, Any]]:
    return [_delete_group(pl, j) for j in js]


def _vc_layout(m: LmerResult) -> list[tuple[str, int, int, int]]:
    """lme4's names of the variance-covariance components (as ``influence.merMod``'s ``var.cov.comps``):
    (name, term, row, column), after ``sigma^2``."""
    pieces = []
    for k, term in enumerate(m.design.terms):
        for gname, blk in zip(block_groups(term.group, len(term.blocks)), term.blocks):
            pieces.append((gname, k, blk, term.cnames))
    single = len(pieces) == 1
    out = []
    for gname, k, blk, names in pieces:
        prefix = "" if single else f"{gname}:"
        for ib, b in enumerate(blk):  # lower triangle, column by column (R's lower.tri order)
            for a in blk[ib:]:
                label = f"v[{names[a]}]" if a == b else f"C[{names[a]},{names[b]}]"
                out.append((prefix + label, k, a, b))
    return out


def _vc_values(sigma: float, covs: list[np.ndarray], layout: list[tuple[str, int, int, int]]) -> list[float]:
    return [sigma ** 2] + [float(covs[k][a, b]) for _, k, a, b in layout]


def _group_codes(m: LmerResult, groups: Any, data: Any) -> tuple[str, np.ndarray, pd.Index]:
    n = m.nobs
    if groups is None:  # each observation (lme4's influence(m) without groups: "case" deletion)
        return "case", np.arange(n), pd.Index([str(v) for v in m.data.index], name="case")
    if isinstance(groups, str):
        source = m.data if data is None else data
        if groups not in source.columns:
            raise ValueError(f"groups={groups!r} is not a column of the model's data (columns: "
                             f"{list(source.columns)}); pass data= with that column, or one label per row used")
        col = source[groups]
        if data is not None:
            if len(col) == n:
                pass
            elif col.index.isin(m.data.index).all() or m.data.index.isin(col.index).all():
                col = col.loc[m.data.index]
            else:
                raise ValueError(f"data= has {len(col)} rows and its index does not cover the {n} rows used")
        name = groups
    else:
        col = pd.Series(np.asarray(groups).ravel())
        name = "group"
    if len(col) != n:
        raise ValueError(f"groups has {len(col)} values; one per row used ({n}) is needed")
    col = pd.Series(np.asarray(col), dtype=object)
    if col.isna().any():
        raise ValueError(f"groups {name!r} has missing values in the rows used")
    codes, uniques = pd.factorize(col.astype(str))
    if len(uniques) < 2:
        raise ValueError(f"groups {name!r} has {len(uniques)} level(s); deleting groups needs at least two")
    return name, codes, pd.Index(uniques, name=name)


def influence(m: LmerResult | GlmerResult, groups: Any = None, data: Any = None, progress: bool = True,
              n_jobs: int = 1, client: Any = None) -> Influence:
    """Leave-one-group-out refits: Cook's distances, DFBETAS and changes in the variance components.

    The same deletions as lme4's ``influence(m, groups=)`` (each group's rows removed, the model refitted
    from the full fit's theta) and the measures of influence.ME (see the module docstring).  The refits
    reuse the design: only the cross-products of the kept rows are formed for each.  A glmer fit is refitted
    through the glmer driver from its (theta, beta), with its family, nagq, weights and offset (as lme4's
    ``influence()`` refits glmer fits); its ``var_cov`` has lme4's ``sigma^2`` column, 1.

    Parameters
    ----------
    m : LmerResult or GlmerResult
    groups : str, array-like or None
        A column of the model's data (the model frame, or ``data``), e.g. ``"Subject"``, or one label per
        row used.  Groups need not be a grouping factor of the model.  ``None``: each observation in turn
        (lme4's ``influence(m)``; one refit per row, labelled by the model frame's index).
    data : DataFrame, optional
        Where to find the ``groups`` column when the model frame lacks it: the fitted data (same rows, or an
        index covering the rows used).
    progress : bool
        A progress bar (tqdm) when the refits take more than a second.
    n_jobs : int
        Local processes for the refits (-1: one per core); ``client`` a Dask client instead.
    client : dask.distributed.Client, optional

    Returns
    -------
    Influence

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("Reaction ~ Days + (Days | Subject)", lf.load_dataset("sleepstudy"))
    >>> inf = lf.influence(m, "Subject", progress=False)
    >>> inf.dfbetas.loc["308"].round(4).to_dict()
    {'(Intercept)': -0.0587, 'Days': 0.4489}
    >>> round(float(inf.var_cov.loc["308", "sigma^2"]), 2)
    559.18
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
    ...              family="binomial")
    >>> d = lf.influence(g, "herd", progress=False).cooks_distance
    >>> d.idxmax(), round(float(d.max()), 4)
    ('11', 0.4341)
    """
    from ..inference.parallel import index_chunks, progress_map

    kind = _kind(m, "influence()")
    name, codes, labels = _group_codes(m, groups, data)
    if kind == "glmm":
        from .glmm_influence import glmm_influence_refits

        results = glmm_influence_refits(m, codes, len(labels), progress, n_jobs, client)
        return _assemble(m, name, labels, results)
    d = m.design
    y = d.less_offset()
    blocks = [ReBlock(codes=b.codes, Z=_take(b.Z, np.ones(d.n, bool)), nlevels=b.nlevels, mask=b.mask,
                      structure=b.structure) for b in m.devfun.cp.blocks]
    pl = _Payload(X=_take(d.fixed.matrix, np.ones(d.n, bool)), y=y, weights=m.weights, blocks=blocks,
                  reml=m.reml, control=m.control, theta_hat=m.solution.theta, group_codes=codes)
    G = len(labels)
    parts = progress_map(_delete_chunk, index_chunks(G, n_jobs), total=G, desc="influence", unit="refit",
                         progress=progress, n_jobs=n_jobs, client=client, payload=pl)
    results = [r for part in parts for r in part]
    return _assemble(m, name, labels, results)


def _assemble(m: LmerResult, name: str, labels: pd.Index, results: list[dict[str, Any]]) -> Influence:
    fe_names = m.fixef_names
    layout = _vc_layout(m)
    vc_names = ["sigma^2"] + [t[0] for t in layout]
    theta_names = [f"theta_{i + 1}" for i in range(len(m.solution.theta))]
    G, p = len(labels), len(fe_names)
    beta = np.full((G, p), np.nan)
    se = np.full((G, p), np.nan)
    theta = np.full((G, len(theta_names)), np.nan)
    vc = np.full((G, len(vc_names)), np.nan)
    sigma = np.full(G, np.nan)
    converged = np.zeros(G, bool)
    feval = np.zeros(G, int)
    failed = []
    for j, r in enumerate(results):
        if not r["ok"]:
            failed.append(f"{labels[j]} ({r['why']})")
            continue
        beta[j], theta[j], sigma[j] = r["beta"], r["theta"], r["sigma"]
        se[j] = np.sqrt(np.diag(r["vcov"]))
        vc[j] = _vc_values(r["sigma"], r["covs"], layout)
        converged[j], feval[j] = r["converged"], r["feval"]
    if failed:
        warnings.warn(f"no refit without group(s) {', '.join(failed)}: their rows are NaN",
                      RankDeficiencyWarning, stacklevel=3)
    ok = np.array([r["ok"] for r in results])
    if np.any(ok & ~converged):
        warnings.warn(f"{int(np.sum(ok & ~converged))} refit(s) did not converge: see Influence.converged",
                      ConvergenceWarning, stacklevel=3)
    b0 = m.fixef.to_numpy()
    V = m.vcov.to_numpy()
    diff = b0[None, :] - beta
    cooks = np.einsum("gi,gi->g", diff @ np.linalg.inv(V), diff) / p if p else np.full(G, np.nan)
    idx = labels
    return Influence(
        groups=name,
        fixef=pd.DataFrame(beta, index=idx, columns=fe_names),
        std_errors=pd.DataFrame(se, index=idx, columns=fe_names),
        theta=pd.DataFrame(theta, index=idx, columns=theta_names),
        sigma=pd.Series(sigma, index=idx, name="sigma"),
        var_cov=pd.DataFrame(vc, index=idx, columns=vc_names),
        fixef_full=m.fixef.copy(),
        var_cov_full=pd.Series(_vc_values(m.sigma, m.re_covariances, layout), index=vc_names, name="full"),
        converged=pd.Series(converged, index=idx, name="converged"),
        feval=pd.Series(feval, index=idx, name="feval"),
        dfbetas=pd.DataFrame(diff / se, index=idx, columns=fe_names),
        cooks_distance=pd.Series(cooks, index=idx, name="cooks_distance"),
    )


@dataclass(frozen=True, repr=False)
class Influence:
    """Leave-one-group-out refits of a model (from :func:`influence`).

    Attributes
    ----------
    groups : str
        The deleted grouping.
    cooks_distance : pandas.Series
        influence.ME's Cook's distance of each group: (beta - beta_(-j))' V^-1 (beta - beta_(-j)) / p.
    dfbetas : pandas.DataFrame
        influence.ME's DFBETAS, (beta - beta_(-j)) / se_(-j), groups x fixed effects.
    fixef, std_errors : pandas.DataFrame
        Each deleted fit's fixed effects and their standard errors.
    theta : pandas.DataFrame
    sigma : pandas.Series
    var_cov : pandas.DataFrame
        Each deleted fit's variance-covariance components, named as lme4's ``influence()`` names them
        (``sigma^2``, ``v[(Intercept)]``, ``C[Days,(Intercept)]``, prefixed by the group with several terms).
    fixef_full : pandas.Series
    var_cov_full : pandas.Series
        The full fit's values, for reference.
    converged : pandas.Series
    feval : pandas.Series
        Objective evaluations of each refit.

    Examples
    --------
    >>> import lmmflow as lf
    >>> m = lf.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", lf.load_dataset("penicillin"))
    >>> inf = lf.influence(m, "sample", progress=False)
    >>> inf.table().shape
    (6, 2)
    """

    groups: str
    fixef: pd.DataFrame
    std_errors: pd.DataFrame
    theta: pd.DataFrame
    sigma: pd.Series
    var_cov: pd.DataFrame
    fixef_full: pd.Series
    var_cov_full: pd.Series
    converged: pd.Series
    feval: pd.Series
    dfbetas: pd.DataFrame
    cooks_distance: pd.Series

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if isinstance(value, (pd.DataFrame, pd.Series)):
            return value.copy()  # results are values: callers may change what they get
        return value

    @property
    def var_cov_change(self) -> pd.DataFrame:
        """Each deleted fit's variance components minus the full fit's."""
        return self.var_cov - self.var_cov_full

    def table(self) -> pd.DataFrame:
        """One row per group: Cook's distance and the DFBETAS (``dfbetas_<name>``), largest distance first."""
        t = self.dfbetas.add_prefix("dfbetas_")
        t.insert(0, "cooks_distance", self.cooks_distance)
        return t.sort_values("cooks_distance", ascending=False, na_position="last")

    def __repr__(self) -> str:
        G, p = len(self.cooks_distance), self.fixef.shape[1]
        cut = 4.0 / G
        n_big = int(np.sum(self.cooks_distance.to_numpy() > cut))
        head = (f"Influence of {G} groups of {self.groups!r} (leave-one-group-out refits); "
                f"Cook's distance > 4/{G} = {cut:.3g}: {n_big} group(s)")
        return head + "\n" + self.table().head(10).to_string(float_format=lambda v: f"{v:.4g}") + (
            f"\n... {G - 10} more" if G > 10 else "") + f"\n({p} fixed effects; see .var_cov for the variances)"

    def _repr_html_(self) -> str:
        import html

        G = len(self.cooks_distance)
        return (f"<p>Influence of {G} groups of <code>{html.escape(self.groups)}</code> "
                "(leave-one-group-out refits), largest Cook's distance first</p>"
                + self.table().to_html(float_format=lambda v: f"{v:.4g}", max_rows=20))

