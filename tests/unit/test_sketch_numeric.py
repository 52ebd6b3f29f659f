"""Numeric sketch: merge laws, round trips, CDF accuracy against numpy on the same data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.sketches.numeric import NumericSketch, decide_scale

ALPHA = 0.01
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
values = st.lists(st.one_of(finite, st.none(), st.sampled_from([math.nan, math.inf, -math.inf])), max_size=200)
centres = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False)
scales = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)


def _sketch(data: list[float | None], centre: float = 0.0, scale: float = 1.0) -> NumericSketch:
    sketch = NumericSketch(centre, scale, ALPHA)
    sketch.update(data)
    return sketch


def _same(a: NumericSketch, b: NumericSketch) -> None:
    assert a.bins == b.bins
    assert (a.count, a.missing, a.nan, a.pos_inf, a.neg_inf) == (b.count, b.missing, b.nan, b.pos_inf, b.neg_inf)
    assert (a.min, a.max) == (b.min, b.max)
    assert a.sum == pytest.approx(b.sum, rel=1e-9, abs=1e-6)


@given(values, values, values, centres, scales)
def test_merge_is_associative_and_commutative(a: list, b: list, c: list, centre: float, scale: float) -> None:
    sa, sb, sc = (_sketch(x, centre, scale) for x in (a, b, c))
    _same(sa.merge(sb).merge(sc), sa.merge(sb.merge(sc)))
    _same(sa.merge(sb), sb.merge(sa))
    _same(sa.merge(sb), _sketch(a + b, centre, scale))


@given(values)
def test_empty_is_identity_and_merge_does_not_mutate(a: list) -> None:
    sa = _sketch(a)
    before = sa.to_bytes()
    _same(sa.merge(NumericSketch(0.0, 1.0, ALPHA)), sa)
    other = _sketch([1.0, 2.0])
    other_before = other.to_bytes()
    sa.merge(other)
    assert sa.to_bytes() == before
    assert other.to_bytes() == other_before


@given(values, centres, scales)
def test_bytes_round_trip(a: list, centre: float, scale: float) -> None:
    sketch = _sketch(a, centre, scale)
    again = NumericSketch.from_bytes(sketch.to_bytes())
    assert again == sketch
    assert again.to_bytes() == sketch.to_bytes()


def test_counts_kept_apart() -> None:
    sketch = _sketch([1.0, None, math.nan, math.inf, -math.inf, -math.inf, 2.0])
    assert (sketch.count, sketch.missing, sketch.nan, sketch.pos_inf, sketch.neg_inf) == (2, 1, 1, 1, 2)
    assert sketch.total == 7
    assert sketch.mean == pytest.approx(1.5)


@settings(max_examples=60)
@given(st.lists(finite, min_size=1, max_size=300), centres, scales)
def test_cdf_at_edges_within_relative_accuracy(data: list[float], centre: float, scale: float) -> None:
    sketch = _sketch(data, centre, scale)
    edges, counts = sketch.histogram()
    assert counts.sum() == len(data)
    assert np.all(np.diff(edges) >= 0)
    assert edges[-1] == max(data)
    ordered = np.sort(np.asarray(data))
    z_data = (ordered - centre) / scale
    for edge, got in zip(edges, sketch.cdf(edges), strict=True):
        # The sketch may misplace a value only within one bucket: relative error alpha in z (plus the
        # zero band), so the CDF at an edge lies between numpy's CDF just below and just above it.
        z = (edge - centre) / scale
        slack = ALPHA * 2.05 * abs(z) + 1e-4 + 1e-9 * (1 + abs(centre) / scale)
        lo = np.searchsorted(z_data, z - slack, side="right") / len(data)
        hi = np.searchsorted(z_data, z + slack, side="right") / len(data)
        assert lo - 1e-12 <= got <= hi + 1e-12


def test_cdf_matches_numpy_exactly_at_edges_on_continuous_data() -> None:
    rng = np.random.default_rng(7)
    data = rng.normal(3.0, 2.0, 20_000)
    sketch = NumericSketch(*decide_scale(data[:512]))
    sketch.update(data)
    edges, _ = sketch.histogram()
    exact = np.searchsorted(np.sort(data), edges, side="right") / data.size
    assert np.max(np.abs(sketch.cdf(edges) - exact)) <= 1 / data.size  # at most one value at an edge
    for q in (0.01, 0.25, 0.5, 0.75, 0.99):
        assert sketch.quantile(q) == pytest.approx(np.quantile(data, q), rel=0.02, abs=0.02)


def test_feature_at_1000_plus_minus_1_keeps_resolution() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(1000.0, 1.0, 5000)
    sketch = NumericSketch(*decide_scale(base[:512]))
    sketch.update(base)
    _, counts = sketch.histogram()
    assert counts.size > 100  # hundreds of buckets across ±4σ, not one bucket for "about 1000"
    shifted = NumericSketch(sketch.centre, sketch.scale)
    shifted.update(base + 0.2)
    # A 0.2σ shift moves the median bucket: visible in the CDF at the reference median.
    median = sketch.quantile(0.5)
    assert sketch.cdf(np.array([median]))[0] - shifted.cdf(np.array([median]))[0] > 0.05
    assert sketch.std == pytest.approx(1.0, rel=0.05)


def test_merge_rejects_different_standardization() -> None:
    with pytest.raises(ValueError, match="centre/scale"):
        NumericSketch(0.0, 1.0).merge(NumericSketch(0.0, 2.0))


@pytest.mark.parametrize(
    "blob",
    [b"", b"XX" + bytes(200), NumericSketch().to_bytes()[:-1] + b"\x00\x00", b"NS\x09" + bytes(200)],
)
def test_from_bytes_rejects_garbage(blob: bytes) -> None:
    with pytest.raises(ValueError):
        NumericSketch.from_bytes(blob)


def test_bad_parameters_rejected() -> None:
    with pytest.raises(ValueError):
        NumericSketch(0.0, 0.0)
    with pytest.raises(ValueError):
        NumericSketch(math.nan, 1.0)
    with pytest.raises(ValueError):
        NumericSketch(relative_accuracy=1.5)


def test_decide_scale_never_zero() -> None:
    assert decide_scale([5.0] * 100) == (5.0, pytest.approx(5e-3))
    assert decide_scale([0.0] * 100)[1] > 0
    assert decide_scale([]) == (0.0, 1.0)
    centre, scale = decide_scale([0.0] * 90 + [1.0] * 10)  # IQR 0 → std
    assert centre == 0.0 and scale == pytest.approx(0.3)


def test_empty_sketch_reads() -> None:
    sketch = NumericSketch()
    assert math.isnan(sketch.quantile(0.5))
    assert np.isnan(sketch.cdf(np.array([0.0]))).all()
    assert sketch.histogram()[0].size == 0


def test_rebinned_keeps_counts_and_range() -> None:
    sketch = _sketch([float(v) for v in range(100)] + [None], 50.0, 10.0)
    moved = sketch.rebinned(40.0, 20.0)
    assert (moved.count, moved.missing, moved.min, moved.max) == (100, 1, 0.0, 99.0)
    assert moved.mean == pytest.approx(sketch.mean)
    assert moved.quantile(0.5) == pytest.approx(sketch.quantile(0.5), abs=2.0)


def test_extreme_values_stay_defined_without_warnings() -> None:
    data = [1.7e308, -1.7e308, 5e-324, 0.0, 2.6e154]
    centre, scale = decide_scale(data)
    sketch = NumericSketch(centre, scale)
    sketch.update(data)
    assert sketch.count == 5 and (sketch.min, sketch.max) == (-1.7e308, 1.7e308)
    edges, counts = sketch.histogram()
    assert counts.sum() == 5 and edges[-1] == 1.7e308
    assert sketch.cdf(np.array([1.7e308]))[0] == 1.0
    assert NumericSketch.from_bytes(sketch.to_bytes()) == sketch
