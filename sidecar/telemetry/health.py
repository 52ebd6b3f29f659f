"""Export health: counts of OTLP exports and failures per exporter, for /v1/status (telemetry layer)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


@dataclass(slots=True)
class ExportStats:
    """One exporter's record since start (updated from SDK export threads)."""

    exports: int = 0
    failures: int = 0
    last_success: float | None = None  # epoch seconds
    last_failure: float | None = None

    def record(self, ok: bool) -> None:
        now = time.time()
        with _LOCK:
            self.exports += 1
            if ok:
                self.last_success = now
            else:
                self.failures += 1
                self.last_failure = now

    def to_json(self) -> dict[str, Any]:
        with _LOCK:
            healthy = self.last_failure is None or (self.last_success or 0.0) > self.last_failure
            return {
                "healthy": healthy,
                "exports": self.exports,
                "failures": self.failures,
                "last_success": self.last_success,
                "last_failure": self.last_failure,
            }


_LOCK = threading.Lock()


class CountingSpanExporter(SpanExporter):
    """Delegates to ``inner`` and records each export's outcome."""

    def __init__(self, inner: SpanExporter, stats: ExportStats) -> None:
        self._inner = inner
        self._stats = stats

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self._inner.export(spans)
        except Exception:
            self._stats.record(False)
            raise
        self._stats.record(result is SpanExportResult.SUCCESS)
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)
