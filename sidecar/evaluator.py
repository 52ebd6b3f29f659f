"""Drift and data-quality evaluation over the store (I/O edge): on request, and on a timer that
sets the drift gauges and feeds the alert policy."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .config import Settings
from .drift import evaluate, to_json
from .drift.alerting import AlertPolicy
from .models import Alert, DriftResult
from .quality import data_quality
from .quality.metrics import HIGHER_IS_BETTER, gauge_scores, performance_report
from .sketches.profile import Profile

_log = logging.getLogger("sidecar.drift")
_CACHE_S = 1.0


class _Profiles(Protocol):
    async def current(self, model: str) -> Profile: ...
    async def reference(self, model: str) -> Profile | None: ...
    async def models(self) -> list[str]: ...


class DriftMetrics(Protocol):
    def drift(self, model: str, result: DriftResult) -> None: ...
    def performance(self, model: str, scores: Mapping[str, float]) -> None: ...


class _LabelWindows(Protocol):
    async def window(self, model: str) -> list[Any]: ...
    async def models(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Evaluation:
    result: DriftResult
    violations: tuple[Any, ...]
    at: float
    generation: int = 0

    def to_json(self) -> dict[str, Any]:
        body = to_json(self.result)
        body["data_quality"] = [_violation_json(v) for v in self.violations]
        body["evaluated_at"] = self.at
        return body


def _violation_json(violation: Any) -> dict[str, Any]:
    fields = ("feature", "role", "kind", "value", "reference_value", "count")
    out = {name: getattr(violation, name, None) for name in fields}
    for key in ("value", "reference_value"):
        value = out[key]
        if isinstance(value, float) and value != value:
            out[key] = None
    return out


class DriftEvaluator:
    """Evaluates drift per model; results are cached for at most a second."""

    def __init__(
        self,
        settings: Settings,
        store: _Profiles,
        *,
        metrics: DriftMetrics,
        send_alert: Callable[[Alert], object] | None = None,
        labels: _LabelWindows | None = None,
        generation: Callable[[], int] = lambda: 0,
    ) -> None:
        self._settings = settings
        self._store = store
        self._metrics = metrics
        self._send_alert = send_alert
        self._policy = AlertPolicy(cooldown=settings.alerts.cooldown, hysteresis=settings.alerts.hysteresis)
        self._labels = labels
        # A cached verdict is reused only while no new sample was processed, so "send, wait for
        # processed, read /v1/drift" always sees its own traffic.
        self._generation = generation
        self._perf_reference: dict[tuple[str, str], float] = {}  # first full window's score per metric
        self._cache: dict[str, Evaluation] = {}
        self.evaluations = 0
        self.last_error: str | None = None

    def invalidate(self, model: str | None = None) -> None:
        if model is None:
            self._cache.clear()
        else:
            self._cache.pop(model, None)

    async def evaluate(self, model: str) -> Evaluation:
        cached = self._cache.get(model)
        now = time.monotonic()
        generation = self._generation()
        if cached is not None and now - cached.at < _CACHE_S and cached.generation == generation:
            return cached
        current = await self._store.current(model)
        reference = await self._store.reference(model)
        window_s = float(self._settings.store.bucket_seconds * self._settings.store.window_buckets)
        if reference is None:
            reference = Profile(model=model, source="none")
        # Bulk numpy/scipy work: off the event loop so the proxy's latency does not notice.
        result, violations = await asyncio.to_thread(self._compute, reference, current, window_s)
        evaluation = Evaluation(result, tuple(violations), time.monotonic(), generation)
        self._cache[model] = evaluation
        self._metrics.drift(model, result)
        self.evaluations += 1
        return evaluation

    def _compute(self, reference: Profile, current: Profile, window_s: float) -> tuple[DriftResult, Sequence[Any]]:
        result = evaluate(reference, current, self._settings.drift, window_seconds=window_s)
        violations = (
            data_quality.check(reference, current, min_samples=self._settings.drift.min_samples) if reference.n else []
        )
        return result, violations

    async def tick(self) -> None:
        now = time.time()
        for model in await self._store.models():
            evaluation = await self.evaluate(model)
            alerts = self._policy.observe(evaluation.result, now)
            alerts += self._policy.observe_quality(model, evaluation.violations, now)
            self._emit(alerts)
        if self._labels is not None:
            await self._performance(self._labels, now)

    async def _performance(self, labels: _LabelWindows, now: float) -> None:
        """Score gauges from the joined labels; alerts when a score is low or fell from its reference."""
        settings = self._settings.labels
        for model in await labels.models():
            report = await asyncio.to_thread(performance_report, await labels.window(model))
            if not report.get("n_labeled"):
                continue
            scores = gauge_scores(report)
            self._metrics.performance(model, scores)
            alerts = []
            for metric in sorted(HIGHER_IS_BETTER & scores.keys()):
                value = scores[metric]
                if len(self._perf_reference) < 4096:
                    self._perf_reference.setdefault((model, metric), value)
                alert = self._policy.observe_metric(
                    model, metric, value, now,
                    min_score=settings.min_score, reference_value=self._perf_reference.get((model, metric)),
                    max_drop=settings.max_drop,
                )  # fmt: skip
                if alert is not None:
                    alerts.append(alert)
            self._emit(alerts)

    def _emit(self, alerts: Sequence[Alert]) -> None:
        if self._send_alert is not None:
            for alert in alerts:
                self._send_alert(alert)

    async def run(self) -> None:
        interval = self._settings.drift.evaluate_interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = type(exc).__name__
                _log.warning("drift evaluation failed: %s", type(exc).__name__)
