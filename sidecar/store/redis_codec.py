"""Sketch deltas ⇄ Redis hash fields for the Redis sketch store (store layer, pure).

A bucket hash holds additive counters, so replicas add into it with ``HINCRBY``/``HINCRBYFLOAT`` in
any order and the totals are exact.  Numeric: ``k:<key>`` bucket counts, ``count``, ``missing``,
``nan``, ``pinf``, ``ninf``, ``invalid``, shifted sums ``s1``/``s2``, ``min``/``max``.
Categorical: ``c:<category>`` counts (bounded per bucket by the Lua script), ``o`` other, ``u``
unseen, ``missing``.  Rows and moments: ``rows``, ``n``, ``s:<i>``, ``x:<i>:<j>`` (i <= j),
``t0``/``t1`` (first/last record time).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..sketches.categorical import CategoricalSketch
from ..sketches.moments import Moments
from ..sketches.numeric import NumericSketch

Hash = Mapping[bytes, bytes]
_NUMERIC_COUNTS = ("count", "missing", "nan", "pinf", "ninf", "invalid")


@dataclass(slots=True)
class Fields:
    """One feature's delta, grouped the way the apply script consumes it."""

    ints: list[tuple[str, int]] = field(default_factory=list)
    floats: list[tuple[str, float]] = field(default_factory=list)
    mins: list[tuple[str, float]] = field(default_factory=list)
    maxs: list[tuple[str, float]] = field(default_factory=list)
    cats: list[tuple[bytes, int]] = field(default_factory=list)
    members: list[bytes] = field(default_factory=list)
    bins: dict[int, int] = field(default_factory=dict)  # numeric bucket key → count, sent packed

    def args(self, token: str, ttl: int, state_ttl: int, cap: int) -> list[str | bytes | int]:
        out: list[str | bytes | int] = [token, ttl, state_ttl, cap]
        out += [len(self.ints), len(self.floats), len(self.mins), len(self.maxs), len(self.cats)]
        out.append(",".join(f"{k}:{n}" for k, n in self.bins.items() if n))
        for pairs in (self.ints, self.floats, self.mins, self.maxs, self.cats):
            for name, value in pairs:
                out += [name, repr(value) if isinstance(value, float) else value]
        out += self.members
        return out


def numeric_fields(sketch: NumericSketch) -> Fields:
    out = Fields()
    out.bins = sketch.bins
    counts = (sketch.count, sketch.missing, sketch.nan, sketch.pos_inf, sketch.neg_inf, sketch.invalid)
    out.ints = [(name, n) for name, n in zip(_NUMERIC_COUNTS, counts, strict=True) if n]
    if sketch.count:
        s1, s2 = sketch.shifted_sums()
        out.floats = [("s1", s1), ("s2", s2)]
        out.mins = [("min", sketch.min)]
        out.maxs = [("max", sketch.max)]
    return out


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # JSON may carry lone surrogates: keep them, bytes-exact


def categorical_fields(sketch: CategoricalSketch, members: Iterable[str] = ()) -> Fields:
    out = Fields()
    out.cats = [(b"c:" + _utf8(c), n) for c, n in sketch.counts.items() if n]
    out.ints = [(name, n) for name, n in (("o", sketch.other), ("u", sketch.unseen), ("missing", sketch.missing)) if n]
    out.members = [_utf8(m) for m in members]
    return out


def moments_fields(rows: int, start: float, end: float, moments: Moments | None) -> Fields:
    out = Fields()
    out.ints = [("rows", rows)]
    if rows:
        out.mins = [("t0", start)]
        out.maxs = [("t1", end)]
    if moments is not None and moments.n:
        out.ints.append(("n", moments.n))
        out.floats = [(f"s:{i}", float(v)) for i, v in enumerate(moments.sum)]
        d = moments.dim
        out.floats += [(f"x:{i}:{j}", float(moments.sxx[i, j])) for i in range(d) for j in range(i, d)]
    return out


def resp_size(args: Sequence[object]) -> int:
    """Bytes of one command in the Redis protocol: what a flush costs on the wire (health/bench)."""
    size = len(f"*{len(args)}\r\n")
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode("utf-8", "surrogatepass")
        size += len(f"${len(raw)}\r\n") + len(raw) + 2
    return size


# ---------------------------------------------------------------------- decoding


def _int(h: Hash, name: str) -> int:
    raw = h.get(name.encode())
    return int(raw) if raw is not None else 0


def _float(h: Hash, name: str, default: float = 0.0) -> float:
    raw = h.get(name.encode())
    return float(raw) if raw is not None else default


def decode_numeric(scale: tuple[float, float, float], hashes: Sequence[Hash]) -> NumericSketch | None:
    """The sum of bucket hashes as one sketch (None when they hold nothing)."""
    bins: dict[int, int] = {}
    counts = [0] * len(_NUMERIC_COUNTS)
    s1 = s2 = 0.0
    lo, hi = math.inf, -math.inf
    for h in hashes:
        for raw, value in h.items():
            if raw.startswith(b"k:"):
                key = int(raw[2:])
                bins[key] = bins.get(key, 0) + int(value)
        for i, name in enumerate(_NUMERIC_COUNTS):
            counts[i] += _int(h, name)
        s1 += _float(h, "s1")
        s2 += _float(h, "s2")
        lo = min(lo, _float(h, "min", math.inf))
        hi = max(hi, _float(h, "max", -math.inf))
    if not any(counts):
        return None
    sketch = NumericSketch.from_parts(*scale, bins, counts)
    sketch.set_moments(s1, s2, lo, hi)
    return sketch


def decode_categorical(
    top_k: int, vocabulary: frozenset[str] | None, hashes: Sequence[Hash], distinct: float | None
) -> CategoricalSketch | None:
    sketch = CategoricalSketch(top_k, vocabulary)
    counts: dict[str, int] = {}
    for h in hashes:
        for raw, value in h.items():
            if raw.startswith(b"c:"):
                name = raw[2:].decode("utf-8", "surrogatepass")
                counts[name] = counts.get(name, 0) + int(value)
        sketch.other += _int(h, "o")
        sketch.unseen += _int(h, "u")
        sketch.missing += _int(h, "missing")
    other, unseen, missing = sketch.other, sketch.unseen, sketch.missing
    if not (counts or other or missing):
        return None
    sketch.other = 0
    sketch.add_counts(counts)  # applies the same bound as a merge would
    sketch.other += other
    sketch.unseen, sketch.missing = unseen, missing
    sketch.distinct_estimate = distinct
    return sketch


@dataclass(frozen=True, slots=True)
class Rows:
    n: int
    start: float
    end: float
    moments: Moments | None


def decode_moments(basis: tuple[tuple[str, ...], list[float]] | None, hashes: Sequence[Hash]) -> Rows:
    rows = sum(_int(h, "rows") for h in hashes)
    start = min((_float(h, "t0", math.inf) for h in hashes), default=math.inf)
    end = max((_float(h, "t1", -math.inf) for h in hashes), default=-math.inf)
    moments = None
    if basis is not None:
        moments = Moments(*basis)
        d = moments.dim
        for h in hashes:
            moments.n += _int(h, "n")
            moments.sum += np.array([_float(h, f"s:{i}") for i in range(d)], dtype=np.float64).reshape(d)
            for i in range(d):
                for j in range(i, d):
                    v = _float(h, f"x:{i}:{j}")
                    moments.sxx[i, j] += v
                    if i != j:
                        moments.sxx[j, i] += v
    if not rows:
        return Rows(0, 0.0, 0.0, moments)
    return Rows(rows, start, end, moments)
