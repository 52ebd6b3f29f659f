"""Codec registry: picks a dialect for an exchange and decodes it, never raising (pure).

Choice, first match wins: a forced ``dialect`` (per-route override; strict — a body of another
shape is ``wrong_shape``); the route template / path (a hint, used when the body fits that
dialect); the body's shape (``oip_v2``, ``seldon_v1``, ``mlflow``, ``openai``, ``kserve_v1``);
``generic_json`` for any other JSON.  Non-JSON bodies are ``opaque`` with a skip reason.

Model name: from the path (``/v2/models/{name}/infer``, ``/v1/models/{name}:predict``), else what
the codec read from the body (OpenAI ``model``, OIP ``model_name``), else ``default_model``, else
``"default"``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

from sidecar.codecs.base import Codec, Payload
from sidecar.codecs.body import (
    BodyError,
    decode_content,
    is_event_stream,
    is_jsonish,
    json_part,
    media_type,
    parse_json,
)
from sidecar.codecs.generic_json import GenericJsonCodec
from sidecar.codecs.kserve_v1 import KServeV1Codec
from sidecar.codecs.leaves import clean_model_name
from sidecar.codecs.limits import CODEC_ERROR_PREFIX, Limits, SkipReason
from sidecar.codecs.mlflow import MlflowCodec
from sidecar.codecs.oip_v2 import OpenInferenceV2Codec
from sidecar.codecs.openai import OpenAICodec
from sidecar.codecs.seldon_v1 import SeldonV1Codec
from sidecar.models import Decoded, Exchange

OPAQUE = "opaque"
_CODECS: dict[str, Codec] = {
    codec.name: codec
    for codec in (
        KServeV1Codec(),
        OpenInferenceV2Codec(),
        MlflowCodec(),
        SeldonV1Codec(),
        OpenAICodec(),
        GenericJsonCodec(),
    )
}
#: Every dialect name ``decode`` can report (and accept as a forced ``dialect``).
DIALECTS: tuple[str, ...] = (*_CODECS, OPAQUE)
_SNIFF_ORDER = ("oip_v2", "seldon_v1", "openai", "kserve_v1", "mlflow")

# Path patterns (matched at the end of the path, so gateway prefixes still work).
_PATH_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/v2/models/[^/]+(?:/versions/[^/]+)?/infer$"), "oip_v2"),
    (re.compile(r"/v1/models/[^/:]+(?:/versions/[^/:]+)?:(?:predict|classify|regress|explain)$"), "kserve_v1"),
    (re.compile(r"/invocations$"), "mlflow"),
    (re.compile(r"/api/v[01]\.0/predictions$"), "seldon_v1"),
    (re.compile(r"/(?:chat/completions|completions|embeddings|responses)$"), "openai"),
)
_PATH_MODEL = re.compile(
    r"/v2/models/(?P<v2>[^/]+)(?:/versions/[^/]+)?/infer$"
    r"|/v1/models/(?P<v1>[^/:]+)(?:/versions/[^/:]+)?:(?:predict|classify|regress|explain)$"
)


def decode(
    exchange: Exchange,
    *,
    dialect: str | None = None,
    default_model: str = "",
    limits: Limits = Limits(),  # noqa: B008 — frozen, so a shared default is safe
) -> Decoded:
    """Decode one exchange into rows of raw leaves.  Never raises: failures are ``skipped``."""
    try:
        path = exchange.target.split("?", 1)[0]
        model = _path_model(path)
        decoded = _decode(exchange, path, dialect, limits)
        model = model or clean_model_name(decoded.model) or clean_model_name(default_model) or "default"
        return replace(decoded, model=model)
    except Exception as exc:  # a codec bug must never fail the capture worker (fail open)
        return Decoded(dialect=OPAQUE, model=clean_model_name(default_model) or "default", skipped=_error(exc))


def _decode(exchange: Exchange, path: str, forced: str | None, limits: Limits) -> Decoded:
    if forced is not None and forced not in DIALECTS:
        return Decoded(dialect=OPAQUE, skipped=SkipReason.UNKNOWN_DIALECT.value)
    if forced == OPAQUE:
        return Decoded(dialect=OPAQUE, skipped=SkipReason.NOT_PARSED.value)
    if not exchange.request_body:
        return Decoded(dialect=OPAQUE, skipped=SkipReason.EMPTY_BODY.value)
    if not is_jsonish(media_type(exchange.request_headers)):
        return Decoded(dialect=OPAQUE, skipped=SkipReason.UNSUPPORTED_CONTENT_TYPE.value)
    try:
        body = decode_content(
            exchange.request_body,
            exchange.request_headers,
            limit=limits.max_decompressed_bytes,
            truncated=exchange.request_truncated,
        )
        request = parse_json(json_part(body, exchange.request_headers), truncated=exchange.request_truncated)
    except BodyError as exc:
        return Decoded(dialect=OPAQUE, skipped=exc.reason.value)
    codec = _choose(forced, path, request)
    if codec is None:
        return Decoded(dialect=forced or OPAQUE, skipped=SkipReason.WRONG_SHAPE.value)
    response, stream = _response(exchange, limits)
    payload = Payload(
        path=path,
        route=exchange.route,
        request=request,
        response=response,
        response_stream=stream,
        response_truncated=exchange.response_truncated,
        ttfb_s=exchange.ttfb_s,
        limits=limits,
    )
    try:
        return codec.decode(payload)
    except Exception as exc:  # see decode(): contain, name the class, never the payload
        return Decoded(dialect=codec.name, skipped=_error(exc))


def _choose(forced: str | None, path: str, request: Any) -> Codec | None:
    if forced is not None:
        codec = _CODECS[forced]
        return codec if codec.sniff(request) else None
    for pattern, name in _PATH_HINTS:
        if pattern.search(path) and _CODECS[name].sniff(request):
            return _CODECS[name]
    for name in _SNIFF_ORDER:
        if _CODECS[name].sniff(request):
            return _CODECS[name]
    return _CODECS["generic_json"]


def _response(exchange: Exchange, limits: Limits) -> tuple[Any, bytes | None]:
    """(parsed JSON, None) or (None, event-stream bytes); (None, None) when there is nothing usable."""
    if not 200 <= exchange.status < 300 or not exchange.response_body:
        return None, None
    headers = exchange.response_headers
    mtype = media_type(headers)
    try:
        body = decode_content(
            exchange.response_body, headers, limit=limits.max_decompressed_bytes, truncated=exchange.response_truncated
        )
    except BodyError:
        return None, None
    if is_event_stream(mtype) or (not mtype and body.lstrip().startswith(b"data:")):
        return None, body
    if not is_jsonish(mtype):
        return None, None
    try:
        return parse_json(json_part(body, headers), truncated=exchange.response_truncated), None
    except BodyError:
        return None, None


def _path_model(path: str) -> str | None:
    match = _PATH_MODEL.search(path)
    if match is None:
        return None
    return clean_model_name(unquote(match.group("v2") or match.group("v1") or ""))


def _error(exc: BaseException) -> str:
    return CODEC_ERROR_PREFIX + type(exc).__name__
