"""HyperLogLog distinct-count estimator (pure, mergeable; a small own one, 2¹¹ registers ≈ 2.3 % error)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

_P = 11
_M = 1 << _P
_ALPHA = 0.7213 / (1 + 1.079 / _M)
_MASK = (1 << 64) - 1
_MAGIC = b"HL"
_VERSION = 1


def _hash64(value: str) -> int:
    # blake2b, not hash(): the estimate must be identical across processes and runs.
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


class HyperLogLog:
    """Registers hold the max leading-zero rank seen per hash prefix; merge is an element-wise max."""

    __slots__ = ("registers",)

    def __init__(self, registers: npt.NDArray[np.uint8] | None = None) -> None:
        self.registers = np.zeros(_M, np.uint8) if registers is None else registers

    def add(self, values: Iterable[str]) -> None:
        regs = self.registers
        for value in values:
            h = _hash64(value)
            idx = h >> (64 - _P)
            rest = (h << _P) & _MASK
            rank = 65 - _P if rest == 0 else (64 - rest.bit_length()) + 1
            if rank > regs[idx]:
                regs[idx] = rank

    def merge(self, other: HyperLogLog) -> HyperLogLog:
        return HyperLogLog(np.maximum(self.registers, other.registers))

    def estimate(self) -> float:
        regs = self.registers.astype(np.float64)
        raw = _ALPHA * _M * _M / float(np.sum(np.exp2(-regs)))
        zeros = int(np.count_nonzero(self.registers == 0))
        if raw <= 2.5 * _M and zeros:
            return _M * math.log(_M / zeros)  # linear counting: exact-ish for small sets
        return raw

    def is_empty(self) -> bool:
        return not self.registers.any()

    def to_bytes(self) -> bytes:
        return _MAGIC + bytes([_VERSION]) + self.registers.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> HyperLogLog:
        if len(data) != 3 + _M or data[:2] != _MAGIC or data[2] != _VERSION:
            raise ValueError("hyperloglog: unknown format")
        return cls(np.frombuffer(data, np.uint8, offset=3).copy())
