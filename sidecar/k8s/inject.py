"""Add the sidecar to workload manifests and take it out again (k8s layer; pure: dicts in, dicts out).

``inject`` is idempotent because it first takes out any earlier injection and then adds the current
one, so ``inject(inject(x)) == inject(x)`` and an older injection is upgraded in place.  ``uninject``
reverses it exactly, Services included: the original ``targetPort``s are kept in an annotation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..errors import ManifestError
from .container import (
    ADMIN_PORT,
    CONTAINER_NAME,
    DEFAULT_IMAGE,
    INJECTED,
    KNOWN_ANNOTATIONS,
    PREFIX,
    PROXY_PORT,
    SERVICE_NAME_ANNOTATION,
    TMP_VOLUME,
    Workload,
    annotation,
    build_container,
    tmp_volume,
)
from .manifests import APPS_KINDS, JOB_KINDS, UNSUPPORTED_KINDS, pod_template, walk, workload_identity
from .services import ORIGINAL_TARGET_PORTS, RouteTarget, namespace_of, patch_note, route_service, unroute_service

__all__ = ["ORIGINAL_TARGET_PORTS", "InjectOptions", "InjectResult", "inject", "uninject"]


@dataclass(frozen=True, slots=True)
class InjectOptions:
    image: str = DEFAULT_IMAGE
    classic: bool = False  # sidecar as the first regular container (clusters before 1.29)
    include_jobs: bool = False


@dataclass(frozen=True, slots=True)
class InjectResult:
    docs: list[dict[str, Any]]
    notes: tuple[str, ...] = ()  # for stderr: skipped workloads, Service patches to apply by hand
    changed: tuple[str, ...] = field(default=())  # "Kind/name" of every object that changed


def _ref(doc: dict[str, Any]) -> str:
    metadata = doc.get("metadata") or {}
    return f"{doc['kind']}/{metadata.get('name') or metadata.get('generateName') or '?'}"


def _annotations_of(doc: dict[str, Any], template: dict[str, Any]) -> dict[str, str]:
    # Pod-template annotations win over the workload's own (they are what a webhook would see).
    merged = dict((doc.get("metadata") or {}).get("annotations") or {}) if doc is not template else {}
    merged.update((template.get("metadata") or {}).get("annotations") or {})
    return {str(k): str(v) for k, v in merged.items()}


def _pick_model(spec: dict[str, Any], annotations: dict[str, str], ref: str) -> tuple[int, frozenset[str]]:
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict) and c.get("name") != CONTAINER_NAME]
    if not containers:
        raise ManifestError(f"{ref} has no containers")
    wanted = annotation(annotations, "container")
    model = containers[0] if not wanted else next((c for c in containers if c.get("name") == wanted), None)
    if model is None:
        raise ManifestError(f"{ref}: annotation {PREFIX}container names {wanted!r}, which is not a container here")
    ports = [p for p in model.get("ports") or [] if isinstance(p, dict) and p.get("protocol", "TCP") == "TCP"]
    override = annotation(annotations, "model-port")
    if override:
        named = next((p for p in ports if p.get("name") == override), None)
        if named is not None:
            port = named.get("containerPort")
        elif override.isdigit() and 0 < int(override) < 65536:
            port = int(override)
        else:
            raise ManifestError(
                f"{ref}: annotation {PREFIX}model-port must be a port number or a port name of the model container, got {override!r}"
            )
    elif ports:
        port = ports[0].get("containerPort")
    else:
        raise ManifestError(
            f"{ref}: container {model.get('name')!r} declares no TCP port; set annotation {PREFIX}model-port"
        )
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ManifestError(f"{ref}: model port {port!r} is not a port number")
    for container in containers + [c for c in spec.get("initContainers") or [] if isinstance(c, dict)]:
        for declared in container.get("ports") or []:
            if (
                isinstance(declared, dict)
                and declared.get("containerPort") in (PROXY_PORT, ADMIN_PORT)
                and container.get("name") != CONTAINER_NAME
            ):
                raise ManifestError(
                    f"{ref}: container {container.get('name')!r} already uses port {declared['containerPort']}, which the sidecar needs"
                )
    names = frozenset(str(p["name"]) for p in ports if p.get("name") and p.get("containerPort") == port)
    return port, names


def _remove(template: dict[str, Any]) -> bool:
    """Take our container, volume and marker out of a pod template; True when anything was there."""
    spec, metadata = template["spec"], template.get("metadata") or {}
    found = False
    for key in ("initContainers", "containers", "volumes"):
        items = spec.get(key)
        if not isinstance(items, list):
            continue
        ours = CONTAINER_NAME if key != "volumes" else TMP_VOLUME
        kept = [item for item in items if not (isinstance(item, dict) and item.get("name") == ours)]
        if len(kept) != len(items):
            found = True
            if kept or key == "containers":
                spec[key] = kept
            else:
                del spec[key]  # we created it
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict) and INJECTED in annotations:
        found = True
        del annotations[INJECTED]
        if not annotations:
            del metadata["annotations"]
        if not metadata:  # a Job template often has no metadata until we add the marker
            del template["metadata"]
    return found


def _add(doc: dict[str, Any], template: dict[str, Any], ref: str, options: InjectOptions) -> RouteTarget:
    spec = template["spec"]
    if spec.get("hostNetwork"):
        raise ManifestError(f"{ref} uses hostNetwork; the sidecar's ports would collide on the node")
    annotations = _annotations_of(doc, template)
    port, names = _pick_model(spec, annotations, ref)
    service_name, attributes = workload_identity(doc)
    workload = Workload(
        ref=ref,
        annotations=annotations,
        upstream_port=port,
        service_name=annotations.get(SERVICE_NAME_ANNOTATION) or service_name,
        workload_attributes=attributes,
        image=options.image,
        classic=options.classic,
    )
    container = build_container(workload)
    if options.classic:
        spec["containers"] = [container, *spec["containers"]]
    else:
        spec["initContainers"] = [container, *(spec.get("initContainers") or [])]
    spec["volumes"] = [*(spec.get("volumes") or []), tmp_volume()]
    metadata = template.setdefault("metadata", {})
    metadata.setdefault("annotations", {})[INJECTED] = __version__
    labels = dict(metadata.get("labels") or {})
    return RouteTarget(ref, namespace_of(doc), labels, port, names)


def inject(docs: list[dict[str, Any]], options: InjectOptions | None = None) -> InjectResult:
    """Return copies of ``docs`` with the sidecar added to every eligible workload (input untouched)."""
    options = options or InjectOptions()
    out = copy.deepcopy(docs)
    notes: list[str] = []
    changed: list[str] = []
    injected: list[RouteTarget] = []
    services: list[tuple[dict[str, Any], str]] = []
    for doc, _where in walk(out):
        kind, ref = doc["kind"], _ref(doc)
        if kind == "Service":
            services.append((doc, ref))
            continue
        if kind in UNSUPPORTED_KINDS:
            raise ManifestError(
                f"{ref}: kind {kind} is not supported (use a Deployment, StatefulSet, DaemonSet, ReplicaSet or Pod)"
            )
        if kind not in APPS_KINDS | JOB_KINDS and kind != "Pod":
            continue
        if kind in JOB_KINDS and not options.include_jobs:
            notes.append(f"{ref}: left alone (Jobs and CronJobs need --include-jobs)")
            continue
        if kind in JOB_KINDS and options.classic:
            raise ManifestError(f"{ref}: a classic sidecar never exits and would keep the Job running; drop --classic")
        template = pod_template(doc, ref)
        annotations = _annotations_of(doc, template)
        unknown = sorted(k for k in annotations if k.startswith(PREFIX) and k not in KNOWN_ANNOTATIONS)
        if unknown:  # most likely a typo (sample_rate for sample-rate); say so instead of ignoring it quietly
            notes.append(f"{ref}: unknown annotation(s) ignored: {', '.join(unknown)}")
        wanted = annotation(annotations, "inject")
        if wanted not in (None, "true", "false"):
            raise ManifestError(f'{ref}: annotation {PREFIX}inject must be "true" or "false", got {wanted!r}')
        if wanted == "false":
            notes.append(f'{ref}: left alone (annotation {PREFIX}inject: "false")')
            continue
        before = copy.deepcopy(template)
        _remove(template)
        injected.append(_add(doc, template, ref, options))
        if template != before:
            changed.append(ref)
    for service, ref in services:
        if route_service(service, injected, ref):
            changed.append(ref)
    notes.extend(patch_note(w) for w in injected if not w.routed)
    return InjectResult(out, tuple(notes), tuple(changed))


def uninject(docs: list[dict[str, Any]]) -> InjectResult:
    """Return copies of ``docs`` with every trace of ``inject`` removed."""
    out = copy.deepcopy(docs)
    changed: list[str] = []
    for doc, _where in walk(out):
        kind, ref = doc["kind"], _ref(doc)
        if kind == "Service":
            if unroute_service(doc, ref):
                changed.append(ref)
        elif (kind in APPS_KINDS | JOB_KINDS or kind == "Pod") and _remove(pod_template(doc, ref)):
            changed.append(ref)
    return InjectResult(out, (), tuple(changed))
