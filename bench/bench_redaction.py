"""Benchmark: redaction samples/s for 0.5 KB and 5 KB OpenAI-style chat bodies, patterns only and with NER.

Run: python bench/bench_redaction.py [--seconds 3] [--pii-share 0.3]
Prints one line per configuration: samples per CPU-second of this (single-threaded) process, i.e. per
core, measured with process_time so other load on the machine does not distort it; and the max RSS.
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
from sidecar.redaction.engine import DetectionEngine, _pattern_groups

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
    done, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        for raw in bodies:
            redactor.redact_json(json.loads(raw))
            done += 1
        if done > 10_000_000:
            break
    return done / (time.process_time() - start)


def _leaves(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _leaves(v)]
    if isinstance(value, list):
        return [s for v in value for s in _leaves(v)]
    return []


def run_presidio_engine(bodies: list[bytes], seconds: float) -> float:
    """Baseline: the same pattern recognizers through Presidio's AnalyzerEngine (blank spaCy tokenizer)."""
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_anonymizer import AnonymizerEngine

    from sidecar.redaction.nlp import PreloadedSpacyEngine

    registry = RecognizerRegistry(supported_languages=["en"])
    for rec in {id(r): r for g in _pattern_groups().values() for r in g}.values():
        registry.add_recognizer(rec)
    analyzer = AnalyzerEngine(
        nlp_engine=PreloadedSpacyEngine(spacy.blank("en"), "blank"), registry=registry, supported_languages=["en"]
    )
    anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]
    done, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        for raw in bodies[:500]:
            for text in _leaves(json.loads(raw)):
                results = analyzer.analyze(text, language="en", score_threshold=0.5)
                anonymizer.anonymize(text, results)  # type: ignore[arg-type]
            done += 1
    return done / (time.process_time() - start)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--pii-share", type=float, default=0.3)
    ap.add_argument("--baselines", action="store_true", help="also time without the pre-filter and via AnalyzerEngine")
    args = ap.parse_args()
    corpora = {size: make_bodies(4000 if size == 512 else 1000, size, args.pii_share) for size in (512, 5120)}
    if args.baselines:
        unfiltered = Redactor(RedactionSettings(ner="off"))
        unfiltered._engine = DetectionEngine("off", prefilter=False)
        for bodies in corpora.values():
            avg = sum(map(len, bodies)) / len(bodies) / 1024
            print(
                f"baseline no pre-filter      body≈{avg:.1f} KB  {run(unfiltered, bodies, args.seconds):8.0f} samples/s"
            )
            print(
                f"baseline AnalyzerEngine     body≈{avg:.1f} KB  {run_presidio_engine(bodies, args.seconds):8.0f} samples/s"
            )
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
