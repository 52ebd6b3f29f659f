"""KServe v1 / TF Serving REST codec: ``instances``, ``inputs`` (columnar), ``examples`` (pure).

Requests: ``{"instances": [...]}`` rows (lists → ``f0…fn``, dicts → named columns, TF ``{"b64":
...}`` → ``<name>.b64_bytes``), ``{"inputs": {...}}`` columnar or ``{"inputs": [...]}`` rows,
``{"examples": [...]}`` (TF classify/regress).  Responses: ``predictions``, ``outputs``, ``results``.
"""

from __future__ import annotations

from typing import Any

from sidecar.codecs.base import Payload
from sidecar.codecs.leaves import Row, build
from sidecar.codecs.limits import Limits, SkipReason
from sidecar.codecs.tabular import instance_rows, prediction_rows, tensor_rows
from sidecar.models import Decoded


class KServeV1Codec:
    name = "kserve_v1"

    def sniff(self, request: Any) -> bool:
        if not isinstance(request, dict):
            return False
        return isinstance(request.get("instances"), list) or "inputs" in request or "examples" in request

    def decode(self, payload: Payload) -> Decoded:
        rows = request_rows(payload.request, payload.limits)
        if rows is None:
            return Decoded(dialect=self.name, skipped=SkipReason.WRONG_SHAPE.value)
        outputs = prediction_rows(payload.response, payload.limits) if payload.response is not None else []
        return build(
            self.name,
            rows,
            outputs,
            payload.limits,
            request_json=payload.request,
            response_json=payload.response,
        )


def request_rows(request: Any, limits: Limits) -> list[Row] | None:
    """Rows of a KServe v1 / TF Serving request body, or None when it has none of their keys."""
    if not isinstance(request, dict):
        return None
    if "instances" in request:
        return instance_rows(request["instances"], limits)
    if "inputs" in request:
        return tensor_rows(request["inputs"], limits)
    if "examples" in request:
        return instance_rows(request["examples"], limits)
    return None
