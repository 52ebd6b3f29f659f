"""POST /v1/feedback and GET /v1/performance over real HTTP on 127.0.0.1 (memory store; Redis down → 503)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sidecar.admin.feedback import routes
from sidecar.config import AdminSettings, LabelSettings, Settings, StoreSettings
from sidecar.quality.joins import PredictionRecord
from sidecar.store.labels import LabelStore
from sidecar.store.labels_memory import MemoryLabelStore
from sidecar.store.labels_redis import RedisLabelStore
from tests.fixtures.redis_server import free_port

NOW = time.time()


@dataclass
class Api:
    url: str
    http: aiohttp.ClientSession
    store: LabelStore
    scores: list[tuple[str, dict[str, float]]] = field(default_factory=list)

    async def post(
        self, body: Any, *, raw: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"data": io.BytesIO(raw)} if raw is not None else {"json": body}
        async with self.http.post(self.url + "/v1/feedback", headers=headers, **kwargs) as resp:
            return resp.status, await resp.json()

    async def performance(self, query: str = "") -> tuple[int, Any]:
        async with self.http.get(self.url + "/v1/performance" + query) as resp:
            return resp.status, await resp.json()


Serve = Callable[..., Awaitable[Api]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(
        settings: Settings | None = None,
        store: LabelStore | None = None,
        *,
        remote: str | None = None,
        models: Callable[[], list[str]] | None = None,
    ) -> Api:
        settings = settings or Settings()
        store = store or MemoryLabelStore(settings.labels)
        middlewares = []
        if remote is not None:
            # Stands in for a caller on another host: the peer address is all the guard looks at.
            @web.middleware
            async def from_elsewhere(request: web.Request, handler: Any) -> web.StreamResponse:
                return await handler(request.clone(remote=remote))  # type: ignore[no-any-return]

            middlewares.append(from_elsewhere)
        api_scores: list[tuple[str, dict[str, float]]] = []
        app = web.Application(middlewares=middlewares)
        app.router.add_routes(routes(store, settings, on_scores=lambda m, s: api_scores.append((m, s)), models=models))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        http = aiohttp.ClientSession()
        sessions.append(http)
        return Api(f"http://127.0.0.1:{port}", http, store, api_scores)

    yield start
    for http in sessions:
        await http.close()
    for runner in runners:
        await runner.cleanup()


def _pred(i: int, predicted: str | float = "cat", model: str = "m", **kw: Any) -> PredictionRecord:
    return PredictionRecord(request_id=f"r{i}", model=model, time=NOW, predicted=predicted, **kw)


async def test_single_label_then_performance(serve: Serve) -> None:
    api = await serve()
    await api.store.put_predictions([_pred(1), _pred(2, "dog")])
    status, body = await api.post({"request_id": "r1", "label": "cat"})
    assert (status, body) == (200, {"accepted": 1, "results": [{"request_id": "r1", "status": "ok"}]})
    status, body = await api.post({"request_id": "r2", "label": "cat"})
    assert status == 200 and body["accepted"] == 1
    status, perf = await api.performance()
    assert status == 200
    assert perf["model"] == "m" and perf["n_labeled"] == 2 and perf["task"] == "classification"
    assert perf["metrics"]["accuracy"] == 0.5
    assert perf["confusion_matrix"] == {"labels": ["cat", "dog"], "matrix": [[1, 1], [0, 0]]}
    assert perf["label_distribution"] == {"cat": 1.0}
    assert perf["prediction_distribution"] == {"cat": 0.5, "dog": 0.5}
    assert api.scores == [("m", {"accuracy": 0.5, "precision": 0.5, "recall": 0.25, "f1": pytest.approx(1 / 3)})]


async def test_repeated_label_replaces_and_refreshes_the_report(serve: Serve) -> None:
    api = await serve()
    await api.store.put_predictions([_pred(1, 2.0)])
    assert (await api.post({"request_id": "r1", "label": 1}))[1]["results"][0]["status"] == "ok"
    assert (await api.performance())[1]["metrics"]["mae"] == 1.0
    status, body = await api.post({"request_id": "r1", "label": 2.0})
    assert status == 200 and body["results"] == [{"request_id": "r1", "status": "replaced"}]
    _, perf = await api.performance()
    assert perf["n_labeled"] == 1 and perf["metrics"]["mae"] == 0.0  # not cached past a new label


async def test_batch_with_mixed_items_keeps_the_valid_ones(serve: Serve) -> None:
    api = await serve()
    await api.store.put_predictions([_pred(1), _pred(2, 3.0), _pred(3)])
    batch = [
        {"request_id": "r1", "label": "cat"},
        {"request_id": "nope", "label": "cat"},
        {"request_id": "r2", "label": "three"},
        {"request_id": "r3", "label": None},
        {"request_id": "r3", "label": {"a": 1}},
        {"request_id": "r3"},
        {"request_id": 7, "label": "cat"},
        {"request_id": "", "label": "cat"},
        "r3=cat",
        {"request_id": "r2", "label": 2.5},
        {"request_id": "r1", "label": "dog"},
    ]
    status, body = await api.post(batch)
    assert status == 200
    assert body["accepted"] == 3
    got = [(r["request_id"], r["status"], r.get("error")) for r in body["results"]]
    assert got == [
        ("r1", "ok", None),
        ("nope", "error", "unknown_id"),
        ("r2", "error", "wrong_type"),
        ("r3", "error", "wrong_type"),
        ("r3", "error", "wrong_type"),
        ("r3", "error", "missing_label"),
        (None, "error", "invalid_request_id"),
        (None, "error", "invalid_request_id"),
        (None, "error", "invalid_item"),
        ("r2", "ok", None),
        ("r1", "replaced", None),
    ]
    assert all(r["detail"] for r in body["results"] if r["status"] == "error")
    assert [(j.prediction.request_id, j.label) for j in await api.store.window("m")] == [("r2", 2.5), ("r1", "dog")]


async def test_single_item_errors_carry_a_status(serve: Serve) -> None:
    settings = Settings(labels=LabelSettings(horizon=60.0))
    api = await serve(settings)
    # r1 is live now (NOW is the module's import time, which may be minutes ago in a full run).
    await api.store.put_predictions([PredictionRecord("r1", "m", time.time(), 2.0)])
    await api.store.put_predictions([PredictionRecord("old", "m", NOW - 3600, "cat")], now=NOW - 3600)
    for item, status, error in [
        ({"request_id": "nope", "label": 1}, 404, "unknown_id"),
        ({"request_id": "old", "label": "cat"}, 410, "expired"),
        ({"request_id": "r1", "label": "x"}, 422, "wrong_type"),
        ({"request_id": "r1", "label": float("inf")}, 422, "wrong_type"),
        ({"request_id": "r1", "label": 10**400}, 422, "wrong_type"),
        ({"label": 1}, 400, "invalid_request_id"),
    ]:
        got_status, body = await api.post(None, raw=json.dumps(item).encode())
        assert (got_status, body["error"], body["accepted"]) == (status, error, 0), item
    assert await api.store.window("m") == []


async def test_malformed_and_oversized_bodies_change_nothing(serve: Serve) -> None:
    settings = Settings(labels=LabelSettings(max_batch=3))
    api = await serve(settings)
    await api.store.put_predictions([_pred(i) for i in range(5)])
    for raw in [b"{not json", b"\xff\xfe", b"", b'"just a string"', b"42", b"null"]:
        status, body = await api.post(None, raw=raw)
        assert status == 400 and set(body) == {"error", "detail"}, raw
    status, body = await api.post([{"request_id": f"r{i}", "label": "cat"} for i in range(4)])
    assert status == 413 and body["error"] == "batch_too_large"
    assert await api.store.window("m") == []
    status, body = await api.post([{"request_id": f"r{i}", "label": "cat"} for i in range(3)])
    assert status == 200 and body["accepted"] == 3
    status, body = await api.post([])
    assert (status, body) == (200, {"accepted": 0, "results": []})


async def test_body_over_the_listener_limit_is_413(serve: Serve) -> None:
    api = await serve()
    status, body = await api.post(None, raw=b"[" + b" " * (2 * 1024 * 1024) + b"]")
    assert status == 413 and body["error"] == "body_too_large"


async def test_token_is_required_when_set(serve: Serve) -> None:
    api = await serve(Settings(admin=AdminSettings(token="s3cret")))
    await api.store.put_predictions([_pred(1)])
    item = {"request_id": "r1", "label": "cat"}
    status, body = await api.post(item)
    assert status == 401 and body["error"] == "unauthorized"
    status, body = await api.post(item, headers={"Authorization": "Bearer wrong"})
    assert status == 403 and body["error"] == "forbidden"
    assert await api.store.window("m") == []
    status, body = await api.post(item, headers={"Authorization": "Bearer s3cret"})
    assert status == 200 and body["accepted"] == 1


async def test_without_token_only_loopback_may_post(serve: Serve) -> None:
    elsewhere = await serve(remote="203.0.113.9")
    await elsewhere.store.put_predictions([_pred(1)])
    status, body = await elsewhere.post({"request_id": "r1", "label": "cat"})
    assert status == 403 and body["error"] == "forbidden"
    assert await elsewhere.store.window("m") == []
    assert (await elsewhere.performance())[0] == 200  # reading is not a mutation
    v6_loopback = await serve(remote="::1")
    await v6_loopback.store.put_predictions([_pred(1)])
    assert (await v6_loopback.post({"request_id": "r1", "label": "cat"}))[0] == 200
    with_token = await serve(Settings(admin=AdminSettings(token="t")), remote="203.0.113.9")
    await with_token.store.put_predictions([_pred(1)])
    assert (await with_token.post({"request_id": "r1", "label": "cat"}, headers={"Authorization": "Bearer t"}))[
        0
    ] == 200


async def test_model_scoping(serve: Serve) -> None:
    api = await serve()
    status, body = await api.performance()
    assert (status, body) == (200, {"model": None, "n_labeled": 0, "task": None, "metrics": {}})
    await api.store.put_predictions([_pred(1, model="a"), _pred(2, 1.0, model="b")])
    status, body = await api.performance()
    assert status == 409 and body["error"] == "model_required" and body["models"] == ["a", "b"]
    status, body = await api.performance("?model=a")
    assert (status, body) == (200, {"model": "a", "n_labeled": 0, "task": None, "metrics": {}})
    status, body = await api.performance("?model=zzz")
    assert status == 404 and body["error"] == "unknown_model" and body["models"] == ["a", "b"]
    await api.post({"request_id": "r2", "label": 3})
    status, body = await api.performance("?model=b")
    assert body["task"] == "regression" and body["metrics"]["mae"] == 2.0
    assert set(body["metrics"]) == {"mae", "rmse", "mape"}  # one label: R² is undefined, so absent


async def test_models_callback_and_default_model(serve: Serve) -> None:
    api = await serve(Settings(model="fallback"), models=lambda: ["seen-by-capture"])
    assert (await api.performance())[1]["model"] == "seen-by-capture"
    default = await serve(Settings(model="fallback"))
    assert (await default.performance())[1]["model"] == "fallback"


async def test_segments_name_the_feature(serve: Serve) -> None:
    api = await serve(Settings(labels=LabelSettings(segment_feature="region")))
    await api.store.put_predictions([_pred(1, segment="n"), _pred(2, segment="s"), _pred(3, segment="s")])
    await api.post([{"request_id": f"r{i}", "label": "cat" if i < 3 else "dog"} for i in (1, 2, 3)])
    _, body = await api.performance()
    seg = body["segments"]
    assert seg["feature"] == "region" and seg["metric"] == "accuracy"
    assert seg["groups"] == {"n": {"n": 1, "accuracy": 1.0}, "s": {"n": 2, "accuracy": 0.5}}
    assert seg["largest_gap"] == {"value": 0.5, "best": "n", "worst": "s"}


async def test_redis_down_answers_503(serve: Serve) -> None:
    settings = Settings(store=StoreSettings(url=f"redis://127.0.0.1:{free_port()}/0", timeout=0.3))
    store = RedisLabelStore(settings)
    api = await serve(settings, store)
    status, body = await api.post({"request_id": "r1", "label": "cat"})
    assert status == 503 and body["error"] == "store_unavailable"
    status, body = await api.performance("?model=m")
    assert status == 503 and body["error"] == "store_unavailable"
    await store.close()


async def test_label_posted_to_one_replica_scores_on_the_other(serve: Serve, redis_url: str) -> None:
    settings = Settings(store=StoreSettings(url=redis_url, timeout=2.0))
    stores = [RedisLabelStore(settings), RedisLabelStore(settings)]
    one, two = await serve(settings, stores[0]), await serve(settings, stores[1])
    await one.store.put_predictions([_pred(1, 2.0), _pred(2, 4.0)])
    status, body = await two.post([{"request_id": "r1", "label": 3}, {"request_id": "r2", "label": 4}])
    assert status == 200 and body["accepted"] == 2
    status, perf = await one.performance()
    assert status == 200 and perf["model"] == "m" and perf["n_labeled"] == 2
    assert perf["metrics"] == {"mae": 0.5, "rmse": pytest.approx(0.5**0.5), "mape": pytest.approx(1 / 6), "r2": -1.0}
    for store in stores:
        await store.close()
