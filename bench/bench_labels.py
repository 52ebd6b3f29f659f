"""Benchmark: labels/s through put_labels (memory and Redis) and metric time over a full window.

    PYTHONPATH=. python bench/bench_labels.py [--n 20000] [--batch 1000] [--window 10000] [--redis redis://...]

Without --redis a throwaway redis-server is started on a free loopback port (skipped if absent).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import socket
import subprocess
import time

import aiohttp
import redis
from aiohttp import web

from sidecar.admin.feedback import routes
from sidecar.config import LabelSettings, Settings, StoreSettings
from sidecar.quality.joins import JoinedRecord, PredictionRecord
from sidecar.quality.metrics import performance_report
from sidecar.store.labels import LabelStore
from sidecar.store.labels_memory import MemoryLabelStore
from sidecar.store.labels_redis import RedisLabelStore

CLASSES = [f"class{i}" for i in range(5)]


def _predictions(n: int, now: float) -> list[PredictionRecord]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        weights = [rng.random() for _ in CLASSES]
        total = sum(weights)
        probs = {c: w / total for c, w in zip(CLASSES, weights, strict=True)}
        out.append(
            PredictionRecord(
                request_id=f"bench-{i:08d}",
                model="bench",
                time=now,
                predicted=max(probs, key=lambda c: probs[c]),
                probabilities=probs,
                segment=rng.choice(["north", "south", "east", "west"]),
            )
        )
    return out


async def _throughput(name: str, store: LabelStore, n: int, batch: int) -> None:
    now = time.time()
    records = _predictions(n, now)
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        await store.put_predictions(records[i : i + batch], now=now)
    t_pred = time.perf_counter() - t0
    rng = random.Random(11)
    labels = [(r.request_id, rng.choice(CLASSES)) for r in records]
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        outcomes = await store.put_labels(labels[i : i + batch], now=now)
        assert all(o.stored for o in outcomes)
    t_label = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(100):
        await store.put_labels([labels[0]], now=now)
    t_single = (time.perf_counter() - t0) / 100
    t0 = time.perf_counter()
    window = await store.window("bench")
    t_window = time.perf_counter() - t0
    print(
        f"{name:7s} predictions {n / t_pred:10,.0f}/s | labels (batches of {batch}) {n / t_label:10,.0f}/s | "
        f"single label {t_single * 1e3:6.3f} ms | window read ({len(window)}) {t_window * 1e3:7.1f} ms"
    )


async def _http(n: int, batch: int) -> None:
    """Labels/s through POST /v1/feedback on loopback (memory store), batched and one per call."""
    settings = Settings(labels=LabelSettings(max_predictions=n))
    store = MemoryLabelStore(settings.labels)
    now = time.time()
    records = _predictions(n, now)
    await store.put_predictions(records, now=now)
    app = web.Application()
    app.router.add_routes(routes(store, settings))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/feedback"
    try:
        async with aiohttp.ClientSession() as http:
            t0 = time.perf_counter()
            for i in range(0, n, batch):
                body = [{"request_id": r.request_id, "label": "class1"} for r in records[i : i + batch]]
                async with http.post(url, json=body) as resp:
                    assert resp.status == 200
                    await resp.read()
            t_batch = time.perf_counter() - t0
            singles = min(n, 2000)
            t0 = time.perf_counter()
            for r in records[:singles]:
                async with http.post(url, json={"request_id": r.request_id, "label": "class2"}) as resp:
                    await resp.read()
            t_single = time.perf_counter() - t0
    finally:
        await runner.cleanup()
    print(
        f"http    POST /v1/feedback batches of {batch}: {n / t_batch:10,.0f} labels/s | one per call: {singles / t_single:8,.0f}/s"
    )


def _metrics_time(window: int) -> None:
    now = time.time()
    rng = random.Random(3)
    joined = [JoinedRecord(r, rng.choice(CLASSES), now) for r in _predictions(window, now)]
    regression = [
        JoinedRecord(PredictionRecord(f"r{i}", "m", now, rng.gauss(10, 3)), rng.gauss(10, 3), now)
        for i in range(window)
    ]
    for name, rows in (("classification+proba", joined), ("regression", regression)):
        performance_report(rows)  # warm-up
        t0 = time.perf_counter()
        for _ in range(5):
            performance_report(rows)
        print(f"metrics {name:22s} window {window:6d}: {(time.perf_counter() - t0) / 5 * 1e3:7.1f} ms")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_redis() -> tuple[subprocess.Popen[bytes] | None, str]:
    if not shutil.which("redis-server"):
        return None, ""
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    with redis.Redis(host="127.0.0.1", port=port) as client:
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.025)
    return proc, f"redis://127.0.0.1:{port}/0"


def _cpu_probe() -> None:
    # The same pure-Python loop on every run, so figures from a busy machine can be compared.
    t0 = time.perf_counter()
    sum(range(10_000_000))
    print(f"cpu probe sum(range(10M)): {(time.perf_counter() - t0) * 1e3:.0f} ms")


async def _run(args: argparse.Namespace, url: str) -> None:
    _cpu_probe()
    labels = LabelSettings(window=args.window, max_predictions=max(args.n, 1))
    await _throughput("memory", MemoryLabelStore(labels), args.n, args.batch)
    if url:
        store = RedisLabelStore(Settings(store=StoreSettings(url=url, timeout=5.0), labels=labels))
        await _throughput("redis", store, args.n, args.batch)
        await store.close()
    else:
        print("redis   skipped (no redis-server, no --redis)")
    await _http(args.n, args.batch)
    _metrics_time(args.window)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--window", type=int, default=10_000)
    parser.add_argument("--redis", default="")
    args = parser.parse_args()
    proc, url = (None, args.redis) if args.redis else _start_redis()
    try:
        asyncio.run(_run(args, url))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
