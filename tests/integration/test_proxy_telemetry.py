"""Spans, trace-context propagation and HTTP metrics of proxied requests (in-memory exporter and
reader), and the Prometheus exposition on the admin port."""

from __future__ import annotations

import time

import aiohttp
from opentelemetry.trace import SpanKind

from sidecar.app import Sidecar, Wiring
from sidecar.telemetry import build_telemetry
from tests.fixtures.servers import ModelServer, RunningSidecar, sidecar_settings

_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
_PARENT = "00f067aa0ba902b7"


def _by_kind(running: RunningSidecar) -> dict[SpanKind, list]:  # type: ignore[type-arg]
    spans: dict[SpanKind, list] = {}  # type: ignore[type-arg]
    for span in running.spans.get_finished_spans():
        spans.setdefault(span.kind, []).append(span)
    return spans


async def test_server_and_client_spans_with_trace_context(model_server: ModelServer, sidecar: RunningSidecar) -> None:
    headers = {"traceparent": f"00-{_TRACE}-{_PARENT}-01", "tracestate": "vendor=abc", "baggage": "tenant=t1"}
    async with (
        aiohttp.ClientSession() as client,
        client.post(f"{sidecar.url}/v2/models/iris/infer", data=b"{}", headers=headers) as resp,
    ):
        assert resp.status == 200
    spans = _by_kind(sidecar)
    [server], [client_span] = spans[SpanKind.SERVER], spans[SpanKind.CLIENT]
    assert server.name == "POST /v2/models/{model}/infer"
    assert format(server.context.trace_id, "032x") == _TRACE
    assert server.parent is not None and format(server.parent.span_id, "016x") == _PARENT
    assert client_span.parent is not None and client_span.parent.span_id == server.context.span_id
    assert server.attributes is not None and client_span.attributes is not None
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["http.route"] == "/v2/models/{model}/infer"
    assert server.attributes["url.path"] == "/v2/models/iris/infer"
    assert server.attributes["url.scheme"] == "http"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["network.protocol.version"] == "1.1"
    assert client_span.attributes["server.address"] == "127.0.0.1"
    assert client_span.attributes["server.port"] == model_server.port
    assert client_span.attributes["http.response.status_code"] == 200
    sent = {k.lower(): v for k, v in model_server.last().headers}
    # The upstream sees a child of the sidecar's CLIENT span, same trace; tracestate and baggage kept.
    assert sent["traceparent"] == f"00-{_TRACE}-{client_span.context.span_id:016x}-01"
    assert sent["tracestate"] == "vendor=abc"
    assert sent["baggage"] == "tenant=t1"


async def test_client_span_ends_at_the_last_body_byte(model_server: ModelServer, sidecar: RunningSidecar) -> None:
    async with aiohttp.ClientSession() as client, client.get(f"{sidecar.url}/sse/1") as resp:
        await resp.content.readuntil(b"\n\n")
        before_release = time.time_ns()
        model_server.release.set()
        await resp.read()
    [client_span] = _by_kind(sidecar)[SpanKind.CLIENT]
    assert client_span.end_time is not None and client_span.end_time > before_release


async def test_no_incoming_context_starts_a_new_trace(model_server: ModelServer, sidecar: RunningSidecar) -> None:
    async with aiohttp.ClientSession() as client, client.get(f"{sidecar.url}/echo/jane@example.com?k=v") as resp:
        await resp.read()
    [server] = _by_kind(sidecar)[SpanKind.SERVER]
    assert server.parent is None
    assert server.name == "GET"  # route "other": the method alone (semconv)
    assert server.attributes is not None and server.attributes["url.path"] == "other"  # unknown paths may hold PII
    sent = {k.lower(): v for k, v in model_server.last().headers}
    assert sent["traceparent"].split("-")[1] == format(server.context.trace_id, "032x")


async def test_http_metrics_are_recorded_with_bounded_attributes(sidecar: RunningSidecar) -> None:
    async with aiohttp.ClientSession() as client:
        for path in ("/v2/models/a/infer", "/v2/models/b/infer"):
            async with client.post(sidecar.url + path, data=b"{}") as resp:
                await resp.read()
        async with client.get(f"{sidecar.url}/status/503") as resp:
            await resp.read()
    server = sidecar.metric_points("http.server.request.duration")
    by_attrs = {tuple(sorted(p.attributes.items())): p for p in server}
    infer = by_attrs[
        (
            ("http.request.method", "POST"),
            ("http.response.status_code", 200),
            ("http.route", "/v2/models/{model}/infer"),
        )
    ]
    assert infer.count == 2  # two model names, one route template
    failed = by_attrs[
        (
            ("error.type", "503"),
            ("http.request.method", "GET"),
            ("http.response.status_code", 503),
            ("http.route", "other"),
        )
    ]
    assert failed.count == 1
    client_points = sidecar.metric_points("http.client.request.duration")
    assert sum(p.count for p in client_points) == 3
    [overhead] = sidecar.metric_points("sidecar.request.overhead")
    assert overhead.count == 3 and overhead.min >= 0
    active = sidecar.metric_points("http.server.active_requests")
    assert {p.attributes["http.request.method"]: p.value for p in active} == {"POST": 0, "GET": 0}


async def test_prometheus_text_on_admin_port(sidecar: RunningSidecar) -> None:
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{sidecar.url}/v1/models/m:predict") as resp:
            await resp.read()
        async with client.get(f"{sidecar.admin_url}/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            text = await resp.text()
    assert "http_server_request_duration_seconds_bucket{" in text
    assert 'http_route="/v1/models/{model}:predict"' in text
    assert "http_client_request_duration_seconds_count{" in text
    assert "sidecar_request_overhead_seconds_sum" in text
    assert "http_server_active_requests{" in text
    assert "target_info{" in text and 'service_name="model-sidecar"' in text


async def test_without_a_span_exporter_the_upstream_is_a_child_of_the_client(model_server: ModelServer) -> None:
    """Nothing would receive the sidecar's spans, so it records none; the upstream still gets the
    client's trace with a fresh parent id (the sidecar's hop), and no context when the client sent none."""
    telemetry = build_telemetry({}, service_version="test")
    assert telemetry.tracing is False
    app = Sidecar(sidecar_settings(model_server.url), telemetry=telemetry, wiring=Wiring())
    await app.start()
    try:
        traceparent = f"00-{_TRACE}-{_PARENT}-01"
        async with aiohttp.ClientSession() as client:
            async with client.get(
                f"http://127.0.0.1:{app.proxy_port}/echo/a", headers={"traceparent": traceparent}
            ) as resp:
                assert resp.status == 200
            sent = {k.lower(): v for k, v in model_server.last().headers}
            version, trace_id, parent_id, flags = sent["traceparent"].split("-")
            assert (version, trace_id, flags) == ("00", _TRACE, "01")
            assert parent_id != _PARENT and len(parent_id) == 16 and int(parent_id, 16) != 0
            async with client.get(
                f"http://127.0.0.1:{app.proxy_port}/echo/a", headers={"traceparent": "00-zz-bad-01"}
            ) as resp:
                assert resp.status == 200
            assert "traceparent" not in {k.lower() for k, _ in model_server.last().headers}  # invalid: dropped
            async with client.get(f"http://127.0.0.1:{app.proxy_port}/echo/b") as resp:
                assert resp.status == 200
            assert "traceparent" not in {k.lower() for k, _ in model_server.last().headers}
        assert b"http_server_request_duration_seconds_count" in telemetry.prometheus_text()  # metrics still on
    finally:
        await app.stop(quiet_period=0)
