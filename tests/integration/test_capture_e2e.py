"""End to end: a real model server, the real proxy with the whole monitoring stack, real traffic.

Checks what a user sees through the contract: byte-identical responses, redacted samples, drift
after a frozen reference, label joins, and that planted PII reaches no sink at all.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import random
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sidecar.wiring import build_monitoring
from tests.fixtures.servers import RunningSidecar, StartSidecar

pytestmark = pytest.mark.timeout(180)

# Planted structured PII: every value must vanish from every sink.
PII = {
    "email": "jane.roe1987@example.org",
    "phone": "+1 (415) 555-0137",
    "card": "5425 2334 3010 9903",
    "ssn": "536-90-4399",
    "iban": "DE89370400440532013000",
    "ip": "203.0.113.77",
    "api_key": "sk-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
}


def _plant() -> str:
    return (
        f"Contact {PII['email']} or call {PII['phone']}; card {PII['card']}, SSN {PII['ssn']}, "
        f"IBAN {PII['iban']}, from {PII['ip']} with key {PII['api_key']}"
    )


async def _predict(request: web.Request) -> web.Response:
    body = await request.json()
    rows = body.get("instances", [])
    preds = [{"label": "yes" if (r.get("x", 0) if isinstance(r, dict) else 0) > 0 else "no", "p": 0.7} for r in rows]
    return web.json_response({"predictions": preds})


async def _chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    text = "Sure. " + _plant()  # the model echoes PII: responses are redacted too
    if not body.get("stream"):
        return web.json_response(
            {
                "id": "c1",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42},
            }
        )
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for word in text.split(" "):
        chunk = {"id": "c1", "object": "chat.completion.chunk", "model": body.get("model"),
                 "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]}  # fmt: skip
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
    final = {"id": "c1", "object": "chat.completion.chunk", "model": body.get("model"),
             "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42}}  # fmt: skip
    await response.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
    await response.write_eof()
    return response


async def _gzip_echo(request: web.Request) -> web.Response:
    raw = await request.read()
    return web.Response(body=raw, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/models/{name}:predict", _predict)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_post("/echo/gzip", _gzip_echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def _processed(admin: str, n: int, within: float = 30.0) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, asyncio.timeout(within):
        while True:
            async with session.get(f"{admin}/v1/status") as r:
                status = await r.json()
            if status["capture"]["processed"] >= n:
                return status
            await asyncio.sleep(0.05)


async def _start(start_sidecar: StartSidecar, upstream: str, **overrides: Any) -> RunningSidecar:
    return await start_sidecar(upstream, wiring=build_monitoring, **overrides)  # type: ignore[arg-type]


async def test_pii_reaches_no_sink(
    start_sidecar: StartSidecar, upstream: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sc = await _start(start_sidecar, upstream, model="credit")
    pii_text = _plant()
    bodies: list[tuple[str, bytes, dict[str, str]]] = [
        (
            "/v1/models/credit:predict",
            json.dumps({"instances": [{"x": 1.5, "note": pii_text, "email": PII["email"]}]}).encode(),
            {},
        ),
        (
            "/v1/chat/completions",
            json.dumps({"model": "gpt-x", "messages": [{"role": "user", "content": pii_text}]}).encode(),
            {},
        ),
        (
            "/v1/chat/completions",
            json.dumps(
                {"model": "gpt-x", "stream": True, "messages": [{"role": "user", "content": pii_text}]}
            ).encode(),
            {},
        ),
        (
            "/echo/gzip",
            gzip.compress(json.dumps({"customer": {"contact": pii_text}}).encode()),
            {"Content-Encoding": "gzip"},
        ),
    ]
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        for path, body, headers in bodies:
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {PII['api_key']}", **headers}
            async with session.post(sc.url + path, data=body, headers=headers) as proxied:
                via_proxy = await proxied.read()
            async with session.post(upstream + path, data=body, headers=headers) as direct:
                straight = await direct.read()
            assert proxied.status == direct.status == 200
            if "stream" not in body.decode(errors="ignore"):
                assert via_proxy == straight  # byte-identical (no re-encoding, no decompression)
        await _processed(sc.admin_url, len(bodies))
        sinks: list[str] = []
        for path in ("/v1/status", "/metrics", "/v1/samples?model=credit&limit=100", "/v1/samples?model=gpt-x&limit=100",
                     "/v1/anomalies?model=credit", "/v1/anomalies?model=gpt-x", "/v1/drift?model=credit",
                     "/v1/distributions?model=credit", "/v1/performance?model=credit"):  # fmt: skip
            async with session.get(sc.admin_url + path) as r:
                sinks.append(f"{path} {r.status} " + await r.text())
        async with session.get(sc.admin_url + "/v1/samples?model=gpt-x&limit=100") as r:
            chat_samples = (await r.json())["samples"]
    sc.telemetry.force_flush()
    for span in sc.spans.get_finished_spans():
        sinks.append(json.dumps(dict(span.attributes or {})))
        sinks.extend(json.dumps([e.name, dict(e.attributes or {})]) for e in span.events)
    sinks.extend(record.getMessage() for record in caplog.records)
    everything = "\n".join(sinks)
    for kind, value in PII.items():
        assert value not in everything, f"planted {kind} leaked"
        digits = "".join(ch for ch in value if ch.isdigit())
        if kind in {"card", "ssn", "phone"}:
            assert digits not in everything.replace(" ", "").replace("-", ""), f"planted {kind} digits leaked"
    # The samples really are there, redacted (not just empty).
    assert len(chat_samples) == 2
    assert "<EMAIL_ADDRESS>" in json.dumps(chat_samples)


async def test_drift_after_freezing_the_reference(start_sidecar: StartSidecar, upstream: str) -> None:
    sc = await _start(start_sidecar, upstream, drift__min_samples=100)
    rng = random.Random(3)

    async def send(session: aiohttp.ClientSession, n: int, shift: float) -> None:
        for _ in range(n // 20):
            rows = [{"x": rng.gauss(shift, 1.0), "y": rng.gauss(0, 1.0), "c": rng.choice("abc")} for _ in range(20)]
            async with session.post(sc.url + "/v1/models/m1:predict", json={"instances": rows}) as r:
                assert r.status == 200
                await r.read()

    async with aiohttp.ClientSession() as session:
        await send(session, 600, 0.0)
        await _processed(sc.admin_url, 30)
        async with session.post(sc.admin_url + "/v1/reference", json={"from": "window"}) as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["n"] == 600
        await send(session, 600, 1.0)
        await _processed(sc.admin_url, 60)
        async with session.get(sc.admin_url + "/v1/drift") as r:
            drift = await r.json()
    verdicts = {f["name"]: f["drifted"] for f in drift["features"] if f["role"] == "input"}
    assert drift["model"] == "m1" and drift["reference"]["n"] == 600 and drift["current"]["n"] == 600
    assert verdicts["x"] is True
    assert verdicts["y"] is False and verdicts["c"] is False


async def test_full_queue_drops_and_killed_worker_is_contained(start_sidecar: StartSidecar, upstream: str) -> None:
    sc = await _start(start_sidecar, upstream, capture__queue_size=2)
    body = json.dumps({"instances": [{"x": 1.0}]}).encode()
    async with aiohttp.ClientSession() as session:
        async with session.post(upstream + "/v1/models/m:predict", data=body) as r:
            expected = await r.read()

        async def one() -> bytes:
            async with session.post(sc.url + "/v1/models/m:predict", data=body) as r:
                assert r.status == 200
                return await r.read()

        results = await asyncio.gather(*(one() for _ in range(200)))
        assert all(result == expected for result in results)
        async with session.get(sc.admin_url + "/v1/status") as r:
            capture = (await r.json())["capture"]
        assert capture["dropped"] > 0
        assert capture["captured"] + capture["dropped"] + capture["skipped"] >= 200
        # Kill every capture worker process mid-traffic: requests never notice.
        service = sc.app.wiring.capture
        assert service is not None
        for pid in service.pool.pids():
            os.kill(pid, signal.SIGKILL)
        results = await asyncio.gather(*(one() for _ in range(50)))
        assert all(result == expected for result in results)
        await asyncio.sleep(0.5)
        results = await asyncio.gather(*(one() for _ in range(5)))
        assert all(result == expected for result in results)
        status = await _processed(sc.admin_url, capture["captured"] + 1)
    assert status["capture"]["worker_restarts"] >= 1 or status["capture"]["failed"] >= 1


async def test_malformed_payload_is_skipped_and_passes_through(start_sidecar: StartSidecar, upstream: str) -> None:
    sc = await _start(start_sidecar, upstream)
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        bad = b'{"customer": {"contact": "x@example.com", '  # truncated JSON, sent gzip-labelled as-is
        async with session.post(sc.url + "/echo/gzip", data=bad, headers={"Content-Type": "application/json"}) as r:
            assert r.status == 200
            assert await r.read() == bad
        status = await _processed(sc.admin_url, 1)
    assert status["capture"]["skipped"] >= 1
    assert status["capture"]["failed"] == 0
