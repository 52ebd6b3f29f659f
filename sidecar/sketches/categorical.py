"""Categorical sketch: exact counts over a bounded tracked set plus ``__other__`` (pure, mergeable).

Bounding rule (memory stays O(top_k) whatever the input):

* the tracked set holds at most ``4 * top_k`` categories (``capacity``), plus the reference vocabulary
  when one is set (those are always tracked);
* ``update`` tracks categories first come, first served until the capacity is reached; later new
  categories are counted in ``other``;
* ``merge`` unions the counts; when the union exceeds the capacity it keeps the vocabulary and then the
  most frequent categories (ties by name, so the result is deterministic) and spills the rest into
  ``other``.  Totals are always conserved; per-category counts are exact while under the capacity.

``unseen`` counts values outside the reference vocabulary (0 while no vocabulary is set).  Distinct
values are estimated by a HyperLogLog; a store that counts distinct values itself (Redis ``PFCOUNT``)
sets ``distinct_estimate`` instead.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from .hll import HyperLogLog

_MAGIC = b"CS"
_VERSION = 1
_HEAD = struct.Struct("<2sBIQQQdI")


class CategoricalSketch:
    OTHER = "__other__"

    __slots__ = ("_hll", "counts", "distinct_estimate", "missing", "other", "top_k", "unseen", "vocabulary")

    def __init__(self, top_k: int = 50, vocabulary: frozenset[str] | None = None) -> None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k!r}")
        self.top_k = top_k
        self.vocabulary = vocabulary
        self.counts: dict[str, int] = {}
        self.other = 0
        self.unseen = 0
        self.missing = 0
        self.distinct_estimate: float | None = None
        self._hll = HyperLogLog()

    @property
    def capacity(self) -> int:
        return 4 * self.top_k

    @property
    def count(self) -> int:
        """Non-missing observations."""
        return sum(self.counts.values()) + self.other

    @property
    def total(self) -> int:
        return self.count + self.missing

    def update(self, values: Iterable[str | None]) -> None:
        counts, vocab, cap = self.counts, self.vocabulary, self.capacity
        present: set[str] = set()
        for value in values:
            if value is None:
                self.missing += 1
                continue
            if value == self.OTHER:
                value = self.OTHER + "_"  # a literal "__other__" label must not mix with the spill bucket
            present.add(value)
            if vocab is not None and value not in vocab:
                self.unseen += 1
            n = counts.get(value)
            if n is not None:
                counts[value] = n + 1
            elif len(counts) < cap or (vocab is not None and value in vocab):
                counts[value] = 1
            else:
                self.other += 1
        self._hll.add(present)  # HLL add is idempotent: hashing each distinct value once is enough

    def add_counts(self, counts: dict[str, int], *, other: int = 0, unseen: int = 0, missing: int = 0) -> None:
        """Add pre-counted categories (vectorised callers); follows the same bounding rule."""
        merged = dict(self.counts)
        for value, n in counts.items():
            merged[value] = merged.get(value, 0) + n
        self.counts, spilled = self._bounded(merged)
        self.other += other + spilled
        self.unseen += unseen
        self.missing += missing
        self._hll.add(counts)

    def _bounded(self, counts: dict[str, int]) -> tuple[dict[str, int], int]:
        if len(counts) <= self.capacity:
            return counts, 0
        vocab = self.vocabulary or frozenset()
        keep = {k: n for k, n in counts.items() if k in vocab}
        rest = sorted((k for k in counts if k not in vocab), key=lambda k: (-counts[k], k))
        room = max(self.capacity - len(keep), 0)
        keep.update((k, counts[k]) for k in rest[:room])
        return keep, sum(counts[k] for k in rest[room:])

    def compatible(self, other: CategoricalSketch) -> bool:
        return self.top_k == other.top_k and self.vocabulary == other.vocabulary

    def merge(self, other: CategoricalSketch) -> CategoricalSketch:
        """A new sketch holding both; raises ValueError when top_k or vocabulary differ."""
        if not self.compatible(other):
            raise ValueError("cannot merge categorical sketches with different top_k or vocabulary")
        out = CategoricalSketch(self.top_k, self.vocabulary)
        merged = dict(self.counts)
        for value, n in other.counts.items():
            merged[value] = merged.get(value, 0) + n
        out.counts, spilled = self._bounded(merged)
        out.other = self.other + other.other + spilled
        out.unseen = self.unseen + other.unseen
        out.missing = self.missing + other.missing
        out._hll = self._hll.merge(other._hll)
        if self.distinct_estimate is not None or other.distinct_estimate is not None:
            # Externally counted (Redis PFCOUNT): the union is at least the larger side.
            out.distinct_estimate = max(self.distinct(), other.distinct())
        return out

    def frequencies(self) -> dict[str, int]:
        """Tracked counts, plus ``OTHER`` when anything spilled."""
        out = dict(self.counts)
        if self.other:
            out[self.OTHER] = self.other
        return out

    def top(self, k: int | None = None) -> list[str]:
        """The k most frequent tracked categories (default top_k), ties by name."""
        return sorted(self.counts, key=lambda c: (-self.counts[c], c))[: k or self.top_k]

    def distinct(self) -> float:
        if self.distinct_estimate is not None:
            return self.distinct_estimate
        return 0.0 if self._hll.is_empty() else self._hll.estimate()

    def with_vocabulary(self, vocabulary: frozenset[str] | None) -> CategoricalSketch:
        """An empty sketch with the same top_k, frozen against ``vocabulary``."""
        return CategoricalSketch(self.top_k, vocabulary)

    # ------------------------------------------------------------------ serialization

    def to_bytes(self) -> bytes:
        names = sorted(self.counts)
        vocab = b"" if self.vocabulary is None else b"\x01" + _strings(sorted(self.vocabulary))
        cats = _strings(names)
        nums = struct.pack(f"<{len(names)}Q", *(self.counts[n] for n in names))
        distinct = -1.0 if self.distinct_estimate is None else self.distinct_estimate
        head = _HEAD.pack(_MAGIC, _VERSION, self.top_k, self.other, self.unseen, self.missing, distinct, len(names))
        parts = [head, self._hll.to_bytes(), _framed(vocab), _framed(cats), nums]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> CategoricalSketch:
        """Inverse of ``to_bytes``; raises ValueError on anything else."""
        try:
            magic, version, top_k, other, unseen, missing, distinct, n = _HEAD.unpack_from(data)
            if magic != _MAGIC or version != _VERSION:
                raise ValueError(f"categorical sketch: unknown format {magic!r} v{version}")
            pos = _HEAD.size
            hll = HyperLogLog.from_bytes(data[pos : pos + len(HyperLogLog().to_bytes())])
            pos += len(hll.to_bytes())
            vocab_raw, pos = _unframe(data, pos)
            cats_raw, pos = _unframe(data, pos)
            values = struct.unpack_from(f"<{n}Q", data, pos)
            if pos + 8 * n != len(data):
                raise ValueError("categorical sketch: trailing bytes")
        except struct.error as exc:
            raise ValueError(f"categorical sketch: truncated ({exc})") from exc
        names = _unstrings(cats_raw)
        if len(names) != n:
            raise ValueError("categorical sketch: category count mismatch")
        vocab = frozenset(_unstrings(vocab_raw[1:])) if vocab_raw else None
        out = cls(top_k, vocab)
        out.counts = dict(zip(names, values, strict=True))
        out.other, out.unseen, out.missing = other, unseen, missing
        out.distinct_estimate = None if distinct < 0 else distinct
        out._hll = hll
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CategoricalSketch):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CategoricalSketch(count={self.count}, tracked={len(self.counts)}, other={self.other})"


def _strings(items: Iterable[str]) -> bytes:
    return b"".join(_framed(s.encode("utf-8", "surrogatepass")) for s in items)


def _unstrings(blob: bytes) -> list[str]:
    out, pos = [], 0
    while pos < len(blob):
        raw, pos = _unframe(blob, pos)
        out.append(raw.decode("utf-8", "surrogatepass"))
    return out


def _framed(blob: bytes) -> bytes:
    return struct.pack("<I", len(blob)) + blob


def _unframe(data: bytes, pos: int) -> tuple[bytes, int]:
    (size,) = struct.unpack_from("<I", data, pos)
    pos += 4
    if pos + size > len(data):
        raise ValueError("categorical sketch: truncated")
    return data[pos : pos + size], pos + size
