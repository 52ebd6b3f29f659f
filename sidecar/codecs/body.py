"""Body preparation for codecs: headers, content types, bounded decompression, JSON parsing (pure)."""

from __future__ import annotations

import io
import json
import zlib
from typing import Any

import brotli
import zstandard

from sidecar.codecs.limits import SkipReason

Headers = tuple[tuple[str, str], ...]

_CHUNK = 64 * 1024
_MAX_CODINGS = 3
# Media types whose body may be JSON.  Clients often send JSON as text/plain or without a type, and
# Triton's binary-tensor extension uses application/octet-stream with a JSON header part.
_JSONISH = frozenset({"application/json", "text/json", "text/plain", "application/octet-stream", ""})


class BodyError(Exception):
    """A body cannot be used; ``reason`` is a ``SkipReason`` (never payload text)."""

    def __init__(self, reason: SkipReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


def header(headers: Headers, name: str) -> str:
    """Last value of a (lower-case) header name, or ''."""
    value = ""
    for key, val in headers:
        if key == name:
            value = val
    return value


def media_type(headers: Headers) -> str:
    return header(headers, "content-type").split(";", 1)[0].strip().lower()


def is_jsonish(mtype: str) -> bool:
    return mtype in _JSONISH or mtype.endswith("+json")


def is_event_stream(mtype: str) -> bool:
    return mtype == "text/event-stream"


def decode_content(body: bytes, headers: Headers, *, limit: int, truncated: bool) -> bytes:
    """Undo Content-Encoding (applied in listed order, so undone in reverse) with an output cap.

    A truncated capture yields the prefix that decompresses; the JSON parser then decides.
    """
    codings = [c.strip().lower() for c in header(headers, "content-encoding").split(",") if c.strip()]
    if len(codings) > _MAX_CODINGS:  # each layer costs a pass up to the cap: refuse silly stacks
        raise BodyError(SkipReason.UNSUPPORTED_ENCODING)
    data = body
    for coding in reversed(codings):
        if coding in ("identity", ""):
            continue
        if coding in ("gzip", "x-gzip"):
            data = _zlib(data, 16 + zlib.MAX_WBITS, limit, truncated)
        elif coding == "deflate":
            # RFC 9110 says zlib-wrapped; some servers send raw deflate, so fall back to it.
            try:
                data = _zlib(data, zlib.MAX_WBITS, limit, truncated)
            except BodyError as exc:
                if exc.reason is not SkipReason.CORRUPT_ENCODING:
                    raise
                data = _zlib(data, -zlib.MAX_WBITS, limit, truncated)
        elif coding == "br":
            data = _brotli(data, limit, truncated)
        elif coding == "zstd":
            data = _zstd(data, limit, truncated)
        else:
            raise BodyError(SkipReason.UNSUPPORTED_ENCODING)
    if len(data) > limit:
        raise BodyError(SkipReason.DECOMPRESSED_TOO_LARGE)
    return data


def _zlib(data: bytes, wbits: int, limit: int, truncated: bool) -> bytes:
    dec = zlib.decompressobj(wbits)
    out = bytearray()
    pending = data
    try:
        while pending:
            # max_length bounds each step, so a bomb never inflates past the cap in memory.
            out += dec.decompress(pending, limit + 1 - len(out))
            if len(out) > limit:
                raise BodyError(SkipReason.DECOMPRESSED_TOO_LARGE)
            pending = dec.unconsumed_tail
            if dec.eof:
                break
    except zlib.error:
        if truncated and out:
            return bytes(out)
        raise BodyError(SkipReason.TRUNCATED if truncated else SkipReason.CORRUPT_ENCODING) from None
    if not dec.eof and not truncated:
        raise BodyError(SkipReason.CORRUPT_ENCODING)
    return bytes(out)


def _brotli(data: bytes, limit: int, truncated: bool) -> bytes:
    dec = brotli.Decompressor()
    out = bytearray()
    try:
        out += dec.process(data, output_buffer_limit=limit + 1)
        # Drain what the decoder buffered, never letting the output grow past the cap.
        while len(out) <= limit and not dec.is_finished() and not dec.can_accept_more_data():
            out += dec.process(b"", output_buffer_limit=limit + 1 - len(out))
    except brotli.error:
        if truncated and out:
            return bytes(out)
        raise BodyError(SkipReason.TRUNCATED if truncated else SkipReason.CORRUPT_ENCODING) from None
    if len(out) > limit:
        raise BodyError(SkipReason.DECOMPRESSED_TOO_LARGE)
    if not dec.is_finished() and not truncated:
        raise BodyError(SkipReason.CORRUPT_ENCODING)
    return bytes(out)


def _zstd(data: bytes, limit: int, truncated: bool) -> bytes:
    dec = zstandard.ZstdDecompressor(max_window_size=1 << 27)
    out = bytearray()
    try:
        with dec.stream_reader(io.BytesIO(data), read_across_frames=True) as reader:
            while len(out) <= limit:
                chunk = reader.read(min(_CHUNK, limit + 1 - len(out)))
                if not chunk:
                    break
                out += chunk
    except zstandard.ZstdError:
        if truncated and out:
            return bytes(out)
        raise BodyError(SkipReason.TRUNCATED if truncated else SkipReason.CORRUPT_ENCODING) from None
    if len(out) > limit:
        raise BodyError(SkipReason.DECOMPRESSED_TOO_LARGE)
    if not out and data and not truncated:
        raise BodyError(SkipReason.CORRUPT_ENCODING)
    return bytes(out)


def json_part(data: bytes, headers: Headers) -> bytes:
    """The JSON part of a body: all of it, or the header part of Triton's binary-tensor extension."""
    raw = header(headers, "inference-header-content-length")
    if raw.isdigit():
        return data[: int(raw)]
    return data


def parse_json(data: bytes, *, truncated: bool) -> Any:
    """Parse JSON bytes (UTF-8/16/32 detected by ``json``); NaN/Infinity are accepted."""
    if not data.strip():
        raise BodyError(SkipReason.TRUNCATED if truncated else SkipReason.EMPTY_BODY)
    try:
        return json.loads(data)
    except RecursionError:
        raise BodyError(SkipReason.TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError):
        raise BodyError(SkipReason.TRUNCATED if truncated else SkipReason.NOT_JSON) from None
