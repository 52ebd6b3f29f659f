"""Builds the OTel SDK from the standard ``OTEL_*`` variables (telemetry layer; the only SDK user).

The SDK reads its own variables (resource, sampler, exporter endpoint/headers/timeouts, batch
sizes); this module only decides which exporters exist: OTLP when an endpoint is configured
(``http/protobuf`` or ``grpc``), Prometheus text for the admin ``/metrics`` always.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ..errors import ConfigError
from .health import CountingSpanExporter, ExportStats
from .instruments import DURATION_HISTOGRAMS, GEN_AI_TOKEN_USAGE, LATENCY_BUCKETS, Instruments, http_histograms
from .latency import LatencyHistogram, MergingMetricExporter, PrometheusBridge

log = logging.getLogger(__name__)

SCOPE = "sidecar"
#: GenAI semconv advice for token counts: powers of 4.
TOKEN_BUCKETS: tuple[float, ...] = tuple(float(4**i) for i in range(14))


@dataclass
class Telemetry:
    """Providers, the tracer, every instrument, and the Prometheus exposition of one process."""

    tracer_provider: trace.TracerProvider
    meter_provider: metrics.MeterProvider
    tracer: trace.Tracer
    instruments: Instruments
    propagator: TraceContextTextMapPropagator
    exporters: Sequence[str] = ()  # e.g. ("otlp-traces:http", "otlp-metrics:http", "prometheus")
    _registry: CollectorRegistry | None = field(default=None, repr=False)
    #: False when no span exporter exists: the proxy then creates no spans at all and forwards the
    #: client's trace context untouched (a span nobody receives would only cost CPU, and injecting
    #: its id would make the upstream the child of a span that exists nowhere).
    tracing: bool = True
    export_stats: dict[str, ExportStats] = field(default_factory=dict)

    def export_health(self) -> dict[str, dict[str, Any]]:
        """Per OTLP exporter: healthy (last export succeeded), counts, last success/failure times."""
        return {name: stats.to_json() for name, stats in self.export_stats.items()}

    def prometheus_text(self) -> bytes:
        """The Prometheus text exposition of every metric (empty when the SDK is disabled)."""
        return generate_latest(self._registry) if self._registry is not None else b""

    prometheus_content_type: str = CONTENT_TYPE_LATEST

    def force_flush(self, timeout_s: float = 5.0) -> None:
        millis = int(timeout_s * 1000)
        for provider in (self.tracer_provider, self.meter_provider):
            flush = getattr(provider, "force_flush", None)
            if flush is not None:
                flush(millis)

    def shutdown(self) -> None:
        """Flush and stop exporters; safe to call twice."""
        for provider in (self.tracer_provider, self.meter_provider):
            stop = getattr(provider, "shutdown", None)
            if stop is not None:
                stop()

    def record_event(
        self,
        trace_id: str,
        span_id: str,
        name: str,
        attributes: Mapping[str, str | int | float | bool] | None = None,
    ) -> None:
        """Best-effort event for a request whose span has already ended (e.g. an anomaly flag).

        The request span is finished before capture runs, so the event goes on a short child
        span of it (same trace, linked), which every backend shows under the request.
        """
        try:
            parent = trace.SpanContext(
                int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=trace.TraceFlags(1)
            )
        except ValueError:
            return
        ctx = trace.set_span_in_context(trace.NonRecordingSpan(parent))
        span = self.tracer.start_span(f"sidecar {name}", context=ctx, links=[trace.Link(parent)])
        span.add_event(name, dict(attributes or {}))
        span.end()


def _resource(service_version: str) -> Resource:
    resource = Resource.create()  # reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME
    extra: dict[str, str] = {SERVICE_VERSION: service_version}
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        extra[SERVICE_NAME] = "model-sidecar"
    return resource.merge(Resource(extra))


def _signal_setting(env: Mapping[str, str], signal: str, suffix: str) -> str:
    return env.get(f"OTEL_EXPORTER_OTLP_{signal}_{suffix}") or env.get(f"OTEL_EXPORTER_OTLP_{suffix}", "")


def _otlp_protocol(env: Mapping[str, str], signal: str) -> str | None:
    """``"http"``/``"grpc"`` when OTLP export of ``signal`` is configured, else None."""
    if not _signal_setting(env, signal, "ENDPOINT"):
        return None
    chosen = env.get(f"OTEL_{signal}_EXPORTER", "otlp").strip().lower()
    if chosen in {"none", ""} or "otlp" not in chosen:
        return None
    protocol = _signal_setting(env, signal, "PROTOCOL").strip().lower() or "http/protobuf"
    if protocol == "grpc":
        return "grpc"
    if protocol not in {"http/protobuf", "http/json"}:
        log.warning("unsupported OTEL_EXPORTER_OTLP_PROTOCOL %r, using http/protobuf", protocol)
    return "http"


def _span_exporter(protocol: str) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans

        return GrpcSpans()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans

    return HttpSpans()


def _metric_reader(
    protocol: str, http: Sequence[LatencyHistogram], scope: InstrumentationScope, stats: ExportStats
) -> MetricReader:
    exporter: MetricExporter
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics

        exporter = GrpcMetrics()
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics

        exporter = HttpMetrics()
    return PeriodicExportingMetricReader(MergingMetricExporter(exporter, http, scope, stats))


def _views() -> list[View]:
    latency = ExplicitBucketHistogramAggregation(LATENCY_BUCKETS)
    views = [View(instrument_name=name, aggregation=latency) for name in DURATION_HISTOGRAMS]
    views.append(
        View(instrument_name=GEN_AI_TOKEN_USAGE, aggregation=ExplicitBucketHistogramAggregation(TOKEN_BUCKETS))
    )
    return views


def build_telemetry(
    env: Mapping[str, str] | None = None,
    *,
    service_version: str = "0",
    span_exporter: SpanExporter | None = None,
    metric_readers: Sequence[MetricReader] = (),
) -> Telemetry:
    """Set up tracing and metrics for one process.

    ``env`` (default ``os.environ``) decides which exporters exist (``OTEL_SDK_DISABLED``, the
    OTLP endpoint/protocol variables, ``OTEL_{TRACES,METRICS}_EXPORTER=none``); the SDK parts
    themselves (resource, sampler, exporter endpoint and headers) read ``os.environ`` as the
    spec says, so a mapping other than ``os.environ`` is only for choosing exporters (tests pass
    ``{}`` to rule OTLP out).  Tests add an ``InMemorySpanExporter`` (exported synchronously) and
    an ``InMemoryMetricReader``.  Nothing is installed globally, so several ``Telemetry``
    objects can live in one process.  Bad ``OTEL_*`` values raise ``ConfigError``.
    """
    try:
        return _build(env, service_version=service_version, span_exporter=span_exporter, metric_readers=metric_readers)
    except ValueError as exc:
        raise ConfigError("OTEL_*", str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc


def _build(
    env: Mapping[str, str] | None = None,
    *,
    service_version: str = "0",
    span_exporter: SpanExporter | None = None,
    metric_readers: Sequence[MetricReader] = (),
) -> Telemetry:
    # See build_telemetry for what is read from where.

    env = os.environ if env is None else env
    propagator = TraceContextTextMapPropagator()
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        tracer_provider: trace.TracerProvider = trace.NoOpTracerProvider()
        meter_provider: metrics.MeterProvider = metrics.NoOpMeterProvider()
        return Telemetry(
            tracer_provider,
            meter_provider,
            tracer_provider.get_tracer(SCOPE, service_version),
            Instruments(meter_provider.get_meter(SCOPE, service_version)),
            propagator,
            tracing=False,
        )

    resource = _resource(service_version)
    exporters: list[str] = []
    stats: dict[str, ExportStats] = {}
    # Sampler from OTEL_TRACES_SAMPLER[_ARG].  No atexit shutdown: the app owns it, bounded in time
    # (the SDK's own hook would wait on an unreachable endpoint's retries at interpreter exit).
    sdk_tracer = TracerProvider(resource=resource, shutdown_on_exit=False)
    if span_exporter is not None:
        sdk_tracer.add_span_processor(SimpleSpanProcessor(span_exporter))
        exporters.append("traces:custom")
    traces_protocol = _otlp_protocol(env, "TRACES")
    if traces_protocol:
        name = f"otlp-traces:{traces_protocol}"
        stats[name] = ExportStats()
        sdk_tracer.add_span_processor(
            BatchSpanProcessor(CountingSpanExporter(_span_exporter(traces_protocol), stats[name]))
        )
        exporters.append(name)

    http = http_histograms()
    scope = InstrumentationScope(SCOPE, service_version)
    registry = CollectorRegistry(auto_describe=True)
    readers: list[MetricReader] = [PrometheusMetricReader(registry=registry), *metric_readers]
    registry.register(PrometheusBridge(http, scope))
    exporters.append("prometheus")
    metrics_protocol = _otlp_protocol(env, "METRICS")
    if metrics_protocol:
        name = f"otlp-metrics:{metrics_protocol}"
        stats[name] = ExportStats()
        readers.append(_metric_reader(metrics_protocol, http, scope, stats[name]))
        exporters.append(name)
    # Exemplars cost a trace lookup per measurement on the hot path: off unless asked for.
    exemplars = None if env.get("OTEL_METRICS_EXEMPLAR_FILTER") else AlwaysOffExemplarFilter()
    sdk_meter = MeterProvider(
        metric_readers=readers,
        resource=resource,
        views=_views(),
        exemplar_filter=exemplars,
        shutdown_on_exit=False,
    )
    return Telemetry(
        sdk_tracer,
        sdk_meter,
        sdk_tracer.get_tracer(SCOPE, service_version),
        Instruments(sdk_meter.get_meter(SCOPE, service_version), http),
        propagator,
        tuple(exporters),
        registry,
        tracing=span_exporter is not None or traces_protocol is not None,
        export_stats=stats,
    )
