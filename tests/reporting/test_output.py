"""Nothing lost: a report folder is written staged and moved into place, and a folder holding files lmmflow did
not write is refused before any work."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest

import lmmflow as lf
from lmmflow.reporting import output
from lmmflow.reporting.output import MANIFEST, OutputFolderError, check_output_folder, staged_folder
from lmmflow.reporting.workflow import Report


@pytest.fixture(scope="module")
def small_rep():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lf.report(lf.simulate_growth(n_units=25, seed=4), "y ~ time + (1 + time | id)", figures=False)


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".lmmflow-" in p.name)


@pytest.mark.parametrize("setup, ok", [
    ("missing", True), ("empty", True), ("manifest_only", True), ("foreign", False), ("foreign_nested", False),
    ("listed_plus_foreign", False)])
def test_which_folders_may_be_replaced(tmp_path, setup, ok):
    d = tmp_path / "out"
    if setup != "missing":
        d.mkdir()
    if setup in ("manifest_only", "listed_plus_foreign"):
        (d / "report.html").write_text("old")
        (d / MANIFEST).write_text(json.dumps({"files": ["report.html"]}))
    if setup in ("foreign", "listed_plus_foreign"):
        (d / "blups.csv").write_text("the user's data")
    if setup == "foreign_nested":
        (d / "sub").mkdir()
        (d / "sub" / "notes.txt").write_text("mine")
    if ok:
        check_output_folder(d)
    else:
        with pytest.raises(OutputFolderError, match="lmmflow did not write"):
            check_output_folder(d)


def test_a_file_in_the_way(tmp_path):
    f = tmp_path / "out"
    f.write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        check_output_folder(f)


def test_users_blups_csv_is_never_replaced(small_rep, tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    (d / "blups.csv").write_text("id,score\n1,2\n")
    with pytest.raises(FileExistsError, match=r"blups\.csv"):
        small_rep.write(d)
    assert (d / "blups.csv").read_text() == "id,score\n1,2\n"
    assert sorted(p.name for p in d.iterdir()) == ["blups.csv"]
    assert leftovers(tmp_path) == []


def test_report_refuses_before_fitting(tmp_path, monkeypatch):
    d = tmp_path / "out"
    d.mkdir()
    (d / "data.csv").write_text("mine")

    def boom(*a, **k):
        raise AssertionError("fitted although the folder is refused")

    monkeypatch.setattr("lmmflow.reporting.workflow.fit_with_time_hint", boom)
    with pytest.raises(OutputFolderError):
        lf.report(lf.simulate_growth(n_units=10, seed=1), "y ~ time + (1 | id)", out=d, figures=False)


def test_rewrite_replaces_own_report_and_lists_it(small_rep, tmp_path):
    d = tmp_path / "out"
    first = small_rep.write(d, formats=("txt", "md"))
    manifest = json.loads((d / MANIFEST).read_text())
    assert sorted(manifest["files"]) == sorted(p.name for p in first.values())
    second = small_rep.write(d, formats=("txt",))  # its own earlier report: replaced as a whole
    assert sorted(p.name for p in d.iterdir()) == sorted([MANIFEST, *(p.name for p in second.values())])
    assert "summary.md" not in {p.name for p in d.iterdir()}
    assert leftovers(tmp_path) == []
    assert all(p.parent == d for p in second.values())


def test_interrupted_write_leaves_the_previous_report(small_rep, tmp_path, monkeypatch):
    d = tmp_path / "out"
    small_rep.write(d, formats=("txt",))
    before = {p.name: p.read_bytes() for p in d.iterdir()}

    def half_then_ctrl_c(self, folder, formats=None):
        (Path(folder) / "summary.txt").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(Report, "write_into", half_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        small_rep.write(d, formats=("txt",))
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before
    assert leftovers(tmp_path) == []


def test_interrupted_between_the_moves_puts_the_previous_back(tmp_path, monkeypatch):
    d = tmp_path / "out"
    with staged_folder(d) as tmp:
        (tmp / "a.txt").write_text("first")
    real = os.replace
    calls = []

    def second_move_fails(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(output.os, "replace", second_move_fails)
    with pytest.raises(KeyboardInterrupt):
        with staged_folder(d) as tmp:
            (tmp / "a.txt").write_text("second")
    monkeypatch.setattr(output.os, "replace", real)
    assert (d / "a.txt").read_text() == "first"
    assert leftovers(tmp_path) == []


def test_folder_gets_the_usual_permissions(tmp_path):
    d = tmp_path / "out"
    with staged_folder(d) as tmp:
        (tmp / "a.txt").write_text("x")
    umask = os.umask(0)
    os.umask(umask)
    assert (d.stat().st_mode & 0o777) == (0o777 & ~umask)


def test_the_current_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="current folder"):
        check_output_folder(".")
