"""Memory of a vector-valued crossed fit in a fresh process: ``rating ~ days + (1 + days | user) + (1 | item)``.

    python -m benchmarks.memory_bound [--scale 0.1] [--json]

Makes the ratings data of ``shared/bench/make_data.py`` at ``--scale`` in memory (the same numbers as its
``ratings.csv``: ``benchmarks.data.make_ratings``; scale 1 is 1M rows, 40,000 users x 4,000 items, the
harness' ``ratings1m_slope``), then measures the fit as the harness' worker does: lmmflow imported and the data
loaded first, the RSS high-water mark reset (``/proc/self/clear_refs``), ``lf.lmer(..., reml=False)``, the
peak read (``VmHWM``).  Prints the fit's peak on top of the loaded process next to the two sizes it is bounded
by: the data frame (pandas ``memory_usage(deep=True)``) and the dense item block (items^2 doubles: the
trailing block of the crossed system once the users' 2 x 2 blocks are eliminated).
``tests/core/test_memory_bound.py`` runs it at scale 0.1 and holds the figures under stated multiples.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import warnings
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the ``benchmarks`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.data import frame_bytes, make_ratings  # noqa: E402
from benchmarks.memory import hwm_mb, reset_peak, rss_mb  # noqa: E402

FORMULA = "rating ~ days + (1 + days | user) + (1 | item)"


def measure(scale: float) -> dict[str, float | int | str | None]:
    """Fit :data:`FORMULA` on the ratings data at ``scale`` and read the fit's memory.

    Parameters
    ----------
    scale : float
        Share of make_data.py's full size (1: 1M rows).

    Returns
    -------
    dict
        ``rows``, ``users``, ``items``, ``data_mb``, ``item_block_mb``, ``rss_after_load_mb``,
        ``fit_peak_mb``, ``fit_increment_mb`` (peak minus loaded), ``seconds`` (fit wall time),
        ``cpu_seconds``, ``objective``.
    """
    import lmmflow as lf

    frame = make_ratings(scale)
    for col in ("user", "item"):
        frame[col] = frame[col].astype("category")
    n_items = frame["item"].nunique()
    gc.collect()
    loaded = rss_mb()
    reset = reset_peak()
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = lf.lmer(FORMULA, frame, reml=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = hwm_mb() if reset else None
    return {"formula": FORMULA, "scale": scale, "rows": len(frame), "users": int(frame["user"].nunique()),
            "items": int(n_items), "data_mb": frame_bytes(frame) / 2**20, "item_block_mb": n_items ** 2 * 8 / 2**20,
            "rss_after_load_mb": loaded, "fit_peak_mb": peak,
            "fit_increment_mb": None if peak is None or loaded is None else max(0.0, peak - loaded),
            "seconds": wall, "cpu_seconds": cpu, "objective": float(m.objective)}


def main(argv: list[str] | None = None) -> int:
    """Entry point: print the measurement (a JSON line with ``--json``)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.1, help="share of the 1M-row ratings data (default 0.1)")
    ap.add_argument("--json", action="store_true", help="one JSON line")
    args = ap.parse_args(argv)
    out = measure(args.scale)
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>18}: {v:.2f}" if isinstance(v, float) else f"{k:>18}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
