"""Frozen value types passed between layers (pure: no I/O, no framework imports).

The flow is ``Exchange`` (raw, hot path → capture queue) → ``Decoded`` (codec) →
``CaptureResult`` (redacted, features extracted; the only thing that leaves a capture worker)
→ sketches / anomaly / labels.  Everything after ``Exchange`` is free of un-redacted text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: A raw leaf value as a codec sees it.  Strings here may hold PII: they never leave the worker.
RawValue = float | int | bool | str | None
#: A feature value after extraction: numbers (NaN/±Inf allowed), category labels, or missing.
FeatureValue = float | str | None

Role = Literal["input", "output"]
FeatureKind = Literal["numeric", "categorical", "text"]


@dataclass(frozen=True, slots=True)
class Exchange:
    """One sampled request/response pair, as teed by the proxy (raw, possibly compressed bytes)."""

    request_id: str
    time: float  # epoch seconds when the request arrived
    method: str
    target: str  # raw request target (path + query) exactly as received
    route: str  # bounded route template, e.g. "/v2/models/{model}/infer"
    request_headers: tuple[tuple[str, str], ...]  # lower-case names, original order
    request_body: bytes
    request_truncated: bool
    status: int  # upstream status; 0 when no response arrived
    response_headers: tuple[tuple[str, str], ...]
    response_body: bytes
    response_truncated: bool
    duration_s: float  # inbound request duration (to last byte sent to the client)
    upstream_duration_s: float  # upstream call, to last body byte
    ttfb_s: float | None = None  # upstream time to first response body byte
    client_key: str = ""  # hashed client identity (API key header or address); never raw
    trace_id: str | None = None  # hex, when the request's span is sampled
    span_id: str | None = None


@dataclass(frozen=True, slots=True)
class LlmUsage:
    """Usage facts of an LLM call (OpenAI-compatible dialect)."""

    operation: str  # "chat" | "text_completion" | "embeddings"
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reasons: tuple[str, ...] = ()
    streamed: bool = False
    time_to_first_token_s: float | None = None


@dataclass(frozen=True, slots=True)
class Decoded:
    """What a codec made of one exchange.  May hold raw text: lives only inside the worker.

    ``inputs``/``outputs`` hold one row per batch element, mapping feature name → raw leaf.
    ``text_fields`` names the leaves that are free text (derived numeric features, never raw).
    ``request_json``/``response_json`` are the parsed payloads (to be redacted into samples).
    """

    dialect: str
    model: str | None = None
    inputs: tuple[dict[str, RawValue], ...] = ()
    outputs: tuple[dict[str, RawValue], ...] = ()
    text_fields: frozenset[str] = frozenset()
    request_json: Any = None
    response_json: Any = None
    llm: LlmUsage | None = None
    skipped: str | None = None  # reason when the payload could not be parsed ("not_json", ...)


@dataclass(frozen=True, slots=True)
class FeatureRecord:
    """Feature values of one row (one batch element), free of raw text."""

    model: str
    request_id: str
    time: float
    inputs: dict[str, FeatureValue] = field(default_factory=dict)
    outputs: dict[str, FeatureValue] = field(default_factory=dict)
    kinds: dict[str, FeatureKind] = field(default_factory=dict)  # name → kind of the source leaf
    dropped_features: int = 0  # features beyond the per-record cap (``capture.max_features``)


@dataclass(frozen=True, slots=True)
class CaptureResult:
    """Everything the capture worker hands back: redacted payloads, features, counts."""

    request_id: str
    time: float
    route: str
    dialect: str
    model: str
    status: int
    request: Any  # redacted payload (JSON value, or a redacted string for non-JSON)
    response: Any
    records: tuple[FeatureRecord, ...] = ()
    pii_counts: dict[str, int] = field(default_factory=dict)  # entity type → count
    text_reasons: tuple[str, ...] = ()  # anomaly reasons found in raw text (enum values)
    llm: LlmUsage | None = None
    skipped: str | None = None
    truncated: bool = False
    client_key: str = ""
    trace_id: str | None = None
    span_id: str | None = None
    duration_s: float = 0.0
    labels: tuple[tuple[str, Any], ...] = ()  # (request_id, label) from the configured label header


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """The verdict for one feature."""

    name: str
    kind: FeatureKind
    role: Role
    method: str
    statistic: float
    p_value: float
    effect_size: float
    drifted: bool
    n_reference: int = 0
    n_current: int = 0
    extra: dict[str, float] = field(default_factory=dict)  # psi, js, wasserstein_sigma, ...


@dataclass(frozen=True, slots=True)
class DriftResult:
    model: str
    drifted: bool
    reference_n: int
    reference_source: str  # "window" | "profile" | "none"
    current_n: int
    window_seconds: float
    features: tuple[FeatureDrift, ...] = ()
    multivariate: dict[str, float] | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """A retraining trigger or quality alert (no payload text)."""

    kind: str  # "drift" | "performance" | "data_quality"
    model: str
    time: float
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
