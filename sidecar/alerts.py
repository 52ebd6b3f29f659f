"""Alert sink: one log line per alert and a webhook POST from a bounded background queue (I/O edge).

``submit`` never blocks and never raises: the alert is logged and, when a webhook is configured,
queued (full queue ⇒ dropped and counted). One owned task drains the queue with bounded retries
and a timeout per attempt; failures are counted, never propagated. Start/stop it with
``async with AlertSink(...)`` or ``await sink.start()`` / ``await sink.aclose()`` from the app's
``cleanup_ctx``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from .config import AlertSettings
from .models import Alert

_log = logging.getLogger("sidecar.alerts")

#: Statuses worth another attempt (the receiver may recover); any other 4xx is final.
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(slots=True)
class AlertStats:
    """Counts since start (for /v1/status)."""

    submitted: int = 0
    sent: int = 0
    failed: int = 0  # gave up after the last attempt
    dropped: int = 0  # queue full, or still queued at shutdown
    retries: int = 0
    listener_errors: int = 0


def alert_json(alert: Alert) -> dict[str, Any]:
    """The webhook body: ``{"kind", "model", "time", "summary", "details"}`` (strict JSON, no NaN)."""
    return {
        "kind": alert.kind,
        "model": alert.model,
        "time": alert.time,
        "summary": alert.summary,
        "details": _strict(alert.details),
    }


class AlertSink:
    """Delivers alerts to the log and to ``settings.webhook_url``."""

    def __init__(
        self,
        settings: AlertSettings,
        *,
        queue_size: int = 100,
        timeout: float = 5.0,
        attempts: int = 3,
        backoff: float = 0.5,
        logger: logging.Logger | None = None,
        listeners: Sequence[Callable[[Alert], None]] = (),
    ) -> None:
        """``listeners`` are called synchronously by ``submit`` (e.g. the app adds a span event and a
        metric there); they must not block, and whatever they raise is counted and swallowed."""
        if queue_size < 1 or attempts < 1 or timeout <= 0 or backoff < 0:
            raise ValueError("queue_size and attempts must be >= 1, timeout > 0, backoff >= 0")
        self.url = settings.webhook_url
        self.stats = AlertStats()
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._attempts = attempts
        self._backoff = backoff
        self._log = logger or _log
        self._listeners = tuple(listeners)
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def submit(self, alert: Alert) -> bool:
        """Log the alert and queue it for the webhook; False when it had to be dropped. Never raises."""
        self.stats.submitted += 1
        self._log.warning("alert kind=%s model=%s: %s", alert.kind, alert.model, alert.summary)
        for listener in self._listeners:
            try:
                listener(alert)
            except Exception:  # a broken listener must not stop the alert or reach the caller
                self.stats.listener_errors += 1
        if not self.url:
            return True
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            return False
        return True

    async def start(self) -> None:
        """Start the delivery task (no-op without a webhook URL or when already running)."""
        if self.url and self._task is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._task = asyncio.create_task(self._run(), name="sidecar-alert-webhook")

    async def aclose(self, drain_timeout: float = 2.0) -> None:
        """Deliver what is queued (up to ``drain_timeout`` s), then stop; the rest counts as dropped."""
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), drain_timeout)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
            self.stats.dropped += 1
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> AlertSink:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _run(self) -> None:
        while True:
            alert = await self._queue.get()
            try:
                await self._deliver(alert)
            except asyncio.CancelledError:
                self.stats.dropped += 1  # stopped mid-delivery
                raise
            except Exception as exc:  # a bug here must not end delivery of later alerts
                self.stats.failed += 1
                self._log.error(
                    "alert webhook failed kind=%s model=%s: %s", alert.kind, alert.model, type(exc).__name__
                )
            finally:
                self._queue.task_done()

    async def _deliver(self, alert: Alert) -> None:
        assert self._session is not None
        body = json.dumps(alert_json(alert), allow_nan=False, default=str).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "model-sidecar-alerts"}
        outcome = "not attempted"
        for attempt in range(self._attempts):
            if attempt:
                self.stats.retries += 1
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            try:
                async with self._session.post(self.url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status < 300:
                        self.stats.sent += 1
                        return
                    outcome = f"HTTP {response.status}"
                    if response.status not in _RETRY_STATUSES:
                        break
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                outcome = type(exc).__name__
        self.stats.failed += 1
        # One line, no body: the alert itself was already logged by submit().
        self._log.error("alert webhook failed kind=%s model=%s: %s", alert.kind, alert.model, outcome)


def _strict(value: Any) -> Any:
    """Replace NaN/±Inf by None, recursively, so the body is valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value
