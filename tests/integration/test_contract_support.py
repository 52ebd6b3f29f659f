"""Black-box harness for the contract tests: a real model server in a thread, ``python -m sidecar run``
as a real subprocess, and a tiny synchronous HTTP client (no test functions live here).

Everything goes through DESIGN.md's outside contract only: flags, env, ports, admin JSON, /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import http.client as _httpc
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from tests.fixtures.servers import ROOT, free_port

_READY = re.compile(r"ready proxy=(?P<proxy>\S+) admin=(?P<admin>\S+)")


# ---------------------------------------------------------------------------- HTTP client


@dataclass
class Resp:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def http(
    method: str,
    url: str,
    body: bytes | str | Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 15.0,
) -> Resp:
    """One request; ``body`` that is not bytes/str is sent as JSON."""
    parts = urlsplit(url)
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, bytes | str):
        body = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    conn = _httpc.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target or "/", body=body, headers=hdrs)
        response = conn.getresponse()
        return Resp(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


def get_json(url: str) -> Any:
    resp = http("GET", url)
    assert resp.status == 200, f"GET {url}: {resp.status} {resp.text[:500]}"
    return resp.json()


# ---------------------------------------------------------------------------- the model server


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _rows_of(doc: Any) -> int:
    if isinstance(doc, dict):
        for key in ("instances", "inputs", "dataframe_records"):
            if isinstance(doc.get(key), list):
                return len(doc[key])
        split = doc.get("dataframe_split")
        if isinstance(split, dict) and isinstance(split.get("data"), list):
            return len(split["data"])
    return 1


def _row_score(row: Any) -> float:
    values = row.values() if isinstance(row, dict) else row if isinstance(row, list) else [row]
    return round(sum(float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)) * 0.1, 6)


def _chat_text(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    last = messages[-1].get("content", "") if messages and isinstance(messages[-1], dict) else ""
    return f"You said: {last}"


class ModelServer:
    """A real aiohttp model server speaking every dialect of DESIGN's table, on its own thread."""

    def __init__(self) -> None:
        self.seen: list[SeenRequest] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="contract-model-server", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ModelServer:
        self._thread.start()
        assert self._started.wait(10), "model server did not start"
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def last(self, path_part: str) -> SeenRequest:
        for seen in reversed(self.seen):
            if path_part in seen.path:
                return seen
        raise AssertionError(f"model server saw no request to {path_part}")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._setup())
        self._started.set()
        self._loop.run_forever()
        assert self._runner is not None
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    async def _setup(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        r = web.RouteTableDef()

        async def record(request: web.Request) -> bytes:
            body = await request.read()
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.seen.append(SeenRequest(request.method, request.raw_path, headers, body))
            return body

        def as_json(body: bytes) -> Any:
            try:
                return json.loads(body)
            except ValueError:
                return None

        @r.post("/v1/models/{model}:predict")
        async def kserve(request: web.Request) -> web.Response:
            doc = as_json(await record(request)) or {}
            rows = doc.get("instances", doc.get("inputs", []))
            if request.match_info["model"].endswith("clf"):
                preds: list[Any] = ["yes" if _row_score(row) > 0 else "no" for row in rows]
            else:
                preds = [_row_score(row) for row in rows]
            return web.json_response({"predictions": preds})

        @r.post("/v2/models/{model}/infer")
        async def oip(request: web.Request) -> web.Response:
            doc = as_json(await record(request)) or {}
            first = (doc.get("inputs") or [{}])[0]
            n = int((first.get("shape") or [1])[0])
            data = [v for _ in range(n) for v in (0.25, 0.75)]
            output = {"name": "probabilities", "shape": [n, 2], "datatype": "FP32", "data": data}
            return web.json_response({"model_name": request.match_info["model"], "outputs": [output]})

        @r.post("/invocations")
        async def mlflow(request: web.Request) -> web.Response:
            doc = as_json(await record(request))
            return web.json_response({"predictions": [0.5] * _rows_of(doc)})

        @r.post("/api/v1.0/predictions")
        async def seldon(request: web.Request) -> web.Response:
            doc = as_json(await record(request)) or {}
            rows = (doc.get("data") or {}).get("ndarray") or [[0]]
            return web.json_response({"data": {"names": ["proba"], "ndarray": [[0.9] for _ in rows]}})

        @r.post("/v1/chat/completions")
        async def chat(request: web.Request) -> web.StreamResponse:
            body = as_json(await record(request)) or {}
            text = _chat_text(body)
            usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
            if not body.get("stream"):
                choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                return web.json_response(
                    {
                        "id": "cmpl-1",
                        "object": "chat.completion",
                        "model": body.get("model"),
                        "choices": [choice],
                        "usage": usage,
                    }
                )
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for word in text.split(" "):
                chunk = {
                    "id": "cmpl-1",
                    "object": "chat.completion.chunk",
                    "model": body.get("model"),
                    "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}],
                }
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            final = {
                "id": "cmpl-1",
                "object": "chat.completion.chunk",
                "model": body.get("model"),
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": usage,
            }
            await response.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
            await response.write_eof()
            return response

        @r.post("/v1/embeddings")
        async def embeddings(request: web.Request) -> web.Response:
            body = as_json(await record(request)) or {}
            inputs = body.get("input")
            count = len(inputs) if isinstance(inputs, list) else 1
            data = [{"object": "embedding", "index": i, "embedding": [0.1, -0.2, 0.3]} for i in range(count)]
            return web.json_response(
                {
                    "object": "list",
                    "model": body.get("model"),
                    "data": data,
                    "usage": {"prompt_tokens": 5, "total_tokens": 5},
                }
            )

        @r.post("/score")
        async def generic(request: web.Request) -> web.Response:
            await record(request)
            return web.json_response({"result": {"score": 0.42, "label": "ok"}})

        @r.post("/gzip-echo")
        async def gzip_echo(request: web.Request) -> web.Response:
            body = await record(request)
            return web.Response(body=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})

        @r.route("*", "/echo-headers")
        async def echo_headers(request: web.Request) -> web.Response:
            await record(request)
            return web.json_response({"headers": dict(request.headers)})

        @r.get("/slow/{seconds}")
        async def slow(request: web.Request) -> web.Response:
            await record(request)
            await asyncio.sleep(float(request.match_info["seconds"]))
            return web.json_response({"slept": True})

        @r.get("/stall-body")
        async def stall_body(request: web.Request) -> web.StreamResponse:
            """Headers and a first chunk, then silence (the proxy's idle read timeout must end it)."""
            await record(request)
            response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
            await response.prepare(request)
            await response.write(b"first-chunk;")
            await asyncio.sleep(30)
            await response.write_eof()
            return response

        @r.route("*", "/status/{code}")
        async def status(request: web.Request) -> web.Response:
            await record(request)
            code = int(request.match_info["code"])
            return web.json_response({"status": code, "from": "model"}, status=code)

        @r.post("/v1/traces")
        @r.post("/v1/logs")
        async def otlp(request: web.Request) -> web.Response:
            """Also an OTLP/HTTP receiver: accepts any export (an empty protobuf answer is a success)."""
            await record(request)
            return web.Response(body=b"", content_type="application/x-protobuf")

        @r.post("/v1/metrics")
        async def otlp_metrics(request: web.Request) -> web.Response:
            await record(request)
            return web.Response(body=b"", content_type="application/x-protobuf")

        @r.get("/binary")
        async def binary(_request: web.Request) -> web.Response:
            return web.Response(body=bytes(range(256)) * 64, content_type="application/octet-stream")

        app.router.add_routes(r)
        self._runner = web.AppRunner(
            app, access_log=None, auto_decompress=False, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- the sidecar process


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test runner's environment without any SIDECAR_*/OTEL_* leaking in, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIDECAR_", "OTEL_"))}
    env.update({"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(extra or {})})
    return env


@dataclass
class Sidecar:
    """``python -m sidecar run`` as a subprocess; its whole output goes to a file (``log()``)."""

    args: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    proxy: str = ""
    admin: str = ""
    proc: subprocess.Popen[bytes] | None = None
    _log: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.proxy}"

    @property
    def admin_url(self) -> str:
        return f"http://{self.admin}"

    def start(self, ready_timeout: float = 60.0) -> Sidecar:
        argv = list(self.args)
        env = clean_env({"SIDECAR_QUIET_PERIOD": "0", "SIDECAR_DRAIN_TIMEOUT": "2", **self.env})
        if "--listen" not in argv and "SIDECAR_LISTEN" not in self.env:
            argv += ["--listen", f"127.0.0.1:{free_port()}"]
        if "--admin-listen" not in argv and "SIDECAR_ADMIN_LISTEN" not in self.env:
            argv += ["--admin-listen", "127.0.0.1:0"]
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 — closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sidecar", "run", *argv],
            env=env, cwd=str(ROOT), stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            match = _READY.search(self.log())
            if match:
                self.proxy, self.admin = match["proxy"], match["admin"]
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"sidecar exited {self.proc.returncode} before ready:\n{self.log()}")
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"sidecar not ready after {ready_timeout}s:\n{self.log()}")

    def log(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def close(self) -> None:
        self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None

    # ------------------------------------------------------------- contract helpers

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = get_json(self.admin_url + "/v1/status")
        return doc

    def wait_processed(self, n: int, timeout: float = 45.0) -> dict[str, Any]:
        """The contract's way to wait: ``capture.processed`` reaches ``n``."""
        deadline = time.monotonic() + timeout
        status = self.status()
        while status["capture"]["processed"] < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"capture.processed stuck below {n}: {status['capture']}")
            time.sleep(0.05)
            status = self.status()
        return status

    def processed(self) -> int:
        return int(self.status()["capture"]["processed"])

    def metrics(self) -> str:
        resp = http("GET", self.admin_url + "/metrics")
        assert resp.status == 200
        return resp.text


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """``python -m sidecar ARGS`` to completion (for commands that are expected to exit)."""
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        env=clean_env(env), cwd=str(ROOT), capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def spawn_cli(*args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Like ``run_cli`` but not waited for (to run many failing starts in parallel)."""
    return subprocess.Popen(
        [sys.executable, "-m", "sidecar", *args],
        env=clean_env(env), cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def gzip_json(doc: Any) -> bytes:
    return gzip.compress(json.dumps(doc).encode(), mtime=0)


@contextlib.contextmanager
def sidecar(*args: str, env: Mapping[str, str] | None = None) -> Any:
    sc = Sidecar(args, dict(env or {})).start()
    try:
        yield sc
    finally:
        sc.close()


def prom_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Samples of metric family sample ``name`` (exact sample name) as (labels, value)."""
    out: list[tuple[dict[str, str], float]] = []
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)", line)
        if not match or match[1] != name:
            continue
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match[2] or ""))
        out.append((labels, float(match[3])))
    return out
