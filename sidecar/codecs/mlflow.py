"""MLflow scoring server (``/invocations``) codec (pure).

Requests: ``dataframe_split`` (``columns`` + ``data``), ``dataframe_records`` (list of dicts),
``instances`` and ``inputs`` (as TF Serving); ``params`` is ignored.  Responses: MLflow 2
``{"predictions": ...}`` (list of scalars, vectors or records, or a dict of columns) or the MLflow 1
bare list.
"""

from __future__ import annotations

from typing import Any

from sidecar.codecs.base import Payload
from sidecar.codecs.kserve_v1 import request_rows
from sidecar.codecs.leaves import build
from sidecar.codecs.limits import SkipReason
from sidecar.codecs.tabular import dataframe_split_rows, instance_rows, prediction_rows
from sidecar.models import Decoded

_REQUEST_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class MlflowCodec:
    name = "mlflow"

    def sniff(self, request: Any) -> bool:
        # instances/inputs are shared with TF Serving: the registry tries kserve_v1 first unless the
        # path is /invocations, so the body shape alone claims only the dataframe keys for MLflow.
        return isinstance(request, dict) and any(k in request for k in _REQUEST_KEYS)

    def decode(self, payload: Payload) -> Decoded:
        request = payload.request
        rows = None
        if isinstance(request, dict):
            if "dataframe_split" in request:
                rows = dataframe_split_rows(request["dataframe_split"], payload.limits)
            elif "dataframe_records" in request:
                rows = instance_rows(request["dataframe_records"], payload.limits)
            else:
                rows = request_rows(request, payload.limits)
        if rows is None:
            return Decoded(dialect=self.name, skipped=SkipReason.WRONG_SHAPE.value)
        outputs = prediction_rows(payload.response, payload.limits) if payload.response is not None else []
        return build(
            self.name,
            rows,
            outputs,
            payload.limits,
            request_json=request,
            response_json=payload.response,
        )
