"""Bytes pass both ways unchanged: JSON, binary, gzip, chunked, raw targets, request ids."""

from __future__ import annotations

import hashlib
import re

import aiohttp
from yarl import URL

from tests.fixtures.servers import BLOCK, GZIP_BODY, ModelServer, RunningSidecar


async def test_json_post_reaches_upstream_and_comes_back(model_server: ModelServer, sidecar: RunningSidecar) -> None:
    payload = b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.5]}]}'
    async with (
        aiohttp.ClientSession() as client,
        client.post(f"{sidecar.url}/echo/json", data=payload, headers={"Content-Type": "application/json"}) as resp,
    ):
        assert resp.status == 200
        doc = await resp.json()
    assert doc["body_sha256"] == hashlib.sha256(payload).hexdigest()
    assert model_server.last().body == payload
    sent = dict((k.lower(), v) for k, v in model_server.last().headers)
    assert sent["content-type"] == "application/json"
    assert sent["host"] == URL(sidecar.url).raw_authority  # the client's Host, not the upstream's


async def test_binary_round_trip_is_byte_identical(sidecar: RunningSidecar) -> None:
    body = BLOCK * 3 + b"\x00\xff tail"
    async with (
        aiohttp.ClientSession(auto_decompress=False) as client,
        client.post(f"{sidecar.url}/raw", data=body, headers={"Content-Type": "application/x-bin"}) as resp,
    ):
        assert resp.headers["Content-Type"] == "application/x-bin"
        assert await resp.read() == body


async def test_gzip_response_passes_compressed(sidecar: RunningSidecar) -> None:
    async with (
        aiohttp.ClientSession(auto_decompress=False) as client,
        client.get(f"{sidecar.url}/gzip", headers={"Accept-Encoding": "gzip"}) as resp,
    ):
        assert resp.headers["Content-Encoding"] == "gzip"
        assert await resp.read() == GZIP_BODY


async def test_gzip_request_body_passes_compressed(model_server: ModelServer, sidecar: RunningSidecar) -> None:
    async with (
        aiohttp.ClientSession(auto_decompress=False) as client,
        client.post(
            f"{sidecar.url}/raw",
            data=GZIP_BODY,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        ) as resp,
    ):
        assert resp.headers["Content-Encoding"] == "gzip"
        assert await resp.read() == GZIP_BODY
    assert model_server.last().body == GZIP_BODY


async def test_chunked_response_arrives_whole(sidecar: RunningSidecar) -> None:
    async with aiohttp.ClientSession() as client, client.get(f"{sidecar.url}/chunked/50") as resp:
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        assert await resp.text() == "".join(f"chunk-{i};" for i in range(50))


async def test_chunked_request_body_is_streamed(model_server: ModelServer, sidecar: RunningSidecar) -> None:
    async def parts():  # type: ignore[no-untyped-def]
        for i in range(20):
            yield f"part-{i}|".encode()

    async with aiohttp.ClientSession() as client, client.post(f"{sidecar.url}/raw", data=parts()) as resp:
        assert await resp.read() == b"".join(f"part-{i}|".encode() for i in range(20))
    sent = {k.lower(): v for k, v in model_server.last().headers}
    assert sent.get("transfer-encoding") == "chunked"


async def test_request_target_is_not_reencoded(model_server: ModelServer, sidecar: RunningSidecar) -> None:
    target = "/echo/a%2Fb?x=%20&y=+&z=%7e&&w"
    async with aiohttp.ClientSession() as client, client.get(URL(sidecar.url + target, encoded=True)) as resp:
        assert (await resp.json())["target"] == target
    assert model_server.last().target == target


async def test_request_id_generated_and_kept(model_server: ModelServer, sidecar: RunningSidecar) -> None:
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{sidecar.url}/echo") as resp:
            generated = resp.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated)
        assert dict((k.lower(), v) for k, v in model_server.last().headers)["x-request-id"] == generated
        async with client.get(f"{sidecar.url}/echo", headers={"X-Request-Id": "client-id.42:a_b"}) as resp:
            assert resp.headers["x-request-id"] == "client-id.42:a_b"
        assert dict((k.lower(), v) for k, v in model_server.last().headers)["x-request-id"] == "client-id.42:a_b"
        async with client.get(f"{sidecar.url}/echo", headers={"X-Request-Id": "bad id with spaces"}) as resp:
            replaced = resp.headers["x-request-id"]
    assert replaced != "bad id with spaces" and re.fullmatch(r"[0-9a-f]{32}", replaced)
    ids = [v for k, v in model_server.last().headers if k.lower() == "x-request-id"]
    assert ids == [replaced]


async def test_no_headers_are_added_upstream(model_server: ModelServer, sidecar: RunningSidecar) -> None:
    """aiohttp's automatic User-Agent/Accept/Accept-Encoding must not appear."""
    reader, writer = await __import__("asyncio").open_connection("127.0.0.1", sidecar.app.proxy_port)
    writer.write(b"GET /echo/raw HTTP/1.1\r\nHost: example.test\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    writer.close()
    await writer.wait_closed()
    names = [k.lower() for k, _ in model_server.last().headers]
    assert "user-agent" not in names and "accept-encoding" not in names and "accept" not in names
    sent = dict((k.lower(), v) for k, v in model_server.last().headers)
    assert sent["host"] == "example.test"
    assert sent["x-forwarded-for"] == "10.0.0.1"
