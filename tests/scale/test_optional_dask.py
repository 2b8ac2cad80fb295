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
        # inference, including the parallel paths that take a Dask client, works without Dask
        b = lf.bootstrap(m, nsim=30, seed=1, progress=False, n_jobs=1)
        assert b.failures.count == 0 and b.replicates.shape == (30, 6)
        assert lf.bootstrap(m, nsim=30, seed=1, progress=False, n_jobs=2).replicates.equals(b.replicates)
        ci = m.confint(method="profile", scale="vcov", parm="theta_")
        assert list(ci.index)[-1] == "var_Residual"
        assert m.coef_table(ddf="kenward-roger").shape == (2, 5)
        assert lf.anova(m).shape[0] == 1 and lf.ranova(m).shape[0] == 2
        m0 = lf.lmer("Reaction ~ Days + (1 | Subject)", df)
        assert lf.anova(m0, m)["chisq"].iloc[-1] > 40
        assert m.predict(df.head(3), interval="prediction").shape == (3, 4)
        assert lf.tidy(m, effects="fixed", conf_int=True).shape[0] == 2
        assert set(lf.r2(m)) == {"marginal", "conditional"} and lf.sim(m, 10, seed=1).n_sims == 10
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


def test_dask_extra_is_declared():
    """``pip install 'lmmflow[dask]'`` brings Dask's DataFrame, distributed and pyarrow (Parquet)."""
    import tomllib
    from pathlib import Path

    meta = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    extra = " ".join(meta["project"]["optional-dependencies"]["dask"])
    for need in ("dask[dataframe]", "distributed", "pyarrow"):
        assert need in extra
    assert not any(d.split("[")[0].startswith(("dask", "distributed")) for d in meta["project"]["dependencies"])
