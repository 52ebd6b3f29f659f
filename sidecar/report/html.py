"""Self-contained HTML drift/quality report with inline SVG charts (pure: data in, text out)."""

from __future__ import annotations

import html
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

_REF, _CUR = "#4c78a8", "#f58518"
_W, _H, _PAD = 360, 150, 28

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c8cdd8}main{padding:20px 28px;max-width:1280px}
section{background:#fff;border-radius:8px;padding:16px 20px;margin:0 0 18px;box-shadow:0 1px 2px #0001}
h2{font-size:16px;margin:0 0 10px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eceef2;font-variant-numeric:tabular-nums}
th{color:#5b6475;font-weight:600}.bad{color:#c0392b;font-weight:600}.ok{color:#2e7d32}
.muted{color:#7a8396}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:14px}
figure{margin:0;border:1px solid #eceef2;border-radius:6px;padding:8px}figcaption{font-weight:600;margin-bottom:4px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;vertical-align:middle}
.pill{border-radius:10px;padding:1px 8px;font-size:12px}.pill.bad{background:#fdecea}.pill.ok{background:#e8f5e9}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: object, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return "—"
        if value != 0 and (abs(value) < 10**-digits or abs(value) >= 1e6):
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return _e(value)


def _svg_hist(item: Mapping[str, Any]) -> str:
    edges: Sequence[float] = item["edges"]
    series = [(s, c) for s, c in ((item.get("reference"), _REF), (item.get("current"), _CUR)) if s]
    top = max((max(s) for s, _ in series), default=0.0) or 1.0
    n = len(edges) - 1
    bw = (_W - 2 * _PAD) / n
    parts = []
    for values, color in series:
        pts = []
        for i, v in enumerate(values):
            x0, x1 = _PAD + i * bw, _PAD + (i + 1) * bw
            y = _H - _PAD - (v / top) * (_H - 2 * _PAD)
            pts.append(f"{x0:.1f},{y:.1f} {x1:.1f},{y:.1f}")
        base = _H - _PAD
        poly = f"{_PAD:.1f},{base} " + " ".join(pts) + f" {_W - _PAD:.1f},{base}"
        parts.append(
            f'<polygon points="{poly}" fill="{color}" fill-opacity="0.28" stroke="{color}" stroke-width="1.5"/>'
        )
    axis = (
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#9aa3b2"/>'
        f'<text x="{_PAD}" y="{_H - 8}" font-size="10" fill="#5b6475">{_num(edges[0])}</text>'
        f'<text x="{_W - _PAD}" y="{_H - 8}" font-size="10" fill="#5b6475" text-anchor="end">{_num(edges[-1])}</text>'
    )
    return _svg("".join(parts) + axis, item["name"])


def _svg_bars(item: Mapping[str, Any]) -> str:
    cats: Sequence[str] = item["categories"]
    ref, cur = item.get("reference"), item.get("current")
    top = max([*(ref or []), *(cur or [])] or [1.0]) or 1.0
    slot = (_W - 2 * _PAD) / max(1, len(cats))
    bw = slot * 0.38
    parts = []
    for i, cat in enumerate(cats):
        x = _PAD + i * slot + slot * 0.1
        for j, (values, color) in enumerate(((ref, _REF), (cur, _CUR))):
            if values:
                h = (values[i] / top) * (_H - 2 * _PAD)
                parts.append(
                    f'<rect x="{x + j * bw:.1f}" y="{_H - _PAD - h:.1f}" width="{bw:.1f}" height="{h:.1f}" fill="{color}" fill-opacity="0.75"/>'
                )
        label = cat if len(cat) <= 10 else cat[:9] + "…"
        parts.append(
            f'<text x="{x + bw:.1f}" y="{_H - 12}" font-size="10" fill="#5b6475" text-anchor="middle">{_e(label)}</text>'
        )
    parts.append(f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#9aa3b2"/>')
    return _svg("".join(parts), item["name"])


def _svg(body: str, title: str) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{_e(title)}" viewBox="0 0 {_W} {_H}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def _drift_table(drift: Mapping[str, Any]) -> str:
    features = drift.get("features") or []
    if not features:
        reason = drift.get("reason") or "no reference yet, or not enough samples in the current window"
        return f'<p class="muted">No drift verdicts yet: {_e(reason)}.</p>'
    rows = []
    for f in sorted(features, key=lambda f: (not f.get("drifted"), f.get("role") != "input", str(f.get("name")))):
        verdict = '<span class="pill bad">drift</span>' if f.get("drifted") else '<span class="pill ok">stable</span>'
        rows.append(
            f"<tr><td>{_e(f.get('name'))}</td><td>{_e(f.get('role'))}</td><td>{_e(f.get('kind'))}</td>"
            f"<td>{_e(f.get('method'))}</td><td>{_num(f.get('statistic'))}</td><td>{_num(f.get('p_value'))}</td>"
            f"<td>{_num(f.get('effect_size'))}</td><td>{verdict}</td></tr>"
        )
    head = "<tr><th>feature</th><th>role</th><th>kind</th><th>test</th><th>statistic</th><th>p-value (adj.)</th><th>effect</th><th>verdict</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _list_table(items: Sequence[Mapping[str, Any]], columns: Sequence[str], empty: str) -> str:
    if not items:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = []
    for item in items:
        cells = []
        for c in columns:
            v = item.get(c)
            if c == "time" and isinstance(v, int | float):
                v = time.strftime("%H:%M:%S", time.gmtime(v))
            cells.append(
                f"<td>{_num(v) if isinstance(v, int | float) else _e(', '.join(v) if isinstance(v, list) else v if v is not None else '—')}</td>"
            )
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _performance(perf: Mapping[str, Any] | None) -> str:
    if not perf or not perf.get("n_labeled"):
        return '<p class="muted">No labelled predictions yet: send ground truth to POST /v1/feedback.</p>'
    metrics = perf.get("metrics") or {}
    rows = "".join(
        f"<tr><td>{_e(k)}</td><td>{_num(v)}</td></tr>" for k, v in metrics.items() if not isinstance(v, dict | list)
    )
    return f"<p>{_e(perf.get('task'))} · {_e(perf.get('n_labeled'))} labelled predictions</p><table>{rows}</table>"


def render(data: Mapping[str, Any]) -> str:
    drift: Mapping[str, Any] = data.get("drift") or {}
    dists: Sequence[Mapping[str, Any]] = data.get("distributions") or []
    model = drift.get("model") or data.get("model") or "—"
    ref = drift.get("reference") or {}
    cur = drift.get("current") or {}
    verdict = drift.get("drifted")
    status = '<span class="pill bad">drift detected</span>' if verdict else '<span class="pill ok">no drift</span>'
    charts = []
    for item in dists:
        chart = _svg_hist(item) if item.get("shape") == "histogram" else _svg_bars(item)
        charts.append(
            f'<figure data-feature="{_e(item["name"])}"><figcaption>{_e(item["name"])} <span class="muted">'
            f"({_e(item.get('role'))}, {_e(item.get('kind'))}; n ref {_e(item.get('reference_n'))} / cur {_e(item.get('current_n'))})"
            f"</span></figcaption>{chart}</figure>"
        )
    charts_html = (
        f'<div class="grid">{"".join(charts)}</div>' if charts else '<p class="muted">No feature data yet.</p>'
    )
    legend = f'<p class="legend"><span style="background:{_REF}"></span>reference<span style="background:{_CUR}"></span>current window</p>'
    generated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(data.get("generated", time.time())))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>model-sidecar report · {_e(model)}</title><style>{_CSS}</style></head>
<body><header><h1>Drift and quality report · {_e(model)} {status}</h1>
<p>generated {_e(generated)} · reference n={_e(ref.get("n", 0))} ({_e(ref.get("source", "none"))}) · current window n={_e(cur.get("n", 0))}
over {_num(cur.get("window_seconds"), 0)} s · source {_e(data.get("admin", ""))}</p></header><main>
<section><h2>Drift per feature</h2>{_drift_table(drift)}</section>
<section><h2>Reference vs current</h2>{legend}{charts_html}</section>
<section><h2>Data quality</h2>{_list_table(drift.get("data_quality") or [], ("feature", "role", "kind", "value", "reference_value", "count"), "No data-quality findings in the current window.")}</section>
<section><h2>Recent anomalies</h2>{_list_table((data.get("anomalies") or [])[:25], ("time", "request_id", "score", "reasons", "feature"), "No flagged inputs.")}</section>
<section><h2>Quality metrics</h2>{_performance(data.get("performance"))}</section>
</main></body></html>
"""
