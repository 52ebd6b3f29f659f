"""AlertSink against a real aiohttp webhook receiver on 127.0.0.1 (up, failing, down, slow)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from sidecar.alerts import AlertSink, alert_json
from sidecar.config import AlertSettings
from sidecar.models import Alert


@dataclass
class Receiver:
    url: str
    bodies: list[dict[str, object]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # status to answer, per call, then 200
    delay: float = 0.0


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver(url="")

    async def hook(request: web.Request) -> web.Response:
        if state.delay:
            await asyncio.sleep(state.delay)
        state.bodies.append(await request.json())
        status = state.statuses.pop(0) if state.statuses else 200
        return web.Response(status=status, text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}/hook"
    yield state
    await runner.cleanup()


def _alert(i: int = 0) -> Alert:
    return Alert("drift", "m", 1000.0 + i, f"drift in 1 feature(s) of model m: f{i}", {"p": math.nan, "features": [i]})


async def _until(predicate: Callable[[], bool], limit: float = 5.0) -> None:
    for _ in range(int(limit / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_alert_is_posted_as_strict_json(receiver: Receiver) -> None:
    async with AlertSink(AlertSettings(webhook_url=receiver.url)) as sink:
        assert sink.submit(_alert(1))
        await _until(lambda: sink.stats.sent == 1)
    assert receiver.bodies == [json.loads(json.dumps(alert_json(_alert(1))))]
    body = receiver.bodies[0]
    assert body["kind"] == "drift" and body["model"] == "m"
    assert body["details"] == {"p": None, "features": [1]}  # NaN became null
    assert sink.stats.failed == 0 and sink.stats.dropped == 0


async def test_server_errors_are_retried_then_delivered(receiver: Receiver) -> None:
    receiver.statuses = [503, 500]
    async with AlertSink(AlertSettings(webhook_url=receiver.url), attempts=3, backoff=0.01) as sink:
        sink.submit(_alert())
        await _until(lambda: sink.stats.sent == 1)
    assert len(receiver.bodies) == 3 and sink.stats.retries == 2 and sink.stats.failed == 0


async def test_client_error_is_not_retried(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.statuses = [400]
    with caplog.at_level(logging.WARNING, logger="sidecar.alerts"):
        async with AlertSink(AlertSettings(webhook_url=receiver.url), attempts=3, backoff=0.01) as sink:
            sink.submit(_alert())
            await _until(lambda: sink.stats.failed == 1)
    assert len(receiver.bodies) == 1 and sink.stats.retries == 0
    assert any("HTTP 400" in r.getMessage() for r in caplog.records)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_receiver_down_counts_failures_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/hook"
    with caplog.at_level(logging.WARNING, logger="sidecar.alerts"):
        async with AlertSink(AlertSettings(webhook_url=url), attempts=2, backoff=0.01) as sink:
            for i in range(3):
                assert sink.submit(_alert(i))
            await _until(lambda: sink.stats.failed == 3)
    assert sink.stats.sent == 0 and sink.stats.retries == 3
    lines = [r.getMessage() for r in caplog.records]
    assert sum("alert kind=drift" in line for line in lines) == 3  # one line per alert
    assert sum("webhook failed" in line for line in lines) == 3
    assert not any("'features'" in line or "{" in line for line in lines)  # no body in the log


async def test_slow_receiver_times_out_and_full_queue_drops(receiver: Receiver) -> None:
    receiver.delay = 1.0
    async with AlertSink(AlertSettings(webhook_url=receiver.url), queue_size=2, timeout=0.2, attempts=1) as sink:
        accepted = [sink.submit(_alert(i)) for i in range(6)]
        assert accepted.count(True) >= 2 and accepted.count(False) >= 3  # submit never waited
        await _until(lambda: sink.stats.failed >= 1)
    assert sink.stats.sent == 0
    assert sink.stats.failed + sink.stats.dropped == 6


async def test_without_webhook_alerts_are_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sidecar.alerts"):
        async with AlertSink(AlertSettings()) as sink:
            assert sink.submit(_alert())
    assert sink.stats.submitted == 1 and sink.stats.sent == 0 and sink.stats.dropped == 0
    assert len(caplog.records) == 1


async def test_close_drops_what_cannot_be_delivered_in_time(receiver: Receiver) -> None:
    receiver.delay = 0.5
    sink = AlertSink(AlertSettings(webhook_url=receiver.url), queue_size=10, timeout=5.0)
    await sink.start()
    for i in range(5):
        sink.submit(_alert(i))
    await sink.aclose(drain_timeout=0.1)
    assert sink.stats.sent == 0
    assert sink.stats.dropped == 5  # the in-flight one was cancelled, the queued ones never sent


async def test_listeners_see_every_alert_and_cannot_break_submit() -> None:
    seen: list[str] = []

    def broken(alert: Alert) -> None:
        raise RuntimeError("listener bug")

    sink = AlertSink(AlertSettings(), listeners=[lambda a: seen.append(a.summary), broken])
    assert sink.submit(_alert(1)) and sink.submit(_alert(2))
    assert seen == [_alert(1).summary, _alert(2).summary]
    assert sink.stats.listener_errors == 2


async def test_an_unserialisable_alert_fails_alone(receiver: Receiver) -> None:
    class Odd:
        def __str__(self) -> str:
            raise RuntimeError("cannot render")

    async with AlertSink(AlertSettings(webhook_url=receiver.url)) as sink:
        sink.submit(Alert("drift", "m", 0.0, "odd", {"x": Odd()}))
        sink.submit(_alert(3))
        await _until(lambda: sink.stats.sent == 1 and sink.stats.failed == 1)
    assert [b["summary"] for b in receiver.bodies] == [_alert(3).summary]
