"""In-process sketch store for a single replica (store layer): time buckets in memory, nothing shared.

Each model has one open bucket (a ``ProfileBuilder``) and at most ``window_buckets - 1`` closed ones
(``Profile``s).  A record goes into the bucket of the store's clock when ``add`` sees it; when the
clock enters a new bucket the open one is closed, and buckets older than the window are dropped, so
memory is bounded by models × buckets × features.  A new reference (frozen or uploaded) restarts the
window on the reference's scales and vocabularies.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..config import StoreSettings
from ..models import FeatureRecord
from ..sketches.profile import Profile, ProfileBuilder
from . import MAX_MODELS


@dataclass(slots=True)
class _Model:
    builder: ProfileBuilder
    bucket: int
    closed: deque[tuple[int, Profile]] = field(default_factory=deque)
    reference: Profile | None = None
    version: int = 0


class MemorySketchStore:
    def __init__(
        self,
        settings: StoreSettings,
        *,
        max_features: int,
        top_k: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._max_features = max_features
        self._top_k = top_k
        self._clock = clock
        self._models: dict[str, _Model] = {}
        self._dropped_models = 0  # records of models beyond MAX_MODELS

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # ------------------------------------------------------------------ hot side

    def _bucket_now(self) -> int:
        return int(self._clock() // self._settings.bucket_seconds)

    def _state(self, model: str, bucket: int) -> _Model | None:
        state = self._models.get(model)
        if state is None:
            if len(self._models) >= MAX_MODELS:
                return None
            builder = ProfileBuilder(model, top_k=self._top_k, max_features=self._max_features)
            state = self._models[model] = _Model(builder, bucket)
        return state

    def _roll(self, state: _Model, bucket: int) -> None:
        if bucket > state.bucket:
            closed = state.builder.take(decide=True)
            if closed.n:
                state.closed.append((state.bucket, closed))
            state.bucket = bucket
        oldest = bucket - self._settings.window_buckets
        while state.closed and state.closed[0][0] <= oldest:
            state.closed.popleft()

    def add(self, records: Sequence[FeatureRecord]) -> None:
        bucket = self._bucket_now()
        by_model: dict[str, list[FeatureRecord]] = {}
        for record in records:
            by_model.setdefault(record.model, []).append(record)
        for model, batch in by_model.items():
            state = self._state(model, bucket)
            if state is None:
                self._dropped_models += len(batch)
                continue
            self._roll(state, bucket)
            state.builder.add(batch)

    # ------------------------------------------------------------------ reads

    def _window(self, state: _Model, *, decide: bool) -> Profile:
        now = self._bucket_now()
        self._roll(state, now)
        profile = Profile(state.builder.model)
        for _, closed in state.closed:
            profile = profile.merge(closed)
        if state.bucket > now - self._settings.window_buckets:
            profile = profile.merge(state.builder.build(decide=decide))
        return profile

    async def current(self, model: str) -> Profile:
        state = self._models.get(model)
        return Profile(model) if state is None else self._window(state, decide=False)

    async def reference(self, model: str) -> Profile | None:
        state = self._models.get(model)
        return None if state is None else state.reference

    async def set_reference(self, model: str, profile: Profile) -> int:
        state = self._state(model, self._bucket_now())
        if state is None:
            raise _too_many_models(model)
        stored = Profile.from_json({**profile.to_json(), "model": model})  # a private copy
        self._install(state, stored)
        return state.version

    async def freeze(self, model: str) -> Profile:
        state = self._state(model, self._bucket_now())
        if state is None:
            raise _too_many_models(model)
        profile = self._window(state, decide=True)
        profile.source = "window"
        self._install(state, profile)
        return profile

    def _install(self, state: _Model, profile: Profile) -> None:
        state.version += 1
        profile.version = state.version
        profile.created = self._clock()
        state.reference = profile
        dropped = state.builder.dropped_features
        state.builder = ProfileBuilder.for_reference(profile, top_k=self._top_k, max_features=self._max_features)
        state.builder.dropped_features = dropped
        state.closed.clear()
        state.bucket = self._bucket_now()

    async def models(self) -> list[str]:
        return list(self._models)

    def feature_count(self, model: str) -> int:
        state = self._models.get(model)
        return 0 if state is None else state.builder.feature_count

    def health(self) -> dict[str, object]:
        dropped_features = sum(s.builder.dropped_features for s in self._models.values())
        return {
            "backend": "memory",
            "healthy": True,
            "last_error": None,
            "pending_bytes": sum(s.builder.approx_bytes() for s in self._models.values()),
            "dropped": dropped_features + self._dropped_models,
            "dropped_features": dropped_features,
            "dropped_models": self._dropped_models,
            "flushes": 0,
            "errors": {},
            "models": len(self._models),
        }


def _too_many_models(model: str) -> Exception:
    from ..errors import StoreError

    return StoreError(f"cannot track model {model!r}: the store already tracks {MAX_MODELS} models")
