"""Fixtures for the explorer tests; the helpers live in ``_helpers``."""

from __future__ import annotations

import pytest

from ._helpers import FakeModel, fake_growth_model


@pytest.fixture
def fake_model() -> FakeModel:
    return fake_growth_model()
