"""Capture benchmark: samples/s through the pipeline, and the proxy's added latency with capture on.

1. Pipeline throughput in one process (one core): decode → redact → features → text checks on
   0.5 KB and 5 KB OpenAI chat bodies, patterns only, and with NER when a spaCy model is installed.
2. The sidecar at a fixed request rate with ``--sample-rate 1.0`` against ``0.0`` in the same run:
   p50/p99, captured/dropped counts, RSS of the proxy and of the capture worker(s).

    python bench/bench_capture.py [--rate 500] [--seconds 6] [--samples 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_proxy import MODEL_SERVER, SIDECAR, fixed_rate, free_port, quantile, rss_mb, spawn, stop  # noqa: E402

from sidecar.capture.pipeline import Pipeline  # noqa: E402
from sidecar.config import load_settings  # noqa: E402
from sidecar.models import Exchange  # noqa: E402

_CLEAN = (
    "Please help me draft a polite reply to my landlord about the broken heating in the flat; "
    "keep it short, friendly and firm, and suggest two possible dates for the repair visit. "
)
_SENTENCE = (
    "Please help me draft a polite reply to my landlord about the broken heating in flat 4B; "
    "you can reach me at sam.lee@example.com or +44 20 7946 0958 if anything is unclear. "
)


def chat_exchange(size: int, i: int, pii_share: float = 1.0) -> Exchange:
    base = _SENTENCE if (i * 0.6180339887) % 1.0 < pii_share else _CLEAN
    text = (base * (size // len(base) + 1))[: max(64, size - 160)]
    body = json.dumps({"model": "gpt-x", "messages": [{"role": "system", "content": "You are helpful."},
                                                      {"role": "user", "content": f"{i} {text}"}]}).encode()  # fmt: skip
    answer = json.dumps({"id": "c", "object": "chat.completion", "model": "gpt-x",
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": "Sure, here is a draft."},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": size // 4, "completion_tokens": 7}}).encode()  # fmt: skip
    return Exchange(
        request_id=str(i), time=time.time(), method="POST", target="/v1/chat/completions", route="/v1/chat/completions",
        request_headers=(("content-type", "application/json"),), request_body=body, request_truncated=False, status=200,
        response_headers=(("content-type", "application/json"),), response_body=answer, response_truncated=False,
        duration_s=0.01, upstream_duration_s=0.01,
    )  # fmt: skip


def pipeline_rate(ner: str, size: int, n: int, pii_share: float = 1.0) -> tuple[float, bool]:
    pipeline = Pipeline(load_settings(env={}, overrides={"redaction.ner": ner}))
    ner_on = bool(pipeline.redaction_status().get("ner"))
    exchanges = [chat_exchange(size, i, pii_share) for i in range(n)]
    for exchange in exchanges[:20]:
        pipeline.process(exchange)
    started = time.perf_counter()
    for exchange in exchanges:
        result = pipeline.process(exchange)
        assert result.skipped is None, result.skipped
    return n / (time.perf_counter() - started), ner_on


def child_pids(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def latency_run(model_port: int, sample_rate: str, args: argparse.Namespace) -> dict[str, object]:
    port, admin = free_port(), free_port()
    proc = spawn(
        [sys.executable, "-c", SIDECAR, "--upstream", f"http://127.0.0.1:{model_port}", "--listen", f"127.0.0.1:{port}",
         "--admin-listen", f"127.0.0.1:{admin}", "--quiet-period", "0", "--sample-rate", sample_rate, "--with-capture"],
        port,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # capture workers warm up (Presidio) after the proxy is up
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{admin}/v1/status", timeout=5) as r:
                    if json.loads(r.read()).get("redaction", {}).get("ready"):
                        break
            except OSError:
                pass  # the admin listener starts right after the proxy's
            time.sleep(0.5)
        fixed_rate(port, args.rate, 1.0)
        latencies, errors = fixed_rate(port, args.rate, args.seconds)
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/v1/status", timeout=5) as r:
            capture = json.loads(r.read())["capture"]
        workers = child_pids(proc.pid)
        return {
            "p50_ms": quantile(latencies, 0.5) * 1e3,
            "p99_ms": quantile(latencies, 0.99) * 1e3,
            "errors": errors,
            "captured": capture["captured"],
            "dropped": capture["dropped"],
            "processed": capture["processed"],
            "proxy_rss_mb": rss_mb(proc.pid),
            "worker_rss_mb": [round(rss_mb(p), 1) for p in workers],
        }
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()

    print("pipeline throughput (one process, one core)")
    for ner in ("off", "auto"):
        for size in (512, 5120):
            for share in (0.3, 1.0):
                rate, ner_on = pipeline_rate(ner, size, args.samples if size == 512 else args.samples // 4, share)
                label = "NER" if ner_on else "patterns only"
                print(
                    f"  {size / 1024:.1f} KB chat body, {label:13s}, PII in {share:4.0%} of samples: {rate:8.0f} samples/s"
                )
            if ner == "auto" and not ner_on:
                break
    if args.skip_latency:
        return
    model_port = free_port()
    model = spawn(
        [sys.executable, "-c", MODEL_SERVER, str(model_port)], model_port, env={"PYTHONPATH": os.fspath(ROOT)}
    )
    try:
        off = latency_run(model_port, "0.0", args)
        on = latency_run(model_port, "1.0", args)
    finally:
        stop(model)
    print(f"\nproxy at {args.rate:.0f} req/s for {args.seconds:.0f} s (same run)")
    for name, row in (("capture off (0.0)", off), ("capture on  (1.0)", on)):
        print(f"  {name}: p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms  errors {row['errors']}  "
              f"captured {row['captured']} dropped {row['dropped']} processed {row['processed']}  "
              f"RSS proxy {row['proxy_rss_mb']:.0f} MB workers {row['worker_rss_mb']} MB")  # fmt: skip
    print(f"  added p99 with capture on: {float(on['p99_ms']) - float(off['p99_ms']):+.2f} ms (goal: within 1 ms)")


if __name__ == "__main__":
    main()
