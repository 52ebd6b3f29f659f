"""Categorical sketch, HyperLogLog and moments: merge laws, bounds, round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.sketches.categorical import CategoricalSketch
from sidecar.sketches.hll import HyperLogLog
from sidecar.sketches.moments import Moments

labels = st.lists(st.one_of(st.sampled_from(list("abcdefgh")), st.none(), st.text(max_size=3)), max_size=100)


def _cat(values: list[str | None], top_k: int = 50, vocabulary: frozenset[str] | None = None) -> CategoricalSketch:
    sketch = CategoricalSketch(top_k, vocabulary)
    sketch.update(values)
    return sketch


def _key(s: CategoricalSketch) -> tuple[object, ...]:
    return (s.frequencies(), s.unseen, s.missing, s.distinct())


@given(labels, labels, labels)
def test_merge_laws_under_capacity(a: list, b: list, c: list) -> None:
    sa, sb, sc = (_cat(x) for x in (a, b, c))
    assert _key(sa.merge(sb).merge(sc)) == _key(sa.merge(sb.merge(sc)))
    assert _key(sa.merge(sb)) == _key(sb.merge(sa))
    assert _key(sa.merge(sb)) == _key(_cat(a + b))
    assert _key(sa.merge(CategoricalSketch())) == _key(sa)


@given(labels, labels)
def test_merge_does_not_mutate_and_round_trips(a: list, b: list) -> None:
    sa, sb = _cat(a), _cat(b, vocabulary=frozenset({"a", "zz"}))
    before = sa.to_bytes()
    sa.merge(_cat(b))
    assert sa.to_bytes() == before
    for sketch in (sa, sb):
        assert CategoricalSketch.from_bytes(sketch.to_bytes()) == sketch


@given(st.lists(st.integers(0, 60), max_size=400), st.lists(st.integers(0, 60), max_size=400))
def test_bounded_and_totals_conserved_beyond_capacity(a: list[int], b: list[int]) -> None:
    sa, sb = _cat([str(v) for v in a], top_k=2), _cat([str(v) for v in b], top_k=2)
    merged = sa.merge(sb)
    assert len(merged.counts) <= merged.capacity == 8
    assert sum(merged.frequencies().values()) == len(a) + len(b)


def test_spill_rule_first_come_then_other() -> None:
    sketch = _cat([str(v) for v in range(10)] + ["0", "9"], top_k=2)
    assert set(sketch.counts) == {str(v) for v in range(8)}
    assert sketch.counts["0"] == 2
    assert sketch.other == 3  # "8", "9", "9"
    assert sketch.frequencies()[CategoricalSketch.OTHER] == 3


def test_vocabulary_counts_unseen_and_is_always_tracked() -> None:
    vocab = frozenset({"red", "green"})
    sketch = _cat([f"x{i}" for i in range(20)] + ["red", "blue", None], top_k=2, vocabulary=vocab)
    assert sketch.unseen == 21
    assert sketch.counts["red"] == 1
    assert sketch.missing == 1
    with pytest.raises(ValueError):
        sketch.merge(CategoricalSketch(2))


def test_literal_other_label_does_not_mix_with_spill() -> None:
    sketch = _cat([CategoricalSketch.OTHER])
    assert sketch.other == 0
    assert sum(sketch.frequencies().values()) == 1


def test_distinct_estimate_close() -> None:
    sketch = _cat([str(i) for i in range(20_000)], top_k=5)
    assert sketch.distinct() == pytest.approx(20_000, rel=0.06)
    assert _cat(["a", "b", "a"]).distinct() == pytest.approx(2, abs=0.1)
    assert CategoricalSketch().distinct() == 0.0


def test_hll_merge_is_union() -> None:
    a, b = HyperLogLog(), HyperLogLog()
    a.add(str(i) for i in range(3000))
    b.add(str(i) for i in range(1500, 4500))
    assert a.merge(b).estimate() == pytest.approx(4500, rel=0.06)
    assert HyperLogLog.from_bytes(a.to_bytes()).estimate() == a.estimate()
    with pytest.raises(ValueError):
        HyperLogLog.from_bytes(b"HL\x01")


@pytest.mark.parametrize("blob", [b"", b"CS", b"XX" + bytes(64), _cat(["a"]).to_bytes()[:-3]])
def test_categorical_from_bytes_rejects_garbage(blob: bytes) -> None:
    with pytest.raises(ValueError):
        CategoricalSketch.from_bytes(blob)


rows = st.lists(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=3, max_size=3), max_size=40)


@given(rows, rows)
def test_moments_merge_and_round_trip(a: list, b: list) -> None:
    def make(data: list) -> Moments:
        m = Moments(("x", "y", "z"), [1.0, 2.0, 3.0])
        m.update(np.asarray(data, dtype=float).reshape(-1, 3))
        return m

    ma, mb = make(a), make(b)
    merged = ma.merge(mb)
    both = make(a + b)
    assert merged.n == both.n
    np.testing.assert_allclose(merged.sum, both.sum, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(merged.sxx, both.sxx, rtol=1e-9, atol=1e-3)
    assert Moments.from_bytes(ma.to_bytes()) == ma
    assert ma.to_bytes() == make(a).to_bytes()  # merge did not mutate


def test_moments_mean_cov_match_numpy_and_skip_incomplete_rows() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal([1000.0, -5.0], [1.0, 3.0], size=(5000, 2))
    m = Moments(("a", "b"), [1000.0, -5.0])
    m.update(np.vstack([data, [[np.nan, 1.0]]]))
    assert m.n == 5000
    np.testing.assert_allclose(m.mean(), data.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(m.cov(), np.cov(data.T), rtol=1e-9)
    with pytest.raises(ValueError):
        m.update(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        m.merge(Moments(("a", "c")))
    with pytest.raises(ValueError):
        Moments.from_bytes(m.to_bytes()[:-8])
