"""Per-client behaviour checks: bursts, near-duplicate probing, feature sweeps, label poisoning (pure).

Clients are tracked by a hash of their (already hashed) key in a bounded LRU; each holds a few
decayed counters, the last input and a small ring of recent inputs.  Time is always passed in (or
read from ``now_fn``), so the tracker is deterministic.  Memory is at most ``max_clients`` ×
(``ring`` × ``max_dims`` float32 + a few hundred bytes), e.g. 10 000 × 2 KB = 20 MB.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time as _time
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from .reasons import Reason, ordered

_MAX_NAME_SETS = 64  # distinct feature-name tuples whose running scales are kept
_MEDIAN_EVERY = 256  # observations between recomputations of the population's median rate
_MEDIAN_SAMPLE = 1000
_MIN_RATE = 0.05  # req/s: below this a population median says nothing about bursts


class _Client:
    __slots__ = (
        "conf", "contra", "fast", "first", "labels", "last", "last_label", "names", "ring", "ring_n",
        "ring_pos", "slow", "sweep_dir", "sweep_j", "sweep_len", "t",
    )  # fmt: skip

    def __init__(self, t: float) -> None:
        self.t = self.last_label = self.first = t
        self.fast = self.slow = 0.0  # request counts decayed over the burst / baseline windows
        self.labels = self.conf = self.contra = 0.0  # decayed label counts
        self.names: tuple[str, ...] = ()
        self.ring: npt.NDArray[np.float32] | None = None
        self.ring_n = self.ring_pos = 0
        self.last: npt.NDArray[np.float32] | None = None
        self.sweep_j, self.sweep_dir, self.sweep_len = -1, 0.0, 0


class _Scale:
    """Running mean/variance per feature: exact (Welford) for the first 10 000 inputs, then decayed."""

    __slots__ = ("mean", "n", "var")

    def __init__(self, d: int) -> None:
        self.n = 0
        self.mean = np.zeros(d)
        self.var = np.zeros(d)

    def update(self, v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Fold in one input; returns the current per-feature scale (1 where none is known yet)."""
        self.n += 1
        w = 1.0 / min(self.n, 10_000)
        ok = np.isfinite(v)
        if ok.all():
            delta = v - self.mean
            self.mean = self.mean + w * delta
            self.var = (1 - w) * (self.var + w * delta * delta)
        else:
            delta = np.where(ok, v - self.mean, 0.0)
            self.mean = self.mean + w * delta
            self.var = np.where(ok, (1 - w) * (self.var + w * delta * delta), self.var)
        sd = np.sqrt(self.var)
        return np.where(sd > 0, sd, 1.0)


class ClientTracker:
    def __init__(
        self,
        max_clients: int,
        *,
        now_fn: Callable[[], float] | None = None,
        burst_window: float = 10.0,
        baseline_window: float = 600.0,
        burst_ratio: float = 10.0,
        burst_min: int = 30,
        ring: int = 16,
        max_dims: int = 32,
        near: float = 0.05,
        near_min: int = 8,
        sweep_min: int = 5,
        label_window: float = 3600.0,
        label_share: float = 0.5,
        label_min: int = 100,
        min_labelers: int = 3,
        contradiction_rate: float = 0.5,
        contradiction_min: int = 20,
    ) -> None:
        if max_clients < 1:
            raise ValueError(f"max_clients must be >= 1, got {max_clients!r}")
        self.max_clients = max_clients
        self._now = now_fn or _time.time
        self._tf, self._ts, self._tl = burst_window, baseline_window, label_window
        self._burst_ratio, self._burst_min = burst_ratio, burst_min
        self._ring, self._max_dims, self._near, self._near_min = ring, max_dims, near, near_min
        self._sweep_min = sweep_min
        self._label_share, self._label_min, self._min_labelers = label_share, label_min, min_labelers
        self._contra_rate, self._contra_min = contradiction_rate, contradiction_min
        self._clients: OrderedDict[bytes, _Client] = OrderedDict()
        self._scales: OrderedDict[tuple[str, ...], _Scale] = OrderedDict()
        self._seen = 0
        self._median = 0.0
        self._labels = self._conf = self._contra = 0.0  # population label counters (decayed)
        self._label_t = 0.0
        self._labelers = 0
        self._labels_seen = 0

    def __len__(self) -> int:
        return len(self._clients)

    # ------------------------------------------------------------------ requests

    def observe(
        self,
        client_key: str,
        time: float | None,
        vector: npt.NDArray[np.float64] | None,
        feature_names: tuple[str, ...] = (),
    ) -> tuple[str, ...]:
        """Record one request (and its input vector, if any); return behaviour reasons for it."""
        t = self._now() if time is None else float(time)
        client = self._client(client_key, t)
        found: set[str] = set()
        if self._count_request(client, t):
            found.add(Reason.RATE_BURST)
        if vector is not None and len(feature_names) == np.shape(vector)[-1] and feature_names:
            found.update(self._inspect(client, np.asarray(vector, dtype=np.float64).ravel(), tuple(feature_names)))
        return ordered(found)

    def _client(self, key: str, t: float) -> _Client:
        digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=12).digest()
        client = self._clients.get(digest)
        if client is None:
            client = self._clients[digest] = _Client(t)
            if len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(digest)
        return client

    def _count_request(self, client: _Client, t: float) -> bool:
        dt = max(t - client.t, 0.0)
        client.fast = client.fast * math.exp(-dt / self._tf) + 1.0
        client.slow = client.slow * math.exp(-dt / self._ts) + 1.0
        client.t = max(client.t, t)
        self._seen += 1
        # Recomputed often while the population is young: a stale (zero) median makes every early
        # client look like a burst.
        every = 16 if self._seen < 4 * _MEDIAN_EVERY else _MEDIAN_EVERY
        if self._seen % every == 1:
            self._median = self._median_rate(t)
        if client.fast < self._burst_min:
            return False
        rate = client.fast / self._tf
        # Requests older than the burst window: the client's own baseline rate, over the time it has
        # really been seen (a young client's baseline is not diluted over the whole baseline window).
        seen_for = min(t - client.first, self._ts) - self._tf
        own = max(client.slow - client.fast, 0.0) / seen_for if seen_for >= self._tf else 0.0
        return rate >= self._burst_ratio * max(own, self._median, _MIN_RATE)

    def _median_rate(self, t: float) -> float:
        # The most recently seen clients (the LRU's tail) are the active ones; 1000 give a stable median.
        recent = itertools.islice(reversed(self._clients.values()), _MEDIAN_SAMPLE)
        # Short-window rates, comparable with the rate a burst is measured at: steady clients that
        # all send alike are each other's baseline, however young they are.
        rates = [c.fast * math.exp(-max(t - c.t, 0.0) / self._tf) / self._tf for c in recent if t - c.t < self._ts]
        # A lone client is no population: its own rate must not become the baseline it is judged by.
        return float(np.median(rates)) if len(rates) >= 2 else 0.0

    def _inspect(self, client: _Client, v: npt.NDArray[np.float64], names: tuple[str, ...]) -> set[str]:
        v, names = v[: self._max_dims], names[: self._max_dims]
        inv_scale = 1.0 / self._scale(names).update(v)
        # Raw values are kept (retries compare equal exactly); distances use today's scales.
        x = np.where(np.isfinite(v), v, 0.0).astype(np.float32)
        found: set[str] = set()
        if client.names != names:  # another model or schema: start this client's history afresh
            client.names, client.ring, client.ring_n, client.ring_pos, client.last = names, None, 0, 0, None
            client.sweep_j, client.sweep_len = -1, 0
        if client.last is not None and len(names) >= 2 and self._sweeping(client, x):
            found.add(Reason.FEATURE_SWEEP)
        if client.ring is None:
            client.ring = np.zeros((self._ring, len(names)), dtype=np.float32)
        if client.ring_n:
            diff = (client.ring[: client.ring_n] - x) * inv_scale
            dist2 = np.einsum("ij,ij->i", diff, diff) / len(names)  # mean squared scaled distance
            # Exact repeats are retries, not probing: only count distinct but very close inputs.
            if int(((dist2 > 1e-12) & (dist2 < self._near * self._near)).sum()) >= self._near_min:
                found.add(Reason.NEAR_DUPLICATE_PROBING)
        client.ring[client.ring_pos] = x
        client.ring_pos = (client.ring_pos + 1) % self._ring
        client.ring_n = min(client.ring_n + 1, self._ring)
        client.last = x
        return found

    def _sweeping(self, client: _Client, x: npt.NDArray[np.float32]) -> bool:
        assert client.last is not None
        changed = np.flatnonzero(x != client.last)
        if changed.size == 0:
            return client.sweep_len >= self._sweep_min  # a repeat neither extends nor breaks a sweep
        if changed.size > 1:
            client.sweep_j, client.sweep_len = -1, 0
            return False
        j = int(changed[0])
        step = float(np.sign(x[j] - client.last[j]))
        if j == client.sweep_j and step == client.sweep_dir:
            client.sweep_len += 1
        else:
            client.sweep_j, client.sweep_dir, client.sweep_len = j, step, 1
        return client.sweep_len >= self._sweep_min

    def _scale(self, names: tuple[str, ...]) -> _Scale:
        scale = self._scales.get(names)
        if scale is None:
            scale = self._scales[names] = _Scale(len(names))
            if len(self._scales) > _MAX_NAME_SETS:
                self._scales.popitem(last=False)
        else:
            self._scales.move_to_end(names)
        return scale

    # ------------------------------------------------------------------ labels

    def observe_label(
        self, client_key: str, time: float | None, label_matches_confident_prediction: bool | None
    ) -> tuple[str, ...]:
        """Record one delayed label from a client.

        ``label_matches_confident_prediction`` is None when the prediction was not confident (or
        unknown), else whether the label agrees with it.
        """
        t = self._now() if time is None else float(time)
        client = self._client(client_key, t)
        decay = math.exp(-max(t - client.last_label, 0.0) / self._tl)
        client.labels, client.conf, client.contra = client.labels * decay, client.conf * decay, client.contra * decay
        client.last_label = max(client.last_label, t)
        glob = math.exp(-max(t - self._label_t, 0.0) / self._tl)
        self._labels, self._conf, self._contra = self._labels * glob, self._conf * glob, self._contra * glob
        self._label_t = max(self._label_t, t)
        first = client.labels < 0.5
        client.labels += 1
        self._labels += 1
        if label_matches_confident_prediction is not None:
            client.conf += 1
            self._conf += 1
            if not label_matches_confident_prediction:
                client.contra += 1
                self._contra += 1
        self._labels_seen += 1
        if self._labels_seen % _MEDIAN_EVERY == 1:
            self._labelers = self._count_labelers(t)  # periodic recount: decay retires quiet labellers
        elif first:
            self._labelers += 1
        poisoned = (
            self._labels >= self._label_min
            and self._labelers >= self._min_labelers
            and client.labels / self._labels >= self._label_share
        )
        if client.conf >= self._contra_min:
            rate = client.contra / client.conf
            others = self._conf - client.conf  # the population's rate, this client left out
            base = (self._contra - client.contra) / others if others >= 1 else 0.0
            poisoned = poisoned or (rate >= self._contra_rate and rate >= 3 * base)
        return (Reason.FEEDBACK_POISONING.value,) if poisoned else ()

    def _count_labelers(self, t: float) -> int:
        return sum(
            1 for c in self._clients.values() if c.labels * math.exp(-max(t - c.last_label, 0.0) / self._tl) >= 0.5
        )
