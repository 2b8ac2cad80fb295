"""Parametric bootstrap of a GLMM (lme4's ``bootMer`` / ``confint(method = "boot")`` for glmerMod).

Each replicate draws new random effects from N(0, Lambda Lambda') and a new response from the family
(:meth:`lmmflow.GlmerResult.simulate`), refits the same model to it and records a statistic.  With the default
statistic (the random effects' SDs and correlations, then the fixed effects, lme4's parameters) the refit runs
at the array level, warm-started at the original estimates (lme4's ``bootMer`` refits from them too); a user
``statistic`` receives a full :class:`~lmmflow.GlmerResult` from :meth:`~lmmflow.GlmerResult.refit`.
Replicates are reproducible from ``seed`` (one ``numpy.random.SeedSequence`` child per replicate), and they
go in chunks of a fixed size (:data:`CHUNK`) through :func:`lmmflow.inference.parallel.parallel_map`, in this
process, over local processes (``n_jobs``) or on a Dask cluster (``client=``): each replicate's numbers depend
on its seed alone, so the replicates are identical for every ``n_jobs`` and on a cluster.
A refit that raises or does not converge is a failure: counted, reported with a
:class:`~lmmflow.inference.bootstrap.BootstrapWarning`, and left out of the replicates.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..results.base import require_kind
from .bootstrap import BootstrapFailures, BootstrapResult, BootstrapWarning, _stat_vector
from .intervals import all_parameter_names, sdcor_from_theta, select_parameters
from .parallel import progress_map

if TYPE_CHECKING:
    from ..results.glmm import GlmerResult

__all__ = ["CHUNK", "glmm_bootstrap", "glmm_confint_boot"]

CHUNK = 10  # replicates per task (fixed, so the chunks and their results do not depend on n_jobs)


class _Refitter:
    """Refits of the model to new responses, at the array level, from the original estimates."""

    def __init__(self, g: GlmerResult):
        from ..core.crossprod import theta_layout

        d = g.design
        self.g = g
        self.blocks = d.blocks()
        self.X = np.asarray(d.X, dtype=float)
        self.trials = None if d.response is None else d.response.trials
        slices, positions, _ = theta_layout(self.blocks)
        self.layout = [(sl, r, c, b.p) for sl, (r, c), b in zip(slices, positions, self.blocks)]
        self.start = {"theta": np.asarray(g.theta, dtype=float),
                      "beta": None if g.nagq == 0 else g.fixef.to_numpy(dtype=float)}

    def stat(self, theta: np.ndarray, beta: np.ndarray) -> np.ndarray:
        return np.concatenate([sdcor_from_theta(self.layout, np.asarray(theta, dtype=float), 1.0),
                               np.asarray(beta, dtype=float)])

    def __call__(self, y: np.ndarray) -> np.ndarray:
        from ..core.pirls import GlmmObjective
        from ..optim.glmm import fit_glmm

        g, d = self.g, self.g.design
        obj = GlmmObjective(self.blocks, self.X, y, g.family_object, prior_weights=d.frame.weights,
                            offset=d.frame.offset, nagq=g.nagq, trials=self.trials)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = fit_glmm(obj, nagq=g.nagq, control=g.control, start=self.start, warn=False)
        if not getattr(fit, "converged", True):
            raise RuntimeError("the refit did not converge")
        return self.stat(fit.theta, fit.beta)


class _Payload:
    """What every chunk needs: the fit (to simulate from and, for a user statistic, to refit) and the refitter."""

    def __init__(self, g: GlmerResult, refit: _Refitter, statistic: Callable[[Any], Any] | None):
        self.g, self.refit, self.statistic = g, refit, statistic


def _boot_chunk(pl: _Payload, chunk: tuple[int, list[np.random.SeedSequence]]
                ) -> list[tuple[np.ndarray | None, str]]:
    """Simulate and refit one chunk of replicates (module level: it pickles for processes and Dask).

    One ``(row, "")`` per replicate, or ``(None, message)`` for a failed refit.
    """
    from ..optim.threads import blas_threads

    _, seeds = chunk
    g, out = pl.g, []
    with blas_threads((g.control or _default_control()).blas_threads):  # as glmer's fit: small BLAS calls
        for child in seeds:
            try:
                y = g.simulate(1, seed=np.random.default_rng(child)).iloc[:, 0].to_numpy(dtype=float)
                if pl.statistic is None:
                    row = pl.refit(y)
                else:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        row = _stat_vector(pl.statistic(g.refit(y)))[1]
            except (ArithmeticError, ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
                out.append((None, f"{type(exc).__name__}: {exc}"))
                continue
            out.append((np.asarray(row, dtype=float), ""))
    return out


def _default_control() -> Any:
    from ..control import LmerControl

    return LmerControl()


def glmm_bootstrap(g: GlmerResult, statistic: Callable[[Any], Any] | None = None, nsim: int = 1000,
                   seed: int | np.random.SeedSequence | None = None, progress: bool = True, n_jobs: int = 1,
                   client: Any = None) -> BootstrapResult:
    """Parametric bootstrap of a GLMM: simulate from the fit, refit, collect a statistic (lme4's ``bootMer``).

    Parameters
    ----------
    g : GlmerResult
    statistic : callable, optional
        ``statistic(refit) -> Series | dict | array`` of a :class:`~lmmflow.GlmerResult`.  Default: the SDs
        and correlations of the random effects and the fixed effects, with lme4's names.
    nsim : int
    seed : int or numpy.random.SeedSequence, optional
    progress : bool
        Show a progress bar (tqdm) when the run takes more than a second.
    n_jobs : int
        Local processes (``-1``: all cores); replicates go in chunks of :data:`CHUNK`.  A user ``statistic``
        must then pickle (a module-level function) where processes are not forked.
    client : dask.distributed.Client, optional
        Run the chunks on a Dask cluster (:func:`lmmflow.inference.parallel.parallel_map`).

    Returns
    -------
    BootstrapResult
        ``.replicates``, ``.failures``, ``.confint(level, type)``, ``.summary()``.

    Examples
    --------
    >>> import lmmflow as lf
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
    ...              family="binomial")
    >>> b = lf.bootstrap(g, nsim=20, seed=1, progress=False)
    >>> b.replicates.shape, b.failures.count
    ((20, 5), 0)
    """
    require_kind(g, "glmm", "glmm_bootstrap")
    if int(nsim) < 1:
        raise ValueError("nsim must be at least 1")
    nsim = int(nsim)
    t_start = time.perf_counter()
    refit = _Refitter(g)
    if statistic is None:
        names = [nm for nm in all_parameter_names(g) if nm != "sigma"]
        t0 = refit.stat(g.theta, g.fixef.to_numpy(dtype=float))
    else:
        nm, t0 = _stat_vector(statistic(g))
        names = nm if nm is not None else [f"t{i + 1}" for i in range(len(t0))]
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    children = ss.spawn(nsim)
    chunks = [(s, children[s:s + CHUNK]) for s in range(0, nsim, CHUNK)]
    payload = _Payload(g, refit, statistic)
    results = progress_map(_boot_chunk, chunks, total=nsim, desc="bootstrap", unit="refit", progress=progress,
                           n_jobs=n_jobs, client=client, payload=payload)
    index: list[int] = []
    values: list[np.ndarray] = []
    fails: list[tuple[int, str]] = []
    for (start, _), res in zip(chunks, results):
        for j, (row, msg) in enumerate(res):
            r = start + j
            if row is None:
                fails.append((r, msg))
            elif len(row) != len(names):
                fails.append((r, f"the statistic returned {len(row)} values, not {len(names)}"))
            else:
                index.append(r)
                values.append(np.asarray(row, dtype=float))
    table = pd.DataFrame(np.asarray(values, dtype=float).reshape(len(values), len(names)),
                         index=pd.Index(index, name="replicate"), columns=names)
    failures = BootstrapFailures(count=len(fails), replicates=tuple(i for i, _ in fails),
                                 messages=tuple(msg for _, msg in fails))
    if failures:
        warnings.warn(f"{failures.count} of {nsim} bootstrap refits failed and are left out of the replicates "
                      f"(see result.failures); first: {failures.messages[0]}", BootstrapWarning, stacklevel=2)
    return BootstrapResult(table, pd.Series(np.asarray(t0, dtype=float), index=names, name="original"), failures,
                           nsim, seed if not isinstance(seed, np.random.SeedSequence) else seed.entropy,
                           time.perf_counter() - t_start, n_jobs, False)


def glmm_confint_boot(g: GlmerResult, level: float = 0.95, parm: Any = None, nsim: int = 1000,
                      seed: int | np.random.SeedSequence | None = None, type: str = "perc",  # noqa: A002
                      progress: bool = False, n_jobs: int = 1, client: Any = None) -> pd.DataFrame:
    """Parametric bootstrap intervals of a GLMM: what ``g.confint(method="boot")`` returns.

    Parameters
    ----------
    g : GlmerResult
    level : float
    parm : str, int or list, optional
        Names, positions, ``"theta_"`` or ``"beta_"``.
    nsim : int
    seed : int or numpy.random.SeedSequence, optional
    type : {"perc", "basic", "norm"}
        Percentile intervals (lme4's default ``boot.type = "perc"``) or the other two of ``boot.ci``.
    progress : bool
    n_jobs : int
        Local processes for the refits (the intervals are the same for every ``n_jobs``).
    client : dask.distributed.Client, optional
        Run the refits on a Dask cluster.

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter: lower, upper (``attrs`` as :meth:`BootstrapResult.confint`).

    Examples
    --------
    >>> import lmmflow as lf
    >>> g = lf.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"),
    ...              family="binomial")
    >>> ci = g.confint(method="boot", nsim=20, seed=3)
    >>> list(ci.columns), ci.shape[0]
    (['lower', 'upper'], 5)
    """
    b = glmm_bootstrap(g, nsim=nsim, seed=seed, progress=progress, n_jobs=n_jobs, client=client)
    names = list(b.t0.index)
    cols = select_parameters(names, len(g.theta), parm)
    out = b.confint(level=level, type=type, parm=cols)
    out.index.name = None
    return out
