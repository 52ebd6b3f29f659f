"""Sketch and label stores behind small protocols (store layer); ``open_store`` picks a backend."""

from __future__ import annotations

from ..config import StoreSettings
from .base import SketchStore

MAX_MODELS = 64  # models tracked per store: model names come from request paths, so they are capped


def open_store(settings: StoreSettings, *, max_features: int, top_k: int) -> SketchStore:
    """The memory store for ``"memory"``, otherwise the Redis store for a redis URL."""
    if settings.url == "memory":
        from .memory import MemorySketchStore

        return MemorySketchStore(settings, max_features=max_features, top_k=top_k)
    from .redis_store import RedisSketchStore  # imports redis only when it is used

    return RedisSketchStore(settings, max_features=max_features, top_k=top_k)


__all__ = ["MAX_MODELS", "SketchStore", "open_store"]
