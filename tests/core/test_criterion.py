"""The one Gaussian criterion (core/criterion.py) against the objectives that use it."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lmmflow as lf
from lmmflow.core.criterion import criterion_dof, gaussian_criterion, gaussian_criterion_at_sigma
from lmmflow.inference.derivatives import deviance_varpar


@pytest.mark.parametrize("reml", [True, False])
def test_matches_the_written_formula(reml: bool) -> None:
    ld_re, ld_rx, r2, n, p, lw = 12.5, 3.25, 40.0, 50, 3, 1.5
    dof = n - p if reml else n
    want = ld_re + (ld_rx if reml else 0.0) + dof * (1.0 + math.log(2 * math.pi * r2 / dof)) - lw
    assert gaussian_criterion(ld_re, ld_rx, r2, n, p, reml, lw) == pytest.approx(want, rel=1e-15)
    assert criterion_dof(n, p, reml) == dof


@pytest.mark.parametrize("reml", [True, False])
def test_array_form_equals_scalar_form(reml: bool) -> None:
    ld = np.array([1.0, 2.0, 3.0])
    r2 = np.array([5.0, 6.0, 7.0])
    arr = gaussian_criterion(ld, 0.5, r2, 30, 2, reml, 0.25)
    one = [gaussian_criterion(float(a), 0.5, float(b), 30, 2, reml, 0.25) for a, b in zip(ld, r2)]
    np.testing.assert_allclose(arr, one, rtol=1e-15)


@pytest.mark.parametrize("reml", [True, False])
def test_sigma_form_at_profiled_sigma_is_the_profiled_criterion(reml: bool) -> None:
    ld_re, ld_rx, r2, n, p = 7.0, 2.0, 30.0, 40, 4
    s = math.sqrt(r2 / criterion_dof(n, p, reml))
    assert gaussian_criterion_at_sigma(ld_re, ld_rx, r2, s, n, p, reml, 0.5) == pytest.approx(
        gaussian_criterion(ld_re, ld_rx, r2, n, p, reml, 0.5), rel=1e-14)


def test_nonpositive_pwrss_is_an_error_for_scalars() -> None:
    with pytest.raises(ValueError):
        gaussian_criterion(1.0, 1.0, 0.0, 10, 1, True)


@pytest.mark.parametrize("reml", [True, False])
def test_fit_objective_and_varpar_deviance_agree(reml: bool) -> None:
    d = lf.load_dataset("sleepstudy")
    w = np.linspace(0.5, 2.0, len(d))
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", d, reml=reml, weights=w)
    sol = m.solution
    want = gaussian_criterion(sol.logdet_re, sol.logdet_rx, sol.pwrss, m.nobs, 2, reml, m.devfun.cp.log_weights)
    assert m.objective == pytest.approx(want, rel=1e-13)
    assert deviance_varpar(m, np.r_[m.theta, m.sigma]) == pytest.approx(m.objective, rel=1e-12)
