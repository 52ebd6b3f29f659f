"""AlertPolicy: hysteresis, cooldown, grouping, bounds (pure state machine)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from sidecar.drift.alerting import AlertPolicy
from sidecar.models import Alert, DriftResult, FeatureDrift


def _feature(name: str, drifted: bool, *, evaluated: bool = True, role: str = "input") -> FeatureDrift:
    p_adj = 1e-6 if drifted else 0.5
    return FeatureDrift(
        name=name,
        kind="numeric",
        role=role,  # type: ignore[arg-type]
        method="ks",
        statistic=0.2 if drifted else 0.01,
        p_value=p_adj if evaluated else math.nan,
        effect_size=0.3 if drifted else 0.01,
        drifted=drifted,
        n_reference=1000,
        n_current=500,
        extra={"p_value_adjusted": p_adj if evaluated else math.nan},
    )


def _result(*features: FeatureDrift, model: str = "m", multivariate: dict[str, float] | None = None) -> DriftResult:
    return DriftResult(
        model=model,
        drifted=any(f.drifted for f in features) or bool(multivariate and multivariate["drifted"]),
        reference_n=1000,
        reference_source="profile",
        current_n=500,
        window_seconds=900.0,
        features=features,
        multivariate=multivariate,
    )


def test_one_shift_fires_once_and_rearms_after_hysteresis() -> None:
    policy = AlertPolicy(cooldown=0.0, hysteresis=2)
    fired = [len(policy.observe(_result(_feature("age", d)), now=float(t))) for t, d in enumerate([True, True, True])]
    assert fired == [1, 0, 0]
    # one clean evaluation is not enough to re-arm
    assert policy.observe(_result(_feature("age", False)), now=3.0) == []
    assert policy.observe(_result(_feature("age", True)), now=4.0) == []
    # two consecutive clean ones are
    for t in (5.0, 6.0):
        assert policy.observe(_result(_feature("age", False)), now=t) == []
    alerts = policy.observe(_result(_feature("age", True)), now=7.0)
    assert len(alerts) == 1 and alerts[0].kind == "drift" and alerts[0].time == 7.0


def test_cooldown_holds_a_rearmed_feature_until_it_expires() -> None:
    policy = AlertPolicy(cooldown=100.0, hysteresis=1)
    assert len(policy.observe(_result(_feature("x", True)), now=0.0)) == 1
    assert policy.observe(_result(_feature("x", False)), now=10.0) == []
    assert policy.observe(_result(_feature("x", True)), now=20.0) == []  # re-armed but cooling down
    assert policy.observe(_result(_feature("x", True)), now=99.9) == []
    assert len(policy.observe(_result(_feature("x", True)), now=100.0)) == 1  # still active, cooldown over


def test_features_firing_together_make_one_alert_and_a_new_feature_fires_later() -> None:
    policy = AlertPolicy(cooldown=0.0, hysteresis=1)
    first = policy.observe(_result(_feature("a", True), _feature("b", True), _feature("c", False)), now=1.0)
    assert len(first) == 1
    assert [f["name"] for f in first[0].details["features"]] == ["a", "b"]
    assert "a" in first[0].summary and "b" in first[0].summary and "c" not in first[0].summary
    second = policy.observe(_result(_feature("a", True), _feature("b", True), _feature("c", True)), now=2.0)
    assert len(second) == 1
    assert [f["name"] for f in second[0].details["features"]] == ["c"]
    assert second[0].details["still_drifted"] == ["a", "b"]


def test_models_and_roles_are_separate_conditions() -> None:
    policy = AlertPolicy(cooldown=1e9, hysteresis=1)
    assert len(policy.observe(_result(_feature("p", True), model="m1"), now=0.0)) == 1
    assert len(policy.observe(_result(_feature("p", True), model="m2"), now=0.0)) == 1
    assert len(policy.observe(_result(_feature("p", True, role="output"), model="m1"), now=0.0)) == 1


def test_unevaluated_features_neither_fire_nor_rearm() -> None:
    policy = AlertPolicy(cooldown=0.0, hysteresis=1)
    assert len(policy.observe(_result(_feature("x", True)), now=0.0)) == 1
    # too few samples: no verdict, so no clean reading either
    assert policy.observe(_result(_feature("x", False, evaluated=False)), now=1.0) == []
    assert policy.observe(_result(_feature("x", True)), now=2.0) == []


def test_multivariate_check_fires_like_a_feature() -> None:
    policy = AlertPolicy(cooldown=0.0, hysteresis=1)
    multi = {"statistic": 50.0, "p_value": 1e-8, "p_value_raw": 1e-9, "distance": 0.3, "dof": 3.0, "drifted": 1.0}
    alerts = policy.observe(_result(_feature("a", False), multivariate=multi), now=0.0)
    assert len(alerts) == 1 and "multivariate" in alerts[0].summary
    assert alerts[0].details["multivariate"]["statistic"] == 50.0
    assert policy.observe(_result(_feature("a", False), multivariate=multi), now=1.0) == []


def test_observe_condition_is_generic() -> None:
    policy = AlertPolicy(cooldown=5.0, hysteresis=3)
    made: list[int] = []

    def make() -> Alert:
        made.append(1)
        return Alert("performance", "m", 0.0, "accuracy low")

    pattern = [True, True, False, False, True, False, False, False, True, True]
    results = [
        policy.observe_condition("k", active, float(t * 10), make) is not None for t, active in enumerate(pattern)
    ]
    assert results == [True, False, False, False, False, False, False, False, True, False]
    assert len(made) == 2  # the alert is only built when it fires


@dataclass(frozen=True)
class _Violation:
    feature: str
    role: str
    kind: str
    value: float
    reference_value: float
    count: int


def test_quality_violations_group_per_model_and_rearm_when_absent() -> None:
    policy = AlertPolicy(cooldown=0.0, hysteresis=1)
    v1 = _Violation("age", "input", "missing", 0.3, 0.01, 300)
    v2 = _Violation("city", "input", "unseen", 0.2, math.nan, 200)
    alerts = policy.observe_quality("m", [v1, v2], now=0.0)
    assert len(alerts) == 1 and alerts[0].kind == "data_quality"
    assert {v["kind"] for v in alerts[0].details["violations"]} == {"missing", "unseen"}
    by_feature = {v["feature"]: v for v in alerts[0].details["violations"]}
    assert by_feature["city"]["reference_value"] is None  # NaN never reaches an alert
    assert by_feature["age"]["count"] == 300
    assert policy.observe_quality("m", [v1, v2], now=1.0) == []
    assert policy.observe_quality("m", [v2], now=2.0) == []  # age clean once: re-armed
    again = policy.observe_quality("m", [v1, v2], now=3.0)
    assert [v["feature"] for v in again[0].details["violations"]] == ["age"]


def test_metric_alert_below_minimum_or_dropped_from_reference() -> None:
    policy = AlertPolicy(cooldown=0.0, hysteresis=1)
    low = policy.observe_metric("m", "accuracy", 0.6, 0.0, min_score=0.8)
    assert low is not None and low.kind == "performance" and "below 0.8" in low.summary
    assert policy.observe_metric("m", "f1_macro", 0.85, 0.0, reference_value=0.9, max_drop=0.1) is None
    drop = policy.observe_metric("m", "f1_macro", 0.75, 1.0, reference_value=0.9, max_drop=0.1)
    assert drop is not None and drop.details["reference_value"] == 0.9
    assert policy.observe_metric("m", "rmse", math.nan, 0.0, min_score=1.0) is None


def test_state_is_bounded() -> None:
    policy = AlertPolicy(cooldown=0.0, hysteresis=1, max_conditions=50)
    for i in range(500):
        policy.observe_condition(f"k{i}", True, 0.0, lambda: Alert("drift", "m", 0.0, "x"))
    assert len(policy) == 50


@pytest.mark.parametrize(("cooldown", "hysteresis"), [(-1.0, 1), (0.0, 0)])
def test_bad_parameters_are_refused(cooldown: float, hysteresis: int) -> None:
    with pytest.raises(ValueError):
        AlertPolicy(cooldown=cooldown, hysteresis=hysteresis)
