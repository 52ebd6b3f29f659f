"""Codec body handling: content encodings, zip bombs, truncation, malformed bodies, caps."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import brotli
import pytest
import zstandard

from sidecar.codecs import SKIP_REASONS, Limits, decode
from sidecar.models import Exchange
from tests.fixtures.exchanges import make_exchange

PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "payloads"
IRIS = (PAYLOADS / "kserve_v1" / "iris.request.json").read_bytes()
IRIS_ROWS = ({"f0": 6.8, "f1": 2.8, "f2": 4.8, "f3": 1.4}, {"f0": 6.0, "f1": 3.4, "f2": 4.5, "f3": 1.6})


def exchange(
    request: bytes,
    *,
    target: str = "/v1/models/iris:predict",
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),),
    truncated: bool = False,
    response: bytes = b"",
    response_headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),),
    response_truncated: bool = False,
) -> Exchange:
    return make_exchange(
        target=target, request_headers=headers, request_body=request, request_truncated=truncated,
        response_headers=response_headers, response_body=response, response_truncated=response_truncated,
        ttfb_s=0.05,
    )  # fmt: skip


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


ENCODINGS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}


@pytest.mark.parametrize("coding", sorted(ENCODINGS))
def test_compressed_requests_and_responses_are_decoded(coding: str) -> None:
    encode = ENCODINGS[coding]
    headers = (("content-type", "application/json"), ("content-encoding", coding))
    d = decode(
        exchange(encode(IRIS), headers=headers, response=encode(b'{"predictions": [1, 2]}'), response_headers=headers)
    )
    assert d.skipped is None
    assert d.inputs == IRIS_ROWS
    assert d.outputs == ({"prediction": 1}, {"prediction": 2})


def test_raw_deflate_and_stacked_encodings() -> None:
    raw = decode(exchange(_raw_deflate(IRIS), headers=(("content-encoding", "deflate"),)))
    assert raw.inputs == IRIS_ROWS
    stacked = brotli.compress(gzip.compress(IRIS))  # "gzip, br": gzip applied first, so br is undone first
    d = decode(exchange(stacked, headers=(("content-type", "application/json"), ("content-encoding", "gzip, br"))))
    assert d.inputs == IRIS_ROWS


@pytest.mark.parametrize("coding", sorted(ENCODINGS))
def test_zip_bombs_stop_at_the_output_cap(coding: str) -> None:
    bomb = ENCODINGS[coding](b'{"instances": [' + b" " * (8 << 20) + b"]}")
    assert len(bomb) < 64 * 1024  # what a 64 KiB tee could hold
    d = decode(exchange(bomb, headers=(("content-encoding", coding),)), limits=Limits(max_decompressed_bytes=1 << 20))
    assert d.skipped == "decompressed_too_large"
    assert d.inputs == ()


def test_unknown_and_corrupt_encodings() -> None:
    assert decode(exchange(IRIS, headers=(("content-encoding", "compress"),))).skipped == "unsupported_encoding"
    many = (("content-encoding", ", ".join(["identity"] * 4)),)
    assert decode(exchange(IRIS, headers=many)).skipped == "unsupported_encoding"
    for coding in ENCODINGS:
        d = decode(exchange(b"definitely not compressed data", headers=(("content-encoding", coding),)))
        assert d.skipped == "corrupt_encoding", coding


def test_truncated_json_is_skipped_as_truncated() -> None:
    d = decode(exchange(IRIS[:30], truncated=True))
    assert (d.dialect, d.skipped, d.inputs) == ("opaque", "truncated", ())
    gz = gzip.compress(IRIS)
    assert (
        decode(exchange(gz[: len(gz) // 2], headers=(("content-encoding", "gzip"),), truncated=True)).skipped
        == "truncated"
    )


def test_truncated_response_keeps_request_rows() -> None:
    d = decode(exchange(IRIS, response=b'{"predictions": [1, ', response_truncated=True))
    assert d.skipped is None and d.inputs == IRIS_ROWS and d.outputs == ()


def test_truncated_sse_stream_uses_complete_frames_only() -> None:
    request = (PAYLOADS / "openai" / "stream.request.json").read_bytes()
    stream = (PAYLOADS / "openai" / "stream.response.sse").read_bytes()
    cut = stream.index(b"Nice") + 2  # inside the frame carrying " Nice"
    d = decode(
        exchange(
            request,
            target="/v1/chat/completions",
            response=stream[:cut],
            response_headers=(("content-type", "text/event-stream"),),
            response_truncated=True,
        )
    )
    assert d.skipped is None
    assert d.outputs[0]["completion"] == "Hello Bob!"
    assert d.outputs[0]["finish_reason"] == "none"
    assert d.llm is not None and d.llm.output_tokens is None and d.llm.streamed


def test_gzipped_sse_stream() -> None:
    request = (PAYLOADS / "openai" / "stream.request.json").read_bytes()
    stream = gzip.compress((PAYLOADS / "openai" / "stream.response.sse").read_bytes())
    headers = (("content-type", "text/event-stream; charset=utf-8"), ("content-encoding", "gzip"))
    d = decode(exchange(request, target="/v1/chat/completions", response=stream, response_headers=headers))
    assert d.outputs[0]["completion"] == "Hello Bob! Nice to meet you."


def test_malformed_frames_in_a_stream_are_ignored() -> None:
    request = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}).encode()
    stream = (
        b": keep-alive comment\n\n"
        b"data: {not json}\n\n"
        b'event: message\ndata: {"choices": [{"index": 0, "delta": {"content": "ok"}}]}\n\n'
        b"data: [1, 2]\n\n"
        b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "weird_reason"}]}\n\n'
        b"data: [DONE]\n\n"
        b'data: {"choices": [{"index": 0, "delta": {"content": "after done"}}]}\n\n'
    )
    d = decode(
        exchange(
            request,
            target="/v1/chat/completions",
            response=stream,
            response_headers=(("content-type", "text/event-stream"),),
        )
    )
    assert d.outputs[0]["completion"] == "ok"
    assert d.outputs[0]["finish_reason"] == "other"  # unknown finish reasons are bounded


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (b"", (), "empty_body"),
        (b"   \n", (), "empty_body"),
        (b"sepal_length,sepal_width\n5.1,3.5\n", (("content-type", "text/csv"),), "unsupported_content_type"),
        (
            b"--x\r\nContent-Disposition: form-data\r\n",
            (("content-type", "multipart/form-data; boundary=x"),),
            "unsupported_content_type",
        ),
        (b"hello world", (), "not_json"),
        (b'{"instances": [1, 2', (), "not_json"),
        (b"\xff\xfe\xfa{}", (), "not_json"),
        (b"[" * 100_000 + b"]" * 100_000, (), "too_deep"),
    ],
)
def test_bad_bodies_are_skipped_with_a_fixed_reason(
    body: bytes, headers: tuple[tuple[str, str], ...], reason: str
) -> None:
    d = decode(exchange(body, headers=headers))
    assert (d.dialect, d.skipped) == ("opaque", reason)
    assert reason in SKIP_REASONS
    assert d.model == "iris"  # sizes and latency are still attributed to the model


def test_wrong_shapes_never_raise() -> None:
    for body in ([1, 2, 3], "str", 3.5, None, {"inputs": "x"}, {"instances": 5}, {"data": {"tensor": {"values": 1}}}):
        d = decode(exchange(json.dumps(body).encode(), target="/api/v1.0/predictions"))
        assert d.skipped is None or d.skipped in SKIP_REASONS


def test_json_with_nan_and_huge_ints_and_json_plus_types() -> None:
    headers = (("content-type", "application/vnd.api+json"),)
    d = decode(exchange(b'{"instances": [[NaN, Infinity, 1e999, 123456789012345678901234567890]]}', headers=headers))
    row = d.inputs[0]
    assert row["f0"] != row["f0"] and row["f1"] == float("inf") and row["f2"] == float("inf")
    assert row["f3"] == 123456789012345678901234567890


def test_triton_binary_extension_header_part() -> None:
    header = json.dumps(
        {
            "inputs": [
                {"name": "a", "shape": [1], "datatype": "FP32", "data": [0.5]},
                {"name": "img", "shape": [1, 4], "datatype": "UINT8", "parameters": {"binary_data_size": 4}},
            ]
        }
    ).encode()
    headers = (("content-type", "application/octet-stream"), ("inference-header-content-length", str(len(header))))
    d = decode(exchange(header + b"\x00\x01\x02\x03", target="/v2/models/m/infer", headers=headers))
    assert d.dialect == "oip_v2" and d.inputs == ({"a": 0.5},)


def test_caps_bound_rows_width_depth_and_text() -> None:
    limits = Limits(max_rows=3, max_leaves=5, max_depth=4, max_text_len=10)
    batch = json.dumps({"instances": [list(range(100)) for _ in range(50)]}).encode()
    d = decode(exchange(batch), limits=limits)
    assert len(d.inputs) == 3 and all(row == {f"f{k}": k for k in range(5)} for row in d.inputs)
    deep = json.dumps({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}, "s": "x" * 100, "w": 2}).encode()
    g = decode(exchange(deep, target="/x"), limits=limits)
    assert g.inputs == ({"s": "x" * 10, "w": 2},)  # the 6-deep leaf is dropped, the string clipped


def test_hostile_keys_become_hashed_feature_names() -> None:
    body = json.dumps({"dataframe_records": [{"jane.doe@example.com": 1, "4111111111111111": 2, "age": 3}]}).encode()
    d = decode(exchange(body, target="/invocations"))
    names = set(d.inputs[0])
    assert "age" in names
    assert not any("@" in n or "4111" in n for n in names)
    assert sum(n.startswith("#k:") for n in names) == 2


class _BrokenCodec:
    name = "generic_json"

    def sniff(self, request: object) -> bool:
        return True

    def decode(self, payload: object) -> object:
        raise ValueError("jane.doe@example.com appears in this message")


def test_a_codec_bug_becomes_a_codec_error_without_payload_text(monkeypatch: pytest.MonkeyPatch) -> None:
    from sidecar.codecs import registry

    monkeypatch.setitem(registry._CODECS, "generic_json", _BrokenCodec())
    d = decode(exchange(b'{"email": "jane.doe@example.com"}', target="/x"))
    assert (d.dialect, d.skipped) == ("generic_json", "codec_error:ValueError")
    assert d.inputs == () and d.request_json is None
    assert "jane" not in repr(d)
