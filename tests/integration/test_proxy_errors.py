"""Error mapping: JSON 502/504 before upstream headers, an aborted client connection after them,
and a client that goes away cancels the upstream call."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from sidecar.errors import SidecarError
from sidecar.proxy.hooks import NullSink
from sidecar.proxy.server import ProxyServer
from tests.fixtures.servers import ModelServer, RunningSidecar, StartSidecar, free_port, sidecar_settings


async def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as client, client.get(url) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_refused_upstream_is_502_json(start_sidecar: StartSidecar) -> None:
    running = await start_sidecar(f"http://127.0.0.1:{free_port()}")
    async with aiohttp.ClientSession() as client, client.get(f"{running.url}/v1/models/m:predict") as resp:
        assert resp.status == 502
        assert resp.content_type == "application/json"
        doc = await resp.json()
        assert "x-request-id" in resp.headers
    assert doc["error"] == "connection_refused" and doc["detail"]
    [server_span] = [s for s in running.spans.get_finished_spans() if s.kind.name == "SERVER"]
    assert server_span.attributes is not None
    assert server_span.attributes["error.type"] == "connection_refused"
    assert server_span.attributes["http.response.status_code"] == 502


async def test_stalled_upstream_is_504_and_upstream_sees_the_close(
    model_server: ModelServer, start_sidecar: StartSidecar
) -> None:
    running = await start_sidecar(model_server.url, proxy__response_timeout=0.3)
    status, _, body = await _get(f"{running.url}/hold")
    assert status == 504
    assert b'"response_timeout"' in body
    await model_server.wait_disconnect("/hold")


async def test_idle_read_timeout_before_headers_is_504(model_server: ModelServer, start_sidecar: StartSidecar) -> None:
    running = await start_sidecar(model_server.url, proxy__read_timeout=0.2)
    status, _, body = await _get(f"{running.url}/hold")
    assert status == 504
    assert b'"read_timeout"' in body


async def test_reset_before_headers_is_502(sidecar: RunningSidecar) -> None:
    status, headers, body = await _get(f"{sidecar.url}/reset-before-headers")
    assert status == 502
    assert headers["Content-Type"].startswith("application/json")
    assert b'"connection_reset"' in body


async def test_reset_after_headers_aborts_the_client(sidecar: RunningSidecar) -> None:
    async with aiohttp.ClientSession() as client, client.get(f"{sidecar.url}/reset-after-headers") as resp:
        assert resp.status == 200  # the upstream's real status, already sent
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()


async def test_stall_after_headers_aborts_on_read_timeout(
    model_server: ModelServer, start_sidecar: StartSidecar
) -> None:
    running = await start_sidecar(model_server.url, proxy__read_timeout=0.3)
    async with aiohttp.ClientSession() as client, client.get(f"{running.url}/sse/2") as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    await model_server.wait_disconnect("/sse/2")


async def test_client_disconnect_cancels_upstream(model_server: ModelServer, sidecar: RunningSidecar) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.app.proxy_port)
    writer.write(b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
    await writer.drain()
    await model_server.wait_until(lambda: any(s.target == "/hold" for s in model_server.seen))
    writer.close()
    await writer.wait_closed()
    await model_server.wait_disconnect("/hold")
    assert not await reader.read()


async def test_client_disconnect_mid_stream_cancels_upstream(
    model_server: ModelServer, sidecar: RunningSidecar
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.app.proxy_port)
    writer.write(b"GET /sse/3 HTTP/1.1\r\nHost: t\r\n\r\n")
    await writer.drain()
    async with asyncio.timeout(5):
        data = b""
        while b'"i": 2' not in data:
            data += await reader.read(4096)
    writer.close()
    await writer.wait_closed()
    await model_server.wait_disconnect("/sse/3")


async def test_every_upstream_status_passes(sidecar: RunningSidecar) -> None:
    for code in (200, 201, 400, 401, 404, 418, 422, 429, 500, 503, 599):
        status, _, body = await _get(f"{sidecar.url}/status/{code}")
        assert status == code
        assert f'"status": {code}'.encode() in body


async def test_listen_port_in_use_is_a_clear_error(model_server: ModelServer, sidecar: RunningSidecar) -> None:
    other = ProxyServer(sidecar_settings(model_server.url).proxy, sidecar.telemetry, NullSink())
    with pytest.raises(SidecarError, match=f"cannot listen on 127.0.0.1:{sidecar.app.proxy_port}"):
        await other.start(f"127.0.0.1:{sidecar.app.proxy_port}")
