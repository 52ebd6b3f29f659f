"""Instruments: every DESIGN.md metric declared with its unit, recorded through the helper
methods, exposed to Prometheus under the OTel→Prometheus names; attribute caches stay bounded."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sidecar.errors import ConfigError
from sidecar.telemetry import Telemetry, build_telemetry
from sidecar.telemetry import instruments as names
from sidecar.telemetry.setup import LATENCY_BUCKETS


def _telemetry() -> tuple[Telemetry, InMemoryMetricReader, InMemorySpanExporter]:
    reader, spans = InMemoryMetricReader(), InMemorySpanExporter()
    return build_telemetry({}, span_exporter=spans, metric_readers=[reader]), reader, spans


def _metrics(reader: InMemoryMetricReader) -> dict[str, object]:
    data = reader.get_metrics_data()
    assert data is not None
    return {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def _exercise(t: Telemetry) -> None:
    i = t.instruments
    i.request_started("POST")
    i.record_request("POST", "/predict", 200, None, 0.012, 0.011)
    i.request_finished("POST")
    i.record_llm({"gen_ai.operation.name": "chat"}, input_tokens=12, output_tokens=30, ttft_s=0.2, tpot_s=0.01)
    for outcome in ("captured", "dropped", "skipped", "failed"):
        i.capture(outcome)
    i.observe_queue_size(lambda: 7)
    i.redacted("EMAIL_ADDRESS", 2)
    i.observed("iris", 5)
    i.drift("iris", "petal_length", "ks", 0.42, True)
    i.quality_violation("iris", "petal_length", "range")
    i.anomaly("iris", "out_of_range")
    i.performance("iris", "accuracy", 0.93)
    i.store_error("flush")


def test_every_design_metric_exists_with_its_unit() -> None:
    t, reader, _ = _telemetry()
    _exercise(t)
    got: dict[str, object] = {**_metrics(reader), **{h.name: h for h in t.instruments.http}}
    expected_units = {
        names.HTTP_SERVER_DURATION: "s",
        names.HTTP_SERVER_ACTIVE: "{request}",
        names.HTTP_CLIENT_DURATION: "s",
        names.REQUEST_OVERHEAD: "s",
        names.GEN_AI_TTFT: "s",
        names.GEN_AI_TPOT: "s",
        names.GEN_AI_TOKEN_USAGE: "{token}",
        names.CAPTURE_SAMPLES: "{sample}",
        names.CAPTURE_QUEUE_SIZE: "{sample}",
        names.PII_REDACTED: "{entity}",
        names.FEATURE_OBSERVATIONS: "{observation}",
        names.DRIFT_SCORE: "",
        names.DRIFT_DETECTED: "",
        names.DATA_QUALITY_VIOLATIONS: "{violation}",
        names.ANOMALY_FLAGGED: "{input}",
        names.PERFORMANCE_SCORE: "",
        names.STORE_ERRORS: "{error}",
    }
    assert {name: got[name].unit for name in expected_units} == expected_units  # type: ignore[attr-defined]
    t.shutdown()


def test_latency_histograms_use_latency_buckets() -> None:
    t, reader, _ = _telemetry()
    _exercise(t)
    [point] = t.instruments.server_duration.points()
    assert tuple(point.explicit_bounds) == LATENCY_BUCKETS
    assert point.count == 1 and point.sum == 0.012 and point.min == point.max == 0.012
    assert point.bucket_counts[LATENCY_BUCKETS.index(0.025)] == 1  # (0.01, 0.025]
    [ttft] = _metrics(reader)[names.GEN_AI_TTFT].data.data_points  # type: ignore[attr-defined]
    assert tuple(ttft.explicit_bounds) == LATENCY_BUCKETS
    assert LATENCY_BUCKETS[0] < 0.0001 and LATENCY_BUCKETS[-1] >= 300
    [tokens_in, tokens_out] = _metrics(reader)[names.GEN_AI_TOKEN_USAGE].data.data_points  # type: ignore[attr-defined]
    assert {p.attributes["gen_ai.token.type"]: p.sum for p in (tokens_in, tokens_out)} == {"input": 12, "output": 30}
    t.shutdown()


def test_prometheus_names_follow_the_otel_rules() -> None:
    t, _, _ = _telemetry()
    _exercise(t)
    text = t.prometheus_text().decode()
    for name in (
        "http_server_request_duration_seconds_bucket",
        "http_client_request_duration_seconds_count",
        "sidecar_request_overhead_seconds_sum",
        "http_server_active_requests",
        "gen_ai_server_time_to_first_token_seconds_bucket",
        "gen_ai_client_token_usage_bucket",
        "sidecar_capture_samples_total",
        "sidecar_capture_queue_size",
        "sidecar_pii_redacted_total",
        "sidecar_feature_observations_total",
        "sidecar_drift_score",
        "sidecar_drift_detected",
        "sidecar_data_quality_violations_total",
        "sidecar_anomaly_flagged_total",
        "sidecar_performance_score",
        "sidecar_store_errors_total",
    ):
        assert f"\n{name}{{" in text, name
    lines = text.splitlines()
    assert any(line.startswith("sidecar_capture_samples_total{") and 'outcome="dropped"' in line for line in lines)
    drift = next(line for line in lines if line.startswith("sidecar_drift_score{"))
    assert 'feature="petal_length"' in drift and 'method="ks"' in drift and drift.endswith(" 0.42")
    t.shutdown()


def test_two_telemetries_in_one_process_do_not_share_metrics() -> None:
    a, _, _ = _telemetry()
    b, _, _ = _telemetry()
    a.instruments.store_error("flush")
    assert b"sidecar_store_errors_total{" in a.prometheus_text()
    assert b"sidecar_store_errors_total{" not in b.prometheus_text()
    a.shutdown()
    b.shutdown()


def test_http_series_are_bounded_and_attributes_follow_semconv() -> None:
    t, _, _ = _telemetry()
    i = t.instruments
    i.record_request("BREW", "other", 418, None, 0.001, 0.0005)
    i.record_request("GET", "other", 0, "connection_refused", 0.002, 0.001)
    server = {tuple(sorted((p.attributes or {}).items())) for p in i.server_duration.points()}
    assert (("http.request.method", "_OTHER"), ("http.response.status_code", 418), ("http.route", "other")) in server
    client = [p.attributes for p in i.client_duration.points()]
    assert {"http.request.method": "GET", "error.type": "connection_refused"} in client
    for n in range(5000):
        i.record_request("GET", "other", 100 + n, None, 0.001, 0.001)
    points = i.server_duration.points()
    assert len(points) <= 2001
    assert any(p.attributes == {"otel.metric.overflow": "true"} for p in points)
    assert sum(p.count for p in points) == 5002  # nothing lost, only folded into the overflow series
    assert i.outcome_attrs(200, None) is i.outcome_attrs(200, None)
    t.shutdown()


def test_bucket_edges_are_upper_inclusive() -> None:
    t, _, _ = _telemetry()
    h = t.instruments.overhead
    for value in (0.00005, 0.0000501, 0.0, 1000.0):
        h.record(value, None, dict)
    [point] = h.points()
    assert point.bucket_counts[0] == 2  # 0 and exactly 50 µs
    assert point.bucket_counts[1] == 1
    assert point.bucket_counts[-1] == 1  # beyond the last bound
    text = t.prometheus_text().decode()
    buckets = {
        line.split('le="')[1].split('"')[0]: line.rsplit(" ", 1)[1]
        for line in text.splitlines()
        if line.startswith("sidecar_request_overhead_seconds_bucket{")
    }
    assert (buckets["5e-05"], buckets["0.0001"], buckets["300.0"], buckets["+Inf"]) == ("2.0", "3.0", "3.0", "4.0")
    t.shutdown()


def test_record_event_adds_a_linked_child_span() -> None:
    t, _, spans = _telemetry()
    with t.tracer.start_as_current_span("request") as request_span:
        ctx = request_span.get_span_context()
    t.record_event(format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"), "anomaly", {"reason": "out_of_range"})
    t.record_event("not-hex", "zz", "anomaly")  # ignored, never raises
    event_span = next(s for s in spans.get_finished_spans() if s.name == "sidecar anomaly")
    assert event_span.context.trace_id == ctx.trace_id
    assert event_span.parent is not None and event_span.parent.span_id == ctx.span_id
    assert [(e.name, dict(e.attributes or {})) for e in event_span.events] == [("anomaly", {"reason": "out_of_range"})]
    t.shutdown()


def test_default_service_name() -> None:
    t, _, spans = _telemetry()
    with t.tracer.start_as_current_span("x"):
        pass
    [span] = spans.get_finished_spans()
    assert span.resource.attributes["service.name"] == "model-sidecar"
    t.shutdown()


def test_bad_otel_values_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "10")
    with pytest.raises(ConfigError, match="OTEL_"):
        build_telemetry()


def test_tracing_only_with_a_span_exporter() -> None:
    assert build_telemetry({}).tracing is False
    assert build_telemetry({}, span_exporter=InMemorySpanExporter()).tracing is True
