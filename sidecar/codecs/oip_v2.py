"""Open Inference Protocol v2 codec (Triton, MLServer, KServe v2) (pure).

Tensors are ``{"name", "shape", "datatype", "data"}`` with ``data`` flattened row-major or nested.
The first dimension of ``shape`` is the batch: shape ``[N, …]`` gives N rows, each holding the
tensor's remaining ``prod(shape[1:])`` elements as ``name[k]`` (row-major), or as plain ``name``
when a row holds one element; a scalar shape ``[]`` is one row.  Named tensors merge into the same
rows by batch index.  Datatypes: BOOL, UINT8…UINT64, INT8…INT64, FP16/BF16/FP32/FP64 (numbers),
BYTES (strings in JSON; base64-encoded binary elements are not text by the text rule and end up as
hashed category labels downstream).  Tensors sent with Triton's binary extension (``binary_data_size``, no
``data``) are skipped.  A response with a single output tensor names it ``prediction``.
"""

from __future__ import annotations

import math
from typing import Any

from sidecar.codecs.base import Payload
from sidecar.codecs.leaves import Row, build, is_scalar, safe_key, tensor_leaves
from sidecar.codecs.limits import Limits, SkipReason
from sidecar.models import Decoded, RawValue


class OpenInferenceV2Codec:
    name = "oip_v2"

    def sniff(self, request: Any) -> bool:
        if not isinstance(request, dict):
            return False
        inputs = request.get("inputs")
        return (
            isinstance(inputs, list)
            and bool(inputs)
            and all(isinstance(t, dict) and "name" in t and ("datatype" in t or "shape" in t) for t in inputs[:8])
        )

    def decode(self, payload: Payload) -> Decoded:
        request = payload.request
        if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
            return Decoded(dialect=self.name, skipped=SkipReason.WRONG_SHAPE.value)
        limits = payload.limits
        inputs = _merge(request["inputs"], limits, single_name=None)
        response = payload.response
        outputs: list[Row] = []
        model = None
        if isinstance(response, dict):
            tensors = response.get("outputs")
            if isinstance(tensors, list):
                outputs = _merge(tensors, limits, single_name="prediction" if len(tensors) == 1 else None)
            name = response.get("model_name")
            model = name if isinstance(name, str) else None
        return build(
            self.name,
            inputs,
            outputs,
            limits,
            request_json=request,
            response_json=response,
            model=model,
        )


def _merge(tensors: list[Any], limits: Limits, *, single_name: str | None) -> list[Row]:
    rows: list[Row] = []
    for index, tensor in enumerate(tensors[: limits.max_leaves]):
        if not isinstance(tensor, dict):
            continue
        raw_name = tensor.get("name")
        base = single_name or (safe_key(raw_name, limits) if isinstance(raw_name, str) else f"output{index}")
        for i, row_values in enumerate(_tensor_rows(tensor, limits)):
            if i == len(rows):
                rows.append({})
            row = rows[i]
            if len(row_values) == 1 and not _is_vector(tensor):
                if len(row) < limits.max_leaves:
                    row[base] = row_values[0]
                continue
            for k, value in enumerate(row_values):
                if len(row) >= limits.max_leaves:
                    break
                row[f"{base}[{k}]"] = value
    return rows


def _shape(tensor: dict[str, Any]) -> list[int] | None:
    shape = tensor.get("shape")
    if isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        return shape
    return None


def _is_vector(tensor: dict[str, Any]) -> bool:
    """A row is a vector when the shape says so (``[N, k]`` with k elements per row, k > 1)."""
    shape = _shape(tensor)
    if shape is not None:
        return len(shape) > 1 and math.prod(shape[1:]) > 1
    data = tensor.get("data")
    return isinstance(data, list) and bool(data) and isinstance(data[0], list)


def _tensor_rows(tensor: dict[str, Any], limits: Limits) -> list[list[RawValue]]:
    data = tensor.get("data")
    if data is None:  # binary extension or no data: nothing to read
        return []
    coerce = _coercer(str(tensor.get("datatype", "")).upper())
    if not isinstance(data, list):
        return [[coerce(data)]] if is_scalar(data) else []
    shape = _shape(tensor)
    if data and isinstance(data[0], list):  # nested: the outer list is the batch
        width = limits.max_leaves if shape is None or len(shape) < 2 else min(math.prod(shape[1:]), limits.max_leaves)
        return [[coerce(v) for v in tensor_leaves(item, limits, width)] for item in data[: limits.max_rows]]
    if shape is None or len(shape) == 0:
        batch, per_row = (1, len(data)) if shape is None else (1, 1)
    else:
        batch = shape[0]
        per_row = math.prod(shape[1:]) if len(shape) > 1 else 1
    if per_row == 0 or batch == 0:
        return []
    width = min(per_row, limits.max_leaves)
    rows: list[list[RawValue]] = []
    for i in range(min(batch, limits.max_rows)):
        start = i * per_row
        if start >= len(data):
            break
        rows.append([coerce(v) for v in data[start : start + width] if is_scalar(v)])
    return rows


def _coercer(datatype: str) -> Any:
    if datatype == "BOOL":
        return _to_bool
    return _identity


def _to_bool(value: RawValue) -> RawValue:
    # Some clients send BOOL tensors as 0/1.
    if isinstance(value, int | float) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return value


def _identity(value: RawValue) -> RawValue:
    return value
