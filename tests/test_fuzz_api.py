"""A hypothesis sweep of the public API over formulas and data (issue 11, "Done when").

Whatever the formula and data, lf.lmer and what users call on its result either work or raise one of lmmflow's
clear errors (DataError, FormulaError or another ValueError with a message): never an internal exception such as
KeyError, IndexError, AttributeError, numpy's LinAlgError, TypeError or ZeroDivisionError.  Bounded for CI:
derandomized, 60 examples per test, no deadline.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmmflow as lf

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# internal exception types that must never escape the public API (LinAlgError is a ValueError: listed first)
INTERNAL = (np.linalg.LinAlgError, KeyError, IndexError, AttributeError, TypeError, ZeroDivisionError,
            FloatingPointError, AssertionError, NotImplementedError, RecursionError)


def call(what: str, fn: Callable[[], Any]) -> Any:
    """Run fn; a clear lmmflow error returns None, an internal exception fails the test naming the call."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()
    except INTERNAL as e:
        pytest.fail(f"{what} raised {type(e).__name__}: {e}")
    except ValueError as e:  # DataError and FormulaError are ValueErrors
        assert str(e).strip(), f"{what} raised {type(e).__name__} without a message"
        return None


# ---- strategies -----------------------------------------------------------------------------------------------

FIXED = ["1", "x", "z", "f", "x + z", "x * f", "x:z", "0 + f", "x + I(x**2)", "np.log(w)", "x + f + z"]
BARS = ["(1 | g)", "(x | g)", "(0 + x | g)", "(x || g)", "(1 | h)", "(1 | g/h)", "(1 | g:h)", "(x + z | g)",
        "(1 + f | g)", "(z || h)", "(0 + f | h)", "(x * z || g)"]


@st.composite
def formulas(draw: st.DrawFn) -> str:
    fixed = draw(st.sampled_from(FIXED))
    bars = draw(st.lists(st.sampled_from(BARS), min_size=1, max_size=3, unique=True))
    return f"y ~ {fixed} + " + " + ".join(bars)


@st.composite
def frames(draw: st.DrawFn) -> tuple[pd.DataFrame, np.ndarray | None]:
    n = draw(st.integers(4, 60))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    n_g = draw(st.integers(1, 8))
    n_h = draw(st.integers(1, 5))
    n_f = draw(st.integers(1, 4))
    df = pd.DataFrame({
        "x": rng.normal(size=n),
        "z": rng.integers(0, 5, n).astype(float),
        "w": rng.uniform(0.5, 3.0, n),
        "f": rng.choice([f"l{i}" for i in range(n_f)], n),
        "g": rng.choice([f"g{i}" for i in range(n_g)], n),
        "h": rng.integers(0, n_h, n),
    })
    u = rng.normal(size=n_g)
    df["y"] = 1.0 + df["x"] + u[df["g"].str[1:].astype(int)] + rng.normal(size=n)
    # odd inputs
    if draw(st.booleans()):
        k = draw(st.integers(1, max(1, n // 4)))
        col = draw(st.sampled_from(["y", "x", "z", "f", "g"]))
        rows = rng.choice(n, k, replace=False)
        df[col] = df[col].astype(object) if col in ("f", "g") else df[col]
        df.loc[rows, col] = np.nan
    if draw(st.booleans()):
        df[draw(st.sampled_from(["x", "z", "y"]))] = draw(st.sampled_from([0.0, 1.0, 3.5]))  # constant column
    scale = draw(st.sampled_from([1.0, 1.0, 1e-8, 1e8, 1e300]))
    df["y"] = df["y"] * scale
    if draw(st.booleans()):
        df["g"] = [f"s{i}" for i in range(n)]  # every row its own group (singletons)
    weights = None
    kind = draw(st.sampled_from(["none", "none", "positive", "zeros", "negative"]))
    if kind == "positive":
        weights = rng.uniform(0.2, 5.0, n)
    elif kind == "zeros":
        weights = np.where(rng.uniform(size=n) < 0.5, 0.0, 1.0)
    elif kind == "negative":
        weights = rng.normal(size=n)
    return df, weights


def exercise(m: lf.LmerResult, df: pd.DataFrame) -> None:
    """The calls users make on a fit."""
    call("summary", lambda: str(m.summary()))
    call("coef_table(satterthwaite)", lambda: m.coef_table())
    call("coef_table(kenward-roger)", lambda: m.coef_table(ddf="kenward-roger"))
    call("confint(wald)", lambda: m.confint(method="wald"))
    call("predict()", lambda: m.predict())
    call("predict(newdata)", lambda: m.predict(df.head(5)))
    call("predict(newdata, re_form='~0')", lambda: m.predict(df.head(5), re_form="~0"))
    call("simulate", lambda: m.simulate(2, seed=1))
    call("ranef", lambda: (m.ranef, m.ranef_sd))
    call("varcorr", lambda: m.varcorr)
    call("tidy(fixed)", lambda: lf.tidy(m))
    call("tidy(ran_pars)", lambda: lf.tidy(m, effects="ran_pars"))
    call("anova", lambda: lf.anova(m))
    call("anova(type=1)", lambda: lf.anova(m, type=1))


@SETTINGS
@given(formula=formulas(), data=frames())
def test_formulas_and_data_never_leak_internal_errors(formula: str, data: tuple[pd.DataFrame, Any]) -> None:
    df, weights = data
    m = call(f"lmer({formula!r})", lambda: lf.lmer(formula, df, weights=weights))
    if m is not None:
        exercise(m, df)


@SETTINGS
@given(formula=formulas(), seed=st.integers(0, 2**16), reml=st.booleans())
def test_well_posed_data_always_fit(formula: str, seed: int, reml: bool) -> None:
    """Ample clean data (120 rows, 8 groups, 4 levels of h, 3 of f): every formula of the sweep fits, and every
    call on the result works or raises a clear error."""
    rng = np.random.default_rng(seed)
    n = 120
    df = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n), "w": rng.uniform(0.5, 3, n),
                       "f": np.tile(["a", "b", "c"], n // 3), "g": np.repeat([f"g{i}" for i in range(8)], n // 8),
                       "h": np.tile(np.arange(4), n // 4)})
    df["y"] = df["x"] + rng.normal(size=8)[np.repeat(np.arange(8), n // 8)] + rng.normal(size=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            m = lf.lmer(formula, df, reml=reml)
        except INTERNAL as e:
            pytest.fail(f"lmer({formula!r}) raised {type(e).__name__}: {e}")
    exercise(m, df)


# ---- cases the sweep found (fixed) --------------------------------------------------------------------------------

def test_kenward_roger_exactly_singular_information():
    """Found by the sweep: 5 rows on a 1e-8 scale, two terms on g: IE2 is exactly singular although its smallest
    eigenvalue passes pbkrtest's absolute 1e-10; Kenward-Roger fell over with LinAlgError (now: the generalized
    inverse, as pbkrtest's ginv branch)."""
    df = pd.DataFrame({"x": [0.125730, -0.132105, 0.640423, 0.104900, -0.535669],
                       "g": ["g1", "g1", "g0", "g1", "g1"],
                       "y": [2.651711e-09, 7.352667e-09, 1.950669e-08, 4.321065e-09, 1.286535e-08]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = lf.lmer("y ~ 1 + (1 | g) + (x | g)", df)
        tab = m.coef_table(ddf="kenward-roger")
    assert tab["estimate"].iloc[0] == pytest.approx(m.fixef.iloc[0])


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_df_methods_on_non_finite_derivatives(ddf):
    """Found by the sweep: a response near 1e300 makes the variance-parameter Hessian / information infinite;
    numpy's eigh / svd raised LinAlgError. Now a ValueError that says to rescale (if the fit itself succeeds)."""
    df = pd.DataFrame({"x": [0.125730, -0.132105, 0.640423, 0.104900, -0.535669], "f": "l0",
                       "g": ["g1", "g1", "g0", "g1", "g1"], "h": 0,
                       "y": [2.651711e299, 7.352667e299, 1.950669e300, 4.321065e299, 1.286535e300]})
    m = call("lmer", lambda: lf.lmer("y ~ x * f + (1 | g/h)", df))
    if m is not None:
        call("coef_table", lambda: m.coef_table(ddf=ddf))
