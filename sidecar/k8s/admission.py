"""AdmissionReview v1 in, AdmissionReview v1 out: the webhook's decision, without the server (k8s layer; pure).

The webhook never blocks a pod: anything short of a malformed review is answered ``allowed: true``,
with a JSONPatch when the pod is injected and a warning when it could not be.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Collection
from typing import Any, Final

from ..errors import ManifestError
from .container import CONTAINER_NAME, INJECTED, PREFIX
from .inject import InjectOptions, inject
from .patch import diff

API_VERSION: Final = "admission.k8s.io/v1"
SELF_LABEL: Final = ("app.kubernetes.io/name", "model-sidecar-webhook")
OUTCOMES: Final = ("injected", "unchanged", "skipped", "opted_out", "ignored", "error", "malformed")


def _request(review: Any) -> dict[str, Any]:
    if not isinstance(review, dict):
        raise ManifestError("body is not a JSON object")
    if review.get("apiVersion") != API_VERSION or review.get("kind") != "AdmissionReview":
        raise ManifestError(f"expected apiVersion {API_VERSION}, kind AdmissionReview")
    request = review.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("uid"), str) or not request["uid"]:
        raise ManifestError("request.uid is missing")
    return request


def _response(uid: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": {"uid": uid, "allowed": True, **fields}}


def _opted_out(pod: dict[str, Any]) -> bool:
    metadata = pod.get("metadata") or {}
    flags = [
        (metadata.get("annotations") or {}).get(PREFIX + "inject"),
        (metadata.get("labels") or {}).get(PREFIX + "inject"),
    ]
    return any(str(flag).strip().lower() == "false" for flag in flags if flag is not None)


def _already_injected(pod: dict[str, Any]) -> bool:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    spec = pod.get("spec") or {}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    return INJECTED in annotations or any(isinstance(c, dict) and c.get("name") == CONTAINER_NAME for c in containers)


def admit(review: Any, options: InjectOptions, skip_namespaces: Collection[str]) -> tuple[dict[str, Any], str]:
    """(response review, outcome).  Raises ManifestError only for a malformed review (answer 400)."""
    request = _request(review)
    uid = request["uid"]
    kind = request.get("kind") or {}
    resource = request.get("resource") or {}
    if (
        request.get("operation") != "CREATE"
        or not isinstance(kind, dict)
        or kind.get("kind") != "Pod"
        or (isinstance(resource, dict) and resource.get("resource", "pods") != "pods")
        or request.get("subResource")
    ):
        return _response(uid), "ignored"
    pod = request.get("object")
    if not isinstance(pod, dict):
        raise ManifestError("request.object is not a Pod")
    namespace = request.get("namespace") or (pod.get("metadata") or {}).get("namespace") or ""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    if namespace in skip_namespaces or (isinstance(labels, dict) and labels.get(SELF_LABEL[0]) == SELF_LABEL[1]):
        return _response(uid), "skipped"
    if _opted_out(pod):
        return _response(uid), "opted_out"
    if _already_injected(pod):  # e.g. from a template `sidecar inject` wrote: its choices stand
        return _response(uid), "unchanged"
    try:
        injected = inject([pod], options).docs[0]
    except ManifestError as exc:
        return _response(uid, warnings=[f"model-sidecar not injected: {exc}"]), "error"
    ops = diff(pod, injected)
    if not ops:
        return _response(uid), "unchanged"
    patch = base64.b64encode(json.dumps(ops, separators=(",", ":")).encode()).decode("ascii")
    return _response(uid, patchType="JSONPatch", patch=patch), "injected"
