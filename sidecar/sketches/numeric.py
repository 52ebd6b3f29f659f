"""Numeric sketch: a signed log-bucket histogram over standardized values (pure, mergeable).

Values are standardized, ``z = (x - centre) / scale``, with a centre and scale frozen per feature, so a
feature living at 1000 ± 1 gets the same resolution as one at 0 ± 1.  ``z`` is bucketed DDSketch-style:
bucket ``j`` on the positive side covers ``(gamma**(j-1), gamma**j]``, mirrored on the negative side
(``(-gamma**j, -gamma**(j-1)]``), and ``(-z_min, z_min]`` is one zero bucket.  Every bucket is
left-open/right-closed, so the CDF is exact at every upper edge.  Keys are clamped to
``|z| <= z_max``; the true min/max are kept so the outermost edges stay honest.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_Z_MIN = 1e-4  # |z| below this (a 10⁻⁴ σ band around the centre) is one bucket: finer is noise
_Z_MAX = 1e8  # beyond 10⁸ σ the key is clamped; min/max still record the true extremes
_MAGIC = b"NS"
_VERSION = 1
_HEAD = struct.Struct("<2sB3d6Q4dI")


def decide_scale(values: Sequence[float] | FloatArray) -> tuple[float, float]:
    """Centre (median) and a robust, never-zero scale: IQR/1.349, else std, else (values all equal so
    far) |centre|·1e-3, or 1 for a centre of 0 — a tiny scale there would push every later non-zero
    value past the key range."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return 0.0, 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        q1, centre, q3 = (float(v) for v in np.quantile(arr, [0.25, 0.5, 0.75]))
        scale = (q3 - q1) / 1.349
        if not 0 < scale < math.inf:
            scale = float(np.std(arr))
    if not 0 < scale < math.inf:
        scale = abs(centre) * 1e-3 if centre else 1.0
    if not math.isfinite(scale):
        scale = 1e300  # centre near the float limit: any finite scale keeps the mapping defined
    return centre, scale


class NumericSketch:
    """Mergeable histogram of one numeric feature plus exact counts of missing/NaN/±Inf/invalid."""

    __slots__ = (
        "_bins",
        "_i_min",
        "_k_max",
        "_lng",
        "_s1",
        "_s2",
        "centre",
        "count",
        "gamma",
        "invalid",
        "max",
        "min",
        "missing",
        "nan",
        "neg_inf",
        "pos_inf",
        "scale",
    )

    def __init__(self, centre: float = 0.0, scale: float = 1.0, relative_accuracy: float = 0.01) -> None:
        if not (math.isfinite(centre) and math.isfinite(scale) and scale > 0):
            raise ValueError(f"centre must be finite and scale > 0, got {centre!r}, {scale!r}")
        if not 0 < relative_accuracy < 1:
            raise ValueError(f"relative_accuracy must be in (0, 1), got {relative_accuracy!r}")
        self.centre = float(centre)
        self.scale = float(scale)
        self.gamma = (1 + relative_accuracy) / (1 - relative_accuracy)
        self._init_mapping()
        self.count = self.missing = self.nan = self.pos_inf = self.neg_inf = 0
        self.invalid = 0  # values of the wrong type (a string in a numeric feature): data-quality signal
        self._s1 = self._s2 = 0.0  # Σ(x-centre), Σ(x-centre)²: shifted so 1e9 ± 1 keeps its variance
        self.min = math.inf
        self.max = -math.inf
        self._bins: dict[int, int] = {}

    def _init_mapping(self) -> None:
        self._lng = math.log(self.gamma)
        self._i_min = math.floor(math.log(_Z_MIN) / self._lng)
        self._k_max = math.ceil(math.log(_Z_MAX) / self._lng) - self._i_min

    # ------------------------------------------------------------------ update

    def keys_of(self, finite: FloatArray) -> npt.NDArray[np.int64]:
        """Signed bucket key of each finite value (0 = zero bucket)."""
        with np.errstate(over="ignore", invalid="ignore"):
            z = (finite - self.centre) / self.scale  # ±inf for absurd values: clamped to the end keys
        zero = math.exp(self._i_min * self._lng)
        # log of |z| floored at half the zero band: no -inf, and those values land in the zero bucket
        logs = np.log(np.maximum(np.abs(z), zero / 2)) / self._lng
        pos = np.ceil(logs) - self._i_min
        neg = -(np.floor(logs) + 1 - self._i_min)
        keys = np.where(z > zero, pos, np.where(-z >= zero, neg, 0.0))
        return np.clip(keys, -self._k_max, self._k_max).astype(np.int64)

    def update(self, values: Sequence[float | None] | FloatArray) -> None:
        """Add values: ``None`` counts as missing; NaN/±Inf are counted apart from the histogram."""
        if isinstance(values, np.ndarray) and values.dtype.kind == "f":
            arr = values.astype(np.float64, copy=False).ravel()
        else:
            items = list(values)
            if None in items:
                present = [v for v in items if v is not None]
                self.missing += len(items) - len(present)
                items = present
            arr = np.array(items, dtype=np.float64)
        if arr.size == 0:
            return
        finite_mask = np.isfinite(arr)
        if not finite_mask.all():
            bad = arr[~finite_mask]
            self.nan += int(np.isnan(bad).sum())
            self.pos_inf += int((bad == math.inf).sum())
            self.neg_inf += int((bad == -math.inf).sum())
            arr = arr[finite_mask]
        if arr.size == 0:
            return
        with np.errstate(over="ignore", invalid="ignore"):  # |x| ~ 1e154 squares to inf: sums say so
            shifted = arr - self.centre
            self._s1 += float(shifted.sum())
            self._s2 += float(np.square(shifted).sum())  # not np.dot: BLAS threads cost more than they save
        self.count += int(arr.size)
        self.min = min(self.min, float(arr.min()))
        self.max = max(self.max, float(arr.max()))
        keys = self.keys_of(arr)
        if keys.size < 4096:  # small batches (the live path): sorting beats scanning the whole key range
            seen, counts = np.unique(keys, return_counts=True)
        else:  # large batches (profiles from files): linear-time bincount over the fixed key range
            tally = np.bincount(keys + self._k_max, minlength=2 * self._k_max + 1)
            index = np.flatnonzero(tally)
            seen, counts = index - self._k_max, tally[index]
        bins = self._bins
        for key, n in zip(seen.tolist(), counts.tolist(), strict=True):
            bins[key] = bins.get(key, 0) + n

    # ------------------------------------------------------------------ monoid

    def compatible(self, other: NumericSketch) -> bool:
        return (self.centre, self.scale, self.gamma) == (other.centre, other.scale, other.gamma)

    def merge(self, other: NumericSketch) -> NumericSketch:
        """A new sketch holding both; raises ValueError when the standardization differs."""
        if not self.compatible(other):
            raise ValueError(
                "cannot merge numeric sketches with different centre/scale/gamma: "
                f"({self.centre}, {self.scale}, {self.gamma}) vs ({other.centre}, {other.scale}, {other.gamma})"
            )
        out = self.copy()
        out._absorb(other)
        return out

    def _absorb(self, other: NumericSketch) -> None:
        self.count += other.count
        self.missing += other.missing
        self.nan += other.nan
        self.pos_inf += other.pos_inf
        self.neg_inf += other.neg_inf
        self.invalid += other.invalid
        self._s1 += other._s1
        self._s2 += other._s2
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        for key, n in other._bins.items():
            self._bins[key] = self._bins.get(key, 0) + n

    def copy(self) -> NumericSketch:
        out = NumericSketch.__new__(NumericSketch)
        for name in self.__slots__:
            setattr(out, name, getattr(self, name))
        out._bins = dict(self._bins)
        return out

    def empty_like(self) -> NumericSketch:
        """An empty sketch with the same standardization (so it merges with this one)."""
        out = self.copy()
        out.count = out.missing = out.nan = out.pos_inf = out.neg_inf = out.invalid = 0
        out._s1 = out._s2 = 0.0
        out.min, out.max = math.inf, -math.inf
        out._bins = {}
        return out

    def rebinned(self, centre: float, scale: float) -> NumericSketch:
        """This sketch re-expressed on another standardization (approximate: each bucket moves whole,
        by its representative value).  Used only when two replicas raced to decide a scale."""
        out = NumericSketch(centre, scale)
        out.gamma = self.gamma
        out._init_mapping()
        out.missing, out.nan, out.pos_inf, out.neg_inf, out.invalid = (
            self.missing, self.nan, self.pos_inf, self.neg_inf, self.invalid,
        )  # fmt: skip
        edges, counts = self.histogram()
        if counts.size:
            lower = np.concatenate(([self.min], edges[:-1]))
            reps = (lower + edges) / 2
            for key, n in zip(out.keys_of(reps).tolist(), counts.tolist(), strict=True):
                out._bins[key] = out._bins.get(key, 0) + int(n)
            out.count, out.min, out.max = self.count, self.min, self.max
            total1 = self._s1 + self.count * (self.centre - centre)
            out._s1 = total1
            out._s2 = self._s2 + 2 * (self.centre - centre) * self._s1 + self.count * (self.centre - centre) ** 2
        return out

    # ------------------------------------------------------------------ reading

    @property
    def bins(self) -> dict[int, int]:
        """Signed bucket key → count (a copy)."""
        return dict(self._bins)

    @property
    def sum(self) -> float:
        return self._s1 + self.count * self.centre

    @property
    def sum_sq(self) -> float:
        c = self.centre
        return self._s2 + 2 * c * self._s1 + self.count * c * c

    @property
    def mean(self) -> float:
        return self.centre + self._s1 / self.count if self.count else math.nan

    @property
    def std(self) -> float:
        if not self.count:
            return math.nan
        m1 = self._s1 / self.count
        return math.sqrt(max(self._s2 / self.count - m1 * m1, 0.0))

    @property
    def total(self) -> int:
        """Every observation: finite + missing + NaN + ±Inf + invalid."""
        return self.count + self.missing + self.nan + self.pos_inf + self.neg_inf + self.invalid

    def _upper_z(self, keys: npt.NDArray[np.int64]) -> FloatArray:
        j = np.abs(keys) + self._i_min
        pos = np.exp(j * self._lng)
        neg = -np.exp((j - 1) * self._lng)
        return np.where(keys > 0, pos, np.where(keys < 0, neg, math.exp(self._i_min * self._lng)))

    def histogram(self) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        """(upper bucket edges in original units, ascending; counts) over non-empty buckets.

        Bucket i covers (edges[i-1], edges[i]]; the first bucket's lower edge is ``min``, the last
        upper edge is ``max``.
        """
        if not self._bins:
            return np.empty(0, np.float64), np.empty(0, np.int64)
        keys = np.array(sorted(self._bins), dtype=np.int64)
        counts = np.array([self._bins[k] for k in keys.tolist()], dtype=np.int64)
        with np.errstate(over="ignore", invalid="ignore"):  # edges past the float range clip to min/max
            edges = self.centre + self.scale * self._upper_z(keys)
        edges = np.clip(np.maximum.accumulate(edges), self.min, self.max)
        edges[-1] = self.max
        return edges, counts

    def cdf(self, x: npt.ArrayLike) -> FloatArray:
        """P(X <= x) over finite values: exact at bucket edges, linear inside a bucket; NaN when empty."""
        xs = np.asarray(x, dtype=np.float64)
        if not self.count:
            return np.full(xs.shape, math.nan)
        edges, counts = self.histogram()
        cum = np.cumsum(counts)
        idx = np.clip(np.searchsorted(edges, xs, side="left"), 0, edges.size - 1)
        lower = np.where(idx > 0, edges[np.maximum(idx - 1, 0)], self.min)
        width = edges[idx] - lower
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            frac = np.where(width > 0, (xs - lower) / width, 1.0)
        below = np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0)
        out = (below + np.clip(frac, 0.0, 1.0) * counts[idx]) / self.count
        out = np.where(xs < self.min, 0.0, out)
        return np.where(xs >= self.max, 1.0, out)

    def quantile(self, q: float) -> float:
        """The q-quantile (0..1) by linear interpolation inside the bucket holding that rank."""
        if not 0 <= q <= 1:
            raise ValueError(f"q must be in [0, 1], got {q!r}")
        if not self.count:
            return math.nan
        edges, counts = self.histogram()
        cum = np.cumsum(counts)
        rank = q * self.count
        i = min(int(np.searchsorted(cum, rank, side="left")), edges.size - 1)
        lower = float(edges[i - 1]) if i > 0 else self.min
        below = float(cum[i - 1]) if i > 0 else 0.0
        frac = (rank - below) / float(counts[i]) if counts[i] else 1.0
        return float(min(max(lower + frac * (float(edges[i]) - lower), self.min), self.max))

    # ------------------------------------------------------------------ serialization

    def to_bytes(self) -> bytes:
        keys = np.array(sorted(self._bins), dtype="<i4")
        counts = np.array([self._bins[k] for k in keys.tolist()], dtype="<u8")
        head = _HEAD.pack(
            _MAGIC, _VERSION, self.centre, self.scale, self.gamma,
            self.count, self.missing, self.nan, self.pos_inf, self.neg_inf, self.invalid,
            self._s1, self._s2, self.min, self.max, keys.size,
        )  # fmt: skip
        return head + keys.tobytes() + counts.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> NumericSketch:
        """Inverse of ``to_bytes``; raises ValueError on anything else."""
        if len(data) < _HEAD.size:
            raise ValueError("numeric sketch: truncated header")
        magic, version, centre, scale, gamma, *ints, s1, s2, lo, hi, nbins = _HEAD.unpack_from(data)
        if magic != _MAGIC or version != _VERSION:
            raise ValueError(f"numeric sketch: unknown format {magic!r} v{version}")
        if len(data) != _HEAD.size + 12 * nbins:
            raise ValueError("numeric sketch: length does not match bucket count")
        out = cls.from_parts(centre, scale, gamma, dict(zip(*_decode_bins(data, nbins), strict=True)), ints)
        out._s1, out._s2, out.min, out.max = s1, s2, lo, hi
        return out

    @classmethod
    def from_parts(
        cls, centre: float, scale: float, gamma: float, bins: Mapping[int, int], counts: Sequence[int]
    ) -> NumericSketch:
        """Rebuild from stored parts (the Redis store); counts = count, missing, nan, +inf, -inf, invalid."""
        if not gamma > 1:
            raise ValueError(f"numeric sketch: gamma must be > 1, got {gamma!r}")
        out = cls(centre, scale)
        out.gamma = gamma
        out._init_mapping()
        out.count, out.missing, out.nan, out.pos_inf, out.neg_inf, out.invalid = (int(c) for c in counts)
        out._bins = {int(k): int(v) for k, v in bins.items() if v}
        if sum(out._bins.values()) != out.count or any(abs(k) > out._k_max for k in out._bins):
            raise ValueError("numeric sketch: bucket counts do not add up to count")
        return out

    def set_moments(self, s1: float, s2: float, lo: float, hi: float) -> None:
        """Restore the shifted sums and range (the Redis store keeps them as hash fields)."""
        self._s1, self._s2, self.min, self.max = s1, s2, lo, hi

    def shifted_sums(self) -> tuple[float, float]:
        return self._s1, self._s2

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumericSketch):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"NumericSketch(count={self.count}, centre={self.centre:g}, scale={self.scale:g}, bins={len(self._bins)})"
        )


def _decode_bins(data: bytes, nbins: int) -> tuple[list[int], list[int]]:
    keys = np.frombuffer(data, dtype="<i4", count=nbins, offset=_HEAD.size).tolist()
    counts = np.frombuffer(data, dtype="<u8", count=nbins, offset=_HEAD.size + 4 * nbins).tolist()
    return keys, counts
