"""Limits on BLAS threads while a model is fitted.

numpy and scipy wheels each ship their own OpenBLAS, each with its own thread pool.  The optimization
loop alternates many small calls between the two; with more than one thread per pool, the idle threads
of one library busy-wait while the other works, and on a 2-core machine a fit became 30 times slower
(measured in docs/engine.md).  So, during a fit:

- by default every BLAS library runs one thread, and lmmflow parallelizes across processes instead
  (bootstrap, batch fits, Dask);
- when the model has a large dense block (crossed factors with thousands of levels), the LAPACK work on
  it (all of it goes through scipy) gets every core, while numpy's pool stays at one thread so the two
  never compete.

threadpoolctl does the limiting; without it nothing is limited.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["HEAVY_DENSE", "blas_threads"]

HEAVY_DENSE = 1000  # a dense block at least this large makes multithreaded LAPACK worth it (InstEval's 1,128
# lecturers: 0.43 s against 0.56 s for the whole fit on 2 cores)

_controller: Any = None


def _libraries() -> list[Any]:
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _controller = False
        else:
            _controller = ThreadpoolController()
    if _controller is False:
        return []
    return [lc for lc in _controller.lib_controllers if lc.user_api == "blas"]


@contextmanager
def blas_threads(limit: int | str | None, heavy: bool = False) -> Iterator[None]:
    """Run the block with BLAS thread limits.

    Parameters
    ----------
    limit : int, "auto" or None
        An int limits every BLAS library to that many threads; ``None`` changes nothing; ``"auto"``
        gives one thread to every library, or, when ``heavy``, all cores to scipy's LAPACK and one
        thread to numpy's.
    heavy : bool
        The model has a dense block of at least :data:`HEAVY_DENSE` rows.
    """
    libs = _libraries() if limit is not None else []
    before = [lc.num_threads for lc in libs]
    try:
        for lc in libs:
            if limit == "auto":
                n = 1
                if heavy and ("numpy" not in os.path.basename(os.path.dirname(lc.filepath)) or len(libs) == 1):
                    n = os.cpu_count() or 1
            else:
                n = int(limit)
            lc.set_num_threads(n)
        yield
    finally:
        for lc, n in zip(libs, before):
            lc.set_num_threads(n)
