"""Admin routes for delayed ground truth: POST /v1/feedback and GET /v1/performance (admin layer).

``POST /v1/feedback`` takes one ``{"request_id", "label"}`` object or a list of at most
``labels.max_batch`` of them.  Each item gets its own result; valid items are kept even when others
fail.  A body that is not JSON, not an object/list, or too long changes nothing (400 / 413).  Labels
are idempotent per request id, so a client may retry a whole batch after a 503.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..config import Settings
from ..errors import AdminError, StoreError
from ..quality.joins import valid_label_value
from ..quality.metrics import gauge_scores, performance_report
from ..store.labels import LabelOutcome, LabelStore
from .auth import choose_model, error_response, json_error, require_mutation_allowed

MAX_REQUEST_ID_CHARS = 256
#: A computed report is reused this long unless a label for its model arrives on this replica.
CACHE_SECONDS = 1.0
MAX_ROWS_PER_LABEL = 10_000  # a list label expands to at most this many rows (still within max_batch)
_MAX_CACHED = 256

_ITEM_STATUS = {"unknown_id": 404, "expired": 410, "wrong_type": 422}
_DETAIL = {
    "unknown_id": "no prediction with this request id (never captured, or evicted; rows of a batched request are <id>#<row>, or send a list label)",
    "expired": "the prediction is older than the label horizon",
    "wrong_type": "a label is a string, a finite number or a boolean; regression needs a number",
    "invalid_item": "each item must be an object with request_id and label",
    "invalid_request_id": f"request_id must be a string of 1..{MAX_REQUEST_ID_CHARS} printable characters",
    "missing_label": "the item has no label",
}

ScoresCallback = Callable[[str, dict[str, float]], None]


async def performance_body(label_store: LabelStore, model: str, *, segment_feature: str = "") -> dict[str, Any]:
    """The /v1/performance document of ``model`` (also for an evaluator timer; numpy runs in a thread)."""
    window = await label_store.window(model)
    report = await asyncio.to_thread(performance_report, window)
    if segment_feature and report.get("segments"):
        report["segments"] = {"feature": segment_feature, **report["segments"]}
    return {"model": model, **report}


def routes(
    label_store: LabelStore,
    settings: Settings,
    *,
    on_scores: ScoresCallback | None = None,
    models: Callable[[], list[str]] | None = None,
    clock: Callable[[], float] = time.time,
    on_labels: Callable[[web.Request, list[LabelOutcome]], None] | None = None,
) -> list[web.RouteDef]:
    """The two routes; ``on_scores(model, {metric: value})`` feeds ``sidecar.performance.score``.

    ``models`` names the models the capture pipeline has seen (merged with the store's own list).
    """
    handlers = _Handlers(label_store, settings, on_scores, models, clock, on_labels)
    return [web.post("/v1/feedback", handlers.feedback), web.get("/v1/performance", handlers.performance)]


class _Handlers:
    def __init__(
        self,
        store: LabelStore,
        settings: Settings,
        on_scores: ScoresCallback | None,
        models: Callable[[], list[str]] | None,
        clock: Callable[[], float],
        on_labels: Callable[[web.Request, list[LabelOutcome]], None] | None = None,
    ) -> None:
        self._on_labels = on_labels
        self._store = store
        self._settings = settings
        self._on_scores = on_scores
        self._models = models
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    async def feedback(self, request: web.Request) -> web.Response:
        try:
            require_mutation_allowed(request, self._settings.admin.token)
            doc = await _read_json(request)
        except AdminError as exc:
            return error_response(exc)
        single = isinstance(doc, dict)
        if not single and not isinstance(doc, list):
            return json_error(400, "invalid_body", "expected an object or a list of objects")
        items: list[Any] = _expand_rows([doc] if single else doc)
        single = single and len(items) == 1
        if len(items) > self._settings.labels.max_batch:
            return json_error(413, "batch_too_large", f"at most {self._settings.labels.max_batch} labels per call")
        results: list[dict[str, Any]] = []
        valid: list[tuple[int, tuple[str, object]]] = []
        for item in items:
            error, pair = _check_item(item)
            results.append(_error_result(pair[0] if pair else None, error) if error else {})
            if pair is not None and not error:
                valid.append((len(results) - 1, pair))
        try:
            outcomes = await self._store.put_labels([pair for _, pair in valid], now=self._clock())
        except StoreError as exc:
            return json_error(503, "store_unavailable", f"{type(exc).__name__}; labels are idempotent, retry")
        for (index, _), outcome in zip(valid, outcomes, strict=True):
            results[index] = _outcome_result(outcome)
            if outcome.stored and outcome.model is not None:
                self._cache.pop(outcome.model, None)
        if self._on_labels is not None:
            self._on_labels(request, [o for o in outcomes if o.stored])
        accepted = sum(r["status"] != "error" for r in results)
        body: dict[str, Any] = {"accepted": accepted, "results": results}
        if single and results[0]["status"] == "error":
            code = results[0]["error"]
            body = {"error": code, "detail": results[0]["detail"], **body}
            return web.json_response(body, status=_ITEM_STATUS.get(code, 400))
        return web.json_response(body)

    async def performance(self, request: web.Request) -> web.Response:
        try:
            model = await self._model(request)
            if model is None:
                return web.json_response({"model": None, "n_labeled": 0, "task": None, "metrics": {}})
            body = await self._report(model)
        except AdminError as exc:
            return error_response(exc)
        except StoreError as exc:
            return json_error(503, "store_unavailable", type(exc).__name__)
        return web.json_response(body)

    async def _report(self, model: str) -> dict[str, Any]:
        now = time.monotonic()
        cached = self._cache.get(model)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        body = await performance_body(self._store, model, segment_feature=self._settings.labels.segment_feature)
        self._cache[model] = (now, body)
        self._cache.move_to_end(model)
        while len(self._cache) > _MAX_CACHED:
            self._cache.popitem(last=False)
        if self._on_scores is not None and body["n_labeled"]:
            self._on_scores(model, gauge_scores(body))
        return body

    async def _known_models(self) -> list[str]:
        seen = set(self._models()) if self._models is not None else set()
        try:
            seen.update(await self._store.models())
        except StoreError:
            if self._models is None:
                raise
        return sorted(seen)

    async def _model(self, request: web.Request) -> str | None:
        models = await self._known_models()
        return choose_model(request.query.get("model"), models, self._settings.model, what="predictions or labels")


async def _read_json(request: web.Request) -> Any:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise AdminError(413, "body_too_large", "the body exceeds the admin listener's size limit") from exc
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # ValueError includes UnicodeDecodeError
        raise AdminError(400, "invalid_json", "the body is not valid JSON") from exc


def _expand_rows(items: list[Any]) -> list[Any]:
    """A list label labels a batched request row by row: ``<request_id>#<i>`` as predictions are kept."""
    out: list[Any] = []
    for item in items:
        label = item.get("label") if isinstance(item, dict) else None
        rid = item.get("request_id") if isinstance(item, dict) else None
        if isinstance(label, list) and isinstance(rid, str) and 0 < len(label) <= MAX_ROWS_PER_LABEL:
            out.extend({"request_id": f"{rid}#{i}", "label": value} for i, value in enumerate(label))
        else:
            out.append(item)
    return out


def _check_item(item: Any) -> tuple[str, tuple[str, object] | None]:
    if not isinstance(item, dict):
        return "invalid_item", None
    request_id = item.get("request_id")
    if (
        not isinstance(request_id, str)
        or not 0 < len(request_id) <= MAX_REQUEST_ID_CHARS
        or not request_id.isprintable()
    ):
        return "invalid_request_id", None
    if "label" not in item:
        return "missing_label", (request_id, None)
    label = item["label"]
    if not valid_label_value(label):
        return "wrong_type", (request_id, label)
    return "", (request_id, label)


def _error_result(request_id: str | None, error: str) -> dict[str, Any]:
    return {"request_id": request_id, "status": "error", "error": error, "detail": _DETAIL[error]}


def _outcome_result(outcome: LabelOutcome) -> dict[str, Any]:
    if outcome.stored:
        return {"request_id": outcome.request_id, "status": outcome.status}
    return _error_result(outcome.request_id, outcome.status)
