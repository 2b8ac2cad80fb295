"""Scale-out: fit on Dask DataFrames and Parquet files, many responses on one design, parallel refits.

``lf.lmer(formula, ddf)`` (a Dask DataFrame or a Parquet path) calls :func:`lmer_dask`, ``lf.glmer(formula, ddf)``
:func:`glmer_dask`;
:func:`fit_many` fits one model per response on a shared design.  Dask is imported only when a Dask
frame or path is fitted or a client is used: ``pip install 'lmmflow[dask]'`` for that part.
"""

from .dask_fit import lmer_dask
from .dask_glmm import DaskGlmerResult, glmer_dask
from .many import ManyFits, fit_many

__all__ = ["DaskGlmerResult", "DaskLmerResult", "ManyFits", "fit_many", "glmer_dask", "lmer_dask"]


def __getattr__(name: str) -> object:
    if name == "DaskLmerResult":
        from .result import DaskLmerResult

        return DaskLmerResult
    raise AttributeError(f"module 'lmmflow.scale' has no attribute {name!r}")
