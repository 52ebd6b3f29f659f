"""The Redactor: PII in texts, JSON values and headers replaced by tags or keyed hashes (pure, synchronous)."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable

from ..config import RedactionSettings
from ..errors import ConfigError
from .engine import DetectionEngine

ENTITY_TYPES: frozenset[str] = frozenset(
    {
        "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "PERSON", "LOCATION",
        "API_KEY", "JWT", "PRIVATE_KEY", "STREET_ADDRESS",
    }
)  # fmt: skip

OPAQUE = "<REDACTED>"  # a value we could not inspect (too deep, not JSON, analysis failed): fail closed
MAX_DEPTH = 64
CACHE_ENTRIES = 2048
CACHE_MAX_CHARS = 65_536  # one capture cap: a body's texts are looked up twice (redaction, then features)
CACHE_TOTAL_CHARS = 4_000_000  # bound on the redacted text the cache holds (~8 MB)
_MIN_NUMBER = 10**6  # integers with 7+ digits may be phone/card/SSN numbers sent as JSON numbers
_HEADER_HINTS = re.compile(r"auth|cookie|secret|passw|api-?key|session|token$")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")


class Redactor:
    """Detects PII with Presidio (+ own recognizers) and replaces it; may be shared by threads.

    Never raises on input: a value that cannot be analysed is replaced by ``<REDACTED>`` as a whole.
    """

    def __init__(self, settings: RedactionSettings) -> None:
        if settings.mode not in ("tag", "hash"):
            raise ConfigError("redaction.mode", f"must be tag or hash, not {settings.mode!r}")
        if settings.ner not in ("auto", "on", "off"):
            raise ConfigError("redaction.ner", f"must be auto, on or off, not {settings.ner!r}")
        if settings.mode == "hash" and not settings.hash_secret:
            raise ConfigError("redaction.hash_secret", "is required when redaction.mode is hash")
        self._mode = settings.mode
        self._engine = DetectionEngine(settings.ner)
        self._deny = frozenset(_norm_key(k) for k in settings.deny_keys)
        self._replace = _replacer(self._mode, settings.hash_secret.encode())
        # Cache keys are keyed digests, so the cache never holds raw text.
        self._cache_key = os.urandom(16)
        self._cached_chars = 0
        self._cache: OrderedDict[bytes, tuple[str, tuple[tuple[str, int], ...]]] = OrderedDict()
        self._lock = threading.Lock()

    def status(self) -> dict[str, object]:
        return {
            "ner": self._engine.ner_model is not None,
            "ner_model": self._engine.ner_model,
            "entities": [e for e in self._engine.entities if e in ENTITY_TYPES],
            "mode": self._mode,
        }

    def analyze(self, text: str) -> dict[str, int]:
        return self.redact_text(text)[1]

    def redact_text(self, text: str, context: str = "") -> tuple[str, dict[str, int]]:
        """Redacted text and entity counts; ``context`` (e.g. the JSON key) may confirm weak matches."""
        return self._cached(text, context, ner=True)

    def redact_json(self, value: object) -> tuple[object, dict[str, int]]:
        """Every string leaf (and key) redacted, deny-listed keys dropped, depth capped; never raises."""
        counts: dict[str, int] = {}
        return self._walk(value, 0, "", counts), counts

    def redact_headers(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for name, value in headers:
            low = name.lower()
            if _norm_key(low) in self._deny or _HEADER_HINTS.search(low):
                continue
            out.append((name, self.redact_text(value, low)[0]))
        return out

    # ------------------------------------------------------------------ internals

    def _cached(self, text: str, context: str, *, ner: bool) -> tuple[str, dict[str, int]]:
        if len(text) < 4:
            return text, {}
        key = b""
        if len(text) <= CACHE_MAX_CHARS:
            key = self._key(text, context, ner)
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
            if hit is not None:
                return hit[0], dict(hit[1])
        try:
            redacted, counts = self._redact(text, context, ner)
        except Exception:  # fail closed: an analyser bug must not let the text through
            redacted, counts = OPAQUE, {}
        if key:
            entry = (redacted, tuple(counts.items()))
            with self._lock:
                self._remember(key, entry)
                if context:
                    # A context only confirms weak matches, so this result redacts at least as much as a
                    # context-free one: safe to reuse for the feature extractor's context-free lookups.
                    self._remember(self._key(text, "", ner), entry)
                while len(self._cache) > CACHE_ENTRIES or self._cached_chars > CACHE_TOTAL_CHARS:
                    _, (old, _) = self._cache.popitem(last=False)
                    self._cached_chars -= len(old)
        return redacted, counts

    def _remember(self, key: bytes, entry: tuple[str, tuple[tuple[str, int], ...]]) -> None:
        previous = self._cache.get(key)
        if previous is not None:
            self._cached_chars -= len(previous[0])
        self._cache[key] = entry
        self._cached_chars += len(entry[0])

    def _key(self, text: str, context: str, ner: bool) -> bytes:
        raw = f"{ner:d}{context}\0{text}".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(raw, key=self._cache_key, digest_size=16).digest()

    def _redact(self, text: str, context: str, ner: bool) -> tuple[str, dict[str, int]]:
        spans = self._engine.find(text, (context,) if context else (), ner=ner)
        spans = [s for s in spans if s.entity in ENTITY_TYPES]
        if not spans:
            return text, {}
        counts: dict[str, int] = {}
        for s in spans:
            counts[s.entity] = counts.get(s.entity, 0) + 1
        # The engine returns disjoint spans, so replacement is a splice.  Presidio's AnonymizerEngine
        # did the same at ~0.4 ms per call (operator objects, re-sorting, re-validation): most of a
        # sample's budget, so we splice ourselves.
        parts: list[str] = []
        last = 0
        for span in sorted(spans, key=lambda s: s.start):
            if span.start < last:  # defensive: never emit an overlapping span's text twice
                continue
            parts.append(text[last : span.start])
            parts.append(self._replace(span.entity, text[span.start : span.end]))
            last = span.end
        parts.append(text[last:])
        return "".join(parts), counts

    def _walk(self, value: object, depth: int, key: str, counts: dict[str, int]) -> object:
        if isinstance(value, str):
            return self._text(value, key, counts)
        if value is None or isinstance(value, bool | float):
            return value
        if isinstance(value, int):
            if abs(value) < _MIN_NUMBER:
                return value
            if value.bit_length() > 128:
                return OPAQUE
            redacted = self._text(str(value), key, counts)
            return value if redacted == str(value) else redacted
        if depth >= MAX_DEPTH:
            return OPAQUE
        if isinstance(value, dict):
            out: dict[str, object] = {}
            for k, v in value.items():
                name = k if isinstance(k, str) else str(k)
                if _norm_key(name) in self._deny:
                    continue
                new = self._text(name, "", counts, ner=False)  # keys are schema: only structured PII
                while new in out:  # two keys redacted to the same tag must not overwrite each other
                    new += "#"
                out[new] = self._walk(v, depth + 1, _CAMEL.sub(r"\1_\2", name), counts)
            return out
        if isinstance(value, list | tuple):
            return [self._walk(v, depth + 1, key, counts) for v in value]
        return OPAQUE

    def _text(self, text: str, key: str, counts: dict[str, int], *, ner: bool = True) -> str:
        redacted, found = self._cached(text, key, ner=ner)
        for entity, n in found.items():
            counts[entity] = counts.get(entity, 0) + n
        return redacted


def _norm_key(key: str) -> str:
    return key.strip().lower().replace("-", "_")


def _replacer(mode: str, secret: bytes) -> Callable[[str, str], str]:
    if mode == "tag":
        return lambda entity, _value: f"<{entity}>"

    def keyed(entity: str, value: str) -> str:
        digest = hmac.new(secret, f"{entity}\0{value}".encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"<{entity}:{digest.hexdigest()[:8]}>"

    return keyed
