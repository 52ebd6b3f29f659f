"""Relay for ``--workers N``: extra proxy processes hand their sampled exchanges to the first
process's capture queue over a Unix socket, so monitoring covers all the traffic.

Child side: the usual ``CaptureSink`` (sampler, bounded queue, inline gate) in front of a
``RelayClient`` that ships batches; when the parent is unreachable, batches are dropped and counted
(the hot path never notices).  Parent side: ``RelayServer`` feeds each exchange to its own sink's
``submit``, so the parent's queue bound and counts apply to every process's samples.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import struct
from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..models import Exchange
from .consumer import CaptureCounts
from .queue import CaptureQueue
from .service import CaptureSink

_log = logging.getLogger("sidecar.capture")
_HEADER = struct.Struct("!I")
_MAX_FRAME = 256 * 1024 * 1024  # a batch of at most 64 exchanges of at most 2 × body_cap (16 MiB cap)
_BATCH = 64


class _NoMetrics:
    """Children export no capture metrics (the parent counts what it receives)."""

    def __getattr__(self, _name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


class RelayClient:
    """Owns the child's capture queue and ships it to the parent; reconnects with backoff."""

    def __init__(self, settings: Settings, path: str) -> None:
        self.queue = CaptureQueue(settings.capture.queue_size, settings.capture.queue_bytes)
        self.counts = CaptureCounts()
        self.sink = CaptureSink(settings, self.queue, _NoMetrics(), self.counts)  # type: ignore[arg-type]
        self._path = path
        self.sent = 0
        self.lost = 0

    async def run(self) -> None:
        backoff = 0.1
        while True:
            try:
                _, writer = await asyncio.open_unix_connection(self._path)
            except OSError:
                self.lost += len(self.queue.drain())
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            try:
                while True:
                    batch = await self.queue.take(_BATCH)
                    payload = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
                    writer.write(_HEADER.pack(len(payload)) + payload)
                    await writer.drain()
                    self.sent += len(batch)
            except (OSError, ConnectionError):
                _log.warning("capture relay to the first process lost; reconnecting")
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()


class RelayServer:
    """Accepts children's batches and submits each exchange to ``submit`` (the parent's sink)."""

    def __init__(self, path: str, submit: Callable[[Exchange], None]) -> None:
        self._path = path
        self._submit = submit
        self._server: asyncio.AbstractServer | None = None
        self.received = 0
        self.rejected_frames = 0

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._handle, self._path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                if size > _MAX_FRAME:
                    self.rejected_frames += 1
                    return
                batch: Any = pickle.loads(await reader.readexactly(size))  # our own children only (0600 socket)
                for exchange in batch if isinstance(batch, list) else ():
                    if isinstance(exchange, Exchange):
                        self.received += 1
                        self._submit(exchange)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        except (pickle.UnpicklingError, EOFError, TypeError, ValueError):
            self.rejected_frames += 1
        finally:
            writer.close()
