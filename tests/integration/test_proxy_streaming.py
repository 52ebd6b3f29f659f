"""Streaming: SSE events arrive one by one, 100 MB bodies stream both ways in flat memory,
websockets are tunnelled."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import aiohttp

from tests.fixtures.servers import BLOCK, ModelServer, RunningSidecar, StartSidecar, free_port

_MB = 1024 * 1024


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


class _RssWatch:
    """Samples this process's resident size while a transfer runs (both peers live here)."""

    def __init__(self) -> None:
        self.baseline = _rss()
        self.peak = self.baseline
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, _rss())
            await asyncio.sleep(0.005)

    async def __aenter__(self) -> _RssWatch:
        self._task = asyncio.create_task(self._run(), name="rss-watch")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self.peak = max(self.peak, _rss())


async def test_sse_first_event_arrives_before_upstream_finishes(
    model_server: ModelServer, sidecar: RunningSidecar
) -> None:
    async with aiohttp.ClientSession() as client, client.get(f"{sidecar.url}/sse/1") as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"
        async with asyncio.timeout(5):
            first = await resp.content.readuntil(b"\n\n")
        assert first == b'data: {"i": 0}\n\n'
        assert not model_server.release.is_set()  # the upstream is still holding the stream open
        model_server.release.set()
        assert await resp.content.read() == b"data: [DONE]\n\n"


async def test_100mb_download_streams_in_flat_memory(sidecar: RunningSidecar) -> None:
    digest, size = hashlib.sha256(), 0
    async with _RssWatch() as watch, aiohttp.ClientSession() as client, client.get(f"{sidecar.url}/big/100") as resp:
        async for chunk in resp.content.iter_chunked(256 * 1024):
            digest.update(chunk)
            size += len(chunk)
    assert size == 100 * _MB
    expected = hashlib.sha256()
    for _ in range(100 * 16):
        expected.update(BLOCK)
    assert digest.hexdigest() == expected.hexdigest()
    assert watch.peak - watch.baseline < 40 * _MB, f"RSS grew by {(watch.peak - watch.baseline) / _MB:.1f} MB"


async def test_100mb_upload_streams_in_flat_memory(sidecar: RunningSidecar) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(100 * 16):
            yield BLOCK

    async with (
        _RssWatch() as watch,
        aiohttp.ClientSession() as client,
        client.post(f"{sidecar.url}/sink", data=body()) as resp,
    ):
        doc = await resp.json()
    expected = hashlib.sha256()
    for _ in range(100 * 16):
        expected.update(BLOCK)
    assert doc == {"len": 100 * _MB, "sha256": expected.hexdigest()}
    assert watch.peak - watch.baseline < 40 * _MB, f"RSS grew by {(watch.peak - watch.baseline) / _MB:.1f} MB"


async def test_websocket_is_tunnelled(sidecar: RunningSidecar) -> None:
    async with aiohttp.ClientSession() as client, client.ws_connect(f"{sidecar.url}/ws", protocols=("echo.v1",)) as ws:
        assert ws.protocol == "echo.v1"
        await ws.send_str("hello")
        assert (await ws.receive(timeout=5)).data == "echo:hello"
        await ws.send_bytes(b"\x01\x02\x03")
        assert (await ws.receive(timeout=5)).data == b"\x03\x02\x01"
        await ws.close()
    assert ws.close_code == aiohttp.WSCloseCode.OK


async def test_websocket_to_refused_upstream_is_502(start_sidecar: StartSidecar) -> None:
    running = await start_sidecar(f"http://127.0.0.1:{free_port()}")
    async with aiohttp.ClientSession() as client:
        try:
            await client.ws_connect(f"{running.url}/ws")
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 502
        else:
            raise AssertionError("handshake should fail")
