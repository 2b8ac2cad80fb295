"""The designs of a power curve: units replicated under new ids, or the first values of a within-unit column."""

import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.planning.designs import design_rows, resolve_along


@pytest.fixture(scope="module")
def data():
    return pd.DataFrame({"id": ["b", "b", "a", "a", "c", "c"], "time": [0, 1, 0, 1, 0, 1], "y": 0.0})


@pytest.mark.parametrize("value, ids", [
    (2, ["a", "a", "b", "b"]),
    (3, ["b", "b", "a", "a", "c", "c"]),
    (5, ["b", "b", "a", "a", "c", "c", "a#2", "a#2", "b#2", "b#2"]),
    (7, ["b", "b", "a", "a", "c", "c", "a#2", "a#2", "b#2", "b#2", "c#2", "c#2", "a#3", "a#3"]),
])
def test_units_cut_or_replicated(data, value, ids):
    out = design_rows(data, "units", "id", value)
    assert sorted(out["id"].tolist()) == sorted(ids)
    assert out["id"].nunique() == value
    assert len(out) == 2 * value


def test_within_keeps_first_values(data):
    assert design_rows(data, "within", "time", 1)["time"].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="3 values asked for"):
        design_rows(data, "within", "time", 3)


def test_resolve_along(data):
    d = lf.lformula("y ~ time + (1 | id)", data.assign(y=[1.0, 2, 3, 4, 5, 7]))
    assert resolve_along("n_units", d, data) == ("units", "id")
    assert resolve_along("id", d, data) == ("units", "id")
    assert resolve_along("time", d, data) == ("within", "time")
    crossed = data.assign(item=["i", "j"] * 3, y=[1.0, 2, 3, 4, 5, 7])
    d2 = lf.lformula("y ~ time + (1 | id) + (1 | item)", crossed)
    with pytest.raises(ValueError, match="ambiguous"):
        resolve_along("n_units", d2, crossed)
