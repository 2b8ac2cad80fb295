"""Grouping-factor sizes: lme4's checkNlevels / checkZdims, with ``allow.n`` for GLMMs (glFormula).

An observation-level random effect ``(1 | obs)`` (one level per row) is the usual remedy for overdispersion in
a Poisson GLMM: glmer fits it; lmer refuses it, since the term and the residual cannot be told apart.  Reference
values: tests/reference/make_glmm_olre.R (lme4 1.1-31, PIRLS with tolPwrss = 1e-13).
"""

from __future__ import annotations

import json
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import lmmflow as lf
from lmmflow.core.family import poisson
from lmmflow.core.pirls import GlmmObjective
from lmmflow.design import DataError

REF_DIR = Path(__file__).resolve().parents[1] / "reference"
REF = json.loads((REF_DIR / "glmm_olre.json").read_text())
FORMULA = "y ~ x + (1 | site) + (1 | obs)"


@pytest.fixture(scope="module")
def olre() -> pd.DataFrame:
    df = pd.read_csv(REF_DIR / "data" / "glmm_olre.csv")
    return df.astype({"site": str, "obs": str})


def test_glmer_fits_an_observation_level_effect_as_lme4(olre: pd.DataFrame) -> None:
    g = lf.glmer(FORMULA, olre, family="poisson")
    assert [t.group for t in g.design.terms] == ["obs", "site"]  # lme4's order: REF["theta_names"]
    np.testing.assert_allclose(np.asarray(g.theta), REF["theta"], atol=2e-5)
    np.testing.assert_allclose(g.fixef.to_numpy(), REF["fixef"], atol=2e-5)
    assert g.loglik >= REF["loglik"] - 1e-6  # R's optimum with tight PIRLS, bobyqa, maxfun 1e5


@pytest.mark.parametrize("k", [0, 1, 2])
def test_laplace_deviance_at_fixed_parameters(olre: pd.DataFrame, k: int) -> None:
    d = lf.lformula(FORMULA, olre, family="poisson")
    obj = GlmmObjective(d.blocks(), d.X, d.y, poisson(), prior_weights=d.frame.weights)
    pt = REF["points"][k]
    got = obj.laplace(np.asarray(pt["theta"]), np.asarray(pt["beta"]))
    assert got == pytest.approx(pt["devfun"], rel=1e-8, abs=0.0)


def test_lmer_refuses_one_level_per_row(olre: pd.DataFrame) -> None:
    assert "number of levels" in REF["lmer_error"]  # lme4's lFormula refuses it too
    with pytest.raises(DataError, match="'obs' has 400 levels for 400 observations.*residual"):
        lf.lmer(FORMULA, olre)


def test_glmer_refuses_more_effects_than_rows(olre: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"800 random effects for 400 observations") as err:
        lf.glmer("y ~ x + (1 + x | obs)", olre, family="poisson")
    assert "residual" not in str(err.value)  # a GLMM has no residual variance
    with pytest.raises(DataError, match="only 1 level"):
        lf.glmer("y ~ x + (1 | one)", olre.assign(one="a"), family="poisson")


def test_dask_glmer_and_lmer_apply_the_same_rules(olre: pd.DataFrame) -> None:
    ddf = dd.from_pandas(olre, npartitions=3)
    with pytest.raises(DataError, match="'obs' has 400 levels"):
        lf.lmer("y ~ x + (1 | obs)", ddf)
    g = lf.glmer("y ~ x + (1 | obs)", ddf, family="poisson")
    m = lf.glmer("y ~ x + (1 | obs)", olre, family="poisson")
    assert g.objective == pytest.approx(m.objective, rel=1e-10)
