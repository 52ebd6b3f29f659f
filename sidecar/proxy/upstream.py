"""The upstream side of the proxy: one pooled aiohttp client session and error mapping (I/O edge).

aiohttp exceptions stop here: ``map_error`` turns them into the status and ``error.type`` the
client sees when no response headers arrived yet.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
from yarl import URL

from ..config import ProxySettings

# aiohttp adds these unless told not to; a transparent proxy must send only what the client sent.
_SKIP_AUTO = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


@dataclass(frozen=True, slots=True)
class UpstreamError:
    """What a failure before response headers becomes: an HTTP status, a bounded type, a detail."""

    status: int
    error_type: str  # bounded value used as ``error.type``
    detail: str


class Upstream:
    """The model server: base URL, a keep-alive pool, and phase timeouts."""

    def __init__(self, settings: ProxySettings) -> None:
        self.settings = settings
        base = URL(settings.upstream)
        self.scheme = base.scheme
        self.host = base.host or ""
        self.port = base.port or (443 if base.scheme == "https" else 80)
        # A base path (``http://model:8080/prefix``) is prepended to the raw client target.
        self._origin = str(base.origin())
        self._prefix = base.raw_path.rstrip("/")
        self.response_timeout = settings.response_timeout
        self.session: aiohttp.ClientSession | None = None

    def url(self, raw_target: str) -> URL:
        """The upstream URL for a raw request target, without any re-encoding."""
        return URL(f"{self._origin}{self._prefix}{raw_target}", encoded=True)

    async def open(self) -> aiohttp.ClientSession:
        s = self.settings
        connector = aiohttp.TCPConnector(
            limit=s.pool_size,
            keepalive_timeout=s.pool_idle_timeout,
            ttl_dns_cache=10,
            enable_cleanup_closed=False,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, connect=s.connect_timeout, sock_connect=s.connect_timeout, sock_read=s.read_timeout
            ),
            auto_decompress=False,
            skip_auto_headers=_SKIP_AUTO,
            cookie_jar=aiohttp.DummyCookieJar(),  # never store or replay upstream cookies
            trust_env=False,
            max_line_size=s.max_field_size + 1024,
            max_field_size=s.max_field_size,
            max_headers=max(s.max_headers, 256),
            read_bufsize=2**16,
        )
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None


def map_error(exc: BaseException, response_timeout: float) -> UpstreamError | None:
    """The response for an upstream failure before headers, or None when ``exc`` is not one."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return UpstreamError(504, "connect_timeout", "upstream did not accept the connection in time")
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return UpstreamError(504, "read_timeout", "upstream sent nothing within the read timeout")
    if isinstance(exc, TimeoutError):
        return UpstreamError(504, "response_timeout", f"no response headers within {response_timeout:g}s")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamError(502, "connection_refused", "cannot connect to the upstream")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return UpstreamError(502, "connection_reset", "upstream closed the connection before responding")
    if isinstance(exc, aiohttp.ClientResponseError):
        return UpstreamError(502, "bad_response", "upstream sent an invalid HTTP response")
    if isinstance(exc, aiohttp.ClientOSError | aiohttp.ClientPayloadError | ConnectionError):
        return UpstreamError(502, "connection_reset", "upstream connection failed before responding")
    if isinstance(exc, aiohttp.ClientError):
        return UpstreamError(502, "upstream_error", type(exc).__name__)
    return None


async def probe(upstream: Upstream, path: str, timeout_s: float) -> bool:
    """Upstream readiness: GET ``path`` must answer 2xx; with no path, a TCP connect must succeed."""
    try:
        async with asyncio.timeout(timeout_s):
            if not path or upstream.session is None:
                _, writer = await asyncio.open_connection(upstream.host, upstream.port)
                writer.close()
                await writer.wait_closed()
                return True
            async with upstream.session.get(upstream.url(path), allow_redirects=False) as resp:
                await resp.read()
                return 200 <= resp.status < 300
    except (OSError, TimeoutError, aiohttp.ClientError):
        return False
