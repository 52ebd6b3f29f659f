"""Wires the monitoring stack (capture → store → drift/anomaly/labels → admin routes) for the
composition root.  The only module that knows all the concretes; everything is owned by one
cleanup context of the admin app."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .admin.feedback import routes as feedback_routes
from .admin.monitoring import MonitoringRoutes
from .alerts import AlertSink
from .capture.consumer import CaptureConsumer
from .capture.service import CaptureService
from .config import Settings
from .evaluator import DriftEvaluator
from .models import DriftResult, LlmUsage
from .proxy.tee import client_key
from .store import open_store
from .store.labels import open_label_store
from .telemetry import Telemetry

if TYPE_CHECKING:
    from .app import Wiring

_log = logging.getLogger("sidecar")
_STORE_ERRORS_POLL_S = 2.0
_MAX_LLM_MODELS = 32


class TelemetryMetrics:
    """Adapts the telemetry instruments to what capture and drift report (bounded attributes)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry
        self._i = telemetry.instruments
        self._llm_models: set[str] = set()  # request.model values come from bodies: bounded like any attribute

    def samples(self, outcome: str, n: int = 1) -> None:
        self._i.capture(outcome, n)

    def pii(self, counts: Mapping[str, int]) -> None:
        for entity, n in counts.items():
            if n:
                self._i.redacted(entity, n)

    def observations(self, model: str, n: int) -> None:
        self._i.observed(model, n)

    def anomalies(self, model: str, reasons: Iterable[str]) -> None:
        for reason in reasons:
            self._i.anomaly(model, reason)

    def quality(self, model: str, feature: str, kind: str, n: int = 1) -> None:
        self._i.quality_violation(model, feature, kind, n)

    def llm(self, usage: LlmUsage, duration_s: float) -> None:
        attrs: dict[str, str | int] = {"gen_ai.operation.name": usage.operation}
        if usage.model:
            name = usage.model[:64]
            if name not in self._llm_models and len(self._llm_models) < _MAX_LLM_MODELS:
                self._llm_models.add(name)
            attrs["gen_ai.request.model"] = name if name in self._llm_models else "__other__"
        tpot = None
        if usage.time_to_first_token_s is not None and usage.output_tokens and usage.output_tokens > 1:
            tpot = max(0.0, duration_s - usage.time_to_first_token_s) / (usage.output_tokens - 1)
        self._i.record_llm(
            attrs,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            ttft_s=usage.time_to_first_token_s,
            tpot_s=tpot,
        )

    def anomaly_event(self, trace_id: str | None, span_id: str | None, score: float, reasons: Sequence[str]) -> None:
        if trace_id and span_id:
            self._telemetry.record_event(
                trace_id,
                span_id,
                "sidecar.anomaly",
                {"sidecar.anomaly.score": score, "sidecar.anomaly.reasons": ",".join(reasons)},
            )

    def drift(self, model: str, result: DriftResult) -> None:
        for feature in result.features:
            self._i.drift(model, feature.name, feature.method, feature.statistic, feature.drifted)

    def performance(self, model: str, scores: Mapping[str, float]) -> None:
        for metric, value in scores.items():
            self._i.performance(model, metric, value)


def build_monitoring(settings: Settings, telemetry: Telemetry) -> Wiring:
    from .app import Wiring

    metrics = TelemetryMetrics(telemetry)
    store = open_store(settings.store, max_features=settings.capture.max_features, top_k=settings.drift.top_k)
    labels = open_label_store(settings, on_error=telemetry.instruments.store_error)
    consumer = CaptureConsumer(settings, store=store, labels=labels, metrics=metrics)
    service = CaptureService(settings, consumer, metrics)
    alerts = AlertSink(settings.alerts)
    evaluator = DriftEvaluator(
        settings,
        store,
        metrics=metrics,
        send_alert=alerts.submit,
        labels=labels,
        generation=lambda: consumer.counts.processed,
    )
    telemetry.instruments.observe_queue_size(lambda: len(service.queue))

    def on_reference(model: str) -> None:
        consumer.forget_scorer(model)

    def on_labels(request: web.Request, outcomes: Sequence[Any]) -> None:
        key = client_key(request.headers, request.remote)
        consumer.observe_labels(key, [o.model for o in outcomes], time.time())

    monitoring = MonitoringRoutes(
        token=settings.admin.token,
        store=store,
        consumer=consumer,
        evaluator=evaluator,
        default_model=settings.model,
        on_reference=on_reference,
    )
    admin_routes: list[web.AbstractRouteDef] = [
        *monitoring.routes(),
        *feedback_routes(labels, settings, on_scores=metrics.performance, models=consumer.models, on_labels=on_labels),
    ]

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await store.start()
        await alerts.start()
        await service.start()
        tasks = [
            asyncio.create_task(evaluator.run(), name="sidecar-drift-evaluator"),
            asyncio.create_task(_poll_store_errors(telemetry, store), name="sidecar-store-errors"),
        ]
        _log.info(
            "capture ready: %d worker process(es), redaction %s", service.pool.processes, service.pool.redaction_status
        )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await service.close()
            await alerts.aclose()
            await labels.close()
            await store.close()

    def store_status() -> Mapping[str, Any]:
        health = dict(store.health())
        health["labels"] = dataclasses.asdict(labels.health())
        return health

    def extra_status() -> Mapping[str, Any]:
        return {
            "redaction": service.pool.redaction_status,
            "models": consumer.models(),
            "drift": {"evaluations": evaluator.evaluations, "last_error": evaluator.last_error},
            "alerts": dataclasses.asdict(alerts.stats),
        }

    return Wiring(
        sink=service.sink,
        admin_routes=admin_routes,
        cleanup_ctx=[lifecycle],
        capture_status=service.status,
        store_status=store_status,
        extra_status=extra_status,
        capture=service,
    )


async def _poll_store_errors(telemetry: Telemetry, *backends: Any) -> None:
    """Turn the stores' per-op error counts into the ``sidecar.store.errors`` counter."""
    seen: dict[tuple[int, str], int] = {}
    while True:
        await asyncio.sleep(_STORE_ERRORS_POLL_S)
        for index, backend in enumerate(backends):
            with contextlib.suppress(Exception):
                errors = backend.health().get("errors") or {}
                for op, count in errors.items():
                    delta = int(count) - seen.get((index, op), 0)
                    if delta > 0:
                        telemetry.instruments.store_errors.add(delta, {"op": str(op)})
                    seen[(index, op)] = int(count)
