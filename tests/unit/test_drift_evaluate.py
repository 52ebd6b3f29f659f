"""drift.evaluate on real sketches: agreement with scipy, false alarms, detection power, edge cases."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from scipy import special
from scipy import stats as sps
from scipy.spatial import distance

from sidecar.config import DriftSettings
from sidecar.drift import methods
from sidecar.drift.evaluate import evaluate
from sidecar.drift.report import to_json
from sidecar.models import DriftResult, FeatureDrift
from sidecar.sketches.builder import ProfileBuilder
from sidecar.sketches.profile import Profile

SETTINGS = DriftSettings()


def _build(
    numeric: Mapping[str, np.ndarray],
    categorical: Mapping[str, Sequence[str | None]] = {},
    *,
    reference: Profile | None = None,
    role: str = "input",
    n: int | None = None,
    moments: bool = False,
) -> Profile:
    """A profile built the way the capture pipeline builds one (reference ⇒ its scales and vocabularies)."""
    if reference is None:
        builder = ProfileBuilder("m")
    else:
        builder = ProfileBuilder.for_reference(reference, top_k=50, max_features=256)
    for name, values in numeric.items():
        arr = np.asarray(values, dtype=np.float64)
        builder.add_numeric((role, name), arr)
    for name, labels in categorical.items():
        counts = Counter(v for v in labels if v is not None)
        builder.add_categorical((role, name), dict(counts), missing=sum(v is None for v in labels))
    rows = n if n is not None else max([len(v) for v in numeric.values()] + [len(v) for v in categorical.values()])
    builder.add_rows(rows, 0.0, 1.0)
    if moments:
        names = sorted(numeric)
        builder.add_moment_rows(names, np.column_stack([np.asarray(numeric[k], dtype=np.float64) for k in names]))
    profile = builder.build(decide=True)
    if reference is None:
        profile.source = "profile"
    return profile


def _feature(result: DriftResult, name: str, role: str = "input") -> FeatureDrift:
    return next(f for f in result.features if f.name == name and f.role == role)


def _strict_json(result: DriftResult) -> dict[str, object]:
    body = to_json(result)
    return json.loads(json.dumps(body, allow_nan=False))  # raises on NaN/Inf


# ------------------------------------------------------------------ agreement with scipy


@pytest.mark.parametrize(
    "make",
    [
        lambda rng, shift: rng.normal(shift, 1.0, 3000),
        lambda rng, shift: rng.lognormal(0.0 + shift, 1.0, 3000),
        lambda rng, shift: 1000.0 + rng.normal(shift, 1.0, 3000),
        lambda rng, shift: np.concatenate([rng.normal(-3, 0.5, 1500), rng.normal(3 + shift, 0.5, 1500)]),
        lambda rng, shift: rng.poisson(4.0 + 4 * shift, 3000).astype(float),  # ties
    ],
    ids=["normal", "lognormal", "1000pm1", "bimodal", "poisson"],
)
@pytest.mark.parametrize("shift", [0.0, 0.3])
def test_ks_and_wasserstein_agree_with_scipy_on_the_same_samples(make, shift: float) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(11)
    a, b = make(rng, 0.0), rng.permutation(make(rng, shift))[:2000]
    ref = _build({"x": a})
    result = evaluate(ref, _build({"x": b}, reference=ref), SETTINGS, window_seconds=60)
    f = _feature(result, "x")
    exact = sps.ks_2samp(a, b, method="asymp")
    assert f.method == "ks"
    assert f.statistic == pytest.approx(exact.statistic, abs=0.01)
    assert f.n_reference == a.size and f.n_current == b.size
    w_sigma = sps.wasserstein_distance(a, b) / a.std()
    assert f.extra["wasserstein_sigma"] == pytest.approx(w_sigma, rel=0.05, abs=0.005)
    assert f.effect_size == f.extra["wasserstein_sigma"]
    # the gate's value: W with its noise floor removed (≈ 0 without a shift)
    assert 0.0 <= f.extra["effect_corrected"] < f.effect_size
    if shift == 0.0:
        assert f.extra["effect_corrected"] < 0.3 * SETTINGS.wasserstein_threshold
    else:
        assert f.extra["effect_corrected"] > 0.5 * f.effect_size
    # one feature: the Holm-adjusted p equals the raw p: Kolmogorov's law at √n_eff·D, a little
    # above scipy's finite-n law at the same D (conservative)
    n_eff = a.size * b.size / (a.size + b.size)
    assert f.p_value == f.extra["p_value_raw"]
    assert f.p_value == pytest.approx(special.kolmogorov(math.sqrt(n_eff) * f.statistic), rel=1e-12)
    finite_n = sps.kstwo.sf(f.statistic, round(n_eff))
    assert f.p_value >= finite_n * (1 - 1e-9)
    assert math.log(max(f.p_value, 1e-300)) == pytest.approx(math.log(max(finite_n, 1e-300)), rel=0.1, abs=0.05)


def test_chi2_equals_chi2_contingency_on_the_same_counts() -> None:
    rng = np.random.default_rng(5)
    cats = ["a", "b", "c", "d"]
    ref_labels = list(rng.choice(cats, 5000, p=[0.4, 0.3, 0.2, 0.1]))
    cur_labels = list(rng.choice(cats, 1500, p=[0.35, 0.3, 0.2, 0.15]))
    ref = _build({}, {"c": ref_labels})
    f = _feature(evaluate(ref, _build({}, {"c": cur_labels}, reference=ref), SETTINGS, window_seconds=60), "c")
    rc, cc = Counter(ref_labels), Counter(cur_labels)
    table = np.array([[rc[c] for c in cats], [cc[c] for c in cats]])
    exact = sps.chi2_contingency(table, correction=False)
    assert f.method == "chi2"
    assert f.statistic == pytest.approx(exact.statistic, rel=1e-12)
    assert f.p_value == pytest.approx(exact.pvalue, rel=1e-9)
    assert f.extra["js"] == pytest.approx(distance.jensenshannon(table[0], table[1], base=2))
    # the gated effect is JS with its sampling-noise floor removed: a bit below the plain JS
    assert f.effect_size == f.extra["js"] and 0.0 < f.extra["effect_corrected"] < f.extra["js"]
    assert 0.0 <= f.extra["psi_corrected"] < f.extra["psi"]


def test_unseen_categories_are_pooled_into_other() -> None:
    rng = np.random.default_rng(6)
    ref = _build({}, {"c": list(rng.choice(["a", "b"], 4000))})
    cur_labels = list(rng.choice(["a", "b"], 1400)) + ["new1"] * 300 + ["new2"] * 300
    f = _feature(evaluate(ref, _build({}, {"c": cur_labels}, reference=ref), SETTINGS, window_seconds=60), "c")
    ref_counts = ref.categorical[("input", "c")].frequencies()
    cur_counts = Counter(str(v) for v in cur_labels)
    # reference vocabulary {a, b}; the two new labels share one __other__ column
    table = np.array([[ref_counts["a"], ref_counts["b"], 0], [cur_counts["a"], cur_counts["b"], 600]], dtype=float)
    assert f.extra["js"] == pytest.approx(distance.jensenshannon(table[0], table[1], base=2))
    assert f.drifted and f.n_current == 2000


# ------------------------------------------------------------------ false alarms and power


def _traffic(rng: np.random.Generator, size: int) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    numeric = {
        "n_normal": rng.normal(0, 1, size),
        "n_big": 1000 + rng.normal(0, 1, size),
        "n_skew": rng.lognormal(0, 1, size),
        "n_count": rng.poisson(3, size).astype(float),
        "n_uniform": rng.uniform(-5, 5, size),
    }
    for i in range(10):
        numeric[f"n_extra{i}"] = rng.normal(i, 1 + i, size)
    shares = np.array([0.3, 0.25, 0.2, 0.1, 0.08, 0.05, 0.02])
    names = [f"k{i}" for i in range(shares.size)]
    categorical = {f"c{j}": list(rng.choice(names, size, p=shares)) for j in range(5)}
    return numeric, categorical


def test_unshifted_traffic_raises_almost_no_alarm_across_features() -> None:
    rng = np.random.default_rng(2024)
    ref = _build(*_traffic(rng, 8000))
    flagged_evals = significant_evals = flagged_features = 0
    evaluations = 50
    loose = DriftSettings(wasserstein_threshold=0.0, psi_threshold=0.0, js_threshold=0.0)
    for _ in range(evaluations):
        cur = _build(*_traffic(rng, 2000), reference=ref)
        result = evaluate(ref, cur, SETTINGS, window_seconds=900)
        assert len(result.features) == 20
        flagged_evals += result.drifted
        flagged_features += sum(f.drifted for f in result.features)
        # significance alone (no effect gate): Holm keeps the family-wise rate at about alpha
        significant_evals += evaluate(ref, cur, loose, window_seconds=900).drifted
    assert flagged_evals == 0 and flagged_features == 0  # goal: ≤ 1% of evaluations
    assert significant_evals <= 0.1 * evaluations  # alpha = 0.05, binned KS is conservative


@pytest.mark.parametrize("seed", range(5))
def test_a_small_mean_shift_in_one_feature_is_detected_and_only_there(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = _build(*_traffic(rng, 8000))
    numeric, categorical = _traffic(rng, 2000)
    numeric["n_normal"] = numeric["n_normal"] + 0.2  # 0.2 σ
    numeric["n_big"] = numeric["n_big"] + 0.2  # 1000 ± 1 shifted by 0.2
    result = evaluate(ref, _build(numeric, categorical, reference=ref), SETTINGS, window_seconds=900)
    assert result.drifted
    assert {f.name for f in result.features if f.drifted} == {"n_normal", "n_big"}
    big = _feature(result, "n_big")
    assert big.effect_size == pytest.approx(0.2, abs=0.05) and big.p_value < 1e-4


@pytest.mark.parametrize("seed", range(5))
def test_a_ten_point_share_shift_in_one_category_is_detected(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    ref = _build(*_traffic(rng, 8000))
    numeric, categorical = _traffic(rng, 2000)
    shifted = np.array([0.2, 0.25, 0.2, 0.2, 0.08, 0.05, 0.02])  # k0 −10 points, k3 +10 points
    categorical["c2"] = list(rng.choice([f"k{i}" for i in range(7)], 2000, p=shifted))
    result = evaluate(ref, _build(numeric, categorical, reference=ref), SETTINGS, window_seconds=900)
    assert {f.name for f in result.features if f.drifted} == {"c2"}
    c2 = _feature(result, "c2")
    assert c2.extra["js"] >= SETTINGS.js_threshold and c2.p_value < 1e-6


def test_prediction_drift_is_evaluated_the_same_way() -> None:
    rng = np.random.default_rng(9)
    ref = _build({"prediction": rng.normal(0.3, 0.1, 5000)}, role="output")
    same = _build({"prediction": rng.normal(0.3, 0.1, 2000)}, role="output", reference=ref)
    moved = _build({"prediction": rng.normal(0.33, 0.1, 2000)}, role="output", reference=ref)
    assert not evaluate(ref, same, SETTINGS, window_seconds=60).drifted
    result = evaluate(ref, moved, SETTINGS, window_seconds=60)
    f = _feature(result, "prediction", role="output")
    assert result.drifted and f.drifted and f.role == "output"
    assert _strict_json(result)["features"][0]["role"] == "output"  # type: ignore[index]


def test_multivariate_check_sees_a_joint_shift_and_stays_quiet_otherwise() -> None:
    rng = np.random.default_rng(12)
    cov = np.full((6, 6), 0.6) + 0.4 * np.eye(6)
    cols = [f"x{i}" for i in range(6)]

    def sample(size: int, shift: float) -> dict[str, np.ndarray]:
        data = rng.multivariate_normal(np.zeros(6), cov, size)
        data[:, 0] += shift
        data[:, 1] -= shift  # opposite moves on correlated features: unlikely under the reference
        return dict(zip(cols, data.T, strict=True))

    ref = _build(sample(8000, 0.0), moments=True)
    quiet = evaluate(ref, _build(sample(2000, 0.0), reference=ref, moments=True), SETTINGS, window_seconds=60)
    assert quiet.multivariate is not None and not quiet.multivariate["drifted"]
    assert quiet.multivariate["dof"] == 6
    moved = evaluate(ref, _build(sample(2000, 0.1), reference=ref, moments=True), SETTINGS, window_seconds=60)
    assert moved.multivariate is not None and moved.multivariate["drifted"] == 1.0
    assert moved.drifted and not any(f.drifted for f in moved.features)  # 0.1 σ each: below the gate
    body = _strict_json(moved)
    assert body["multivariate"]["drifted"] is True and body["multivariate"]["p_value"] < 1e-3  # type: ignore[index]


# ------------------------------------------------------------------ edge cases


def test_no_reference_gives_an_empty_verdict_with_a_reason() -> None:
    cur = _build({"x": np.arange(500.0)})
    result = evaluate(None, cur, SETTINGS, window_seconds=900)
    assert not result.drifted and result.features == () and result.reference_source == "none"
    body = _strict_json(result)
    assert body["reference"] == {"n": 0, "source": "none"} and body["features"] == [] and "reason" in body
    assert body["current"] == {"n": 500, "window_seconds": 900.0}


def test_features_present_on_one_side_only_never_drift() -> None:
    rng = np.random.default_rng(1)
    ref = _build({"a": rng.normal(size=1000), "gone": rng.normal(size=1000)}, {"c": ["x"] * 1000})
    cur = ProfileBuilder.for_reference(ref, top_k=50, max_features=256)
    cur.add_numeric(("input", "a"), rng.normal(size=1000))
    cur.add_numeric(("input", "new"), rng.normal(5, 1, size=1000))
    cur.add_rows(1000, 0.0, 1.0)
    result = evaluate(ref, cur.build(decide=True), SETTINGS, window_seconds=60)
    body = _strict_json(result)
    by_name = {f["name"]: f for f in body["features"]}  # type: ignore[union-attr,index]
    assert set(by_name) == {"a", "c", "gone", "new"}
    assert by_name["gone"]["reason"] == "no_current_values" and by_name["gone"]["n_current"] == 0
    assert by_name["c"]["reason"] == "no_current_values"
    assert by_name["new"]["reason"] == "no_reference_values" and by_name["new"]["statistic"] is None
    assert not any(f["drifted"] for f in by_name.values()) and "reason" not in by_name["a"]
    assert [f["name"] for f in body["features"]] == sorted(by_name)  # type: ignore[union-attr,index]


def test_too_few_samples_gives_statistics_but_no_verdict() -> None:
    rng = np.random.default_rng(2)
    ref = _build({"x": rng.normal(size=3000)})
    cur = _build({"x": rng.normal(3.0, 1, size=50)}, reference=ref)
    f = _strict_json(evaluate(ref, cur, SETTINGS, window_seconds=60))["features"][0]  # type: ignore[index]
    assert f["drifted"] is False and f["reason"] == "too_few_samples"
    assert f["statistic"] > 0.8 and f["p_value"] is None and f["p_value_raw"] < 1e-10


def test_constant_features() -> None:
    ref = _build({"same": np.full(1000, 7.0), "jump": np.full(1000, 7.0)})
    cur = _build({"same": np.full(1000, 7.0), "jump": np.full(1000, 9.0)}, reference=ref)
    result = evaluate(ref, cur, SETTINGS, window_seconds=60)
    same, jump = _feature(result, "same"), _feature(result, "jump")
    assert not same.drifted and same.statistic == 0.0 and same.effect_size == 0.0
    assert jump.drifted and jump.statistic == pytest.approx(1.0) and math.isfinite(jump.effect_size)
    _strict_json(result)


def test_all_missing_and_non_finite_values() -> None:
    rng = np.random.default_rng(3)
    ref = _build({"x": rng.normal(size=1000), "y": rng.normal(size=1000)})
    cur = ProfileBuilder.for_reference(ref, top_k=50, max_features=256)
    cur.add_numeric(("input", "x"), np.full(800, math.nan), missing=200)
    cur.add_numeric(("input", "y"), np.concatenate([rng.normal(size=900), [math.inf] * 100]))
    cur.add_rows(1000, 0.0, 1.0)
    result = evaluate(ref, cur.build(), SETTINGS, window_seconds=60)
    body = _strict_json(result)
    x, y = body["features"]  # type: ignore[misc]
    assert x["reason"] == "no_current_values" and x["missing_rate_current"] == 1.0 and not x["drifted"]
    assert y["n_current"] == 900 and not y["drifted"] and y["missing_rate_current"] == 0.0


def test_kind_change_is_reported_not_tested() -> None:
    ref = _build({"x": np.arange(1000.0)})
    cur = ProfileBuilder("m")
    cur.add_categorical(("input", "x"), {"a": 600, "b": 400})
    cur.add_rows(1000, 0.0, 1.0)
    f = _strict_json(evaluate(ref, cur.build(), SETTINGS, window_seconds=60))["features"][0]  # type: ignore[index]
    assert f["method"] == "none" and f["reason"] == "kind_changed" and f["drifted"] is False


def test_evaluation_is_deterministic_and_json_shape_matches_design() -> None:
    rng = np.random.default_rng(4)
    ref = _build(*_traffic(rng, 3000))
    cur = _build(*_traffic(rng, 1000), reference=ref)
    first, second = evaluate(ref, cur, SETTINGS, window_seconds=900), evaluate(ref, cur, SETTINGS, window_seconds=900)
    assert first == second
    body = _strict_json(first)
    assert set(body) >= {"model", "drifted", "reference", "current", "features", "multivariate"}
    for f in body["features"]:  # type: ignore[union-attr]
        assert set(f) >= {"name", "kind", "role", "method", "statistic", "p_value", "effect_size", "drifted"}
        assert f["p_value"] == f["p_value_adjusted"] and f["p_value_adjusted"] >= f["p_value_raw"]
        assert f["kind"] in ("numeric", "categorical") and f["method"] in ("ks", "chi2")


def test_registry_names_the_tests() -> None:
    assert methods.get("ks").family == "numeric" and methods.get("chi2").family == "categorical"
    assert methods.for_family("numeric") is methods.get("ks")
    with pytest.raises(KeyError):
        methods.get("nope")
