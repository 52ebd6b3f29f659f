"""The mutating admission webhook server: TLS, /mutate, health and metrics (k8s layer; aiohttp edge)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from ..config import parse_host_port
from ..errors import ManifestError
from .admission import OUTCOMES, admit
from .container import DEFAULT_IMAGE
from .inject import InjectOptions
from .tls import ReloadingTLS

_log = logging.getLogger(__name__)
_MAX_BODY: Final = 4 * 1024 * 1024  # etcd caps an object at 1.5 MiB; the review wraps one or two


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    tls_cert: str
    tls_key: str
    listen: str = "0.0.0.0:8443"
    metrics_listen: str = ""  # plain-HTTP /metrics + health for scrapers that do not speak TLS
    image: str = DEFAULT_IMAGE
    classic: bool = False
    skip_namespaces: tuple[str, ...] = ("kube-system",)
    cert_check_interval: float = 10.0


@dataclass(slots=True)
class _State:
    settings: WebhookSettings
    options: InjectOptions
    tls: ReloadingTLS
    registry: CollectorRegistry
    reviews: Counter
    reloads: Counter


_STATE: Final = web.AppKey("webhook_state", _State)


def _error(status: int, error: str, detail: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status)


async def _mutate(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        state.reviews.labels(outcome="malformed").inc()
        return _error(400, "malformed review", f"body is not JSON: {exc}")
    try:
        answer, outcome = admit(body, state.options, state.settings.skip_namespaces)
    except ManifestError as exc:
        state.reviews.labels(outcome="malformed").inc()
        return _error(400, "malformed review", str(exc))
    except Exception as exc:  # never block a pod on our bug: allow it and say why
        _log.exception("admission failed")
        uid = body["request"]["uid"]
        answer = {"apiVersion": body["apiVersion"], "kind": "AdmissionReview",
                  "response": {"uid": uid, "allowed": True, "warnings": [f"model-sidecar not injected: internal error {type(exc).__name__}"]}}  # fmt: skip
        outcome = "error"
    state.reviews.labels(outcome=outcome).inc()
    return web.json_response(answer)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _metrics(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    return web.Response(body=generate_latest(state.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _ops_app(state: _State, max_body: int = 1024) -> web.Application:
    app = web.Application(client_max_size=max_body)
    app[_STATE] = state
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _healthz)  # ready once listening: the certificate loaded at start
    app.router.add_get("/metrics", _metrics)
    return app


async def _watch_certs(state: _State) -> None:
    while True:
        await asyncio.sleep(state.settings.cert_check_interval)
        if state.tls.check():
            state.reloads.inc()


def make_state(settings: WebhookSettings) -> _State:
    registry = CollectorRegistry()
    reviews = Counter(
        "sidecar_webhook_reviews", "AdmissionReviews answered, by outcome", ["outcome"], registry=registry
    )
    for outcome in OUTCOMES:
        reviews.labels(outcome=outcome)  # export zeros so rate() works from the first scrape
    reloads = Counter("sidecar_webhook_cert_reloads", "TLS certificate reloads", registry=registry)
    options = InjectOptions(image=settings.image, classic=settings.classic)
    return _State(settings, options, ReloadingTLS(settings.tls_cert, settings.tls_key), registry, reviews, reloads)


def make_app(state: _State) -> web.Application:
    app = _ops_app(state, _MAX_BODY)
    app.router.add_post("/mutate", _mutate)

    async def cert_watcher(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_watch_certs(state), name="webhook-cert-watcher")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(cert_watcher)
    return app


class WebhookServer:
    """The webhook listening on TLS (and plain HTTP for metrics when asked); ports known after start()."""

    def __init__(self, settings: WebhookSettings) -> None:
        self.state = make_state(settings)
        self._runners: list[web.AppRunner] = []
        self.port = 0
        self.metrics_port = 0

    async def start(self) -> None:
        settings = self.state.settings
        self.port = await self._serve(make_app(self.state), settings.listen, tls=True)
        if settings.metrics_listen:
            self.metrics_port = await self._serve(_ops_app(self.state), settings.metrics_listen, tls=False)

    async def _serve(self, app: web.Application, listen: str, *, tls: bool) -> int:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        host, port = parse_host_port(listen)
        site = web.TCPSite(runner, host, port, ssl_context=self.state.tls.context if tls else None)
        await site.start()
        address: Any = runner.addresses[0]
        return int(address[1])

    async def stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()


async def serve(settings: WebhookSettings) -> None:
    """Run until SIGTERM/SIGINT."""
    server = WebhookServer(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    _log.info("webhook listening on %s (TLS), port %d", settings.listen, server.port)
    try:
        await stop.wait()
    finally:
        await server.stop()
