"""Inline enforce gate: the few checks cheap enough to run on the hot path before forwarding (pure).

Only body-local, linear checks are allowed here (attack patterns on the JSON string leaves,
invisible/bidi characters, body length); statistical and behavioural reasons need state and run
after the fact in the capture worker.  The gate returns a reason value, never text from the body.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .reasons import Reason, is_reason
from .text import pattern_reasons, unicode_reasons

#: Reasons the gate can decide on its own (configuring any other reason for enforcement is an error).
INLINE_REASONS: frozenset[str] = frozenset(
    {
        Reason.PROMPT_INJECTION,
        Reason.JAILBREAK,
        Reason.SYSTEM_PROMPT_EXTRACTION,
        Reason.SECRET_EXTRACTION,
        Reason.MARKUP_INJECTION,
        Reason.TOOL_CALL_SMUGGLING,
        Reason.INVISIBLE_CHARACTERS,
        Reason.BIDI_CONTROL,
        Reason.EXTREME_LENGTH,
    }
)
_UNICODE = frozenset({Reason.INVISIBLE_CHARACTERS, Reason.BIDI_CONTROL})
_PATTERN = INLINE_REASONS - _UNICODE - {Reason.EXTREME_LENGTH}
_BINARY = ("octet-stream", "protobuf", "image/", "audio/", "video/", "grpc", "msgpack", "zip", "pdf")
_ORDER = [r.value for r in Reason]


_OPERATOR_ROLES = frozenset({"system", "developer"})
_OPERATOR_KEYS = frozenset({"instructions", "system"})  # Responses API / Anthropic-style top-level prompts


class InlineGate:
    """Decides whether a request body matches one of the enforced reasons.

    ``check`` is synchronous, never raises, and costs time linear in the body; patterns read the
    last ``max_scan`` characters of the string leaves (where the newest user turn is), which
    bounds the time on the event loop; the capture worker still scans everything after the fact.
    Bodies it cannot read pass.
    """

    def __init__(
        self, reasons: Iterable[str], *, max_body: int = 1 << 20, max_scan: int = 16_384, max_leaves: int = 4096
    ) -> None:
        wanted = frozenset(reasons)
        unknown = sorted(r for r in wanted if not is_reason(r))
        if unknown:
            raise ValueError(f"unknown anomaly reasons: {', '.join(unknown)}")
        slow = sorted(wanted - INLINE_REASONS)
        if slow:
            raise ValueError(f"not cheap enough to enforce inline (flagged after the fact instead): {', '.join(slow)}")
        self.reasons = wanted
        self.max_body = max_body
        self._max_scan = max_scan
        self._max_leaves = max_leaves
        self._unicode = bool(wanted & _UNICODE)
        self._patterns = bool(wanted & _PATTERN)

    def __bool__(self) -> bool:
        return bool(self.reasons)

    def check(self, body: bytes, content_type: str | None) -> str | None:
        """The first enforced reason (in enum order) the body matches, or None to let it through."""
        if not self.reasons or not body:
            return None
        if Reason.EXTREME_LENGTH in self.reasons and len(body) > self.max_body:
            return Reason.EXTREME_LENGTH.value
        kind = (content_type or "").lower()
        if any(marker in kind for marker in _BINARY):
            return None
        ascii_only = body.isascii()
        check_unicode = self._unicode and not (ascii_only and b"\\u" not in body)  # no escapes: nothing hidden
        if not (check_unicode or self._patterns):
            return None
        text = self._text(body[: self.max_body], kind)
        if not text:
            return None
        found: set[str] = set()
        if check_unicode:
            found |= unicode_reasons(text) & self.reasons
        if self._patterns:
            found |= pattern_reasons(text, self.reasons) & self.reasons
        return min(found, key=_ORDER.index) if found else None

    def _text(self, body: bytes, kind: str) -> str:
        raw = body.decode("utf-8", "replace")
        if "json" in kind or raw.lstrip()[:1] in ("{", "["):
            try:
                doc = json.loads(raw)
            except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
                return raw[-self._max_scan :]
            # The tail: chat payloads end with the newest user turn, where an injection arrives.
            return "\n".join(self._leaves(doc))[-self._max_scan :]
        return raw[-self._max_scan :]

    def _leaves(self, doc: Any) -> list[str]:
        """String values of a JSON document, depth-first, at most ``max_leaves`` of them."""
        out: list[str] = []
        stack = [doc]
        while stack and len(out) < self._max_leaves:
            node = stack.pop()
            if isinstance(node, str):
                out.append(node)
            elif isinstance(node, dict):
                if node.get("role") in _OPERATOR_ROLES:
                    continue  # the deployment's own system prompt is not attacker input
                stack.extend(reversed([v for k, v in node.items() if k not in _OPERATOR_KEYS]))
            elif isinstance(node, list):
                stack.extend(reversed(node))
        return out
