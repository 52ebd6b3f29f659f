"""``sidecar report``: fetch drift, quality and anomalies from a running sidecar's admin API and
show them as a terminal table or write a self-contained HTML page."""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console

from ..errors import SidecarError
from .html import render
from .terminal import report_renderable

DEFAULT_ADMIN = "http://127.0.0.1:15090"


def _get(admin: str, path: str, params: dict[str, str], *, optional: bool = False) -> Any:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v})
    url = f"{admin.rstrip('/')}{path}{'?' + query if query else ''}"
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if optional:
            return None
        try:
            detail = json.loads(exc.read()).get("detail") or exc.reason
        except (ValueError, AttributeError):
            detail = exc.reason
        raise SidecarError(f"{path}: HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if optional:
            return None
        raise SidecarError(f"cannot reach the sidecar admin API at {admin}: {getattr(exc, 'reason', exc)}") from exc


def fetch_report_data(admin: str, model: str | None = None) -> dict[str, Any]:
    params = {"model": model or ""}
    drift = _get(admin, "/v1/drift", params)
    model = model or drift.get("model") or ""
    params = {"model": model}
    dists = _get(admin, "/v1/distributions", params, optional=True) or {}
    anomalies = _get(admin, "/v1/anomalies", {**params, "limit": "50"}, optional=True) or {}
    performance = _get(admin, "/v1/performance", params, optional=True)
    return {
        "admin": admin,
        "model": model,
        "generated": time.time(),
        "drift": drift,
        "distributions": dists.get("features", []),
        "anomalies": anomalies.get("anomalies", []),
        "performance": performance,
    }


def write_html(data: dict[str, Any], path: str) -> None:
    try:
        Path(path).write_text(render(data), encoding="utf-8")
    except OSError as exc:
        raise SidecarError(f"cannot write {path}: {exc.strerror or exc}") from exc


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--admin", default=DEFAULT_ADMIN, help=f"admin URL of a running sidecar (default {DEFAULT_ADMIN})"
    )
    parser.add_argument("--model", default=None, help="model to report on (default: the only one seen)")
    parser.add_argument("--html", default=None, metavar="FILE", help="write a self-contained HTML report to FILE")


def run(args: argparse.Namespace) -> int:
    data = fetch_report_data(args.admin, args.model)
    if args.html:
        write_html(data, args.html)
        print(f"report written to {args.html}")
    else:
        Console().print(report_renderable(data))
    return 0
