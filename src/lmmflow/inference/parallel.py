"""A small map over chunks of work: in this process, over local processes, or on a Dask cluster.

Everything that repeats one computation many times (bootstrap refits, simulation studies) goes through
:func:`parallel_map`.  The work is cut into *chunks*; a module-level (picklable) function is applied to
``(payload, chunk)`` for each chunk, where the *payload* is the read-only data every chunk needs (the
model's cross-products, say).  The payload is shipped to each worker once, not once per chunk:

* ``n_jobs=1``: a plain loop in this process (no pickling at all);
* ``n_jobs > 1``: :class:`concurrent.futures.ProcessPoolExecutor`, the payload handed to each worker
  process by its initializer (inherited without pickling where processes are forked);
* ``client=`` a ``dask.distributed.Client``: the payload is scattered to every worker once
  (``client.scatter(payload, broadcast=True)``) and each chunk is a ``client.submit(func, payload, chunk)``
  task.  Dask itself is never imported here; any object with ``scatter``/``submit``/``gather`` in
  ``distributed``'s sense works.

Results come back in chunk order whatever order the workers finish in, so a computation whose chunks are
deterministic (seeded per replicate) gives the same answer for every ``n_jobs`` and on a cluster.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

__all__ = ["effective_jobs", "index_chunks", "parallel_map", "progress_map"]

C = TypeVar("C")
R = TypeVar("R")

_WORKER_PAYLOAD: dict[str, Any] = {}


def effective_jobs(n_jobs: int | None) -> int:
    """The number of local processes ``n_jobs`` asks for (``-1``: all cores, ``-2``: all but one...).

    Examples
    --------
    >>> effective_jobs(1)
    1
    >>> effective_jobs(-1) == (os.cpu_count() or 1)
    True
    """
    cpus = os.cpu_count() or 1
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max(1, cpus + 1 + n_jobs)
    return int(n_jobs)


def _init_worker(payload: Any) -> None:
    _WORKER_PAYLOAD["payload"] = payload


def _call_in_worker(func: Callable[[Any, Any], Any], chunk: Any) -> Any:
    return func(_WORKER_PAYLOAD["payload"], chunk)


def parallel_map(func: Callable[[Any, C], R], chunks: Sequence[C], n_jobs: int = 1, client: Any = None,
                 payload: Any = None, on_result: Callable[[int, R], None] | None = None) -> list[R]:
    """Apply ``func(payload, chunk)`` to every chunk; results in chunk order.

    Parameters
    ----------
    func : callable
        A module-level function (so that it pickles by reference) taking ``(payload, chunk)``.
    chunks : sequence
        The pieces of work, e.g. arrays of per-replicate seeds.  Each should be small to send.
    n_jobs : int
        Local processes (1: run here; -1: one per core).  Ignored when ``client`` is given.
    client : dask.distributed.Client, optional
        Run the chunks as tasks on a Dask cluster instead of local processes.
    payload : object
        Read-only data for every chunk, sent once per worker.
    on_result : callable, optional
        Called as ``on_result(index, result)`` in this process whenever a chunk finishes (progress bars).

    Returns
    -------
    list
        ``[func(payload, chunk) for chunk in chunks]``.

    Examples
    --------
    >>> from operator import add
    >>> parallel_map(add, [1, 2, 3], payload=10)
    [11, 12, 13]
    """
    chunks = list(chunks)
    results: list[Any] = [None] * len(chunks)
    if not chunks:
        return []
    if client is not None:
        return _dask_map(func, chunks, client, payload, on_result)
    jobs = min(effective_jobs(n_jobs), len(chunks))
    if jobs <= 1:
        for i, ch in enumerate(chunks):
            results[i] = func(payload, ch)
            if on_result is not None:
                on_result(i, results[i])
        return results
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(payload,)) as pool:
        futures = {pool.submit(_call_in_worker, func, ch): i for i, ch in enumerate(chunks)}
        for fut in as_completed(futures):
            i = futures[fut]
            results[i] = fut.result()
            if on_result is not None:
                on_result(i, results[i])
    return results


def progress_map(func: Callable[[Any, C], R], chunks: Sequence[C], *, total: int, desc: str, unit: str,
                 progress: bool = True, count: Callable[[R], int] = len, n_jobs: int = 1, client: Any = None,
                 payload: Any = None) -> list[R]:
    """:func:`parallel_map` with a progress bar (tqdm, shown when the work takes more than a second), advanced by
    ``count(result)`` as each chunk finishes and closed however the map ends.

    Examples
    --------
    >>> from operator import add
    >>> progress_map(add, [[1], [2, 3]], total=3, desc="demo", unit="item", progress=False, payload=[0])
    [[0, 1], [0, 2, 3]]
    """
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, disable=not progress, delay=1.0, leave=False)
    try:
        return parallel_map(func, chunks, n_jobs=n_jobs, client=client, payload=payload,
                            on_result=lambda i, r: bar.update(count(r)))
    finally:
        bar.close()


def index_chunks(n: int, n_jobs: int) -> list[list[int]]:
    """``0 .. n-1`` in consecutive chunks, about eight per worker (``n_jobs`` as :func:`effective_jobs` reads it,
    eight workers assumed for ``-1`` and the like), so the work balances without a task per item.

    Examples
    --------
    >>> index_chunks(5, 1)
    [[0], [1], [2], [3], [4]]
    >>> len(index_chunks(100, 2))
    17
    """
    step = max(1, n // (8 * max(1, n_jobs if n_jobs > 0 else 8)))
    return [list(range(a, min(n, a + step))) for a in range(0, n, step)]


def _dask_map(func: Callable[[Any, Any], Any], chunks: list[Any], client: Any, payload: Any,
              on_result: Callable[[int, Any], None] | None) -> list[Any]:
    """The Dask hook: scatter the payload once to every worker, one task per chunk, gather in order.

    With ``on_result`` (a progress bar) the chunks are gathered one at a time, in chunk order, so the bar
    moves while the cluster works; without it, in one ``gather``.
    """
    shared = client.scatter(payload, broadcast=True) if payload is not None else None
    futures = [client.submit(func, shared, ch, pure=False) for ch in chunks]
    if on_result is None:
        return list(client.gather(futures))
    results = []
    for i, fut in enumerate(futures):
        results.append(client.gather([fut])[0])
        on_result(i, results[i])
    return results
