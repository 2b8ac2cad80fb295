"""R's ptukey/qtukey and emmeans' Dunnett approximation (values from R 4.x and emmeans 1.8.4.1)."""

from __future__ import annotations

import math

import pytest

from lmmflow.inference.studentized import pdunnettx, ptukey, qdunnettx, qtukey, zeroin


@pytest.mark.parametrize("q, k, df, want", [  # R: ptukey(q, k, df, lower.tail = FALSE)
    (3.5, 3, 20, 0.055891849082059353),
    (2.0, 10, 153, 0.92110191378245387),
    (5.0, 6, 35.2, 0.013628682767024003),
    (4.2, 2.5, 24, 0.011719020173793004),
    (1.2, 4, 1e6, 0.83117184858917481),
    (6.5, 10, 153, 0.00037353349659574597),
])
def test_ptukey(q, k, df, want) -> None:
    assert ptukey(q, k, df, lower_tail=False) == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("p, k, df, want", [  # R: qtukey(p, k, df)
    (0.95, 3, 20, 3.577934581525569),
    (0.95, 10, 153, 4.5410002984875737),
    (0.9, 6, 35.2, 3.8222641449756312),
    (0.95, 3, 57.1, 3.4030304275321406),
])
def test_qtukey(p, k, df, want) -> None:
    assert qtukey(p, k, df) == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("p, k, df, want", [  # R: emmeans:::.qdunnx(p, k, df)
    (0.95, 9, 153, 2.7376259565106973),
    (0.95, 5, 20, 2.7535006602500771),
    (0.95, 2, 56.3, 2.2802727378213308),
])
def test_qdunnettx(p, k, df, want) -> None:
    assert qdunnettx(p, k, df) == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("x, k, df, want", [  # R: 1 - emmeans:::.pdunnx(x, k, df)
    (2.5, 9, 153, 0.091339362032349714),
    (3.05, 9, 153, 0.020764257185681312),
])
def test_pdunnettx(x, k, df, want) -> None:
    assert 1 - pdunnettx(x, k, df) == pytest.approx(want, rel=1e-9)


def test_edges() -> None:
    assert ptukey(0.0, 3, 10) == 0.0 and ptukey(math.inf, 3, 10) == 1.0
    assert math.isnan(ptukey(1.0, 1, 10)) and math.isnan(qtukey(0.5, 3, 1))
    assert qtukey(0.0, 3, 10) == 0.0 and qtukey(1.0, 3, 10) == math.inf
    assert zeroin(lambda x: x * x - 2.0, 0.0, 2.0, 1e-12) == pytest.approx(math.sqrt(2.0), rel=1e-11)
