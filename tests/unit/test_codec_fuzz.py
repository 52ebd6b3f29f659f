"""Property-based fuzzing of decode(): never raises, never reports a codec bug, output bounded."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import brotli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.codecs import DIALECTS, SKIP_REASONS, Limits, decode
from sidecar.features import extract
from sidecar.models import Decoded, Exchange
from tests.fixtures.exchanges import make_exchange

LIMITS = Limits(max_rows=8, max_leaves=16, max_depth=6, max_text_len=64, max_decompressed_bytes=1 << 16)
FUZZ = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
TARGETS = (
    "/v1/models/m:predict",
    "/v2/models/m/infer",
    "/invocations",
    "/api/v1.0/predictions",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/anything",
)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=30,
)
# Inside dialect-shaped strategies: small values, so generation stays cheap and shapes stay close.
small = st.recursive(
    scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=6
)


def _exchange(
    target: str,
    request: bytes,
    response: bytes,
    *,
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),),
    response_headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),),
    truncated: bool = False,
) -> Exchange:
    return make_exchange(
        target=target, request_headers=headers, request_body=request, request_truncated=truncated,
        response_headers=response_headers, response_body=response, response_truncated=truncated, ttfb_s=0.01,
    )  # fmt: skip


def _dump(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def assert_bounded(d: Decoded, limits: Limits = LIMITS) -> None:
    assert d.dialect in DIALECTS
    assert d.skipped is None or d.skipped in SKIP_REASONS, d.skipped  # codec_error:* would be a bug
    assert isinstance(d.model, str) and 0 < len(d.model) <= 129
    assert len(d.inputs) <= limits.max_rows and len(d.outputs) <= limits.max_rows
    names: set[str] = set()
    for row in (*d.inputs, *d.outputs):
        assert len(row) <= limits.max_leaves
        for name, value in row.items():
            names.add(name)
            assert len(name) <= (limits.max_depth + 2) * (limits.max_key_len + 16)
            assert value is None or isinstance(value, bool | int | float | str)
            assert not isinstance(value, str) or len(value) <= limits.max_text_len
    assert d.text_fields <= names
    # whatever the codec produced, feature extraction copes with it and stays within its cap
    records = extract(d, model=d.model or "", request_id="r", time=0.0, max_features=24)
    assert all(len(r.inputs) + len(r.outputs) <= 24 for r in records)


@FUZZ
@given(st.sampled_from(TARGETS), json_values, json_values)
def test_any_json_on_any_route(target: str, request: Any, response: Any) -> None:
    assert_bounded(decode(_exchange(target, _dump(request), _dump(response)), limits=LIMITS))


@FUZZ
@given(st.sampled_from(DIALECTS), json_values, json_values)
def test_any_json_under_any_forced_dialect(dialect: str, request: Any, response: Any) -> None:
    assert_bounded(decode(_exchange("/x", _dump(request), _dump(response)), dialect=dialect, limits=LIMITS))


@FUZZ
@given(
    st.sampled_from(TARGETS),
    st.binary(max_size=300),
    st.binary(max_size=300),
    st.sampled_from(["", "gzip", "deflate", "br", "zstd", "gzip, br", "bogus"]),
    st.sampled_from(["application/json", "text/event-stream", "text/plain", "", "image/png"]),
    st.booleans(),
)
def test_arbitrary_bytes(target: str, request: bytes, response: bytes, coding: str, ctype: str, cut: bool) -> None:
    headers = (("content-type", ctype), ("content-encoding", coding))
    assert_bounded(
        decode(
            _exchange(target, request, response, headers=headers, response_headers=headers, truncated=cut),
            limits=LIMITS,
        )
    )


datatypes = st.sampled_from(["BOOL", "UINT8", "INT64", "FP16", "FP32", "FP64", "BYTES", "BF16", "WEIRD"])
tensors = st.fixed_dictionaries(
    {
        "name": st.text(max_size=10),
        "shape": st.lists(st.integers(min_value=-1, max_value=5), max_size=4) | small,
        "datatype": datatypes,
        "data": st.lists(scalars | st.lists(scalars, max_size=4), max_size=30) | small,
    }
)


@FUZZ
@given(st.lists(tensors, min_size=1, max_size=4), st.lists(tensors, max_size=3), st.booleans())
def test_oip_v2_shaped_tensors(inputs: list[Any], outputs: list[Any], cut: bool) -> None:
    request = _dump({"inputs": inputs})
    response = _dump({"model_name": "m", "outputs": outputs})
    d = decode(_exchange("/v2/models/m/infer", request, response), limits=LIMITS)
    assert d.dialect == "oip_v2"
    assert_bounded(d)
    if cut:  # the same bodies cut and gzipped as a capped tee would hold them
        z = gzip.compress(request)[: max(1, len(request) // 3)]
        headers = (("content-type", "application/json"), ("content-encoding", "gzip"))
        assert_bounded(
            decode(_exchange("/v2/models/m/infer", z, response, headers=headers, truncated=True), limits=LIMITS)
        )


seldon_bodies = (
    st.fixed_dictionaries({"data": st.fixed_dictionaries({"names": small, "ndarray": small})})
    | st.fixed_dictionaries(
        {"data": st.fixed_dictionaries({"tensor": st.fixed_dictionaries({"shape": small, "values": small})})}
    )
    | st.fixed_dictionaries({"strData": small})
    | st.fixed_dictionaries({"jsonData": small})
)
tabular_bodies = (
    st.fixed_dictionaries({"instances": small})
    | st.fixed_dictionaries({"inputs": small})
    | st.fixed_dictionaries({"dataframe_split": st.fixed_dictionaries({"columns": small, "data": small})})
    | st.fixed_dictionaries({"dataframe_records": st.lists(small, max_size=5)})
)


@FUZZ
@given(seldon_bodies, seldon_bodies | small)
def test_seldon_shaped(request: Any, response: Any) -> None:
    assert_bounded(decode(_exchange("/api/v1.0/predictions", _dump(request), _dump(response)), limits=LIMITS))


@FUZZ
@given(st.sampled_from(["/v1/models/m:predict", "/invocations"]), tabular_bodies, small)
def test_tabular_shaped(target: str, request: Any, response: Any) -> None:
    assert_bounded(decode(_exchange(target, _dump(request), _dump({"predictions": response})), limits=LIMITS))


messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant", "tool", "x"]), "content": small}),
    max_size=5,
)
events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["response.created", "response.output_text.delta", "response.completed", "x"]),
        "delta": st.text(max_size=8) | small,
        "response": st.fixed_dictionaries(
            {
                "model": small,
                "status": small,
                "output": small
                | st.lists(
                    st.fixed_dictionaries({"type": st.sampled_from(["message", "function_call"]), "content": small}),
                    max_size=2,
                ),
                "usage": small,
            }
        )
        | small,
    }
)
tool_calls = small | st.lists(
    st.fixed_dictionaries(
        {
            "index": st.integers(min_value=0, max_value=70) | small,
            "id": small,
            "function": st.fixed_dictionaries({"name": small, "arguments": st.text(max_size=20) | small}) | small,
        }
    ),
    max_size=2,
)
chunks = st.fixed_dictionaries(
    {
        "model": small,
        "choices": st.lists(
            st.fixed_dictionaries(
                {
                    "index": st.integers(min_value=-2, max_value=40) | small,
                    "delta": st.fixed_dictionaries({"content": st.text(max_size=8) | small, "tool_calls": tool_calls}),
                    "text": small,
                    "finish_reason": small,
                }
            ),
            max_size=3,
        ),
        "usage": small,
    }
)


@FUZZ
@given(
    messages,
    st.lists(chunks | events | small, max_size=8),
    st.booleans(),
    st.sampled_from(["\n\n", "\r\n\r\n", "\n"]),
    st.sampled_from(["/v1/chat/completions", "/v1/completions", "/v1/responses"]),
)
def test_openai_sse_shaped(msgs: list[Any], frames: list[Any], cut: bool, sep: str, target: str) -> None:
    request = _dump({"model": "gpt", "messages": msgs, "input": msgs, "prompt": "p", "stream": True})
    stream = "".join(f"data: {json.dumps(f)}{sep}" for f in frames) + f"data: [DONE]{sep}"
    raw = stream.encode()
    if cut:
        raw = raw[: len(raw) // 2]
    headers = (("content-type", "text/event-stream"),)
    d = decode(_exchange(target, request, raw, response_headers=headers, truncated=cut), limits=LIMITS)
    assert d.dialect == "openai"
    assert_bounded(d)


@FUZZ
@given(small, st.sampled_from(["gzip", "deflate", "br"]), st.integers(min_value=0, max_value=64))
def test_compressed_json_and_cut_points(value: Any, coding: str, keep: int) -> None:
    raw = _dump(value)
    packed = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress}[coding](raw)
    headers = (("content-type", "application/json"), ("content-encoding", coding))
    whole = decode(_exchange("/anything", packed, b"", headers=headers), limits=LIMITS)
    assert_bounded(whole)
    assert whole.skipped in (None, "decompressed_too_large", "too_deep", "wrong_shape")
    assert_bounded(decode(_exchange("/anything", packed[:keep], b"", headers=headers, truncated=True), limits=LIMITS))
