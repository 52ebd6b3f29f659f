"""The sketch store protocol (store layer): where windows and references of every model live.

Two backends implement it: ``MemorySketchStore`` (one replica) and ``RedisSketchStore`` (replicas
share state).  The factory ``open_store`` picks one from ``StoreSettings.url``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..models import FeatureRecord
from ..sketches.profile import Profile


class SketchStore(Protocol):
    """Rolling windows (time buckets) of sketches per model, and one versioned reference per model.

    Contract:

    * ``add`` is synchronous, cheap and never blocks or raises: it folds records into a local,
      bounded pre-aggregation of the current time bucket.  Whatever cannot be kept (feature cap, backlog
      bound while the backend is down) is dropped and counted in ``health()``.
    * ``current`` is the merge of the last ``window_buckets`` buckets (for Redis: of every replica),
      including this replica's not yet flushed delta.
    * ``reference`` / ``set_reference`` / ``freeze`` read and replace the model's reference.  A new
      reference brings its centre/scale and vocabulary: the current window restarts on them (windows on
      another scale could not be compared or merged).  ``freeze`` turns the current window into the
      reference (source "window"); ``set_reference`` keeps the uploaded profile's source.
    * The async methods may raise ``StoreError`` / ``StoreUnavailable`` (never a backend's own
      exception types) and honour cancellation; every backend call has a timeout.
    * ``health`` and ``feature_count`` are synchronous and answer from local state.  ``health()`` has at
      least ``backend`` ("memory" | "redis"), ``healthy``, ``last_error``, ``pending_bytes``, ``dropped``
      (everything dropped: ``dropped_features`` + ``dropped_models`` (+ ``dropped_rows`` for Redis)),
      ``flushes`` and ``errors`` (failures per operation, for ``sidecar.store.errors{op}``).
    """

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def add(self, records: Sequence[FeatureRecord]) -> None: ...

    async def current(self, model: str) -> Profile: ...

    async def reference(self, model: str) -> Profile | None: ...

    async def set_reference(self, model: str, profile: Profile) -> int: ...

    async def freeze(self, model: str) -> Profile: ...

    async def models(self) -> list[str]: ...

    def health(self) -> dict[str, object]: ...

    def feature_count(self, model: str) -> int: ...
