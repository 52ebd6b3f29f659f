"""The bounded hand-off between the hot path and the capture workers (put_nowait, drop when full)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from ..models import Exchange

_log = logging.getLogger("sidecar.capture")
_LOG_INTERVAL_S = 10.0


class CaptureQueue:
    """A bounded FIFO of exchanges.  ``offer`` never awaits: a full queue drops and counts.

    One consumer awaits ``take``; the deque plus an Event is cheaper on the hot path than an
    ``asyncio.Queue`` (no waiter bookkeeping per put when nobody waits).
    """

    def __init__(self, maxsize: int, max_bytes: int = 1 << 62) -> None:
        self._items: deque[Exchange] = deque()
        self._maxsize = maxsize
        self._max_bytes = max_bytes
        self.bytes = 0  # raw body bytes held now: the queue's memory is bounded by bytes, not just length
        self._ready = asyncio.Event()
        self.dropped = 0
        self.offered = 0
        self._last_log = 0.0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def maxsize(self) -> int:
        return self._maxsize

    def offer(self, exchange: Exchange) -> bool:
        self.offered += 1
        size = len(exchange.request_body) + len(exchange.response_body)
        if len(self._items) >= self._maxsize or self.bytes + size > self._max_bytes:
            self.dropped += 1
            now = time.monotonic()
            if now - self._last_log >= _LOG_INTERVAL_S:
                self._last_log = now
                _log.warning(
                    "capture queue full (%d): dropping samples (%d dropped so far)", self._maxsize, self.dropped
                )
            return False
        self._items.append(exchange)
        self.bytes += size
        if not self._ready.is_set():
            self._ready.set()
        return True

    async def take(self, max_items: int) -> list[Exchange]:
        """Wait for at least one exchange, then return up to ``max_items`` of them."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        batch: list[Exchange] = []
        items = self._items
        while items and len(batch) < max_items:
            exchange = items.popleft()
            self.bytes -= len(exchange.request_body) + len(exchange.response_body)
            batch.append(exchange)
        return batch

    def drain(self) -> list[Exchange]:
        batch = list(self._items)
        self._items.clear()
        self.bytes = 0
        return batch
