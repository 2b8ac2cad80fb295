"""Grouping-factor codes and labels: categorical, integer and text columns; labels formed on first use."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.design.frame import LevelLabels, group_codes, group_codes_lazy


@pytest.mark.parametrize("values", [[30, 10, 20, 30, 10], ["b", "a", "c", "a", "b"], [2.5, 1.0, 2.5, 3.0, 1.0]])
@pytest.mark.parametrize("categorical", [False, True])
def test_codes_and_labels_sorted_as_lme4(values: list, categorical: bool) -> None:
    s = pd.Series(values)
    frame = pd.DataFrame({"g": s.astype("category") if categorical else s})
    codes, labels = group_codes(frame, ["g"])
    expected = sorted(set(values))
    # numbers label as R's factor() labels them, whether the column is categorical or not: 1.0 is "1"
    assert list(labels) == [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in expected]
    np.testing.assert_array_equal(codes, [expected.index(v) for v in values])


def test_unused_categories_are_no_levels() -> None:
    cat = pd.Categorical(["b", "d", "b"], categories=["a", "b", "c", "d"])
    codes, labels = group_codes(pd.DataFrame({"g": cat}), ["g"])
    assert list(labels) == ["b", "d"]
    np.testing.assert_array_equal(codes, [0, 1, 0])


def test_labels_are_formed_on_first_use_only() -> None:
    calls = []

    def make() -> pd.Index:
        calls.append(1)
        return pd.Index(["x", "y"])

    lab = LevelLabels(2, make)
    assert len(lab) == 2 and not calls
    assert list(lab.index) == ["x", "y"] and list(lab.index) == ["x", "y"] and len(calls) == 1
    copy = pickle.loads(pickle.dumps(lab))  # pickled with the labels formed
    assert len(copy) == 2 and list(copy.index) == ["x", "y"]


def test_a_fit_reads_no_labels_until_asked(sleepstudy: pd.DataFrame) -> None:
    frame = sleepstudy.assign(Subject=sleepstudy["Subject"].astype("category"))
    codes, lazy = group_codes_lazy(frame, ["Subject"])
    assert lazy._labels is None and len(lazy) == 18
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", frame)
    assert m.design.terms[0]._levels._labels is None  # the fit itself never formed them
    assert list(m.ranef["Subject"].index[:2]) == ["308", "309"]
    term = pickle.loads(pickle.dumps(m.design.terms[0]))
    assert term.nlevels == 18 and list(term.levels[:2]) == ["308", "309"]


def test_interaction_labels(sleepstudy: pd.DataFrame) -> None:
    frame = pd.DataFrame({"a": ["x", "y", "x", "y"], "b": [1, 1, 2, 2]})
    codes, labels = group_codes(frame, ["a", "b"])
    assert list(labels) == ["x:1", "x:2", "y:1", "y:2"]
    np.testing.assert_array_equal(codes, [0, 2, 1, 3])


def _reference_codes(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, list[str]]:
    """Codes and labels by sorting the rows' tuples (lme4's order: each column's sorted levels, lexicographic)."""
    keys = list(zip(*(frame[c].tolist() for c in columns)))
    uniq = sorted(set(keys))
    where = {k: i for i, k in enumerate(uniq)}
    return np.array([where[k] for k in keys]), [":".join(str(v) for v in k) for k in uniq]


@pytest.mark.parametrize("n", [50, 30_000])
@pytest.mark.parametrize("columns", [["ids"], ["neg"], ["wide"], ["text"], ["ids", "text"], ["text", "neg", "ids"],
                                     ["wide", "ids"]])
def test_codes_by_table_and_factorization_keep_the_sorted_order(columns: list[str], n: int) -> None:
    """Integer ids (a table of the values), negative and wide integers, text (factorized, the uniques sorted)
    and their interactions: the codes and labels of sorting the rows."""
    rng = np.random.default_rng(n)
    frame = pd.DataFrame({"ids": rng.integers(0, 40, n), "neg": rng.integers(-7, 7, n),
                          "wide": rng.integers(0, 10**12, n) % 97 * 10**9,
                          "text": np.array(["b", "A", "a", "é", "10", "9", "z z"], dtype=object)[rng.integers(0, 7,
                                                                                                                n)]})
    codes, labels = group_codes(frame, columns)
    ref_codes, ref_labels = _reference_codes(frame, columns)
    np.testing.assert_array_equal(codes, ref_codes)
    assert list(labels) == ref_labels


def test_interaction_labels_are_formed_on_first_use_only() -> None:
    frame = pd.DataFrame({"a": pd.Categorical(np.repeat(["x", "y"], 50)), "b": np.arange(100) % 25})
    codes, labels = group_codes_lazy(frame, ["a", "b"])
    assert len(labels) == 50 and labels._labels is None
    assert labels.index[:2].tolist() == ["x:0", "x:1"] and codes[25] == 0
