"""The fixed-effects design: R's contrasts and their names, one-level factors, offset() terms, powers,
'.', non-identifier names and the encoding of new data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.design.contrasts import term_label
from lmmflow.design.fixed import formula_offset


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 120
    d = pd.DataFrame({"g": np.repeat([f"G{i}" for i in range(12)], 10), "x": rng.normal(size=n),
                      "f": rng.choice(["a", "b", "c"], n), "n": rng.integers(1, 9, n),
                      "o": pd.Categorical(rng.choice(["lo", "mid", "hi"], n), categories=["lo", "mid", "hi"],
                                          ordered=True)})
    d["y"] = 1 + d["x"] + (d["f"] == "b") + np.repeat(rng.normal(size=12), 10) + rng.normal(size=n)
    return d


def _fit(formula: str, data: pd.DataFrame, **kw: object) -> lf.LmerResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lf.LmmflowWarning)
        return lf.lmer(formula, data, **kw)


NAMES = [
    ("y ~ f + (1 | g)", None, ["(Intercept)", "f[T.b]", "f[T.c]"]),
    ("y ~ f + (1 | g)", {"f": "treatment"}, ["(Intercept)", "f[T.b]", "f[T.c]"]),
    ("y ~ f + (1 | g)", {"f": "sum"}, ["(Intercept)", "f1", "f2"]),
    ("y ~ f + (1 | g)", {"f": "contr.sum"}, ["(Intercept)", "f1", "f2"]),
    ("y ~ f + (1 | g)", {"f": "helmert"}, ["(Intercept)", "f1", "f2"]),
    ("y ~ f + (1 | g)", {"f": "poly"}, ["(Intercept)", "f.L", "f.Q"]),
    ("y ~ f * x + (1 | g)", {"f": "sum"}, ["(Intercept)", "f1", "f2", "x", "f1:x", "f2:x"]),
    ("y ~ 0 + f + (1 | g)", {"f": "sum"}, ["f[a]", "f[b]", "f[c]"]),
    ("y ~ o + (1 | g)", None, ["(Intercept)", "o.L", "o.Q"]),
    ("y ~ o + (1 | g)", {"o": "treatment"}, ["(Intercept)", "o[T.mid]", "o[T.hi]"]),
    ("y ~ o:x + (1 | g)", None, ["(Intercept)", "o[lo]:x", "o[mid]:x", "o[hi]:x"]),
    ("y ~ I(x^2) + (1 | g)", None, ["(Intercept)", "I(x ** 2)"]),
    ("y ~ poly(x, 2) + (1 | g)", None, ["(Intercept)", "poly(x, 2)1", "poly(x, 2)2"]),
]


@pytest.mark.parametrize(("formula", "contrasts", "names"), NAMES)
def test_coefficient_names_as_r_prints_them(df: pd.DataFrame, formula: str, contrasts: dict | None,
                                            names: list[str]) -> None:
    d = lf.lformula(formula, df, contrasts=contrasts)
    assert d.fixed.names == names


def test_codings_span_the_same_model(df: pd.DataFrame) -> None:
    # ML: the REML criterion changes by a constant (log det of the recoding) from one coding to another
    fits = [_fit("y ~ f * x + (1 | g)", df, contrasts={"f": k}, reml=False)
            for k in ("treatment", "sum", "helmert", "poly")]
    for m in fits[1:]:
        assert m.objective == pytest.approx(fits[0].objective, rel=1e-9)
        np.testing.assert_allclose(m.fitted, fits[0].fitted, rtol=1e-7)


def test_sum_contrast_columns(df: pd.DataFrame) -> None:
    d = lf.lformula("y ~ f + (1 | g)", df, contrasts={"f": "sum"})
    want = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [-1.0, -1.0]}
    for i, lvl in enumerate(df["f"]):
        assert d.X[i, 1:].tolist() == want[lvl]


def test_unused_levels_are_dropped_before_coding(df: pd.DataFrame) -> None:
    """R drops unused levels (model.frame), so a sum contrast over the used levels only."""
    wide = df.assign(f=pd.Categorical(df["f"], categories=["a", "b", "c", "zz"]))
    m1 = _fit("y ~ f + (1 | g)", wide, contrasts={"f": "sum"})
    m2 = _fit("y ~ f + (1 | g)", df, contrasts={"f": "sum"})
    assert list(m1.fixef.index) == ["(Intercept)", "f1", "f2"]
    np.testing.assert_allclose(m1.fixef.to_numpy(), m2.fixef.to_numpy(), rtol=1e-9)


def test_new_data_is_encoded_as_at_fit_time(df: pd.DataFrame) -> None:
    m = _fit("y ~ f * x + o + (1 | g)", df, contrasts={"f": "helmert"})
    rows = [5, 0, 17]
    new = df.iloc[rows]
    np.testing.assert_allclose(m.design.fixed.encode(new), m.design.X[rows], rtol=1e-12)
    np.testing.assert_allclose(m.predict(new, re_form="~0"), m.design.X[rows] @ m.fixef.to_numpy(), rtol=1e-10)


CONTRAST_ERRORS = [
    ({"f": "deviation"}, "not known"),
    ({"x": "sum"}, "numeric column"),
    (["f"], "must be a dict"),
]


@pytest.mark.parametrize(("contrasts", "message"), CONTRAST_ERRORS)
def test_bad_contrasts_are_errors(df: pd.DataFrame, contrasts: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lf.lformula("y ~ f + x + (1 | g)", df, contrasts=contrasts)  # type: ignore[arg-type]


ONE_LEVEL = [
    ("y ~ x + k + (1 | g)", lambda d: d.assign(k="only"), "'k'"),
    ("y ~ x + k + (1 | g)", lambda d: d.assign(k=np.where(d["x"] > 5, "rare", "only")), "'k'"),
    ("y ~ x + k + (1 | g)", lambda d: d.assign(k=np.where(d.index == 0, None, "only")), "'k'"),
    ("y ~ x + k + (1 | g)", lambda d: d.assign(k=pd.Categorical(["u"] * len(d), categories=["u", "v"])), "'k'"),
    ("y ~ x * k + (1 | g)", lambda d: d.assign(k="only"), "'k'"),
    ("y ~ x + C(k) + (1 | g)", lambda d: d.assign(k="only"), "'k'"),
    ("y ~ x + (0 + k | g)", lambda d: d.assign(k="only"), "random term"),
]


@pytest.mark.parametrize(("formula", "make", "name"), ONE_LEVEL)
def test_a_one_level_factor_is_an_error_naming_it(df: pd.DataFrame, formula: str, make: object, name: str) -> None:
    with pytest.raises(lf.DataError, match=f"{name}.*2 or more levels|2 or more levels.*{name}") as info:
        lf.lformula(formula, make(df))  # type: ignore[operator]
    assert "'k'" in str(info.value)


def test_power_is_not_xor_on_integers(df: pd.DataFrame) -> None:
    d = lf.lformula("y ~ I(n^2) + (1 | g)", df)
    np.testing.assert_array_equal(d.X[:, 1], df["n"].to_numpy() ** 2)


def test_offset_terms_add_to_the_offset_argument(df: pd.DataFrame) -> None:
    extra = 0.25 * df["x"].to_numpy()
    m1 = _fit("y ~ x + offset(log(n)) + offset(0.5 * x) + (1 | g)", df, offset=extra)
    m2 = _fit("y ~ x + (1 | g)", df, offset=np.log(df["n"].to_numpy()) + 0.75 * df["x"].to_numpy())
    assert m1.objective == pytest.approx(m2.objective, rel=1e-10)
    np.testing.assert_allclose(m1.fixef.to_numpy(), m2.fixef.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(m1.design.frame.offset, m2.design.frame.offset, rtol=1e-12)
    # the expressions are kept, so the offset can be recomputed on new data
    new = df.iloc[:4]
    np.testing.assert_allclose(m1.design.fixed.formula_offset(new),
                               np.log(new["n"].to_numpy()) + 0.5 * new["x"].to_numpy())
    assert m1.design.fixed.offsets == ("log(n)", "0.5 * x")


def test_offset_rows_with_missing_values_are_dropped(df: pd.DataFrame) -> None:
    d = df.assign(n=df["n"].astype(float))
    d.loc[[3, 8], "n"] = np.nan
    design = lf.lformula("y ~ x + offset(log(n)) + (1 | g)", d)
    assert design.n == len(d) - 2


def test_offset_of_log_zero_is_an_error(df: pd.DataFrame) -> None:
    with pytest.raises(lf.DataError, match=r"offset\(log\(n\)\)"):
        lf.lformula("y ~ x + offset(log(n)) + (1 | g)", df.assign(n=0))


def test_formula_offset_none_without_terms() -> None:
    assert formula_offset((), pd.DataFrame({"x": [1.0]})) is None


def test_dot_takes_every_column_but_the_response(df: pd.DataFrame) -> None:
    small = df[["y", "x", "f", "g"]]
    d = lf.lformula("y ~ . - g + (1 | g)", small)
    assert d.fixed.names == ["(Intercept)", "x", "f[T.b]", "f[T.c]"]
    d = lf.lformula("y ~ . + (1 | g)", small)  # lme4 keeps the grouping column in '.'
    assert "g[T.G1]" in d.fixed.names


def test_names_that_are_not_identifiers(df: pd.DataFrame) -> None:
    d = df.rename(columns={"x": "Petal.Width", "y": "reaction time", "g": "my g"})
    m = _fit("`reaction time` ~ Petal.Width + I(Petal.Width^2) + (Petal.Width | `my g`)", d)
    ref = _fit("y ~ x + I(x^2) + (x | g)", df)
    assert list(m.fixef.index) == ["(Intercept)", "Petal.Width", "I(Petal.Width ** 2)"]
    assert m.objective == pytest.approx(ref.objective, rel=1e-10)
    assert m.design.terms[0].group == "my g"
    assert m.design.terms[0].cnames == ["(Intercept)", "Petal.Width"]
    d = df.rename(columns={"x": "x-1", "y": "y|z", "g": "my-g"})
    m = _fit("`y|z` ~ `x-1` + (`x-1` || `my-g`)", d)
    ref = _fit("y ~ x + (x || g)", df)
    assert list(m.fixef.index) == ["(Intercept)", "x-1"]
    assert m.objective == pytest.approx(ref.objective, rel=1e-10)


def test_double_bar_expands_per_term(df: pd.DataFrame) -> None:
    d = lf.lformula("y ~ x * n + (x * n || g)", df)
    assert d.terms[0].cnames == ["(Intercept)", "x", "n", "x:n"]
    assert d.terms[0].blocks == [[0], [1], [2], [3]]
    d = lf.lformula("y ~ f + (f || g)", df)  # a factor's columns stay one block, as lme4's expandDoubleVerts
    assert d.terms[0].blocks == [[0], [1, 2, 3]]


def test_unbracketed_bar_is_read_as_lme4_reads_it(df: pd.DataFrame) -> None:
    a = _fit("y ~ x + 1 | g", df)
    b = _fit("y ~ 1 + (x + 1 | g)", df)
    assert a.objective == pytest.approx(b.objective, rel=1e-12)
    assert list(a.fixef.index) == ["(Intercept)"]


def test_term_label() -> None:
    assert term_label("C(f, contr.sum, levels=['a', 'b', 'c']):x") == "f:x"
    assert term_label("C(o, contr.poly, levels=[1, 2, 3])") == "o"


UNAPPLIED = [
    ("y ~ x + (1 | g)", {"f": "sum"}, "do not use"),
    ("y ~ x + (1 | g)", {"zz": "sum"}, "do not use"),
    ("y ~ x + C(f) + (1 | g)", {"f": "sum"}, "only inside"),
]


@pytest.mark.parametrize(("formula", "contrasts", "message"), UNAPPLIED)
def test_contrasts_not_applied_warn_as_r_does(df: pd.DataFrame, formula: str, contrasts: dict, message: str) -> None:
    with pytest.warns(lf.LmmflowWarning, match=message):
        lf.lformula(formula, df, contrasts=contrasts)
