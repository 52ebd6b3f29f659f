"""Reading and writing multi-document Kubernetes YAML, and finding pod templates in it (k8s layer; pure)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import yaml

from ..errors import ManifestError

APPS_KINDS: Final = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})
JOB_KINDS: Final = frozenset({"Job", "CronJob"})
# Pod-bearing kinds we refuse rather than silently pass through: the user asked to inject them.
UNSUPPORTED_KINDS: Final = frozenset({"ReplicationController", "PodTemplate", "DeploymentConfig"})
_WORKLOAD_ATTRIBUTE: Final = {
    "Deployment": "k8s.deployment.name",
    "StatefulSet": "k8s.statefulset.name",
    "DaemonSet": "k8s.daemonset.name",
    "ReplicaSet": "k8s.replicaset.name",
    "Job": "k8s.job.name",
    "CronJob": "k8s.cronjob.name",
}


def load_documents(text: str) -> list[dict[str, Any]]:
    """Parse multi-document YAML; empty documents are dropped, anything but a mapping is an error."""
    try:
        raw = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError(f"invalid YAML{where}: {problem}") from exc
    docs: list[dict[str, Any]] = []
    for index, doc in enumerate(raw):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ManifestError(f"document {index + 1} is a {type(doc).__name__}, not a Kubernetes object")
        docs.append(doc)
    return docs


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings (scripts, configs) as literal ``|`` blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not any(c in value for c in "\t\r") and not value.endswith(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_documents(docs: list[dict[str, Any]]) -> str:
    """YAML for kubectl: documents in input order, keys in input order."""
    return yaml.dump_all(
        docs, Dumper=_Dumper, sort_keys=False, default_flow_style=False, explicit_start=True, allow_unicode=True
    )


def check_object(doc: Any, where: str) -> tuple[str, str]:
    """(kind, name) of a well-formed object; ManifestError naming the document otherwise."""
    if not isinstance(doc, dict):
        raise ManifestError(f"{where} is not a mapping")
    kind, api_version = doc.get("kind"), doc.get("apiVersion")
    if not isinstance(kind, str) or not kind or not isinstance(api_version, str) or not api_version:
        raise ManifestError(f"{where} has no kind/apiVersion: is this a Kubernetes manifest?")
    metadata = doc.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ManifestError(f"{where} ({kind}): metadata must be a mapping")
    metadata = metadata or {}
    name = metadata.get("name") or metadata.get("generateName") or ""
    return kind, str(name)


def walk(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], str]]:
    """Every object, with ``kind: List`` items visited in place (so the List survives on output)."""
    for index, doc in enumerate(docs):
        where = f"document {index + 1}"
        kind, _ = check_object(doc, where)
        if kind == "List" or (kind.endswith("List") and "items" in doc):
            items = doc.get("items")
            if not isinstance(items, list):
                raise ManifestError(f"{where} ({kind}): items must be a list")
            for item_index, item in enumerate(items):
                item_where = f"{where} item {item_index + 1}"
                check_object(item, item_where)
                yield item, item_where
        else:
            yield doc, where


def pod_template(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    """The object holding ``metadata`` + ``spec`` of the pods (the Pod itself for kind Pod)."""
    kind = doc["kind"]
    if kind == "Pod":
        node: Any = doc
    elif kind == "CronJob":
        node = ((doc.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
        node = node.get("template")
    else:
        node = (doc.get("spec") or {}).get("template")
    if not isinstance(node, dict) or not isinstance(node.get("spec"), dict):
        raise ManifestError(f"{ref} has no pod template spec")
    if not isinstance(node.get("metadata") or {}, dict):
        raise ManifestError(f"{ref}: pod template metadata must be a mapping")
    return node


def workload_identity(doc: dict[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(service name, OTel workload attributes) the way the OTel Operator derives them."""
    kind = doc["kind"]
    metadata = doc.get("metadata") or {}
    name = str(metadata.get("name") or "")
    if kind in _WORKLOAD_ATTRIBUTE:
        return name or kind.lower(), ((_WORKLOAD_ATTRIBUTE[kind], name),) if name else ()
    # A Pod (the webhook's case): name the controller that owns it.  A ReplicaSet made by a Deployment
    # is called <deployment>-<pod-template-hash>, so the Deployment's name needs no API lookup.
    owners = [o for o in metadata.get("ownerReferences") or [] if isinstance(o, dict)]
    owner = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    if owner is not None and owner.get("kind") in _WORKLOAD_ATTRIBUTE and owner.get("name"):
        owner_kind, owner_name = str(owner["kind"]), str(owner["name"])
        template_hash = str((metadata.get("labels") or {}).get("pod-template-hash") or "")
        if owner_kind == "ReplicaSet" and template_hash and owner_name.endswith("-" + template_hash):
            deployment = owner_name[: -len(template_hash) - 1]
            return deployment, (("k8s.deployment.name", deployment), ("k8s.replicaset.name", owner_name))
        return owner_name, ((_WORKLOAD_ATTRIBUTE[owner_kind], owner_name),)
    fallback = name or str(metadata.get("generateName") or "").rstrip("-.") or "pod"
    return fallback, ()
