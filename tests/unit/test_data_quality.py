"""quality.data_quality.check on real sketches: each violation kind, quiet traffic, bad input."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from sidecar.models import FeatureRecord
from sidecar.quality.data_quality import Thresholds, Violation, check
from sidecar.sketches.builder import ProfileBuilder
from sidecar.sketches.profile import Profile

KEY = ("input", "x")


def _reference(rng: np.random.Generator, size: int = 5000) -> Profile:
    builder = ProfileBuilder("m")
    values = rng.normal(10, 2, size)
    values[: size // 50] = math.nan  # 2 % NaN in the reference already
    builder.add_numeric(KEY, values, missing=size // 100)  # 1 % missing
    labels = rng.choice(["a", "b", "c"], size, p=[0.5, 0.3, 0.2])
    builder.add_categorical(("input", "city"), dict(Counter(str(v) for v in labels)), missing=10)
    builder.add_numeric(("output", "prediction"), rng.uniform(0, 1, size))
    builder.add_rows(size, 0.0, 1.0)
    return builder.build(decide=True)


def _current(
    reference: Profile,
    rng: np.random.Generator,
    *,
    size: int = 2000,
    missing: int = 20,
    nan: int = 40,
    shift: float = 0.0,
    city: dict[str, int] | None = None,
    strings: int = 0,
    drop_prediction: bool = False,
) -> Profile:
    builder = ProfileBuilder.for_reference(reference, top_k=50, max_features=256)
    values = rng.normal(10 + shift, 2, size)
    values[:nan] = math.nan
    builder.add_numeric(KEY, values, missing=missing)
    for _ in range(strings):
        builder.add([_record({"x": "oops"})])
    labels = Counter(str(v) for v in rng.choice(["a", "b", "c"], size, p=[0.5, 0.3, 0.2]))
    builder.add_categorical(("input", "city"), city if city is not None else dict(labels), missing=size // 500)
    if not drop_prediction:
        builder.add_numeric(("output", "prediction"), rng.uniform(0, 1, size))
    builder.add_rows(size, 0.0, 1.0)
    return builder.build()


def _record(inputs: dict[str, float | str | None]) -> FeatureRecord:
    return FeatureRecord(model="m", request_id="r", time=0.5, inputs=inputs)


def _kinds(found: list[Violation]) -> set[tuple[str, str]]:
    return {(v.feature, v.kind) for v in found}


def test_quiet_traffic_has_no_violation_over_many_windows() -> None:
    rng = np.random.default_rng(0)
    ref = _reference(rng)
    for _ in range(30):
        assert check(ref, _current(ref, rng), min_samples=100) == []


def test_missing_rate_jump() -> None:
    rng = np.random.default_rng(1)
    ref = _reference(rng)
    found = check(ref, _current(ref, rng, missing=400), min_samples=100)
    assert _kinds(found) == {("x", "missing")}
    (v,) = found
    assert v.role == "input" and v.count == 400
    assert v.value == pytest.approx(400 / 2400) and v.reference_value == pytest.approx(50 / 5050)
    # a small, significant-looking jump below the absolute threshold is not a violation
    assert check(ref, _current(ref, rng, missing=100), min_samples=100) == []


def test_field_absent_from_every_row_is_missing() -> None:
    rng = np.random.default_rng(2)
    ref = _reference(rng)
    found = check(ref, _current(ref, rng, drop_prediction=True), min_samples=100)
    assert found == [Violation("prediction", "output", "missing", 1.0, 0.0, 2000)]


def test_nan_and_wrong_type_values() -> None:
    rng = np.random.default_rng(3)
    ref = _reference(rng)
    found = check(ref, _current(ref, rng, nan=300), min_samples=100)
    assert _kinds(found) == {("x", "type")}
    assert found[0].value == pytest.approx(300 / 2020) and found[0].reference_value == pytest.approx(100 / 5050)
    strings = check(ref, _current(ref, rng, strings=200), min_samples=100)
    assert _kinds(strings) == {("x", "type")} and strings[0].count == 40 + 200


def test_kind_change_is_a_type_violation() -> None:
    rng = np.random.default_rng(4)
    ref = _reference(rng)
    cur = ProfileBuilder("m")
    cur.add_categorical(KEY, {"high": 1500, "low": 500})
    cur.add_rows(2000, 0.0, 1.0)
    found = [v for v in check(ref, cur.build(), min_samples=100) if v.feature == "x"]
    assert found == [Violation("x", "input", "type", 1.0, 0.0, 2000)]


def test_share_outside_the_reference_range() -> None:
    rng = np.random.default_rng(5)
    ref = _reference(rng)
    found = check(ref, _current(ref, rng, shift=6.0), min_samples=100)  # 3 σ: many values above max
    assert ("x", "range") in _kinds(found)
    v = next(v for v in found if v.kind == "range")
    expected = np.mean(rng.normal(16, 2, 200_000) > ref.numeric[KEY].max)
    assert v.value == pytest.approx(expected, abs=0.03) and v.reference_value == 0.0


def test_unseen_categories() -> None:
    rng = np.random.default_rng(6)
    ref = _reference(rng)
    found = check(ref, _current(ref, rng, city={"a": 900, "b": 500, "c": 300, "zz": 200, "yy": 100}), min_samples=100)
    assert found == [Violation("city", "input", "unseen", 300 / 2000, 0.0, 300)]
    # a few unseen values are normal
    assert check(ref, _current(ref, rng, city={"a": 1000, "b": 600, "c": 395, "zz": 5}), min_samples=100) == []


def test_min_samples_and_thresholds() -> None:
    rng = np.random.default_rng(7)
    ref = _reference(rng)
    small = _current(ref, rng, size=60, missing=30, nan=0)  # 90 observations of x
    assert check(ref, small, min_samples=100) == []
    assert _kinds(check(ref, small, min_samples=50)) == {("x", "missing")}
    strict = Thresholds(missing_jump=0.5)
    assert check(ref, _current(ref, rng, missing=400), min_samples=100, thresholds=strict) == []


def test_result_is_deterministic_and_ordered() -> None:
    rng = np.random.default_rng(8)
    ref = _reference(rng)
    cur = _current(ref, rng, missing=500, nan=500, shift=6.0, drop_prediction=True)
    found = check(ref, cur, min_samples=100)
    assert found == check(ref, cur, min_samples=100)
    assert [(v.role, v.feature) for v in found] == sorted((v.role, v.feature) for v in found)
    assert all(0.0 <= v.value <= 1.0 and v.count >= 0 for v in found)
