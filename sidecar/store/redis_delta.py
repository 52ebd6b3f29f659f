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

    def absorb(self, profile: Profile, members: dict[FeatureKey, set[str]]) -> None:
        for key, sketch in profile.numeric.items():
            old = self.numeric.get(key)
            if old is not None and not old.compatible(sketch):
                old = old.rebinned(sketch.centre, sketch.scale)
            self.numeric[key] = sketch if old is None else old.merge(sketch)
        for key, cat in profile.categorical.items():
            prev = self.categorical.get(key)
            self.categorical[key] = cat if prev is None or not prev.compatible(cat) else prev.merge(cat)
        for key, values in members.items():
            kept = self.members.setdefault(key, set())
            kept.update(list(values)[: max(DISTINCT_PER_FLUSH - len(kept), 0)])
        if profile.n:
            self.rows += profile.n
            self.start, self.end = min(self.start, profile.start), max(self.end, profile.end)
        theirs = profile.moments
        if theirs is not None and theirs.n:
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
