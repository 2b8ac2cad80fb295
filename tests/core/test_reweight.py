"""Cross-products and the blocked factor under new weights on the same layout (CrossProducts.reweight,
BlockedCholesky.reweight), and the leverages PIRLS takes from that factor (core/leverage.py).

Each reweighted object is checked against the same quantity built from scratch with the weights as prior weights
(CrossProducts.build, a new BlockedCholesky), or against dense linear algebra; tolerances are rounding-level.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from lmmflow.core import leverage as lev
from lmmflow.core.blocked import BlockedCholesky
from lmmflow.core.crossprod import CrossProducts, ReBlock


class Rows:
    """A row source (``shape`` and ``rows(start, stop)``): the design read in row blocks."""

    def __init__(self, M: np.ndarray):
        self.M, self.shape = M, M.shape

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self.M[start:stop]


def _term(codes: np.ndarray, Z: np.ndarray, nl: int) -> ReBlock:
    return ReBlock(codes=codes, Z=Z, nlevels=nl, mask=np.tril(np.ones((Z.shape[1], Z.shape[1]), bool)))


def _design(kind: str, n: int, seed: int) -> tuple[list[ReBlock], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = rng.normal(size=n)
    one = np.ones((n, 1))
    slope = np.column_stack([np.ones(n), t])
    g1, g2, g3 = rng.integers(0, 37, n), rng.integers(0, 8, n), rng.integers(0, 3, n)
    terms = {
        "scalar": [_term(g1, one, 37)],
        "vector": [_term(g1, slope, 37)],
        "crossed": [_term(g1, one, 37), _term(g2, one, 8)],
        "crossed_vector": [_term(g1, slope, 37), _term(g2, slope, 8)],
        "three": [_term(g1, np.column_stack([one, t, t * t]), 37), _term(g2, one, 8), _term(g3, slope, 3)],
        "nested": [_term(g1 * 3 + g3, slope, 111), _term(g1, one, 37)],
        # few rows per level of either factor: a sparse coupling (students x raters)
        "sparse_crossed": [_term(rng.permutation(np.arange(n) % 150), one, 150),
                           _term(rng.integers(0, 60, n), one, 60)],
    }[kind]
    X = np.column_stack([np.ones(n), t, rng.normal(size=(n, 6))])
    return terms, X, rng.normal(size=n) + 3.0 * t


KINDS = ["scalar", "vector", "crossed", "crossed_vector", "three", "nested", "sparse_crossed"]


def _max_diff(a: CrossProducts, b: CrossProducts) -> float:
    parts = [np.abs(a.xx - b.xx).max()]
    parts += [np.abs(x - y).max() for x, y in zip(a.diag, b.diag)]
    parts += [np.abs(x - y).max() for x, y in zip(a.xz, b.xz)]
    parts += [abs(a.off[k] - b.off[k]).max() for k in b.off]
    scale = max(1.0, np.abs(b.xx).max())
    return float(max(parts) / scale)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("columns", [8, 3, 0])
def test_reweight_equals_a_build_with_those_weights(kind: str, columns: int) -> None:
    blocks, X, y = _design(kind, 900, 1)
    cp = CrossProducts.build(blocks, X, y, center=False)
    rng = np.random.default_rng(2)
    for _ in range(2):  # the second call reuses the layout found by the first
        w = rng.random(900) * 3.0
        w[:7] = 0.0  # zero weights keep their entries in the pattern
        z = rng.normal(size=900)
        got = cp.reweight(w, z, X[:, :columns])
        ref = CrossProducts.build(blocks, X[:, :columns], z, weights=w, center=False)
        assert _max_diff(got, ref) < 1e-13
        assert got.p == columns and got.beta_offset is None
        assert got.log_weights == pytest.approx(ref.log_weights, rel=1e-14)
        np.testing.assert_array_equal(got.w_sqrt, ref.w_sqrt)
        for key, A in got.off.items():  # the pattern's index arrays are shared, not copied
            assert np.shares_memory(A.indices, cp.pattern.off[key].indices)
            assert np.shares_memory(A.indptr, cp.pattern.off[key].indptr)
    assert got.pattern is cp.pattern


@pytest.mark.parametrize("kind", ["crossed_vector", "three"])
def test_reweight_reads_row_sources_in_blocks(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import lmmflow.core.crossprod as crossprod

    monkeypatch.setattr(crossprod, "CHUNK_ROWS", 128)  # several row blocks, levels spread over them
    blocks, X, y = _design(kind, 700, 3)
    src = [ReBlock(codes=b.codes, Z=Rows(b.Z), nlevels=b.nlevels, mask=b.mask) for b in blocks]
    cp = CrossProducts.build(src, Rows(X), y, center=False)
    w = np.random.default_rng(4).random(700)
    got = cp.reweight(w, y, Rows(X))
    ref = CrossProducts.build(blocks, X, y, weights=w, center=False)
    assert _max_diff(got, ref) < 1e-13


def test_a_working_system_has_no_likelihood_weights() -> None:
    blocks, X, y = _design("crossed", 300, 5)
    cp = CrossProducts.build(blocks, X, y, center=False)
    work = cp.reweight(np.full(300, 0.25), y, X, prior=False)
    assert work.w_sqrt is None and np.isnan(work.log_weights)
    with pytest.raises(ValueError, match="working system"):
        work.with_response(y, X)
    with pytest.raises(ValueError, match="300 rows"):
        cp.reweight(np.ones(299), y, X)


@pytest.mark.parametrize("fill", ["dense", "pairs", "sparse"])
@pytest.mark.parametrize("kind", KINDS)
def test_reweighted_factor_equals_a_new_factor(kind: str, fill: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import lmmflow.core.blocked as blocked

    if fill != "dense":  # the fill of later terms by the pairs laid out once, or by sparse products
        monkeypatch.setattr(blocked, "_DENSE_FILL", 0)
    if fill == "sparse":
        monkeypatch.setattr(blocked, "MAX_PAIRS", 0)
    blocks, X, y = _design(kind, 800, 6)
    base = BlockedCholesky(CrossProducts.build(blocks, X, y, center=False), pairs=False)
    rng = np.random.default_rng(7)
    w = rng.random(800) + 0.1
    theta = base.theta0() * (0.5 + rng.random(base.n_theta))
    got = base.reweight(base.cp.reweight(w, y, X))
    got.update(theta)
    ref = BlockedCholesky(CrossProducts.build(blocks, X, y, weights=w, center=False))
    ref.update(theta)
    assert got.pmap is base.pmap and got.cp is not base.cp
    assert got.logdet_re() == pytest.approx(ref.logdet_re(), rel=1e-12)
    np.testing.assert_allclose(got.LXX, ref.LXX, rtol=1e-10, atol=1e-10)
    beta = got.solve_fixef()
    np.testing.assert_allclose(beta, ref.solve_fixef(), rtol=1e-10, atol=1e-10)
    for a, b in zip(got.solve_u(beta), ref.solve_u(beta)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    for a, b in zip(got.inverse_diag_blocks(), ref.inverse_diag_blocks()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # the factor it came from is untouched, and another reweight is independent of this one
    assert not hasattr(base, "theta")
    other = base.reweight(base.cp.reweight(2.0 * w, y, X))
    other.update(theta)
    assert other.logdet_re() != pytest.approx(got.logdet_re(), rel=1e-6)
    assert got.logdet_re() == pytest.approx(ref.logdet_re(), rel=1e-12)


def test_reweight_refuses_other_terms() -> None:
    blocks, X, y = _design("crossed", 300, 8)
    f = BlockedCholesky(CrossProducts.build(blocks, X, y, center=False))
    other, _, _ = _design("vector", 300, 8)
    with pytest.raises(ValueError, match="same random-effects terms"):
        f.reweight(CrossProducts.build(other, X, y, center=False))


def _dense_leverages(f: BlockedCholesky, X: np.ndarray | None, scale: np.ndarray | None) -> np.ndarray:
    """||L^-1 a_i||^2 by dense algebra: rows a_i = s_i [Lambda'z_i; x_i] and M = the factor's system."""
    cp = f.cp
    ZL = sp.hstack([b.sparse_z() @ sp.kron(sp.identity(b.nlevels), f.lambdas[k]) for k, b in enumerate(cp.blocks)])
    ZL = ZL.toarray()
    q = ZL.shape[1]
    L = np.zeros((q + cp.p, q + cp.p))  # the factor assembled from its blocks (the [X y] row of y left out)
    off = np.cumsum([0] + [b.q for b in cp.blocks])
    b0 = cp.blocks[0]
    for lv in range(b0.nlevels):
        sl = slice(lv * b0.p, (lv + 1) * b0.p)
        L[sl, sl] = f.L0[lv]
    for k in range(1, len(cp.blocks)):
        L[off[k]:off[k + 1], :off[1]] = f.Lsp[k].toarray()
        for j in range(1, k + 1):
            L[off[k]:off[k + 1], off[j]:off[j + 1]] = f.Ld[(k, j)]
    if cp.p:
        for k in range(len(cp.blocks)):
            L[q:, off[k]:off[k + 1]] = (f._level_major_lx0() if k == 0 else f.LX[k])[:cp.p]
        L[q:, q:] = f.LXX[:cp.p, :cp.p]
    A = ZL if X is None else np.hstack([ZL, X])
    if scale is not None:
        A = A * scale[:, None]
    size = A.shape[1]
    sol = np.linalg.solve(L[:size, :size], A.T)
    return np.einsum("ji,ji->i", sol, sol)


@pytest.mark.parametrize("kind", KINDS)
def test_leverages_of_every_path_agree_with_dense_algebra(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks, X, y = _design(kind, 600, 9)
    rng = np.random.default_rng(10)
    w = rng.random(600) + 0.2
    f = BlockedCholesky(CrossProducts.build(blocks, X[:, :3], y, weights=w, center=False))
    f.update(f.theta0() * (0.4 + rng.random(f.n_theta)))
    ref = _dense_leverages(f, None, None)
    np.testing.assert_allclose(lev.leverages(f), ref, rtol=1e-10, atol=1e-12)  # gathered / per-level path
    s = np.sqrt(w)
    np.testing.assert_allclose(lev.leverages(f, row_scale=s), s * s * ref, rtol=1e-10, atol=1e-12)
    monkeypatch.setattr(lev, "_GATHER_MAX", 0)
    np.testing.assert_allclose(lev.leverages(f, chunk_rows=97), ref, rtol=1e-10, atol=1e-12)  # row blocks
    np.testing.assert_allclose(lev.leverages(f, chunk_rows=97, gram=False), ref, rtol=1e-10, atol=1e-12)
    s = np.sqrt(w)
    full = _dense_leverages(f, X[:, :3], s)
    np.testing.assert_allclose(lev.leverages(f, X[:, :3], row_scale=s), full, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="3 fixed effects"):
        lev.leverages(f, X)
    # a reweighted factor (PIRLS's): two scalar terms take their coupling's pattern path
    g = f.reweight(f.cp.reweight(w, y, X[:, :3]))
    g.update(f.theta)
    np.testing.assert_allclose(lev.leverages(g), ref, rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(KINDS), zeros=st.integers(0, 50))
def test_reweight_property(seed: int, kind: str, zeros: int) -> None:
    """Any weights (some zero), any response: reweighting equals building from scratch."""
    blocks, X, y = _design(kind, 200, seed)
    cp = CrossProducts.build(blocks, X, y, center=False)
    rng = np.random.default_rng(seed + 1)
    w = rng.exponential(size=200)
    w[rng.choice(200, zeros, replace=False)] = 0.0
    z = rng.normal(size=200) * 10.0 ** rng.integers(-3, 4)
    got = cp.reweight(w, z, X)
    ref = CrossProducts.build(blocks, X, z, weights=w, center=False)
    assert _max_diff(got, ref) < 1e-12


def test_pairs_serve_only_cross_products_on_the_layout() -> None:
    """The column pairs index the values of reweighted cross-products; the cross-products the layout was found
    from keep their own value order, so a factor of those never takes the pairs."""
    blocks, X, y = _design("sparse_crossed", 600, 3)
    cp = CrossProducts.build(blocks, X, y, center=False)
    rw = cp.reweight(np.full(600, 2.0), y, X)
    assert BlockedCholesky(cp, pairs=False)._pairs_of(1, 1) is None
    assert BlockedCholesky(cp, pairs=False).reweight(rw)._pairs_of(1, 1) is not None
