"""``python -m sidecar run`` as a process: graceful drain on SIGTERM, ``--workers 2`` sharing the
port, and configuration errors (one line naming the setting, exit 2)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from tests.fixtures.servers import ROOT, ModelServer, SpawnSidecar


async def _status(url: str) -> int:
    async with aiohttp.ClientSession() as client, client.get(url) as resp:
        await resp.read()
        return resp.status


async def _ready_is(admin_url: str, status: int) -> bool:
    return await _status(f"{admin_url}/readyz") == status


async def _eventually(check: Callable[[], Awaitable[bool]], attempts: int = 100, pause_s: float = 0.05) -> bool:
    """Poll an outside process's state a bounded number of times."""
    for _ in range(attempts):
        if await check():
            return True
        await asyncio.sleep(pause_s)
    return False


async def test_sigterm_drains_in_flight_requests_and_exits_0(
    model_server: ModelServer, sidecar_process: SpawnSidecar
) -> None:
    proc = await sidecar_process(
        "--upstream", model_server.url, "--quiet-period", "1.5", "--drain-timeout", "20",
        env={"OTEL_SERVICE_NAME": "lifecycle-test"},
    )  # fmt: skip
    assert await _status(f"{proc.admin_url}/readyz") == 200
    async with aiohttp.ClientSession() as client:
        held = asyncio.create_task(client.get(f"{proc.url}/hold"))
        stream = await client.get(f"{proc.url}/sse/1")
        assert await stream.content.readuntil(b"\n\n") == b'data: {"i": 0}\n\n'
        await model_server.wait_until(lambda: any(s.target == "/hold" for s in model_server.seen))
        proc.terminate()
        assert await _eventually(lambda: _ready_is(proc.admin_url, 503))
        # Quiet period: readiness says no, but the listener still serves new requests.
        async with client.get(f"{proc.url}/echo/during-quiet") as resp:
            assert resp.status == 200
        assert proc.proc.returncode is None
        model_server.release.set()
        held_resp = await held
        assert held_resp.status == 200 and await held_resp.json() == {"released": True}
        assert await stream.content.read() == b"data: [DONE]\n\n"
        stream.release()
    assert await proc.wait(30) == 0
    assert any("shutting down" in line for line in proc.lines)
    assert not any("Traceback" in line for line in proc.lines), "\n".join(proc.lines)


def _socket_owner(local_port: int, pids: set[int]) -> int | None:
    """The pid (among ``pids``) owning the loopback TCP socket bound to ``local_port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                    inodes.add(fields[9])
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return pid
    return None


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


async def test_two_workers_both_serve_the_port(model_server: ModelServer, sidecar_process: SpawnSidecar) -> None:
    proc = await sidecar_process("--upstream", model_server.url, "--workers", "2", "--quiet-period", "0")
    parent = proc.proc.pid

    async def workers_up() -> bool:
        return bool(_children(parent)) and any("worker ready" in line for line in proc.lines)

    assert await _eventually(workers_up, attempts=200)
    workers = _children(parent)
    pids = {parent, *workers}
    connector = aiohttp.TCPConnector(force_close=True)  # a new connection per request spreads over workers
    async with aiohttp.ClientSession(connector=connector) as client:
        for i in range(40):
            async with client.get(f"{proc.url}/echo/{i}") as resp:
                assert resp.status == 200
    owners = {_socket_owner(seen.peer[1], pids) for seen in model_server.seen if seen.peer}
    assert {parent} < owners - {None}, f"upstream connections owned by {owners}, processes {pids}"

    # Both processes' samples reach the one capture pipeline (the child relays to the parent).
    async def all_processed() -> bool:
        async with aiohttp.ClientSession() as client, client.get(f"{proc.admin_url}/v1/status") as resp:
            capture = (await resp.json())["capture"]
        return bool(capture["processed"] >= 40 and capture["captured"] == 40)

    assert await _eventually(all_processed, attempts=400)
    proc.terminate()
    assert await proc.wait(30) == 0


async def _run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_")}
    full_env.update({"PYTHONPATH": str(ROOT), **(env or {})})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sidecar", "run", *args, env=full_env, cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_config_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("proxy:\n  no_such_setting: 1\n")
    cases = [
        (("--upstream", "http://m:80", "--sample-rate", "2"), {}, "--sample-rate"),
        (("--upstream", "http://m:80"), {"SIDECAR_POOL_SIZE": "-1"}, "SIDECAR_POOL_SIZE"),
        ((), {}, "--upstream"),
        (("--upstream", "http://m:80", "--config", str(bad_yaml)), {}, "proxy.no_such_setting"),
    ]
    results = await asyncio.gather(*(_run_cli(*args, env=env) for args, env, _ in cases))
    for (_, _, named), (code, err) in zip(cases, results, strict=True):
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2, err
        assert len(lines) == 1 and named in lines[0], err
        assert "Traceback" not in err


async def test_sigterm_does_not_wait_on_an_unresponsive_otlp_endpoint(
    model_server: ModelServer, sidecar_process: SpawnSidecar
) -> None:
    # An OTLP "collector" that accepts connections and never answers: exporters would retry for long.
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 20)
        await asyncio.sleep(3600)

    server = await asyncio.start_server(stall, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        proc = await sidecar_process(
            "--upstream", model_server.url, "--quiet-period", "0", "--drain-timeout", "1",
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_TIMEOUT": "30"},
        )  # fmt: skip
        async with aiohttp.ClientSession() as client, client.get(f"{proc.url}/echo/x") as resp:
            assert resp.status == 200
        proc.terminate()
        assert await proc.wait(25) == 0  # the exporters alone would hold it for 30 s or more
        assert any("telemetry flush still running" in line for line in proc.lines), "\n".join(proc.lines)
    finally:
        server.close()
