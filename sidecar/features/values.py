"""Leaf → feature value conversions: numbers, privacy-safe category labels, text statistics (pure).

Category labels leave the pod (sketches, Redis, admin API), so a string is kept verbatim only when
it is category-like: at most 32 printable characters, no ``@``, no ``://``, no run of 4+ digits,
and — when a PII counter is given — no PII entity found in it.  Any other string becomes a stable
bucket label ``#h:<4 hex>`` (16 bits of BLAKE2b with a fixed personalisation): the same value maps
to the same label in every process and replica, so vocabularies still merge and drift still
shows, while 65,536 buckets leave far too many preimages to recover an email or a card number.

Text statistics (values of text fields, never the text): ``length`` (characters), ``tokens``
(words and punctuation marks, ``\\w+|[^\\w\\s]``), ``non_ascii_share`` and ``digit_share`` (of all
characters), ``upper_share`` (of letters), and ``pii.<ENTITY>`` counts from the PII counter.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping

from sidecar.models import FeatureKind, FeatureValue, RawValue

PiiCounter = Callable[[str], Mapping[str, int]]

_MAX_CATEGORY_LEN = 32
_DIGIT_RUN = re.compile(r"\d{4}")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_ENTITY = re.compile(r"[A-Z][A-Z0-9_]{0,39}")
_PERSON = b"sidecar-cat-v1"  # personalisation: labels are versioned with this rule


def number(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # JSON integers can exceed float range
        return math.inf if value > 0 else -math.inf


def category_label(value: str, pii_counter: PiiCounter | None) -> str:
    if _category_like(value) and (pii_counter is None or not any(pii_counter(value).values())):
        return value
    return hashed_label(value)


def hashed_label(value: str) -> str:
    digest = hashlib.blake2b(value.encode("utf-8", "replace"), digest_size=2, person=_PERSON).hexdigest()
    return "#h:" + digest


def _category_like(value: str) -> bool:
    return (
        len(value) <= _MAX_CATEGORY_LEN
        and value.isprintable()
        and "@" not in value
        and "://" not in value
        and _DIGIT_RUN.search(value) is None
    )


def text_stats(text: str, pii_counter: PiiCounter | None) -> list[tuple[str, FeatureValue]]:
    """(suffix, value) pairs in a fixed order; suffixes are appended to the field name."""
    n = len(text)
    letters = sum(map(str.isalpha, text))
    stats: list[tuple[str, FeatureValue]] = [
        ("length", float(n)),
        ("tokens", float(sum(1 for _ in _TOKEN.finditer(text)))),
        ("non_ascii_share", (n - len(text.encode("ascii", "ignore"))) / n if n else 0.0),
        ("digit_share", sum(map(str.isdigit, text)) / n if n else 0.0),
        ("upper_share", sum(map(str.isupper, text)) / letters if letters else 0.0),
    ]
    if pii_counter is not None:
        counts = pii_counter(text)
        for entity in sorted(counts):
            if _ENTITY.fullmatch(entity):  # entity types become feature names: keep them bounded
                stats.append((f"pii.{entity}", float(counts[entity])))
    return stats


def leaf_value(value: RawValue, pii_counter: PiiCounter | None) -> tuple[FeatureValue, FeatureKind | None]:
    """(feature value, kind) of a non-text leaf; kind is None for a missing value."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return ("true" if value else "false"), "categorical"
    if isinstance(value, int | float):
        return number(value), "numeric"
    return category_label(value, pii_counter), "categorical"
