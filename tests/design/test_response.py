"""GLMM responses read as R's binomial() / poisson() initialize: table-driven forms, warnings and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.design.response import family_name, glm_response
from lmmflow.exceptions import LmmflowWarning
from lmmflow.formula import FormulaError, cbind_parts

FRAME = pd.DataFrame({
    "k": [1, 0, 3, 2], "n": [2, 4, 3, 2], "y01": [0.0, 1.0, 1.0, 0.0], "yb": [False, True, True, False],
    "yf": ["no", "yes", "yes", "no"], "p": [0.5, 0.25, 1.0, 0.0], "cnt": [0, 3, 7, 1],
    "ycat": pd.Categorical(["b", "a", "a", "b"], categories=["b", "a"]),
})

# (response, family, weights, y, prior weights, kind)
VALID = [
    ("cbind(k, n - k)", "binomial", None, [0.5, 0.0, 1.0, 1.0], [2, 4, 3, 2], "cbind"),
    ("cbind(k, n)", "binomial", None, [1 / 3, 0.0, 0.5, 0.5], [3, 4, 6, 4], "cbind"),
    ("cbind(k, n - k)", "binomial", [1, 2, 1, 1], [0.5, 0.0, 1.0, 1.0], [2, 8, 3, 2], "cbind"),
    ("y01", "binomial", None, [0, 1, 1, 0], None, "binary"),
    ("yb", "binomial", None, [0, 1, 1, 0], None, "binary"),
    ("yf", "binomial", None, [0, 1, 1, 0], None, "factor"),
    ("ycat", "binomial", None, [0, 1, 1, 0], None, "factor"),  # a Categorical's own order: b then a
    ("p", "binomial", [2, 4, 3, 2], [0.5, 0.25, 1.0, 0.0], [2, 4, 3, 2], "proportion"),
    ("cnt", "poisson", None, [0, 3, 7, 1], None, "count"),
    ("I(cnt + 1)", "poisson", None, [1, 4, 8, 2], None, "count"),
]


@pytest.mark.parametrize(("response", "family", "weights", "y", "w", "kind"), VALID,
                         ids=[f"{r}-{f}" for r, f, *_ in VALID])
def test_valid_responses(response, family, weights, y, w, kind) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = glm_response(response, FRAME, family, None if weights is None else np.asarray(weights, float))
    assert np.allclose(r.y, y)
    assert (r.weights is None) if w is None else np.allclose(r.weights, w)
    assert r.kind == kind


INVALID = [
    ("cnt", "binomial", None, lf.DataError, "outside \\[0, 1\\]"),
    ("cbind(k, k - n)", "binomial", None, lf.DataError, "negative"),
    ("cbind(k)", "binomial", None, FormulaError, "two expressions"),
    ("yf", "poisson", None, lf.DataError, "counts"),
    ("I(cnt - 5)", "poisson", None, lf.DataError, "negative values are not allowed"),
    ("cbind(k, n - k)", "poisson", None, FormulaError, "binomial response"),
]


@pytest.mark.parametrize(("response", "family", "weights", "exc", "match"), INVALID,
                         ids=[f"{r}-{f}" for r, f, *_ in INVALID])
def test_invalid_responses(response, family, weights, exc, match) -> None:
    with pytest.raises(exc, match=match):
        glm_response(response, FRAME, family, weights)


def test_three_level_factor_is_refused_naming_levels() -> None:
    frame = pd.DataFrame({"r": ["a", "b", "c", "a"]})
    with pytest.raises(lf.DataError, match="3 level.*'a', 'b', 'c'"):
        glm_response("r", frame, "binomial")


def test_non_integer_successes_warn_as_r() -> None:
    with pytest.warns(LmmflowWarning, match="non-integer #successes"):
        glm_response("p", FRAME, "binomial", np.array([3.0, 3.0, 3.0, 3.0]))
    with pytest.warns(LmmflowWarning, match="non-integer counts"):
        glm_response("cbind(p, n)", FRAME, "binomial")
    with pytest.warns(LmmflowWarning, match="non-integer"):
        glm_response("p", FRAME, "poisson")


def test_zero_weight_rows_have_response_zero_as_r() -> None:
    r = glm_response("y01", FRAME, "binomial", np.array([1.0, 0.0, 1.0, 1.0]))
    assert r.y.tolist() == [0.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize(("text", "parts"), [("cbind(a, b)", ("a", "b")), ("cbind(a, n - a)", ("a", "n - a")),
                                             ("cbind(f(a, 2), b)", ("f(a, 2)", "b")), ("y", None),
                                             ("cbind(a, b) + 1", None)])
def test_cbind_parts(text, parts) -> None:
    assert cbind_parts(text) == parts


def test_family_names() -> None:
    assert family_name("Poisson") == "poisson"
    with pytest.raises(ValueError, match="lf.lmer"):
        family_name("gaussian")


def test_lformula_with_family_reads_columns_of_both_cbind_parts() -> None:
    df = lf.load_dataset("cbpp")
    d = lf.lformula("cbind(incidence, size - incidence) ~ period + (1 | herd)", df, family="binomial")
    assert d.n == 56 and np.allclose(d.frame.weights, df["size"]) and d.response.kind == "cbind"
    assert np.allclose(d.y * d.frame.weights, df["incidence"])
    with pytest.raises(lf.DataError, match="'sizes'"):
        lf.lformula("cbind(incidence, sizes - incidence) ~ period + (1 | herd)", df, family="binomial")


def test_lmer_with_cbind_says_use_glmer() -> None:
    with pytest.raises(FormulaError, match="glmer"):
        lf.lmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", lf.load_dataset("cbpp"))


def test_lmer_still_refuses_text_response() -> None:
    df = lf.load_dataset("sleepstudy").assign(r=lambda d: np.where(d["Days"] > 4, "a", "b"))
    with pytest.raises(lf.DataError, match="must be numeric"):
        lf.lmer("r ~ Days + (1 | Subject)", df)


def test_missing_rows_are_dropped_before_reading() -> None:
    df = lf.load_dataset("cbpp").astype({"incidence": float})
    df.loc[3, "incidence"] = np.nan
    d = lf.lformula("cbind(incidence, size - incidence) ~ period + (1 | herd)", df, family="binomial")
    assert d.n == 55 and d.frame.n_dropped == 1
