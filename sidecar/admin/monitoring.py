"""Admin routes for the model-scoped monitoring API: drift, reference, samples, anomalies."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from ..capture.consumer import CaptureConsumer
from ..errors import AdminError, ProfileError, StoreError
from ..evaluator import DriftEvaluator
from ..report.distributions import MAX_BINS, distributions
from ..sketches.profile import Profile
from .auth import choose_model, error_response, json_error, require_mutation_allowed

MAX_LIMIT = 1000
MAX_UPLOAD = 64 * 1024 * 1024


class _ReferenceStore(Protocol):
    async def models(self) -> list[str]: ...
    async def freeze(self, model: str) -> Profile: ...
    async def set_reference(self, model: str, profile: Profile) -> int: ...
    async def current(self, model: str) -> Profile: ...
    async def reference(self, model: str) -> Profile | None: ...


def _limit(request: web.Request, default: int = 50) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise AdminError(400, "invalid_limit", f"limit must be an integer 1..{MAX_LIMIT}")
    return int(raw)


class MonitoringRoutes:
    def __init__(
        self,
        *,
        token: str,
        store: _ReferenceStore,
        consumer: CaptureConsumer,
        evaluator: DriftEvaluator,
        default_model: str = "",
        on_reference: Callable[[str], None] | None = None,
    ) -> None:
        self._token = token
        self._store = store
        self._consumer = consumer
        self._evaluator = evaluator
        self._default_model = default_model
        self._on_reference = on_reference

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v1/drift", self._wrap(self.drift)),
            web.post("/v1/reference", self._wrap(self.reference)),
            web.get("/v1/samples", self._wrap(self.samples)),
            web.get("/v1/anomalies", self._wrap(self.anomalies)),
            web.get("/v1/distributions", self._wrap(self.distributions)),
        ]

    @staticmethod
    def _wrap(
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except AdminError as exc:
                return error_response(exc)
            except StoreError as exc:
                return json_error(503, "store_unavailable", type(exc).__name__)

        return wrapped

    async def known_models(self) -> list[str]:
        models = dict.fromkeys(self._consumer.models())
        with contextlib.suppress(StoreError):
            models.update(dict.fromkeys(await self._store.models()))
        return list(models)

    async def model(self, request: web.Request) -> str | None:
        models = await self.known_models()
        return choose_model(request.query.get("model"), models, self._default_model, what="traffic or reference")

    async def drift(self, request: web.Request) -> web.Response:
        model = await self.model(request)
        if model is None:
            return web.json_response(
                {
                    "model": None,
                    "drifted": False,
                    "reference": {"n": 0, "source": "none"},
                    "current": {"n": 0, "window_seconds": 0},
                    "features": [],
                    "reason": "no traffic seen yet",
                }
            )
        evaluation = await self._evaluator.evaluate(model)
        return web.json_response(evaluation.to_json())

    async def reference(self, request: web.Request) -> web.Response:
        require_mutation_allowed(request, self._token)
        if request.content_length is not None and request.content_length > MAX_UPLOAD:
            raise AdminError(413, "too_large", f"reference uploads are limited to {MAX_UPLOAD} bytes")
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, RecursionError) as exc:  # ValueError includes UnicodeDecodeError
            raise AdminError(400, "invalid_json", "the body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise AdminError(400, "invalid_body", 'expected {"from": "window"} or a profile from `sidecar profile`')
        if "from" in body and "features" not in body:
            if body.get("from") != "window":
                raise AdminError(400, "invalid_source", "'from' must be 'window'")
            model = await self.model(request)
            if model is None:
                raise AdminError(409, "no_traffic", "no model has been seen yet: nothing to freeze")
            current = await self._store.current(model)
            if current.n == 0:
                raise AdminError(409, "empty_window", f"the current window of {model!r} holds no samples")
            profile = await self._store.freeze(model)
            source = "window"
        else:
            try:
                profile = Profile.from_json(body)
            except ProfileError as exc:
                raise AdminError(400, "invalid_profile", str(exc)) from exc
            model = request.query.get("model") or profile.model or self._default_model
            if not model:
                raise AdminError(400, "model_required", "the profile names no model: pass ?model=NAME")
            profile.version = await self._store.set_reference(model, profile)
            source = "profile"
        self._evaluator.invalidate(model)
        if self._on_reference is not None:
            self._on_reference(model)
        return web.json_response(
            {
                "model": model,
                "source": source,
                "n": profile.n,
                "version": profile.version,
                "features": len(profile.kinds),
            }
        )

    async def distributions(self, request: web.Request) -> web.Response:
        model = await self.model(request)
        if model is None:
            return web.json_response({"model": None, "features": []})
        raw_bins = request.query.get("bins", "30")
        if not (raw_bins.isascii() and raw_bins.isdigit()) or not 2 <= int(raw_bins) <= MAX_BINS:
            raise AdminError(400, "invalid_bins", f"bins must be an integer 2..{MAX_BINS}")
        current = await self._store.current(model)
        reference = await self._store.reference(model)
        return web.json_response({"model": model, "features": distributions(reference, current, bins=int(raw_bins))})

    async def samples(self, request: web.Request) -> web.Response:
        limit = _limit(request)
        model = await self.model(request)
        view = self._consumer.view(model) if model in self._consumer.models() else None
        items = list(view.samples)[-limit:][::-1] if view is not None else []
        return web.json_response({"model": model, "samples": items})

    async def anomalies(self, request: web.Request) -> web.Response:
        limit = _limit(request)
        model = await self.model(request)
        view = self._consumer.view(model) if model in self._consumer.models() else None
        items = list(view.anomalies)[-limit:][::-1] if view is not None else []
        return web.json_response({"model": model, "anomalies": items})
