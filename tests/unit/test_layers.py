"""Layering rules import-linter cannot express: only sidecar.telemetry touches the OTel SDK/exporters."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "sidecar"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_telemetry_imports_the_otel_sdk_and_exporters() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] == "telemetry":
            continue
        for name in _imports(path):
            if name.startswith(("opentelemetry.sdk", "opentelemetry.exporter")):
                offenders.append(f"{path.relative_to(PACKAGE)}: {name}")
    assert not offenders, offenders
