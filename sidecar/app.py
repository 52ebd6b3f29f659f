"""Composition root and the ``sidecar run`` command: builds the concretes and owns the lifecycle.

``build_wiring`` is the one place that decides what plugs into the proxy (the capture sink) and
the admin app (extra routes, background tasks, status providers).  ``Sidecar`` starts and stops
one process; ``run_run`` adds signals, uvloop and ``--workers``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import __version__
from .admin.server import CleanupCtx, Readiness, StatusProvider, build_admin_app
from .config import Settings, add_flags, load_settings, parse_host_port, require_upstream
from .errors import SidecarError
from .proxy.hooks import CaptureSink, NullSink
from .proxy.server import ProxyServer
from .telemetry import Telemetry, build_telemetry

log = logging.getLogger("sidecar")


@dataclass
class Wiring:
    """What the composition root plugs into the proxy and the admin app."""

    sink: CaptureSink = field(default_factory=NullSink)
    admin_routes: list[web.AbstractRouteDef] = field(default_factory=list)
    cleanup_ctx: list[CleanupCtx] = field(default_factory=list)  # background tasks, owned by the admin app
    capture_status: StatusProvider | None = None
    store_status: StatusProvider | None = None
    extra_status: StatusProvider | None = None
    capture: Any = None  # the capture service, for tests and shutdown ordering


def build_wiring(settings: Settings, telemetry: Telemetry) -> Wiring:
    """The whole monitoring stack: capture → store → drift/anomaly/labels → admin routes."""
    from .wiring import build_monitoring

    return build_monitoring(settings, telemetry)


class Sidecar:
    """One process: the proxy listener, the admin listener, telemetry; ``stop`` drains."""

    def __init__(
        self,
        settings: Settings,
        *,
        telemetry: Telemetry | None = None,
        wiring: Wiring | Callable[[Settings, Telemetry], Wiring] = build_wiring,
        admin: bool = True,
        reuse_port: bool = False,
    ) -> None:
        self.settings = settings
        self.telemetry = telemetry or build_telemetry(service_version=__version__)
        self.wiring = wiring if isinstance(wiring, Wiring) else wiring(settings, self.telemetry)
        self.proxy = ProxyServer(settings.proxy, self.telemetry, self.wiring.sink)
        self.readiness = Readiness(self.proxy.upstream, settings.proxy.readiness_path)
        self._admin_enabled = admin
        self._reuse_port = reuse_port
        self._admin_runner: web.AppRunner | None = None
        self.proxy_port = 0
        self.admin_port = 0

    async def start(self, *, proxy_listen: str | None = None) -> None:
        self.proxy_port = await self.proxy.start(proxy_listen, reuse_port=self._reuse_port)
        if self._admin_enabled:
            w = self.wiring
            app = build_admin_app(
                telemetry=self.telemetry,
                readiness=self.readiness,
                upstream_url=self.settings.proxy.upstream,
                version=__version__,
                capture_status=w.capture_status,
                extra_status=w.extra_status,
                store_status=w.store_status,
                extra_routes=w.admin_routes,
                cleanup_ctx=w.cleanup_ctx,
            )
            self._admin_runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
            await self._admin_runner.setup()
            host, port = parse_host_port(self.settings.admin.listen)
            site = web.TCPSite(self._admin_runner, host, port)
            try:
                await site.start()
            except OSError as exc:
                await self._admin_runner.cleanup()
                await self.proxy.stop()
                raise SidecarError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
            self.admin_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.readiness.started = True

    def begin_shutdown(self) -> None:
        """Readiness turns 503 at once; the listeners keep serving."""
        self.readiness.draining = True

    async def stop(self, *, quiet_period: float | None = None) -> None:
        """Quiet period (still serving, /readyz 503), close the listener, drain, flush telemetry."""
        self.begin_shutdown()
        quiet = self.settings.proxy.quiet_period if quiet_period is None else quiet_period
        if quiet > 0:
            await asyncio.sleep(quiet)
        await self.proxy.stop()
        if self._admin_runner is not None:
            await self._admin_runner.cleanup()
            self._admin_runner = None
        await _bounded_shutdown(self.telemetry, _TELEMETRY_FLUSH_S)


_TELEMETRY_FLUSH_S = 5.0  # an unreachable OTLP endpoint must not eat the pod's termination grace period


async def _bounded_shutdown(telemetry: Telemetry, budget_s: float) -> None:
    """Flush and stop the exporters in a daemon thread; give up waiting after ``budget_s``.

    The OTLP exporters retry with backoff while their endpoint is down; a daemon thread does not
    hold the process at exit, so the sidecar still exits on time (the unsent data is lost, counted
    in export health).
    """
    loop = asyncio.get_running_loop()
    finished = asyncio.Event()

    def shutdown() -> None:
        try:
            telemetry.shutdown()
        finally:
            with contextlib.suppress(RuntimeError):  # the loop may be gone by then
                loop.call_soon_threadsafe(finished.set)

    threading.Thread(target=shutdown, name="sidecar-telemetry-shutdown", daemon=True).start()
    try:
        await asyncio.wait_for(finished.wait(), budget_s)
    except TimeoutError:
        log.warning("telemetry flush still running after %.0fs: exiting without it", budget_s)


# ---------------------------------------------------------------------------- the command


def configure_run(parser: argparse.ArgumentParser) -> None:
    add_flags(parser)


def run_run(args: argparse.Namespace) -> int:
    settings = load_settings(vars(args))
    require_upstream(settings)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    return _run_loop(_serve(settings))


def _run_loop(main: asyncio.Future[int] | object) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return int(asyncio.run(main))  # type: ignore[arg-type]
    return int(uvloop.run(main))  # type: ignore[arg-type]


async def _wait_for_signal() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)


async def _serve(settings: Settings) -> int:
    workers = settings.proxy.workers
    sidecar = Sidecar(settings, reuse_port=workers > 1)
    await sidecar.start()
    host, _ = parse_host_port(settings.proxy.listen)
    relay_dir = tempfile.mkdtemp(prefix="sidecar-relay-") if workers > 1 else ""  # 0700: ours only
    relay: Any = None
    if relay_dir and sidecar.wiring.capture is not None:
        from .capture.relay import RelayServer

        relay = RelayServer(os.path.join(relay_dir, "capture.sock"), sidecar.wiring.sink.submit)
        await relay.start()
    children = _spawn_workers(
        settings, f"{host}:{sidecar.proxy_port}", workers - 1, os.path.join(relay_dir, "capture.sock") if relay else ""
    )
    log.info(
        "ready proxy=%s:%d admin=%s:%d upstream=%s workers=%d pid=%d",
        host, sidecar.proxy_port, parse_host_port(settings.admin.listen)[0], sidecar.admin_port,
        settings.proxy.upstream, workers, os.getpid(),
    )  # fmt: skip
    await _wait_for_signal()
    log.info("shutting down: readiness 503, quiet period %.1fs, drain up to %.1fs",
             settings.proxy.quiet_period, settings.proxy.drain_timeout)  # fmt: skip
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid or 0, signal.SIGTERM)
    await sidecar.stop()
    deadline = settings.proxy.quiet_period + settings.proxy.drain_timeout + 5.0
    codes = await asyncio.gather(*(asyncio.to_thread(_join, child, deadline) for child in children))
    if relay is not None:
        await relay.close()
    if relay_dir:
        shutil.rmtree(relay_dir, ignore_errors=True)
    log.info("stopped")
    return 0 if all(code == 0 for code in codes) else 1


# ---------------------------------------------------------------------------- --workers


def _spawn_workers(
    settings: Settings, listen: str, count: int, relay_path: str
) -> list[multiprocessing.process.BaseProcess]:
    """Extra proxy processes on the same port (SO_REUSEPORT), one event loop each.

    Each worker forwards and traces (OTLP, when configured, from every process) and relays its
    sampled exchanges to the parent's capture queue (``relay_path``); it has no admin listener, so
    ``/metrics``' HTTP histograms cover the parent's share of the traffic.
    """
    ctx = multiprocessing.get_context("spawn")
    children: list[multiprocessing.process.BaseProcess] = []
    for index in range(count):
        child = ctx.Process(
            target=_worker_main, args=(settings, listen, relay_path), name=f"sidecar-worker-{index + 1}"
        )
        child.start()
        children.append(child)
    return children


def _join(child: multiprocessing.process.BaseProcess, timeout: float) -> int:
    child.join(timeout)
    if child.exitcode is None:
        child.kill()
        child.join()
    return child.exitcode or 0


def _worker_main(settings: Settings, listen: str, relay_path: str) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; SIGTERM starts our drain
    raise SystemExit(_run_loop(_serve_worker(settings, listen, relay_path)))


async def _serve_worker(settings: Settings, listen: str, relay_path: str) -> int:
    from .capture.relay import RelayClient

    relay = RelayClient(settings, relay_path) if relay_path else None
    sidecar = Sidecar(settings, wiring=Wiring(sink=relay.sink) if relay else Wiring(), admin=False, reuse_port=True)
    await sidecar.start(proxy_listen=listen)
    shipping = asyncio.create_task(relay.run(), name="sidecar-capture-relay") if relay else None
    log.info("worker ready proxy=%s pid=%d", listen, os.getpid())
    await _wait_for_signal()
    await sidecar.stop()
    if shipping is not None:
        shipping.cancel()
        await asyncio.gather(shipping, return_exceptions=True)
    return 0
