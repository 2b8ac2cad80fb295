"""check_overdispersion against performance::check_overdispersion (tests/reference/glmm_performance.json)."""

from __future__ import annotations

import pytest

import lmmflow as lf
from tests.glmm_fits import fit, reference_json

PERF = reference_json("glmm_performance.json")["cases"]


@pytest.mark.parametrize("name", ["cbpp_logit", "cbpp_probit", "grouseticks_poisson", "owls_offset",
                                  "arabidopsis_poisson"])
def test_matches_performance(name: str) -> None:
    t, want = lf.check_overdispersion(fit(name)), PERF[name]["overdispersion"]
    assert t.df == want["rdf"]
    assert t.chisq == pytest.approx(want["chisq"], rel=2e-5)
    assert t.ratio == pytest.approx(want["ratio"], rel=2e-5)
    assert t.p_value == pytest.approx(want["p"], rel=1e-4, abs=1e-300)
    assert t.overdispersed == (want["p"] <= 0.05)


@pytest.mark.parametrize("name", ["contraception_logit", "binary_growth_rs"])
def test_bernoulli_refused(name: str) -> None:
    with pytest.raises(ValueError, match="binary"):
        lf.check_overdispersion(fit(name))


def test_lmm_refused() -> None:
    m = lf.lmer("Reaction ~ Days + (1 | Subject)", lf.load_dataset("sleepstudy"))
    with pytest.raises(TypeError):
        lf.check_overdispersion(m)


def test_print_and_html() -> None:
    t = lf.check_overdispersion(fit("grouseticks_poisson"))
    text = str(t)
    assert text.startswith("# Overdispersion test") and repr(t) == text
    assert "p-value = < 0.001" in text and text.endswith("Overdispersion detected.")
    assert "Pearson" in t._repr_html_() and "<table>" in t._repr_html_()
    assert set(t.to_dict()) == {"chisq", "ratio", "df", "p_value"}
