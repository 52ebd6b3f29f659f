"""Per-entity positive and negative cases for the redaction recognizers (patterns only)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sidecar.config import RedactionSettings
from sidecar.redaction import ENTITY_TYPES, Redactor
from sidecar.redaction.engine import DetectionEngine
from sidecar.redaction.recognizers import luhn_ok

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n-----END RSA PRIVATE KEY-----"
)

POSITIVE = [
    ("EMAIL_ADDRESS", "write to jane.doe@example.com today", "jane.doe@example.com"),
    ("EMAIL_ADDRESS", "cc: o'brien+news@mail.example.co.uk", "o'brien+news@mail.example.co.uk"),
    ("EMAIL_ADDRESS", "internal ops@build.corp.internal list", "ops@build.corp.internal"),
    ("PHONE_NUMBER", "call +1 555 0100 now", "+1 555 0100"),  # reserved fictional range
    ("PHONE_NUMBER", "office (555) 010-0199 ext. 12", "(555) 010-0199 ext. 12"),
    ("PHONE_NUMBER", "reach me at 202-555-0143x9778.", "202-555-0143x9778"),
    ("PHONE_NUMBER", "London +44 20 7946 0958", "+44 20 7946 0958"),
    ("PHONE_NUMBER", "Berlin +49 (0)30 12345678", "+49 (0)30 12345678"),
    ("PHONE_NUMBER", "UK mobile 07700 900123", "07700 900123"),
    ("PHONE_NUMBER", "Paris 01 23 45 67 89", "01 23 45 67 89"),
    ("PHONE_NUMBER", "dial 001-555-123-4567", "001-555-123-4567"),
    ("PHONE_NUMBER", "phone: 5551234567", "5551234567"),  # bare digits need a context word
    ("CREDIT_CARD", "visa 4111 1111 1111 1111", "4111 1111 1111 1111"),
    ("CREDIT_CARD", "mc 2-series 2221 0000 0000 0009", "2221 0000 0000 0009"),
    ("CREDIT_CARD", "mc 2720-9999-9999-9996 ok", "2720-9999-9999-9996"),
    ("CREDIT_CARD", "19-digit visa 4000000000000000006", "4000000000000000006"),
    ("CREDIT_CARD", "maestro 6759649826438453 (16) and", "6759649826438453"),
    ("CREDIT_CARD", "19-digit maestro 6799990100000000019", "6799990100000000019"),
    ("CREDIT_CARD", "amex 3782 822463 10005", "3782 822463 10005"),
    ("IBAN_CODE", "pay to GB82 WEST 1234 5698 7654 32 please", "GB82 WEST 1234 5698 7654 32"),
    ("IBAN_CODE", "DE89370400440532013000", "DE89370400440532013000"),
    ("IP_ADDRESS", "from 203.0.113.7 at", "203.0.113.7"),
    ("IP_ADDRESS", "v6 2001:db8:85a3::8a2e:370:7334 seen", "2001:db8:85a3::8a2e:370:7334"),
    ("US_SSN", "ssn 078-05-1121 on file", "078-05-1121"),
    ("US_SSN", "social security number 536 22 1234", "536 22 1234"),
    ("API_KEY", "key sk-proj-abcDEF1234567890ghiJKL5678", "sk-proj-abcDEF1234567890ghiJKL5678"),
    ("API_KEY", "aws AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("API_KEY", "gh ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
    ("API_KEY", "slack xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
    ("API_KEY", 'config api_key="Zx9fK2mQ8vL3pR7tW1"', "Zx9fK2mQ8vL3pR7tW1"),
    ("API_KEY", "Authorization: Bearer abcDEF123456ghiJKL789", "abcDEF123456ghiJKL789"),
    ("API_KEY", "my password: hunter22!", "hunter22!"),
    ("JWT", f"token {JWT} end", JWT),
    ("PRIVATE_KEY", f"key:\n{PEM}\nthanks", PEM),
    ("PRIVATE_KEY", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA", None),  # truncated by the cap
    ("STREET_ADDRESS", "send it to 1600 Pennsylvania Avenue NW, thanks", "1600 Pennsylvania Avenue NW"),
    ("STREET_ADDRESS", "at 0487 Hill Station Suite 456 today", "0487 Hill Station Suite 456"),
    ("STREET_ADDRESS", "in Lake Jamesmouth, WA 98052-1234 area", "Lake Jamesmouth, WA 98052-1234"),
    ("STREET_ADDRESS", "PSC 1234, Box 5678", "PSC 1234, Box 5678"),
]

NEGATIVE = [
    "released 2024-03-02 at 10:30:15",
    "dates 01.02.2024 12:30 and 31/12/2023",
    "python 3.11.7, numpy 1.26.4, build 20240302.1",
    "price $1,249.99 and 8.25% tax",
    "order #48213 and ORD-2024-000123",
    "4111 1111 1111 1112",  # Luhn fails
    "1234 5678 9012 3456",  # no issuer, Luhn fails
    "9999999999999995",  # Luhn passes, no issuer
    "ISBN 978-3-16-148410-0",
    "assets: logo@2x.png and icon@3x.webp",
    "unix time 1709373000",  # bare digits without a phone context word
    "sk-short",
    "token = get_token(session)",
    "api_key = os.environ['API_KEY']",
    "password = getpass.getpass()",
    "std::vector<int> v; Foo::bar(); a::b",
    "eyJub3QiOiJhIGp3dCJ9 only one part",
    "GB00 WEST 1234 5698 7654 32",  # IBAN checksum fails
    "3 Key points and 2 Main Ideas",
    "999.999.999.999 is not an address",
]


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(RedactionSettings(ner="off"))


@pytest.mark.parametrize(
    ("entity", "text", "value"), POSITIVE, ids=[f"{e}-{i}" for i, (e, _, _) in enumerate(POSITIVE)]
)
def test_positive(redactor: Redactor, entity: str, text: str, value: str | None) -> None:
    out, counts = redactor.redact_text(text)
    assert counts.get(entity) == 1, (counts, out)
    assert f"<{entity}>" in out
    if value is not None:
        assert value not in out


@pytest.mark.parametrize("text", NEGATIVE)
def test_negative(redactor: Redactor, text: str) -> None:
    assert redactor.redact_text(text) == (text, {})


def test_keyword_is_kept_but_value_redacted(redactor: Redactor) -> None:
    out, _ = redactor.redact_text('{"api_key": "Zx9fK2mQ8vL3pR7tW1"} Bearer abcDEF123456ghiJKL789')
    assert out == '{"api_key": "<API_KEY>"} Bearer <API_KEY>'


def test_adjacent_entities_are_counted_and_replaced_separately(redactor: Redactor) -> None:
    out, counts = redactor.redact_text("AKIAIOSFODNN7EXAMPLE AKIAIOSFODNN7EXAMPLF")
    assert out == "<API_KEY> <API_KEY>"
    assert counts == {"API_KEY": 2}


def test_overlapping_matches_merge_into_one_span() -> None:
    # The JWT also matches `Bearer <token>`; the union is replaced once, by the more specific entity.
    engine = DetectionEngine("off")
    spans = engine.find(f"Bearer {JWT}")
    assert [(s.entity, s.start, s.end) for s in spans] == [("JWT", 7, 7 + len(JWT))]


def test_context_word_in_key_confirms_weak_match(redactor: Redactor) -> None:
    assert redactor.redact_text("5551234567")[1] == {}
    assert redactor.redact_text("5551234567", "mobile")[1] == {"PHONE_NUMBER": 1}
    assert redactor.redact_text("078051121", "ssn")[1] == {"US_SSN": 1}


def test_luhn() -> None:
    assert luhn_ok("4111111111111111")
    assert luhn_ok("2221000000000009")
    assert not luhn_ok("4111111111111112")


def test_status_lists_only_known_entities(redactor: Redactor) -> None:
    status = redactor.status()
    assert status["ner"] is False and status["ner_model"] is None and status["mode"] == "tag"
    entities = status["entities"]
    assert isinstance(entities, list) and set(entities) <= ENTITY_TYPES
    assert "PERSON" not in entities and "DATE_TIME" not in entities
    assert {"EMAIL_ADDRESS", "CREDIT_CARD", "API_KEY", "JWT", "PRIVATE_KEY", "STREET_ADDRESS"} <= set(entities)


def test_generated_benign_values_are_not_redacted(redactor: Redactor) -> None:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(9)
    generators: list[Callable[[], str]] = [
        fake.date, fake.time, fake.iso8601, lambda: str(fake.date_time()), fake.pricetag, lambda: str(fake.uuid4()),
        fake.sha1, fake.md5, lambda: str(fake.pyint(0, 10**9)), lambda: str(fake.pyfloat()), fake.isbn13,
        fake.sentence, lambda: fake.numerify("v%.%#.%#"), lambda: fake.bothify("ORD-####-????-######"),
        lambda: fake.date("%m/%d/%Y") + " " + fake.time("%H:%M"), lambda: fake.date("%d.%m.%Y %H:%M"),
    ]  # fmt: skip
    values = [f"value {gen()} here" for gen in generators for _ in range(60)]
    changed = [v for v in values if redactor.redact_text(v)[1]]
    assert changed == []
