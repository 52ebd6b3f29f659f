"""Hot-path capture decision: rate sampling, always-capture rules, a per-second cap (no I/O)."""

from __future__ import annotations

import random
import time

from ..config import CaptureSettings


class Sampler:
    """Decides per request whether its exchange is captured.

    ``pick`` runs at request start (rate sampling); ``keep`` at the end adds the always-capture
    rules (upstream 5xx, slow requests) and enforces the samples-per-second cap with a token
    bucket.  Both are O(1) and never block.
    """

    __slots__ = ("_always", "_bucket", "_capacity", "_errors", "_last", "_rand", "_rate", "_refill", "_slow", "skipped")

    def __init__(self, settings: CaptureSettings, *, seed: int | None = None) -> None:
        self._rate = settings.sample_rate
        self._errors = settings.capture_errors
        self._slow = settings.slow_threshold
        self._always = self._errors or self._slow > 0
        self._refill = settings.max_samples_per_second
        # A burst of up to one second's worth (at least one) may pass at once.
        self._capacity = max(1.0, self._refill)
        self._bucket = self._capacity
        self._last = time.monotonic()
        self._rand = random.Random(seed).random
        self.skipped = 0  # kept by the rules but refused by the per-second cap

    @property
    def always(self) -> bool:
        """True when ``keep`` may capture a request that ``pick`` did not choose (5xx/slow rules)."""
        return self._always

    @property
    def tees(self) -> bool:
        """Whether any request may be captured at all (the proxy skips teeing otherwise)."""
        return (self._rate > 0 or self._always) and self._refill > 0

    def pick(self) -> bool:
        rate = self._rate
        return rate >= 1.0 or (rate > 0.0 and self._rand() < rate)

    def keep(self, picked: bool, status: int, duration_s: float) -> bool:
        if not (
            picked or (self._errors and (status >= 500 or status == 0)) or (self._slow > 0 and duration_s >= self._slow)
        ):
            return False
        now = time.monotonic()
        self._bucket = min(self._capacity, self._bucket + (now - self._last) * self._refill)
        self._last = now
        if self._bucket >= 1.0:
            self._bucket -= 1.0
            return True
        self.skipped += 1
        return False
