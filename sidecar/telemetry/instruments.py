"""Every metric the sidecar emits, declared once with its unit (telemetry layer, OTel API only).

Other modules never create instruments: they call the methods here, so names, units and the
attribute sets (all bounded) live in one file.  Attribute mappings on the hot path are cached per
``(method, route, status)`` so a request allocates no new dicts once the caches are warm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from . import attributes as A
from .latency import LatencyHistogram

# Metric names (DESIGN.md telemetry table).
HTTP_SERVER_DURATION: Final = "http.server.request.duration"
HTTP_SERVER_ACTIVE: Final = "http.server.active_requests"
HTTP_CLIENT_DURATION: Final = "http.client.request.duration"
REQUEST_OVERHEAD: Final = "sidecar.request.overhead"
GEN_AI_TTFT: Final = "gen_ai.server.time_to_first_token"
GEN_AI_TPOT: Final = "gen_ai.server.time_per_output_token"
GEN_AI_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
CAPTURE_SAMPLES: Final = "sidecar.capture.samples"
CAPTURE_QUEUE_SIZE: Final = "sidecar.capture.queue.size"
PII_REDACTED: Final = "sidecar.pii.redacted"
FEATURE_OBSERVATIONS: Final = "sidecar.feature.observations"
DRIFT_SCORE: Final = "sidecar.drift.score"
DRIFT_DETECTED: Final = "sidecar.drift.detected"
DATA_QUALITY_VIOLATIONS: Final = "sidecar.data_quality.violations"
ANOMALY_FLAGGED: Final = "sidecar.anomaly.flagged"
PERFORMANCE_SCORE: Final = "sidecar.performance.score"
STORE_ERRORS: Final = "sidecar.store.errors"

#: Seconds, from 50 µs (proxy overhead) to 5 min (long LLM streams).
LATENCY_BUCKETS: Final[tuple[float, ...]] = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05,
    0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
#: SDK histograms measured in seconds (the SDK setup gives them ``LATENCY_BUCKETS`` by a View).
DURATION_HISTOGRAMS: Final = (GEN_AI_TTFT, GEN_AI_TPOT)


def http_histograms() -> tuple[LatencyHistogram, LatencyHistogram, LatencyHistogram]:
    """The per-request histograms, pre-aggregated off the SDK (see ``latency``): server, client, overhead."""
    return (
        LatencyHistogram(HTTP_SERVER_DURATION, "s", "Inbound request duration", LATENCY_BUCKETS),
        LatencyHistogram(HTTP_CLIENT_DURATION, "s", "Upstream call duration, to the last byte", LATENCY_BUCKETS),
        LatencyHistogram(REQUEST_OVERHEAD, "s", "Inbound duration minus upstream duration", LATENCY_BUCKETS),
    )


CAPTURE_OUTCOMES: Final = frozenset({"captured", "dropped", "skipped", "failed"})

_Attrs = Mapping[str, str | int]
_CACHE_LIMIT = 4096  # method × route × status is small; the cap only guards against surprises


class Instruments:
    """All instruments of one meter, plus cheap hot-path helpers.  Thread-safe as the SDK is."""

    def __init__(
        self, meter: Meter, http: tuple[LatencyHistogram, LatencyHistogram, LatencyHistogram] | None = None
    ) -> None:
        m = meter
        self.http = http or http_histograms()
        self.server_duration, self.client_duration, self.overhead = self.http
        self.ttft = m.create_histogram(GEN_AI_TTFT, "s", "Time to the first output token")
        self.tpot = m.create_histogram(GEN_AI_TPOT, "s", "Time per output token after the first")
        self.token_usage = m.create_histogram(GEN_AI_TOKEN_USAGE, "{token}", "Tokens used per LLM call")
        self.capture_samples = m.create_counter(CAPTURE_SAMPLES, "{sample}", "Capture outcomes")
        self.pii_redacted = m.create_counter(PII_REDACTED, "{entity}", "PII entities redacted")
        self.feature_observations = m.create_counter(FEATURE_OBSERVATIONS, "{observation}", "Feature rows observed")
        self.drift_score = m.create_gauge(DRIFT_SCORE, "", "Drift test statistic per feature")
        self.drift_detected = m.create_gauge(DRIFT_DETECTED, "", "1 when the feature drifted")
        self.data_quality = m.create_counter(DATA_QUALITY_VIOLATIONS, "{violation}", "Data-quality violations")
        self.anomaly_flagged = m.create_counter(ANOMALY_FLAGGED, "{input}", "Inputs flagged as anomalous")
        self.performance_score = m.create_gauge(PERFORMANCE_SCORE, "", "Online quality metric from joined labels")
        self.store_errors = m.create_counter(STORE_ERRORS, "{error}", "Store operations that failed")
        # Observable: the hot path only bumps an int; the SDK reads it at collection time.
        self._active: dict[str, int] = {}
        self._queue_size: Callable[[], int] | None = None
        m.create_observable_up_down_counter(
            HTTP_SERVER_ACTIVE, [self._observe_active], "{request}", "In-flight requests"
        )
        m.create_observable_gauge(CAPTURE_QUEUE_SIZE, [self._observe_queue], "{sample}", "Capture queue length")
        self._outcome: dict[tuple[int, str | None], _Attrs] = {}
        self._outcome_attrs = {o: {A.OUTCOME: o} for o in CAPTURE_OUTCOMES}

    # ------------------------------------------------------------------ HTTP (hot path)

    def request_started(self, method: str) -> None:
        key = A.method_attr(method)
        self._active[key] = self._active.get(key, 0) + 1

    def request_finished(self, method: str) -> None:
        key = A.method_attr(method)
        self._active[key] = self._active.get(key, 0) - 1

    def outcome_attrs(self, status: int, error: str | None) -> _Attrs:
        """``http.response.status_code`` and ``error.type`` for the end of a span (cached)."""
        key = (status, error)
        attrs = self._outcome.get(key)
        if attrs is None:
            built: dict[str, str | int] = {}
            if status:
                built[A.HTTP_RESPONSE_STATUS_CODE] = status
            if error:
                built[A.ERROR_TYPE] = error
            if len(self._outcome) >= _CACHE_LIMIT:
                self._outcome.clear()
            self._outcome[key] = attrs = built
        return attrs

    def record_request(
        self, method: str, route: str, status: int, error: str | None, server_s: float, upstream_s: float
    ) -> None:
        """One proxied request: server and client durations, and the overhead between them.

        ``route`` must come from the template list and ``error`` from a fixed set (bounded).
        """
        self.server_duration.record(
            server_s, (method, route, status, error), lambda: _server_attrs(method, route, status, error)
        )
        self.client_duration.record(upstream_s, (method, status, error), lambda: _client_attrs(method, status, error))
        self.overhead.record(server_s - upstream_s if server_s > upstream_s else 0.0, None, dict)

    # ------------------------------------------------------------------ GenAI

    def record_llm(
        self,
        attrs: _Attrs,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        ttft_s: float | None = None,
        tpot_s: float | None = None,
    ) -> None:
        """GenAI metrics of one LLM call; ``attrs`` must be bounded ``gen_ai.*`` values."""
        if input_tokens is not None:
            self.token_usage.record(input_tokens, {**attrs, A.GEN_AI_TOKEN_TYPE: "input"})
        if output_tokens is not None:
            self.token_usage.record(output_tokens, {**attrs, A.GEN_AI_TOKEN_TYPE: "output"})
        if ttft_s is not None:
            self.ttft.record(ttft_s, attrs)
        if tpot_s is not None:
            self.tpot.record(tpot_s, attrs)

    # ------------------------------------------------------------------ capture and analysis

    def capture(self, outcome: str, n: int = 1) -> None:
        """Count a capture outcome: captured / dropped / skipped / failed."""
        self.capture_samples.add(n, self._outcome_attrs[outcome])

    def observe_queue_size(self, read: Callable[[], int]) -> None:
        """Register the function that returns the capture queue length (read at collection)."""
        self._queue_size = read

    def redacted(self, entity_type: str, n: int = 1) -> None:
        self.pii_redacted.add(n, {A.ENTITY_TYPE: entity_type})

    def observed(self, model: str, n: int = 1) -> None:
        self.feature_observations.add(n, {A.MODEL: model})

    def drift(self, model: str, feature: str, method: str, score: float, detected: bool) -> None:
        self.drift_score.set(score, {A.MODEL: model, A.FEATURE: feature, A.METHOD: method})
        self.drift_detected.set(1 if detected else 0, {A.MODEL: model, A.FEATURE: feature})

    def quality_violation(self, model: str, feature: str, kind: str, n: int = 1) -> None:
        self.data_quality.add(n, {A.MODEL: model, A.FEATURE: feature, A.KIND: kind})

    def anomaly(self, model: str, reason: str, n: int = 1) -> None:
        self.anomaly_flagged.add(n, {A.MODEL: model, A.REASON: reason})

    def performance(self, model: str, metric: str, value: float) -> None:
        self.performance_score.set(value, {A.MODEL: model, A.METRIC: metric})

    def store_error(self, op: str) -> None:
        self.store_errors.add(1, {A.OP: op})

    # ------------------------------------------------------------------ internals

    def _observe_active(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(n, {A.HTTP_REQUEST_METHOD: m}) for m, n in self._active.items()]

    def _observe_queue(self, _options: CallbackOptions) -> Iterable[Observation]:
        read = self._queue_size
        return [Observation(read())] if read is not None else []


def _server_attrs(method: str, route: str, status: int, error: str | None) -> _Attrs:
    attrs: dict[str, str | int] = {A.HTTP_REQUEST_METHOD: A.method_attr(method), A.HTTP_ROUTE: route}
    if status:
        attrs[A.HTTP_RESPONSE_STATUS_CODE] = status
    if error:
        attrs[A.ERROR_TYPE] = error
    return attrs


def _client_attrs(method: str, status: int, error: str | None) -> _Attrs:
    attrs: dict[str, str | int] = {A.HTTP_REQUEST_METHOD: A.method_attr(method)}
    if status:
        attrs[A.HTTP_RESPONSE_STATUS_CODE] = status
    if error:
        attrs[A.ERROR_TYPE] = error
    return attrs
