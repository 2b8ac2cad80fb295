"""Running a command in its own process group, with a wall-clock limit that kills the whole group."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
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


def _address_space_limit(limit_bytes: int) -> Callable[[], None]:
    """A ``preexec_fn`` that caps the child's virtual memory (``RLIMIT_AS``), so a runaway fit fails its own
    allocation (R: "cannot allocate vector", numpy: ``MemoryError``) instead of taking the machine's memory."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    return cap


def run_limited(cmd: Sequence[str], timeout: float, cwd: Path | None = None,
                env: Mapping[str, str] | None = None, memory_limit_gb: float | None = None) -> Completed:
    """Run ``cmd``; after ``timeout`` seconds kill it and everything it started.

    Parameters
    ----------
    cmd : sequence of str
    timeout : float
        Seconds.
    cwd : pathlib.Path, optional
    env : mapping, optional
        Environment (default: inherited).
    memory_limit_gb : float, optional
        Cap on the virtual memory of the command (``RLIMIT_AS``, GiB; inherited by what it starts).

    Returns
    -------
    Completed
    """
    start = time.perf_counter()
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=None if env is None else dict(env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=None if memory_limit_gb is None else
                            _address_space_limit(int(memory_limit_gb * 2**30)))
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
