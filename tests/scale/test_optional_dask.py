"""lmmflow works without Dask; only fitting a Dask frame or Parquet path asks for the extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import lmmflow as lf
from lmmflow.scale._dask import DASK_MISSING, require_dask

BLOCK = textwrap.dedent("""
    import sys
    class _NoDask:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("dask", "distributed"):
                raise ImportError(f"No module named {name!r} (blocked)")
            return None
    sys.meta_path.insert(0, _NoDask())
""")


def run(code: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)


def test_without_dask_everything_else_works(tmp_path):
    (tmp_path / "data").mkdir()
    res = run("""
        import numpy as np
        import lmmflow as lf
        df = lf.load_dataset("sleepstudy")
        m = lf.lmer("Reaction ~ Days + (Days | Subject)", df)
        assert round(m.objective, 3) == 1743.628
        mf = lf.fit_many("y ~ Days + (1 | Subject)", df, ["Reaction"], progress=False, n_jobs=1)
        assert abs(mf.records["Reaction"].sigma - lf.lmer("Reaction ~ Days + (1 | Subject)", df).sigma) < 1e-6
        import lmmflow.scale
        assert "dask" not in sys.modules and "distributed" not in sys.modules
        try:
            lf.lmer("Reaction ~ Days + (Days | Subject)", "data")
        except ImportError as e:
            print("IMPORT-ERROR:", e)
    """, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "IMPORT-ERROR:" in res.stdout and "lmmflow[dask]" in res.stdout


def test_require_dask_message(monkeypatch):
    for name in ("dask", "dask.dataframe"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"lmmflow\[dask\]"):
        require_dask()
    with pytest.raises(ImportError, match=r"lmmflow\[dask\]"):
        lf.lmer("y ~ x + (1 | g)", "some/dir/*.parquet")
    assert "pip install" in DASK_MISSING
