"""`sidecar demo` end to end, and its HTML report rendered by a real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SHIFTED = {"income", "tenure_months", "plan"}
UNSHIFTED = {"age", "balance", "region"}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("demo")
    html = out / "report.html"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIDECAR_", "OTEL_"))}
    env.update({"PYTHONPATH": str(ROOT), "COLUMNS": "160"})
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "demo", "--duration", "40", "--no-live", "--html", str(html),
         "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
        cwd=out, env=env, capture_output=True, text=True, timeout=200,
    )  # fmt: skip
    return result, html


def _listed(output: str, label: str) -> set[str]:
    match = re.search(rf"{label}: (.*)", output)
    assert match, output
    return {item.strip() for item in match.group(1).split(",") if item.strip() and item.strip() != "none"}


def test_demo_detects_the_injected_drift_only_and_flags_anomalies(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, html = demo_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout
    drifted = _listed(output, "drift detected on input features")
    assert drifted >= SHIFTED, output[-3000:]
    assert not (drifted & UNSHIFTED), output[-3000:]
    flagged = re.search(r"anomalies flagged: (\d+)", output)
    assert flagged and int(flagged.group(1)) > 0, output[-3000:]
    assert "Traceback" not in result.stderr
    assert html.exists()


def test_report_renders_in_headless_chromium(
    demo_run: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    _, html = demo_run
    assert shutil.which("chromium"), "Debian chromium is not installed (./scripts/test installs it)"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]  # fmt: skip
    dom = subprocess.run(["chromium", *flags, "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=60)
    assert dom.returncode == 0, dom.stderr[-2000:]
    figures = re.findall(r'<figure data-feature="([^"]+)"', dom.stdout)
    features = set(figures)
    assert len(figures) == len(features) >= 6  # one chart per feature
    assert features >= SHIFTED | UNSHIFTED
    assert dom.stdout.count("<svg") == len(figures)
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line and ("rror" in line or "Uncaught" in line)]
    assert not console, console
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    taken = subprocess.run(
        ["chromium", *flags, "--window-size=1280,2400", f"--screenshot={shot}", html.as_uri()],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr[-2000:]
