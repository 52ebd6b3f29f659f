"""A replica's not yet flushed additions to one time bucket of one model (store layer, pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..sketches.categorical import CategoricalSketch
from ..sketches.numeric import NumericSketch
from ..sketches.profile import FeatureKey, Profile

DISTINCT_PER_FLUSH = 1024  # distinct categorical values sent to PFADD per feature and flush


@dataclass(slots=True)
class Delta:
    """What one replica still has to add to one time bucket of one model."""

    numeric: dict[FeatureKey, NumericSketch] = field(default_factory=dict)
    categorical: dict[FeatureKey, CategoricalSketch] = field(default_factory=dict)
    members: dict[FeatureKey, set[str]] = field(default_factory=dict)
    rows: int = 0
    start: float = math.inf
    end: float = -math.inf
    moments: Any = None  # Moments | None

    @classmethod
    def of(cls, profile: Profile, members: dict[FeatureKey, set[str]]) -> Delta:
        """The delta a builder's ``take()`` produced (plus its distinct values for PFADD)."""
        out = cls(dict(profile.numeric), dict(profile.categorical), {}, profile.n)
        if profile.n:
            out.start, out.end = profile.start, profile.end
        if profile.moments is not None and profile.moments.n:
            out.moments = profile.moments
        for key, values in members.items():
            out.members[key] = set(list(values)[:DISTINCT_PER_FLUSH])
        return out

    def merge_from(self, other: Delta) -> None:
        """Add ``other`` into this delta (order does not matter: everything is additive)."""
        for key, sketch in other.numeric.items():
            old = self.numeric.get(key)
            if old is not None and not old.compatible(sketch):
                old = old.rebinned(sketch.centre, sketch.scale)  # the scale moved on: keep the newer one
            self.numeric[key] = sketch if old is None else old.merge(sketch)
        for key, cat in other.categorical.items():
            prev = self.categorical.get(key)
            if prev is not None and not prev.compatible(cat):
                prev = _revocabulary(prev, cat.vocabulary)  # a new reference brought a new vocabulary
            self.categorical[key] = cat if prev is None else prev.merge(cat)
        for key, values in other.members.items():
            kept = self.members.setdefault(key, set())
            kept.update(list(values)[: max(DISTINCT_PER_FLUSH - len(kept), 0)])
        if other.rows:
            self.rows += other.rows
            self.start, self.end = min(self.start, other.start), max(self.end, other.end)
        theirs = other.moments
        if theirs is not None:
            mine = self.moments
            same = mine is not None and mine.names == theirs.names
            self.moments = mine.merge(theirs.reshifted(mine.shift)) if same else theirs

    def empty(self) -> bool:
        return not (self.numeric or self.categorical or self.rows or self.moments is not None)

    def size(self) -> int:
        size = sum(16 * len(s.bins) + 120 for s in self.numeric.values())
        size += sum(sum(len(c) + 24 for c in s.counts) + 64 for s in self.categorical.values())
        size += sum(sum(len(v) + 8 for v in vs) for vs in self.members.values())
        if self.moments is not None:
            size += 8 * self.moments.dim * (self.moments.dim + 1)
        return size + 64


def _revocabulary(sketch: CategoricalSketch, vocabulary: frozenset[str] | None) -> CategoricalSketch:
    out = CategoricalSketch(sketch.top_k, vocabulary)
    unseen = 0 if vocabulary is None else sketch.other + sum(n for c, n in sketch.counts.items() if c not in vocabulary)
    out.add_counts(dict(sketch.counts), other=sketch.other, unseen=unseen, missing=sketch.missing)
    return out
