"""Table-driven tests of the lme4 formula parser."""

from __future__ import annotations

import pytest

from lmmflow.formula import FormulaError, RandomTerm, parse_formula

R = RandomTerm

CASES = [
    # formula, response, fixed part, random terms
    ("y ~ x + (1 | g)", "y", "x", [R("1", ("g",), True)]),
    ("Reaction ~ Days + (Days | Subject)", "Reaction", "Days", [R("Days", ("Subject",), True)]),
    ("y ~ x + (1 + x | g)", "y", "x", [R("1 + x", ("g",), True)]),
    ("y ~ x + (0 + x | g)", "y", "x", [R("0 + x", ("g",), True)]),
    ("y ~ x + (x || g)", "y", "x", [R("1", ("g",), False), R("0 + x", ("g",), False)]),
    ("y ~ x + (0 + x + z || g)", "y", "x", [R("0 + x", ("g",), False), R("0 + z", ("g",), False)]),
    ("y ~ 1 + (1 | a/b)", "y", "1", [R("1", ("a",), True), R("1", ("b", "a"), True)]),
    ("y ~ 1 + (1 | a/b/c)", "y", "1", [R("1", ("a",), True), R("1", ("b", "a"), True),
                                       R("1", ("c", "b", "a"), True)]),
    ("y ~ 1 + (1 | a:b)", "y", "1", [R("1", ("a", "b"), True)]),
    ("y ~ 1 + (1 | a) + (1 | b)", "y", "1", [R("1", ("a",), True), R("1", ("b",), True)]),
    ("angle ~ recipe * temp + (1 | recipe:replicate)", "angle", "recipe * temp",
     [R("1", ("recipe", "replicate"), True)]),
    ("y ~ time - 1 + (1 | g)", "y", "time - 1", [R("1", ("g",), True)]),
    ("y ~ 0 + time + (1 | g)", "y", "0 + time", [R("1", ("g",), True)]),
    ("y ~ I(x**2) + np.log(z) + ((1 | g))", "y", "I(x**2) + np.log(z)", [R("1", ("g",), True)]),
    ("y ~ (1 | g)", "y", "1", [R("1", ("g",), True)]),
    ("log(y) ~ x + (1|g)", "log(y)", "x", [R("1", ("g",), True)]),
    ("y ~ x*z + (x | g) + (1 | h)", "y", "x*z", [R("x", ("g",), True), R("1", ("h",), True)]),
    ("y~x+(1|g)", "y", "x", [R("1", ("g",), True)]),
]


@pytest.mark.parametrize(("formula", "response", "fixed", "random"), CASES)
def test_parse(formula: str, response: str, fixed: str, random: list[RandomTerm]) -> None:
    parsed = parse_formula(formula)
    assert parsed.response == response
    assert parsed.fixed.replace(" ", "") == fixed.replace(" ", "")
    assert [(t.expr.replace(" ", ""), t.group, t.correlated) for t in parsed.random] == [
        (t.expr.replace(" ", ""), t.group, t.correlated) for t in random
    ]


BAD = [
    ("y + (1 | g)", "exactly one '~'"),
    ("~ x + (1 | g)", "no response"),
    ("y ~ ", "nothing on the right"),
    ("y ~ x + (1 | g", "unbalanced"),
    ("y ~ x + 1 | g)", "unbalanced"),
    ("y ~ x + 1 | g", "inside its own parentheses"),
    ("y ~ x + ( | g)", "nothing before the bar"),
    ("y ~ x + (1 | )", "no grouping factor"),
    ("y ~ x + (1 | a + b)", "not supported"),
    ("y ~ x + (0 | g)", "no effects"),
    ("y ~ x - (1 | g)", "cannot subtract"),
    ("y ~ x ~ z", "exactly one '~'"),
]


@pytest.mark.parametrize(("formula", "message"), BAD)
def test_bad_formulas_name_the_problem(formula: str, message: str) -> None:
    with pytest.raises(FormulaError, match=message):
        parse_formula(formula)


def test_non_string_formula() -> None:
    with pytest.raises(FormulaError, match="must be a string"):
        parse_formula(42)  # type: ignore[arg-type]


def test_labels_and_group_names() -> None:
    t = parse_formula("y ~ 1 + (1 | batch/cask)").random[1]
    assert t.group_name == "cask:batch"
    assert t.label == "1 | cask:batch"
