"""``sidecar demo``: toy model servers, the sidecar in front, drifting and adversarial traffic,
and a live terminal view — one command, embedded defaults, no other services."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections import Counter
from typing import Any

import aiohttp
from aiohttp import web
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from ..config import load_settings
from ..report import fetch_report_data, write_html
from ..report.terminal import anomalies_table, drift_table, fmt
from .metrics_text import histogram_quantile
from .toy_models import build_toy_app
from .traffic import SHIFTED_FEATURES, TrafficGenerator

TABULAR_MODEL = "credit"
CHAT_MODEL = "toy-chat"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=0.0, help="seconds to run (default: until Ctrl-C)")
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds of normal traffic before the reference is frozen"
    )
    parser.add_argument("--rate", type=float, default=60.0, help="requests per second sent by the generator")
    parser.add_argument("--no-live", action="store_true", help="plain progress lines instead of the live view")
    parser.add_argument("--otlp", nargs="?", const="http://127.0.0.1:4318", default=None, metavar="URL",
                        help="also export telemetry over OTLP/HTTP (default URL http://127.0.0.1:4318)")  # fmt: skip
    parser.add_argument(
        "--html", default="sidecar-demo-report.html", metavar="FILE", help="HTML report written at the end"
    )
    parser.add_argument("--listen", default="127.0.0.1:15080", help="proxy listener (falls back to a free port)")
    parser.add_argument("--admin-listen", default="127.0.0.1:15090", help="admin listener (falls back to a free port)")


def run(args: argparse.Namespace) -> int:
    if args.duration < 0 or args.rate <= 0:
        print("sidecar demo: --duration must be >= 0 and --rate > 0")
        return 2
    if args.otlp:
        os.environ.setdefault("OTEL_EXPORTER_OTLP_ENDPOINT", args.otlp)
        os.environ.setdefault("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    else:
        for name in (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        ):
            os.environ.pop(name, None)
    os.environ.setdefault("OTEL_SERVICE_NAME", "model-sidecar-demo")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        import uvloop

        return int(uvloop.run(_demo(args)))
    except ImportError:  # pragma: no cover
        return asyncio.run(_demo(args))


def _port_free(listen: str) -> bool:
    import socket

    host, _, port = listen.rpartition(":")
    with socket.socket() as sock:
        try:
            sock.bind((host or "127.0.0.1", int(port)))
        except OSError:
            return False
    return True


async def _demo(args: argparse.Namespace) -> int:
    from ..app import Sidecar
    from ..wiring import build_monitoring

    console = Console()
    toy = web.AppRunner(build_toy_app(), access_log=None)
    await toy.setup()
    site = web.TCPSite(toy, "127.0.0.1", 0)
    await site.start()
    toy_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    listen = args.listen if _port_free(args.listen) else "127.0.0.1:0"
    admin_listen = args.admin_listen if _port_free(args.admin_listen) else "127.0.0.1:0"
    settings = load_settings(
        env={},
        overrides={
            "proxy.upstream": f"http://127.0.0.1:{toy_port}",
            "proxy.listen": listen,
            "admin.listen": admin_listen,
            "proxy.readiness_path": "/v2/health/ready",
            "proxy.quiet_period": 0.0,
            "proxy.drain_timeout": 3.0,
            "drift.evaluate_interval": 2.0,
        },
    )
    sidecar = Sidecar(settings, wiring=build_monitoring)
    console.print("[bold]model-sidecar demo[/bold] starting (capture workers load the PII engine)…")
    await sidecar.start()
    proxy_url = f"http://127.0.0.1:{sidecar.proxy_port}"
    admin_url = f"http://127.0.0.1:{sidecar.admin_port}"
    console.print(f"toy models at http://127.0.0.1:{toy_port} · sidecar proxy {proxy_url} · admin {admin_url}")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    duration = args.duration
    warmup = args.warmup if args.warmup is not None else (min(15.0, max(5.0, duration * 0.3)) if duration else 20.0)
    generator = TrafficGenerator(proxy_url, rate=args.rate)
    traffic = asyncio.create_task(generator.run(stop), name="demo-traffic")
    started = time.monotonic()
    state: dict[str, Any] = {"phase": "warm-up (normal traffic)", "events": []}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as admin:
        phases = asyncio.create_task(_phases(admin, admin_url, generator, warmup, state, stop), name="demo-phases")
        try:
            if args.no_live:
                await _plain_view(admin, admin_url, generator, state, stop, started, duration, console)
            else:
                with Live(console=console, refresh_per_second=2, transient=False) as live:
                    while not stop.is_set():
                        snapshot = await _snapshot(admin, admin_url)
                        live.update(_render(snapshot, generator, state, time.monotonic() - started))
                        if duration and time.monotonic() - started >= duration:
                            break
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            stop.set()
            phases.cancel()
            await asyncio.gather(traffic, phases, return_exceptions=True)
        await _wait_processed(admin, admin_url)
        final = await _snapshot(admin, admin_url)
    code = _summary(console, final, generator, state)
    with contextlib.suppress(Exception):
        data = await asyncio.to_thread(fetch_report_data, admin_url, TABULAR_MODEL)
        await asyncio.to_thread(write_html, data, args.html)
        console.print(f"HTML report written to {args.html}")
    await sidecar.stop(quiet_period=0.0)
    await toy.cleanup()
    return code


async def _get(session: aiohttp.ClientSession, url: str) -> Any:
    try:
        async with session.get(url) as response:
            if response.content_type == "application/json":
                return await response.json()
            return await response.text()
    except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError):
        return None


async def _phases(
    session: aiohttp.ClientSession,
    admin_url: str,
    generator: TrafficGenerator,
    warmup: float,
    state: dict[str, Any],
    stop: asyncio.Event,
) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), warmup)
        return
    await _wait_processed(session, admin_url)
    async with session.post(f"{admin_url}/v1/reference?model={TABULAR_MODEL}", json={"from": "window"}) as response:
        body = await response.json()
    state["events"].append(f"reference frozen from the warm-up window (n={body.get('n')})")
    generator.shifted = True
    generator.adversarial = True
    state["phase"] = "shifted: " + ", ".join(SHIFTED_FEATURES) + " + adversarial prompts and out-of-range rows"
    state["events"].append(state["phase"])


async def _wait_processed(session: aiohttp.ClientSession, admin_url: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        status = await _get(session, f"{admin_url}/v1/status")
        capture = (status or {}).get("capture", {}) if isinstance(status, dict) else {}
        if capture and capture.get("queue", 0) == 0 and capture.get("processed", 0) >= capture.get("captured", 0):
            return
        await asyncio.sleep(0.2)


async def _snapshot(session: aiohttp.ClientSession, admin_url: str) -> dict[str, Any]:
    status, drift, anomalies, chat_anomalies, metrics = await asyncio.gather(
        _get(session, f"{admin_url}/v1/status"),
        _get(session, f"{admin_url}/v1/drift?model={TABULAR_MODEL}"),
        _get(session, f"{admin_url}/v1/anomalies?model={TABULAR_MODEL}&limit=50"),
        _get(session, f"{admin_url}/v1/anomalies?model={CHAT_MODEL}&limit=50"),
        _get(session, f"{admin_url}/metrics"),
    )
    merged = [*((anomalies or {}).get("anomalies") or []), *((chat_anomalies or {}).get("anomalies") or [])]
    merged.sort(key=lambda a: a.get("time") or 0, reverse=True)
    text = metrics if isinstance(metrics, str) else ""
    return {
        "status": status if isinstance(status, dict) else {},
        "drift": drift if isinstance(drift, dict) and "features" in drift else {"model": TABULAR_MODEL, "features": []},
        "anomalies": merged,
        "overhead_p50": histogram_quantile(text, "sidecar_request_overhead_seconds", 0.5),
        "overhead_p99": histogram_quantile(text, "sidecar_request_overhead_seconds", 0.99),
    }


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.2f} ms"


def _header(snapshot: dict[str, Any], generator: TrafficGenerator, state: dict[str, Any], elapsed: float) -> Table:
    capture = snapshot["status"].get("capture", {})
    stats = generator.stats
    table = Table.grid(padding=(0, 3))
    table.add_row(
        f"[bold]{stats.rate():.0f}[/bold] req/s",
        f"latency p50 {_ms(stats.percentile(0.5))} · p99 {_ms(stats.percentile(0.99))}",
        f"sidecar overhead p50 {_ms(snapshot['overhead_p50'])} · p99 {_ms(snapshot['overhead_p99'])}",
    )
    table.add_row(
        f"captured {capture.get('captured', 0)} · dropped {capture.get('dropped', 0)}",
        f"processed {capture.get('processed', 0)} · queue {capture.get('queue', 0)}",
        f"t={elapsed:.0f}s · phase: {state['phase']}",
    )
    return table


def _render(snapshot: dict[str, Any], generator: TrafficGenerator, state: dict[str, Any], elapsed: float) -> Panel:
    return Panel(
        Group(
            _header(snapshot, generator, state, elapsed),
            drift_table(snapshot["drift"], title="Drift"),
            anomalies_table(snapshot["anomalies"]),
        ),
        title="model-sidecar demo (Ctrl-C to stop)",
    )


async def _plain_view(
    session: aiohttp.ClientSession,
    admin_url: str,
    generator: TrafficGenerator,
    state: dict[str, Any],
    stop: asyncio.Event,
    started: float,
    duration: float,
    console: Console,
) -> None:
    last_events = 0
    while not stop.is_set():
        elapsed = time.monotonic() - started
        if duration and elapsed >= duration:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5.0)
        for event in state["events"][last_events:]:
            console.print(f"[{time.monotonic() - started:5.1f}s] {event}")
        last_events = len(state["events"])
        snap = await _snapshot(session, admin_url)
        capture = snap["status"].get("capture", {})
        drifted = [f["name"] for f in snap["drift"].get("features", []) if f.get("drifted")]
        console.print(
            f"[{time.monotonic() - started:5.1f}s] {generator.stats.rate():.0f} req/s · p50 {_ms(generator.stats.percentile(0.5))}"
            f" · p99 {_ms(generator.stats.percentile(0.99))} · overhead p50 {_ms(snap['overhead_p50'])}"
            f" · captured {capture.get('captured', 0)} dropped {capture.get('dropped', 0)}"
            f" · drifted {drifted or '-'} · anomalies {len(snap['anomalies'])}",
            highlight=False,
        )


def _summary(console: Console, snapshot: dict[str, Any], generator: TrafficGenerator, state: dict[str, Any]) -> int:
    drift = snapshot["drift"]
    features = drift.get("features", [])
    inputs = [f for f in features if f.get("role") == "input"]
    drifted_inputs = sorted(f["name"] for f in inputs if f.get("drifted"))
    drifted_outputs = sorted(f["name"] for f in features if f.get("role") == "output" and f.get("drifted"))
    reasons = Counter(r for a in snapshot["anomalies"] for r in a.get("reasons", []))
    console.print(drift_table(drift, title="Final drift verdict"))
    console.print(anomalies_table(snapshot["anomalies"]))
    console.print("[bold]Summary[/bold]")
    console.print(f"  requests sent: {generator.stats.sent} (errors {generator.stats.errors})")
    console.print(f"  shifted on purpose: {', '.join(SHIFTED_FEATURES)}")
    console.print(f"  drift detected on input features: {', '.join(drifted_inputs) or 'none'}")
    console.print(f"  prediction (output) drift: {', '.join(drifted_outputs) or 'none'}")
    console.print(
        f"  anomalies flagged: {len(snapshot['anomalies'])} ({', '.join(f'{r}={n}' for r, n in reasons.most_common()) or 'none'})"
    )
    overhead = f"p50 {_ms(snapshot['overhead_p50'])}, p99 {_ms(snapshot['overhead_p99'])}"
    console.print(f"  sidecar overhead: {overhead}")
    for event in state["events"]:
        console.print(f"  · {fmt(event)}")
    return 0
