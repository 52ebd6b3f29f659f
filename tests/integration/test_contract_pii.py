"""Contract: planted PII (Faker-generated, fixed seed) in every dialect — incl. SSE and gzip bodies,
query strings and secret headers — reaches no admin endpoint, no metric and no log line."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
from faker import Faker

from tests.integration.test_contract_support import ModelServer, Sidecar, get_json, http

pytestmark = pytest.mark.timeout(240)


def _people(n: int) -> list[dict[str, str]]:
    fake = Faker("en_US")
    fake.seed_instance(20261201)
    card_types = ["mastercard", "visa16", "amex", "discover", "jcb16", "visa13", "diners", "maestro"]
    people = []
    for i in range(n):
        card = fake.credit_card_number(card_type=card_types[i % len(card_types)])
        if i % 3 == 1:  # also as people type it: groups of four, spaces or dashes
            card = (" " if i % 2 else "-").join(card[k : k + 4] for k in range(0, len(card), 4))
        people.append(
            {
                "email": fake.email(),
                "phone": fake.phone_number(),
                "card": card,
                "ssn": fake.ssn(),
                "iban": fake.iban(),
                "ip": fake.ipv4_public() if i % 2 else fake.ipv6(),
                "address": fake.street_address(),
                "api_key": "sk-" + fake.pystr(min_chars=32, max_chars=32),
            }
        )
    return people


PEOPLE = _people(12)


def _sentence(p: dict[str, str]) -> str:
    return (
        f"Customer mail {p['email']}, phone {p['phone']}, card {p['card']}, SSN {p['ssn']}, "
        f"IBAN {p['iban']}, last login from {p['ip']}, key {p['api_key']}, living at {p['address']}."
    )


@pytest.fixture(scope="module")
def sc(upstream: ModelServer) -> Iterator[Sidecar]:
    env = {"SIDECAR_REDACTION_NER": "off", "SIDECAR_LOG_LEVEL": "debug"}
    sidecar = Sidecar(["--upstream", upstream.url], env).start()
    yield sidecar
    sidecar.close()


def _requests() -> list[tuple[str, bytes, dict[str, str]]]:
    p = PEOPLE
    j = "application/json"
    bodies: list[tuple[str, Any, dict[str, str]]] = [
        ("/v1/models/credit:predict", {"instances": [{"x": 1.0, "note": _sentence(p[0]), "email": p[0]["email"]}]}, {}),
        ("/v2/models/textv2/infer",
         {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [_sentence(p[1])]}]}, {}),
        ("/invocations", {"dataframe_records": [{"comment": _sentence(p[2]), "phone": p[2]["phone"]}]}, {}),
        ("/api/v1.0/predictions", {"strData": _sentence(p[3])}, {}),
        ("/api/v1.0/predictions", {"jsonData": {"profile": {"card": p[4]["card"], "ssn": p[4]["ssn"]}}}, {}),
        ("/v1/chat/completions", {"model": "chat-pii", "messages": [{"role": "user", "content": _sentence(p[5])}]}, {}),
        ("/v1/chat/completions",
         {"model": "chat-pii", "stream": True, "messages": [{"role": "user", "content": _sentence(p[6])}]}, {}),
        ("/v1/embeddings", {"model": "emb-pii", "input": [_sentence(p[7])]}, {}),
        ("/score", {"customer": {"contact": {"email": p[8]["email"], "iban": p[8]["iban"]}, "ip": p[8]["ip"]}}, {}),
        (f"/score?email={p[9]['email']}&ssn={p[9]['ssn']}", {"a": 1}, {}),
        ("/score", {"a": 2}, {"Authorization": f"Bearer {p[10]['api_key']}", "X-Api-Key": p[10]["api_key"],
                              "Cookie": f"session={p[10]['card']}"}),
    ]  # fmt: skip
    out = [(path, json.dumps(body).encode(), {"Content-Type": j, **h}) for path, body, h in bodies]
    gz = gzip.compress(json.dumps({"customer": {"contact": _sentence(p[11])}}).encode(), mtime=0)
    out.append(("/gzip-echo", gz, {"Content-Type": j, "Content-Encoding": "gzip"}))
    return out


def _variants(kind: str, value: str) -> list[str]:
    found = [value]
    if kind in {"card", "ssn", "phone"}:
        found.append("".join(ch for ch in value if ch.isdigit()))
    if kind == "email":
        found.append(value.split("@")[0] + "@")
    return found


def _haystack(sc: Sidecar) -> dict[str, str]:
    models = sc.status().get("models") or []
    names = [m if isinstance(m, str) else m.get("name", "") for m in models]
    paths = ["/v1/status", "/metrics", "/healthz", "/readyz"]
    for model in {*names, "credit", "textv2", "default", "chat-pii", "emb-pii"}:
        paths += [f"/v1/samples?model={model}&limit=1000", f"/v1/anomalies?model={model}&limit=1000",
                  f"/v1/drift?model={model}", f"/v1/performance?model={model}"]  # fmt: skip
    sinks = {path: http("GET", sc.admin_url + path).text for path in paths}
    sinks["process log"] = sc.log()
    return sinks


def test_planted_pii_reaches_no_sink(sc: Sidecar, upstream: ModelServer) -> None:
    requests = _requests()
    for path, body, headers in requests:
        via = http("POST", sc.url + path, body, headers)
        direct = http("POST", upstream.url + path, body, headers)
        assert via.status == direct.status == 200, (path, via.status, via.text[:200])
        if b'"stream": true' not in body:
            assert via.body == direct.body, path  # capture never changes response bytes
    sc.wait_processed(len(requests))
    sinks = _haystack(sc)
    leaks = []
    for sink, text in sinks.items():
        squashed = text.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
        for i, person in enumerate(PEOPLE):
            for kind, value in person.items():
                for variant in _variants(kind, value):
                    hay = squashed if variant.isdigit() else text
                    if variant in hay:
                        leaks.append(f"person {i} {kind} {variant!r} in {sink}")
    assert not leaks, "\n".join(sorted(set(leaks)))
    # The samples are really there and redacted (not just dropped).
    samples = json.dumps(get_json(sc.admin_url + "/v1/samples?model=chat-pii&limit=100"))
    assert "<EMAIL_ADDRESS>" in samples or "EMAIL_ADDRESS" in samples
    assert len(json.loads(samples)["samples"]) == 2


def test_redactions_are_counted_by_entity_type(sc: Sidecar) -> None:
    text = sc.metrics()
    for entity in ("EMAIL_ADDRESS", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS", "PHONE_NUMBER"):
        assert f'entity_type="{entity}"' in text, f"no sidecar_pii_redacted_total for {entity}"
