"""The prediction/label store protocol and its factory (store layer; backends in labels_*.py).

A prediction waits here for its label until ``settings.labels.horizon`` has passed.  Request ids are
global, so a label finds its prediction without knowing the model, on any replica that shares the
backend.  The rolling window of labelled predictions is kept per model.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from ..config import Settings
from ..quality.joins import JoinedRecord, PredictionRecord

LabelStatus = Literal["ok", "replaced", "unknown_id", "expired", "wrong_type"]
#: Statuses that stored the label.
STORED: frozenset[LabelStatus] = frozenset({"ok", "replaced"})


@dataclass(frozen=True, slots=True)
class LabelOutcome:
    """What happened to one label: stored (``ok``/``replaced``) or why not."""

    request_id: str
    status: LabelStatus
    model: str | None = None  # the prediction's model, when one was found

    @property
    def stored(self) -> bool:
        return self.status in STORED


@dataclass(frozen=True, slots=True)
class LabelStoreHealth:
    backend: str  # "memory" | "redis"
    healthy: bool  # the last call succeeded
    predictions: int = 0  # waiting predictions held locally (memory backend only)
    evicted: int = 0  # predictions dropped for room before their horizon (memory backend only)
    errors: int = 0  # failed backend calls since start
    last_error: str = ""  # exception class name of the last failure (never payload text)


class LabelStore(Protocol):
    """Holds predictions for a horizon and joins labels to them.

    Every method may raise ``StoreUnavailable`` (backend unreachable or too slow: the call changed
    nothing that the caller can rely on) or ``StoreError``; nothing else escapes.  Calls never block
    the event loop for longer than ``settings.store.timeout``.  Labels are idempotent per request id:
    a repeated label replaces the earlier one (``replaced``) and is counted once in the window.
    """

    async def put_predictions(self, records: Sequence[PredictionRecord], *, now: float | None = None) -> None:
        """Keep ``records`` until their horizon; a repeated request id replaces the prediction."""
        ...

    async def put_labels(self, items: Sequence[tuple[str, object]], *, now: float) -> list[LabelOutcome]:
        """Join ``(request_id, label)`` pairs, in order; one outcome per item."""
        ...

    async def window(self, model: str) -> list[JoinedRecord]:
        """The last ``settings.labels.window`` labelled predictions of ``model``, oldest label first."""
        ...

    async def models(self) -> list[str]:
        """Models that have predictions or labels (sorted)."""
        ...

    def health(self) -> LabelStoreHealth: ...

    async def close(self) -> None: ...


class PredictionBuffer:
    """Prediction records waiting for the next flush, so Redis sees one pipeline per interval.

    ``add`` never blocks or fails; beyond ``max_records`` the oldest records are dropped (counted
    in ``dropped``).  ``flush`` hands everything to the store; when the store is unavailable the
    records stay for the next flush (still bounded) and the error propagates for the caller to count.
    """

    def __init__(self, max_records: int = 10_000) -> None:
        self._records: deque[PredictionRecord] = deque(maxlen=max_records)
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._records)

    def add(self, records: Iterable[PredictionRecord]) -> None:
        for record in records:
            if len(self._records) == self._records.maxlen:
                self.dropped += 1
            self._records.append(record)

    async def flush(self, store: LabelStore, *, now: float | None = None) -> int:
        if not self._records:
            return 0
        batch = list(self._records)
        self._records.clear()
        try:
            await store.put_predictions(batch, now=now)
        except BaseException:
            # Put them back in front of anything added meanwhile; the deque bound still applies.
            room = (self._records.maxlen or len(batch)) - len(self._records)
            kept = batch[-room:] if room > 0 else []
            self.dropped += len(batch) - len(kept)
            self._records.extendleft(reversed(kept))
            raise
        return len(batch)


def open_label_store(settings: Settings, *, on_error: Callable[[str], None] | None = None) -> LabelStore:
    """The backend ``settings.store.url`` names; ``on_error(op)`` is called per failed backend call."""
    if settings.store.url == "memory":
        from .labels_memory import MemoryLabelStore

        return MemoryLabelStore(settings.labels)
    from .labels_redis import RedisLabelStore  # imported lazily: the memory backend needs no redis

    return RedisLabelStore(settings, on_error=on_error)
