"""Benchmark harness for lmmflow against lme4 (R) and statsmodels.

Run it from the repository root::

    python benchmarks/run.py --quick
    python benchmarks/run.py --libs lmmflow,lme4 --reuse-baseline

The package is split into small modules:

``problems``   the registry of benchmark problems (data file, formula, criterion, categorical columns);
``data``       loading a problem's data into a pandas frame, subsampling whole groups;
``formula``    a minimal reader for lme4 formulas (random-effect terms), used to decide what a library can express;
``memory``     resident-set-size readings (peak reset via ``/proc/self/clear_refs``);
``adapters``   one module per library, plus the subprocess worker that runs a Python fit in a fresh process;
``baseline``   saving and reusing lme4 figures, which are slow to measure;
``machine``    the description of the machine and software versions;
``report``     the console table and ``docs/benchmarks.md``;
``run``        the command-line entry point.
"""
