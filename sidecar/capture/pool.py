"""Capture worker processes: run the pipeline off the proxy's event loop, contain and restart crashes."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from ..config import Settings
from ..models import CaptureResult, Exchange

if TYPE_CHECKING:  # the pipeline (Presidio, spaCy) is imported in worker processes only
    from .pipeline import Pipeline

_log = logging.getLogger("sidecar.capture")

# Process-local state of a worker process (set by the pool initializer, never in the proxy process).
_pipeline: Pipeline | None = None


def _init_worker(settings: Settings) -> None:
    global _pipeline
    from .pipeline import Pipeline

    _pipeline = Pipeline(settings)


def _run_batch(batch: list[Exchange]) -> list[CaptureResult]:
    assert _pipeline is not None, "worker not initialised"
    return [_pipeline.process(exchange) for exchange in batch]


def _worker_status() -> dict[str, object]:
    assert _pipeline is not None, "worker not initialised"
    return _pipeline.redaction_status()


def failed_result(exchange: Exchange, reason: str, model: str) -> CaptureResult:
    """What a sample becomes when it cannot be processed (or its worker died): nothing of the payload kept."""
    return CaptureResult(
        request_id=exchange.request_id,
        time=exchange.time,
        route=exchange.route,
        dialect="unknown",
        model=model,
        status=exchange.status,
        request=None,
        response=None,
        skipped=reason,
        client_key=exchange.client_key,
        trace_id=exchange.trace_id,
        span_id=exchange.span_id,
        duration_s=exchange.duration_s,
    )


class WorkerPool:
    """A process pool running ``Pipeline.process``; a dead worker breaks the pool, so it is rebuilt.

    Processes are spawned (not forked): the proxy process runs OTel exporter threads and an event
    loop that must not be duplicated into children.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._processes = settings.capture.worker_processes
        self._executor: ProcessPoolExecutor | None = None
        self._context = multiprocessing.get_context("spawn")
        self.restarts = 0
        self.redaction_status: dict[str, object] = {"ready": False}

    @property
    def processes(self) -> int:
        return self._processes

    def pids(self) -> list[int]:
        executor = self._executor
        if executor is None:
            return []
        return [p.pid for p in getattr(executor, "_processes", {}).values() if p.pid]

    def start(self) -> None:
        self._executor = self._new_executor()

    async def warm_up(self) -> None:
        """Build the engines in every worker (Presidio takes seconds); samples wait in the queue."""
        executor = self._executor
        if executor is None:
            raise RuntimeError("worker pool not started")
        loop = asyncio.get_running_loop()
        try:
            statuses = await asyncio.gather(
                *(loop.run_in_executor(executor, _worker_status) for _ in range(self._processes))
            )
        except BrokenProcessPool:
            self._restart(executor)
            return
        self.redaction_status = {**statuses[0], "ready": True} if statuses else {}

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._processes,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=(self._settings,),
        )

    async def run(self, batch: list[Exchange]) -> list[CaptureResult]:
        executor = self._executor
        if executor is None:
            raise RuntimeError("worker pool not started")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, _run_batch, batch)
        except asyncio.CancelledError:
            raise
        except BrokenProcessPool:
            self._restart(executor)
            model = self._settings.model or "default"
            return [failed_result(exchange, "worker_crashed", model) for exchange in batch]

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        if self._executor is not broken:  # another batch already rebuilt it
            return
        self.restarts += 1
        _log.error("capture worker died; restarting the worker pool (restart %d)", self.restarts)
        broken.shutdown(wait=False, cancel_futures=True)
        self._executor = self._new_executor()

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: executor.shutdown(wait=True, cancel_futures=True)
            )
