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
    # lme4's reading of a bar outside brackets: '|' binds more loosely than '+'
    ("y ~ x + 1 | g", "y", "1", [R("x + 1", ("g",), True)]),
    ("y ~ x || g", "y", "1", [R("1", ("g",), False), R("0 + x", ("g",), False)]),
    # R's '^' is a power inside calls, the interaction order outside
    ("y ~ I(x^2) + (a + b)^2 + (I(x^2) | g)", "y", "I(x**2) + (a + b)^2", [R("I(x**2)", ("g",), True)]),
    ("y ~ log(x^0.5) + (1 | g)", "y", "log(x**0.5)", [R("1", ("g",), True)]),
    ("y^2 ~ x + (1 | g)", "y**2", "x", [R("1", ("g",), True)]),
    # lme4's expandDoubleVerts: one bar per term of the expanded left side
    ("y ~ x*z + (x*z || g)", "y", "x*z", [R("1", ("g",), False), R("0 + x", ("g",), False),
                                          R("0 + z", ("g",), False), R("0 + x:z", ("g",), False)]),
    ("y ~ (0 + f + x || g)", "y", "1", [R("0 + f", ("g",), False), R("0 + x", ("g",), False)]),
    ("y ~ (1 + I(x^2) || g)", "y", "1", [R("1", ("g",), False), R("0 + I(x ** 2)", ("g",), False)]),
    ("y ~ (x + `a b` || g)", "y", "1", [R("1", ("g",), False), R("0 + x", ("g",), False),
                                        R("0 + `a b`", ("g",), False)]),
    ("y ~ (x || a/b)", "y", "1", [R("1", ("a",), False), R("0 + x", ("a",), False),
                                  R("1", ("b", "a"), False), R("0 + x", ("b", "a"), False)]),
    # offsets leave the fixed part
    ("y ~ x + offset(log(n)) + (1 | g)", "y", "x", [R("1", ("g",), True)]),
    ("y ~ offset(n) + (1 | g)", "y", "1", [R("1", ("g",), True)]),
    # names that are not identifiers
    ("`reaction time` ~ Petal.Width + (Petal.Width | `my g`)", "`reaction time`", "Petal.Width",
     [R("Petal.Width", ("my g",), True)]),
    ("`re|act` ~ `day-s` - 1 + (`day-s` | `my-g`)", "`re|act`", "`day-s` - 1", [R("`day-s`", ("my-g",), True)]),
    ("y ~ (`day-s` || g)", "y", "1", [R("1", ("g",), False), R("0 + `day-s`", ("g",), False)]),
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
    ("y ~ x + (1 | g) + z | h", "in its own brackets"),
    ("y ~ x + offset() + (1 | g)", "no expression"),
    ("y ~ x - offset(n) + (1 | g)", "cannot subtract"),
    ("y ~ x + (1 | my g)", "backticks"),
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


OFFSETS = [
    ("y ~ x + offset(log(n)) + (1 | g)", ("log(n)",)),
    ("y ~ x + offset(n) + offset(2 * m^2) + (1 | g)", ("n", "2 * m**2")),
    ("y ~ x + (1 | g)", ()),
]


@pytest.mark.parametrize(("formula", "offsets"), OFFSETS)
def test_offset_terms_are_kept_as_expressions(formula: str, offsets: tuple[str, ...]) -> None:
    assert parse_formula(formula).offsets == offsets
