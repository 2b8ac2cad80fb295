"""Table-driven tests of the R-to-formulaic text rewrites (powers, '.', dotted and quoted names)."""

from __future__ import annotations

import pytest

from lmmflow.formula import FormulaError, parse_formula, resolve_dot
from lmmflow.formula.rewrite import caret_to_power, expand_dot, has_dot, quote_dotted, quote_name

POWER = [
    ("I(x^2)", "I(x**2)"),
    ("(a + b)^2", "(a + b)^2"),
    ("a:b + (a + b + c)^3", "a:b + (a + b + c)^3"),
    ("I((x + 1)^2)", "I((x + 1)**2)"),
    ("log(n^0.5) + np.exp(x^2)", "log(n**0.5) + np.exp(x**2)"),
    ("I(x**2)", "I(x**2)"),
    ("I(`a b`^2)", "I(`a b`**2)"),
    ("I(x == '^')", "I(x == '^')"),
    ("(I(x^2) | g)", "(I(x**2) | g)"),
    ("poly(x, 2)", "poly(x, 2)"),
]


@pytest.mark.parametrize(("text", "want"), POWER)
def test_caret_is_a_power_inside_calls_only(text: str, want: str) -> None:
    assert caret_to_power(text) == want


DOTS = [(".", True), (". + x", True), ("x + .", True), (".^2", True), ("Petal.Width", False),
        ("np.log(x)", False), ("I(x * 0.5)", False), ("I(x * .5)", False), ("`a . b`", False), ("x", False)]


@pytest.mark.parametrize(("text", "want"), DOTS)
def test_has_dot(text: str, want: bool) -> None:
    assert has_dot(text) is want


def test_expand_dot_keeps_data_order_and_quotes() -> None:
    assert expand_dot(". - b", ["y", "a", "b", "c d"], exclude={"y"}) == "(a + b + `c d`) - b"


NAMES = [("x", "x"), ("Petal.Width", "Petal.Width"), ("reaction time", "`reaction time`"), ("a-b", "`a-b`"),
         ("2x", "`2x`")]


@pytest.mark.parametrize(("name", "want"), NAMES)
def test_quote_name(name: str, want: str) -> None:
    assert quote_name(name) == want


def test_quote_dotted_only_columns_outside_quotes() -> None:
    cols = ["Petal.Width", "Petal.Length", "x"]
    assert quote_dotted("Petal.Width + I(Petal.Length^2) + `Petal.Width` + np.log(x)", cols) == (
        "`Petal.Width` + I(`Petal.Length`^2) + `Petal.Width` + np.log(x)")


RESOLVE = [
    ("y ~ . + (1 | g)", ["y", "x", "g"], "(x + g)"),
    ("log(y) ~ . + (1 | g)", ["y", "x", "g"], "(x + g)"),
    ("y ~ . - x + (1 | g)", ["x", "y", "g", "w"], "(x + g + w) - x"),
    ("y ~ x + (1 | g)", ["y", "x", "g"], "x"),
    ("y ~ Petal.Width + (1 | g)", ["y", "Petal.Width", "g"], "`Petal.Width`"),
]


@pytest.mark.parametrize(("formula", "columns", "fixed"), RESOLVE)
def test_resolve_dot(formula: str, columns: list[str], fixed: str) -> None:
    assert resolve_dot(parse_formula(formula), columns).fixed == fixed


def test_dot_in_a_random_term_is_refused() -> None:
    with pytest.raises(FormulaError, match="random term"):
        resolve_dot(parse_formula("y ~ x + (. | g)"), ["y", "x", "g"])
