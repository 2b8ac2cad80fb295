"""The documentation site builds with MkDocs in strict mode (every warning, e.g. a broken link or an API
reference that no longer resolves, is an error), as CI builds it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_docs_site_builds_strict(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(REPO / "mkdocs.yml"),
                          "-d", str(tmp_path / "site")], capture_output=True, text=True, env=env, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    api = (tmp_path / "site" / "api" / "fitting" / "index.html").read_text()
    assert "lmer" in api and "Examples" in api  # the reference is rendered from the docstrings
    assert (tmp_path / "site" / "lme4_users" / "index.html").exists()


def test_every_public_name_is_in_the_api_reference() -> None:
    """Each name of ``lf.__all__`` (and every plot function, through ``lmmflow.plots``) has a ``:::`` entry."""
    import re

    import lmmflow as lf

    text = " ".join(p.read_text() for p in (REPO / "docs" / "api").glob("*.md"))
    targets = set(re.findall(r"::: ([\w.]+)", text))
    def documented(name: str) -> bool:  # by its own entry, or by its whole module's (lmmflow.exceptions)
        module = getattr(getattr(lf, name), "__module__", None)
        return any(t == f"lmmflow.{name}" or t.endswith(f".{name}") or t == module for t in targets)

    missing = [name for name in lf.__all__ if not documented(name)]
    assert not missing, f"add to docs/api/*.md: {missing}"
