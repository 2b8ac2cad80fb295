"""Dask plumbing shared by the scale-out modules: the import guard, reading data, and streaming results.

Dask is imported here only inside functions, so ``import lmmflow`` (and ``import lmmflow.scale``) works
without the ``lmmflow[dask]`` extra.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["DASK_MISSING", "as_dask_frame", "current_client", "is_dask_frame", "require_dask", "share",
           "stream_results"]

DASK_MISSING = ("fitting from a Dask DataFrame or from Parquet files needs Dask: "
                "install it with  pip install 'lmmflow[dask]'")


def require_dask() -> Any:
    """Import and return ``dask.dataframe``, or raise an ImportError that names the extra to install.

    Examples
    --------
    >>> dd = require_dask()
    >>> hasattr(dd, "read_parquet")
    True
    """
    try:
        import dask  # noqa: F401
        import dask.dataframe as dd
    except ImportError as exc:
        raise ImportError(DASK_MISSING) from exc
    return dd


def is_dask_frame(data: Any) -> bool:
    """True for a Dask DataFrame (checked by module name, without importing Dask)."""
    return type(data).__module__.startswith("dask") and hasattr(data, "map_partitions")


def as_dask_frame(data: Any, columns: Sequence[str] | None = None) -> Any:
    """A Dask DataFrame from a Dask DataFrame or a Parquet directory, file or glob, with only ``columns``.

    Parameters
    ----------
    data : dask.dataframe.DataFrame, str or os.PathLike
        A Dask frame, or a path to Parquet data (a directory of files, one file, or a glob).
    columns : sequence of str, optional
        Keep only these columns (Parquet reads only them).

    Returns
    -------
    dask.dataframe.DataFrame

    Raises
    ------
    ImportError
        Dask is not installed (``pip install 'lmmflow[dask]'``).
    lmmflow.DataError
        A column is missing.
    """
    from ..design.frame import DataError

    if isinstance(data, (str, os.PathLike)):
        dd = require_dask()
        path = os.fspath(data)
        if not (os.path.exists(path) or any(ch in path for ch in "*?[")):
            raise DataError(f"no Parquet data at {path!r}")
        ddf = dd.read_parquet(path)
    elif is_dask_frame(data):
        require_dask()
        ddf = data
    else:
        raise DataError(f"expected a Dask DataFrame or a path to Parquet files, got {type(data).__name__}")
    if columns is not None:
        missing = [c for c in columns if c not in ddf.columns]
        if missing:
            raise DataError(f"column(s) {missing} are not in the data; columns are {list(ddf.columns)}")
        ddf = ddf[list(columns)]
    return ddf


def current_client(client: Any = None) -> Any:
    """The given Dask client, else the default distributed client if one is running, else None."""
    if client is not None:
        return client
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def share(obj: Any, client: Any = None) -> Any:
    """``obj`` as an argument for many Dask tasks, sent to the workers once.

    With a distributed client it is scattered to every worker (a Future; no "large graph" to ship);
    otherwise it becomes one shared key of the graph (``dask.delayed(obj)``).
    """
    client = current_client(client)
    if client is not None:
        return client.scatter([obj], broadcast=True, hash=False)[0]  # a list: one Future, even for a tuple
    import dask

    return dask.delayed(obj, pure=True)


def stream_results(tasks: list[Any], consume: Callable[[Any], None], client: Any = None,
                   batch: int | None = None) -> None:
    """Compute Dask delayed ``tasks`` and hand each result to ``consume`` as it arrives.

    With a distributed client every task is submitted at once and the results are fetched one by one, in
    task order, each released on the cluster as soon as it is consumed: the driver holds one partition's
    result at a time, and a reduction sums in the same order on every run (reproducible to the last bit).
    Without a client, the local scheduler computes them ``batch`` at a time.

    Parameters
    ----------
    tasks : list of dask.delayed.Delayed
    consume : callable
        Called with each result, in task order.
    client : distributed.Client, optional
    batch : int, optional
        Tasks per local batch (default: the number of CPU cores).
    """
    client = current_client(client)
    if client is not None:
        futures = client.compute(tasks)
        for i, fut in enumerate(futures):
            res = fut.result()
            fut.release()
            futures[i] = None
            consume(res)
            del res
        return
    import dask

    size = batch or max(os.cpu_count() or 1, 1)
    for start in range(0, len(tasks), size):
        for res in dask.compute(*tasks[start:start + size]):
            consume(res)


def chunked(seq: Sequence[Any], nchunks: int) -> Iterator[list[Any]]:
    """Split ``seq`` into ``nchunks`` contiguous pieces of near-equal length (empty pieces skipped)."""
    n = len(seq)
    nchunks = max(1, min(nchunks, n))
    for i in range(nchunks):
        piece = list(seq[i * n // nchunks:(i + 1) * n // nchunks])
        if piece:
            yield piece
