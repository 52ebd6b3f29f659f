"""Decoded rows → ``FeatureRecord`` per batch row, free of raw text (pure).

Each record holds, in this order (which is also the order the ``max_features`` cap keeps):
LLM usage on the first record (``usage.input_tokens``, ``usage.output_tokens``,
``time_to_first_token_s`` for streams only; unknown values are None), probability-vector summaries (``<base>.class``, ``<base>.confidence``),
output leaves, then input leaves — leaves in natural name order (``f2`` before ``f10``), so the
same features survive the cap whatever order a client sends keys in.  Features past the cap are
counted in ``FeatureRecord.dropped_features``.

A row of outputs ``<base>[0…k-1]`` (k ≥ 2) whose values are all in [0, 1] and sum to 1 (± 0.01)
is a probability vector: ``<base>.confidence`` is the top-1 probability and ``<base>.class`` the
argmax index (categorical).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache

from sidecar.features.values import PiiCounter, leaf_value, text_stats
from sidecar.models import Decoded, FeatureKind, FeatureRecord, FeatureValue, RawValue, Role

_VECTOR_ELEMENT = re.compile(r"(?P<base>.+)\[(?P<k>\d+)\]")
_DIGITS = re.compile(r"(\d+)")
_PROB_TOLERANCE = 0.01
_MEMO_LIMIT = 4096

Feature = tuple[Role, str, FeatureValue, FeatureKind | None]


def extract(
    decoded: Decoded,
    *,
    model: str,
    request_id: str,
    time: float,
    pii_counter: PiiCounter | None = None,
    max_features: int = 256,
) -> tuple[FeatureRecord, ...]:
    """One record per row (``max(len(inputs), len(outputs))``); none when the payload was skipped."""
    if decoded.skipped is not None:
        return ()
    n_rows = max(len(decoded.inputs), len(decoded.outputs))
    pii_counter = _memoized(pii_counter) if pii_counter is not None else None
    records: list[FeatureRecord] = []
    for i in range(n_rows):
        in_row = decoded.inputs[i] if i < len(decoded.inputs) else {}
        out_row = decoded.outputs[i] if i < len(decoded.outputs) else {}
        features = _row_features(decoded, in_row, out_row, first=i == 0, pii_counter=pii_counter)
        inputs: dict[str, FeatureValue] = {}
        outputs: dict[str, FeatureValue] = {}
        kinds: dict[str, FeatureKind] = {}
        dropped = 0
        for role, name, value, kind in features:
            target = outputs if role == "output" else inputs
            if name in target:
                continue
            if len(inputs) + len(outputs) >= max_features:
                dropped += 1
                continue
            target[name] = value
            if kind is not None:
                kinds[name] = kind
        records.append(
            FeatureRecord(
                model=model,
                request_id=request_id,
                time=time,
                inputs=inputs,
                outputs=outputs,
                kinds=kinds,
                dropped_features=dropped,
            )
        )
    return tuple(records)


def _row_features(
    decoded: Decoded,
    in_row: Mapping[str, RawValue],
    out_row: Mapping[str, RawValue],
    *,
    first: bool,
    pii_counter: PiiCounter | None,
) -> Iterator[Feature]:
    if first and decoded.llm is not None:
        llm = decoded.llm
        yield "output", "usage.input_tokens", _maybe_float(llm.input_tokens), "numeric"
        yield "output", "usage.output_tokens", _maybe_float(llm.output_tokens), "numeric"
        if llm.streamed:
            yield "output", "time_to_first_token_s", _maybe_float(llm.time_to_first_token_s), "numeric"
    yield from _probability_summaries(out_row)
    yield from _leaves("output", out_row, decoded.text_fields, pii_counter)
    yield from _leaves("input", in_row, decoded.text_fields, pii_counter)


def _leaves(
    role: Role, row: Mapping[str, RawValue], text_fields: frozenset[str], pii_counter: PiiCounter | None
) -> Iterator[Feature]:
    for name in sorted(row, key=_natural):
        value = row[name]
        if isinstance(value, str) and name in text_fields:
            for suffix, stat in text_stats(value, pii_counter):
                yield role, f"{name}.{suffix}", stat, "text"
            continue
        feature, kind = leaf_value(value, pii_counter)
        yield role, name, feature, kind


def _probability_summaries(row: Mapping[str, RawValue]) -> Iterator[Feature]:
    groups: dict[str, dict[int, RawValue]] = {}
    for name, value in row.items():
        match = _VECTOR_ELEMENT.fullmatch(name)
        if match is not None:
            groups.setdefault(match["base"], {})[int(match["k"])] = value
    for base in sorted(groups, key=_natural):
        probs = _probabilities(groups[base])
        if probs is not None:
            top = max(range(len(probs)), key=probs.__getitem__)
            yield "output", f"{base}.class", str(top), "categorical"
            yield "output", f"{base}.confidence", probs[top], "numeric"


def _probabilities(elements: dict[int, RawValue]) -> list[float] | None:
    if len(elements) < 2 or set(elements) != set(range(len(elements))):
        return None
    probs: list[float] = []
    for k in range(len(elements)):
        value = elements[k]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            return None
        probs.append(float(value))
    return probs if abs(math.fsum(probs) - 1.0) <= _PROB_TOLERANCE else None


def _memoized(counter: PiiCounter) -> PiiCounter:
    """Batches repeat category values row after row; ask the (costly) PII counter once per value."""
    memo: dict[str, Mapping[str, int]] = {}

    def count(text: str) -> Mapping[str, int]:
        found = memo.get(text)
        if found is None:
            found = counter(text)
            if len(memo) < _MEMO_LIMIT:
                memo[text] = found
        return found

    return count


@lru_cache(maxsize=16_384)  # names repeat across requests; bounded, so memory stays bounded too
def _natural(name: str) -> tuple[tuple[int, int | str], ...]:
    # Tag each piece so digit runs compare as numbers and text as text, never int against str.
    return tuple((1, int(p)) if i % 2 else (0, p) for i, p in enumerate(_DIGITS.split(name)))


def _maybe_float(value: float | int | None) -> float | None:
    return None if value is None else float(value)
