"""The proxy listener: a low-level aiohttp server around ``ProxyHandler`` (proxy layer, I/O edge).

The low-level ``web.Server`` has no router, so every path goes to the model.  It is built with
no decompression, large header limits (431 beyond them), no access log (the hot path logs
nothing), and handler cancellation so a client that goes away cancels the upstream call.
"""

from __future__ import annotations

import socket

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler

from ..config import ProxySettings, parse_host_port
from ..errors import SidecarError
from ..telemetry.setup import Telemetry
from .handler import ProxyHandler, error_body
from .hooks import CaptureSink
from .upstream import Upstream


class _ProxyRequestHandler(RequestHandler):  # type: ignore[type-arg]
    """Answers header-limit violations with 431 instead of aiohttp's generic 400."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        too_large = isinstance(exc, LineTooLong) or (isinstance(exc, BadHttpMessage) and "Too many headers" in str(exc))
        if status == 400 and too_large and request.writer.output_size == 0:
            resp = web.Response(
                status=431,
                body=error_body(
                    "request_header_fields_too_large", "a header field or the header count is over the limit"
                ),
                content_type="application/json",
            )
            resp.force_close()
            return resp
        return super().handle_error(request, status, exc, message)


class _ProxyServer(web.Server):
    def __call__(self) -> RequestHandler:  # type: ignore[type-arg]
        return _ProxyRequestHandler(self, loop=self._loop, **self._kwargs)


class ProxyServer:
    """Owns the upstream pool and the proxy listener; ``start`` binds, ``stop`` drains."""

    def __init__(self, settings: ProxySettings, telemetry: Telemetry, sink: CaptureSink) -> None:
        self.settings = settings
        self.upstream = Upstream(settings)
        self.handler = ProxyHandler(settings, self.upstream, telemetry, sink)
        self._runner: web.BaseRunner | None = None
        self.port = 0

    async def start(self, listen: str | None = None, *, reuse_port: bool = False) -> int:
        """Open the pool and bind ``listen`` (default: the settings); returns the bound port."""
        s = self.settings
        host, port = parse_host_port(listen or s.listen)
        await self.upstream.open()
        server = _ProxyServer(
            self.handler,
            handler_cancellation=True,
            access_log=None,
            auto_decompress=False,
            max_line_size=s.max_field_size,
            max_field_size=s.max_field_size,
            max_headers=s.max_headers,
            keepalive_timeout=75.0,
        )
        self._runner = web.ServerRunner(server, shutdown_timeout=s.drain_timeout, handle_signals=False)
        await self._runner.setup()
        try:
            sock = _bind(host, port, reuse_port)
        except OSError as exc:
            await self._runner.cleanup()
            await self.upstream.close()
            raise SidecarError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        site = web.SockSite(self._runner, sock, backlog=1024)
        await site.start()
        self.port = sock.getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Close the listener, let in-flight requests finish up to ``drain_timeout``, close the pool."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.upstream.close()


def _bind(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock
