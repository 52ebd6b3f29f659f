"""The capture service: the proxy's sink (sampler + bounded queue + inline gate) and the loop that
feeds worker processes and the consumer.  Owned by the app's cleanup context."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from ..anomaly.inline import InlineGate
from ..codecs.overrides import parse_overrides
from ..config import Settings
from ..errors import ConfigError
from ..models import CaptureResult, Exchange
from .consumer import CaptureConsumer, CaptureCounts, CaptureMetrics
from .pool import WorkerPool
from .queue import CaptureQueue
from .sampler import Sampler

_log = logging.getLogger("sidecar.capture")
_BATCH = 32  # exchanges per worker round trip: amortises pickling/IPC without holding samples long


class CaptureSink:
    """Implements the proxy's ``CaptureSink`` protocol.  Every method is O(1) and never blocks."""

    def __init__(self, settings: Settings, queue: CaptureQueue, metrics: CaptureMetrics, counts: CaptureCounts) -> None:
        self._sampler = Sampler(settings.capture)
        self._queue = queue
        self._metrics = metrics
        self._counts = counts
        self.body_cap = settings.capture.body_cap if self._sampler.tees else 0
        try:
            parse_overrides(settings.capture.dialects)
        except ValueError as exc:
            raise ConfigError("--dialects", str(exc)) from exc
        try:
            self._gate = InlineGate(settings.anomaly.enforce) if settings.anomaly.enforce else None
        except ValueError as exc:
            raise ConfigError("--enforce", str(exc)) from exc
        self._gate_status = settings.anomaly.enforce_status
        self.gates = self._gate is not None
        self.always = self._sampler.always
        self.gate_rejections = 0

    def pick(self, method: str, route: str) -> bool:
        return self._sampler.pick()

    def keep(self, picked: bool, status: int, duration_s: float) -> bool:
        before = self._sampler.skipped
        kept = self._sampler.keep(picked, status, duration_s)
        if self._sampler.skipped != before:
            self._counts.skipped += 1
            self._counts.skipped_reasons["rate_limited"] += 1
            self._metrics.samples("skipped")
        return kept

    def submit(self, exchange: Exchange) -> None:
        if self._queue.offer(exchange):
            self._counts.captured += 1
            self._metrics.samples("captured")
        else:
            self._counts.dropped += 1
            self._metrics.samples("dropped")

    def gate(self, method: str, route: str, headers: Mapping[str, str], body: bytes) -> tuple[int, str] | None:
        gate = self._gate
        if gate is None:
            return None
        try:
            reason = gate.check(body, headers.get("content-type"))
        except Exception:  # a gate bug fails open
            return None
        if reason is None:
            return None
        self.gate_rejections += 1
        return self._gate_status, reason


class CaptureService:
    """Queue → worker processes → consumer, with bounded concurrency and contained failures."""

    def __init__(self, settings: Settings, consumer: CaptureConsumer, metrics: CaptureMetrics) -> None:
        self.queue = CaptureQueue(settings.capture.queue_size, settings.capture.queue_bytes)
        self.consumer = consumer
        self.pool = WorkerPool(settings)
        self.sink = CaptureSink(settings, self.queue, metrics, consumer.counts)
        self._inflight = asyncio.Semaphore(max(2, 2 * settings.capture.worker_processes))
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Returns at once: the workers warm up in the background while the proxy already serves."""
        self.pool.start()
        self._loop_task = asyncio.create_task(self._run(), name="sidecar-capture-loop")

    async def _run(self) -> None:
        await self.pool.warm_up()
        while True:
            batch = await self.queue.take(_BATCH)
            await self._inflight.acquire()
            task = asyncio.create_task(self._process(batch), name="sidecar-capture-batch")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _process(self, batch: list[Exchange]) -> None:
        try:
            results: list[CaptureResult] = await self.pool.run(batch)
            await self.consumer.handle(results)
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("capture batch failed")
            self.consumer.counts.failed += len(batch)
            self.consumer.counts.processed += len(batch)
        finally:
            self._inflight.release()

    def status(self) -> dict[str, Any]:
        counts = self.consumer.counts
        return {
            "captured": counts.captured,
            "dropped": counts.dropped,
            "skipped": counts.skipped,
            "failed": counts.failed,
            "processed": counts.processed,
            "queue": len(self.queue),
            "queue_capacity": self.queue.maxsize,
            "queue_bytes": self.queue.bytes,
            "skipped_reasons": dict(counts.skipped_reasons),
            "worker_processes": self.pool.processes,
            "worker_restarts": self.pool.restarts,
            "gate_rejections": self.sink.gate_rejections,
        }

    async def close(self, drain_timeout: float = 2.0) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        try:
            async with asyncio.timeout(drain_timeout):
                await asyncio.gather(*self._tasks, return_exceptions=True)
        except TimeoutError:
            for task in self._tasks:
                task.cancel()
        await self.pool.close()
