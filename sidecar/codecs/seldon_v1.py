"""Seldon Core v1 (``/api/v1.0/predictions``) codec (pure).

Requests and responses: ``{"data": {"names": [...], "ndarray": [...]}}`` or ``{"data": {"names":
[...], "tensor": {"shape": [...], "values": [...]}}}`` (rows named by ``names``, else ``f0…fn``),
``{"strData": "..."}`` (one free-text field ``strData``), ``{"jsonData": {...}}`` (flattened
paths), ``{"binData": "<base64>"}`` (its size only, ``binData.bytes``).  ``meta`` is ignored.
Response rows are named ``prediction`` / ``prediction[k]`` (Seldon's ``names`` there are usually
``t:0…`` or class labels, which are values, not feature names).
"""

from __future__ import annotations

import math
from typing import Any

from sidecar.codecs.base import Payload
from sidecar.codecs.leaves import Row, build, flatten, is_scalar, prediction_row, safe_key, tensor_leaves
from sidecar.codecs.limits import Limits, SkipReason
from sidecar.models import Decoded

_DATA_KEYS = ("ndarray", "tensor", "names", "tftensor")
_BODY_KEYS = ("data", "strData", "jsonData", "binData")


class SeldonV1Codec:
    name = "seldon_v1"

    def sniff(self, request: Any) -> bool:
        if not isinstance(request, dict):
            return False
        data = request.get("data")
        if isinstance(data, dict) and any(k in data for k in _DATA_KEYS):
            return True
        return any(k in request for k in _BODY_KEYS[1:])

    def decode(self, payload: Payload) -> Decoded:
        limits = payload.limits
        parsed = _message_rows(payload.request, limits, names_as_features=True)
        if parsed is None:
            return Decoded(dialect=self.name, skipped=SkipReason.WRONG_SHAPE.value)
        inputs, text = parsed
        outputs: list[Row] = []
        out_text: set[str] = set()
        if payload.response is not None:
            parsed_out = _message_rows(payload.response, limits, names_as_features=False)
            if parsed_out is not None:
                outputs, out_text = parsed_out
        return build(
            self.name,
            inputs,
            outputs,
            limits,
            request_json=payload.request,
            response_json=payload.response,
            text=text | out_text,
        )


def _message_rows(message: Any, limits: Limits, *, names_as_features: bool) -> tuple[list[Row], set[str]] | None:
    if not isinstance(message, dict):
        return None
    if isinstance(message.get("strData"), str):
        # A request's strData is free text; a response's is often a label, so the text rule decides.
        if names_as_features:
            return [{"strData": message["strData"]}], {"strData"}
        return [{"prediction": message["strData"]}], set()
    if "jsonData" in message:
        row: Row = {}
        flatten(message["jsonData"], "" if names_as_features else "prediction", row, limits)
        return [row], set()
    if isinstance(message.get("binData"), str):
        return [{"binData.bytes": len(message["binData"]) * 3 // 4}], set()
    data = message.get("data")
    if not isinstance(data, dict):
        return None
    values = _batch(data, limits)
    if values is None:
        return None
    names = data.get("names") if names_as_features else None
    columns = [safe_key(str(n), limits) for n in names[: limits.max_leaves]] if isinstance(names, list) else []
    rows: list[Row] = []
    for item in values[: limits.max_rows]:
        row = {}
        if names_as_features:
            for k, leaf in enumerate(tensor_leaves(item, limits, limits.max_leaves)):
                row[columns[k] if k < len(columns) else f"f{k}"] = leaf
        else:
            row = prediction_row(item, limits)
        rows.append(row)
    return rows, set()


def _batch(data: dict[str, Any], limits: Limits) -> list[Any] | None:
    """The batch rows of a Seldon ``data`` object (``ndarray`` rows or a reshaped ``tensor``)."""
    if "ndarray" in data:
        ndarray = data["ndarray"]
        if isinstance(ndarray, list):
            return ndarray
        return [ndarray] if is_scalar(ndarray) else None
    tensor = data.get("tensor")
    if not isinstance(tensor, dict) or not isinstance(tensor.get("values"), list):
        return None
    values = tensor["values"]
    shape = tensor.get("shape")
    if not isinstance(shape, list) or len(shape) < 2 or not all(isinstance(d, int) and d > 0 for d in shape):
        return list(values[: limits.max_rows])
    per_row = math.prod(shape[1:])
    width = min(per_row, limits.max_leaves)
    return [values[i * per_row : i * per_row + width] for i in range(min(shape[0], limits.max_rows))]
