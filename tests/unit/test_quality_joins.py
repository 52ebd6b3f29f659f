"""Prediction records from capture results, label coercion and the label header parser (pure)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.models import CaptureResult, FeatureRecord, FeatureValue
from sidecar.quality.joins import (
    MAX_HEADER_ITEMS,
    PredictionRecord,
    class_label,
    coerce_label,
    parse_label_header,
    predictions_from,
    valid_label_value,
)


def _result(*outputs: dict[str, FeatureValue], inputs: dict[str, FeatureValue] | None = None) -> CaptureResult:
    records = tuple(
        FeatureRecord(model="iris", request_id="req-1", time=100.0 + i, inputs=inputs or {}, outputs=dict(out))
        for i, out in enumerate(outputs)
    )
    return CaptureResult(
        request_id="req-1",
        time=100.0,
        route="/v1/models/{model}:predict",
        dialect="kserve_v1",
        model="iris",
        status=200,
        request=None,
        response=None,
        records=records,
        client_key="k#1",
    )


def test_single_row_keeps_the_request_id_and_reads_a_regression_value() -> None:
    (record,) = predictions_from(_result({"prediction": 3.5}))
    assert record == PredictionRecord(request_id="req-1", model="iris", time=100.0, predicted=3.5, client_key="k#1")
    assert record.task == "regression"


def test_batch_rows_get_indexed_ids_and_rows_without_prediction_are_skipped() -> None:
    records = predictions_from(_result({"prediction": "setosa"}, {"other": 1.0}, {"prediction": "virginica"}))
    assert [(r.request_id, r.predicted) for r in records] == [("req-1#0", "setosa"), ("req-1#2", "virginica")]
    assert all(r.task == "classification" for r in records)


def test_class_and_probability_vector() -> None:
    outputs: dict[str, FeatureValue] = {
        "prediction.class": "b",
        "prediction[a]": 0.2,
        "prediction[b]": 0.7,
        "prediction[c]": 0.1,
        "prediction.confidence": 0.7,
    }
    (record,) = predictions_from(_result(outputs))
    assert record.predicted == "b"
    assert record.probabilities == {"a": 0.2, "b": 0.7, "c": 0.1}
    assert record.confidence == 0.7


def test_probability_vector_alone_names_the_argmax_class() -> None:
    (record,) = predictions_from(_result({"prediction[0]": 0.3, "prediction[1]": 0.7}))
    assert record.predicted == "1" and record.probabilities == {"0": 0.3, "1": 0.7}


def test_class_index_next_to_probabilities_is_a_class() -> None:
    (record,) = predictions_from(_result({"prediction": 1.0, "prediction[0]": 0.4, "prediction[1]": 0.6}))
    assert record.predicted == "1" and record.task == "classification"


def test_vectors_that_are_not_distributions_are_not_probabilities() -> None:
    # logits (outside [0, 1]) and partial vectors without a class name no prediction
    assert predictions_from(_result({"prediction[0]": 2.5, "prediction[1]": -1.0})) == []
    assert predictions_from(_result({"prediction[0]": 0.2, "prediction[1]": 0.3})) == []
    (record,) = predictions_from(_result({"prediction": 4.0, "prediction[0]": 3.0, "prediction[1]": 5.0}))
    assert record.predicted == 4.0 and record.probabilities is None


def test_missing_or_non_finite_predictions_are_skipped() -> None:
    assert predictions_from(_result({"prediction": None}, {"prediction": math.nan}, {})) == []


def test_segment_feature_comes_from_inputs() -> None:
    records = predictions_from(
        _result({"prediction": "x"}, inputs={"region": "north", "age": 3.0}), segment_feature="region"
    )
    assert records[0].segment == "north"
    assert predictions_from(_result({"prediction": "x"}, inputs={"age": 3.0}), segment_feature="age")[0].segment == "3"
    assert predictions_from(_result({"prediction": "x"}), segment_feature="region")[0].segment is None
    assert predictions_from(_result({"prediction": "x"}, inputs={"region": "north"}))[0].segment is None


def test_class_label_canonical_forms() -> None:
    assert class_label(1) == class_label(1.0) == class_label("1") == "1"
    assert class_label(True) == "true" and class_label(0.5) == "0.5"
    assert class_label(None) is None and class_label("") is None and class_label(math.inf) is None
    assert class_label({"a": 1}) is None and class_label("x" * 1000) is None


def test_coerce_label_by_task() -> None:
    clf = PredictionRecord("r", "m", 0.0, "1")
    reg = PredictionRecord("r", "m", 0.0, 2.0)
    assert coerce_label(clf, 1) == "1" and coerce_label(clf, "cat") == "cat" and coerce_label(clf, False) == "false"
    assert coerce_label(reg, 3) == 3.0 and coerce_label(reg, 2.5) == 2.5
    assert coerce_label(reg, "3") is None and coerce_label(reg, True) is None and coerce_label(reg, math.nan) is None
    assert coerce_label(clf, None) is None and coerce_label(clf, [1]) is None
    assert coerce_label(reg, 10**400) is None and coerce_label(clf, 10**400) is None


def test_valid_label_value() -> None:
    assert all(valid_label_value(v) for v in ("a", 1, 2.5, True))
    assert not any(valid_label_value(v) for v in (None, {}, [], math.nan, math.inf))


def test_parse_label_header_items() -> None:
    header = 'a=1, b=cat , c="x, y", d=true,e=2.5, req-9#3=two words'
    assert parse_label_header(header) == [
        ("a", 1),
        ("b", "cat"),
        ("c", "x, y"),
        ("d", True),
        ("e", 2.5),
        ("req-9#3", "two words"),
    ]
    assert parse_label_header("") == [] and parse_label_header("   ") == []


@pytest.mark.parametrize(
    "header", ["a", "a=", "a=1,", "a=null", "a=[1]", "a=NaN", "a b=1", 'a="x', 'a="x" y', "=1", "a=1,,b=2"]
)
def test_parse_label_header_rejects_malformed(header: str) -> None:
    with pytest.raises(ValueError):
        parse_label_header(header)


def test_parse_label_header_is_bounded() -> None:
    with pytest.raises(ValueError):
        parse_label_header(",".join(f"r{i}=1" for i in range(MAX_HEADER_ITEMS + 1)))
    assert len(parse_label_header(",".join(f"r{i}=1" for i in range(MAX_HEADER_ITEMS)))) == MAX_HEADER_ITEMS


@given(st.text(max_size=200))
def test_parse_label_header_never_raises_anything_but_value_error(header: str) -> None:
    try:
        items = parse_label_header(header)
    except ValueError:
        return
    assert all(valid_label_value(label) for _, label in items)
