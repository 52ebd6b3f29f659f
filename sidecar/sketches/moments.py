"""Moments: n, Σx and Σxxᵀ over a fixed ordered set of numeric inputs (pure, mergeable).

Sums are taken of ``x - shift`` (shift = the features' centres, fixed with the names) so that
features far from zero keep their covariance in double precision.  Only complete rows (every value
finite) are counted: the multivariate picture must not mix rows with different feature subsets.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

MAX_MOMENT_FEATURES = 64  # Σxxᵀ is d²: 64 features = 4096 cells, a few kB per bucket
_MAGIC = b"MO"
_VERSION = 1


class Moments:
    __slots__ = ("n", "names", "shift", "sum", "sxx")

    def __init__(self, names: Sequence[str], shift: Sequence[float] | FloatArray | None = None) -> None:
        if len(names) > MAX_MOMENT_FEATURES:
            raise ValueError(f"moments: at most {MAX_MOMENT_FEATURES} features, got {len(names)}")
        if len(set(names)) != len(names):
            raise ValueError("moments: duplicate feature names")
        d = len(names)
        self.names = tuple(names)
        self.shift = np.zeros(d) if shift is None else np.asarray(shift, dtype=np.float64).copy()
        if self.shift.shape != (d,) or not np.isfinite(self.shift).all():
            raise ValueError("moments: shift must be one finite value per feature")
        self.n = 0
        self.sum = np.zeros(d)
        self.sxx = np.zeros((d, d))

    @property
    def dim(self) -> int:
        return len(self.names)

    def update(self, rows: FloatArray) -> None:
        """Add rows (shape (n, dim), columns in ``names`` order); rows with a non-finite value are skipped."""
        arr = np.asarray(rows, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise ValueError(f"moments: expected rows of width {self.dim}, got shape {arr.shape}")
        arr = arr[np.isfinite(arr).all(axis=1)] - self.shift
        if not arr.shape[0]:
            return
        self.n += int(arr.shape[0])
        with np.errstate(over="ignore", invalid="ignore"):  # absurd magnitudes overflow to inf: kept so
            self.sum += arr.sum(axis=0)
            self.sxx += arr.T @ arr

    def compatible(self, other: Moments) -> bool:
        return self.names == other.names and bool(np.array_equal(self.shift, other.shift))

    def merge(self, other: Moments) -> Moments:
        """A new Moments holding both; raises ValueError when names or shift differ."""
        if not self.compatible(other):
            raise ValueError("cannot merge moments over different features or shifts")
        out = self.empty_like()
        out.n = self.n + other.n
        out.sum = self.sum + other.sum
        out.sxx = self.sxx + other.sxx
        return out

    def reshifted(self, shift: Sequence[float] | FloatArray) -> Moments:
        """The same sums about another shift (exact algebra: Σ(x-s') = Σ(x-s) + n(s-s'), likewise Σxxᵀ)."""
        out = Moments(self.names, shift)
        delta = self.shift - out.shift
        out.n = self.n
        out.sum = self.sum + self.n * delta
        out.sxx = self.sxx + np.outer(delta, self.sum) + np.outer(self.sum, delta) + self.n * np.outer(delta, delta)
        return out

    def empty_like(self) -> Moments:
        return Moments(self.names, self.shift)

    def mean(self) -> FloatArray:
        if not self.n:
            return np.full(self.dim, math.nan)
        return np.asarray(self.shift + self.sum / self.n, dtype=np.float64)

    def cov(self) -> FloatArray:
        """Unbiased sample covariance (NaN when n < 2)."""
        if self.n < 2:
            return np.full((self.dim, self.dim), math.nan)
        centred = self.sxx - np.outer(self.sum, self.sum) / self.n
        return np.asarray((centred + centred.T) / 2 / (self.n - 1), dtype=np.float64)

    def to_bytes(self) -> bytes:
        names = "\x1f".join(self.names).encode("utf-8", "surrogatepass")
        head = struct.pack("<2sBIQI", _MAGIC, _VERSION, self.dim, self.n, len(names))
        body = self.shift.astype("<f8").tobytes() + self.sum.astype("<f8").tobytes() + self.sxx.astype("<f8").tobytes()
        return head + names + body

    @classmethod
    def from_bytes(cls, data: bytes) -> Moments:
        try:
            magic, version, dim, n, name_len = struct.unpack_from("<2sBIQI", data)
        except struct.error as exc:
            raise ValueError("moments: truncated header") from exc
        if magic != _MAGIC or version != _VERSION:
            raise ValueError(f"moments: unknown format {magic!r} v{version}")
        pos = struct.calcsize("<2sBIQI")
        raw = data[pos : pos + name_len].decode("utf-8", "surrogatepass")
        names = raw.split("\x1f") if dim else []
        pos += name_len
        if len(names) != dim or len(data) != pos + 8 * (2 * dim + dim * dim):
            raise ValueError("moments: length does not match dimension")
        floats = np.frombuffer(data, dtype="<f8", offset=pos).astype(np.float64)
        out = cls(names, floats[:dim])
        out.n = n
        out.sum = floats[dim : 2 * dim].copy()
        out.sxx = floats[2 * dim :].reshape(dim, dim).copy()
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Moments):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Moments(n={self.n}, names={self.names!r})"
