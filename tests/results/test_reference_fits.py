"""Full fits against lme4 1.1-31 on every reference case, with the tolerances of
tests/reference/README.md: objective no worse than lme4's by 1e-6 relative; fixed effects, sigma
and variance components 1e-5 relative; random effects and conditional SDs 1e-3 relative."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf

from ..conftest import REFERENCE, load_case


def _case_names() -> list[str]:
    import json

    if not REFERENCE.exists():
        return []
    return [c["name"] for c in json.loads(REFERENCE.read_text())["cases"]]


def _norm(name: str) -> str:
    s = str(name).lower().replace(" ", "").replace("[t.", "").replace("]", "").replace("[", "")
    s = s.replace("(intercept)", "intercept").replace("(", "").replace(")", "")
    return ":".join(sorted(s.split(":")))


def _named(values: dict | list | float, names: list[str]) -> list[tuple[str, float]]:
    """R writes a one-element named vector as a bare number or list; pair it with our names."""
    if isinstance(values, dict):
        return list(values.items())
    values = values if isinstance(values, list) else [values]
    return list(zip(names, values))


@pytest.mark.parametrize("name", _case_names())
def test_fit_matches_lme4(reference: dict, name: str) -> None:
    case = next(c for c in reference["cases"] if c["name"] == name)
    m = lf.lmer(case["formula"], load_case(case), reml=case["reml"], quiet=True)
    scale = case["sigma"]
    assert m.objective <= case["objective"] + 1e-6 * abs(case["objective"])
    assert m.objective == pytest.approx(case["objective"], rel=1e-8)
    assert m.loglik == pytest.approx(case["loglik"], rel=1e-7, abs=1e-5)
    assert m.aic == pytest.approx(case["aic"], rel=1e-7, abs=1e-5)
    assert m.bic == pytest.approx(case["bic"], rel=1e-7, abs=1e-5)
    assert m.nobs == case["nobs"]
    assert m.sigma == pytest.approx(case["sigma"], rel=1e-5)
    got = {_norm(k): v for k, v in m.fixef.items()}
    for k, v in _named(case["fixef"], m.fixef_names):
        assert got[_norm(k)] == pytest.approx(v, rel=1e-5, abs=1e-6 * scale), k
    ses = {_norm(k): v for k, v in m.std_errors.items()}
    for k, v in _named(case["fixef_se"], m.fixef_names):
        assert ses[_norm(k)] == pytest.approx(v, rel=1e-4), k
    np.testing.assert_allclose(np.asarray(m.vcov, float), np.asarray(case["vcov"], float), rtol=1e-4,
                               atol=1e-8 * scale ** 2)
    np.testing.assert_allclose(np.asarray(m.fitted), case["fitted"], rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(np.asarray(m.residuals), case["residuals"], rtol=1e-4, atol=1e-5 * scale)
    assert m.is_singular == case["singular"]
    # variance components: SDs 1e-5 relative, correlations 1e-4 absolute
    vc = m.varcorr
    for row in case["varcorr"]:
        grp = row["group"].split(".")[0] if row["group"] != "Residual" else "Residual"
        sel = vc[(vc["group"].str.split(".").str[0] == grp)]
        if row["var1"] is None:
            got_row = sel[sel["var1"].isna()]
        elif row["var2"] is None:
            got_row = sel[(sel["var1"].map(_norm) == _norm(row["var1"])) & sel["var2"].isna()]
        else:
            a, b = _norm(row["var1"]), _norm(row["var2"])
            got_row = sel[sel["var2"].notna() & (
                ((sel["var1"].map(_norm) == a) & (sel["var2"].map(_norm) == b))
                | ((sel["var1"].map(_norm) == b) & (sel["var2"].map(_norm) == a)))]
        assert len(got_row) == 1, row
        tol = dict(abs=1e-4) if row["var2"] is not None else dict(rel=1e-4, abs=1e-5 * scale)
        assert float(got_row["sdcor"].iloc[0]) == pytest.approx(row["sdcor"], **tol), row
    # conditional modes and conditional SDs
    t = lf.tidy(m, effects="ran_vals")
    got_re = {(g.split(".")[0], _norm(term), str(lv)): (e, s) for g, term, lv, e, s in
              zip(t["group"], t["term"], t["level"], t["estimate"], t["std_error"])}
    rr = case["ranef"]
    for g, term, lv, val, sd in zip(rr["group"], rr["term"], rr["level"], rr["condval"], rr["condsd"]):
        e, s = got_re[(g, _norm(term), str(lv))]
        assert e == pytest.approx(val, rel=1e-3, abs=1e-4 * scale)
        assert s == pytest.approx(sd, rel=1e-3, abs=1e-4 * scale)


def test_tidy_ran_vals_columns(sleepstudy: pd.DataFrame) -> None:
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    t = lf.tidy(m, effects="ran_vals", conf_int=True)
    assert list(t.columns) == ["effect", "group", "level", "term", "estimate", "std_error", "conf_low",
                               "conf_high"]
    assert len(t) == 36
