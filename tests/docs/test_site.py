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
