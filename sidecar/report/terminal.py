"""Terminal rendering of the report and of the demo's live view (rich)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text


def fmt(value: object, digits: int = 3) -> str:
    if value is None or isinstance(value, bool):
        return "—" if value is None else str(value)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return "—"
        if value != 0 and (abs(value) < 10**-digits or abs(value) >= 1e6):
            return f"{value:.1e}"
        return f"{value:.{digits}f}"
    return str(value)


def _bar(effect: object, threshold: float = 0.1, width: int = 12) -> Text:
    value = float(effect) if isinstance(effect, int | float) and math.isfinite(effect) else 0.0
    filled = max(0, min(width, round(value / (threshold * 3) * width)))
    return Text("█" * filled + "·" * (width - filled), style="red" if value >= threshold else "green")


def drift_table(drift: Mapping[str, Any], *, title: str = "Drift") -> Table:
    ref = drift.get("reference") or {}
    cur = drift.get("current") or {}
    caption = f"reference n={ref.get('n', 0)} ({ref.get('source', 'none')}) · current n={cur.get('n', 0)}"
    table = Table(title=f"{title} · {drift.get('model') or '—'}", caption=caption, expand=False)
    for column in ("feature", "role", "test", "statistic", "p-value", "effect", "", "verdict"):
        table.add_column(column, justify="right" if column in {"statistic", "p-value", "effect"} else "left")
    features: Sequence[Mapping[str, Any]] = drift.get("features") or []
    if not features:
        table.add_row(Text(str(drift.get("reason") or "not enough data yet"), style="dim"), "", "", "", "", "", "", "")
    for f in sorted(features, key=lambda f: (f.get("role") != "input", str(f.get("name")))):
        verdict = Text("DRIFT", style="bold red") if f.get("drifted") else Text("stable", style="green")
        table.add_row(
            str(f.get("name")),
            str(f.get("role")),
            str(f.get("method")),
            fmt(f.get("statistic")),
            fmt(f.get("p_value")),
            fmt(f.get("effect_size")),
            _bar(f.get("effect_size")),
            verdict,
        )
    return table


def anomalies_table(anomalies: Sequence[Mapping[str, Any]], limit: int = 8) -> Table:
    table = Table(title="Recent anomalies")
    for column in ("request id", "score", "reasons", "feature"):
        table.add_column(column)
    if not anomalies:
        table.add_row(Text("none flagged", style="dim"), "", "", "")
    for item in anomalies[:limit]:
        table.add_row(
            str(item.get("request_id", ""))[:16],
            fmt(item.get("score"), 2),
            ", ".join(item.get("reasons") or []),
            str(item.get("feature") or ""),
        )
    return table


def report_renderable(data: Mapping[str, Any]) -> Group:
    parts: list[Any] = [drift_table(data.get("drift") or {})]
    dq = (data.get("drift") or {}).get("data_quality") or []
    if dq:
        table = Table(title="Data quality")
        for column in ("feature", "kind", "value", "reference"):
            table.add_column(column)
        for v in dq[:20]:
            table.add_row(str(v.get("feature")), str(v.get("kind")), fmt(v.get("value")), fmt(v.get("reference_value")))
        parts.append(table)
    parts.append(anomalies_table(data.get("anomalies") or []))
    perf = data.get("performance") or {}
    if perf.get("n_labeled"):
        table = Table(title=f"Quality metrics ({perf.get('task')}, n={perf.get('n_labeled')})")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for k, v in (perf.get("metrics") or {}).items():
            if isinstance(v, int | float):
                table.add_row(k, fmt(v))
        parts.append(table)
    return Group(*parts)
