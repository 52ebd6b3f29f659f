"""Contract: every payload dialect of DESIGN's table yields the promised feature names; text yields
derived numeric features only; a real shift is detected; /metrics carries DESIGN's metric names under
the OTel→Prometheus rules.  One ``python -m sidecar run`` subprocess for the whole module."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_contract_support import (
    ModelServer,
    Sidecar,
    get_json,
    http,
    prom_samples,
)

pytestmark = pytest.mark.timeout(240)
ATTACKS = Path(__file__).resolve().parents[1] / "data" / "prompts" / "attacks.jsonl"
SECRET_WORDS = "zanzibar quixotic marmalade"  # raw text that must never become a feature or label


@pytest.fixture(scope="module")
def sc(upstream: ModelServer) -> Iterator[Sidecar]:
    sidecar = Sidecar(["--upstream", upstream.url], {"SIDECAR_REDACTION_NER": "off"}).start()
    yield sidecar
    sidecar.close()


def _send(sc: Sidecar, path: str, body: Any, **headers: str) -> bytes:
    resp = http("POST", sc.url + path, body, headers or None)
    assert resp.status == 200, f"{path}: {resp.status} {resp.text[:300]}"
    return resp.body


def _freeze_and_features(sc: Sidecar, model: str, sent: int) -> dict[str, tuple[str, str]]:
    """Wait for capture, freeze the window as reference, return {feature name: (kind, role)}."""
    sc.wait_processed(sent)
    frozen = http("POST", f"{sc.admin_url}/v1/reference?model={model}", {"from": "window"})
    assert frozen.status == 200, frozen.text
    drift = get_json(f"{sc.admin_url}/v1/drift?model={model}")
    assert drift["model"] == model and drift["reference"]["source"] == "window"
    return {f["name"]: (f["kind"], f["role"]) for f in drift["features"]}


# (model, path, body, expected input names, expected output names); model None = path-less ⇒ "default"
TABULAR: list[tuple[str, str, dict[str, Any], set[str], set[str]]] = [
    ("kdict", "/v1/models/kdict:predict", {"instances": [{"age": 31, "plan": "gold"}, {"age": 45, "plan": "basic"}]},
     {"age", "plan"}, {"prediction"}),
    ("klist", "/v1/models/klist:predict", {"instances": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]},
     {"f0", "f1", "f2"}, {"prediction"}),
    ("kinputs", "/v1/models/kinputs:predict", {"inputs": [[1.0, 2.0]]}, {"f0", "f1"}, {"prediction"}),
    ("oip", "/v2/models/oip/infer",
     {"inputs": [{"name": "age", "shape": [2, 1], "datatype": "FP32", "data": [30, 40]},
                 {"name": "income", "shape": [2, 1], "datatype": "FP32", "data": [1.5, 2.5]}]},
     {"age", "income"}, {"prediction[0]", "prediction[1]"}),
    ("default", "/invocations", {"dataframe_split": {"columns": ["sepal", "petal"], "data": [[1.0, 2.0], [3.0, 4.0]]}},
     {"sepal", "petal"}, {"prediction"}),
    ("default", "/invocations", {"dataframe_records": [{"rec_a": 1.0, "rec_b": "x"}]}, {"rec_a", "rec_b"}, {"prediction"}),
    ("default", "/invocations", {"instances": [[1.0, 2.0]]}, {"f0", "f1"}, {"prediction"}),
    ("default", "/invocations", {"inputs": {"in_a": [1.0, 2.0], "in_b": [3.0, 4.0]}}, {"in_a", "in_b"}, {"prediction"}),
    ("default", "/api/v1.0/predictions", {"data": {"names": ["s_a", "s_b"], "ndarray": [[1.0, 2.0]]}},
     {"s_a", "s_b"}, {"prediction"}),
    ("default", "/api/v1.0/predictions", {"data": {"ndarray": [[1.0, 2.0, 3.0]]}}, {"f0", "f1", "f2"}, {"prediction"}),
    ("default", "/score", {"customer": {"age": 31, "segment": "gold"}, "amount": 12.5},
     {"customer.age", "customer.segment", "amount"}, {"result.score", "result.label"}),
]  # fmt: skip


def test_every_tabular_dialect_yields_the_promised_feature_names(sc: Sidecar) -> None:
    sent = sc.processed()
    failures = []
    for model, path, body, inputs, outputs in TABULAR:
        _send(sc, path, body)
        sent += 1
        features = _freeze_and_features(sc, model, sent)
        got_in = {n for n, (_k, role) in features.items() if role == "input"}
        got_out = {n for n, (_k, role) in features.items() if role == "output"}
        if not inputs <= got_in or not outputs <= got_out:
            failures.append(f"{path} {json.dumps(body)[:80]}: inputs {sorted(got_in)}, outputs {sorted(got_out)}")
    assert not failures, "\n".join(failures)


def test_text_yields_derived_numeric_features_never_raw_text(sc: Sidecar) -> None:
    sent = sc.processed()
    prompt = f"Please write a short poem about {SECRET_WORDS} and the sea"
    _send(sc, "/v1/chat/completions", {"model": "chat-a", "messages": [{"role": "user", "content": prompt}]})
    _send(sc, "/v1/embeddings", {"model": "emb-a", "input": [prompt, "another sentence"]})
    _send(sc, "/score", {"note": prompt, "amount": 3})
    features = _freeze_and_features(sc, "chat-a", sent + 3)
    inputs = {n: k for n, (k, role) in features.items() if role == "input"}
    assert any("length" in n for n in inputs) and any("tokens" in n for n in inputs), inputs
    assert "categorical" not in {k for n, k in inputs.items() if "content" in n}
    emb = _freeze_and_features(sc, "emb-a", sent + 3)
    assert any(role == "input" and "length" in n for n, (_k, role) in emb.items()), emb
    drift_docs = json.dumps([get_json(f"{sc.admin_url}/v1/drift?model={m}") for m in ("chat-a", "emb-a", "default")])
    for word in SECRET_WORDS.split():
        assert word not in drift_docs, f"raw text {word!r} surfaced in /v1/drift"
        assert word not in sc.metrics(), f"raw text {word!r} surfaced in /metrics"


def _rows(rng: random.Random, n: int, shift: float) -> list[dict[str, Any]]:
    return [{"x": rng.gauss(shift, 1.0), "y": rng.gauss(0.0, 1.0), "c": rng.choice("abc")} for _ in range(n)]


def test_real_shift_is_detected_and_exported(sc: Sidecar) -> None:
    rng = random.Random(7)
    sent = sc.processed()
    for _ in range(20):
        _send(sc, "/v1/models/shift:predict", {"instances": _rows(rng, 20, 0.0)})
    sent += 20
    features = _freeze_and_features(sc, "shift", sent)
    assert {"x", "y", "c", "prediction"} <= set(features)
    for _ in range(20):
        _send(sc, "/v1/models/shift:predict", {"instances": _rows(rng, 20, 1.5)})
    sc.wait_processed(sent + 20)
    drift = get_json(f"{sc.admin_url}/v1/drift?model=shift")
    assert drift["reference"]["n"] == 400 and drift["current"]["n"] == 400
    assert isinstance(drift["current"]["window_seconds"], int | float)
    by_name = {f["name"]: f for f in drift["features"]}
    for f in drift["features"]:
        assert {"name", "kind", "role", "method", "statistic", "p_value", "effect_size", "drifted"} <= set(f), f
    assert by_name["x"]["drifted"] is True and by_name["x"]["method"] == "ks"
    assert by_name["y"]["drifted"] is False and by_name["c"]["drifted"] is False
    assert by_name["c"]["kind"] == "categorical" and by_name["x"]["kind"] == "numeric"
    assert drift["drifted"] is True
    metrics = sc.metrics()
    scores = {
        (s["feature"], s["method"])
        for s, _ in prom_samples(metrics, "sidecar_drift_score")
        if s.get("model") == "shift"
    }
    assert ("x", "ks") in scores, scores
    detected = {
        s["feature"]: v for s, v in prom_samples(metrics, "sidecar_drift_detected") if s.get("model") == "shift"
    }
    assert detected.get("x") == 1.0 and detected.get("y") == 0.0, detected


def test_quality_violations_and_anomalies_are_counted(sc: Sidecar) -> None:
    rng = random.Random(11)
    sent = sc.processed()
    for _ in range(10):
        _send(sc, "/v1/models/dq:predict", {"instances": _rows(rng, 20, 0.0)})
    _freeze_and_features(sc, "dq", sent + 10)
    _send(sc, "/v1/models/dq:predict", {"instances": [{"x": "not a number", "c": "zzz-unseen"}, {"y": 0.1}]},
          **{"x-request-id": "dq-bad-rows"})  # fmt: skip
    _send(
        sc, "/v1/models/dq:predict", {"instances": [{"x": 1e9, "y": -1e9, "c": "a"}]}, **{"x-request-id": "dq-far-out"}
    )
    attack = json.loads(ATTACKS.read_text().splitlines()[0])["text"]
    _send(sc, "/v1/chat/completions", {"model": "chat-b", "messages": [{"role": "user", "content": attack}]},
          **{"x-request-id": "attack-0001"})  # fmt: skip
    sc.wait_processed(sent + 13)
    metrics = sc.metrics()
    kinds = {
        s["kind"]
        for s, v in prom_samples(metrics, "sidecar_data_quality_violations_total")
        if s.get("model") == "dq" and v > 0
    }
    assert kinds & {"missing", "type", "unseen"}, kinds
    assert kinds <= {"missing", "type", "range", "unseen"}, kinds
    reasons = {s["reason"] for s, v in prom_samples(metrics, "sidecar_anomaly_flagged_total") if v > 0}
    assert "prompt_injection" in reasons, reasons
    flagged = get_json(f"{sc.admin_url}/v1/anomalies?model=chat-b")["anomalies"]
    assert flagged and flagged[0]["request_id"] == "attack-0001"
    for item in flagged:
        assert {"request_id", "time", "score", "reasons", "feature"} <= set(item), item
        assert isinstance(item["reasons"], list) and isinstance(item["score"], int | float)
    tabular = get_json(f"{sc.admin_url}/v1/anomalies?model=dq")["anomalies"]
    assert "dq-far-out" in {a["request_id"] for a in tabular}, tabular


def test_metrics_follow_the_otel_prometheus_names(sc: Sidecar) -> None:
    sent = sc.processed()
    _send(sc, "/v1/models/names:predict", {"instances": [{"x": 1.0}]})
    _send(sc, "/v1/chat/completions", {"model": "chat-c", "messages": [{"role": "user", "content": "hi there"}]})
    streamed = _send(sc, "/v1/chat/completions",
                     {"model": "chat-c", "stream": True, "messages": [{"role": "user", "content": "stream please"}]})  # fmt: skip
    assert streamed.endswith(b"data: [DONE]\n\n")
    _send(sc, "/score", {"contact": "write to someone@example.com"})
    sc.wait_processed(sent + 4)
    text = sc.metrics()
    expected = [
        "http_server_request_duration_seconds_bucket", "http_server_request_duration_seconds_count",
        "http_server_request_duration_seconds_sum", "http_server_active_requests",
        "http_client_request_duration_seconds_bucket", "http_client_request_duration_seconds_count",
        "sidecar_request_overhead_seconds_bucket", "sidecar_request_overhead_seconds_count",
        "sidecar_capture_samples_total", "sidecar_capture_queue_size", "sidecar_pii_redacted_total",
        "sidecar_feature_observations_total", "gen_ai_client_token_usage_bucket",
        "gen_ai_server_time_to_first_token_seconds_bucket",
    ]  # fmt: skip
    missing = [name for name in expected if not prom_samples(text, name)]
    assert not missing, f"missing from /metrics: {missing}"
    outcomes = {s["outcome"] for s, _ in prom_samples(text, "sidecar_capture_samples_total")}
    assert "captured" in outcomes and outcomes <= {"captured", "dropped", "skipped", "failed"}
    assert "EMAIL_ADDRESS" in {s["entity_type"] for s, _ in prom_samples(text, "sidecar_pii_redacted_total")}
    assert "names" in {s["model"] for s, _ in prom_samples(text, "sidecar_feature_observations_total")}
    route_sample = prom_samples(text, "http_server_request_duration_seconds_count")
    assert {"http_request_method", "http_response_status_code", "http_route"} <= set(route_sample[0][0])
    assert "/v1/models/{model}:predict" in {s["http_route"] for s, _ in route_sample}
    usage = prom_samples(text, "gen_ai_client_token_usage_count")
    assert any(s.get("gen_ai_token_type") in {"input", "output"} for s, _ in usage), usage
