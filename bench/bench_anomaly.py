"""Anomaly benchmark: scoring cost per input, text checks per KB, flag rates on benign traffic.

    python bench/bench_anomaly.py            # about a minute on 2 cores
    python bench/bench_anomaly.py --quick    # smaller samples

Prints µs per tabular row (goal <= 20), text-check µs per KB at several lengths (should be flat:
linear time), inline-gate µs per request, the false-flag rate on held-out normal rows and on
benign prompts (goal <= 0.5%), recall on the attack corpus and ROC-AUC on injected anomalies.
CPU time (process_time) is shown next to wall time: on a shared box wall time includes waiting.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faker import Faker  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from sidecar.anomaly.behaviour import ClientTracker  # noqa: E402
from sidecar.anomaly.inline import INLINE_REASONS, InlineGate  # noqa: E402
from sidecar.anomaly.tabular import TabularScorer  # noqa: E402
from sidecar.anomaly.text import scan_prompt  # noqa: E402
from sidecar.models import FeatureRecord  # noqa: E402
from sidecar.sketches.profile import ProfileBuilder  # noqa: E402

PROMPTS = ROOT / "tests" / "data" / "prompts"
D = 10


def _timed(fn: Callable[[], object], repeat: int = 3) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds) of ``repeat`` runs."""
    wall = cpu = math.inf
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
    return wall, cpu


def _rows(rng: np.random.Generator, n: int, corr: np.ndarray) -> list[FeatureRecord]:
    z = rng.multivariate_normal(np.zeros(D), corr, size=n)
    x = z.copy()
    x[:, 1] = np.exp(z[:, 1])  # skewed
    x[:, 2] = np.floor(np.exp(z[:, 2] * 0.5) * 3)  # discrete counts
    x[:, 3] = 1000 + z[:, 3]
    colors = rng.choice(["red", "green", "blue", "amber"], size=n, p=[0.5, 0.3, 0.15, 0.05])
    plans = rng.choice(["free", "pro", "team"], size=n, p=[0.7, 0.25, 0.05])
    regions = rng.choice([f"r{i}" for i in range(20)], size=n)
    out = []
    for i in range(n):
        inputs: dict[str, float | str | None] = {f"x{j}": float(x[i, j]) for j in range(D)}
        inputs.update(color=str(colors[i]), plan=str(plans[i]), region=str(regions[i]))
        out.append(FeatureRecord(model="m", request_id=str(i), time=float(i), inputs=inputs))
    return out


def tabular(quick: bool) -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(D, D))
    cov = a @ a.T / D + 0.3 * np.eye(D)
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    builder = ProfileBuilder("m")
    builder.add(_rows(rng, 10_000 if quick else 30_000, corr))
    reference = builder.build(decide=True)
    fit_wall, fit_cpu = _timed(lambda: TabularScorer.fit(reference), repeat=1)
    scorer = TabularScorer.fit(reference)
    test = _rows(rng, 20_000 if quick else 100_000, corr)
    sample = test[:5000]
    one_wall, one_cpu = _timed(lambda: [scorer.score(r) for r in sample])
    many_wall, many_cpu = _timed(lambda: scorer.score_many(sample))
    verdicts = scorer.score_many(test)
    rate = sum(v.flagged for v in verdicts) / len(verdicts)
    print(
        f"tabular: {D} numeric + 3 categorical features, reference {reference.n} rows, threshold {scorer.threshold:.3f}"
    )
    print(f"  fit (incl. Monte Carlo calibration): {fit_wall * 1e3:.0f} ms wall, {fit_cpu * 1e3:.0f} ms CPU")
    print(
        f"  score():      {one_wall / len(sample) * 1e6:6.1f} µs/row wall, {one_cpu / len(sample) * 1e6:6.1f} µs/row CPU  (goal <= 20)"
    )
    print(
        f"  score_many(): {many_wall / len(sample) * 1e6:6.1f} µs/row wall, {many_cpu / len(sample) * 1e6:6.1f} µs/row CPU"
    )
    print(f"  false-flag rate on {len(test)} held-out normal rows: {rate:.5f} (target {scorer.target_rate})")
    normal_scores = [v.score for v in verdicts[:5000]]
    base = test[-400:]
    cases: dict[str, list[FeatureRecord]] = {"out_of_range": [], "correlation": [], "uniform": [], "nan_schema": []}
    for i, rec in enumerate(base):
        inputs = dict(rec.inputs)
        inputs[f"x{i % D}"] = 50.0 if i % D != 3 else 1050.0
        cases["out_of_range"].append(FeatureRecord("m", rec.request_id, 0.0, inputs))
        inputs = dict(rec.inputs)
        j, k = np.unravel_index(np.argmax(np.abs(corr - np.eye(D))), corr.shape)
        sign = -np.sign(corr[j, k])
        inputs[f"x{j}"], inputs[f"x{k}"] = 2.5, float(2.5 * sign)
        if j in (1, 2, 3) or k in (1, 2, 3):
            continue
        cases["correlation"].append(FeatureRecord("m", rec.request_id, 0.0, inputs))
    for rec in base:
        inputs = dict(rec.inputs)
        for j in range(D):
            inputs[f"x{j}"] = float(rng.uniform(-6, 6)) + (1000.0 if j == 3 else 0.0)
        cases["uniform"].append(FeatureRecord("m", rec.request_id, 0.0, inputs))
        inputs = dict(rec.inputs)
        inputs["x5"] = [math.nan, "text", None][int(rng.integers(3))]
        cases["nan_schema"].append(FeatureRecord("m", rec.request_id, 0.0, inputs))
    for name, rows in cases.items():
        if not rows:
            continue
        vs = scorer.score_many(rows)
        auc = roc_auc_score([0] * len(normal_scores) + [1] * len(vs), normal_scores + [v.score for v in vs])
        print(f"  {name:13s} ROC-AUC {auc:.4f}  flagged {sum(v.flagged for v in vs) / len(vs):.3f}")


def text(quick: bool) -> None:
    benign = [json.loads(line)["text"] for line in (PROMPTS / "benign.jsonl").read_text(encoding="utf-8").splitlines()]
    attacks = [
        json.loads(line)["text"] for line in (PROMPTS / "attacks.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    extra: list[str] = []
    for i, loc in enumerate(["en_US", "de_DE", "fr_FR", "ru_RU", "ja_JP", "zh_CN", "el_GR", "ar_AA", "es_ES", "it_IT"]):
        fake = Faker(loc)
        fake.seed_instance(i)
        extra += [fake.paragraph(nb_sentences=int(fake.random_int(1, 6))) for _ in range(100 if quick else 500)]
    flagged = [t for t in benign + extra if scan_prompt(t)]
    recall = sum(bool(scan_prompt(t)) for t in attacks) / len(attacks)
    print(f"text: recall on {len(attacks)} attack prompts {recall:.3f}")
    print(
        f"  benign flag rate: {len(flagged) / (len(benign) + len(extra)):.4f} over {len(benign)} corpus + {len(extra)} Faker texts (goal <= 0.005)"
    )
    rows = [json.loads(line) for line in (PROMPTS / "benign.jsonl").read_text(encoding="utf-8").splitlines()]
    print("  scan_prompt per prompt, benign corpus by kind (mean):")
    for kind in ("question", "code", "multilingual", "markup", "long"):
        texts = [r["text"] for r in rows if r["kind"] == kind]
        wall, cpu = _timed(lambda texts=texts: [scan_prompt(t) for t in texts])
        size = sum(map(len, texts)) / len(texts)
        print(
            f"    {kind:12s} ({size:7.0f} chars): {wall / len(texts) * 1e6:8.1f} µs wall, {cpu / len(texts) * 1e6:8.1f} CPU"
        )
    english = " ".join(t for t in benign if t.isascii())
    mixed = "\n".join(benign)
    print("  scan_prompt cost per KB of the whole corpus run together (dense in near-miss words):")
    for size in (256, 1024, 4096, 16_384, 65_536):
        for label, source in (("ascii", english), ("mixed", mixed)):
            chunk = (source * (size // len(source) + 1))[:size]
            per = max(1, 200_000 // size)
            wall, cpu = _timed(lambda chunk=chunk, per=per: [scan_prompt(chunk) for _ in range(per)])
            print(
                f"    {size:6d} chars {label}: {wall / per / size * 1024 * 1e6:7.1f} µs/KB wall, {cpu / per / size * 1024 * 1e6:7.1f} CPU"
            )


def inline() -> None:
    gate = InlineGate(sorted(INLINE_REASONS))
    unicode_only = InlineGate(["invisible_characters", "bidi_control"])
    benign = [json.loads(line)["text"] for line in (PROMPTS / "benign.jsonl").read_text(encoding="utf-8").splitlines()]
    print("inline gate (all cheap reasons / unicode only), µs per request:")
    questions = [
        json.dumps({"model": "m", "messages": [{"role": "user", "content": t}]}).encode()
        for t in benign
        if len(t) < 2000
    ]
    for name, g in (("all", gate), ("unicode", unicode_only)):
        wall, cpu = _timed(lambda g=g: [g.check(b, "application/json") for b in questions])
        print(
            f"    typical chat body (corpus, < 2 KB), {name:7s}: {wall / len(questions) * 1e6:7.1f} wall, {cpu / len(questions) * 1e6:7.1f} CPU"
        )
    for size in (1024, 4096):
        text = (" ".join(t for t in benign if t.isascii()))[: size - 120]
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()
        for name, g in (("all", gate), ("unicode", unicode_only)):
            wall, cpu = _timed(lambda g=g, body=body: [g.check(body, "application/json") for _ in range(200)])
            print(f"    {len(body):5d} B body, {name:7s}: {wall / 200 * 1e6:7.1f} wall, {cpu / 200 * 1e6:7.1f} CPU")


def behaviour() -> None:
    rng = np.random.default_rng(1)
    tracker = ClientTracker(10_000)
    names = tuple(f"f{i}" for i in range(8))
    vectors = rng.normal(size=(20_000, 8))
    keys = [f"client-{i % 2000}" for i in range(20_000)]
    wall, cpu = _timed(lambda: [tracker.observe(k, i * 0.01, vectors[i], names) for i, k in enumerate(keys)], repeat=1)
    print(
        f"behaviour: observe() {wall / 20_000 * 1e6:.1f} µs wall, {cpu / 20_000 * 1e6:.1f} µs CPU per request (2000 clients)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    tabular(args.quick)
    text(args.quick)
    inline()
    behaviour()


if __name__ == "__main__":
    main()
