"""The capture hook: tee contents and truncation, keep/submit decisions, inline gating, and
excluded traffic (kube-probe, configured paths) forwarded but neither counted nor captured."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import aiohttp

from sidecar.models import Exchange
from tests.fixtures.servers import BLOCK, ModelServer, RunningSidecar, StartSidecar


@dataclass
class RecordingSink:
    """A CaptureSink that keeps every exchange it is given (tests only)."""

    body_cap: int = 1024
    gates: bool = False
    always: bool = False
    pick_all: bool = True
    reject: tuple[int, str] | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    picks: list[tuple[str, str]] = field(default_factory=list)
    keeps: list[tuple[bool, int]] = field(default_factory=list)
    gated: list[bytes] = field(default_factory=list)

    def pick(self, method: str, route: str) -> bool:
        self.picks.append((method, route))
        return self.pick_all

    def keep(self, picked: bool, status: int, duration_s: float) -> bool:
        self.keeps.append((picked, status))
        return picked or status >= 500

    def submit(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)

    def gate(self, method: str, route: str, headers: Mapping[str, str], body: bytes) -> tuple[int, str] | None:
        self.gated.append(body)
        return self.reject if b"attack" in body else None


async def test_small_exchange_is_teed_whole(model_server: ModelServer, start_sidecar: StartSidecar) -> None:
    sink = RecordingSink()
    running = await start_sidecar(model_server.url, sink=sink)
    body = b'{"inputs": [{"name": "x", "data": [1]}]}'
    async with (
        aiohttp.ClientSession() as client,
        client.post(
            f"{running.url}/v2/models/iris/infer?v=1",
            data=body,
            headers={"Authorization": "Bearer sk-secret", "X-Request-Id": "r1"},
        ) as resp,
    ):
        answer = await resp.read()
    [ex] = sink.exchanges
    assert sink.picks == [("POST", "/v2/models/{model}/infer")]
    assert (ex.request_id, ex.method, ex.target, ex.route, ex.status) == (
        "r1",
        "POST",
        "/v2/models/iris/infer?v=1",
        "/v2/models/{model}/infer",
        200,
    )
    assert ex.request_body == body and not ex.request_truncated
    assert ex.response_body == answer and not ex.response_truncated
    assert ("authorization", "Bearer sk-secret") in ex.request_headers
    assert all(name == name.lower() for name, _ in ex.request_headers + ex.response_headers)
    assert ex.client_key == hashlib.sha256(b"Bearer sk-secret").hexdigest()[:16]
    assert "sk-secret" not in ex.client_key
    assert ex.duration_s >= ex.upstream_duration_s > 0
    assert ex.trace_id is not None and len(ex.trace_id) == 32 and ex.span_id is not None


async def test_big_bodies_are_truncated_at_the_cap(model_server: ModelServer, start_sidecar: StartSidecar) -> None:
    sink = RecordingSink(body_cap=1000)

    async def upload() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield BLOCK

    running = await start_sidecar(model_server.url, sink=sink)
    async with aiohttp.ClientSession() as client:
        async with client.post(f"{running.url}/raw", data=upload()) as resp:
            assert len(await resp.read()) == 4 * len(BLOCK)  # the client still gets everything
        async with client.get(f"{running.url}/big/2") as resp:
            assert len(await resp.read()) == 2 * 1024 * 1024
    upload_ex, download_ex = sink.exchanges
    assert upload_ex.request_body == BLOCK[:1000] and upload_ex.request_truncated
    assert upload_ex.response_body == BLOCK[:1000] and upload_ex.response_truncated
    assert download_ex.response_body == BLOCK[:1000] and download_ex.response_truncated
    assert download_ex.ttfb_s is not None and download_ex.ttfb_s <= download_ex.upstream_duration_s


async def test_not_picked_is_not_submitted_unless_kept(model_server: ModelServer, start_sidecar: StartSidecar) -> None:
    sink = RecordingSink(pick_all=False, always=True)
    running = await start_sidecar(model_server.url, sink=sink)
    async with aiohttp.ClientSession() as client:
        for code in (200, 503):
            async with client.get(f"{running.url}/status/{code}") as resp:
                await resp.read()
    assert sink.keeps == [(False, 200), (False, 503)]
    assert [ex.status for ex in sink.exchanges] == [503]
    assert sink.exchanges[0].response_body == b'{"status": 503}'


async def test_null_sink_behaviour_when_not_picked_and_no_always(
    model_server: ModelServer, start_sidecar: StartSidecar
) -> None:
    sink = RecordingSink(pick_all=False, always=False)
    running = await start_sidecar(model_server.url, sink=sink)
    async with aiohttp.ClientSession() as client, client.get(f"{running.url}/status/500") as resp:
        await resp.read()
    assert sink.keeps == [] and sink.exchanges == []


async def test_gate_rejects_inline_before_forwarding(model_server: ModelServer, start_sidecar: StartSidecar) -> None:
    sink = RecordingSink(gates=True, reject=(422, "prompt_injection"))
    running = await start_sidecar(model_server.url, sink=sink)
    async with aiohttp.ClientSession() as client:
        async with client.post(f"{running.url}/v2/models/m/infer", data=b'{"text": "attack"}') as resp:
            assert resp.status == 422
            assert await resp.json() == {"error": "rejected", "detail": "prompt_injection"}
            assert resp.headers["x-request-id"]
        async with client.post(f"{running.url}/v2/models/m/infer", data=b'{"text": "fine"}') as resp:
            assert resp.status == 200
    assert sink.gated == [b'{"text": "attack"}', b'{"text": "fine"}']
    assert [s.body for s in model_server.seen] == [b'{"text": "fine"}']  # the rejected one never left


async def test_gate_skips_bodies_over_the_cap(model_server: ModelServer, start_sidecar: StartSidecar) -> None:
    sink = RecordingSink(gates=True, body_cap=10, reject=(403, "nope"))
    running = await start_sidecar(model_server.url, sink=sink)
    async with (
        aiohttp.ClientSession() as client,
        client.post(f"{running.url}/v2/models/m/infer", data=b'{"text": "attack, but long"}') as resp,
    ):
        assert resp.status == 200
    assert sink.gated == []


async def test_probes_and_excluded_paths_are_forwarded_not_counted(
    model_server: ModelServer, start_sidecar: StartSidecar
) -> None:
    sink = RecordingSink()
    running = await start_sidecar(model_server.url, sink=sink, proxy__excluded_paths="/ready,/echo/skip")
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{running.url}/ready", headers={"User-Agent": "x"}) as resp:
            assert resp.status == 200
        async with client.get(f"{running.url}/echo/probe", headers={"User-Agent": "kube-probe/1.30"}) as resp:
            assert resp.status == 200
            assert resp.headers["x-request-id"]
        async with client.get(f"{running.url}/echo/skip") as resp:
            assert resp.status == 200
    assert [s.target for s in model_server.seen] == ["/echo/probe", "/echo/skip"]
    assert sink.picks == [] and sink.exchanges == []
    assert running.spans.get_finished_spans() == ()
    assert running.metric_points("http.server.request.duration") == []


async def test_gate_sees_bodies_beyond_aiohttp_default_limit(
    model_server: ModelServer, start_sidecar: StartSidecar
) -> None:
    sink = RecordingSink(gates=True, body_cap=4 * 1024 * 1024, reject=(403, "nope"))
    running = await start_sidecar(model_server.url, sink=sink)
    body = BLOCK * 32  # 2 MiB: over aiohttp's 1 MiB client_max_size, under the cap
    async with aiohttp.ClientSession() as client, client.post(f"{running.url}/raw", data=io.BytesIO(body)) as resp:
        assert resp.status == 200
        assert await resp.read() == body
    assert sink.gated == [body]
    assert sink.exchanges[0].request_body == body and not sink.exchanges[0].request_truncated


async def test_client_gone_mid_upload_never_reaches_upstream(
    model_server: ModelServer, sidecar: RunningSidecar
) -> None:
    _reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.app.proxy_port)
    writer.write(b"POST /raw HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    async with aiohttp.ClientSession() as client, client.get(f"{sidecar.url}/echo/after") as resp:
        assert resp.status == 200  # the proxy is fine
    assert [s.target for s in model_server.seen] == ["/echo/after"]
