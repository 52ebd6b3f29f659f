"""Admin API guards and the JSON error shape shared by every admin route (admin layer)."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Handler

from ..errors import AdminError

_log = logging.getLogger("sidecar.admin")


def json_error(status: int, error: str, detail: str = "") -> web.Response:
    """``{"error", "detail"}`` with ``status`` (the one error shape of the admin API)."""
    return web.json_response({"error": error, "detail": detail}, status=status)


def error_response(exc: AdminError) -> web.Response:
    """The JSON error body of ``exc``, with its extra fields."""
    return web.json_response({"error": exc.error, "detail": exc.detail, **exc.extra}, status=exc.status)


def choose_model(name: str | None, models: Sequence[str], default: str, *, what: str) -> str | None:
    """The model a model-scoped call is about (DESIGN: ?model=, else the only one seen, else 409).

    ``what`` says what the caller has for a model (for the 404 detail).  None when nothing has been
    seen and no default is configured.
    """
    if name is not None:
        if not 0 < len(name) <= 256:
            raise AdminError(400, "invalid_model", "model must be 1..256 characters")
        if name not in models:
            raise AdminError(404, "unknown_model", f"no {what} for model {name!r}", models=list(models))
        return name
    if len(models) == 1:
        return models[0]
    if not models:
        return default or None
    raise AdminError(409, "model_required", "several models seen: pass ?model=NAME", models=list(models))


def _is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def require_mutation_allowed(request: web.BaseRequest, token: str) -> None:
    """Raise ``AdminError`` (401/403) unless the caller may change state.

    With a token set, ``Authorization: Bearer <token>`` is required (compared in constant time);
    with none set, only loopback callers are allowed.  Use ``error_middleware`` (or catch
    ``AdminError``) to turn the exception into the JSON error response.
    """
    if token:
        header = request.headers.get("Authorization", "")
        scheme, _, supplied = header.partition(" ")
        if scheme.lower() != "bearer" or not supplied:
            raise AdminError(401, "unauthorized", "a bearer token is required")
        if not hmac.compare_digest(supplied.strip().encode(), token.encode()):
            raise AdminError(403, "forbidden", "the bearer token is not valid")
        return
    if not _is_loopback(request.remote):
        raise AdminError(403, "forbidden", "mutating calls are allowed from loopback only when no admin token is set")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turns ``AdminError`` and aiohttp's own HTTP errors into the JSON error shape."""
    try:
        return await handler(request)
    except AdminError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, exc.reason.lower().replace(" ", "_"), f"{request.method} {request.path}")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug must still answer in the API's error shape; no payload in the detail
        _log.exception("admin request failed: %s %s", request.method, request.path)
        return json_error(500, "internal_error", type(exc).__name__)
