"""Proxy benchmark: direct vs the sidecar vs a bare aiohttp proxy vs nginx, measured in one run.

Starts a model server (aiohttp + uvloop, its own process), then for each target measures
saturation throughput with ``wrk``, p50/p99 latency at a fixed request rate with an open-loop
client (its own process; latency counted from the scheduled send time, so a stall is not
hidden), CPU time per request and RSS of the proxy process (from /proc).  Prints a table.

    python bench/bench_proxy.py [--rate 500] [--seconds 6] [--saturation-seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_PATH = "/v2/models/bench/infer"
CLK_TCK = os.sysconf("SC_CLK_TCK")

MODEL_SERVER = textwrap.dedent(
    """
    import asyncio, sys, uvloop
    from aiohttp import web
    BODY = b'{"model_name":"bench","outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[0.5]}]}'
    async def handler(request):
        await request.read()
        return web.Response(body=BODY, content_type="application/json")
    async def main():
        server = web.Server(handler, access_log=None)
        runner = web.ServerRunner(server)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1]), backlog=1024).start()
        print("ready", flush=True)
        await asyncio.Event().wait()
    uvloop.run(main())
    """
)

# The reference point from the issue: the least an aiohttp+uvloop pass-through proxy can do.
BARE_PROXY = textwrap.dedent(
    """
    import asyncio, sys, uvloop, aiohttp
    from aiohttp import web
    from yarl import URL
    HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
    async def main():
        upstream = sys.argv[2]
        session = aiohttp.ClientSession(auto_decompress=False, skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"))
        async def handler(request):
            data = await request.read() if request.body_exists else None
            headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP]
            async with session.request(request.method, URL(upstream + request.raw_path, encoded=True),
                                       headers=headers, data=data, allow_redirects=False) as up:
                body = await up.read()
                out = [(k, v) for k, v in up.headers.items() if k.lower() not in HOP]
                resp = web.StreamResponse(status=up.status, headers=out)
                await resp.prepare(request)
                await resp.write(body)
                return resp
        server = web.Server(handler, access_log=None, auto_decompress=False)
        runner = web.ServerRunner(server)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1]), backlog=1024).start()
        print("ready", flush=True)
        await asyncio.Event().wait()
    uvloop.run(main())
    """
)

# The sidecar's proxy with telemetry on; capture is off unless --with-capture (then `sidecar run`).
SIDECAR = textwrap.dedent(
    """
    import argparse, asyncio, signal, sys, uvloop
    from sidecar import app
    from sidecar.config import load_settings
    parser = argparse.ArgumentParser()
    app.configure_run(parser)
    parser.add_argument("--with-capture", action="store_true")
    args = parser.parse_args(sys.argv[1:])
    if args.with_capture:
        raise SystemExit(app.run_run(args))
    async def main():
        sidecar = app.Sidecar(load_settings(vars(args)), wiring=app.Wiring())
        await sidecar.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await sidecar.stop(quiet_period=0)
    uvloop.run(main())
    """
)

# Accepts OTLP/HTTP exports and drops them, so the traced variant pays the full export cost.
OTLP_SINK = textwrap.dedent(
    """
    import asyncio, sys, uvloop
    from aiohttp import web
    async def ok(request):
        await request.read()
        return web.Response(body=b"", content_type="application/x-protobuf")
    async def main():
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/traces", ok)
        app.router.add_post("/v1/metrics", ok)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
        await asyncio.Event().wait()
    uvloop.run(main())
    """
)

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  upstream model {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://model; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
"""

# Open-loop fixed-rate client: each request is scheduled at start + i/rate and its latency is
# measured from that instant; a pool of keep-alive connections carries them.
RATE_CLIENT = textwrap.dedent(
    """
    import asyncio, json, sys, time, uvloop
    async def main():
        port, rate, seconds, warmup = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
        body = b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}'
        req = (b"POST /v2/models/bench/infer HTTP/1.1\\r\\nHost: bench\\r\\nContent-Type: application/json\\r\\n"
               b"Content-Length: " + str(len(body)).encode() + b"\\r\\n\\r\\n" + body)
        idle = asyncio.Queue()
        for _ in range(32):
            idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))
        latencies, errors = [], 0
        async def one(scheduled, record):
            nonlocal errors
            reader, writer = await idle.get()
            try:
                writer.write(req)
                head = await reader.readuntil(b"\\r\\n\\r\\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\\r\\n")[0])
                await reader.readexactly(length)
                if not head.startswith(b"HTTP/1.1 200"):
                    errors += 1
            except Exception:
                errors += 1
                return
            idle.put_nowait((reader, writer))
            if record:
                latencies.append(time.perf_counter() - scheduled)
        tasks = []
        total = int(rate * (seconds + warmup))
        start = time.perf_counter() + 0.05
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(scheduled, i >= rate * warmup)))
        await asyncio.gather(*tasks)
        print(json.dumps({"latencies": latencies, "errors": errors}))
    uvloop.run(main())
    """
)


@dataclass
class Result:
    name: str
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_us_per_req: float | None = None
    rss_mb: float | None = None
    errors: int = 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def wait_ready(admin_port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the sidecar never became ready")


def spawn(argv: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        argv, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_port(port)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wrk(port: int, seconds: float, connections: int) -> tuple[float, int]:
    script = Path(tempfile.gettempdir()) / "bench_post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        'wrk.body = \'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}\'\n'
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "-s", str(script), f"http://127.0.0.1:{port}{TARGET_PATH}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rps, total


def fixed_rate(port: int, rate: float, seconds: float) -> tuple[list[float], int]:
    out = subprocess.run(
        [sys.executable, "-c", RATE_CLIENT, str(port), str(rate), str(seconds), "1.0"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    doc = json.loads(out)
    return doc["latencies"], doc["errors"]


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1] if len(values) > 1 else 0.0


@dataclass
class Target:
    name: str
    port: int
    pid: int | None  # the process whose CPU and RSS are reported
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    requests: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0


def _slice(target: Target, args: argparse.Namespace) -> None:
    """One round for one target: a fixed-rate slice, then a saturation slice with CPU accounting."""
    latencies, errors = fixed_rate(target.port, args.rate, args.seconds / args.rounds)
    target.latencies += latencies
    target.errors += errors
    cpu_before = cpu_seconds(target.pid) if target.pid else 0.0
    rps, total = wrk(target.port, max(1, round(args.saturation_seconds / args.rounds)), args.connections)
    if target.pid:
        target.cpu_s += cpu_seconds(target.pid) - cpu_before
    target.requests += total
    target.seconds += total / rps if rps else 0.0


def _result(t: Target) -> Result:
    return Result(
        t.name,
        t.requests / t.seconds if t.seconds else 0.0,
        quantile(t.latencies, 0.50) * 1e3,
        quantile(t.latencies, 0.99) * 1e3,
        t.cpu_s / t.requests * 1e6 if t.pid and t.requests else None,
        rss_mb(t.pid) if t.pid else None,
        t.errors,
    )


def _nginx_worker(master: int) -> int | None:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds at the fixed rate, per target")
    parser.add_argument("--saturation-seconds", type=int, default=6, help="wrk seconds per target")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (spreads machine noise evenly)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--skip-nginx", action="store_true")
    parser.add_argument("--skip-otlp", action="store_true", help="skip the variant exporting spans over OTLP")
    parser.add_argument(
        "--capture", action="store_true", help="add `sidecar run` with the capture pipeline (slow start)"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is required (apt-get install wrk)")

    procs: list[subprocess.Popen[bytes]] = []
    targets: list[Target] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    try:
        model_port = free_port()
        procs.append(spawn([sys.executable, "-c", MODEL_SERVER, str(model_port)], model_port))
        targets.append(Target("direct", model_port, None))
        upstream = f"http://127.0.0.1:{model_port}"
        sidecar_argv = [sys.executable, "-c", SIDECAR, "--upstream", upstream, "--admin-listen", "127.0.0.1:0"]

        port = free_port()
        procs.append(spawn([*sidecar_argv, "--listen", f"127.0.0.1:{port}"], port))
        targets.append(Target("sidecar (metrics)", port, procs[-1].pid))
        if not args.skip_otlp:
            sink_port = free_port()
            procs.append(spawn([sys.executable, "-c", OTLP_SINK, str(sink_port)], sink_port))
            port = free_port()
            otlp_env = {
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
                "OTEL_TRACES_SAMPLER": "always_on",
            }
            procs.append(spawn([*sidecar_argv, "--listen", f"127.0.0.1:{port}"], port, env=otlp_env))
            targets.append(Target("sidecar (+OTLP spans)", port, procs[-1].pid))
        if args.capture:
            port, admin = free_port(), free_port()
            argv = [sys.executable, "-c", SIDECAR, "--with-capture", "--upstream", upstream]
            procs.append(spawn([*argv, "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}"], port))
            wait_ready(admin, 180.0)  # the capture workers load Presidio first
            targets.append(Target("sidecar run (capture)", port, procs[-1].pid))
        port = free_port()
        procs.append(spawn([sys.executable, "-c", BARE_PROXY, str(port), upstream], port))
        targets.append(Target("bare aiohttp proxy", port, procs[-1].pid))
        if not args.skip_nginx and shutil.which("nginx"):
            port = free_port()
            conf = tmp / "nginx.conf"
            conf.write_text(NGINX_CONF.format(tmp=tmp, upstream=model_port, port=port))
            procs.append(spawn(["nginx", "-c", str(conf), "-p", str(tmp)], port))
            time.sleep(0.3)
            targets.append(Target("nginx", port, _nginx_worker(procs[-1].pid)))

        for target in targets:
            fixed_rate(target.port, args.rate, 1.0)  # warm pools and caches
        for _ in range(args.rounds):
            for target in targets:
                _slice(target, args)
        results = [_result(t) for t in targets]  # RSS is read while the processes live
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    _report(results, args)


def _report(results: list[Result], args: argparse.Namespace) -> None:
    direct = results[0]
    print(
        f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; fixed rate {args.rate:g} req/s open loop "
        f"({args.seconds:g}s per target), saturation wrk -c{args.connections} ({args.saturation_seconds}s per target), "
        f"interleaved over {args.rounds} rounds"
    )
    print(
        f"{'target':<24}{'sat req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'+p50 ms':>9}{'+p99 ms':>9}"
        f"{'CPU us/req':>11}{'RSS MB':>8}{'err':>5}"
    )
    for r in results:
        cpu = f"{r.cpu_us_per_req:.0f}" if r.cpu_us_per_req is not None else "-"
        rss = f"{r.rss_mb:.0f}" if r.rss_mb is not None else "-"
        print(
            f"{r.name:<24}{r.rps:>10.0f}{r.p50_ms:>9.3f}{r.p99_ms:>9.3f}{r.p50_ms - direct.p50_ms:>9.3f}"
            f"{r.p99_ms - direct.p99_ms:>9.3f}{cpu:>11}{rss:>8}{r.errors:>5}"
        )
    bare = next((r for r in results if r.name.startswith("bare")), None)
    for side in (r for r in results if r.name.startswith("sidecar")):
        if bare and bare.cpu_us_per_req and side.cpu_us_per_req and side.rss_mb is not None:
            print(
                f"{side.name} / bare: CPU per request {side.cpu_us_per_req / bare.cpu_us_per_req:.2f}x (goal <= 1.2), "
                f"saturation {side.rps / bare.rps:.2f}x (goal >= 0.85); added p50 {side.p50_ms - direct.p50_ms:.3f} ms "
                f"(goal <= 0.3), p99 {side.p99_ms - direct.p99_ms:.3f} ms (goal <= 0.8); RSS {side.rss_mb:.0f} MB (goal <= 80)"
            )


if __name__ == "__main__":
    main()
