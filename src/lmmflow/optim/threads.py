"""Limits on BLAS threads while a model is fitted.

numpy and scipy each ship their own OpenBLAS, each with its own thread pool.  The optimization loop
alternates many small calls between the two; with more than one thread per pool the idle threads of
one library busy-wait while the other works, and on a small machine a fit can become many times
slower (measured in docs/engine.md).  The loop therefore runs with a fixed number of BLAS threads
(``LmerControl(blas_threads=1)`` by default); parallel work in lmmflow happens across processes
(bootstrap, batch fits, Dask) instead.  threadpoolctl does the limiting; without it nothing is limited.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

__all__ = ["blas_threads"]

_controller: Any = None


def blas_threads(limit: int | None) -> AbstractContextManager[Any]:
    """A context in which BLAS libraries use at most ``limit`` threads (``None``: no limit)."""
    global _controller
    if limit is None:
        return nullcontext()
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # optional at run time; declared as a dependency
            _controller = False
        else:
            _controller = ThreadpoolController()
    if _controller is False:
        return nullcontext()
    return _controller.limit(limits=limit, user_api="blas")
