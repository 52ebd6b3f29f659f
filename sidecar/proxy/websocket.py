"""WebSocket tunnelling: relay messages between the client and the upstream (proxy layer).

Upgrades are relayed message by message (text, binary, close code); each side answers pings
itself.  Tunnelled connections are forwarded, not measured: they have no request/response shape.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
from aiohttp import WSMsgType, web

from .headers import HOP_BY_HOP, forward_headers
from .upstream import Upstream, map_error

# The client library negotiates its own handshake with the upstream.
_HANDSHAKE = frozenset(
    {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol"}
)


async def _relay(
    source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    target: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
) -> None:
    async for msg in source:
        if msg.type is WSMsgType.TEXT:
            await target.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await target.send_bytes(msg.data)
        elif msg.type is WSMsgType.ERROR:
            break
    code = source.close_code or aiohttp.WSCloseCode.OK
    await target.close(code=code)


async def tunnel_websocket(
    request: web.BaseRequest, upstream: Upstream, _span_attrs: Mapping[str, str | int]
) -> web.StreamResponse:
    headers = request.headers
    up_headers = forward_headers(headers.items(), headers.getall("Connection", []), HOP_BY_HOP | _HANDSHAKE)
    protocols = tuple(p.strip() for p in headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip())
    session = upstream.session
    assert session is not None
    try:
        up_ws = await session.ws_connect(
            upstream.url(request.raw_path),
            headers=up_headers,
            protocols=protocols,
            autoping=True,
            compress=0,
            max_msg_size=0,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10.0),
        )
    except aiohttp.WSServerHandshakeError as exc:
        return web.Response(status=exc.status or 502, text="upstream refused the websocket upgrade")
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        failure = map_error(exc, upstream.response_timeout)
        return web.json_response(
            {"error": failure.error_type if failure else "upstream_error", "detail": "websocket upstream failed"},
            status=failure.status if failure else 502,
        )
    client_ws = web.WebSocketResponse(
        protocols=(up_ws.protocol,) if up_ws.protocol else (), autoping=True, compress=False, max_msg_size=0
    )
    try:
        await client_ws.prepare(request)
        to_up = asyncio.create_task(_relay(client_ws, up_ws), name="ws-client-to-upstream")
        to_client = asyncio.create_task(_relay(up_ws, client_ws), name="ws-upstream-to-client")
        try:
            await asyncio.wait((to_up, to_client), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (to_up, to_client):
                task.cancel()
            await asyncio.gather(to_up, to_client, return_exceptions=True)
    finally:
        await up_ws.close()
        await client_ws.close()
    return client_ws
