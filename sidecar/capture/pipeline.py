"""The capture pipeline for one exchange: decode → redact → features → text checks (synchronous).

Runs inside a capture worker process.  Its input holds raw payloads; its output, a
``CaptureResult``, holds only redacted payloads, feature values and counts.  Errors never
escape with payload text: they become a ``skipped`` reason naming only the exception class.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from .. import codecs, features
from ..anomaly import text as text_checks
from ..codecs.overrides import dialect_for, parse_overrides
from ..config import Settings
from ..models import CaptureResult, Decoded, Exchange
from ..quality.joins import parse_label_header
from ..redaction import Redactor
from .pool import failed_result

_BINARY_PREVIEW = "<binary payload: {n} bytes>"
_OPERATOR_FIELDS = ("messages.system.", "messages.developer.")
_OPERATOR_NAMES = frozenset({"system", "instructions"})
_NER_ENTITIES = frozenset({"PERSON", "LOCATION"})
_LLM_ROUTES = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/embeddings"})


class Pipeline:
    """Holds the per-process engines (Presidio is expensive to build: once per worker)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._redactor = Redactor(settings.redaction)
        self._dialects = parse_overrides(settings.capture.dialects)

    def redaction_status(self) -> dict[str, object]:
        return self._redactor.status()

    def process(self, exchange: Exchange) -> CaptureResult:
        try:
            return self._process(exchange)
        except RecursionError:  # nesting deeper than the parsers manage: a property of the payload
            return self._failed(exchange, "too_deep")
        except Exception as exc:  # contained: the class name only, never the message (may quote payload)
            return self._failed(exchange, f"pipeline_error:{type(exc).__name__}")

    def _failed(self, exchange: Exchange, reason: str) -> CaptureResult:
        return failed_result(exchange, reason, self._settings.model or "default")

    def _process(self, exchange: Exchange) -> CaptureResult:
        decoded = codecs.decode(
            exchange, dialect=dialect_for(exchange.target, self._dialects), default_model=self._settings.model
        )
        model = decoded.model or self._settings.model or "default"
        counts: Counter[str] = Counter()
        request = self._redact_payload(decoded.request_json, exchange.request_body, exchange.request_headers, counts)
        response = self._redact_payload(
            decoded.response_json, exchange.response_body, exchange.response_headers, counts
        )
        records = features.extract(
            decoded,
            model=model,
            request_id=exchange.request_id,
            time=exchange.time,
            pii_counter=self._redactor.analyze,
            max_features=self._settings.capture.max_features,
        )
        return CaptureResult(
            request_id=exchange.request_id,
            time=exchange.time,
            route=exchange.route,
            dialect=decoded.dialect,
            model=model,
            status=exchange.status,
            request=request,
            response=response,
            records=records,
            pii_counts=dict(counts),
            text_reasons=self._text_reasons(decoded, exchange),
            llm=decoded.llm,
            skipped=decoded.skipped,
            truncated=exchange.request_truncated or exchange.response_truncated,
            client_key=exchange.client_key,
            trace_id=exchange.trace_id,
            span_id=exchange.span_id,
            duration_s=exchange.duration_s,
            labels=self._header_labels(exchange),
        )

    def _header_labels(self, exchange: Exchange) -> tuple[tuple[str, Any], ...]:
        name = self._settings.labels.header.lower()
        if not name:
            return ()
        items: list[tuple[str, Any]] = []
        for header, value in exchange.request_headers:
            if header == name:
                try:
                    items.extend(parse_label_header(value))
                except ValueError:
                    continue  # a malformed header changes nothing
        return tuple(items[: self._settings.labels.max_batch])

    def _redact_payload(
        self,
        parsed: Any,
        body: bytes,
        headers: tuple[tuple[str, str], ...],
        counts: Counter[str],
    ) -> Any:
        if parsed is not None:
            value, found = self._redactor.redact_json(parsed)
            counts.update(found)
            return value
        if not body:
            return None
        if _is_compressed(headers):
            return _BINARY_PREVIEW.format(n=len(body))
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _BINARY_PREVIEW.format(n=len(body))
        try:  # JSON the codec declined (e.g. opaque route): still redact it structurally
            value, found = self._redactor.redact_json(json.loads(text))
        except ValueError:
            value, found = self._redactor.redact_text(text)
        counts.update(found)
        return value

    def _text_reasons(self, decoded: Decoded, exchange: Exchange) -> tuple[str, ...]:
        reasons: dict[str, None] = {}
        if exchange.request_truncated and exchange.route in _LLM_ROUTES:
            # A prompt beyond the capture cap cannot be scanned whole: its size alone is the finding.
            reasons["extreme_length"] = None
        for row in decoded.inputs:
            for name in decoded.text_fields:
                if name.startswith(_OPERATOR_FIELDS) or name in _OPERATOR_NAMES:
                    continue  # the deployment's own system prompt is not attacker input
                value = row.get(name)
                if isinstance(value, str) and value:
                    reasons.update(dict.fromkeys(text_checks.scan_prompt(value)))
        if decoded.outputs:
            system_prompts = text_checks.extract_system_prompts(decoded.request_json)
            for row in decoded.outputs:
                for name in decoded.text_fields:
                    value = row.get(name)
                    if isinstance(value, str) and value:
                        # NER entities (names, places) are too noisy to flag an output on their own.
                        pii = {k: n for k, n in self._redactor.analyze(value).items() if k not in _NER_ENTITIES}
                        reasons.update(
                            dict.fromkeys(
                                text_checks.scan_response(value, system_prompts=system_prompts, pii_counts=pii)
                            )
                        )
        return tuple(reasons)


def _is_compressed(headers: tuple[tuple[str, str], ...]) -> bool:
    return any(name == "content-encoding" and value.strip().lower() not in {"", "identity"} for name, value in headers)
