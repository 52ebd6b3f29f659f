"""Main-process side of capture: fold worker results into the store, rings, scores and metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from ..anomaly.behaviour import ClientTracker
from ..anomaly.tabular import TabularScorer
from ..config import Settings
from ..models import CaptureResult, FeatureRecord, LlmUsage
from ..quality.joins import predictions_from
from ..sketches.profile import Profile

_log = logging.getLogger("sidecar.capture")

MAX_MODELS = 64  # model names come from paths and bodies: bounded like any other attribute
OVERFLOW_MODEL = "__other__"
_SCORER_TTL_S = 5.0
# Row-level schema findings of the scorer, counted as data-quality violations by kind.
_QUALITY_KINDS = {
    "missing_field": "missing",
    "type_mismatch": "type",
    "nan_inf": "type",
    "out_of_range": "range",
    "unseen_category": "unseen",
}


class CaptureMetrics(Protocol):
    """What the consumer reports; the telemetry adapter in app.py implements it."""

    def samples(self, outcome: str, n: int = 1) -> None: ...
    def pii(self, counts: Mapping[str, int]) -> None: ...
    def observations(self, model: str, n: int) -> None: ...
    def anomalies(self, model: str, reasons: Iterable[str]) -> None: ...
    def quality(self, model: str, feature: str, kind: str, n: int = 1) -> None: ...
    def llm(self, usage: LlmUsage, duration_s: float) -> None: ...
    def anomaly_event(
        self, trace_id: str | None, span_id: str | None, score: float, reasons: Sequence[str]
    ) -> None: ...


class _Reference(Protocol):
    async def reference(self, model: str) -> Profile | None: ...


class _Sketches(_Reference, Protocol):
    def add(self, records: Sequence[FeatureRecord]) -> None: ...


class _Labels(Protocol):
    async def put_predictions(self, records: Sequence[Any]) -> None: ...
    async def put_labels(self, items: Sequence[tuple[str, object]], *, now: float) -> list[Any]: ...


@dataclass(slots=True)
class ModelView:
    """Bounded recent history of one model for the admin API."""

    samples: deque[dict[str, Any]]
    anomalies: deque[dict[str, Any]]
    scorer: TabularScorer | None = None
    scorer_checked: float = 0.0
    scorer_version: object = None


@dataclass(slots=True)
class CaptureCounts:
    captured: int = 0
    dropped: int = 0
    skipped: int = 0
    failed: int = 0
    processed: int = 0
    skipped_reasons: Counter[str] = field(default_factory=Counter)


class CaptureConsumer:
    def __init__(
        self,
        settings: Settings,
        *,
        store: _Sketches,
        labels: _Labels | None,
        metrics: CaptureMetrics,
    ) -> None:
        self._settings = settings
        self._store = store
        self._labels = labels
        self._metrics = metrics
        self._views: OrderedDict[str, ModelView] = OrderedDict()
        self._clients = ClientTracker(settings.anomaly.max_clients)
        self.counts = CaptureCounts()

    # ------------------------------------------------------------------ model scope

    def models(self) -> list[str]:
        return list(self._views)

    def model_name(self, name: str) -> str:
        if name in self._views or len(self._views) < MAX_MODELS:
            return name
        return OVERFLOW_MODEL

    def view(self, model: str) -> ModelView:
        view = self._views.get(model)
        if view is None:
            view = ModelView(
                samples=deque(maxlen=self._settings.capture.samples_kept),
                anomalies=deque(maxlen=self._settings.anomaly.kept),
            )
            self._views[model] = view
        return view

    def observe_labels(self, client_key: str, models: Sequence[str | None], now: float) -> None:
        """Delayed labels from one client: flags feedback poisoning (one client's outsized share)."""
        for model in models:
            reasons = self._clients.observe_label(client_key, now, None)
            if reasons and model is not None:
                view = self.view(self.model_name(model))
                view.anomalies.append(
                    {"request_id": None, "time": now, "score": None, "reasons": list(reasons), "feature": None,
                     "route": "/v1/feedback"}
                )  # fmt: skip
                self._metrics.anomalies(model, reasons)

    def forget_scorer(self, model: str) -> None:
        """Called when the reference changes, so the next sample refits against it."""
        view = self._views.get(model)
        if view is not None:
            view.scorer, view.scorer_checked = None, 0.0

    # ------------------------------------------------------------------ results

    async def handle(self, results: Sequence[CaptureResult]) -> None:
        predictions: list[Any] = []
        labels: list[tuple[str, object]] = []
        for result in results:
            labels.extend(result.labels)
            try:
                predictions.extend(await self._handle_one(result))
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not stop capture; no payload text is logged
                self.counts.failed += 1
                self._metrics.samples("failed")
                _log.exception("capture consumer failed on a sample (request %s)", result.request_id)
            finally:
                self.counts.processed += 1
        if predictions and self._labels is not None:
            try:
                await self._labels.put_predictions(predictions)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # store errors are counted by the store; keep going
                _log.warning("could not record predictions for label joins: %s", type(exc).__name__)
        if labels and self._labels is not None:
            try:
                await self._labels.put_labels(labels, now=time.time())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("could not record header labels: %s", type(exc).__name__)

    async def _handle_one(self, result: CaptureResult) -> list[Any]:
        if result.skipped and result.skipped.split(":")[0] in {"pipeline_error", "worker_crashed"}:
            self.counts.failed += 1
            self._metrics.samples("failed")
            return []
        model = self.model_name(result.model)
        view = self.view(model)
        if result.skipped:
            self.counts.skipped += 1
            self.counts.skipped_reasons[result.skipped.split(":")[0]] += 1
            self._metrics.samples("skipped")
        view.samples.append(
            {
                "request_id": result.request_id,
                "time": result.time,
                "route": result.route,
                "dialect": result.dialect,
                "status": result.status,
                "truncated": result.truncated,
                "request": result.request,
                "response": result.response,
            }
        )
        if result.pii_counts:
            self._metrics.pii(result.pii_counts)
        if result.llm is not None:
            self._metrics.llm(result.llm, result.duration_s)
        records = result.records
        if model != result.model:
            records = tuple(_rename(r, model) for r in records)
        if records:
            self._store.add(records)
            self._metrics.observations(model, len(records))
        await self._score(model, view, result, records)
        if not records:
            return []
        renamed = result if model == result.model else replace(result, model=model, records=tuple(records))
        return predictions_from(renamed, segment_feature=self._settings.labels.segment_feature)

    async def _score(
        self, model: str, view: ModelView, result: CaptureResult, records: Sequence[FeatureRecord]
    ) -> None:
        scorer = await self._scorer(model, view)
        for index, record in enumerate(records or (None,)):
            reasons: dict[str, None] = dict.fromkeys(result.text_reasons) if index == 0 else {}
            score, feature = 0.0, None
            if scorer is not None and record is not None:
                verdict = scorer.score(record)
                for reason in verdict.reasons:
                    kind = _QUALITY_KINDS.get(reason)
                    if kind is not None:
                        self._metrics.quality(model, verdict.feature or "__row__", kind)
                if verdict.flagged:
                    reasons.update(dict.fromkeys(verdict.reasons))
                    score, feature = verdict.score, verdict.feature
            if record is not None and result.client_key:
                names, vector = _numeric_vector(record)
                reasons.update(dict.fromkeys(self._clients.observe(result.client_key, result.time, vector, names)))
            if not reasons:
                continue
            reason_list = sorted(reasons)
            view.anomalies.append(
                {
                    "request_id": result.request_id if len(records) <= 1 else f"{result.request_id}#{index}",
                    "time": result.time,
                    "score": float(score) if np.isfinite(score) else None,
                    "reasons": reason_list,
                    "feature": feature,
                    "route": result.route,
                }
            )
            self._metrics.anomalies(model, reason_list)
            self._metrics.anomaly_event(result.trace_id, result.span_id, float(score), reason_list)

    async def _scorer(self, model: str, view: ModelView) -> TabularScorer | None:
        now = time.monotonic()
        if now - view.scorer_checked < _SCORER_TTL_S:
            return view.scorer
        view.scorer_checked = now
        try:
            reference = await self._store.reference(model)
        except asyncio.CancelledError:
            raise
        except Exception:
            return view.scorer
        if reference is None:
            view.scorer, view.scorer_version = None, None
            return None
        version = (reference.version, reference.created)
        if view.scorer is None or view.scorer_version != version:
            # Calibration samples the reference (numpy, ~100 ms): off the proxy's event loop.
            view.scorer = await asyncio.to_thread(
                TabularScorer.fit, reference, target_rate=self._settings.anomaly.target_false_flag_rate
            )
            view.scorer_version = version
        return view.scorer


def _rename(record: FeatureRecord, model: str) -> FeatureRecord:
    return replace(record, model=model)


def _numeric_vector(record: FeatureRecord) -> tuple[tuple[str, ...], np.ndarray | None]:
    names = tuple(sorted(k for k, v in record.inputs.items() if isinstance(v, float)))
    if not names:
        return (), None
    return names, np.fromiter((record.inputs[k] for k in names), dtype=float, count=len(names))
