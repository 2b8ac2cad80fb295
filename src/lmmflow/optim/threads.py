"""BLAS threads while a model is fitted: one per library, and idle cores for large dense factorizations.

numpy and scipy wheels each ship their own OpenBLAS, each with its own thread pool.  lmmflow runs one
BLAS thread per library during a fit and parallelizes across processes instead (bootstrap, batch fits,
profiles, Dask), for two measured reasons (docs/engine.md, "Threads"):

- the optimization loop alternates many small calls between the two libraries; with more than one thread
  per pool, the idle threads of one busy-wait while the other works (a sleepstudy fit became 30 times
  slower on a 2-core machine);
- OpenBLAS's multithreaded Cholesky collapses when another process holds a core: a 1,128 x 1,128
  ``dpotrf`` took 18 ms on one thread and 1.6 s on two while one core was busy (a 90-fold slowdown), and
  the QR of InstEval's 73,421 x 28 fixed-effects matrix 0.35 s instead of 10 ms.

What threads do pay for is a large dense factorization on cores nobody else uses.  So, for a model with
a dense block of at least :data:`HEAVY_DENSE` rows, :class:`IdleCoreLapack` looks, just before each such
factorization or inversion, at how many tasks other than this process's own are runnable (Linux's
``/proc/loadavg`` and ``/proc/self/task``; a few file reads, 0.1 ms against the 15 ms of InstEval's
Cholesky) and gives scipy's LAPACK one thread plus the idle cores; numpy's pool stays at one.  A
process that starts meanwhile costs at most the one factorization under way.  Elsewhere (no ``/proc``)
nothing changes.

threadpoolctl does the limiting; without it nothing is limited.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["HEAVY_DENSE", "IdleCoreLapack", "blas_threads", "find_blas_libraries", "idle_cores"]

HEAVY_DENSE = 1000
"""Dense blocks at least this large get the idle cores (InstEval: 1,128 lecturers)."""

_controller: Any = None


def find_blas_libraries() -> None:
    """Locate the loaded BLAS libraries now (threadpoolctl scans the process's shared libraries, about
    20 ms), so that the first fit does not pay for it; ``import lmmflow`` calls this once numpy's and
    scipy's BLAS are loaded."""
    _libraries()


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


def idle_cores() -> int | None:
    """Cores not in use by other tasks at this instant, besides the calling thread's; None where unknown.

    Linux only: the runnable tasks of ``/proc/loadavg`` minus this process's own running threads (whose
    BLAS workers may still be spinning from the previous call).

    Examples
    --------
    >>> n = idle_cores()
    >>> n is None or 0 <= n < (os.cpu_count() or 1)
    True
    """
    try:
        with open("/proc/loadavg") as fh:
            runnable = int(fh.read().split()[3].split("/")[0])
        own = 0
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            if stat[stat.rindex(")") + 2] == "R":
                own += 1
    except (OSError, ValueError, IndexError):
        return None
    cores = os.cpu_count() or 1
    others = max(0, runnable - max(own, 1))
    return max(0, cores - 1 - others)


class IdleCoreLapack:
    """A dense-block hook (``BlockedCholesky.dense_hook``): scipy's LAPACK gets 1 + the idle cores.

    Parameters
    ----------
    max_threads : int, optional
        At most this many threads (default: all cores).
    """

    def __init__(self, max_threads: int | None = None):
        self.libs = [lc for lc in _libraries() if "numpy" not in os.path.basename(os.path.dirname(lc.filepath))]
        self.max_threads = max_threads or (os.cpu_count() or 1)
        self.current = 1

    def __call__(self, size: int) -> None:
        if size < HEAVY_DENSE or not self.libs:
            return
        free = idle_cores()
        want = 1 if free is None else max(1, min(self.max_threads, 1 + free))
        if want != self.current:
            for lc in self.libs:
                lc.set_num_threads(want)
            self.current = want
