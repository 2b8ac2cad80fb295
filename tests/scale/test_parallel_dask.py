"""The parametric bootstrap on a Dask cluster gives the serial results with the same seed."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmflow as lf

from .conftest import crossed_frame

pytest.importorskip("distributed")


def test_bootstrap_on_dask_equals_serial(client, sleepstudy):
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    serial = lf.bootstrap(m, nsim=250, seed=42, progress=False)
    on_dask = lf.bootstrap(m, nsim=250, seed=42, progress=False, client=client)
    # identical up to BLAS reduction order (Dask's workers run single-threaded BLAS)
    pd.testing.assert_frame_equal(serial.replicates, on_dask.replicates, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(serial.confint(), on_dask.confint(), check_exact=False, rtol=1e-12)


def test_bootstrap_statistic_and_several_terms_on_dask(client):
    df = crossed_frame(n=800)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = lf.lmer("rating ~ days + (1 | user) + (1 | item)", df, reml=False)
        serial = lf.bootstrap(m, statistic=lambda f: f.fixef, nsim=12, seed=7, progress=False)
        on_dask = lf.bootstrap(m, statistic=lambda f: f.fixef, nsim=12, seed=7, progress=False, client=client)
    np.testing.assert_allclose(serial.replicates.to_numpy(), on_dask.replicates.to_numpy(), rtol=1e-12)
    assert list(on_dask.replicates.columns) == ["(Intercept)", "days"]


def test_profile_on_dask_equals_serial(client, sleepstudy):
    m = lf.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    serial = lf.profile(m, progress=False)
    on_dask = lf.profile(m, progress=False, client=client)
    # one task per parameter; identical up to BLAS reduction order on the workers
    pd.testing.assert_frame_equal(serial.frame, on_dask.frame, check_exact=False, rtol=1e-10)
    pd.testing.assert_frame_equal(serial.confint(), on_dask.confint(), check_exact=False, rtol=1e-10)
