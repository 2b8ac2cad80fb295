"""Writing a report folder without losing anything: stage, then move into place; never replace foreign files.

A run writes into a hidden temporary folder next to the target and, once every file is complete, swaps it
into place. An interrupted run (Ctrl-C, a full disk, a failed figure) leaves the previous complete report,
or no folder at all, never a half-written one. A target folder that holds files lmmflow did not write is
refused with one clear line: lmmflow records what it wrote in ``.lmmflow-manifest.json`` and only ever
replaces a folder whose every file is listed there (or an empty one).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["MANIFEST", "OutputFolderError", "check_output_folder", "staged_folder"]

#: The file, inside every folder lmmflow writes, that lists what it wrote.
MANIFEST = ".lmmflow-manifest.json"


class OutputFolderError(FileExistsError):
    """The output folder holds files that lmmflow did not write (so writing there could lose them).

    A ``FileExistsError`` (an ``OSError``): the CLI shows it as one line.

    Examples
    --------
    >>> import lmmflow as lf, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "notes.txt").write_text("mine")
    >>> try:
    ...     check_output_folder(d)
    ... except lf.OutputFolderError as exc:
    ...     print("refused:", "notes.txt" in str(exc))
    refused: True
    """


def _listed(folder: Path) -> set[str]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return {str(f) for f in data.get("files", [])}
    except (OSError, ValueError, AttributeError):
        return set()


def check_output_folder(folder: str | os.PathLike[str]) -> None:
    """Raise :class:`OutputFolderError` (or ``NotADirectoryError``) unless lmmflow may replace ``folder``.

    It may when the folder does not exist, is empty, or holds only files listed in its manifest (a report
    lmmflow wrote there before).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_output_folder(d / "new")
    >>> (d / "blups.csv").write_text("mine")
    4
    >>> check_output_folder(d)
    Traceback (most recent call last):
    ...
    lmmflow.reporting.output.OutputFolderError: output folder ... holds 1 file(s) lmmflow did not write ...
    """
    out = Path(folder)
    if not out.exists():
        return
    if not out.is_dir():
        raise NotADirectoryError(f"output path {os.fspath(out)!r} is a file; give a folder name (it is created "
                                 "if needed)")
    if out.resolve() == Path.cwd().resolve():
        raise ValueError(f"output folder {os.fspath(out)!r} is the current folder, which a report cannot replace: "
                         "give a new subfolder, e.g. 'report'")
    listed = _listed(out) | {MANIFEST}
    foreign = sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                     if (p.is_file() or p.is_symlink()) and p.relative_to(out).as_posix() not in listed)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise OutputFolderError(
            f"output folder {os.fspath(out)!r} holds {len(foreign)} file(s) lmmflow did not write ({shown}); "
            "lmmflow never overwrites them: choose a new or empty folder, or move those files away")


@contextlib.contextmanager
def staged_folder(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary folder to write a run into, moved to ``folder`` when the ``with`` block ends normally.

    The check of :func:`check_output_folder` runs first (and again before the move). Files written in the
    block are listed in the manifest. On an exception or Ctrl-C the temporary folder is removed and
    ``folder`` is left as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "rep"
    >>> with staged_folder(target) as tmp:
    ...     _ = (tmp / "a.txt").write_text("hello")
    >>> sorted(p.name for p in target.iterdir())
    ['.lmmflow-manifest.json', 'a.txt']
    """
    out = Path(folder)
    check_output_folder(out)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.lmmflow-tmp-", dir=parent))
    except OSError as exc:
        raise OSError(f"cannot create the output folder {os.fspath(out)!r}: {exc.strerror or exc}") from None
    done = False
    old: Path | None = None
    try:
        yield tmp
        files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        (tmp / MANIFEST).write_text(json.dumps({"written_by": "lmmflow", "files": files}, indent=1),
                                    encoding="utf-8")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        check_output_folder(out)  # a file may have appeared while the run was going
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.lmmflow-old-", dir=parent))
            os.rmdir(old)
            os.replace(out, old)
        os.replace(tmp, out)
        done = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if not done:
            if old is not None and old.exists() and not out.exists():
                os.replace(old, out)  # interrupted between the two moves: put the previous report back
            shutil.rmtree(tmp, ignore_errors=True)
