"""BLAS threads during a fit: one per library, idle cores only for large dense factorizations."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.optim import threads


def test_idle_cores_is_a_count_of_spare_cores_or_unknown() -> None:
    n = threads.idle_cores()
    assert n is None or 0 <= n <= (os.cpu_count() or 1) - 1


@pytest.mark.parametrize("free, want", [(None, 1), (0, 1), (1, 2), (64, None)])
def test_hook_gives_lapack_one_thread_plus_the_idle_cores(monkeypatch: pytest.MonkeyPatch, free, want) -> None:
    calls: list[int] = []

    class Lib:
        filepath = "/x/scipy.libs/libscipy_openblas.so"

        def set_num_threads(self, n: int) -> None:
            calls.append(n)

    monkeypatch.setattr(threads, "_libraries", lambda: [Lib()])
    monkeypatch.setattr(threads, "idle_cores", lambda: free)
    hook = threads.IdleCoreLapack(max_threads=8)
    hook(threads.HEAVY_DENSE - 1)  # small blocks: nothing changes
    assert calls == []
    hook(threads.HEAVY_DENSE)
    expected = 8 if want is None else want
    assert calls == ([] if expected == 1 else [expected])
    assert hook.current == expected


def test_thread_settings_are_restored_after_a_fit(sleepstudy: pd.DataFrame) -> None:
    libs = threads._libraries()
    before = [lc.num_threads for lc in libs]
    lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy, control=lf.LmerControl(blas_threads=1))
    assert [lc.num_threads for lc in libs] == before


def test_large_crossed_fit_uses_the_hook_and_gives_the_same_optimum() -> None:
    rng = np.random.default_rng(4)
    n, na, nb = 6000, 1500, 1100  # the second factor's dense block is above HEAVY_DENSE
    a, b = rng.integers(0, na, n), rng.integers(0, nb, n)
    y = rng.normal(size=na)[a] + 0.5 * rng.normal(size=nb)[b] + rng.normal(size=n)
    df = pd.DataFrame({"y": y, "a": a, "b": b})
    m1 = lf.lmer("y ~ 1 + (1 | a) + (1 | b)", df, control=lf.LmerControl(blas_threads=1))
    m = lf.lmer("y ~ 1 + (1 | a) + (1 | b)", df)
    assert isinstance(m.devfun.factor.dense_hook, threads.IdleCoreLapack)
    assert m.objective == pytest.approx(m1.objective, rel=1e-10)
