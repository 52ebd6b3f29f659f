"""Header rules and HTTP edge cases: hop-by-hop, Connection-named, multi-valued, limits (431),
Expect: 100-continue, HEAD/204/304, redirects passed back."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.fixtures.servers import ModelServer, RunningSidecar


async def _raw(port: int, request: bytes, *, until_close: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    try:
        async with asyncio.timeout(5):
            return await reader.read() if until_close else await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()
        await writer.wait_closed()


def _names(model_server: ModelServer) -> list[str]:
    return [k.lower() for k, _ in model_server.last().headers]


async def test_hop_by_hop_and_connection_named_headers_are_stripped(
    model_server: ModelServer, sidecar: RunningSidecar
) -> None:
    request = (
        b"GET /echo/h HTTP/1.1\r\nHost: t\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\n"
        b"TE: trailers\r\nProxy-Authorization: Basic eA==\r\nX-Keep: 1\r\nX-Forwarded-Proto: https\r\n\r\n"
    )
    response = await _raw(sidecar.app.proxy_port, request)
    assert response.startswith(b"HTTP/1.1 200")
    names = _names(model_server)
    for stripped in ("connection", "x-hop", "keep-alive", "te", "proxy-authorization"):
        assert stripped not in names
    assert "x-keep" in names and "x-forwarded-proto" in names


async def test_multi_valued_response_headers_survive(sidecar: RunningSidecar) -> None:
    async with aiohttp.ClientSession() as client, client.get(f"{sidecar.url}/cookies") as resp:
        assert resp.headers.getall("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/; HttpOnly"]
        assert resp.headers.getall("X-Multi") == ["one", "two"]
        assert "X-Private" not in resp.headers  # named in the upstream's Connection header
        assert "Keep-Alive" not in resp.headers


async def test_multi_valued_request_headers_survive(model_server: ModelServer, sidecar: RunningSidecar) -> None:
    request = b"GET /echo/m HTTP/1.1\r\nHost: t\r\nX-Dup: 1\r\nX-Dup: 2\r\nCookie: a=1\r\nConnection: close\r\n\r\n"
    await _raw(sidecar.app.proxy_port, request)
    assert [v for k, v in model_server.last().headers if k.lower() == "x-dup"] == ["1", "2"]


async def test_64k_header_field_is_accepted(model_server: ModelServer, sidecar: RunningSidecar) -> None:
    value = "v" * (64 * 1024 - len("X-Big: ") - 16)
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"{sidecar.url}/echo/big", headers={"X-Big": value}) as resp,
    ):
        assert resp.status == 200
    assert dict((k.lower(), v) for k, v in model_server.last().headers)["x-big"] == value


async def test_header_field_over_limit_is_431(sidecar: RunningSidecar) -> None:
    request = b"GET /echo HTTP/1.1\r\nHost: t\r\nX-Big: " + b"v" * (65 * 1024) + b"\r\n\r\n"
    response = await _raw(sidecar.app.proxy_port, request)
    assert response.split(b" ", 2)[1] == b"431"
    assert b"request_header_fields_too_large" in response


async def test_too_many_headers_is_431(sidecar: RunningSidecar) -> None:
    lines = b"".join(b"X-H%d: %d\r\n" % (i, i) for i in range(300))
    response = await _raw(sidecar.app.proxy_port, b"GET /echo HTTP/1.1\r\nHost: t\r\n" + lines + b"\r\n")
    assert response.split(b" ", 2)[1] == b"431"


async def test_250_headers_are_fine(model_server: ModelServer, sidecar: RunningSidecar) -> None:
    lines = b"".join(b"X-H%d: %d\r\n" % (i, i) for i in range(250))
    request = b"GET /echo/many HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + lines + b"\r\n"
    response = await _raw(sidecar.app.proxy_port, request)
    assert response.startswith(b"HTTP/1.1 200")
    assert sum(1 for k in _names(model_server) if k.startswith("x-h")) == 250


async def test_expect_100_continue_does_not_hang(model_server: ModelServer, sidecar: RunningSidecar) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.app.proxy_port)
    writer.write(b"POST /raw HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    await writer.drain()
    async with asyncio.timeout(5):
        interim = await reader.readuntil(b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100")
        writer.write(b"hello")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert await reader.readexactly(5) == b"hello"
    writer.close()
    await writer.wait_closed()
    assert "expect" not in _names(model_server)


async def test_expect_100_continue_with_aiohttp_client(sidecar: RunningSidecar) -> None:
    async with (
        aiohttp.ClientSession() as client,
        client.post(f"{sidecar.url}/raw", data=b"payload", expect100=True) as resp,
    ):
        assert await resp.read() == b"payload"


async def test_head_204_304_have_no_body(sidecar: RunningSidecar) -> None:
    head = await _raw(sidecar.app.proxy_port, b"HEAD /bytes/5000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: 5000" in head
    assert head.endswith(b"\r\n\r\n")  # no body bytes after the header block
    for code in (204, 304):
        raw = await _raw(
            sidecar.app.proxy_port, b"GET /status/%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % code
        )
        assert raw.startswith(b"HTTP/1.1 %d" % code)
        assert b'ETag: "v1"' in raw
        assert raw.endswith(b"\r\n\r\n")


async def test_keep_alive_serves_several_requests_on_one_connection(sidecar: RunningSidecar) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.app.proxy_port)
    try:
        for _ in range(3):
            writer.write(b"GET /status/204 HTTP/1.1\r\nHost: t\r\n\r\n")
            await writer.drain()
            async with asyncio.timeout(5):
                assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 204")
    finally:
        writer.close()
        await writer.wait_closed()


async def test_redirect_is_passed_back_not_followed(model_server: ModelServer, sidecar: RunningSidecar) -> None:
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"{sidecar.url}/redirect", allow_redirects=False) as resp,
    ):
        assert resp.status == 302
        assert resp.headers["Location"] == "/echo/after-redirect"
    assert not any(s.target == "/echo/after-redirect" for s in model_server.seen)


async def test_http10_client_gets_a_close_delimited_body(sidecar: RunningSidecar) -> None:
    raw = await _raw(sidecar.app.proxy_port, b"GET /chunked/3 HTTP/1.0\r\nHost: t\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200")
    assert b"chunked" not in head.lower()
    assert body == b"chunk-0;chunk-1;chunk-2;"
