"""In-memory label store for one replica (store layer): bounded prediction table + per-model windows.

The table keeps at most ``labels.max_predictions`` predictions in arrival order; when full the oldest
is evicted (counted), and predictions past the horizon are dropped from the front as new ones come
in, so memory stays bounded when labels never arrive.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from ..config import LabelSettings
from ..quality.joins import JoinedRecord, PredictionRecord, Target, coerce_label
from .labels import LabelOutcome, LabelStatus, LabelStoreHealth

#: Models with a labelled window; the least recently labelled one goes first beyond this.
MAX_MODELS = 256


class _Slot:
    __slots__ = ("label", "record")

    def __init__(self, record: PredictionRecord) -> None:
        self.record = record
        self.label: Target | None = None


class MemoryLabelStore:
    """``LabelStore`` in process memory; never raises StoreUnavailable."""

    def __init__(self, settings: LabelSettings, *, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._table: OrderedDict[str, _Slot] = OrderedDict()
        self._windows: OrderedDict[str, OrderedDict[str, JoinedRecord]] = OrderedDict()
        self._models: OrderedDict[str, None] = OrderedDict()
        self.evicted = 0
        self.expired = 0

    async def put_predictions(self, records: Sequence[PredictionRecord], *, now: float | None = None) -> None:
        self._expire(self._clock() if now is None else now)
        table = self._table
        for record in records:
            slot = table.get(record.request_id)
            if slot is None:
                table[record.request_id] = _Slot(record)
            else:
                slot.record = record  # a re-captured id: the newer prediction wins, its label stays
                table.move_to_end(record.request_id)
            self._touch_model(record.model)
        while len(table) > self._settings.max_predictions:
            table.popitem(last=False)
            self.evicted += 1

    async def put_labels(self, items: Sequence[tuple[str, object]], *, now: float) -> list[LabelOutcome]:
        outcomes: list[LabelOutcome] = []
        for request_id, raw in items:
            slot = self._table.get(request_id)
            if slot is None:
                outcomes.append(LabelOutcome(request_id, "unknown_id"))
                continue
            record = slot.record
            if now - record.time > self._settings.horizon:
                del self._table[request_id]
                self.expired += 1
                outcomes.append(LabelOutcome(request_id, "expired", record.model))
                continue
            label = coerce_label(record, raw)
            if label is None:
                outcomes.append(LabelOutcome(request_id, "wrong_type", record.model))
                continue
            status: LabelStatus = "ok" if slot.label is None else "replaced"
            slot.label = label
            self._add_to_window(JoinedRecord(record, label, now))
            outcomes.append(LabelOutcome(request_id, status, record.model))
        return outcomes

    async def window(self, model: str) -> list[JoinedRecord]:
        return list(self._windows.get(model, {}).values())

    async def models(self) -> list[str]:
        return sorted(self._models)

    def health(self) -> LabelStoreHealth:
        return LabelStoreHealth(backend="memory", healthy=True, predictions=len(self._table), evicted=self.evicted)

    async def close(self) -> None:
        return None

    def _expire(self, now: float) -> None:
        # Arrival order is close to time order, so the expired predictions sit at the front; a
        # straggler further back is caught when its label arrives (status "expired").
        horizon = self._settings.horizon
        table = self._table
        while table:
            request_id, slot = next(iter(table.items()))
            if now - slot.record.time <= horizon:
                break
            del table[request_id]
            self.expired += 1

    def _add_to_window(self, joined: JoinedRecord) -> None:
        model = joined.prediction.model
        window = self._windows.get(model)
        if window is None:
            window = self._windows[model] = OrderedDict()
            if len(self._windows) > MAX_MODELS:
                self._windows.popitem(last=False)
        self._windows.move_to_end(model)
        request_id = joined.prediction.request_id
        window[request_id] = joined  # a replaced label takes the newest place, counted once
        window.move_to_end(request_id)
        while len(window) > self._settings.window:
            window.popitem(last=False)
        self._touch_model(model)

    def _touch_model(self, model: str) -> None:
        self._models[model] = None
        self._models.move_to_end(model)
        if len(self._models) > MAX_MODELS:
            self._models.popitem(last=False)
