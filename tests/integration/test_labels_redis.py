"""The Redis label store against a real redis-server: joins across replicas, TTLs, outages."""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sidecar.config import LabelSettings, Settings, StoreSettings
from sidecar.errors import StoreUnavailable
from sidecar.quality.joins import PredictionRecord
from sidecar.quality.metrics import performance_report
from sidecar.store.labels import PredictionBuffer, open_label_store
from sidecar.store.labels_redis import RedisLabelStore
from tests.fixtures.redis_server import RedisServer, free_port

T0 = time.time()


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _settings(url: str, **labels: object) -> Settings:
    return Settings(store=StoreSettings(url=url, timeout=2.0), labels=LabelSettings(**labels))  # type: ignore[arg-type]


@pytest.fixture
async def replicas(redis_url: str, raw: redis.Redis) -> AsyncIterator[tuple[RedisLabelStore, RedisLabelStore]]:
    a = RedisLabelStore(_settings(redis_url, window=5))
    b = RedisLabelStore(_settings(redis_url, window=5))
    yield a, b
    await a.close()
    await b.close()


def _pred(i: int, *, model: str = "m", predicted: str | float = "cat", t: float = T0, **kw: object) -> PredictionRecord:
    return PredictionRecord(request_id=f"r{i}", model=model, time=t, predicted=predicted, **kw)  # type: ignore[arg-type]


async def test_prediction_on_one_replica_label_on_the_other(replicas: tuple[RedisLabelStore, RedisLabelStore]) -> None:
    a, b = replicas
    record = _pred(1, probabilities={"cat": 0.8, "dog": 0.2}, segment="north", client_key="k1", confidence=0.8)
    await a.put_predictions([record, _pred(2, predicted="dog", model="other")])
    outcomes = await b.put_labels([("r1", "dog"), ("r2", "dog")], now=T0 + 5)
    assert [(o.status, o.model) for o in outcomes] == [("ok", "m"), ("ok", "other")]
    window_a, window_b = await a.window("m"), await b.window("m")
    assert window_a == window_b
    (joined,) = window_a
    assert joined.prediction == record and joined.label == "dog" and joined.label_time == T0 + 5
    assert await a.models() == await b.models() == ["m", "other"]
    assert performance_report(window_b)["metrics"]["accuracy"] == 0.0


async def test_repeated_label_replaces_on_any_replica(replicas: tuple[RedisLabelStore, RedisLabelStore]) -> None:
    a, b = replicas
    await a.put_predictions([_pred(1), _pred(2)])
    assert [o.status for o in await a.put_labels([("r1", "dog"), ("r1", "cat")], now=T0)] == ["ok", "replaced"]
    assert [o.status for o in await b.put_labels([("r1", "dog")], now=T0 + 1)] == ["replaced"]
    window = await a.window("m")
    assert [(j.prediction.request_id, j.label) for j in window] == [("r1", "dog")]


async def test_unknown_wrong_type_and_expired(
    replicas: tuple[RedisLabelStore, RedisLabelStore], raw: redis.Redis
) -> None:
    a, b = replicas
    await a.put_predictions([_pred(1, predicted=2.5), _pred(2)])
    outcomes = await b.put_labels([("nope", 1), ("r1", "2.5"), ("r1", True), ("r1", 3)], now=T0)
    assert [o.status for o in outcomes] == ["unknown_id", "wrong_type", "wrong_type", "ok"]
    horizon = Settings().labels.horizon
    late = await b.put_labels([("r2", "cat")], now=T0 + horizon + 1)
    assert [o.status for o in late] == ["expired"]
    raw.set("sidecar:pred:{bad2}", b"{not json")
    assert [o.status for o in await a.put_labels([("bad2", "cat")], now=T0)] == ["unknown_id"]
    assert [j.label for j in await a.window("m")] == [3.0]


async def test_every_key_has_a_ttl_and_predictions_expire(redis_url: str, raw: redis.Redis) -> None:
    store = RedisLabelStore(_settings(redis_url, horizon=0.3))
    now = time.time()
    await store.put_predictions([_pred(i, t=now) for i in range(3)], now=now)
    await store.put_labels([("r0", "cat")], now=now)
    keys = raw.keys("*")
    assert {k.decode() for k in keys} == {
        "sidecar:pred:{r0}",
        "sidecar:label:{r0}",
        "sidecar:pred:{r1}",
        "sidecar:pred:{r2}",
        "sidecar:label-models",
        "sidecar:{m}:labelled",
        "sidecar:{m}:joined",
    }
    assert all(0 < raw.pttl(k) <= 300 for k in keys)
    for _ in range(100):  # bounded wait for Redis to expire the keys
        if not raw.exists("sidecar:pred:{r1}"):
            break
        await asyncio.sleep(0.05)
    assert [o.status for o in await store.put_labels([("r1", "cat")], now=time.time())] == ["unknown_id"]
    await store.close()


async def test_stale_prediction_is_not_stored(redis_url: str, raw: redis.Redis) -> None:
    store = RedisLabelStore(_settings(redis_url, horizon=60.0))
    await store.put_predictions([_pred(1, t=T0 - 120)], now=T0)
    assert raw.keys("sidecar:pred:*") == []
    await store.close()


async def test_window_is_capped_in_redis(replicas: tuple[RedisLabelStore, RedisLabelStore], raw: redis.Redis) -> None:
    a, b = replicas
    await a.put_predictions([_pred(i) for i in range(12)])
    for i in range(12):
        await (a if i % 2 else b).put_labels([(f"r{i}", "cat")], now=T0 + i)
    assert [j.prediction.request_id for j in await b.window("m")] == [f"r{i}" for i in range(7, 12)]
    assert raw.zcard("sidecar:{m}:labelled") == 5 and raw.hlen("sidecar:{m}:joined") == 5


async def test_batch_of_labels_uses_one_store_call_per_phase(replicas: tuple[RedisLabelStore, RedisLabelStore]) -> None:
    a, b = replicas
    await a.put_predictions([_pred(i, predicted=float(i), model=f"m{i % 3}") for i in range(300)])
    outcomes = await b.put_labels([(f"r{i}", float(i) + 1) for i in range(300)], now=T0)
    assert all(o.status == "ok" for o in outcomes)
    # window=5 per model
    for model in ("m0", "m1", "m2"):
        report = performance_report(await a.window(model))
        assert report["n_labeled"] == 5 and report["metrics"]["mae"] == 1.0


async def test_redis_down_raises_store_unavailable() -> None:
    errors: list[str] = []
    store = open_label_store(
        Settings(store=StoreSettings(url=f"redis://127.0.0.1:{free_port()}/0", timeout=0.3)), on_error=errors.append
    )
    assert isinstance(store, RedisLabelStore)
    with pytest.raises(StoreUnavailable):
        await store.put_predictions([_pred(1)])
    with pytest.raises(StoreUnavailable):
        await store.put_labels([("r1", "cat")], now=T0)
    with pytest.raises(StoreUnavailable):
        await store.window("m")
    with pytest.raises(StoreUnavailable):
        await store.models()
    health = store.health()
    assert not health.healthy and health.errors == 4 and health.last_error
    assert errors == ["put_predictions", "put_labels", "window", "models"]
    await store.close()


async def test_stalled_redis_times_out_as_unavailable() -> None:
    held: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = RedisLabelStore(Settings(store=StoreSettings(url=f"redis://127.0.0.1:{port}/0", timeout=0.2)))
    try:
        with pytest.raises(StoreUnavailable):
            await store.put_labels([("r1", "cat")], now=T0)
        assert not store.health().healthy
    finally:
        await store.close()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_recovers_after_an_outage(own_redis_server: RedisServer) -> None:
    store = RedisLabelStore(_settings(own_redis_server.url, horizon=3600.0))
    try:
        await store.put_predictions([_pred(1), _pred(2)])
        own_redis_server.stop()
        with pytest.raises(StoreUnavailable):
            await store.put_labels([("r1", "cat")], now=T0)
        assert not store.health().healthy
        own_redis_server.start()  # a fresh, empty Redis on the same address
        await store.put_predictions([_pred(3)])
        assert [o.status for o in await store.put_labels([("r3", "cat"), ("r1", "cat")], now=T0)] == [
            "ok",
            "unknown_id",
        ]
        assert store.health().healthy and store.health().errors == 1
    finally:
        await store.close()


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real three-master Redis Cluster on loopback (hash tags and scripts must hold there)."""
    if shutil.which("redis-cli") is None:
        pytest.fail("redis-cli is not installed (Debian's redis-server brings it: ./scripts/test)")
    ports = _cluster_ports(3)
    procs = []
    try:
        for port in ports:
            workdir = tmp_path_factory.mktemp(f"cluster{port}")
            procs.append(
                subprocess.Popen(
                    [
                        "redis-server",
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(workdir),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in ports:
            _wait_for(port, lambda node: node.ping())
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=30,
        )
        for port in ports:
            _wait_for(port, lambda node: node.execute_command("CLUSTER INFO").get("cluster_state") == "ok")
        yield f"redis+cluster://127.0.0.1:{ports[0]}/0"
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


def _cluster_ports(n: int) -> list[int]:
    """Free ports whose cluster bus port (port + 10000) is free and valid too."""
    ports: list[int] = []
    for candidate in random.Random().sample(range(20000, 30000), 200):  # bounded search
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", candidate))
                b.bind(("127.0.0.1", candidate + 10000))
        except OSError:
            continue
        ports.append(candidate)
        if len(ports) == n:
            return ports
    pytest.skip("no free port pairs for a redis cluster")


def _wait_for(port: int, check: Callable[[redis.Redis], object]) -> None:
    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, retry=Retry(NoBackoff(), 0)) as node:
        for _ in range(400):  # bounded: 10 s
            try:
                if check(node):
                    return
            except redis.RedisError:
                pass
            time.sleep(0.025)
    pytest.fail(f"redis cluster node {port} did not come up")


async def test_joins_and_windows_on_a_redis_cluster(cluster_url: str) -> None:
    settings = _settings(cluster_url, window=5)
    a, b = RedisLabelStore(settings), RedisLabelStore(settings)
    try:
        records = [_pred(i, model=f"m{i % 3}", predicted=float(i)) for i in range(30)]
        await a.put_predictions(records)
        outcomes = await b.put_labels([(f"r{i}", i + 1) for i in range(30)] + [("nope", 1)], now=T0)
        assert [o.status for o in outcomes] == ["ok"] * 30 + ["unknown_id"]
        assert [o.status for o in await a.put_labels([("r0", 5)], now=T0 + 1)] == ["replaced"]
        windows = {m: await a.window(m) for m in ("m0", "m1", "m2")}
        assert {m: len(w) for m, w in windows.items()} == {"m0": 5, "m1": 5, "m2": 5}
        assert [j.prediction.request_id for j in windows["m0"]][-1] == "r0"  # the replaced label is the newest
        assert await b.models() == ["m0", "m1", "m2"]
    finally:
        await a.close()
        await b.close()


async def test_prediction_buffer_keeps_records_while_redis_is_down(own_redis_server: RedisServer) -> None:
    store = RedisLabelStore(_settings(own_redis_server.url))
    buffer = PredictionBuffer(max_records=100)
    try:
        own_redis_server.stop()
        buffer.add([_pred(1), _pred(2)])
        with pytest.raises(StoreUnavailable):
            await buffer.flush(store)
        buffer.add([_pred(3)])
        assert len(buffer) == 3 and buffer.dropped == 0
        own_redis_server.start()
        assert await buffer.flush(store) == 3
        outcomes = await store.put_labels([("r1", "cat"), ("r3", "cat")], now=T0)
        assert [o.status for o in outcomes] == ["ok", "ok"]
    finally:
        await store.close()
