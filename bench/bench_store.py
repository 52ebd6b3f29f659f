"""Benchmark: sketch store flush cost against a real redis-server, and `sidecar profile` throughput.

Run:  python bench/bench_store.py [--records-per-s 1000] [--flushes 30] [--profile-rows 1000000]

Prints, for 20 numeric + 5 categorical features at the given rate with a 1 s flush interval:
round trips and bytes per flush, flush latency (p50/p99), Redis memory added (all flushes land in
one time bucket), and the latency of reading the window back, for the
chosen strategy (one EVALSHA of a Lua script per feature, all in one pipeline) and two
alternatives on the same deltas (pipelined HINCRBY per field; BITFIELD OVERFLOW SAT INCRBY on dense
u32 strings).  Then add() cost per record, and rows/s of `sidecar profile` on N rows × 20 columns.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sidecar.config import StoreSettings
from sidecar.models import FeatureRecord
from sidecar.store import redis_keys as keys
from sidecar.store.memory import MemorySketchStore
from sidecar.store.redis_codec import categorical_fields, numeric_fields, resp_size
from sidecar.store.redis_store import RedisSketchStore
from tests.fixtures.redis_server import RedisServer

NUMERIC, CATEGORICAL = 20, 5


def records(n: int, start: int) -> list[FeatureRecord]:
    rng = np.random.default_rng(start)
    values = rng.normal(0, 1, (n, NUMERIC)) * np.arange(1, NUMERIC + 1) + 100
    cats = rng.integers(0, 30, (n, CATEGORICAL))
    out = []
    for i in range(n):
        inputs: dict[str, float | str | None] = {f"n{j}": float(values[i, j]) for j in range(NUMERIC)}
        inputs.update({f"c{j}": f"v{cats[i, j]}" for j in range(CATEGORICAL)})
        out.append(FeatureRecord("m", f"r{start + i}", float(i), inputs=inputs, outputs={}))
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def bench_lua(url: str, rate: int, flushes: int) -> dict[str, float]:
    store = RedisSketchStore(StoreSettings(url=url), max_features=256, top_k=50, flush_in_background=False)
    await store.start()
    store.add(records(rate, 0))
    await store.flush()  # warm-up: scales decided, tokens learned, scripts loaded
    await store.flush()
    latencies, sizes, trips, commands = [], [], [], []
    for k in range(flushes):
        store.add(records(rate, (k + 1) * rate))
        before = int(store.health()["round_trips"])  # type: ignore[call-overload]
        started = time.perf_counter()
        await store.flush()
        latencies.append(time.perf_counter() - started)
        health = store.health()
        trips.append(int(health["round_trips"]) - before)  # type: ignore[call-overload]
        sizes.append(health["last_flush"]["bytes"])  # type: ignore[index]
        commands.append(health["last_flush"]["commands"])  # type: ignore[index]
    reads = []
    for _ in range(5):
        started = time.perf_counter()
        current = await store.current("m")
        reads.append(time.perf_counter() - started)
    assert current.n == rate * (flushes + 1), current.n
    await store.close()
    return {
        "round_trips": statistics.mean(trips),
        "commands": statistics.mean(commands),
        "bytes": statistics.mean(sizes),
        "p50_ms": 1000 * pct(latencies, 0.5),
        "p99_ms": 1000 * pct(latencies, 0.99),
        "current_ms": 1000 * statistics.median(reads),
    }


async def bench_alternatives(url: str, rate: int, flushes: int) -> dict[str, dict[str, float]]:
    """The same deltas written with plain pipelined HINCRBY, and with BITFIELD on dense u32 strings."""
    import redis.asyncio as aioredis

    from sidecar.sketches.profile import ProfileBuilder

    client = aioredis.Redis.from_url(url)
    builder = ProfileBuilder("m", top_k=50, max_features=256)
    builder.add(records(rate, 0))
    builder.take(decide=True)
    out: dict[str, dict[str, float]] = {}
    deltas = []
    for k in range(flushes):
        builder.add(records(rate, (k + 1) * rate))
        deltas.append(builder.take())
    for strategy in ("hincrby", "bitfield"):
        await client.flushall()
        baseline = int((await client.info("memory"))["used_memory"])
        latencies, sizes, commands = [], [], []
        for delta in deltas:
            pipe = client.pipeline(transaction=False)
            wire = n_commands = 0
            for key, sketch in delta.numeric.items():
                fields = numeric_fields(sketch)
                target = keys.bucket_key("m", key, 0, 1)
                if strategy == "hincrby":
                    for name, value in [*((f"k:{k}", n) for k, n in fields.bins.items()), *fields.ints]:
                        cmd = ["HINCRBY", target, name, value]
                        pipe.execute_command(*cmd)
                        wire += resp_size(cmd)
                        n_commands += 1
                    for name, fvalue in fields.floats:
                        cmd = ["HINCRBYFLOAT", target, name, repr(fvalue)]
                        pipe.execute_command(*cmd)
                        wire += resp_size(cmd)
                        n_commands += 1
                    # min/max need a read-compare-write: not expressible without a script (left out)
                else:
                    sub: list[object] = ["BITFIELD", target + ":d", "OVERFLOW", "SAT"]
                    for bin_key, n in sketch.bins.items():
                        sub += ["INCRBY", "u32", f"#{bin_key + sketch._k_max}", n]
                    pipe.execute_command(*sub)
                    wire += resp_size(sub)
                    n_commands += 1
                cmd = ["EXPIRE", target, 1020]
                pipe.execute_command(*cmd)
                wire += resp_size(cmd)
                n_commands += 1
            for key, cat in delta.categorical.items():
                target = keys.bucket_key("m", key, 0, 1)
                for name, value in categorical_fields(cat).cats:
                    cmd = ["HINCRBY", target, name, value]
                    pipe.execute_command(*cmd)
                    wire += resp_size(cmd)
                    n_commands += 1
            started = time.perf_counter()
            await pipe.execute()
            latencies.append(time.perf_counter() - started)
            sizes.append(wire)
            commands.append(n_commands)
        memory = int((await client.info("memory"))["used_memory"]) - baseline
        out[strategy] = {
            "round_trips": 1.0,
            "commands": statistics.mean(commands),
            "bytes": statistics.mean(sizes),
            "p50_ms": 1000 * pct(latencies, 0.5),
            "p99_ms": 1000 * pct(latencies, 0.99),
            "used_memory": memory,
        }
    await client.aclose()
    return out


def bench_add(rate: int) -> tuple[float, float]:
    batch = records(rate, 0)
    memory = MemorySketchStore(StoreSettings(), max_features=256, top_k=50)
    started = time.perf_counter()
    for _ in range(5):
        memory.add(batch)
    per_record_memory = (time.perf_counter() - started) / (5 * rate)
    redis_store = RedisSketchStore(
        StoreSettings(url="redis://127.0.0.1:9/0"), max_features=256, top_k=50, flush_in_background=False
    )
    started = time.perf_counter()
    for _ in range(5):
        redis_store.add(batch)
    per_record_redis = (time.perf_counter() - started) / (5 * rate)
    return per_record_memory, per_record_redis


def bench_profile(rows: int) -> dict[str, float]:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    cols: dict[str, object] = {f"f{i}": rng.normal(i, 1 + i, rows) for i in range(16)}
    cols.update({f"c{i}": pa.array(rng.choice(["a", "b", "c", "d", "e"], rows)) for i in range(3)})
    cols["prediction"] = rng.random(rows)
    table = pa.table(cols)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("parquet", "csv"):
            path = Path(tmp) / f"train.{fmt}"
            if fmt == "parquet":
                pq.write_table(table, path)
            else:
                pcsv.write_csv(table, path)
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "sidecar",
                    "profile",
                    str(path),
                    "--role-output",
                    "prediction",
                    "--out",
                    str(Path(tmp) / "p.json"),
                    "--no-progress",
                ],
                check=True,
                capture_output=True,
            )
            out[fmt] = rows / (time.perf_counter() - started)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records-per-s", type=int, default=1000)
    parser.add_argument("--flushes", type=int, default=30)
    parser.add_argument("--profile-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        with server.client() as client:
            baseline = int(client.info("memory")["used_memory"])
        lua = await bench_lua(server.url, args.records_per_s, args.flushes)
        with server.client() as client:
            lua["used_memory"] = int(client.info("memory")["used_memory"]) - baseline
            evalsha = client.info("commandstats").get("cmdstat_evalsha", {})
            lua["server_ms"] = float(evalsha.get("usec", 0)) / 1000 / max(args.flushes + 2, 1)
        alternatives = await bench_alternatives(server.url, args.records_per_s, args.flushes)
    finally:
        server.stop()
    print(
        f"flush of {args.records_per_s} records ({NUMERIC} numeric + {CATEGORICAL} categorical features), {args.flushes} flushes"
    )
    print(
        f"{'strategy':<22}{'round trips':>12}{'commands':>10}{'bytes':>10}{'p50 ms':>9}{'p99 ms':>9}{'+redis MB':>10}"
    )
    for name, row in [("lua evalsha (chosen)", lua), *[(k, v) for k, v in alternatives.items()]]:
        print(
            f"{name:<22}{row['round_trips']:>12.1f}{row['commands']:>10.0f}{row['bytes']:>10.0f}"
            f"{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}{row['used_memory'] / 1e6:>10.2f}"
        )
    print(f"current() (reads the window back: 3 round trips): {lua['current_ms']:.1f} ms")
    print(f"redis-server CPU in the apply script per flush (INFO commandstats): {lua['server_ms']:.1f} ms")
    print("  (hincrby: no min/max and no bounded categories — it cannot do those without a script;")
    print("   bitfield: numeric bins only, dense 11 kB strings per feature and bucket)")
    mem_add, redis_add = bench_add(args.records_per_s)
    print(f"add() per record (25 features): memory store {mem_add * 1e6:.1f} µs, redis store {redis_add * 1e6:.1f} µs")
    if args.profile_rows:
        rates = bench_profile(args.profile_rows)
        for fmt, rate in rates.items():
            print(
                f"sidecar profile {args.profile_rows:,} rows × 20 columns ({fmt}): {rate:,.0f} rows/s, {args.profile_rows / rate:.1f} s"
            )


if __name__ == "__main__":
    asyncio.run(main())
