"""Running a command in its own process group, with a wall-clock limit that kills the whole group."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Completed:
    """How a command ended.

    Parameters
    ----------
    returncode : int or None
        ``None`` when it was killed for running past the limit.
    stdout, stderr : str
    timed_out : bool
    wall_seconds : float
    """

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    wall_seconds: float

    def tail(self, lines: int = 15) -> str:
        """The last lines of stderr (or stdout, if stderr is empty)."""
        text = self.stderr.strip() or self.stdout.strip()
        return "\n".join(text.splitlines()[-lines:])


def run_limited(cmd: Sequence[str], timeout: float, cwd: Path | None = None,
                env: Mapping[str, str] | None = None) -> Completed:
    """Run ``cmd``; after ``timeout`` seconds kill it and everything it started.

    Parameters
    ----------
    cmd : sequence of str
    timeout : float
        Seconds.
    cwd : pathlib.Path, optional
    env : mapping, optional
        Environment (default: inherited).

    Returns
    -------
    Completed
    """
    start = time.perf_counter()
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=None if env is None else dict(env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        return Completed(None, out, err, True, time.perf_counter() - start)
    return Completed(proc.returncode, out, err, False, time.perf_counter() - start)
