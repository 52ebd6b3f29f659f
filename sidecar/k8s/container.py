"""The injected sidecar container, built from a pod template's annotations (k8s layer; pure).

Every value an annotation supplies is checked here, once, by the same parsers ``sidecar run`` uses
(``load_settings`` over the env we are about to write), so a typo fails at inject time with the
workload and annotation named instead of as a crash-looping pod.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .. import __version__
from ..config import load_settings
from ..errors import ConfigError, ManifestError

PREFIX: Final = "model-sidecar.io/"
CONTAINER_NAME: Final = "model-sidecar"
TMP_VOLUME: Final = "model-sidecar-tmp"
INJECTED: Final = PREFIX + "injected"
PROXY_PORT: Final = 15080
ADMIN_PORT: Final = 15090
DEFAULT_IMAGE: Final = f"ghcr.io/model-sidecar/model-sidecar:{__version__}"
SERVICE_NAME_ANNOTATION: Final = "resource.opentelemetry.io/service.name"  # as the OTel Operator reads it

KNOWN_ANNOTATIONS: Final = frozenset(
    PREFIX + name
    for name in (
        "inject", "injected", "model-port", "container", "model", "sample-rate", "store", "redaction-profile",
        "redaction-hash-secret", "excluded-paths", "admin-token-secret", "cpu-request", "memory-request",
        "cpu-limit", "memory-limit", "image", "otlp-endpoint", "otlp-protocol",
    )
)  # fmt: skip

# redaction-profile → SIDECAR_REDACTION_NER: "strict" insists on NER (names, places), "regex" never loads it.
_PROFILES: Final = {"auto": "auto", "strict": "on", "regex": "off"}
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_RESOURCES: Final = (("requests", "cpu", "cpu-request", "50m"), ("requests", "memory", "memory-request", "96Mi"),
                     ("limits", "cpu", "cpu-limit", "500m"), ("limits", "memory", "memory-limit", "256Mi"))  # fmt: skip
# Polls the admin listener from a postStart hook: kubelet starts the next container only after it returns.
_WAIT_READY: Final = (
    "import time, urllib.request\n"
    "for _ in range(240):\n"
    "    try:\n"
    f"        urllib.request.urlopen('http://127.0.0.1:{ADMIN_PORT}/healthz', timeout=1).close()\n"
    "        break\n"
    "    except OSError:\n"
    "        time.sleep(0.25)\n"
    "else:\n"
    "    raise SystemExit('model-sidecar did not become healthy')\n"
)


@dataclass(frozen=True, slots=True)
class Workload:
    """What the container needs to know about the pod it joins (names for OTel, annotations, mode)."""

    ref: str  # "Deployment/name", for messages
    annotations: Mapping[str, str]
    upstream_port: int
    service_name: str
    workload_attributes: tuple[tuple[str, str], ...]  # e.g. (("k8s.deployment.name", "iris"),)
    image: str
    classic: bool


def annotation(annotations: Mapping[str, Any], name: str) -> str | None:
    value = annotations.get(PREFIX + name)
    return None if value is None else str(value).strip()


def _secret_ref(ref: str, raw: str, default_key: str) -> dict[str, Any]:
    name, _, key = raw.partition("/")
    if not name or "/" in key:
        raise ManifestError(f"{ref}: annotation {PREFIX}… must be SECRET or SECRET/KEY, got {raw!r}")
    return {"secretKeyRef": {"name": name, "key": key or default_key}}


def _settings_env(workload: Workload) -> list[dict[str, Any]]:
    ann = workload.annotations
    env: dict[str, str] = {
        "SIDECAR_UPSTREAM": f"http://127.0.0.1:{workload.upstream_port}",
        "SIDECAR_LISTEN": f"0.0.0.0:{PROXY_PORT}",
        "SIDECAR_ADMIN_LISTEN": f"0.0.0.0:{ADMIN_PORT}",
    }
    for name, variable in (("model", "SIDECAR_MODEL"), ("sample-rate", "SIDECAR_SAMPLE_RATE"),
                           ("store", "SIDECAR_STORE"), ("excluded-paths", "SIDECAR_EXCLUDED_PATHS")):  # fmt: skip
        value = annotation(ann, name)
        if value:
            try:  # the parser `sidecar run` will apply to this variable
                load_settings(env={variable: value})
            except ConfigError as exc:
                reason = str(exc).partition(": ")[2]
                raise ManifestError(f"{workload.ref}: annotation {PREFIX}{name} ({variable}): {reason}") from exc
            env[variable] = value
    for name, variable in (
        ("otlp-endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ("otlp-protocol", "OTEL_EXPORTER_OTLP_PROTOCOL"),
    ):
        value = annotation(ann, name)
        if value:
            env[variable] = value
    protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol and protocol not in ("grpc", "http/protobuf", "http/json"):
        raise ManifestError(
            f"{workload.ref}: annotation {PREFIX}otlp-protocol must be grpc, http/protobuf or http/json, got {protocol!r}"
        )
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise ManifestError(
            f"{workload.ref}: annotation {PREFIX}otlp-endpoint must be an http(s):// URL, got {endpoint!r}"
        )
    profile = annotation(ann, "redaction-profile")
    if profile:
        if profile not in _PROFILES:
            raise ManifestError(
                f"{workload.ref}: annotation {PREFIX}redaction-profile must be one of {', '.join(_PROFILES)}, got {profile!r}"
            )
        env["SIDECAR_REDACTION_NER"] = _PROFILES[profile]
    hash_secret = annotation(ann, "redaction-hash-secret")
    if hash_secret:
        env["SIDECAR_REDACTION_MODE"] = "hash"
    try:  # the whole set once more; the secret is a placeholder for the check only
        load_settings(env={**env, **({"SIDECAR_REDACTION_HASH_SECRET": "x"} if hash_secret else {})})
    except ConfigError as exc:
        raise ManifestError(f"{workload.ref}: sidecar settings rejected: {exc}") from exc
    items: list[dict[str, Any]] = [{"name": key, "value": value} for key, value in env.items()]
    if hash_secret:
        items.append(
            {"name": "SIDECAR_REDACTION_HASH_SECRET", "valueFrom": _secret_ref(workload.ref, hash_secret, "secret")}
        )
    token = annotation(ann, "admin-token-secret")
    if token:
        items.append({"name": "SIDECAR_ADMIN_TOKEN", "valueFrom": _secret_ref(workload.ref, token, "token")})
    return items


def _otel_env(workload: Workload) -> list[dict[str, Any]]:
    # Same variable names and attribute layout as the OpenTelemetry Operator's injector: downward-API
    # values first, OTEL_RESOURCE_ATTRIBUTES last so its $(VAR) references expand.  The namespace also
    # comes from the downward API because a static manifest often names none.
    fields = (("OTEL_RESOURCE_ATTRIBUTES_POD_NAME", "metadata.name"), ("OTEL_RESOURCE_ATTRIBUTES_POD_UID", "metadata.uid"),
              ("OTEL_RESOURCE_ATTRIBUTES_POD_NAMESPACE", "metadata.namespace"), ("OTEL_RESOURCE_ATTRIBUTES_NODE_NAME", "spec.nodeName"))  # fmt: skip
    items: list[dict[str, Any]] = [
        {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}} for name, path in fields
    ]
    attributes = {
        "k8s.container.name": CONTAINER_NAME,
        "k8s.namespace.name": "$(OTEL_RESOURCE_ATTRIBUTES_POD_NAMESPACE)",
        "k8s.node.name": "$(OTEL_RESOURCE_ATTRIBUTES_NODE_NAME)",
        "k8s.pod.name": "$(OTEL_RESOURCE_ATTRIBUTES_POD_NAME)",
        "k8s.pod.uid": "$(OTEL_RESOURCE_ATTRIBUTES_POD_UID)",
        **dict(workload.workload_attributes),
    }
    joined = ",".join(f"{key}={value}" for key, value in sorted(attributes.items()))
    items.append({"name": "OTEL_SERVICE_NAME", "value": workload.service_name})
    items.append({"name": "OTEL_RESOURCE_ATTRIBUTES", "value": joined})
    return items


def _resources(workload: Workload) -> dict[str, dict[str, str]]:
    resources: dict[str, dict[str, str]] = {"requests": {}, "limits": {}}
    for section, resource, name, default in _RESOURCES:
        value = annotation(workload.annotations, name) or default
        if not _QUANTITY.match(value):
            raise ManifestError(f"{workload.ref}: annotation {PREFIX}{name} is not a Kubernetes quantity: {value!r}")
        resources[section][resource] = value
    return resources


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": ADMIN_PORT},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 1,
    }


def build_container(workload: Workload) -> dict[str, Any]:
    """The sidecar container spec (native: for initContainers; classic: for the front of containers)."""
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": annotation(workload.annotations, "image") or workload.image,
        "imagePullPolicy": "IfNotPresent",
    }
    if not workload.classic:
        container["restartPolicy"] = "Always"  # a native sidecar: an init container that keeps running
    container |= {
        "args": ["run"],
        "env": _settings_env(workload) + _otel_env(workload),
        "ports": [
            {"name": "sidecar-http", "containerPort": PROXY_PORT, "protocol": "TCP"},
            {"name": "sidecar-admin", "containerPort": ADMIN_PORT, "protocol": "TCP"},
        ],
        # Startup waits for the sidecar itself only: with a native sidecar the model starts after this
        # passes, so waiting for the model (/readyz) here would deadlock the pod.
        "startupProbe": _probe("/healthz", 1, 120),
        "readinessProbe": _probe("/readyz", 5, 3),
        "livenessProbe": _probe("/healthz", 10, 3),
        "resources": _resources(workload),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],
    }
    if workload.classic:
        container["lifecycle"] = {
            "postStart": {"exec": {"command": ["python", "-c", _WAIT_READY]}},
            # keep proxying while endpoints drop the pod; the sidecar's own quiet period follows
            "preStop": {"exec": {"command": ["sleep", "5"]}},
        }
    return container


def tmp_volume() -> dict[str, Any]:
    return {"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "64Mi"}}
