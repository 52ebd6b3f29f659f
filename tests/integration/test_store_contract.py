"""The SketchStore contract, checked on both backends (memory, and Redis against a real redis-server)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest

from sidecar.config import StoreSettings
from sidecar.models import FeatureRecord
from sidecar.sketches import Profile, ProfileBuilder
from sidecar.store import open_store
from sidecar.store.base import SketchStore
from sidecar.store.memory import MemorySketchStore
from sidecar.store.redis_store import RedisSketchStore


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


def records(n: int, start: int = 0, model: str = "m", shift: float = 0.0) -> list[FeatureRecord]:
    rng = np.random.default_rng(start)
    return [
        FeatureRecord(
            model=model,
            request_id=f"r{i}",
            time=float(i),
            inputs={"x": float(rng.normal(50 + shift, 4)), "colour": ("red", "green", "blue")[i % 3]},
            outputs={"prediction": float(i % 2)},
            kinds={"x": "numeric", "colour": "categorical", "prediction": "numeric"},
        )
        for i in range(start, start + n)
    ]


StoreFactory = Callable[..., SketchStore]


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    stores: list[SketchStore] = []

    def make(clock: Clock, **overrides: object) -> SketchStore:
        settings = {"bucket_seconds": 60, "window_buckets": 3, **overrides}
        if request.param == "memory":
            store: SketchStore = MemorySketchStore(StoreSettings(**settings), max_features=5, top_k=3, clock=clock)  # type: ignore[arg-type]
        else:
            url = request.getfixturevalue("redis_url")
            store = RedisSketchStore(
                StoreSettings(url=url, **settings),  # type: ignore[arg-type]
                max_features=5,
                top_k=3,
                clock=clock,
                flush_in_background=False,
            )
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()


async def test_add_then_current_counts_everything(make_store: StoreFactory) -> None:
    store = make_store(Clock())
    await store.start()
    store.add(records(600))
    current = await store.current("m")
    assert current.n == 600
    assert current.numeric[("input", "x")].count == 600
    assert current.numeric[("output", "prediction")].sum == 300
    assert current.categorical[("input", "colour")].frequencies() == {"red": 200, "green": 200, "blue": 200}
    assert current.kinds[("input", "colour")] == "categorical"
    assert await store.models() == ["m"]
    assert store.feature_count("m") == 3
    health = store.health()
    assert health["healthy"] is True and health["errors"] == {}
    assert (await store.current("other")).n == 0


async def test_window_rolls_buckets_out(make_store: StoreFactory) -> None:
    clock = Clock()
    store = make_store(clock)
    await store.start()
    for minute in range(5):
        store.add(records(100 * (minute + 1), start=minute * 1000))
        if isinstance(store, RedisSketchStore):
            await store.flush()
        clock.t += 60
    clock.t -= 60  # now in the last bucket written: the window is the last 3 buckets (300+400+500)
    current = await store.current("m")
    assert current.n == 1200
    assert current.numeric[("input", "x")].count == 1200


async def test_freeze_makes_reference_and_restarts_window(make_store: StoreFactory) -> None:
    store = make_store(Clock())
    await store.start()
    assert await store.reference("m") is None
    store.add(records(700))
    frozen = await store.freeze("m")
    assert frozen.source == "window" and frozen.n == 700 and frozen.version >= 1
    reference = await store.reference("m")
    assert reference is not None and reference.n == 700
    assert (await store.current("m")).n == 0
    store.add(records(50, start=5000))
    current = await store.current("m")
    assert current.n == 50
    # Later windows are on the reference's scale and vocabulary, so drift tests compare like with like.
    assert current.numeric[("input", "x")].compatible(reference.numeric[("input", "x")])
    assert current.categorical[("input", "colour")].vocabulary == frozenset({"red", "green", "blue"})


async def test_uploaded_profile_brings_its_scale_and_keeps_source(make_store: StoreFactory) -> None:
    store = make_store(Clock())
    await store.start()
    store.add(records(600))
    builder = ProfileBuilder("trained", top_k=3, max_features=5, warmup=100)
    builder.add(records(1000, start=10_000, model="trained", shift=10.0))
    uploaded = builder.build(decide=True)
    uploaded.source = "profile"
    first = await store.set_reference("m", uploaded)
    second = await store.set_reference("m", uploaded)
    assert second == first + 1
    reference = await store.reference("m")
    assert reference is not None
    assert (reference.model, reference.source, reference.n, reference.version) == ("m", "profile", 1000, second)
    assert (await store.current("m")).n == 0  # the window restarted on the profile's scale
    store.add(records(30, start=20_000))
    window = await store.current("m")
    assert window.numeric[("input", "x")].compatible(uploaded.numeric[("input", "x")])
    assert window.numeric[("input", "x")].count == 30


async def test_feature_cap_counts_drops(make_store: StoreFactory) -> None:
    store = make_store(Clock())
    await store.start()
    wide = [FeatureRecord("m", "r", 0.0, inputs={f"f{i}": float(i) for i in range(8)})]
    store.add(wide * 3)
    assert store.feature_count("m") == 5
    health = store.health()
    assert health["dropped_features"] == 9
    current = await store.current("m")
    assert len(current.kinds) == 5


async def test_reference_round_trips_through_the_file_format(make_store: StoreFactory) -> None:
    store = make_store(Clock())
    await store.start()
    store.add(records(600))
    frozen = await store.freeze("m")
    again = Profile.from_json(frozen.to_json())
    assert again.numeric[("input", "x")] == frozen.numeric[("input", "x")]


def test_open_store_picks_backend() -> None:
    assert isinstance(open_store(StoreSettings(), max_features=5, top_k=3), MemorySketchStore)
    redis_store = open_store(StoreSettings(url="redis://127.0.0.1:1/0"), max_features=5, top_k=3)
    assert isinstance(redis_store, RedisSketchStore)
    assert redis_store.health()["backend"] == "redis"


async def test_model_cap_counts_dropped_records(make_store: StoreFactory) -> None:
    from sidecar.store import MAX_MODELS

    store = make_store(Clock())
    await store.start()
    for i in range(MAX_MODELS + 3):
        store.add(records(1, model=f"m{i}"))
    assert store.health()["dropped_models"] == 3
    assert len(await store.models()) == MAX_MODELS
    assert await store.reference("never-seen") is None
    assert "never-seen" not in await store.models()


async def test_odd_names_and_labels_survive(make_store: StoreFactory) -> None:
    store = make_store(Clock())
    await store.start()
    odd = "we{ird}|na:me \ud800 ünï"
    rows = [FeatureRecord("m{1}", str(i), 0.0, inputs={odd: float(i), "c": f"{odd}{i % 2}"}) for i in range(20)]
    store.add(rows)
    current = await store.current("m{1}")
    assert current.numeric[("input", odd)].count == 20
    assert current.categorical[("input", "c")].frequencies() == {f"{odd}0": 10, f"{odd}1": 10}
