"""Header rules of the transparent proxy (hot path, pure): hop-by-hop stripping, request ids.

Multi-valued headers are kept as they are: callers iterate ``(name, value)`` pairs, never a dict.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator

from multidict import CIMultiDict

#: RFC 9110 §7.6.1 connection-specific fields, plus the legacy ones proxies strip in practice.
HOP_BY_HOP: frozenset[str] = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

REQUEST_ID = "x-request-id"
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def _connection_tokens(values: Iterable[str]) -> frozenset[str]:
    tokens = {token.strip().lower() for value in values for token in value.split(",")}
    tokens.discard("")
    return frozenset(tokens)


def forward_headers(
    pairs: Iterable[tuple[str, str]],
    connection: list[str],
    extra_drop: frozenset[str] = frozenset(),
) -> CIMultiDict[str]:
    """Copy ``pairs`` minus hop-by-hop fields, the fields named in ``Connection`` and ``extra_drop``.

    ``connection`` holds the raw values of every ``Connection`` header (usually none or one), so
    the common case costs one set lookup per header.
    """
    drop = HOP_BY_HOP | _connection_tokens(connection) | extra_drop if connection or extra_drop else HOP_BY_HOP
    out: CIMultiDict[str] = CIMultiDict()
    add = out.add
    for name, value in pairs:
        if name.lower() not in drop:
            add(name, value)
    return out


def raw_pairs(raw: Iterable[tuple[bytes, bytes]]) -> Iterator[tuple[str, str]]:
    """Header pairs with the names' original case (aiohttp's parsed views title-case them)."""
    for name, value in raw:
        # Values decoded as aiohttp itself does, so they re-encode to the same bytes.
        yield name.decode("latin-1"), value.decode("utf-8", "surrogateescape")


def valid_request_id(value: str | None) -> bool:
    """A client id is kept only when it is short and made of safe characters (it ends up in logs)."""
    return value is not None and _REQUEST_ID_RE.fullmatch(value) is not None


def new_request_id() -> str:
    """32 hex characters, like ``uuid4().hex`` but without building a UUID object."""
    return os.urandom(16).hex()
