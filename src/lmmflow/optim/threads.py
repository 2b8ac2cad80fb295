"""Limits on BLAS threads while a model is fitted.

numpy and scipy wheels each ship their own OpenBLAS, each with its own thread pool.  lmmflow runs one
BLAS thread per library during a fit and parallelizes across processes instead (bootstrap, batch fits,
profiles, Dask), for two measured reasons (docs/engine.md, "Threads"):

- the optimization loop alternates many small calls between the two libraries; with more than one thread
  per pool, the idle threads of one busy-wait while the other works (a sleepstudy fit became 30 times
  slower on a 2-core machine);
- OpenBLAS's multithreaded Cholesky collapses when another process holds a core: a 1,128 x 1,128
  ``dpotrf`` took 18 ms on one thread and 1.6 s on two while one core was busy (a 90-fold slowdown), and
  the QR of InstEval's 73,421 x 28 fixed-effects matrix 0.35 s instead of 10 ms.  On an idle machine two
  threads gained at most a quarter of the fit time (InstEval: 0.43 s against 0.56 s), so the default
  does not gamble on the machine being idle.

threadpoolctl does the limiting; without it nothing is limited.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["blas_threads"]

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
def blas_threads(limit: int | str | None) -> Iterator[None]:
    """Run the block with BLAS thread limits, restoring the previous ones afterwards.

    Parameters
    ----------
    limit : int, "auto" or None
        An int limits every BLAS library to that many threads; ``"auto"`` means one thread per
        library; ``None`` changes nothing.

    Examples
    --------
    >>> with blas_threads(1):
    ...     pass
    """
    libs = _libraries() if limit is not None else []
    before = [lc.num_threads for lc in libs]
    n = 1 if limit == "auto" else (int(limit) if limit is not None else 0)
    try:
        for lc in libs:
            lc.set_num_threads(n)
        yield
    finally:
        for lc, k in zip(libs, before):
            lc.set_num_threads(k)
