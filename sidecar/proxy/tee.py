"""The capture tee of the hot path: bounded body copies and the ``Exchange`` handed to the sink (proxy layer)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from multidict import CIMultiDictProxy
from opentelemetry import trace

from ..models import Exchange
from .headers import Pairs

_KEY_HEADERS = ("authorization", "x-api-key")


class Tee:
    """Keeps references to the first ``cap`` bytes of a stream (copied once, at the end)."""

    __slots__ = ("cap", "chunks", "size", "truncated")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.chunks: list[bytes] = []
        self.size = 0
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        room = self.cap - self.size
        if room <= 0:
            self.truncated = self.truncated or bool(chunk)
            return
        if len(chunk) > room:
            chunk = chunk[:room]
            self.truncated = True
        self.chunks.append(chunk)
        self.size += len(chunk)

    def value(self) -> bytes:
        return b"".join(self.chunks)


async def teed(reader: aiohttp.StreamReader, tee: Tee) -> AsyncIterator[bytes]:
    async for chunk in reader.iter_any():
        tee.add(chunk)
        yield chunk


def client_key(headers: CIMultiDictProxy[str], remote: str | None) -> str:
    """A short hash of the caller's API key header, or of its address: never the raw value."""
    for name in _KEY_HEADERS:
        value = headers.get(name)
        if value:
            return hashlib.sha256(value.encode()).hexdigest()[:16]
    return hashlib.sha256((remote or "").encode()).hexdigest()[:16] if remote else ""


def build_exchange(
    request: web.BaseRequest,
    rid: str,
    route: str,
    status: int,
    resp_headers: Pairs | None,
    req_tee: Tee | None,
    resp_tee: Tee | None,
    timing: tuple[float, float, float | None],
    server_span: trace.Span | None,
) -> Exchange:
    """The teed exchange; ``timing`` is (duration, upstream duration, upstream time to first byte)."""
    duration, upstream_s, ttfb = timing
    ctx = server_span.get_span_context() if server_span is not None else trace.INVALID_SPAN_CONTEXT
    sampled = ctx.is_valid and ctx.trace_flags.sampled
    return Exchange(
        request_id=rid,
        time=time.time() - duration,
        method=request.method,
        target=request.raw_path,
        route=route,
        request_headers=tuple((k.lower(), v) for k, v in request.headers.items()),
        request_body=req_tee.value() if req_tee else b"",
        request_truncated=req_tee.truncated if req_tee else False,
        status=status,
        response_headers=tuple((k.lower(), v) for k, v in resp_headers) if resp_headers else (),
        response_body=resp_tee.value() if resp_tee else b"",
        response_truncated=resp_tee.truncated if resp_tee else False,
        duration_s=duration,
        upstream_duration_s=upstream_s,
        ttfb_s=ttfb,
        client_key=client_key(request.headers, request.remote),
        trace_id=format(ctx.trace_id, "032x") if sampled else None,
        span_id=format(ctx.span_id, "016x") if sampled else None,
    )
