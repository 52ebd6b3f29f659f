"""The README's configuration reference is generated from the settings table and must be current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_config_reference_is_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_config_reference.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "```sh\n./scripts/test\n```" in readme
    assert "./scripts/test" in (ROOT / ".ci/run").read_text()
