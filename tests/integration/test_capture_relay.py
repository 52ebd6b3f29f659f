"""The --workers capture relay over a real Unix socket: batches arrive in order, garbage is refused."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

from sidecar.capture.relay import RelayClient, RelayServer
from sidecar.config import load_settings
from sidecar.models import Exchange
from tests.fixtures.exchanges import make_exchange


def _exchange(i: int) -> Exchange:
    return make_exchange(request_id=str(i), target="/p")


async def _until(check: object, attempts: int = 200) -> bool:
    for _ in range(attempts):
        if check():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.01)
    return False


async def test_child_samples_reach_the_parent_sink_in_order(tmp_path: Path) -> None:
    got: list[str] = []
    server = RelayServer(str(tmp_path / "relay.sock"), lambda e: got.append(e.request_id))
    await server.start()
    client = RelayClient(load_settings(env={}), str(tmp_path / "relay.sock"))
    task = asyncio.create_task(client.run())
    try:
        for i in range(100):
            client.sink.submit(_exchange(i))
        assert await _until(lambda: len(got) == 100)
        assert got == [str(i) for i in range(100)] and client.sent == 100
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.close()


async def test_garbage_and_oversized_frames_are_refused_and_the_server_keeps_serving(tmp_path: Path) -> None:
    path = str(tmp_path / "relay.sock")
    got: list[str] = []
    server = RelayServer(path, lambda e: got.append(e.request_id))
    await server.start()
    try:
        for frame in (struct.pack("!I", 5) + b"\x80junk", struct.pack("!I", 1 << 31)):
            _, writer = await asyncio.open_unix_connection(path)
            writer.write(frame)
            await writer.drain()
            writer.close()
        assert await _until(lambda: server.rejected_frames == 2)
        client = RelayClient(load_settings(env={}), path)
        task = asyncio.create_task(client.run())
        client.sink.submit(_exchange(7))
        assert await _until(lambda: got == ["7"])
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await server.close()


async def test_parent_unreachable_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    client = RelayClient(load_settings(env={}), str(tmp_path / "nobody.sock"))
    task = asyncio.create_task(client.run())
    try:
        for i in range(10):
            client.sink.submit(_exchange(i))  # never blocks, whatever the relay's state
        assert await _until(lambda: client.lost == 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
