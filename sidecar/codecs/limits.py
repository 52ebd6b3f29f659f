"""Output bounds and the fixed enum of skip reasons shared by every codec (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that bound what a codec may produce from one exchange, whatever the payload holds.

    A codec never fails because a payload is large: it keeps the first rows/leaves in payload order
    and drops the rest, so ``Decoded`` stays bounded by these numbers.
    """

    max_depth: int = 32  # nesting levels followed when flattening; deeper subtrees are dropped
    max_leaves: int = 512  # leaves kept per row (width of one row)
    max_rows: int = 256  # batch rows kept per side
    max_text_len: int = 32_768  # characters kept of one string leaf (longer ones are clipped)
    max_key_len: int = 64  # payload keys longer than this become hashed feature names
    max_decompressed_bytes: int = 1 << 20  # per body; beyond ⇒ ``decompressed_too_large``
    max_sse_events: int = 20_000  # SSE frames read from one streamed response
    max_choices: int = 16  # LLM choices reassembled from one response


class SkipReason(StrEnum):
    """Why a payload yields no features.  ``Decoded.skipped`` holds one of these values, or
    ``codec_error:<ExceptionClass>`` when a codec hit a bug (never payload text).

    When only the *response* side is unusable (truncated, not JSON, error status) the request's
    rows are still returned with ``skipped=None`` and empty ``outputs``.
    """

    EMPTY_BODY = "empty_body"  # no request body (GET, health checks)
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"  # e.g. text/csv, multipart, images
    UNSUPPORTED_ENCODING = "unsupported_encoding"  # Content-Encoding we do not know
    CORRUPT_ENCODING = "corrupt_encoding"  # gzip/deflate/br/zstd stream is invalid
    DECOMPRESSED_TOO_LARGE = "decompressed_too_large"  # zip-bomb guard: output cap reached
    NOT_JSON = "not_json"  # the body does not parse as JSON (or is not UTF-8/16/32)
    TRUNCATED = "truncated"  # the teed body was cut at the capture cap and does not parse
    TOO_DEEP = "too_deep"  # nesting too deep for the JSON parser
    WRONG_SHAPE = "wrong_shape"  # valid JSON, but not the shape the (forced) dialect expects
    UNKNOWN_DIALECT = "unknown_dialect"  # a forced dialect name that is not in ``DIALECTS``
    NOT_PARSED = "not_parsed"  # the route is configured as ``opaque``


#: Every fixed reason (``codec_error:*`` comes on top); handy for bounded metric attributes.
SKIP_REASONS: frozenset[str] = frozenset(r.value for r in SkipReason)
CODEC_ERROR_PREFIX = "codec_error:"
