"""Prediction records, label coercion and the label header parser (pure core of the label join).

A capture result becomes one ``PredictionRecord`` per batch row; a label posted later is coerced to
the prediction's task and becomes a ``JoinedRecord``.  Batch rows get their own request ids: a
request with exactly one row keeps ``<request_id>``; a request with n != 1 rows gives row i the id
``<request_id>#<i>`` (0-based), so a client labels row 3 of a batch as ``"abc#3"``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..models import CaptureResult, FeatureRecord, FeatureValue

#: What a prediction or a label is after coercion: a class label, or a regression target.
Target = str | float

#: Longest class label / segment value kept (memory and Redis size are bounded by it).
MAX_LABEL_CHARS = 256
MAX_SEGMENT_CHARS = 64
#: Probability vectors wider than this are dropped (the predicted class is kept).
MAX_CLASSES = 256
#: A request-id as the proxy issues it, plus the ``#<row>`` suffix of batch rows.
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:\-]{1,128}(?:#[0-9]{1,6})?")
#: Items accepted in one label header (the rest of the header is ignored by contract).
MAX_HEADER_ITEMS = 100

_PROBA_RE = re.compile(r"prediction\[(.{1,128})\]")
_PROBA_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """What the model said for one row, kept until its label arrives or the horizon passes."""

    request_id: str
    model: str
    time: float
    predicted: Target  # class label (str) or regression value (float)
    probabilities: dict[str, float] | None = None  # class label → probability
    segment: str | None = None
    client_key: str = ""  # hashed client identity, never raw
    confidence: float | None = None  # ``prediction.confidence`` when the model reports one

    @property
    def task(self) -> str:
        return "classification" if isinstance(self.predicted, str) else "regression"


@dataclass(frozen=True, slots=True)
class JoinedRecord:
    """A prediction with its ground truth (label already coerced to the prediction's task)."""

    prediction: PredictionRecord
    label: Target
    label_time: float


def class_label(value: object) -> str | None:
    """Canonical class label of a scalar: ``1``, ``1.0`` and ``"1"`` are the same class; None if not a scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if 0 < len(value) <= MAX_LABEL_CHARS else None
    if isinstance(value, int):
        text = str(value)
        return text if len(text) <= MAX_LABEL_CHARS else None
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    return None


def coerce_label(prediction: PredictionRecord, label: object) -> Target | None:
    """The label in the prediction's task, or None when its type cannot be a label for it.

    Classification takes strings, integers, integral floats and booleans (as class labels);
    regression takes finite numbers only (a boolean or a string is a wrong type, not a number).
    """
    if isinstance(prediction.predicted, str):
        return class_label(label)
    if isinstance(label, bool) or not isinstance(label, int | float):
        return None
    try:
        value = float(label)
    except OverflowError:  # a JSON integer beyond float range
        return None
    return value if math.isfinite(value) else None


def valid_label_value(label: object) -> bool:
    """A label must be a JSON scalar that is not null: str, int, finite float or bool."""
    if isinstance(label, float):
        return math.isfinite(label)
    return isinstance(label, str | int | bool)


def predictions_from(result: CaptureResult, *, segment_feature: str = "") -> list[PredictionRecord]:
    """One record per batch row that carries a prediction we understand (rows without one are skipped)."""
    rows = result.records
    out: list[PredictionRecord] = []
    for index, row in enumerate(rows):
        request_id = result.request_id if len(rows) == 1 else f"{result.request_id}#{index}"
        record = _from_row(row, request_id, result, segment_feature)
        if record is not None:
            out.append(record)
    return out


def _from_row(
    row: FeatureRecord, request_id: str, result: CaptureResult, segment_feature: str
) -> PredictionRecord | None:
    outputs = row.outputs
    probabilities = _probabilities(outputs)
    predicted = _predicted(outputs, probabilities)
    if predicted is None:
        return None
    if isinstance(predicted, float):
        probabilities = None  # a regression vector is not a class distribution
    confidence = outputs.get("prediction.confidence")
    confidence = confidence if isinstance(confidence, float) and 0.0 <= confidence <= 1.0 else None
    segment = _segment(row.inputs.get(segment_feature)) if segment_feature else None
    return PredictionRecord(
        request_id=request_id,
        model=row.model or result.model,
        time=row.time,
        predicted=predicted,
        probabilities=probabilities,
        segment=segment,
        client_key=result.client_key,
        confidence=confidence,
    )


def _probabilities(outputs: Mapping[str, FeatureValue]) -> dict[str, float] | None:
    vector: dict[str, float] = {}
    for name, value in outputs.items():
        match = _PROBA_RE.fullmatch(name)
        if match is None:
            continue
        if not isinstance(value, float) or not 0.0 <= value <= 1.0:
            return None  # logits, scores or a regression vector: not probabilities
        vector[match.group(1)] = value
    if len(vector) < 2 or len(vector) > MAX_CLASSES or sum(vector.values()) > 1.0 + _PROBA_SUM_TOLERANCE:
        return None
    return vector


def _predicted(outputs: Mapping[str, FeatureValue], probabilities: dict[str, float] | None) -> Target | None:
    explicit = outputs.get("prediction.class")
    if explicit is not None:
        return class_label(explicit)
    scalar = outputs.get("prediction")
    if isinstance(scalar, str):
        return class_label(scalar)
    if isinstance(scalar, float):
        if not math.isfinite(scalar):
            return None
        # A class index next to a probability vector is a class, not a regression value.
        as_class = class_label(scalar)
        if probabilities is not None and as_class in probabilities:
            return as_class
        return scalar
    if probabilities is not None and abs(sum(probabilities.values()) - 1.0) <= _PROBA_SUM_TOLERANCE:
        # Only a full distribution names a class by itself; ties go to the smallest label.
        return max(sorted(probabilities), key=lambda k: probabilities[k])
    return None


def _segment(value: FeatureValue) -> str | None:
    if isinstance(value, str):
        return value[:MAX_SEGMENT_CHARS] or None
    return class_label(value) if value is not None else None


def parse_label_header(value: str) -> list[tuple[str, object]]:
    """Parse ``<request-id>=<label>[, <request-id>=<label> ...]`` from a label header.

    A label is a JSON scalar when it parses as one (``1``, ``2.5``, ``true``, ``"a, b"``), else the
    bare text (``cat``).  Commas separate items; a label that holds a comma must be JSON-quoted.
    Raises ValueError when any item is malformed, so a bad header changes nothing.
    """
    items: list[tuple[str, object]] = []
    rest = value.strip()
    while rest:
        if len(items) == MAX_HEADER_ITEMS:
            raise ValueError(f"more than {MAX_HEADER_ITEMS} labels in one header")
        request_id, sep, rest = rest.partition("=")
        request_id = request_id.strip()
        if not sep or REQUEST_ID_RE.fullmatch(request_id) is None:
            raise ValueError("expected <request-id>=<label>")
        label, rest = _take_label(rest.lstrip())
        items.append((request_id, label))
        rest = rest.strip()
        if rest:
            if not rest.startswith(","):
                raise ValueError("labels must be separated by commas")
            rest = rest[1:].strip()
            if not rest:
                raise ValueError("trailing comma")
    return items


def _take_label(text: str) -> tuple[object, str]:
    if text.startswith('"'):
        try:
            quoted, end = json.JSONDecoder().raw_decode(text)
        except json.JSONDecodeError as exc:
            raise ValueError("unterminated quoted label") from exc
        return _checked(quoted), text[end:]
    raw, sep, rest = text.partition(",")
    raw = raw.strip()
    if not raw:
        raise ValueError("empty label")
    try:
        label: object = json.loads(raw)
    except json.JSONDecodeError:
        label = raw  # bare words are string labels
    return _checked(label), sep + rest


def _checked(label: object) -> object:
    if not valid_label_value(label) or (isinstance(label, str) and not 0 < len(label) <= MAX_LABEL_CHARS):
        raise ValueError("label must be a non-empty string, a finite number or a boolean")
    return label
