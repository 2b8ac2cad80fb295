"""Type checkers see every public name: the lazily loaded ones are imported under TYPE_CHECKING too."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import lmmflow as lf


def _type_checking_names() -> set[str]:
    tree = ast.parse(inspect.getsource(lf))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                if isinstance(imp, ast.ImportFrom):
                    names.update(a.asname or a.name for a in imp.names)
    return names


def test_every_lazy_name_is_imported_for_type_checkers() -> None:
    missing = (set(lf._LAZY) | set(lf._LAZY_MODULES)) - _type_checking_names()
    assert not missing, f"add to the TYPE_CHECKING block of lmmflow/__init__.py: {sorted(missing)}"


def test_type_checking_imports_are_the_lazy_objects() -> None:
    for name in _type_checking_names():
        assert getattr(lf, name) is not None


def test_package_is_typed() -> None:
    assert (Path(lf.__file__).parent / "py.typed").exists()


def test_mypy_sees_lazy_names(tmp_path: Path) -> None:
    """mypy infers the real signature of lazily exported functions (not Any)."""
    src = tmp_path / "use.py"
    src.write_text("import lmmflow as lf\nreveal_type(lf.anova)\nreveal_type(lf.r2)\nreveal_type(lf.plots.spaghetti)\n")
    out = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent",
                          "--ignore-missing-imports", str(src)], capture_output=True, text=True, cwd=tmp_path)
    revealed = [line for line in out.stdout.splitlines() if "Revealed type" in line]
    assert len(revealed) == 3, out.stdout + out.stderr
    assert all('Revealed type is "def (' in line for line in revealed), out.stdout
    assert "-> lmmflow.inference.anova.AnovaFrame" in revealed[0]
