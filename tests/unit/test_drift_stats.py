"""drift.stats against scipy on exact empirical CDFs of the same samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from scipy.spatial import distance

from sidecar.drift import stats


def _ecdfs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    grid = np.union1d(a, b)
    fa = np.searchsorted(np.sort(a), grid, side="right") / a.size
    fb = np.searchsorted(np.sort(b), grid, side="right") / b.size
    return grid, fa, fb


@pytest.mark.parametrize(("n", "m", "shift"), [(500, 300, 0.0), (2000, 2000, 0.2), (5000, 150, 0.5), (80, 1200, -1.0)])
def test_ks_matches_scipy(n: int, m: int, shift: float) -> None:
    rng = np.random.default_rng(n + m)
    a, b = rng.normal(size=n), rng.normal(shift, 1.0, size=m)
    _grid, fa, fb = _ecdfs(a, b)
    d = stats.ks_statistic(fa, fb)
    expected = sps.ks_2samp(a, b, method="asymp")
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    # Kolmogorov's limit law: never below scipy's finite-n p-value, and close to it
    p = stats.ks_p_value(d, n, m)
    assert p >= expected.pvalue * (1 - 1e-9)
    assert math.log(p) == pytest.approx(math.log(expected.pvalue), rel=0.1, abs=0.05)


def test_ks_p_value_edges() -> None:
    assert stats.ks_p_value(0.0, 100, 100) == 1.0
    assert math.isnan(stats.ks_p_value(0.3, 0, 100))
    assert stats.ks_p_value(1.0, 10**6, 10**6) == 0.0
    assert stats.ks_statistic(np.empty(0), np.empty(0)) == 0.0


def test_wasserstein_step_equals_scipy() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=700), rng.exponential(size=400)
    grid, fa, fb = _ecdfs(a, b)
    assert stats.wasserstein_from_cdfs(grid, fa, fb, step=True) == pytest.approx(
        sps.wasserstein_distance(a, b), rel=1e-9
    )
    # interpolated form on a fine grid is close to the step form
    assert stats.wasserstein_from_cdfs(grid, fa, fb) == pytest.approx(sps.wasserstein_distance(a, b), rel=0.02)


def test_psi_and_js_on_known_shares() -> None:
    p = np.array([0.5, 0.3, 0.2])
    q = np.array([0.4, 0.4, 0.2])
    expected_psi = float(np.sum((q - p) * np.log(q / p)))
    assert stats.psi(p, q) == pytest.approx(expected_psi, rel=1e-3)
    assert stats.js_distance(p * 10, q * 7) == pytest.approx(distance.jensenshannon(p, q, base=2), rel=1e-12)
    assert stats.psi(p, p) == pytest.approx(0.0, abs=1e-12)
    assert math.isfinite(stats.psi(np.array([1.0, 0.0]), np.array([0.0, 1.0])))  # epsilon smoothing
    assert math.isnan(stats.js_distance(np.zeros(3), q))


def test_quantile_cuts_give_about_equal_reference_bins() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=5000), rng.normal(size=100)
    grid, fa, _fb = _ecdfs(a, b)
    cuts = stats.quantile_cuts(grid, fa)
    shares = stats.bin_shares(np.searchsorted(np.sort(a), cuts, side="right") / a.size)
    assert cuts.size == 9 and shares.sum() == pytest.approx(1.0)
    assert np.all(np.abs(shares - 0.1) < 0.002)
    # a constant feature gives a single bin
    const_grid = np.array([3.0])
    assert stats.quantile_cuts(const_grid, np.array([1.0])).size == 0


def test_chi2_matches_scipy_on_dense_table() -> None:
    ref = np.array([500.0, 300.0, 200.0, 100.0])
    cur = np.array([40.0, 35.0, 15.0, 10.0])
    statistic, p, dof = stats.chi2_homogeneity(*stats.merge_sparse(ref, cur))
    expected = sps.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert (statistic, p, dof) == pytest.approx((expected.statistic, expected.pvalue, expected.dof), rel=1e-12)


def test_merge_sparse_pools_small_cells_and_keeps_totals() -> None:
    ref = np.array([1000.0, 800.0, 20.0, 20.0, 20.0, 20.0, 20.0, 0.0])
    cur = np.array([100.0, 90.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    r, c = stats.merge_sparse(ref, cur)
    assert r.sum() == ref.sum() and c.sum() == cur.sum()
    assert r.tolist() == [1000.0, 800.0, 100.0] and c.tolist() == [100.0, 90.0, 5.0]
    expected = np.outer([r.sum(), c.sum()], r + c) / (r.sum() + c.sum())
    assert expected.min() >= stats.MIN_EXPECTED


def test_merge_sparse_folds_a_too_small_pool_into_the_smallest_column() -> None:
    ref = np.array([1000.0, 900.0, 1.0])
    cur = np.array([100.0, 80.0, 0.0])
    r, c = stats.merge_sparse(ref, cur)
    assert r.tolist() == [1000.0, 901.0] and c.tolist() == [100.0, 80.0]
    assert stats.chi2_homogeneity(np.array([5.0]), np.array([3.0])) == (0.0, 1.0, 0)


def test_holm_matches_the_definition() -> None:
    p = np.array([0.01, 0.04, 0.03, math.nan, 0.005])
    adjusted = stats.holm(p)
    # sorted valid: 0.005, 0.01, 0.03, 0.04 with factors 4, 3, 2, 1
    assert adjusted[4] == pytest.approx(0.02)
    assert adjusted[0] == pytest.approx(0.03)
    assert adjusted[2] == pytest.approx(0.06)
    assert adjusted[1] == pytest.approx(0.06)  # monotone: max with the previous step
    assert math.isnan(adjusted[3])
    assert stats.holm(np.array([math.nan])).tolist()[0] != 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_holm_is_bounded_and_order_preserving(values: list[float]) -> None:
    p = np.array(values)
    adjusted = stats.holm(p)
    assert np.all(adjusted >= p - 1e-15) and np.all(adjusted <= 1.0)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adjusted[order]) >= -1e-15)


def test_hotelling_detects_a_mean_shift_and_ignores_degenerate_directions() -> None:
    rng = np.random.default_rng(3)
    cov = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 0.0]])  # third feature constant
    ref = rng.multivariate_normal([0.0, 0.0, 5.0], cov, size=4000)
    same = rng.multivariate_normal([0.0, 0.0, 5.0], cov, size=1000)
    moved = rng.multivariate_normal([0.2, 0.0, 5.0], cov, size=1000)
    cov_ref = np.cov(ref, rowvar=False)
    t2, p, d, rank = stats.hotelling(ref.mean(0), cov_ref, 4000, same.mean(0), 1000)
    assert rank == 2 and p > 0.001 and d < 0.1
    t2_moved, p_moved, d_moved, _ = stats.hotelling(ref.mean(0), cov_ref, 4000, moved.mean(0), 1000)
    assert p_moved < 1e-6 and t2_moved > t2
    # Mahalanobis of a 0.2 shift on a feature correlated 0.5 with an unshifted one: 0.2/sqrt(0.75)
    assert d_moved == pytest.approx(0.2 / math.sqrt(0.75), abs=0.06)
    assert math.isnan(stats.hotelling(np.zeros(2), np.zeros((2, 2)), 100, np.ones(2), 100)[1])


def test_hotelling_handles_collinear_and_badly_scaled_features() -> None:
    rng = np.random.default_rng(4)
    base = rng.normal(size=(5000, 2))
    ref = np.column_stack([base[:, 0], base[:, 1], base[:, 0] + base[:, 1], 1000 + 0.001 * rng.normal(size=5000)])
    cur = ref[:1000]
    cov = np.cov(ref, rowvar=False)
    t2, p, _d, rank = stats.hotelling(ref.mean(0), cov, 5000, cur.mean(0), 1000)
    assert rank == 3  # the exact linear combination is dropped, the tiny-scale feature kept
    assert math.isfinite(t2) and 0.0 <= p <= 1.0
    moved = cur + np.array([0.0, 0.0, 0.0, 0.0005])  # half a σ on the 1000 ± 0.001 feature
    _t2, p_moved, d_moved, _rank = stats.hotelling(ref.mean(0), cov, 5000, moved.mean(0), 1000)
    assert p_moved < 1e-6 and d_moved == pytest.approx(0.5, abs=0.1)
