"""fit_many(..., family="binomial") against a loop of lf.glmer: many binary responses on one small design.

    PYTHONPATH=src python benchmarks/glmm_many_bench.py                # 200 responses, 20 units x 10 waves
    PYTHONPATH=src python benchmarks/glmm_many_bench.py --responses 50 --units 40

CPU seconds (``time.process_time``, BLAS limited to one thread, the fastest of ``--repeat`` runs) for the
loop of ``lf.glmer``, for ``fit_many`` with lme4's start and with ``warm_start=True``; wall seconds for
``n_jobs=1`` and ``n_jobs=2``; and the largest
differences between the loop's and fit_many's estimates.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

import lmmflow as lf


def data(units: int, waves: int, responses: int, seed: int = 2026) -> tuple[pd.DataFrame, list[str]]:
    """Binary responses from ``logit p = -0.5 + 1.0 wave + u_unit``, ``u ~ N(0, 0.8^2)``, fresh u per response."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"unit": np.repeat(np.arange(units), waves), "wave": np.tile(np.arange(waves) / waves, units)})
    uid = df["unit"].to_numpy()
    cols = {}
    for j in range(responses):
        eta = -0.5 + 1.0 * df["wave"].to_numpy() + rng.normal(0, 0.8, units)[uid]
        cols[f"y{j + 1}"] = (rng.random(len(df)) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.concat([df, pd.DataFrame(cols)], axis=1), list(cols)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--responses", type=int, default=200)
    ap.add_argument("--units", type=int, default=20)
    ap.add_argument("--waves", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    df, names = data(args.units, args.waves, args.responses)
    formula = "y ~ wave + (1 | unit)"
    print(f"{args.responses} binary responses, {args.units} units x {args.waves} waves, {formula!r}; "
          f"load {os.getloadavg()[0]:.1f}")
    lf.glmer(f"{names[0]} ~ wave + (1 | unit)", df, family="binomial", quiet=True)  # imports, caches
    t_loop = t_many = t_warm = np.inf
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(args.repeat):  # interleaved, the fastest of each kept (a shared machine)
            t = time.process_time()
            loop = [lf.glmer(f"{nm} ~ wave + (1 | unit)", df, family="binomial", quiet=True) for nm in names]
            t_loop = min(t_loop, time.process_time() - t)
            t = time.process_time()
            mf = lf.fit_many(formula, df, names, family="binomial", progress=False)
            t_many = min(t_many, time.process_time() - t)
            t = time.process_time()
            warm = lf.fit_many(formula, df, names, family="binomial", progress=False, warm_start=True)
            t_warm = min(t_warm, time.process_time() - t)
    t = time.perf_counter()
    lf.fit_many(formula, df, names, family="binomial", progress=False)
    w_one = time.perf_counter() - t
    t = time.perf_counter()
    par = lf.fit_many(formula, df, names, family="binomial", progress=False, n_jobs=2)
    w_par = time.perf_counter() - t
    beta = np.array([g.fixef.to_numpy() for g in loop])
    obj = np.array([g.objective for g in loop])
    evals = (mf.fits["evaluations"].sum(), warm.fits["evaluations"].sum())
    print(f"loop of lf.glmer           {t_loop:7.2f} s CPU  ({1e3 * t_loop / len(names):.1f} ms per response)")
    print(f"fit_many                   {t_many:7.2f} s CPU  ({t_loop / t_many:.2f}x)  {evals[0]} evaluations")
    print(f"fit_many(warm_start=True)  {t_warm:7.2f} s CPU  ({t_loop / t_warm:.2f}x)  {evals[1]} evaluations")
    print(f"fit_many(n_jobs=1)         {w_one:7.2f} s wall")
    print(f"fit_many(n_jobs=2)         {w_par:7.2f} s wall  (load {os.getloadavg()[0]:.1f})")
    print(f"max |beta - loop|: {np.abs(mf.fixef.to_numpy() - beta).max():.2g} (cold), "
          f"{np.abs(warm.fixef.to_numpy() - beta).max():.2g} (warm); "
          f"max |objective - loop|: {np.abs(mf.fits['deviance'].to_numpy() - obj).max():.2g} (cold), "
          f"{np.abs(warm.fits['deviance'].to_numpy() - obj).max():.2g} (warm); "
          f"n_jobs=2 equal: {np.array_equal(par.fixef.to_numpy(), mf.fixef.to_numpy())}; "
          f"converged {int(mf.fits['converged'].sum())}/{len(names)}, singular {int(mf.fits['singular'].sum())}")


if __name__ == "__main__":
    main()
