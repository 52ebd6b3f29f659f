"""Header rules of the transparent proxy (hot path, pure): hop-by-hop stripping, request ids.

Multi-valued headers are kept as they are: callers iterate ``(name, value)`` pairs, never a dict.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterable, Sequence

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


_HOP_BYTES: frozenset[bytes] = frozenset(name.encode() for name in HOP_BY_HOP)

Pairs = list[tuple[str, str]]


def drop_set(*names: str) -> frozenset[bytes]:
    """Hop-by-hop fields plus ``names``, as the lower-case bytes ``forward_pairs`` compares."""
    return _HOP_BYTES | frozenset(name.lower().encode() for name in names)


def _connection_tokens(values: Iterable[str]) -> frozenset[bytes]:
    tokens = {token.strip().lower().encode("latin-1") for value in values for token in value.split(",")}
    tokens.discard(b"")
    return frozenset(tokens)


def forward_pairs(raw: Iterable[tuple[bytes, bytes]], connection: Sequence[str], drop: frozenset[bytes]) -> Pairs:
    """The header pairs to forward: ``raw`` minus ``drop`` and the fields named in ``Connection``.

    Works on aiohttp's raw header bytes so names keep their original case and repeated fields
    (several ``Set-Cookie``) stay separate and in order.  ``connection`` holds the values of
    every ``Connection`` header (usually none or one).  Values are decoded as aiohttp decodes
    them, so they re-encode to the same bytes.
    """
    if connection:
        drop = drop | _connection_tokens(connection)
    return [(n.decode("latin-1"), v.decode("utf-8", "surrogateescape")) for n, v in raw if n.lower() not in drop]


def forward_headers(
    pairs: Iterable[tuple[str, str]],
    connection: list[str],
    extra_drop: frozenset[str] = frozenset(),
) -> CIMultiDict[str]:
    """Like ``forward_pairs`` for already-decoded pairs (websocket handshake), as a CIMultiDict."""
    drop = HOP_BY_HOP | {t.decode("latin-1") for t in _connection_tokens(connection)} | extra_drop
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in pairs:
        if name.lower() not in drop:
            out.add(name, value)
    return out


def valid_request_id(value: str | None) -> bool:
    """A client id is kept only when it is short and made of safe characters (it ends up in logs)."""
    return value is not None and _REQUEST_ID_RE.fullmatch(value) is not None


_ids = random.Random(os.urandom(32))


def new_request_id() -> str:
    """32 random hex characters.  An id, not a secret: a seeded PRNG avoids a syscall per request."""
    return f"{_ids.getrandbits(128):032x}"
