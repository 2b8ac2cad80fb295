"""lf.power against R: an R loop of simulate() / refit / lmerTest's test (simr's method; simr is not in Debian).

``tests/reference/make_power.R`` simulated 1000 responses from a specified growth model (30 units x 5
waves), refitted each with lmerTest and counted Satterthwaite p < 0.05 (and the likelihood-ratio test
against the model without ``time``), with binom.test intervals; it also kept 20 of the responses and
R's p-values for them (fits with tight tolerances).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmmflow as lf
from lmmflow.api import _cross_products
from lmmflow.planning.fast import satterthwaite_many
from lmmflow.planning.power import _pvalues
from lmmflow.scale.single_term import SingleTermProfile

REF = json.loads((Path(__file__).parents[1] / "reference" / "power_reference.json").read_text())
DATA = pd.DataFrame(REF["data"])
EXACT = REF["exact"]
Y = np.column_stack([e["y"] for e in EXACT])


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


@pytest.mark.parametrize("method, key", [("satterthwaite", "satterthwaite"), ("lrt", "lrt")])
def test_power_within_monte_carlo_error_of_r(method, key):
    r = REF[key]
    res = lf.power(formula=REF["formula"], data=DATA, params=REF["params"], nsim=REF["nsim"], seed=20261204,
                   method=method, alpha=REF["alpha"], progress=False)
    row = res.to_frame().iloc[0]
    assert row.nsim == r["nsim"] == 1000
    assert row.failed == 0
    assert _overlap((row.lower, row.upper), (r["lower"], r["upper"])), (row.power, r["power"])
    # and the difference is within what two independent runs of 1000 give (z < 3)
    pooled = (row.successes + r["successes"]) / 2000
    z = abs(row.power - r["power"]) / np.sqrt(2 * pooled * (1 - pooled) / 1000)
    assert z < 3


def test_binomial_interval_is_binom_test():
    r = REF["satterthwaite"]
    ci = stats.binomtest(r["successes"], r["nsim"]).proportion_ci(0.95, method="exact")
    assert ci.low == pytest.approx(r["lower"], rel=1e-10)
    assert ci.high == pytest.approx(r["upper"], rel=1e-10)


def test_satterthwaite_at_r_estimates_equals_lmertest():
    """The vectorised Satterthwaite test at R's theta (optimizer-free): lmerTest's df, t and p."""
    d = lf.lformula(REF["formula"], DATA.assign(y=Y[:, 0]))
    prof = SingleTermProfile(_cross_products(d), d.X, reml=True)
    prof.set_responses(Y)
    theta = np.array([e["theta"] for e in EXACT])
    est = [prof.estimates(theta[r], r) for r in range(len(EXACT))]
    out = satterthwaite_many(prof, theta, np.array([e["sigma"] for e in est]), np.array([e["beta"] for e in est]), 1)
    np.testing.assert_allclose(out["df"], [e["df_sat"] for e in EXACT], rtol=1e-6)
    np.testing.assert_allclose(out["t"], [e["t"] for e in EXACT], rtol=1e-8)
    np.testing.assert_allclose(out["p"], [e["p_sat"] for e in EXACT], rtol=1e-6)


@pytest.mark.parametrize("method, key, general", [("satterthwaite", "p_sat", False), ("satterthwaite", "p_sat", True),
                                                  ("lrt", "p_lrt", False), ("kr", "p_kr", False)])
def test_pvalues_of_twenty_simulated_responses_equal_r(method, key, general):
    """The whole path (lmmflow's own refits, then the test) on the stored responses: R's p to 1e-4."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = _pvalues(REF["formula"], DATA, Y, "time", method=method, general=general)
    np.testing.assert_allclose(out["p"], [e[key] for e in EXACT], rtol=1e-4)


REF_F = json.loads((Path(__file__).parents[1] / "reference" / "power_reference_f.json").read_text())


@pytest.mark.parametrize("method, key", [("satterthwaite", "p_sat"), ("kr", "p_kr")])
def test_f_test_pvalues_of_a_factor_equal_lmertest(method, key):
    """A three-level factor (lmerTest's type III anova): R's p to 1e-4 on 10 stored responses."""
    data = pd.DataFrame(REF_F["data"])
    Yf = np.column_stack([c["y"] for c in REF_F["cases"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = _pvalues(REF_F["formula"], data, Yf, "g", method=method)
    np.testing.assert_allclose(out["p"], [c[key] for c in REF_F["cases"]], rtol=1e-4)
