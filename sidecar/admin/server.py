"""The admin listener: health, readiness, Prometheus metrics, status, and extension routes (admin layer).

Other packages add their own endpoints through ``extra_routes`` and their background tasks
through ``cleanup_ctx``; capture and store health reach ``/v1/status`` through provider callables,
so this module imports none of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from ..proxy.upstream import Upstream, probe
from ..telemetry.setup import Telemetry
from .auth import error_middleware

StatusProvider = Callable[[], Mapping[str, Any]]
CleanupCtx = Callable[[web.Application], AsyncIterator[None]]

_EMPTY_CAPTURE = {"captured": 0, "dropped": 0, "skipped": 0, "failed": 0, "processed": 0, "queue": 0}


class Readiness:
    """Started, not draining, and upstream ready (probed at most once per ``cache_s``)."""

    def __init__(
        self, upstream: Upstream, readiness_path: str, *, cache_s: float = 1.0, timeout_s: float = 2.0
    ) -> None:
        self._upstream = upstream
        self._path = readiness_path
        self._cache_s = cache_s
        self._timeout_s = timeout_s
        self.started = False
        self.draining = False
        self._checked_at = float("-inf")
        self._upstream_ready = False
        self._lock = asyncio.Lock()

    @property
    def upstream_ready(self) -> bool:
        """The last probe result (no I/O)."""
        return self._upstream_ready

    async def check_upstream(self) -> bool:
        async with self._lock:  # one probe at a time; concurrent callers share its answer
            if time.monotonic() - self._checked_at >= self._cache_s:
                self._upstream_ready = await probe(self._upstream, self._path, self._timeout_s)
                self._checked_at = time.monotonic()
            return self._upstream_ready

    async def ready(self) -> tuple[bool, str]:
        if self.draining:
            return False, "shutting down"
        if not self.started:
            return False, "starting"
        if not await self.check_upstream():
            return False, "upstream not ready"
        return True, "ok"


READINESS = web.AppKey("readiness", Readiness)
TELEMETRY = web.AppKey("telemetry", Telemetry)


def build_admin_app(
    *,
    telemetry: Telemetry,
    readiness: Readiness,
    upstream_url: str,
    version: str,
    capture_status: StatusProvider | None = None,
    store_status: StatusProvider | None = None,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
    cleanup_ctx: Iterable[CleanupCtx] = (),
    extra_status: StatusProvider | None = None,
) -> web.Application:
    """The admin ``web.Application``.

    ``capture_status`` returns the ``capture`` object of ``/v1/status`` (captured, dropped,
    skipped, failed, processed, queue); ``store_status`` returns ``{"backend", "healthy", ...}``;
    ``extra_status`` may add top-level fields.  All are called per request and must not block.
    """
    started_at = time.monotonic()
    # Profiles of wide models exceed aiohttp's 1 MiB default; routes check their own limits below this.
    app = web.Application(middlewares=[error_middleware], client_max_size=64 * 1024 * 1024)
    app[READINESS] = readiness
    app[TELEMETRY] = telemetry

    async def healthz(_request: web.Request) -> web.Response:
        # Reaching this line proves the event loop runs; nothing else is consulted on purpose.
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        ok, reason = await readiness.ready()
        return web.json_response({"ready": ok, "reason": reason}, status=200 if ok else 503)

    async def metrics(_request: web.Request) -> web.Response:
        body = telemetry.prometheus_text()
        return web.Response(body=body, headers={"Content-Type": telemetry.prometheus_content_type})

    async def status(_request: web.Request) -> web.Response:
        await readiness.check_upstream()
        doc: dict[str, Any] = {
            "version": version,
            "uptime_s": round(time.monotonic() - started_at, 3),
            "upstream": {"url": upstream_url, "ready": readiness.upstream_ready},
            "ready": readiness.started and not readiness.draining and readiness.upstream_ready,
            "draining": readiness.draining,
            "store": dict(store_status()) if store_status else {"backend": "memory", "healthy": True},
            "capture": {**_EMPTY_CAPTURE, **(capture_status() if capture_status else {})},
            "exporters": list(telemetry.exporters),
            "exporter_health": telemetry.export_health(),
        }
        if extra_status is not None:
            doc.update(extra_status())
        return web.json_response(doc)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/status", status)
    app.router.add_routes(list(extra_routes))
    app.cleanup_ctx.extend(cleanup_ctx)
    return app
