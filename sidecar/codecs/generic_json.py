"""Generic JSON codec: any JSON body as flattened dotted-path leaves (pure).

A top-level list of objects is a batch (one row per object); anything else is one row.  Paths
join keys with ``.`` and list positions with ``[i]``; depth and width are capped by ``Limits``.
Responses: a scalar is ``prediction``; a list of scalars is one ``prediction`` per request row when
the lengths match, else ``prediction[k]``; objects are flattened by path.
"""

from __future__ import annotations

from typing import Any

from sidecar.codecs.base import Payload
from sidecar.codecs.leaves import Row, build, flatten, is_scalar, prediction_row
from sidecar.codecs.limits import Limits
from sidecar.models import Decoded


class GenericJsonCodec:
    name = "generic_json"

    def sniff(self, request: Any) -> bool:
        return True

    def decode(self, payload: Payload) -> Decoded:
        limits = payload.limits
        inputs = _rows(payload.request, limits)
        outputs: list[Row] = []
        response = payload.response
        if isinstance(response, list) and response and all(is_scalar(v) for v in response[:64]):
            if len(response) == len(inputs) > 1:
                outputs = [{"prediction": v} for v in response[: limits.max_rows]]
            else:
                outputs = [prediction_row(response, limits)]
        elif response is not None and is_scalar(response):
            outputs = [{"prediction": response}]
        elif response is not None:
            outputs = _rows(response, limits)
        return build(
            self.name,
            inputs,
            outputs,
            limits,
            request_json=payload.request,
            response_json=response,
        )


def _rows(value: Any, limits: Limits) -> list[Row]:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value[: limits.max_rows]):
        rows = []
        for item in value[: limits.max_rows]:
            row: Row = {}
            flatten(item, "", row, limits)
            rows.append(row)
        return rows
    row = {}
    if is_scalar(value):
        row["value"] = value
    else:
        flatten(value, "", row, limits)
    return [row]
