"""Hat values, Cook's distances and leave-one-group-out refits of GLMMs (glmer fits), as lme4 1.1-31 computes them.

Hat values (lme4's ``hatvalues.merMod``, which warns that "the hat matrix may not make sense for GLMMs").  lme4
takes L, RZX and RX of the final PIRLS system (working weights W at the modes) and rows scaled by the square
roots of the *prior* weights::

    h_i = || M^-1 a_i ||^2,     a_i = sqrt(w_prior,i) [Lambda' z_i; x_i],
    M M' = [Lambda'Z'WZ Lambda + I, Lambda'Z'WX; X'WZ Lambda, X'WX]

These are not the diagonal of a projection: they do not lie in [0, 1] in general (cbpp's exceed 1, since its
prior weights are the herd sizes, and a Bernoulli or Poisson fit's depart from the working-weight leverages
``W_i a_i' (M M')^-1 a_i``).  They are lme4's numbers, which ``cooks.distance`` uses.

Cook's distances of observations (lme4's ``cooks.distance.merMod``): ``(r_i / (1 - h_i))^2 h_i / (sigma^2 p)``
with r the Pearson residuals, sigma = 1 and p the number of fixed effects.

Groups (lme4's ``influence.merMod(m, groups=)``, which refits glmer fits too).  Each group's rows are deleted and
the model refitted from the full fit's (theta, beta) through the glmer driver (:func:`lmmflow.optim.glmm.fit_glmm`:
the fit's family, link, nagq, prior weights, offset and control), reusing the design's matrices.  The measures
are those of the LMM (:mod:`lmmflow.diagnostics.influence`): influence.ME's Cook's distance and DFBETAS, and the
deleted fits' variance components, named as lme4's ``influence()`` names them (with ``sigma^2`` = 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core import ReBlock

if TYPE_CHECKING:
    from ..results.glmm import GlmerResult

__all__ = ["glmm_cooks", "glmm_hatvalues", "glmm_influence_refits"]


def glmm_hatvalues(g: GlmerResult, chunk_rows: int | None = None) -> pd.Series:
    """lme4's ``hatvalues`` of a glmer fit (see the module docstring); called by :func:`lmmflow.hatvalues`."""
    from ..core.leverage import leverages
    from ..optim.threads import blas_threads

    with blas_threads(getattr(g.control, "blas_threads", "auto") if g.control is not None else "auto"):
        f = g.working_factor()
        h = leverages(f, g.design.X, row_scale=np.sqrt(g.prior_weights), chunk_rows=chunk_rows)
    return pd.Series(h, index=g.data.index, name="hat")


def glmm_cooks(g: GlmerResult) -> pd.Series:
    """lme4's ``cooks.distance`` of a glmer fit: Pearson residuals and lme4's hat values (sigma = 1)."""
    h = glmm_hatvalues(g).to_numpy()
    r = g._resid_values("pearson")
    p = g.design.fixed.p
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (r / (1.0 - h)) ** 2 * h / p
    d[np.isinf(d)] = np.nan
    return pd.Series(d, index=g.data.index, name="cooks_distance")


@dataclass(frozen=True)
class _GlmmPayload:
    """What every leave-one-group-out glmer refit needs (read-only, shipped once to each worker)."""

    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray | None
    offset: np.ndarray | None
    trials: np.ndarray | None
    blocks: list[ReBlock]
    family: Any
    nagq: int
    control: Any
    theta_hat: np.ndarray
    beta_hat: np.ndarray
    group_codes: np.ndarray


def _cut(v: np.ndarray | None, keep: np.ndarray) -> np.ndarray | None:
    return None if v is None else np.asarray(v)[keep]


def _delete_group(pl: _GlmmPayload, j: int) -> dict[str, Any]:
    from ..core.pirls import GlmmObjective
    from ..optim.glmm import fit_glmm

    keep = pl.group_codes != j
    X = pl.X[keep]
    p = X.shape[1]
    if p and np.linalg.matrix_rank(X) < p:
        return {"ok": False, "why": "the fixed-effects matrix is rank deficient without this group"}
    blocks = [ReBlock(codes=b.codes[keep], Z=b.Z[keep], nlevels=b.nlevels, mask=b.mask, structure=b.structure)
              for b in pl.blocks]
    obj = GlmmObjective(blocks, X, pl.y[keep], pl.family, prior_weights=_cut(pl.weights, keep),
                        offset=_cut(pl.offset, keep), nagq=pl.nagq, trials=_cut(pl.trials, keep))
    start = {"theta": pl.theta_hat, "beta": pl.beta_hat if pl.nagq > 0 else None}
    try:
        fit = fit_glmm(obj, nagq=pl.nagq, control=pl.control, start=start, warn=False)
    except Exception as exc:  # noqa: BLE001 - reported per group, as a rank-deficient deletion is
        return {"ok": False, "why": f"the refit failed: {exc}"}
    lams = obj.lambdas_of(fit.theta)
    feval = sum(int(getattr(o, "evaluations", 0)) for o in fit.stages)
    return {"ok": True, "converged": bool(fit.converged), "feval": feval,
            "theta": np.asarray(fit.theta, dtype=float), "beta": np.asarray(fit.beta, dtype=float), "sigma": 1.0,
            "vcov": np.asarray(fit.vcov, dtype=float), "covs": [lam @ lam.T for lam in lams]}


def _delete_chunk(pl: _GlmmPayload, js: list[int]) -> list[dict[str, Any]]:
    return [_delete_group(pl, j) for j in js]


def glmm_influence_refits(g: GlmerResult, codes: np.ndarray, n_groups: int, progress: bool, n_jobs: int,
                          client: Any) -> list[dict[str, Any]]:
    """The deleted fits of each group (codes 0..n_groups-1 over the rows used), in group order."""
    from ..inference.parallel import index_chunks, progress_map
    from .influence import _take

    d = g.design
    n = d.n
    rows = np.ones(n, bool)
    blocks = [ReBlock(codes=b.codes, Z=_take(b.Z, rows), nlevels=b.nlevels, mask=b.mask, structure=b.structure)
              for b in d.blocks()]
    frame = d.frame
    pl = _GlmmPayload(X=_take(d.X, rows), y=np.asarray(d.y, dtype=float),
                      weights=None if frame.weights is None else np.asarray(frame.weights, dtype=float),
                      offset=None if frame.offset is None else np.asarray(frame.offset, dtype=float),
                      trials=None if d.response is None or d.response.trials is None
                      else np.asarray(d.response.trials, dtype=float),
                      blocks=blocks, family=g.family_object, nagq=g.nagq, control=g.control,
                      theta_hat=g.solution.theta, beta_hat=g.solution.beta, group_codes=codes)
    parts = progress_map(_delete_chunk, index_chunks(n_groups, n_jobs), total=n_groups, desc="influence",
                         unit="refit", progress=progress, n_jobs=n_jobs, client=client, payload=pl)
    return [r for part in parts for r in part]
