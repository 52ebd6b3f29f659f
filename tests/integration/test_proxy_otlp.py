"""A real OTLP/HTTP round trip: the sidecar's spans and metrics arrive at a local receiver that
decodes the protobuf export requests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from sidecar.app import Sidecar, Wiring
from sidecar.telemetry import build_telemetry
from tests.fixtures.servers import ModelServer, sidecar_settings


@dataclass
class Receiver:
    url: str = ""
    traces: list[ExportTraceServiceRequest] = field(default_factory=list)
    metrics: list[ExportMetricsServiceRequest] = field(default_factory=list)
    content_types: set[str] = field(default_factory=set)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()

    async def traces(request: web.Request) -> web.Response:
        got.content_types.add(request.content_type)
        got.traces.append(ExportTraceServiceRequest.FromString(await request.read()))
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def metrics(request: web.Request) -> web.Response:
        got.metrics.append(ExportMetricsServiceRequest.FromString(await request.read()))
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    app.router.add_post("/v1/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    got.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield got
    await runner.cleanup()


async def test_spans_and_metrics_reach_an_otlp_http_receiver(
    model_server: ModelServer, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK's exporters read the real environment, as they would in a pod.
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_SERVICE_NAME": "otlp-test",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
        "OTEL_METRIC_EXPORT_INTERVAL": "60000",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    telemetry = build_telemetry(service_version="9.9")
    assert set(telemetry.exporters) == {"prometheus", "otlp-traces:http", "otlp-metrics:http"}
    app = Sidecar(sidecar_settings(model_server.url), telemetry=telemetry, wiring=Wiring())
    await app.start()
    try:
        async with (
            aiohttp.ClientSession() as client,
            client.post(f"http://127.0.0.1:{app.proxy_port}/v2/models/m/infer", data=b"{}") as resp,
        ):
            assert resp.status == 200
        await asyncio.to_thread(telemetry.force_flush)
    finally:
        await app.stop(quiet_period=0)  # shutdown flushes both exporters
    spans = [
        (span.name, span.kind, rs.resource)
        for req in receiver.traces
        for rs in req.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    names = {(name, kind) for name, kind, _ in spans}
    assert ("POST /v2/models/{model}/infer", 2) in names  # SPAN_KIND_SERVER
    assert ("POST", 3) in names  # SPAN_KIND_CLIENT
    resource = {kv.key: kv.value.string_value for kv in spans[0][2].attributes}
    assert resource["service.name"] == "otlp-test"
    assert resource["service.version"] == "9.9"
    assert resource["deployment.environment"] == "test"
    metric_names = {
        m.name for req in receiver.metrics for rm in req.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    assert {"http.server.request.duration", "http.client.request.duration", "sidecar.request.overhead"} <= metric_names
    server_points = [
        point
        for req in receiver.metrics
        for rm in req.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "http.server.request.duration"
        for point in m.histogram.data_points
    ]
    assert server_points and server_points[-1].count == 1 and len(server_points[-1].bucket_counts) == 27
    routes = {kv.value.string_value for kv in server_points[-1].attributes if kv.key == "http.route"}
    assert routes == {"/v2/models/{model}/infer"}
    assert receiver.content_types == {"application/x-protobuf"}
    health = telemetry.export_health()
    assert health["otlp-traces:http"]["healthy"] and health["otlp-traces:http"]["exports"] >= 1
    assert health["otlp-metrics:http"]["failures"] == 0


async def test_export_failures_are_visible_in_export_health(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{dead}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "60000")
    telemetry = build_telemetry(service_version="t")
    with telemetry.tracer.start_as_current_span("probe"):
        pass
    await asyncio.to_thread(telemetry.force_flush, 3.0)
    health = telemetry.export_health()
    assert health["otlp-traces:http"]["failures"] >= 1 and not health["otlp-traces:http"]["healthy"]
    await asyncio.to_thread(telemetry.shutdown)


def test_no_endpoint_means_no_otlp_exporter() -> None:
    telemetry = build_telemetry({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert telemetry.exporters == ("prometheus",)
    telemetry.shutdown()


def test_grpc_protocol_selects_the_grpc_exporters() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    telemetry = build_telemetry(env)
    assert set(telemetry.exporters) == {"prometheus", "otlp-traces:grpc", "otlp-metrics:grpc"}
    telemetry.shutdown()


def test_traces_exporter_none_and_sdk_disabled_are_honoured() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}
    telemetry = build_telemetry(env)
    assert "otlp-traces:http" not in telemetry.exporters and "otlp-metrics:http" in telemetry.exporters
    telemetry.shutdown()
    disabled = build_telemetry({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert disabled.exporters == () and disabled.prometheus_text() == b""
    disabled.instruments.capture("captured")  # no-op instruments still accept calls
