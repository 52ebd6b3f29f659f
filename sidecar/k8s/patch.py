"""RFC 6902 JSON Patch between two JSON documents, minimal for insertions into lists (k8s layer; pure).

The webhook answers with the difference between a pod and its injected copy.  Lists are diffed by a
common prefix and suffix, so prepending the sidecar yields one ``add`` at index 0 rather than a
``replace`` of the whole container list (which could undo another webhook's change).
"""

from __future__ import annotations

from typing import Any


def escape(token: str) -> str:
    """One JSON Pointer reference token (RFC 6901: ``~`` → ``~0``, ``/`` → ``~1``, in that order)."""
    return token.replace("~", "~0").replace("/", "~1")


def diff(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """Operations that turn ``old`` into ``new`` when applied in order."""
    if _same(old, new):
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        return _diff_dict(old, new, path)
    if isinstance(old, list) and isinstance(new, list):
        return _diff_list(old, new, path)
    return [{"op": "replace", "path": path, "value": new}]


def _diff_dict(old: dict[str, Any], new: dict[str, Any], path: str) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for key in old:
        if key not in new:
            ops.append({"op": "remove", "path": f"{path}/{escape(key)}"})
    for key, value in new.items():
        if key in old:
            ops.extend(diff(old[key], value, f"{path}/{escape(key)}"))
        else:
            ops.append({"op": "add", "path": f"{path}/{escape(key)}", "value": value})
    return ops


def _same(a: Any, b: Any) -> bool:
    """JSON equality: unlike ``==``, ``1`` and ``true`` (or ``1.0``) differ."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _diff_list(old: list[Any], new: list[Any], path: str) -> list[dict[str, Any]]:
    shorter = min(len(old), len(new))
    prefix = 0
    while prefix < shorter and _same(old[prefix], new[prefix]):
        prefix += 1
    suffix = 0
    while suffix < shorter - prefix and _same(old[len(old) - 1 - suffix], new[len(new) - 1 - suffix]):
        suffix += 1
    if prefix + suffix == len(old):  # only insertions between prefix and suffix
        return [
            {"op": "add", "path": f"{path}/{prefix + i}", "value": new[prefix + i]} for i in range(len(new) - len(old))
        ]
    if prefix + suffix == len(new):  # only removals; the same index each time as the tail shifts left
        return [{"op": "remove", "path": f"{path}/{prefix}"} for _ in range(len(old) - len(new))]
    if len(old) == len(new):
        ops: list[dict[str, Any]] = []
        for index in range(prefix, len(old) - suffix):
            ops.extend(diff(old[index], new[index], f"{path}/{index}"))
        return ops
    return [{"op": "replace", "path": path, "value": new}]
