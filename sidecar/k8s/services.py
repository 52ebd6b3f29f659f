"""Routing a Service through the sidecar and back (k8s layer; pure).

A Service that selects injected pods has each port that reaches the model pointed at the sidecar's
proxy port; the original ``targetPort``s are kept in an annotation so ``uninject`` restores them
exactly (an absent ``targetPort`` is recorded as ``null`` and removed again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from ..errors import ManifestError
from .container import PREFIX, PROXY_PORT

ORIGINAL_TARGET_PORTS: Final = PREFIX + "original-target-ports"


@dataclass(slots=True)
class RouteTarget:
    """An injected workload as a Service sees it: where its pods live and which port is the model's."""

    ref: str
    namespace: str
    labels: dict[str, Any]
    port: int
    port_names: frozenset[str]
    routed: bool = False


def namespace_of(doc: dict[str, Any]) -> str:
    return str((doc.get("metadata") or {}).get("namespace") or "")


def route_service(service: dict[str, Any], workloads: list[RouteTarget], ref: str) -> bool:
    """Point the Service's ports that reach the model at the sidecar; True when it changed."""
    spec = service.get("spec") or {}
    selector = spec.get("selector")
    annotations = (service.get("metadata") or {}).get("annotations") or {}
    if not isinstance(selector, dict) or not selector:
        return False
    originals: dict[str, Any] = {}
    for workload in workloads:
        if workload.namespace != namespace_of(service) or any(workload.labels.get(k) != v for k, v in selector.items()):
            continue
        if ORIGINAL_TARGET_PORTS in annotations:  # routed by an earlier run
            workload.routed = True
            continue
        for index, port in enumerate(spec.get("ports") or []):
            if not isinstance(port, dict):
                raise ManifestError(f"{ref}: spec.ports entries must be mappings")
            target = port.get("targetPort", port.get("port"))
            if target == workload.port or (isinstance(target, str) and target in workload.port_names):
                originals[str(index)] = port.get("targetPort")
                port["targetPort"] = PROXY_PORT  # numeric: named ports of native sidecars resolve only from 1.32
                workload.routed = True
    if not originals:
        return False
    metadata = service.setdefault("metadata", {})
    metadata.setdefault("annotations", {})[ORIGINAL_TARGET_PORTS] = json.dumps(originals, sort_keys=True)
    return True


def unroute_service(service: dict[str, Any], ref: str) -> bool:
    metadata = service.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    if ORIGINAL_TARGET_PORTS not in annotations:
        return False
    try:
        originals = json.loads(annotations[ORIGINAL_TARGET_PORTS])
        ports = service["spec"]["ports"]
        for index, original in originals.items():
            if original is None:
                ports[int(index)].pop("targetPort", None)
            else:
                ports[int(index)]["targetPort"] = original
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ManifestError(
            f"{ref}: annotation {ORIGINAL_TARGET_PORTS} is damaged; restore targetPort by hand"
        ) from exc
    del annotations[ORIGINAL_TARGET_PORTS]
    if not annotations:
        del metadata["annotations"]
    return True


def patch_note(workload: RouteTarget) -> str:
    namespace = f" -n {workload.namespace}" if workload.namespace else ""
    patch = json.dumps([{"op": "replace", "path": "/spec/ports/0/targetPort", "value": PROXY_PORT}])
    return (
        f"{workload.ref}: no Service in the input selects it; route traffic through the sidecar by pointing the "
        f"Service port that targets {workload.port} at {PROXY_PORT} (adjust the port index):\n"
        f"  kubectl patch service SERVICE{namespace} --type=json -p '{patch}'"
    )
