"""Shared leaf handling for codecs: bounded flattening, safe feature names, the text rule (pure).

Naming: dict keys join with ``.``, list positions as ``[i]`` (generic JSON); tensors and vectors
flatten row-major to ``name[k]``; positional columns are ``f0…fn``.

Feature names leave the pod (sketches, drift API), and payload keys can be anything a client
sends, so a key is used verbatim only when it looks like a column name: at most
``Limits.max_key_len`` printable characters, no ``@``, no ``://`` and no run of 7+ digits (phone
numbers, card numbers, ids).  Any other key becomes ``#k:<6 hex>`` (stable BLAKE2b digest).

The text rule (which string leaves are free text): a leaf is text when its dialect says so
(OpenAI message content, prompts, embedding inputs, Seldon ``strData``) or when it has more than
40 characters and contains whitespace, or has at least 4 whitespace-separated words.  A field is
text when any of its values in the payload is.  Text fields yield derived numeric features only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

from sidecar.codecs.limits import Limits
from sidecar.models import Decoded, LlmUsage, RawValue

Row = dict[str, RawValue]

_LONG_DIGITS = re.compile(r"\d{7}")
# Model names come from paths and the OpenAI ``model`` field and end up in keys and attributes.
_MODEL_NAME = re.compile(r"@?[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")
_TEXT_MIN_LEN = 40
_TEXT_MIN_WORDS = 4


def safe_key(key: str, limits: Limits) -> str:
    if (
        0 < len(key) <= limits.max_key_len
        and key.isprintable()
        and "@" not in key
        and "://" not in key
        and _LONG_DIGITS.search(key) is None
    ):
        return key
    return "#k:" + hashlib.blake2b(key.encode("utf-8", "replace"), digest_size=3).hexdigest()


def clean_model_name(value: Any) -> str | None:
    """``value`` when it is a plausible model identifier (bounded, no spaces, no '@' inside)."""
    if isinstance(value, str) and _MODEL_NAME.fullmatch(value):
        return value
    return None


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty one (payload fields can hold anything)."""
    return value if isinstance(value, list) else []


_SCALAR_TYPES = (str, int, float)  # bool is an int
_CONTAINER_TYPES = (list, dict)


def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, _SCALAR_TYPES)


def looks_like_text(value: str) -> bool:
    if len(value) > _TEXT_MIN_LEN and any(c.isspace() for c in value):
        return True
    return len(value.split(None, _TEXT_MIN_WORDS)) >= _TEXT_MIN_WORDS


def clip(value: RawValue, limits: Limits) -> RawValue:
    if isinstance(value, str) and len(value) > limits.max_text_len:
        return value[: limits.max_text_len]
    return value


def tensor_leaves(value: Any, limits: Limits, cap: int) -> list[RawValue]:
    """Row-major scalar leaves of a (nested) list, at most ``cap`` of them, depth-capped."""
    if isinstance(value, list):
        head = value[:cap]
        if not any(isinstance(item, _CONTAINER_TYPES) for item in head):  # flat vector: the common case
            return [item for item in head if item is None or isinstance(item, _SCALAR_TYPES)]
    out: list[RawValue] = []
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack and len(out) < cap:
        item, depth = stack.pop()
        if isinstance(item, list):
            if depth < limits.max_depth:
                stack.extend((child, depth + 1) for child in reversed(item[: cap - len(out)]))
        elif is_scalar(item):
            out.append(item)
    return out


def flatten(value: Any, prefix: str, out: Row, limits: Limits, depth: int = 0) -> None:
    """Flatten ``value`` into ``out`` as dotted paths until the row holds ``max_leaves`` leaves."""
    stack: list[tuple[str, Any, int]] = [(prefix, value, depth)]
    while stack and len(out) < limits.max_leaves:
        path, item, level = stack.pop()
        if isinstance(item, dict):
            b64 = item.get("b64") if len(item) == 1 else None
            if isinstance(b64, str):  # TF Serving binary input: keep only its size
                out[_join(path, "b64_bytes")] = len(b64) * 3 // 4
            elif level < limits.max_depth:
                pairs = islice(item.items(), limits.max_leaves)
                stack.extend(reversed([(_join(path, safe_key(str(k), limits)), v, level + 1) for k, v in pairs]))
        elif isinstance(item, list):
            if level < limits.max_depth:
                children = [(f"{path}[{i}]", v, level + 1) for i, v in enumerate(item[: limits.max_leaves])]
                stack.extend(reversed(children))
        elif is_scalar(item) and path:
            out[path] = item


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def put_value(row: Row, name: str, value: Any, limits: Limits) -> None:
    """Put one named value into a row: scalar as ``name``, list as ``name[k]``, dict flattened."""
    if len(row) >= limits.max_leaves:
        return
    if isinstance(value, list):
        for k, leaf in enumerate(tensor_leaves(value, limits, limits.max_leaves - len(row))):
            row[f"{name}[{k}]"] = leaf
    elif isinstance(value, dict):
        flatten(value, name, row, limits, depth=1)
    elif is_scalar(value):
        row[name] = value


def positional_row(value: Any, limits: Limits, base: str = "f") -> Row:
    """A row without names: ``f0…fn`` over its row-major leaves (a scalar is ``f0``)."""
    row: Row = {}
    for k, leaf in enumerate(tensor_leaves(value, limits, limits.max_leaves)):
        row[f"{base}{k}"] = leaf
    return row


def prediction_row(value: Any, limits: Limits) -> Row:
    """One response row: scalar → ``prediction``, vector → ``prediction[k]``, dict → by name.

    A one-element vector (``[[0.7], [0.2]]`` from a sigmoid head) is the scalar ``prediction``.
    """
    row: Row = {}
    if isinstance(value, list) and len(value) == 1 and is_scalar(value[0]):
        value = value[0]
    if isinstance(value, dict):
        for key, item in islice(value.items(), limits.max_leaves):
            put_value(row, safe_key(str(key), limits), item, limits)
    else:
        put_value(row, "prediction", value, limits)
    return row


def build(
    dialect: str,
    inputs: Iterable[Row],
    outputs: Iterable[Row],
    limits: Limits,
    *,
    request_json: Any,
    response_json: Any,
    text: Iterable[str] = (),
    model: str | None = None,
    llm: LlmUsage | None = None,
) -> Decoded:
    """Apply the row/width/length caps and the text rule, and assemble the ``Decoded``."""
    text_fields = set(text)
    in_rows = _bounded(inputs, limits, text_fields)
    out_rows = _bounded(outputs, limits, text_fields)
    present = {name for row in (*in_rows, *out_rows) for name in row}
    return Decoded(
        dialect=dialect,
        model=model,
        inputs=in_rows,
        outputs=out_rows,
        text_fields=frozenset(text_fields & present),
        request_json=request_json,
        response_json=response_json,
        llm=llm,
    )


def _bounded(rows: Iterable[Row], limits: Limits, text_fields: set[str]) -> tuple[Row, ...]:
    kept: list[Row] = []
    for row in rows:
        if len(kept) >= limits.max_rows:
            break
        kept.append(_clip_row(row, limits, text_fields))
    return tuple(kept)


def _clip_row(row: Mapping[str, RawValue], limits: Limits, text_fields: set[str]) -> Row:
    out: Row = {}
    for name, value in islice(row.items(), limits.max_leaves):
        if isinstance(value, str):
            if name not in text_fields and looks_like_text(value):
                text_fields.add(name)
            if len(value) > limits.max_text_len:
                value = value[: limits.max_text_len]
        out[name] = value
    return out
