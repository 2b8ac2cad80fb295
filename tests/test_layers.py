"""The layers run one way: the fit driver sits below the results, and results never import their builders."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lmmflow as lf

SRC = Path(lf.__file__).parent


def _imports(path: Path) -> set[str]:
    """Modules a file imports (relative imports resolved against the lmmflow package), anywhere in it."""
    pkg = path.relative_to(SRC.parent).with_suffix("").parts[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(pkg[:len(pkg) - node.level + 1]) if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


@pytest.mark.parametrize("path", sorted((SRC / "results").glob("*.py")), ids=lambda p: p.name)
def test_results_do_not_import_the_code_that_builds_them(path: Path) -> None:
    bad = {m for m in _imports(path) if m.startswith(("lmmflow.api", "lmmflow.fitting"))}
    assert not bad, f"{path.name} imports {sorted(bad)}: reach builders through lmmflow.results.builders"


@pytest.mark.parametrize("module", ["fitting.py", "core", "optim", "design"])
def test_the_driver_and_what_it_uses_sit_below_results(module: str) -> None:
    paths = [SRC / module] if module.endswith(".py") else sorted((SRC / module).glob("*.py"))
    for path in paths:
        bad = {m for m in _imports(path)
               if m.startswith(("lmmflow.results", "lmmflow.api", "lmmflow.inference", "lmmflow.scale"))}
        assert not bad, f"{path} imports {sorted(bad)}"


def test_refit_and_update_go_through_the_registered_builders() -> None:
    from lmmflow.results.builders import builder

    assert builder("fit_design") is lf.fit_design and builder("lmer") is lf.lmer
    m = lf.lmer("Reaction ~ Days + (1 | Subject)", lf.load_dataset("sleepstudy"))
    again = m.refit(m.design.y)
    assert again.objective == pytest.approx(m.objective, rel=1e-12)
    with pytest.raises(RuntimeError, match="no builder"):
        builder("glmer_not_there")
