"""The Dask GLMM result's per-row quantities: lazy Dask Series aligned with the input partitions, with the
in-memory GlmerResult's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.design import DataError
from lmmflow.scale.dask_glmm import glmer_dask

dd = pytest.importorskip("dask.dataframe")

REF = Path(__file__).resolve().parents[1] / "reference"
CASES = {c["name"]: c for c in json.loads((REF / "glmm_reference.json").read_text())["cases"]}
FITS: dict[str, tuple] = {}


def frame(case: dict) -> pd.DataFrame:
    d = pd.read_csv(REF / case["data"])
    for f in case.get("factors") or []:
        d[f] = d[f].astype(str).astype("category")
    return d


def fits(name: str, kwargs: dict, nparts: int) -> tuple:
    """The in-memory and the Dask fit of a reference case (made once per module)."""
    key = f"{name}{sorted(kwargs.items())}{nparts}"
    if key not in FITS:
        c = CASES[name]
        d = frame(c)
        ddf = dd.from_pandas(d, npartitions=nparts)
        FITS[key] = (d, ddf, lf.glmer(c["formula"], d, family=c["family"], **kwargs),
                     glmer_dask(c["formula"], ddf, family=c["family"], **kwargs))
    return FITS[key]


CASE_ARGS = [
    ("cbpp_logit", {}, 3),                               # cbind() response: proportions, trials as weights
    ("owls_offset_arg", {"offset": "logBroodSize"}, 4),  # Poisson with an offset column
    ("binary_growth_rs", {}, 5),                         # 0/1 response, random intercept and slope
]


def same(lazy: object, want: pd.Series, ddf: object, atol: float) -> None:
    """A lazy Series with the input's partitions and index, and the in-memory values."""
    assert type(lazy).__module__.startswith("dask") and lazy.npartitions == ddf.npartitions
    got = lazy.compute()
    assert got.index.equals(want.index)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-6, atol=atol)


@pytest.mark.parametrize(("name", "kwargs", "nparts"), CASE_ARGS)
def test_fitted_and_residuals_equal_the_in_memory_fit(name: str, kwargs: dict, nparts: int) -> None:
    d, ddf, m, g = fits(name, kwargs, nparts)
    same(g.fitted, m.fitted, ddf, 1e-6)
    same(g.linear_predictor, m.linear_predictor, ddf, 1e-6)
    same(g.residuals, m.residuals, ddf, 1e-6)
    for kind in ("deviance", "pearson", "response", "working"):
        same(g.resid(kind), m.resid(kind), ddf, 1e-6)


@pytest.mark.parametrize(("name", "kwargs", "nparts"), CASE_ARGS)
@pytest.mark.parametrize("kind", ["link", "response"])
@pytest.mark.parametrize("re_form", [None, "~0"])
def test_predict_equals_the_in_memory_fit(name: str, kwargs: dict, nparts: int, kind: str, re_form: str | None
                                          ) -> None:
    d, ddf, m, g = fits(name, kwargs, nparts)
    want = m.predict(d, type=kind, re_form=re_form)
    same(g.predict(type=kind, re_form=re_form), m.predict(type=kind, re_form=re_form), ddf, 1e-6)
    new = dd.from_pandas(d, npartitions=2)   # a Dask newdata keeps its own partitions
    same(g.predict(new, type=kind, re_form=re_form), want, new, 1e-6)
    rows = d.sample(15, random_state=1)      # a pandas newdata gives a pandas Series
    got = g.predict(rows, type=kind, re_form=re_form)
    assert isinstance(got, pd.Series) and got.index.equals(rows.index)
    np.testing.assert_allclose(got, m.predict(rows, type=kind, re_form=re_form), rtol=1e-6, atol=1e-6)


def test_new_levels() -> None:
    d, _, m, g = fits("cbpp_logit", {}, 3)
    new = d.head(4).copy()
    new["herd"] = new["herd"].astype(str)
    new.loc[new.index[:2], "herd"] = "unseen"
    with pytest.raises(DataError, match="not in the fit"):
        g.predict(new)
    got = g.predict(new, allow_new_levels=True, type="response")
    pop = g.predict(new, re_form="~0", type="response")
    np.testing.assert_allclose(got.iloc[:2], pop.iloc[:2])  # population level for the new herd
    np.testing.assert_allclose(got.iloc[2:], m.predict(d.head(4), type="response").iloc[2:], rtol=1e-6)


def test_per_row_values_are_lazy_and_fresh() -> None:
    """Each access builds a new lazy object; changing a computed Series does not change the next one."""
    _, _, _, g = fits("cbpp_logit", {}, 3)
    a = g.fitted.compute()
    a.iloc[0] = 99.0
    assert g.fitted.compute().iloc[0] != 99.0


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda g, d: g.resid("scaled"), ValueError, "deviance"),
    (lambda g, d: g.predict(d, type="probability"), ValueError, "'link'"),
    (lambda g, d: g.predict(d.to_numpy()), TypeError, "pandas or Dask"),
    (lambda g, d: g.predict(d, re_form="~(1 | herd)"), ValueError, "re_form"),
])
def test_clear_errors(call: object, error: type, match: str) -> None:
    d, _, _, g = fits("cbpp_logit", {}, 3)
    with pytest.raises(error, match=match):
        call(g, d)


def test_offset_column_is_read_from_newdata() -> None:
    d, _, _, g = fits("owls_offset_arg", {"offset": "logBroodSize"}, 4)
    with pytest.raises(DataError, match="logBroodSize"):
        g.predict(d.drop(columns="logBroodSize"))
    shifted = d.assign(logBroodSize=d["logBroodSize"] + 1.0)
    np.testing.assert_allclose(g.predict(shifted), g.predict(d) + 1.0)
