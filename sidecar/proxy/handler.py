"""The hot path: forward one request to the upstream and stream the answer back (proxy layer).

The handler awaits only the client and the upstream.  Telemetry is a few additions to
pre-aggregated histograms, plus two spans when a span exporter exists; capture is a
reference-keeping tee (``tee``) plus one ``put_nowait`` at the end.  Failures before upstream response headers become a JSON 502/504; after them the
client connection is aborted, so a client never sees an invented status.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import re
import time
from typing import Any

import aiohttp
from aiohttp import web
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from ..config import ProxySettings
from ..telemetry import attributes as A
from ..telemetry.setup import Telemetry
from .headers import REQUEST_ID, Pairs, drop_set, forward_pairs, new_request_id, valid_request_id
from .hooks import CaptureSink
from .routes import OTHER, classify
from .tee import Tee, build_exchange, teed
from .upstream import Upstream, map_error
from .websocket import tunnel_websocket

# Bodies with a known length up to this size are read whole: one write instead of a stream.
_SMALL_BODY = 64 * 1024
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_DROP_UPSTREAM = drop_set("expect", REQUEST_ID)  # Expect is answered here; the id is re-added
_DROP_UPSTREAM_TRACED = drop_set("expect", REQUEST_ID, "traceparent", "tracestate")
_DROP_UPSTREAM_PARENT = drop_set("expect", REQUEST_ID, "traceparent")  # untraced hop: tracestate passes
_DROP_DOWNSTREAM = drop_set(REQUEST_ID)
_NONE: list[str] = []  # shared default for getall(); never mutated


def error_body(error: str, detail: str) -> bytes:
    return json.dumps({"error": error, "detail": detail}).encode()


class _Deadline:
    """Cancels the handler when the upstream's response headers are late.

    What ``asyncio.timeout`` does, with one timer handle and no context manager: this runs once
    per request.  ``expired`` tells a timeout from a client that went away.
    """

    __slots__ = ("_task", "expired")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self._task = task
        self.expired = False

    def __call__(self) -> None:
        self.expired = True
        self._task.cancel()


def _inject(headers: Pairs, ctx: trace.SpanContext) -> None:
    """Append the W3C trace context of ``ctx`` (the client's was dropped from ``headers``).

    What ``TraceContextTextMapPropagator.inject`` writes, without building a Context per request.
    """
    if ctx.is_valid:
        headers.append(("traceparent", f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"))
        if ctx.trace_state:
            headers.append(("tracestate", ctx.trace_state.to_header()))


_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def _child_traceparent(value: str) -> str | None:
    """A W3C traceparent for a child of ``value``'s span, or None when ``value`` is not valid."""
    match = _TRACEPARENT.match(value.strip())
    if match is None or match[1] == "ff" or match[2] == "0" * 32 or match[3] == "0" * 16:
        return None
    return f"00-{match[2]}-{random.getrandbits(64) | 1:016x}-{match[4]}"


def _abort(request: web.BaseRequest) -> web.Response:
    """Drop the client connection; aiohttp's attempt to send the returned response then fails quietly."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=500)


class ProxyHandler:
    """``web.Server`` handler forwarding every request to ``upstream``."""

    def __init__(self, settings: ProxySettings, upstream: Upstream, telemetry: Telemetry, sink: CaptureSink) -> None:
        self._upstream = upstream
        self._tel = telemetry
        self._tracer = telemetry.tracer
        self._inst = telemetry.instruments
        self._propagator = telemetry.propagator
        self._tracing = telemetry.tracing
        self._sink = sink
        self._excluded = frozenset(settings.excluded_paths)
        self._trust_id = settings.trust_request_id
        self._response_timeout = settings.response_timeout
        self._client_span_attrs: dict[str, str | int] = {A.SERVER_ADDRESS: upstream.host, A.SERVER_PORT: upstream.port}

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        start = time.perf_counter()
        headers = request.headers
        method = request.method
        raw_target = request.raw_path
        path = raw_target.partition("?")[0]
        route = classify(path)[0]
        upgrade = headers.get("Upgrade")
        if upgrade is not None and upgrade.lower() == "websocket":
            return await tunnel_websocket(request, self._upstream, self._client_span_attrs)

        rid = headers.get(REQUEST_ID)
        if not (self._trust_id and valid_request_id(rid)):
            rid = new_request_id()
        assert rid is not None
        connection = headers.getall("Connection", _NONE)
        if self._tracing:
            # Our CLIENT span becomes the upstream's parent: the client's context is replaced.
            up_headers = forward_pairs(request.raw_headers, connection, _DROP_UPSTREAM_TRACED)
        else:
            parent = headers.get("traceparent")
            if parent is None:
                up_headers = forward_pairs(request.raw_headers, connection, _DROP_UPSTREAM)
            else:
                # No spans are recorded without an exporter, but the upstream still sees the sidecar
                # as a hop: same trace, a fresh parent id (tracestate and baggage pass through).
                up_headers = forward_pairs(request.raw_headers, connection, _DROP_UPSTREAM_PARENT)
                child = _child_traceparent(parent)
                if child is not None:
                    up_headers.append(("traceparent", child))
        up_headers.append((REQUEST_ID, rid))

        excluded = path in self._excluded or headers.get("User-Agent", "").startswith("kube-probe/")
        sink = self._sink
        picked = False
        tee_on = False
        server_span: trace.Span | None = None
        client_span: trace.Span | None = None
        if not excluded:
            picked = sink.pick(method, route)
            tee_on = picked or sink.always
            self._inst.request_started(method)
            if self._tracing:
                server_span = self._start_server_span(request, method, route, raw_target)
                client_span = self._tracer.start_span(
                    method, trace.set_span_in_context(server_span), SpanKind.CLIENT, self._client_span_attrs
                )
                _inject(up_headers, client_span.get_span_context())
        status = 0
        error_type: str | None = None
        upstream_s = 0.0
        ttfb: float | None = None
        req_tee = resp_tee = None
        resp_headers: Pairs | None = None
        try:
            if headers.get("Expect", "").lower() == "100-continue" and request.version >= aiohttp.HttpVersion11:
                # We answer the client's Expect ourselves; the upstream gets a plain request.
                await request.writer.write(_CONTINUE)
            data: Any = None
            if request.body_exists:
                length = request.content_length
                if length is not None and (length <= _SMALL_BODY or (sink.gates and length <= sink.body_cap)):
                    try:
                        # Not request.read(): that one enforces aiohttp's 1 MiB client_max_size.
                        data = await request.content.readexactly(length)
                    except asyncio.IncompleteReadError:
                        error_type = "client_disconnected"
                        return _abort(request)
                    if sink.gates and len(data) <= sink.body_cap:
                        verdict = sink.gate(method, route, headers, data)
                        if verdict is not None:
                            status, error_type = verdict[0], "rejected"
                            return self._json_error(verdict[0], "rejected", verdict[1], rid)
                    if tee_on:
                        req_tee = Tee(sink.body_cap)
                        req_tee.add(data)
                    if len(data) > _SMALL_BODY:
                        data = io.BytesIO(data)  # sent in chunks; aiohttp warns about big bytes bodies
                elif tee_on:
                    req_tee = Tee(sink.body_cap)
                    data = teed(request.content, req_tee)
                else:
                    data = request.content
            elif sink.gates:
                verdict = sink.gate(method, route, headers, b"")
                if verdict is not None:
                    status, error_type = verdict[0], "rejected"
                    return self._json_error(verdict[0], "rejected", verdict[1], rid)

            up_start = time.perf_counter()
            session = self._upstream.session
            assert session is not None
            task = asyncio.current_task()
            assert task is not None
            deadline = _Deadline(task)
            timer = asyncio.get_running_loop().call_later(self._response_timeout, deadline)
            try:
                up = await session.request(
                    method, self._upstream.url(raw_target), headers=up_headers, data=data, allow_redirects=False
                )
            except asyncio.CancelledError:
                if not deadline.expired:
                    raise  # the client went away
                task.uncancel()
                failure = map_error(TimeoutError(), self._response_timeout)
                assert failure is not None
                upstream_s = time.perf_counter() - up_start
                status, error_type = failure.status, failure.error_type
                return self._json_error(failure.status, failure.error_type, failure.detail, rid)
            except Exception as exc:
                failure = map_error(exc, self._response_timeout)
                if failure is None:
                    raise
                upstream_s = time.perf_counter() - up_start
                status, error_type = failure.status, failure.error_type
                return self._json_error(failure.status, failure.error_type, failure.detail, rid)
            finally:
                timer.cancel()

            status = up.status
            try:
                resp_headers = forward_pairs(up.raw_headers, up.headers.getall("Connection", _NONE), _DROP_DOWNSTREAM)
                resp_headers.append((REQUEST_ID, rid))
                response: web.StreamResponse
                if tee_on:
                    resp_tee = Tee(sink.body_cap)
                length = up.content_length
                if length is not None and length <= _SMALL_BODY:
                    body = await up.read()
                    ttfb = upstream_s = time.perf_counter() - up_start
                    if resp_tee is not None:
                        resp_tee.add(body)
                    # A Response sends header block and body in one write (fewer syscalls).
                    response = web.Response(status=status, reason=up.reason, headers=resp_headers, body=body)
                    await response.prepare(request)
                else:
                    response = web.StreamResponse(status=status, reason=up.reason, headers=resp_headers)
                    await response.prepare(request)
                    async for chunk in up.content.iter_any():
                        if ttfb is None:
                            ttfb = time.perf_counter() - up_start
                        if resp_tee is not None:
                            resp_tee.add(chunk)
                        await response.write(chunk)
                    upstream_s = time.perf_counter() - up_start
                up.release()
            except asyncio.CancelledError:
                up.close()
                error_type = "client_disconnected"
                raise
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                # After the upstream's headers: the client must not get a made-up status.
                up.close()
                upstream_s = time.perf_counter() - up_start
                failure = map_error(exc, self._response_timeout)
                error_type = failure.error_type if failure else type(exc).__name__
                return _abort(request)
            try:
                await response.write_eof()
            except ConnectionError:
                error_type = "client_disconnected"
            return response
        except asyncio.CancelledError:
            error_type = error_type or "client_disconnected"
            raise
        finally:
            if not excluded:
                duration = time.perf_counter() - start
                self._finish(method, route, status, error_type, duration, upstream_s, server_span, client_span)
                if tee_on and sink.keep(picked, status, duration):
                    timing = (duration, upstream_s, ttfb)
                    sink.submit(
                        build_exchange(
                            request, rid, route, status, resp_headers, req_tee, resp_tee, timing, server_span
                        )
                    )

    # ---------------------------------------------------------------- telemetry

    def _start_server_span(self, request: web.BaseRequest, method: str, route: str, raw_target: str) -> trace.Span:
        headers = request.headers
        ctx = self._propagator.extract(headers) if "traceparent" in headers else None
        attrs: dict[str, str | int] = {
            A.HTTP_REQUEST_METHOD: A.method_attr(method),
            A.URL_SCHEME: request.scheme,
            A.HTTP_ROUTE: route,
            A.NETWORK_PROTOCOL_VERSION: "1.1" if request.version[1] else "1.0",
        }
        # Paths of known model APIs name models and versions; an unknown path may carry personal
        # data (``/users/jane@example.com``), and nothing un-redacted may leave the pod: the route
        # template "other" stands in for it.  The query string is never recorded.
        attrs[A.URL_PATH] = raw_target.partition("?")[0] if route != OTHER else OTHER
        host = request.host
        if host:
            attrs[A.SERVER_ADDRESS] = host.rpartition(":")[0] if host.rpartition(":")[2].isdigit() else host
        name = f"{method} {route}" if route != OTHER else method
        return self._tracer.start_span(name, ctx, SpanKind.SERVER, attrs)

    def _finish(
        self,
        method: str,
        route: str,
        status: int,
        error_type: str | None,
        duration: float,
        upstream_s: float,
        server_span: trace.Span | None,
        client_span: trace.Span | None,
    ) -> None:
        if error_type is None and status >= 500:
            error_type = str(status)
        inst = self._inst
        if server_span is not None and client_span is not None:
            outcome = inst.outcome_attrs(status, error_type)  # cached: one set_attributes per span
            client_span.set_attributes(outcome)
            server_span.set_attributes(outcome)
            if error_type is not None:
                server_span.set_status(trace.StatusCode.ERROR)
            client_span.end()
            server_span.end()
        inst.request_finished(method)
        inst.record_request(method, route, status, error_type, duration, upstream_s)

    @staticmethod
    def _json_error(status: int, error: str, detail: str, rid: str) -> web.Response:
        return web.Response(
            status=status,
            body=error_body(error, detail),
            content_type="application/json",
            headers={REQUEST_ID: rid},
        )
