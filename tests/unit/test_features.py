"""Feature extraction: exact values on small inputs, caps, LLM usage, and the privacy of category labels."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path

from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.codecs import decode
from sidecar.features import category_label, extract, hashed_label
from sidecar.models import Decoded, Exchange, FeatureRecord, LlmUsage
from tests.fixtures.exchanges import make_exchange

PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "payloads"
HASHED = re.compile(r"#h:[0-9a-f]{4}")


def records(decoded: Decoded, **kwargs: object) -> tuple[FeatureRecord, ...]:
    return extract(decoded, model="m", request_id="rid", time=12.5, **kwargs)  # type: ignore[arg-type]


def test_tabular_rows_numbers_bools_strings_and_missing() -> None:
    d = Decoded(
        dialect="kserve_v1",
        inputs=({"age": 39, "workclass": "State-gov", "married": True, "capital": None}, {"age": 2**2000}),
        outputs=({"prediction": 1}, {"prediction": 0}, {"prediction": 1}),
    )
    recs = records(d)
    assert len(recs) == 3  # max(len(inputs), len(outputs))
    first = recs[0]
    assert (first.model, first.request_id, first.time) == ("m", "rid", 12.5)
    assert first.inputs == {"age": 39.0, "workclass": "State-gov", "married": "true", "capital": None}
    assert first.outputs == {"prediction": 1.0}
    assert first.kinds == {
        "age": "numeric",
        "workclass": "categorical",
        "married": "categorical",
        "prediction": "numeric",
    }
    assert recs[1].inputs == {"age": math.inf}  # beyond float range, sign kept
    assert recs[2].inputs == {} and recs[2].outputs == {"prediction": 1.0}
    assert all(r.dropped_features == 0 for r in recs)


def test_nan_and_infinities_stay_floats() -> None:
    d = Decoded(dialect="generic_json", inputs=({"a": math.nan, "b": -math.inf},))
    (rec,) = records(d)
    assert math.isnan(rec.inputs["a"]) and rec.inputs["b"] == -math.inf  # type: ignore[arg-type]


def test_text_fields_become_exact_statistics() -> None:
    d = Decoded(
        dialect="openai",
        inputs=({"prompt": "Hello World 123", "note": "héllo", "empty": ""},),
        text_fields=frozenset({"prompt", "note", "empty"}),
    )
    (rec,) = records(d)
    assert {k: v for k, v in rec.inputs.items() if k.startswith("prompt.")} == {
        "prompt.length": 15.0,
        "prompt.tokens": 3.0,
        "prompt.non_ascii_share": 0.0,
        "prompt.digit_share": 0.2,
        "prompt.upper_share": 0.2,  # 2 of 10 letters
    }
    assert rec.inputs["note.non_ascii_share"] == 0.2 and rec.inputs["note.length"] == 5.0
    assert rec.inputs["empty.length"] == 0.0 and rec.inputs["empty.upper_share"] == 0.0
    assert "prompt" not in rec.inputs  # never the text itself
    assert rec.kinds["prompt.length"] == "text" and rec.kinds["prompt.tokens"] == "text"


def test_tokens_count_words_and_punctuation() -> None:
    d = Decoded(dialect="openai", inputs=({"t": "Wait... what?! (ok)"},), text_fields=frozenset({"t"}))
    (rec,) = records(d)
    assert rec.inputs["t.tokens"] == 10.0  # Wait . . . what ? ! ( ok )


def fake_pii(text: str) -> Mapping[str, int]:
    return {
        "EMAIL_ADDRESS": len(re.findall(r"\S+@\S+", text)),
        "PHONE_NUMBER": len(re.findall(r"\+?\d[\d ]{7,}\d", text)),
        "not an entity!": 9,  # a bad type name never becomes a feature name
    }


def test_pii_counts_per_entity_type() -> None:
    d = Decoded(
        dialect="openai",
        inputs=({"messages.user.content": "mail a@b.co or c@d.io, call +1 415 555 0100"},),
        text_fields=frozenset({"messages.user.content"}),
    )
    (rec,) = records(d, pii_counter=fake_pii)
    assert rec.inputs["messages.user.content.pii.EMAIL_ADDRESS"] == 2.0
    assert rec.inputs["messages.user.content.pii.PHONE_NUMBER"] == 1.0
    assert not any("not an entity" in name for name in rec.inputs)
    (plain,) = records(d)
    assert not any(".pii." in name for name in plain.inputs)  # no counter: no PII features


def test_probability_vectors_give_class_and_confidence() -> None:
    d = Decoded(
        dialect="seldon_v1",
        outputs=(
            {"prediction[0]": 0.1, "prediction[1]": 0.7, "prediction[2]": 0.2},
            {"prediction[0]": 0.5, "prediction[1]": 0.9},  # does not sum to 1
            {"scores[0]": 0.25, "scores[1]": 0.75, "other[0]": True, "other[1]": False},
        ),
    )
    a, b, c = records(d)
    assert a.outputs["prediction.class"] == "1" and a.outputs["prediction.confidence"] == 0.7
    assert a.outputs["prediction[2]"] == 0.2
    assert a.kinds["prediction.class"] == "categorical" and a.kinds["prediction.confidence"] == "numeric"
    assert "prediction.class" not in b.outputs
    assert c.outputs["scores.class"] == "1" and "other.class" not in c.outputs


def test_llm_usage_on_the_first_record() -> None:
    llm = LlmUsage(operation="chat", input_tokens=19, output_tokens=10, streamed=True, time_to_first_token_s=0.25)
    d = Decoded(
        dialect="openai",
        inputs=({"messages.count": 2},),
        outputs=(
            {"completion": "Hi there, friend", "finish_reason": "stop"},
            {"completion": "x", "finish_reason": "length"},
        ),
        text_fields=frozenset({"completion"}),
        llm=llm,
    )
    first, second = records(d)
    assert first.outputs["usage.input_tokens"] == 19.0 and first.outputs["usage.output_tokens"] == 10.0
    assert first.outputs["time_to_first_token_s"] == 0.25
    assert first.outputs["finish_reason"] == "stop" and first.kinds["finish_reason"] == "categorical"
    assert first.outputs["completion.length"] == 16.0
    assert "usage.input_tokens" not in second.outputs and second.outputs["finish_reason"] == "length"
    no_stream = records(Decoded(dialect="openai", outputs=({"completion": ""},), llm=LlmUsage(operation="chat")))
    assert "time_to_first_token_s" not in no_stream[0].outputs
    assert no_stream[0].outputs["usage.output_tokens"] is None


def test_feature_cap_is_deterministic_and_reported() -> None:
    inputs = {f"f{k}": float(k) for k in (10, 2, 1, 0, 11, 3)}  # client order is scrambled
    d = Decoded(dialect="kserve_v1", inputs=(inputs,), outputs=({"prediction": 1.0},))
    (rec,) = records(d, max_features=4)
    assert rec.outputs == {"prediction": 1.0}
    assert list(rec.inputs) == ["f0", "f1", "f2"]  # natural order: f2 before f10
    assert rec.dropped_features == 3
    reordered = Decoded(dialect="kserve_v1", inputs=(dict(reversed(inputs.items())),), outputs=({"prediction": 1.0},))
    assert records(reordered, max_features=4)[0].inputs == rec.inputs


def test_skipped_payloads_have_no_records() -> None:
    assert records(Decoded(dialect="opaque", skipped="not_json", inputs=({"a": 1},))) == ()


def test_category_labels_keep_vocabularies_and_hide_identifiers() -> None:
    for plain in ("red", "State-gov", "United-States", "gold", "A-1", "stop", "", "cat 2"):
        assert category_label(plain, None) == plain
    for secret in (
        "jane.doe@example.com",
        "4111 1111 1111 1111",
        "4111111111111111",
        "+1 (415) 555-0100",
        "https://example.com/u/42",
        "a string that is longer than thirty-two chars",
        "DE89370400440532013000",
        "line\nbreak",
    ):
        label = category_label(secret, None)
        assert HASHED.fullmatch(label), secret
        assert label == hashed_label(secret)  # stable across calls and processes
    assert category_label("Alice", lambda s: {"PERSON": 1}) == hashed_label("Alice")
    assert category_label("Alice", lambda s: {"PERSON": 0}) == "Alice"


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=60))
def test_any_string_label_is_either_category_like_or_hashed(value: str) -> None:
    label = category_label(value, None)
    if label == value:
        assert len(value) <= 32 and "@" not in value and not re.search(r"\d{4}", value) and value.isprintable()
    else:
        assert HASHED.fullmatch(label)


def _exchange(target: str, request: object, response: object) -> Exchange:
    return make_exchange(
        target=target, request_body=json.dumps(request).encode(), response_body=json.dumps(response).encode()
    )


def test_planted_pii_never_appears_in_feature_records() -> None:
    fake = Faker()
    Faker.seed(1234)
    secrets: list[str] = []
    for _ in range(20):
        secrets += [fake.email(), fake.phone_number(), fake.credit_card_number(), fake.iban(), fake.ssn()]
    payloads = []
    for i in range(0, len(secrets), 5):
        email, phone, card, iban, ssn = secrets[i : i + 5]
        payloads += [
            (
                "/v1/models/m:predict",
                {"instances": [{"email": email, "phone": phone, "card": card}]},
                {"predictions": [iban]},
            ),
            (
                "/invocations",
                {"dataframe_split": {"columns": ["id", "note"], "data": [[ssn, f"call me at {phone} or {email}"]]}},
                [card],
            ),
            (
                "/v2/models/m/infer",
                {"inputs": [{"name": "t", "shape": [2], "datatype": "BYTES", "data": [email, iban]}]},
                {},
            ),
            ("/api/v1.0/predictions", {"data": {"names": [email], "ndarray": [[card, ssn]]}}, {"strData": phone}),
            (
                "/v1/chat/completions",
                {"model": "gpt", "messages": [{"role": "user", "content": f"{email} {card}"}]},
                {"choices": [{"message": {"content": f"I will call {phone}"}, "finish_reason": "stop"}]},
            ),
            ("/score", {"user": {email: card, "ssn": ssn, "contact": {"phone": phone}}}, {"iban": iban}),
        ]
    dumped = []
    for target, request, response in payloads:
        decoded = decode(_exchange(target, request, response))
        assert decoded.skipped is None, (target, decoded.skipped)
        for counter in (None, fake_pii):  # the label rule alone already hides structured PII
            for rec in extract(decoded, model="m", request_id="r", time=0.0, pii_counter=counter):
                dumped.append(json.dumps([rec.inputs, rec.outputs, rec.kinds]))
    blob = "\n".join(dumped)
    digits = re.sub(r"\D", "", blob)
    for secret in secrets:
        assert secret not in blob, secret
        secret_digits = re.sub(r"\D", "", secret)
        if len(secret_digits) >= 9:
            assert secret_digits not in digits, secret


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=80), st.text(max_size=20))
def test_ascii_fast_path_equals_unicode_statistics(ascii_text: str, other: str) -> None:
    from sidecar.features.values import _ascii_counts, _unicode_counts

    assert _ascii_counts(ascii_text) == _unicode_counts(ascii_text)
    mixed = ascii_text + other  # non-ASCII text takes the Unicode path; both give the same stats shape
    assert [k for k, _ in text_stats_of(mixed)] == ["length", "tokens", "non_ascii_share", "digit_share", "upper_share"]


def text_stats_of(text: str) -> list[tuple[str, object]]:
    from sidecar.features.values import text_stats

    return list(text_stats(text, None))


def test_pii_counter_is_asked_once_per_distinct_value() -> None:
    calls: list[str] = []

    def counting(text: str) -> Mapping[str, int]:
        calls.append(text)
        return {"PERSON": 0}

    rows = tuple({"color": "red" if i % 2 else "blue", "n": i} for i in range(50))
    recs = records(Decoded(dialect="kserve_v1", inputs=rows), pii_counter=counting)
    assert len(recs) == 50 and recs[1].inputs["color"] == "red"
    assert sorted(calls) == ["blue", "red"]
