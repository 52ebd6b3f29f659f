"""The in-memory label store: joins, idempotent labels, horizon expiry, bounded memory."""

from __future__ import annotations

from sidecar.config import LabelSettings, Settings
from sidecar.quality.joins import PredictionRecord
from sidecar.quality.metrics import performance_report
from sidecar.store.labels import PredictionBuffer, open_label_store
from sidecar.store.labels_memory import MemoryLabelStore

T0 = 1_000_000.0


def _pred(i: int, *, model: str = "m", predicted: str | float = "cat", t: float = T0) -> PredictionRecord:
    return PredictionRecord(request_id=f"r{i}", model=model, time=t, predicted=predicted)


def _store(**labels: object) -> MemoryLabelStore:
    return MemoryLabelStore(LabelSettings(**labels), clock=lambda: T0)  # type: ignore[arg-type]


async def test_label_joins_and_repeat_replaces_without_double_count() -> None:
    store = _store()
    await store.put_predictions([_pred(1), _pred(2, predicted="dog")])
    first = await store.put_labels([("r1", "cat"), ("r2", "cat")], now=T0 + 10)
    assert [(o.request_id, o.status, o.model) for o in first] == [("r1", "ok", "m"), ("r2", "ok", "m")]
    again = await store.put_labels([("r2", "dog")], now=T0 + 20)
    assert [o.status for o in again] == ["replaced"]
    window = await store.window("m")
    assert [(j.prediction.request_id, j.label, j.label_time) for j in window] == [
        ("r1", "cat", T0 + 10),
        ("r2", "dog", T0 + 20),
    ]
    assert performance_report(window)["metrics"]["accuracy"] == 1.0


async def test_duplicate_ids_in_one_batch_count_once() -> None:
    store = _store()
    await store.put_predictions([_pred(1)])
    outcomes = await store.put_labels([("r1", "dog"), ("r1", "cat")], now=T0)
    assert [o.status for o in outcomes] == ["ok", "replaced"]
    assert [j.label for j in await store.window("m")] == ["cat"]


async def test_unknown_expired_and_wrong_type() -> None:
    store = _store(horizon=100.0)
    await store.put_predictions([_pred(1), _pred(2, predicted=2.5), _pred(3)])
    outcomes = await store.put_labels(
        [("nope", "cat"), ("r2", "cat"), ("r2", True), ("r2", 3), ("r1", None), ("r1", {"a": 1})], now=T0 + 50
    )
    assert [o.status for o in outcomes] == ["unknown_id", "wrong_type", "wrong_type", "ok", "wrong_type", "wrong_type"]
    late = await store.put_labels([("r3", "cat")], now=T0 + 101)
    assert [(o.status, o.model) for o in late] == [("expired", "m")]
    assert [o.status for o in await store.put_labels([("r3", "cat")], now=T0 + 102)] == ["unknown_id"]
    assert [j.prediction.request_id for j in await store.window("m")] == ["r2"]


async def test_memory_is_bounded_when_labels_never_arrive() -> None:
    store = _store(max_predictions=100)
    for batch in range(50):
        await store.put_predictions([_pred(batch * 20 + i) for i in range(20)])
    health = store.health()
    assert health.predictions == 100 and health.evicted == 900
    # the newest survive, the oldest were evicted
    assert [o.status for o in await store.put_labels([("r999", "cat"), ("r0", "cat")], now=T0)] == [
        "ok",
        "unknown_id",
    ]


async def test_predictions_past_the_horizon_are_dropped_as_new_ones_arrive() -> None:
    store = _store(horizon=10.0)
    await store.put_predictions([_pred(i, t=T0) for i in range(30)], now=T0)
    await store.put_predictions([_pred(100, t=T0 + 20)], now=T0 + 20)
    assert store.health().predictions == 1 and store.expired == 30


async def test_window_keeps_the_last_labelled_predictions() -> None:
    store = _store(window=5)
    await store.put_predictions([_pred(i) for i in range(10)])
    for i in range(10):
        await store.put_labels([(f"r{i}", "cat")], now=T0 + i)
    assert [j.prediction.request_id for j in await store.window("m")] == [f"r{i}" for i in range(5, 10)]
    # relabelling an evicted prediction re-enters it once, as the newest
    await store.put_labels([("r0", "dog")], now=T0 + 20)
    window = await store.window("m")
    assert len(window) == 5 and window[-1].prediction.request_id == "r0"


async def test_models_and_windows_are_per_model() -> None:
    store = _store()
    await store.put_predictions([_pred(1, model="b"), _pred(2, model="a", predicted=1.0)])
    await store.put_labels([("r1", "cat"), ("r2", 2.0)], now=T0)
    assert await store.models() == ["a", "b"]
    assert [j.prediction.request_id for j in await store.window("a")] == ["r2"]
    assert await store.window("unknown") == []


async def test_factory_picks_memory() -> None:
    store = open_label_store(Settings())
    assert isinstance(store, MemoryLabelStore) and store.health().backend == "memory"
    await store.close()


async def test_prediction_buffer_flushes_in_one_call_and_is_bounded() -> None:
    store = _store()
    buffer = PredictionBuffer(max_records=10)
    buffer.add(_pred(i) for i in range(15))
    assert len(buffer) == 10 and buffer.dropped == 5
    assert await buffer.flush(store) == 10 and len(buffer) == 0
    assert await buffer.flush(store) == 0
    outcomes = await store.put_labels([("r4", "cat"), ("r5", "cat")], now=T0)
    assert [o.status for o in outcomes] == ["unknown_id", "ok"]  # the five oldest were dropped
