"""Redactor over JSON values and headers: planted Faker PII, deny-lists, hashing, cache bounds, fuzzing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.config import RedactionSettings
from sidecar.errors import ConfigError
from sidecar.redaction import ENTITY_TYPES, Redactor
from sidecar.redaction.engine import DetectionEngine
from sidecar.redaction.redactor import CACHE_ENTRIES, MAX_DEPTH, OPAQUE

BENIGN = Path(__file__).parents[1] / "data" / "pii" / "benign.txt"


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(RedactionSettings(ner="off"))


def _planted(seed: int, n: int) -> tuple[list[Any], list[str]]:
    """Request-like JSON documents with structured PII in every position a walker must reach."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    docs: list[Any] = []
    values: list[str] = []
    for _ in range(n):
        email, phone, card, iban = fake.email(), fake.phone_number(), fake.credit_card_number(), fake.iban()
        ssn, ip4, ip6, street = fake.ssn(), fake.ipv4_public(), fake.ipv6(), fake.street_address()
        address, msisdn, key = fake.address(), fake.msisdn(), "sk-" + fake.pystr(min_chars=32, max_chars=40)
        docs.append(
            {
                "user": {"email": email, "phone": phone, "contacts": [{"kind": "work", "mobile": msisdn}]},
                "messages": [
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": f"My card is {card}, IBAN {iban}, SSN {ssn}; call me at {phone}."},
                    {"role": "user", "content": [{"type": "text", "text": f"Ship to {address}. Server {ip4} / {ip6}"}]},
                ],
                "meta": {"deep": [[{"street": street}], {"openai_key": f"use {key}"}]},
                "rows": [[email, 1], [ssn, 2]],
            }
        )
        values += [email, phone, card, iban, ssn, ip4, ip6, street, msisdn, key, *address.split("\n")]
    return docs, values


def test_planted_structured_pii_never_survives(redactor: Redactor) -> None:
    docs, values = _planted(seed=11, n=100)
    outputs = [redactor.redact_json(doc) for doc in docs]
    dumped = json.dumps([out for out, _ in outputs])
    leaks = [v for v in values if v in dumped]
    assert leaks == []
    totals: dict[str, int] = {}
    for _, counts in outputs:
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
    assert set(totals) <= ENTITY_TYPES
    for entity in ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS", "API_KEY"):
        assert totals.get(entity, 0) >= 100, (entity, totals)
    first: Any = outputs[0][0]
    assert first["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}


def test_prefilter_changes_nothing() -> None:
    docs, values = _planted(seed=5, n=60)
    benign = [line for line in BENIGN.read_text().splitlines() if line and not line.startswith("#")]
    texts = values + benign + [json.dumps(d) for d in docs]
    fast, full = DetectionEngine("off", prefilter=True), DetectionEngine("off", prefilter=False)
    for text in texts:
        assert fast.find(text) == full.find(text), text


_TRICKY = [
    "٤١١١ ١١١١ ١١١١ ١١١١",  # Arabic-Indic digits
    "ＡＫＩＡ and ſecret=Zx9fK2mQ8vL3pR7tW1 and PRIVATE_KEY: Zx9fK2mQ8vL3pR7tW1x",
    "fe80::1%eth0 1:2:3:4:5:6:7:8 ::ffff:192.0.2.1",
    "Unit 1234 Box 5678 / USNS Miller / FPO AE 12345",
    "x-api-key: aB3dE6gH9jK2mN5pQ8 token:'Zx9fK2mQ8vL3pR7tW1'",
]

_SCRAMBLE = st.text(alphabet="0123456789 .-:()@+,#AKIESyJabkpx_=/'\"\n", max_size=80)


@pytest.fixture(scope="module")
def engines() -> tuple[DetectionEngine, DetectionEngine]:
    return DetectionEngine("off", prefilter=True), DetectionEngine("off", prefilter=False)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_SCRAMBLE, st.text(max_size=80), st.sampled_from(_TRICKY)))
def test_prefilter_never_hides_a_match(engines: tuple[DetectionEngine, DetectionEngine], text: str) -> None:
    fast, full = engines
    assert fast.find(text) == full.find(text)


def test_benign_corpus_false_redaction_rate(redactor: Redactor) -> None:
    lines = [line for line in BENIGN.read_text().splitlines() if line and not line.startswith("#")]
    changed = [line for line in lines if redactor.redact_text(line)[0] != line]
    assert len(lines) >= 50
    assert len(changed) / len(lines) <= 0.02, changed


def test_deny_listed_keys_are_dropped_case_insensitively(redactor: Redactor) -> None:
    doc = {
        "Authorization": "Bearer abc",
        "API-Key": "k1",
        "nested": {"Password": "p", "items": [{"client_secret": "s", "keep": "yes"}]},
        "X_API_KEY": "k2",
        "api_version": "2024-02-01",
    }
    out, counts = redactor.redact_json(doc)
    assert out == {"nested": {"items": [{"keep": "yes"}]}, "api_version": "2024-02-01"}
    assert counts == {}


def test_keys_with_pii_are_redacted_without_collisions(redactor: Redactor) -> None:
    out, counts = redactor.redact_json({"jane@example.com": 1, "john@example.com": 2, "name": "x"})
    assert out == {"<EMAIL_ADDRESS>": 1, "<EMAIL_ADDRESS>#": 2, "name": "x"}
    assert counts == {"EMAIL_ADDRESS": 2}


def test_numbers_that_are_pii_are_replaced(redactor: Redactor) -> None:
    out, counts = redactor.redact_json({"card": 4111111111111111, "phone": 5551234567, "n": 12345, "x": 1.5})
    assert out == {"card": "<CREDIT_CARD>", "phone": "<PHONE_NUMBER>", "n": 12345, "x": 1.5}
    assert counts == {"CREDIT_CARD": 1, "PHONE_NUMBER": 1}


def test_depth_is_bounded(redactor: Redactor) -> None:
    deep: Any = "jane@example.com"
    for _ in range(MAX_DEPTH * 3):
        deep = [deep]
    out, _ = redactor.redact_json(deep)
    depth = 0
    while isinstance(out, list):
        out, depth = out[0], depth + 1
    assert depth == MAX_DEPTH and out == OPAQUE


def test_non_json_values_are_opaque(redactor: Redactor) -> None:
    out, _ = redactor.redact_json({"b": b"jane@example.com", "o": object(), 3: "ok", "big": 10**200})
    assert out == {"b": OPAQUE, "o": OPAQUE, "3": "ok", "big": OPAQUE}


def test_headers(redactor: Redactor) -> None:
    headers = [
        ("Authorization", "Bearer abcDEF123456ghiJKL789"),
        ("Cookie", "sid=1"),
        ("X-API-Key", "k"),
        ("X-Auth-Token", "t"),
        ("X-Forwarded-For", "203.0.113.7, 198.51.100.2"),
        ("Content-Type", "application/json"),
        ("x-ratelimit-remaining-tokens", "9000"),
    ]
    assert redactor.redact_headers(headers) == [
        ("X-Forwarded-For", "<IP_ADDRESS>, <IP_ADDRESS>"),
        ("Content-Type", "application/json"),
        ("x-ratelimit-remaining-tokens", "9000"),
    ]


def test_hash_mode_is_stable_and_secret_dependent() -> None:
    a = Redactor(RedactionSettings(ner="off", mode="hash", hash_secret="s1"))
    b = Redactor(RedactionSettings(ner="off", mode="hash", hash_secret="s2"))
    text = "mail jane@example.com or john@example.com"
    out1, counts = a.redact_text(text)
    assert counts == {"EMAIL_ADDRESS": 2}
    tags = re.findall(r"<EMAIL_ADDRESS:([0-9a-f]{8})>", out1)
    assert len(tags) == 2 and tags[0] != tags[1]
    assert Redactor(RedactionSettings(ner="off", mode="hash", hash_secret="s1")).redact_text(text)[0] == out1
    assert a.redact_text("again jane@example.com")[0] == f"again <EMAIL_ADDRESS:{tags[0]}>"
    assert b.redact_text(text)[0] != out1
    assert a.status()["mode"] == "hash"


def test_bad_settings_fail_clearly() -> None:
    with pytest.raises(ConfigError, match="hash_secret"):
        Redactor(RedactionSettings(mode="hash"))
    with pytest.raises(ConfigError, match=r"redaction\.mode"):
        Redactor(RedactionSettings(mode="mask"))
    with pytest.raises(ConfigError, match=r"redaction\.ner"):
        Redactor(RedactionSettings(ner="maybe"))


def test_cache_is_bounded_and_returns_copies(redactor: Redactor) -> None:
    fresh = Redactor(RedactionSettings(ner="off"))
    first = fresh.redact_text("mail jane@example.com")
    first[1]["EMAIL_ADDRESS"] = 99
    assert fresh.redact_text("mail jane@example.com") == ("mail <EMAIL_ADDRESS>", {"EMAIL_ADDRESS": 1})
    for i in range(CACHE_ENTRIES + 500):
        fresh.redact_text(f"message number {i} for user{i}@example.com")
    assert len(fresh._cache) == CACHE_ENTRIES
    assert fresh.analyze("user1@example.com wrote") == {"EMAIL_ADDRESS": 1}


def test_strings_that_break_encoders_fail_closed_or_pass(redactor: Redactor) -> None:
    out: Any
    out, _ = redactor.redact_json({"s": "lone \ud800 surrogate jane@example.com", "e": "", "nul": "\x00\x00\x00\x00"})
    assert "jane@example.com" not in json.dumps(out)
    assert out["e"] == "" and out["nul"] == "\x00\x00\x00\x00"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=60),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=40,
)


def _nodes(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(_nodes(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_nodes(v) for v in value)
    return 1


@settings(max_examples=150, deadline=None)
@given(_JSON)
def test_fuzz_redact_json_never_raises_and_stays_bounded(redactor: Redactor, value: Any) -> None:
    out, counts = redactor.redact_json(value)
    assert set(counts) <= ENTITY_TYPES
    assert _nodes(out) <= _nodes(value)
    size_in = len(json.dumps(value, ensure_ascii=False))
    assert len(json.dumps(out, ensure_ascii=False)) <= 8 * size_in + 64


def test_cache_holds_a_bounded_amount_of_text() -> None:
    from sidecar.redaction import redactor as module

    fresh = Redactor(RedactionSettings(ner="off"))
    text = "plain words without any identifiers at all " * 1000  # ~43 KB, cached (below the per-string cap)
    for i in range(200):
        fresh.redact_text(f"{i} {text}", "content")
    assert fresh._cached_chars <= module.CACHE_TOTAL_CHARS
    assert fresh._cached_chars == sum(len(v[0]) for v in fresh._cache.values())


def test_contextual_result_is_reused_for_context_free_lookups() -> None:
    fresh = Redactor(RedactionSettings(ner="off"))
    text = "call me on 4155550137 tomorrow"
    with_context = fresh.redact_text(text, "phone")
    assert fresh.analyze(text) == with_context[1]  # reuses the (more redacting) contextual result
