"""Resident-set-size readings of the current process (Linux).

The fit's own peak is isolated by resetting the kernel's high-water mark after the data are loaded
(writing ``5`` to ``/proc/self/clear_refs``, Linux >= 4.0) and reading ``VmHWM`` after the fit.  Where that
is not possible the whole-process peak ``ru_maxrss`` is all there is, and the records say so.
"""

from __future__ import annotations

import resource
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(key: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status``, or ``None`` where it cannot be read."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float | None:
    """Current resident set size (``VmRSS``) in MiB, or ``None``."""
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1024


def hwm_mb() -> float | None:
    """Peak resident set size since start or the last :func:`reset_peak` (``VmHWM``) in MiB, or ``None``."""
    kb = _status_kb("VmHWM")
    return None if kb is None else kb / 1024


def reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS.

    Returns
    -------
    bool
        Whether the reset worked.
    """
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def maxrss_mb() -> float:
    """Whole-process peak RSS, ``getrusage(RUSAGE_SELF).ru_maxrss`` (kB on Linux), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
