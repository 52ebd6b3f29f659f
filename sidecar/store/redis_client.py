"""Redis client construction and the one place Redis exceptions become store errors (store layer).

``redis://`` and ``rediss://`` (TLS) give a plain asyncio client, ``redis+cluster://`` and
``rediss+cluster://`` a ``RedisCluster``.  redis-py's own retries are off: the store has one timeout
per call (``asyncio.timeout``) and its own reconnect backoff, so a dead Redis costs one timeout, not
several.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import StoreError, StoreUnavailable

T = TypeVar("T")
Client = aioredis.Redis | RedisCluster


def is_cluster_url(url: str) -> bool:
    return url.startswith(("redis+cluster://", "rediss+cluster://"))


def make_client(url: str, *, timeout: float) -> Client:
    """A client for ``url``; nothing connects until the first command."""
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        "encoding_errors": "surrogatepass",  # names from JSON may hold lone surrogates: keep them exact
    }
    if is_cluster_url(url):
        plain = url.replace("+cluster://", "://", 1)
        return RedisCluster.from_url(plain, **options)
    return aioredis.Redis.from_url(url, health_check_interval=30, **options)


class Script:
    """A Lua script shipped with the package, called by SHA (loaded on demand)."""

    def __init__(self, name: str) -> None:
        self.text = resources.files("sidecar.store").joinpath(name).read_text(encoding="utf-8")
        self.sha = hashlib.sha1(self.text.encode()).hexdigest()


def is_noscript(result: object) -> bool:
    return isinstance(result, NoScriptError)  # Redis restarted (or flushed scripts): load and re-send


def describe(exc: BaseException) -> str:
    """A short, payload-free description of a failure for health()/logs."""
    return f"{type(exc).__name__}: {str(exc)[:160]}"


class Calls:
    """Runs Redis calls with a timeout, maps failures to StoreError/StoreUnavailable, counts them."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.errors: dict[str, int] = {}
        self.last_error: str | None = None
        self.healthy = False
        self.round_trips = 0

    async def run(self, op: str, call: Callable[[], Awaitable[T]]) -> T:
        self.round_trips += 1
        try:
            async with asyncio.timeout(self.timeout):
                result = await call()
        except asyncio.CancelledError:
            raise
        except (TimeoutError, RedisConnectionError, RedisTimeoutError, OSError) as exc:
            self._failed(op, exc)
            raise StoreUnavailable(f"redis {op}: {describe(exc)}") from exc
        except RedisError as exc:
            self._failed(op, exc)
            raise StoreError(f"redis {op}: {describe(exc)}") from exc
        self.healthy = True
        return result

    def _failed(self, op: str, exc: BaseException) -> None:
        self.errors[op] = self.errors.get(op, 0) + 1
        self.last_error = f"{op}: {describe(exc)}"
        self.healthy = False

    def count(self, op: str, exc: BaseException) -> None:
        """Count a failure found inside a pipeline's results."""
        self.errors[op] = self.errors.get(op, 0) + 1
        self.last_error = f"{op}: {describe(exc)}"
