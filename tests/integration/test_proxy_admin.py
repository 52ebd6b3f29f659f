"""The admin listener: liveness, readiness (HTTP path or TCP, draining), status shape with injected
providers, extension routes, and the mutation guard."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sidecar.admin import json_error, require_mutation_allowed
from sidecar.app import Sidecar, Wiring
from sidecar.errors import SidecarError
from sidecar.telemetry import build_telemetry
from tests.fixtures.servers import ModelServer, StartSidecar, free_port, sidecar_settings


async def _get(url: str, **kw: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as client, client.request(kw.pop("method", "GET"), url, **kw) as resp:
        return resp.status, await resp.json()


async def _until_status(url: str, status: int, timeout_s: float = 5.0) -> Any:
    async with asyncio.timeout(timeout_s):
        while True:
            code, doc = await _get(url)
            if code == status:
                return doc
            await asyncio.sleep(0.1)


async def test_healthz_and_tcp_readiness(model_server: ModelServer, start_sidecar: StartSidecar) -> None:
    running = await start_sidecar(model_server.url)
    assert await _get(f"{running.admin_url}/healthz") == (200, {"status": "ok"})
    assert await _get(f"{running.admin_url}/readyz") == (200, {"ready": True, "reason": "ok"})
    down = await start_sidecar(f"http://127.0.0.1:{free_port()}")
    assert await _get(f"{down.admin_url}/readyz") == (503, {"ready": False, "reason": "upstream not ready"})
    assert (await _get(f"{down.admin_url}/healthz"))[0] == 200  # liveness never depends on the upstream


async def test_readiness_follows_the_model_readiness_path(
    model_server: ModelServer, start_sidecar: StartSidecar
) -> None:
    model_server.ready = False
    running = await start_sidecar(model_server.url, proxy__readiness_path="/ready")
    assert (await _get(f"{running.admin_url}/readyz"))[0] == 503
    model_server.ready = True
    doc = await _until_status(f"{running.admin_url}/readyz", 200)
    assert doc == {"ready": True, "reason": "ok"}


async def test_readiness_is_503_once_shutdown_begins(model_server: ModelServer, start_sidecar: StartSidecar) -> None:
    running = await start_sidecar(model_server.url)
    running.app.begin_shutdown()
    assert await _get(f"{running.admin_url}/readyz") == (503, {"ready": False, "reason": "shutting down"})
    async with aiohttp.ClientSession() as client, client.get(f"{running.url}/echo/still-served") as resp:
        assert resp.status == 200  # the proxy keeps serving through the quiet period


async def test_status_shape_with_injected_providers(model_server: ModelServer, start_sidecar: StartSidecar) -> None:
    wiring = Wiring(
        capture_status=lambda: {"captured": 3, "dropped": 1, "processed": 2, "queue": 0},
        store_status=lambda: {"backend": "redis", "healthy": False},
    )
    running = await start_sidecar(model_server.url, wiring=wiring)
    status, doc = await _get(f"{running.admin_url}/v1/status")
    assert status == 200
    assert set(doc) >= {"version", "uptime_s", "upstream", "store", "capture"}
    assert doc["upstream"] == {"url": model_server.url, "ready": True}
    assert doc["store"] == {"backend": "redis", "healthy": False}
    assert doc["capture"] == {"captured": 3, "dropped": 1, "skipped": 0, "failed": 0, "processed": 2, "queue": 0}
    assert doc["uptime_s"] >= 0


async def test_extra_routes_and_mutation_guard(model_server: ModelServer, start_sidecar: StartSidecar) -> None:
    routes = web.RouteTableDef()

    @routes.post("/v1/thing")
    async def thing(request: web.Request) -> web.Response:
        require_mutation_allowed(request, "s3cret")
        return web.json_response({"ok": True})

    @routes.post("/v1/open")
    async def open_thing(request: web.Request) -> web.Response:
        require_mutation_allowed(request, "")  # no token: loopback only, and we are on loopback
        return web.json_response({"ok": True})

    running = await start_sidecar(model_server.url, wiring=Wiring(admin_routes=list(routes)))
    url = f"{running.admin_url}/v1/thing"
    assert await _get(url, method="POST") == (401, {"error": "unauthorized", "detail": "a bearer token is required"})
    code, doc = await _get(url, method="POST", headers={"Authorization": "Bearer wrong"})
    assert (code, doc["error"]) == (403, "forbidden")
    assert await _get(url, method="POST", headers={"Authorization": "Bearer s3cret"}) == (200, {"ok": True})
    assert await _get(f"{running.admin_url}/v1/open", method="POST") == (200, {"ok": True})
    code, doc = await _get(f"{running.admin_url}/v1/nope")
    assert code == 404 and doc["error"] == "not_found"


async def test_json_error_shape() -> None:
    resp = json_error(409, "ambiguous_model", "models: a, b")
    assert resp.status == 409 and resp.content_type == "application/json"
    assert resp.body == b'{"error": "ambiguous_model", "detail": "models: a, b"}'


async def test_admin_port_in_use_is_a_clear_error(model_server: ModelServer, start_sidecar: StartSidecar) -> None:
    running = await start_sidecar(model_server.url)
    settings = sidecar_settings(model_server.url, admin__listen=f"127.0.0.1:{running.app.admin_port}")
    other = Sidecar(settings, telemetry=build_telemetry({}), wiring=Wiring())
    with pytest.raises(SidecarError, match=f"cannot listen on 127.0.0.1:{running.app.admin_port}"):
        await other.start()
    assert other.proxy.upstream.session is None  # the proxy side was closed again
