"""Row builders shared by the tabular dialects (KServe v1 / TF Serving, MLflow) (pure).

Row format (``instances``, ``dataframe_records``): one batch element per list item; dict items are
named columns, anything else is positional ``f0…fn``.  Columnar format (TF ``inputs`` as a dict,
MLflow tensor dicts): ``{name: [row0, row1, …]}``, the first dimension of each list is the batch;
a non-list value is broadcast to every row.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from sidecar.codecs.leaves import Row, positional_row, prediction_row, put_value, safe_key
from sidecar.codecs.limits import Limits

_RESPONSE_KEYS = ("predictions", "outputs", "results")


def named_row(item: dict[str, Any], limits: Limits) -> Row:
    if len(item) == 1 and isinstance(item.get("b64"), str):  # TF Serving: the instance is binary
        return {"b64_bytes": len(item["b64"]) * 3 // 4}
    row: Row = {}
    for key, value in islice(item.items(), limits.max_leaves):
        put_value(row, safe_key(str(key), limits), value, limits)
    return row


def instance_rows(instances: Any, limits: Limits) -> list[Row] | None:
    """Row-format batch, or None when ``instances`` is not a list."""
    if not isinstance(instances, list):
        return None
    return [
        named_row(item, limits) if isinstance(item, dict) else positional_row(item, limits)
        for item in instances[: limits.max_rows]
    ]


def columnar_rows(columns: dict[str, Any], limits: Limits, *, named: bool = True) -> list[Row]:
    lengths = [len(v) for v in columns.values() if isinstance(v, list)]
    rows: list[Row] = [{} for _ in range(min(max(lengths, default=1), limits.max_rows))]
    for key, value in islice(columns.items(), limits.max_leaves):
        name = safe_key(str(key), limits)
        if isinstance(value, list):
            for row, item in zip(rows, value, strict=False):
                put_value(row, name, item, limits)
        else:
            for row in rows:
                put_value(row, name, value, limits)
    return rows


def tensor_rows(inputs: Any, limits: Limits) -> list[Row]:
    """TF Serving / MLflow ``inputs``: columnar dict, row list, or a single scalar."""
    if isinstance(inputs, dict):
        return columnar_rows(inputs, limits)
    if isinstance(inputs, list):
        return instance_rows(inputs, limits) or []
    return [positional_row(inputs, limits)]


def dataframe_split_rows(frame: Any, limits: Limits) -> list[Row] | None:
    """pandas ``orient="split"``: ``{"columns": [...], "data": [[...], ...]}`` (``index`` ignored)."""
    if not isinstance(frame, dict) or not isinstance(frame.get("data"), list):
        return None
    columns = frame.get("columns")
    names = [safe_key(str(c), limits) for c in columns[: limits.max_leaves]] if isinstance(columns, list) else []
    rows: list[Row] = []
    for values in frame["data"][: limits.max_rows]:
        if not isinstance(values, list):
            values = [values]
        row: Row = {}
        for k, value in enumerate(values[: limits.max_leaves]):
            put_value(row, names[k] if k < len(names) else f"f{k}", value, limits)
        rows.append(row)
    return rows


def prediction_rows(response: Any, limits: Limits) -> list[Row]:
    """Response rows from ``{"predictions"|"outputs"|"results": ...}`` or a bare list/scalar."""
    body = response
    if isinstance(response, dict):
        for key in _RESPONSE_KEYS:
            if key in response:
                body = response[key]
                break
        else:
            return [prediction_row(response, limits)]
    if isinstance(body, list):
        return [prediction_row(item, limits) for item in body[: limits.max_rows]]
    if isinstance(body, dict):
        return columnar_rows(body, limits)
    if body is None:
        return []
    return [prediction_row(body, limits)]
