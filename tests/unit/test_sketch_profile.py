"""Profile file format and ProfileBuilder: warm-up, caps, kinds, merge, validation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.errors import ProfileError
from sidecar.models import FeatureRecord
from sidecar.sketches import Profile, ProfileBuilder
from sidecar.sketches.numeric import NumericSketch


def _records(n: int, start: int = 0, shift: float = 0.0) -> list[FeatureRecord]:
    rng = np.random.default_rng(start)
    return [
        FeatureRecord(
            model="m",
            request_id=str(i),
            time=1000.0 + i,
            inputs={
                "age": float(rng.normal(40 + shift, 5)),
                "city": ["a", "b", "c"][i % 3],
                "gap": None if i % 4 == 0 else 1.0,
            },
            outputs={"prediction": float(rng.random())},
            kinds={"age": "numeric", "city": "categorical", "gap": "numeric"},
        )
        for i in range(start, start + n)
    ]


def test_warmup_replays_reservoir_so_nothing_is_lost() -> None:
    builder = ProfileBuilder("m", top_k=5, max_features=10, warmup=100)
    builder.add(_records(99))
    assert ("input", "age") in builder.warming_up()
    builder.add(_records(901, start=99))
    profile = builder.build()
    age = profile.numeric[("input", "age")]
    assert age.count == 1000
    assert profile.numeric[("input", "gap")].missing == 250
    assert profile.categorical[("input", "city")].frequencies() == {"a": 334, "b": 333, "c": 333}
    assert profile.n == 1000 and (profile.start, profile.end) == (1000.0, 1999.0)
    assert profile.kinds[("output", "prediction")] == "numeric"
    assert profile.moments is not None and profile.moments.names == ("age", "gap")


def test_builds_share_a_scale_and_merge() -> None:
    builder = ProfileBuilder("m", top_k=5, max_features=10, warmup=50)
    builder.add(_records(200))
    first = builder.take()
    builder.add(_records(300, start=200))
    second = builder.take()
    both = first.merge(second)
    assert both.n == 500
    assert both.numeric[("input", "age")].count == 500
    assert first.numeric[("input", "age")].count == 200  # merge did not mutate its inputs


def test_provisional_preview_and_decide() -> None:
    builder = ProfileBuilder("m", warmup=1000)
    builder.add(_records(10))
    preview = builder.build()
    assert preview.numeric[("input", "age")].count == 10
    assert builder.take().numeric.get(("input", "age")) is None  # undecided features stay in the reservoir
    decided = builder.build(decide=True)
    assert decided.numeric[("input", "age")].count == 10
    assert builder.warming_up() == []


def test_feature_cap_counts_dropped_values() -> None:
    builder = ProfileBuilder("m", max_features=2)
    builder.add(_records(10))
    assert builder.feature_count == 2
    assert builder.dropped_features == 20  # "gap" and "prediction" for each of 10 rows


def test_features_cut_at_extraction_count_as_dropped() -> None:
    builder = ProfileBuilder("m")
    builder.add([FeatureRecord("m", "1", 1.0, inputs={"x": 1.0}, dropped_features=4)])
    assert builder.dropped_features == 4


def test_leading_missing_values_do_not_fix_the_kind() -> None:
    builder = ProfileBuilder("m", warmup=10)
    rows = [{"plan": None}, {"plan": None}, {"plan": "pro"}, {"plan": "basic"}]
    builder.add([FeatureRecord("m", str(i), float(i), inputs=row) for i, row in enumerate(rows)])
    profile = builder.build()
    assert profile.kinds[("input", "plan")] == "categorical"
    plan = profile.categorical[("input", "plan")]
    assert (plan.missing, plan.count) == (2, 2)
    assert profile.numeric == {}


def test_type_violation_counted_as_invalid() -> None:
    builder = ProfileBuilder("m", scales={("input", "x"): (0.0, 1.0)})
    builder.add([FeatureRecord("m", "1", 1.0, inputs={"x": "oops"}), FeatureRecord("m", "2", 2.0, inputs={"x": 1.0})])
    sketch = builder.build().numeric[("input", "x")]
    assert (sketch.invalid, sketch.count) == (1, 1)


def test_set_scale_rebins_existing_sketch() -> None:
    builder = ProfileBuilder("m", scales={("input", "age"): (40.0, 5.0)})
    builder.add(_records(100))
    builder.set_scale(("input", "age"), 41.0, 6.0)
    sketch = builder.build().numeric[("input", "age")]
    assert (sketch.centre, sketch.scale, sketch.count) == (41.0, 6.0, 100)


def test_for_reference_keeps_scales_and_counts_unseen() -> None:
    builder = ProfileBuilder("m", top_k=2, warmup=50)
    builder.add(_records(100))
    reference = builder.build(decide=True)
    later = ProfileBuilder.for_reference(reference, top_k=2, max_features=10)
    later.add([FeatureRecord("m", "x", 5.0, inputs={"city": "zzz", "age": 41.0})])
    window = later.build()
    assert window.numeric[("input", "age")].compatible(reference.numeric[("input", "age")])
    assert window.categorical[("input", "city")].unseen == 1
    assert window.moments is not None and window.moments.compatible(reference.moments)  # type: ignore[arg-type]


def test_vectorised_columns() -> None:
    builder = ProfileBuilder("m", warmup=100)
    column = np.concatenate([np.arange(1000, dtype=float), [math.nan, math.inf]])
    builder.add_numeric(("input", "x"), column, missing=3)
    builder.add_categorical(("input", "c"), {"a": 5, "b": 2}, missing=1)
    builder.add_moment_rows(["x"], column.reshape(-1, 1))
    builder.add_rows(1005, 0.0, 1.0)
    profile = builder.build(decide=True)
    x = profile.numeric[("input", "x")]
    assert (x.count, x.nan, x.pos_inf, x.missing) == (1000, 1, 1, 3)
    assert profile.categorical[("input", "c")].total == 8
    assert profile.moments is not None and profile.moments.n == 1000


def test_json_round_trip() -> None:
    builder = ProfileBuilder("m", warmup=50)
    builder.add(_records(200))
    profile = builder.build(decide=True)
    profile.source = "profile"
    data = profile.to_json()
    again = Profile.from_json(data)
    assert again.to_json() == data
    assert again.numeric[("input", "age")] == profile.numeric[("input", "age")]


def _valid() -> dict[str, Any]:
    builder = ProfileBuilder("m", warmup=10)
    builder.add(_records(20))
    return builder.build(decide=True).to_json()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="other"), "not a model-sidecar profile"),
        (lambda d: d.update(format_version=99), "format_version"),
        (lambda d: d.update(model=""), "model"),
        (lambda d: d.update(n=-1), "'n'"),
        (lambda d: d.update(created="soon"), "created"),
        (lambda d: d.update(features={}), "features"),
        (lambda d: d.update(source="guess"), "source"),
        (lambda d: d["features"][0].update(role="middle"), "role"),
        (lambda d: d["features"][0].update(kind="image"), "kind"),
        (lambda d: d["features"][0].update(data="!!!"), "base64"),
        (lambda d: d["features"][0].update(data="AAAA"), "input:"),
        (lambda d: d["features"].append(dict(d["features"][0])), "twice"),
        (lambda d: d.update(moments="AAAA"), "moments"),
    ],
)
def test_from_json_rejects_bad_input(mutate: Any, message: str) -> None:
    data = _valid()
    mutate(data)
    with pytest.raises(ProfileError, match=message):
        Profile.from_json(data)


def test_from_json_rejects_non_object_and_too_many_features() -> None:
    with pytest.raises(ProfileError):
        Profile.from_json([1, 2])
    with pytest.raises(ProfileError, match="cap"):
        Profile.from_json(_valid(), max_features=1)


def test_profile_merge_rejects_other_model() -> None:
    with pytest.raises(ValueError):
        Profile("a").merge(Profile("b"))
    left = Profile("a", n=1, numeric={("input", "x"): NumericSketch(0.0, 1.0)}, kinds={("input", "x"): "numeric"})
    right = Profile("a", n=1, numeric={("input", "x"): NumericSketch(0.0, 2.0)}, kinds={("input", "x"): "numeric"})
    with pytest.raises(ValueError):
        left.merge(right)


_ANY = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from(["red", "", "__other__"]),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), _ANY, max_size=4), max_size=40))
def test_arbitrary_records_never_raise_and_round_trip(rows: list[dict[str, Any]]) -> None:
    builder = ProfileBuilder("m", top_k=2, max_features=3, warmup=5)
    builder.add([FeatureRecord("m", str(i), float(i), inputs=row) for i, row in enumerate(rows)])
    profile = builder.build(decide=True)
    assert profile.n == len(rows)
    for sketch in profile.numeric.values():
        assert (
            sketch.total
            == sketch.count + sketch.missing + sketch.nan + sketch.pos_inf + sketch.neg_inf + sketch.invalid
        )
    assert Profile.from_json(profile.to_json()).to_json() == profile.to_json()


def test_closing_bucket_decides_only_with_enough_values() -> None:
    builder = ProfileBuilder("m", warmup=512)
    builder.add([FeatureRecord("m", str(i), float(i), inputs={"x": 0.0}) for i in range(3)])
    assert builder.take(decide=True).numeric == {}  # 3 values: too few to fix a scale on
    assert builder.warming_up() == [("input", "x")]
    builder.add([FeatureRecord("m", str(i), float(i), inputs={"x": float(i % 7)}) for i in range(40)])
    profile = builder.take(decide=True)
    assert profile.numeric[("input", "x")].count == 43  # the carried-over values are not lost


def test_constant_zero_warmup_keeps_resolution_for_later_values() -> None:
    builder = ProfileBuilder("m", warmup=50)
    builder.add([FeatureRecord("m", str(i), float(i), inputs={"errors": 0.0}) for i in range(50)])
    rng = np.random.default_rng(0)
    builder.add([FeatureRecord("m", "r", 0.0, inputs={"errors": float(v)}) for v in rng.normal(5, 2, 500)])
    sketch = builder.build().numeric[("input", "errors")]
    assert (sketch.centre, sketch.scale) == (0.0, 1.0)
    assert len(sketch.bins) > 50  # not one clamped bucket for "anything non-zero"
    assert sketch.quantile(0.55) == pytest.approx(5.0, abs=0.5)
