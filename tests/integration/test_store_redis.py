"""The Redis sketch store against a real redis-server: replicas, outages, TTLs, restarts, bounds."""

from __future__ import annotations

import asyncio
import multiprocessing

import numpy as np
import pytest
from redis.crc import key_slot

from sidecar.config import StoreSettings
from sidecar.errors import StoreError, StoreUnavailable
from sidecar.models import FeatureRecord
from sidecar.sketches import NumericSketch
from sidecar.store import redis_keys as keys
from sidecar.store.redis_client import make_client
from sidecar.store.redis_store import RedisSketchStore
from tests.fixtures.redis_server import RedisServer, free_port

WORKERS = 3
PER_WORKER = 1500
BATCH = 100


def _records(n: int, start: int, model: str = "m") -> list[FeatureRecord]:
    rng = np.random.default_rng(start)
    return [
        FeatureRecord(
            model=model,
            request_id=f"r{i}",
            time=float(i),
            inputs={"x": float(rng.normal(1000.0, 1.0)), "city": f"c{i % 7}", "note": None if i % 5 else 1.0},
            outputs={"prediction": float(i % 3)},
            kinds={"x": "numeric", "city": "categorical", "note": "numeric", "prediction": "numeric"},
        )
        for i in range(start, start + n)
    ]


def _store(url: str, **overrides: object) -> RedisSketchStore:
    settings = StoreSettings(url=url, **overrides)  # type: ignore[arg-type]
    return RedisSketchStore(settings, max_features=10, top_k=5, flush_in_background=False)


def _replica(url: str, worker: int) -> None:
    """One replica in its own OS process: add in batches, flushing between them like the timer does."""

    async def main() -> None:
        store = _store(url)
        await store.start()
        for offset in range(0, PER_WORKER, BATCH):
            store.add(_records(BATCH, worker * 100_000 + offset))
            await store.flush()
        await store.close()

    asyncio.run(main())


async def test_replicas_in_separate_processes_give_exact_totals(redis_url: str) -> None:
    seed = _store(redis_url)  # decides the shared scale first, as the first replica in a fleet would
    await seed.start()
    seed.add(_records(600, 10_000_000))
    await seed.flush()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_replica, args=(redis_url, w)) for w in range(WORKERS)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    current = await seed.current("m")
    everything = _records(600, 10_000_000) + [
        r for w in range(WORKERS) for o in range(0, PER_WORKER, BATCH) for r in _records(BATCH, w * 100_000 + o)
    ]
    total = len(everything)
    assert current.n == total
    x = current.numeric[("input", "x")]
    exact = NumericSketch(x.centre, x.scale)
    exact.update([r.inputs["x"] for r in everything])  # type: ignore[misc]
    assert x.bins == exact.bins  # every replica sketched on the shared scale: bucket counts add up exactly
    assert (x.count, x.min, x.max) == (exact.count, exact.min, exact.max)
    assert x.sum == pytest.approx(exact.sum, rel=1e-12)
    note = current.numeric[("input", "note")]
    assert note.missing == sum(1 for r in everything if r.inputs["note"] is None)
    city = current.categorical[("input", "city")]
    expected = {f"c{k}": sum(1 for r in everything if r.inputs["city"] == f"c{k}") for k in range(7)}
    assert city.frequencies() == expected
    assert city.distinct() == pytest.approx(7, abs=0.5)  # Redis PFCOUNT
    assert current.moments is not None and current.moments.n == total - note.missing
    assert seed.health()["rebinned"] == 0
    await seed.close()


async def test_second_replica_adopts_the_first_writers_scale(redis_url: str) -> None:
    first, second = _store(redis_url), _store(redis_url)
    await first.start()
    await second.start()
    first.add(_records(600, 0))
    await first.flush()
    second.add(_records(50, 5000))  # still warming up: it asks Redis instead of deciding
    await second.flush()
    key = ("input", "x")
    assert second._models["m"].builder.scales[key] == first._models["m"].builder.scales[key]
    await second.flush()
    assert (await first.current("m")).numeric[key].count == 650
    await first.close()
    await second.close()


async def test_writers_on_an_old_epoch_are_redirected_after_freeze(redis_url: str) -> None:
    first, second = _store(redis_url), _store(redis_url)
    await first.start()
    await second.start()
    first.add(_records(600, 0))
    second.add(_records(100, 9000))
    await first.flush()
    await second.flush()
    await second.flush()
    frozen = await first.freeze("m")
    assert frozen.n == 700
    second.add(_records(40, 20_000))
    await second.flush()  # rejected by the new epoch, learns it
    await second.flush()  # re-sent into the new window
    assert (await first.current("m")).n == 40
    reference = await second.reference("m")
    assert reference is not None and reference.version == frozen.version
    await first.close()
    await second.close()


async def test_every_key_has_a_ttl(redis_url: str, redis_server: RedisServer) -> None:
    store = _store(redis_url)
    await store.start()
    store.add(_records(700, 0))
    await store.flush()
    await store.freeze("m")
    store.add(_records(100, 1000))
    await store.current("m")
    with redis_server.client() as client:
        names = client.keys("*")
        assert len(names) > 10
        assert all(n.startswith(b"sidecar:") for n in names)
        without = [n for n in names if client.ttl(n) <= 0]
        assert without == []
        ref_ttl = client.ttl(keys.ref_key("m", 1))
        bucket_ttls = [client.ttl(n) for n in names if b":b:" in n]
        assert ref_ttl > 30 * 24 * 3600 and max(bucket_ttls) <= (15 + 2) * 60
    await store.close()


async def test_reference_survives_a_sidecar_restart(redis_url: str) -> None:
    store = _store(redis_url)
    await store.start()
    store.add(_records(700, 0))
    frozen = await store.freeze("m")
    await store.close()
    restarted = _store(redis_url)
    await restarted.start()
    reference = await restarted.reference("m")
    assert reference is not None
    assert reference.to_json() == frozen.to_json()
    restarted.add(_records(20, 3000))
    window = await restarted.current("m")
    assert window.numeric[("input", "x")].compatible(reference.numeric[("input", "x")])
    assert await restarted.models() == ["m"]
    await restarted.close()


async def test_redis_stopped_and_restarted_mid_traffic(own_redis_server: RedisServer) -> None:
    store = RedisSketchStore(
        StoreSettings(url=own_redis_server.url, flush_interval=0.05, timeout=0.3),
        max_features=10,
        top_k=5,
    )
    await store.start()
    added = 0
    for round_ in range(40):
        if round_ == 10:
            with own_redis_server.client() as client:
                client.shutdown(save=True)  # Redis goes away (its data is kept on disk)
            own_redis_server.stop()
        if round_ == 30:
            assert store.health()["healthy"] is False
            assert store.health()["errors"]
            own_redis_server.start()  # back, with what it had saved
        batch = _records(25, round_ * 1000)
        store.add(batch)  # synchronous: cannot wait for Redis, and must not raise while it is down
        added += len(batch)
        await asyncio.sleep(0.05)
    for _ in range(100):  # bounded: Redis is back, the next flush drains the backlog
        try:
            await store.flush()
            break
        except StoreError:
            await asyncio.sleep(0.1)
    assert "add" not in store.health()["errors"]  # type: ignore[operator]
    current = await store.current("m")
    assert current.n == added
    assert current.numeric[("input", "x")].count == added
    assert store.health()["dropped_rows"] == 0
    await store.close()


async def test_backlog_is_bounded_while_redis_is_down() -> None:
    clock_t = [1_700_000_000.0]
    store = RedisSketchStore(
        StoreSettings(url=f"redis://127.0.0.1:{free_port()}/0", timeout=0.2, max_backlog_bytes=20_000),
        max_features=10,
        top_k=5,
        clock=lambda: clock_t[0],
        flush_in_background=False,
    )
    await store.start()
    for minute in range(12):
        store.add(_records(300, minute * 1000))
        clock_t[0] += 60
        with pytest.raises(StoreUnavailable):
            await store.flush()
    health = store.health()
    assert int(health["pending_bytes"]) <= 20_000 + 20_000  # the bound, plus the open bucket's builder
    assert int(health["dropped_rows"]) > 0
    assert health["healthy"] is False and int(health["errors"]["flush"]) == 12  # type: ignore[index]
    await store.close()


def test_cluster_and_tls_urls_and_key_slots() -> None:
    client = make_client("redis+cluster://127.0.0.1:7000/0", timeout=0.5)
    assert type(client).__name__ == "RedisCluster"
    tls = make_client("rediss://127.0.0.1:6380/0", timeout=0.5)
    assert tls.connection_pool.connection_class.__name__ == "SSLConnection"  # type: ignore[union-attr]
    feature = ("input", "age")
    names = [
        keys.state_key("m", feature),
        keys.bucket_key("m", feature, 3, 28_000_000),
        keys.hll_key("m", feature, 3, 28_000_001),
    ]
    assert len({key_slot(n.encode()) for n in names}) == 1  # one Lua call may touch all of them
    model_keys = [keys.ref_pointer_key("m"), keys.ref_key("m", 4), keys.ref_seq_key("m"), keys.features_key("m")]
    assert len({key_slot(n.encode()) for n in model_keys}) == 1
    tricky = keys.state_key("m{x}", ("input", "a|b}"))
    assert tricky.count("{") == 1 and tricky.count("}") == 1  # names cannot break the hash tag


async def test_scale_race_rebins_the_loser_and_keeps_counts_exact(redis_url: str) -> None:
    first, second = _store(redis_url), _store(redis_url)
    await first.start()
    await second.start()
    first.add(_records(600, 0))
    second.add(_records(600, 50_000))  # both decided a scale locally before either flushed
    key = ("input", "x")
    assert first._models["m"].builder.scales[key] != second._models["m"].builder.scales[key]
    await first.flush()
    await second.flush()  # rejected, re-binned onto the winner's scale, re-sent in the same flush
    assert second.health()["rebinned"] >= 1
    assert second._models["m"].builder.scales[key] == first._models["m"].builder.scales[key]
    current = await first.current("m")
    assert current.n == 1200
    assert current.numeric[key].count == 1200
    assert current.numeric[key].mean == pytest.approx(1000.0, abs=0.1)
    await first.close()
    await second.close()
