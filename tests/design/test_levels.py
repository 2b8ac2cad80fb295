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
