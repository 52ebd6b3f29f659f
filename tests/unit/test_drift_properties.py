"""drift.evaluate on arbitrary input: always strict JSON, never raises; mismatched scales; alerts end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from sidecar.config import DriftSettings
from sidecar.drift import AlertPolicy, evaluate, to_json
from sidecar.sketches.builder import ProfileBuilder
from sidecar.sketches.categorical import CategoricalSketch
from sidecar.sketches.numeric import NumericSketch
from sidecar.sketches.profile import Profile

SETTINGS = DriftSettings(min_samples=5)

numbers = st.lists(st.one_of(st.none(), st.floats(width=64), st.floats(-1e6, 1e6)), max_size=60)
labels = st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "zz", "__other__"])), max_size=60)


def _profile(
    columns: dict[str, list[float | None]], cats: dict[str, list[str | None]], reference: Profile | None = None
) -> Profile:
    builder = (
        ProfileBuilder("m", warmup=8)
        if reference is None
        else ProfileBuilder.for_reference(reference, top_k=3, max_features=16, warmup=8)
    )
    for name, column in columns.items():
        arr = np.array([math.nan if v is None else v for v in column if v is not None], dtype=np.float64)
        builder.add_numeric(("input", name), arr, missing=sum(v is None for v in column))
    for name, column in cats.items():
        counts: dict[str, int] = {}
        for v in column:
            if v is not None:
                counts[v] = counts.get(v, 0) + 1
        builder.add_categorical(("output" if name == "label" else "input", name), counts, missing=column.count(None))
    builder.add_rows(max([len(c) for c in [*columns.values(), *cats.values()]], default=0), 0.0, 1.0)
    return builder.build(decide=True)


@settings(max_examples=80, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["x", "y"]), numbers, max_size=2),
    st.dictionaries(st.sampled_from(["c", "label"]), labels, max_size=2),
    st.dictionaries(st.sampled_from(["x", "y", "new"]), numbers, max_size=3),
    st.dictionaries(st.sampled_from(["c", "label", "x"]), labels, max_size=3),
)
def test_any_input_gives_strict_json(
    ref_num: dict[str, list[float | None]],
    ref_cat: dict[str, list[str | None]],
    cur_num: dict[str, list[float | None]],
    cur_cat: dict[str, list[str | None]],
) -> None:
    ref = _profile(ref_num, ref_cat)
    cur = _profile(cur_num, {k: v for k, v in cur_cat.items() if k not in cur_num}, reference=ref)
    result = evaluate(ref, cur, SETTINGS, window_seconds=60)
    body = json.loads(json.dumps(to_json(result), allow_nan=False))
    assert body == to_json(evaluate(ref, cur, SETTINGS, window_seconds=60))  # deterministic
    multi = body["multivariate"]
    assert body["drifted"] == (any(f["drifted"] for f in body["features"]) or bool(multi and multi["drifted"]))
    for f in body["features"]:
        assert f["p_value"] is None or 0.0 <= f["p_value"] <= 1.0
        assert not f["drifted"] or (f["n_reference"] >= 5 and f["n_current"] >= 5)


def test_placeholder_reference_means_no_reference() -> None:
    cur = _profile({"x": [1.0, 2.0, 3.0]}, {})
    body = to_json(evaluate(Profile("m", source="none"), cur, SETTINGS, window_seconds=60))
    assert body["features"] == [] and body["reference"]["source"] == "none" and "reason" in body


def test_sketches_on_different_scales_are_still_compared_correctly() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.normal(50, 5, 6000), rng.normal(51, 5, 2000)
    ref_sketch, cur_sketch = NumericSketch(50.0, 5.0), NumericSketch(48.0, 2.0)  # e.g. a provisional window
    ref_sketch.update(a)
    cur_sketch.update(b)
    key = ("input", "x")
    ref = Profile("m", n=a.size, numeric={key: ref_sketch}, kinds={key: "numeric"}, source="profile")
    cur = Profile("m", n=b.size, numeric={key: cur_sketch}, kinds={key: "numeric"})
    f = evaluate(ref, cur, DriftSettings(), window_seconds=60).features[0]
    assert f.statistic == pytest.approx(sps.ks_2samp(a, b).statistic, abs=0.01)
    assert f.effect_size == pytest.approx(sps.wasserstein_distance(a, b) / a.std(), rel=0.05)
    assert f.drifted


def test_categorical_reference_without_vocabulary_and_literal_other_label() -> None:
    key = ("input", "c")
    ref_cat, cur_cat = CategoricalSketch(top_k=3), CategoricalSketch(top_k=3)
    ref_cat.update(["a"] * 500 + ["b"] * 300 + ["__other__"] * 200)
    cur_cat.update(["a"] * 200 + ["b"] * 300 + ["__other__"] * 500)
    ref = Profile("m", n=1000, categorical={key: ref_cat}, kinds={key: "categorical"}, source="profile")
    cur = Profile("m", n=1000, categorical={key: cur_cat}, kinds={key: "categorical"})
    f = evaluate(ref, cur, DriftSettings(), window_seconds=60).features[0]
    table = np.array([[500, 300, 200], [200, 300, 500]])
    assert f.statistic == pytest.approx(sps.chi2_contingency(table, correction=False).statistic)
    assert f.drifted


def test_drift_result_to_alert_end_to_end() -> None:
    rng = np.random.default_rng(10)
    builder = ProfileBuilder("m")
    builder.add_numeric(("input", "age"), rng.normal(40, 10, 5000))
    builder.add_rows(5000, 0.0, 1.0)
    ref = builder.build(decide=True)

    def window(shift: float) -> Profile:
        cur = ProfileBuilder.for_reference(ref, top_k=50, max_features=256)
        cur.add_numeric(("input", "age"), rng.normal(40 + shift, 10, 2000))
        cur.add_rows(2000, 0.0, 1.0)
        return cur.build()

    policy = AlertPolicy(cooldown=600.0, hysteresis=2)
    timeline = [0.0, 5.0, 5.0, 5.0, 0.0, 0.0, 5.0]  # shift in years of age, one evaluation per minute
    fired = []
    for minute, shift in enumerate(timeline):
        alerts = policy.observe(evaluate(ref, window(shift), DriftSettings(), window_seconds=900), now=60.0 * minute)
        fired.extend((minute, a) for a in alerts)
    # fires once when the shift starts; re-armed after two clean minutes, but still cooling down at minute 6
    assert [m for m, _a in fired] == [1]
    alert = fired[0][1]
    assert alert.kind == "drift" and "age" in alert.summary
    json.dumps(alert.details, allow_nan=False)
    assert not math.isnan(alert.details["features"][0]["effect_size"])
