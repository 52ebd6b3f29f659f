"""Benchmark: redaction samples/s for 0.5 KB and 5 KB OpenAI-style chat bodies, patterns only and with NER.

Run: python bench/bench_redaction.py [--seconds 3] [--pii-share 0.3]
Prints one line per configuration (single core, single thread) and the process RSS after each.
Each sample has a distinct user message (cache misses), a repeated system prompt (cache hits), and a
share of samples carrying planted PII (e-mail, phone, card, IBAN, address, API key, name).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time

from faker import Faker

from sidecar.config import RedactionSettings
from sidecar.redaction import Redactor

SYSTEM = "You are a helpful support assistant for an online shop. Answer briefly and politely."


def _pii(fake: Faker) -> str:
    return random.choice(
        [
            f"my email is {fake.email()}",
            f"call me on {fake.phone_number()}",
            f"card {fake.credit_card_number()}",
            f"IBAN {fake.iban()}",
            f"ship to {fake.street_address()}",
            f"api_key={fake.sha1()}",
            f"I'm {fake.name()} from {fake.city()}",
        ]
    )


def make_bodies(n: int, size: int, pii_share: float, seed: int = 7) -> list[bytes]:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    random.seed(seed)
    bodies = []
    for _ in range(n):
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < size - 220:
            words.append(fake.sentence(nb_words=12))
        if random.random() < pii_share:
            words.insert(random.randrange(len(words) + 1), _pii(fake) + ".")
        body = {
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": " ".join(words)}],
            "temperature": 0.7,
            "max_tokens": 256,
        }
        bodies.append(json.dumps(body).encode())
    return bodies


def run(redactor: Redactor, bodies: list[bytes], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for raw in bodies:
            redactor.redact_json(json.loads(raw))
            done += 1
        if done > 10_000_000:
            break
    return done / (time.perf_counter() - start)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--pii-share", type=float, default=0.3)
    args = ap.parse_args()
    corpora = {size: make_bodies(4000 if size == 512 else 1000, size, args.pii_share) for size in (512, 5120)}
    for ner in ("off", "on"):
        try:
            redactor = Redactor(RedactionSettings(ner=ner))
        except Exception as exc:  # no model installed
            print(f"ner={ner}: skipped ({exc})")
            continue
        model = redactor.status()["ner_model"]
        for bodies in corpora.values():
            avg = sum(map(len, bodies)) / len(bodies)
            rate = run(redactor, bodies, args.seconds)
            print(
                f"ner={ner:<3} model={model!s:<24} body≈{avg / 1024:.1f} KB  {rate:8.0f} samples/s  "
                f"max RSS {rss_mb():.0f} MB"
            )


if __name__ == "__main__":
    main()
