"""Sketch store shared by replicas through Redis (store layer; see redis_keys for the key layout).

Each replica pre-aggregates locally (``add`` only touches a ``ProfileBuilder``) and a background task
flushes the deltas once per ``flush_interval`` in one pipelined round trip: one ``EVALSHA`` of the
apply script per (feature, bucket), which checks the feature's shared state token, adds the counters
(``HINCRBY``/``HINCRBYFLOAT``, min/max, bounded categories, ``PFADD``) and sets TTLs.  Deltas are
additive, so any number of replicas in any order give exact totals, and a delta that could not be
sent (Redis down) is simply sent later: it waits in a per-bucket backlog bounded by
``max_backlog_bytes`` (oldest dropped first, counted).  Failed flushes back off exponentially.

Shared standardization: the first replica to write a feature's token decides its centre/scale; the
others learn it (while warming up: exactly, by replaying their reservoir; after a race: by re-binning
their delta) — see ``ProfileBuilder.set_scale``.  A new reference (freeze/upload) moves every
feature to a new epoch: writers on the old epoch get the new token back and re-send there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config import StoreSettings
from ..errors import StoreError, StoreUnavailable
from ..models import FeatureRecord
from ..sketches.profile import FeatureKey, Profile, ProfileBuilder
from . import MAX_MODELS
from . import redis_keys as keys
from .redis_client import Calls, Client, Script, describe, is_noscript, make_client
from .redis_codec import Fields, categorical_fields, moments_fields, numeric_fields, resp_size
from .redis_delta import DISTINCT_PER_FLUSH, Delta
from .redis_keys import MOMENTS, Token
from .redis_reader import read_window
from .redis_reference import STATE_TTL, NoScripts, load_reference, rebase, refresh_reference, store_reference

_log = logging.getLogger("sidecar.store")

MAX_BACKOFF = 30.0
_REF_REFRESH_FLUSHES = 60  # reference TTLs are refreshed every this many flushes


@dataclass(slots=True)
class _Model:
    builder: ProfileBuilder
    bucket: int
    unflushed: dict[int, Delta] = field(default_factory=dict)
    tokens: dict[FeatureKey, Token] = field(default_factory=dict)
    indexed: set[FeatureKey] = field(default_factory=set)
    reference: Profile | None = None
    ref_version: int = 0


class RedisSketchStore:
    def __init__(
        self,
        settings: StoreSettings,
        *,
        max_features: int,
        top_k: int,
        clock: Callable[[], float] = time.time,
        flush_in_background: bool = True,
    ) -> None:
        self._settings = settings
        self._max_features = max_features
        self._top_k = top_k
        self._clock = clock
        self._background = flush_in_background
        self._client: Client = make_client(settings.url, timeout=settings.timeout)
        self._calls = Calls(settings.timeout)
        self._apply = Script("redis_apply.lua")
        self._rebase = Script("redis_rebase.lua")
        self._models: dict[str, _Model] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._flushes = 0
        self._dropped_rows = 0  # rows whose delta was dropped (backlog bound, or older than the window)
        self._dropped_models = 0
        self._rebinned = 0
        self._add_errors = 0
        self._last_flush: dict[str, float] = {"commands": 0, "bytes": 0, "seconds": 0.0}
        self._bucket_ttl = int((settings.window_buckets + 2) * settings.bucket_seconds)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        with contextlib.suppress(StoreError):  # Redis may be down at start: the flush loop retries
            await self._load_scripts()
        if self._background and self._task is None:
            self._task = asyncio.create_task(self._run(), name="sidecar-redis-flush")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for state in self._models.values():
            self._collect(state, closing=True)  # features still warming up are sketched now
        with contextlib.suppress(StoreError):
            await self.flush()  # last delta out, best effort
        with contextlib.suppress(Exception):
            await self._client.aclose()

    async def _run(self) -> None:
        delay = self._settings.flush_interval
        while True:
            await asyncio.sleep(delay)
            try:
                await self.flush()
                delay = self._settings.flush_interval
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the flush task must outlive any failure; StoreError is the usual one
                if not isinstance(exc, StoreError):
                    self._calls.count("flush", exc)
                    _log.exception("unexpected error in the redis flush")
                delay = min(max(delay * 2, self._settings.flush_interval), MAX_BACKOFF)
                _log.warning("redis flush failed (%s); retrying in %.1fs", describe(exc), delay)

    async def _load_scripts(self) -> None:
        for script in (self._apply, self._rebase):
            await self._calls.run("script_load", lambda s=script: self._client.script_load(s.text))  # type: ignore[misc]

    # ------------------------------------------------------------------ hot side

    def _bucket_now(self) -> int:
        return int(self._clock() // self._settings.bucket_seconds)

    def _state(self, model: str) -> _Model | None:
        state = self._models.get(model)
        if state is None:
            if len(self._models) >= MAX_MODELS:
                return None
            builder = self._new_builder(model, None)
            state = self._models[model] = _Model(builder, self._bucket_now())
        return state

    def _new_builder(self, model: str, reference: Profile | None, dropped: int = 0) -> ProfileBuilder:
        if reference is None:
            builder = ProfileBuilder(model, top_k=self._top_k, max_features=self._max_features)
        else:
            builder = ProfileBuilder.for_reference(reference, top_k=self._top_k, max_features=self._max_features)
        builder.distinct_cap = DISTINCT_PER_FLUSH
        builder.dropped_features = dropped
        return builder

    def _collect(self, state: _Model, *, closing: bool = False) -> None:
        """Move the builder's delta into the backlog of its bucket (``closing``: the bucket ends)."""
        members = state.builder.take_distinct()
        delta = state.builder.take(decide=closing)
        if delta.n or delta.numeric or delta.categorical:
            state.unflushed.setdefault(state.bucket, Delta()).merge_from(Delta.of(delta, members))

    def add(self, records: Sequence[FeatureRecord]) -> None:
        try:
            bucket = self._bucket_now()
            by_model: dict[str, list[FeatureRecord]] = {}
            for record in records:
                by_model.setdefault(record.model, []).append(record)
            for model, batch in by_model.items():
                state = self._state(model)
                if state is None:
                    self._dropped_models += len(batch)
                    continue
                if bucket != state.bucket:
                    self._collect(state, closing=True)
                    state.bucket = bucket
                state.builder.add(batch)
        except Exception:  # never raise into the capture consumer; counted in health()
            self._add_errors += 1
            _log.exception("sketch store add failed")

    def _bound_backlog(self) -> None:
        oldest_kept = self._bucket_now() - self._settings.window_buckets
        for state in self._models.values():
            for bucket in [b for b in state.unflushed if b <= oldest_kept]:
                self._dropped_rows += state.unflushed.pop(bucket).rows  # outside the window: worthless
        while self.pending_bytes() > self._settings.max_backlog_bytes:
            candidates = [(b, m) for m, s in self._models.items() for b in s.unflushed]
            if not candidates:
                break
            bucket, model = min(candidates)
            self._dropped_rows += self._models[model].unflushed.pop(bucket).rows

    def pending_bytes(self) -> int:
        return sum(d.size() for s in self._models.values() for d in s.unflushed.values()) + sum(
            s.builder.approx_bytes() for s in self._models.values()
        )

    # ------------------------------------------------------------------ flush

    async def flush(self) -> None:
        """Send every local delta in one pipelined round trip (raises StoreError when Redis fails)."""
        async with self._lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        if await self._flush_once():
            await self._flush_once()  # deltas rejected for an old token go out again, to the new one

    async def _flush_once(self) -> bool:
        """One pipelined round trip; True when some delta was redirected and should be re-sent."""
        for state in self._models.values():
            self._collect(state)
        self._bound_backlog()
        if not self._models:
            return False
        started = time.perf_counter()
        # In flight: detached from the backlog, so what add() collects meanwhile (a bucket closing)
        # cannot be merged into a delta whose parts are about to be marked as sent.
        sending: dict[str, dict[int, Delta]] = {}
        for model, state in self._models.items():
            sending[model], state.unflushed = state.unflushed, {}
        try:
            ops, results, sent_bytes = await self._send(sending)
            redirected = await self._absorb_results(ops, results, sending)
        finally:
            for model, deltas in sending.items():
                state = self._models[model]
                for bucket, delta in deltas.items():
                    if not delta.empty():  # not sent, failed or redirected: back into the backlog
                        state.unflushed.setdefault(bucket, Delta()).merge_from(delta)
        self._flushes += 1
        self._last_flush = {"commands": len(ops), "bytes": sent_bytes, "seconds": time.perf_counter() - started}
        return redirected

    async def _send(self, sending: dict[str, dict[int, Delta]]) -> tuple[list[tuple[str, str, Any]], list[Any], int]:
        pipe = self._client.pipeline(transaction=False)
        ops: list[tuple[str, str, Any]] = []
        sent_bytes = 0
        now = self._clock()
        for model, state in self._models.items():
            for bucket, delta in sending.get(model, {}).items():
                for key, fields, token in self._delta_calls(state, delta):
                    args = fields.args(token.encode(), self._bucket_ttl, STATE_TTL, 4 * self._top_k)
                    names = (
                        keys.state_key(model, key),
                        keys.bucket_key(model, key, token.epoch, bucket),
                        keys.hll_key(model, key, token.epoch, bucket),
                    )
                    sent_bytes += resp_size(["EVALSHA", self._apply.sha, 3, *names, *args])
                    pipe.evalsha(self._apply.sha, 3, *names, *args)
                    ops.append(("apply", model, (bucket, key, token)))
            new = {k: v for k, v in state.builder.kinds.items() if k not in state.indexed}
            if new:
                pipe.hset(keys.features_key(model), mapping={keys.feature_field(k): v for k, v in new.items()})
                ops.append(("index", model, list(new)))
            pipe.expire(keys.features_key(model), STATE_TTL)
            pipe.hset(keys.MODELS_KEY, model, repr(now))
            pipe.get(keys.ref_pointer_key(model))
            ops += [("expire", model, None), ("seen", model, None), ("ref", model, None)]
            if state.ref_version and self._flushes % _REF_REFRESH_FLUSHES == 0:
                refresh_reference(pipe, model, state.ref_version)
                ops += [("expire", model, None)] * 3
            wanted = [k for k in state.builder.warming_up() if k not in state.tokens]
            if MOMENTS not in state.tokens and state.builder.moments_basis is None:
                wanted.append(MOMENTS)
            for key in wanted:
                pipe.get(keys.state_key(model, key))
                ops.append(("state", model, key))
        pipe.expire(keys.MODELS_KEY, STATE_TTL)
        ops.append(("expire", "", None))
        results = await self._calls.run("flush", lambda: pipe.execute(raise_on_error=False))
        return ops, results, sent_bytes

    def _delta_calls(self, state: _Model, delta: Delta) -> list[tuple[FeatureKey, Fields, Token]]:
        calls: list[tuple[FeatureKey, Fields, Token]] = []
        for key, sketch in delta.numeric.items():
            token = state.tokens.get(key) or Token(0, keys.numeric_payload(sketch.centre, sketch.scale, sketch.gamma))
            calls.append((key, numeric_fields(sketch), token))
        for key, cat in delta.categorical.items():
            token = state.tokens.get(key) or Token(0, keys.CATEGORICAL_PAYLOAD)
            calls.append((key, categorical_fields(cat, delta.members.get(key, ())), token))
        basis = state.builder.moments_basis
        if delta.rows or delta.moments is not None:
            known = state.tokens.get(MOMENTS)
            if known is None and basis is not None:
                known = Token(0, keys.moments_payload(basis[0], list(basis[1])))
            if known is not None:  # else: wait one flush to learn the shared basis
                calls.append((MOMENTS, moments_fields(delta.rows, delta.start, delta.end, delta.moments), known))
        return calls

    async def _absorb_results(
        self, ops: list[tuple[str, str, Any]], results: list[Any], sending: dict[str, dict[int, Delta]]
    ) -> bool:
        load_scripts = redirected = False
        refs: dict[str, int] = {}
        for (op, model, arg), result in zip(ops, results, strict=True):
            state = self._models.get(model)
            if is_noscript(result):
                load_scripts = True
                continue
            if isinstance(result, Exception):
                self._calls.count(op, result)
                continue
            if state is None:
                continue
            if op == "apply":
                bucket, key, token = arg
                delta = sending[model][bucket]
                redirected = not self._applied(state, delta, key, token, result) or redirected
            elif op == "index":
                state.indexed.update(arg)
            elif op == "ref":
                refs[model] = int(result or 0)
            elif op == "state" and result is not None:
                self._learn(state, arg, Token.decode(result))
                redirected = True  # a reservoir was replayed onto the shared scale: send it now
        if load_scripts:
            await self._load_scripts()
        for model, version in refs.items():
            state = self._models[model]
            if version != state.ref_version:
                await self._adopt_reference(model, version)
        for state in self._models.values():
            if MOMENTS not in state.tokens and state.builder.moments_basis is None:
                state.builder.decide_moments_basis()  # nobody decided yet: propose ours next flush
        return redirected or load_scripts

    def _applied(self, state: _Model, delta: Delta, key: FeatureKey, sent: Token, result: Any) -> bool:
        """Settle one apply result; False when it was rejected (the delta stays for a re-send)."""
        if result == 1:
            state.tokens.setdefault(key, sent)
            if key == MOMENTS:
                delta.rows, delta.moments = 0, None
                delta.start, delta.end = math.inf, -math.inf
            else:
                delta.numeric.pop(key, None)
                delta.categorical.pop(key, None)
                delta.members.pop(key, None)
            return True
        # Rejected: another replica decided this feature's state; adopt it and re-send next flush.
        token = Token.decode(result)
        self._learn(state, key, token)
        sketch = delta.numeric.get(key)
        scale = token.scale()
        if sketch is not None and scale is not None and (sketch.centre, sketch.scale) != scale[:2]:
            delta.numeric[key] = sketch.rebinned(scale[0], scale[1])
            self._rebinned += 1
        if key == MOMENTS and delta.moments is not None and token.basis() is not None:
            names, shift = token.basis()  # type: ignore[misc]
            if delta.moments.names != names:
                delta.moments = None  # moments over another feature set cannot be translated
            elif list(delta.moments.shift) != shift:
                delta.moments = delta.moments.reshifted(shift)
        return False

    def _learn(self, state: _Model, key: FeatureKey, token: Token) -> None:
        state.tokens[key] = token
        scale = token.scale()
        if scale is not None and state.builder.scales.get(key) != scale[:2]:
            state.builder.set_scale(key, scale[0], scale[1])
        basis = token.basis()
        if key == MOMENTS and basis is not None and state.builder.moments_basis != basis:
            state.builder.set_moments_basis(*basis)

    # ------------------------------------------------------------------ references

    async def _adopt_reference(self, model: str, version: int) -> Profile | None:
        state = self._models[model]
        reference = await load_reference(self._client, self._calls, model, version) if version else None
        state.ref_version, state.reference = version, reference
        if reference is not None:
            self._collect(state)
            state.builder = self._new_builder(model, reference, state.builder.dropped_features)
        return reference

    async def reference(self, model: str) -> Profile | None:
        raw = await self._calls.run("reference", lambda: self._client.get(keys.ref_pointer_key(model)))
        version = int(raw or 0)
        state = self._models.get(model)
        if state is not None and version == state.ref_version:
            return state.reference
        if version == 0 or (state is None and (state := self._state(model)) is None):
            return None  # nothing stored (or too many models): no state is created for a mere question
        async with self._lock:
            return await self._adopt_reference(model, version)

    async def set_reference(self, model: str, profile: Profile) -> int:
        stored = Profile.from_json({**profile.to_json(), "model": model})
        payloads = {k: keys.numeric_payload(s.centre, s.scale, s.gamma) for k, s in stored.numeric.items()}
        payloads.update({k: keys.CATEGORICAL_PAYLOAD for k in stored.categorical})
        if stored.moments is not None:
            payloads[MOMENTS] = keys.moments_payload(stored.moments.names, stored.moments.shift.tolist())
        _, version = await self._install(model, stored, payloads)
        return version

    async def freeze(self, model: str) -> Profile:
        async with self._lock:
            state = self._state(model)
            if state is None:
                raise StoreError(f"cannot track model {model!r}: already {MAX_MODELS} models")
            state.builder.build(decide=True)  # features still warming up get their scale now
            state.builder.decide_moments_basis()
            await self._flush_locked()
            if state.unflushed:
                await self._flush_locked()  # a second pass sends what the first pass learned tokens for
        profile, _ = await self._install(model, None, {})
        return profile

    async def _install(
        self, model: str, profile: Profile | None, payloads: dict[FeatureKey, str]
    ) -> tuple[Profile, int]:
        """Move every feature of ``model`` to a new epoch (with new payloads for an upload) and store
        the reference; for a freeze (``profile`` None) the reference is the old epoch's window."""
        async with self._lock:
            state = self._state(model)
            if state is None:
                raise StoreError(f"cannot track model {model!r}: already {MAX_MODELS} models")
            index = await self._calls.run("reference", lambda: self._client.hgetall(keys.features_key(model)))
            features = {k for raw in index for k in [keys.parse_feature_field(_text(raw))] if k is not None}
            targets = sorted(features | set(payloads) | {MOMENTS})
            try:
                old, new = await rebase(self._client, self._calls, self._rebase.sha, model, targets, payloads)
            except NoScripts:
                await self._load_scripts()
                raise StoreUnavailable("redis scripts were not loaded yet; try again") from None
            state.tokens.update(new)
            if profile is None:
                kinds = {k: _text(v) for raw, v in index.items() for k in [keys.parse_feature_field(_text(raw))] if k}
                vocab = self._vocabularies(state)
                profile = await read_window(
                    self._client, self._calls, model, old, kinds, self._window_buckets(), self._top_k, vocab
                )
                profile.source = "window"
            version = await store_reference(self._client, self._calls, model, profile, self._clock())
            state.unflushed.clear()
            state.ref_version, state.reference = version, profile
            state.builder = self._new_builder(model, profile, state.builder.dropped_features)
            return profile, version

    # ------------------------------------------------------------------ reads

    def _vocabularies(self, state: _Model) -> dict[FeatureKey, frozenset[str] | None]:
        if state.reference is None:
            return {}
        return dict(state.reference.vocabularies(self._top_k))

    def _window_buckets(self) -> list[int]:
        now = self._bucket_now()
        return list(range(now - self._settings.window_buckets + 1, now + 1))

    async def current(self, model: str) -> Profile:
        await self.flush()
        state = self._models.get(model)
        index = await self._calls.run("current", lambda: self._client.hgetall(keys.features_key(model)))
        kinds: dict[FeatureKey, str] = {}
        for raw, kind in index.items():
            key = keys.parse_feature_field(_text(raw))
            if key is not None and len(kinds) < self._max_features:
                kinds[key] = _text(kind)
        targets = [*sorted(kinds), MOMENTS]
        pipe = self._client.pipeline(transaction=False)
        for key in targets:
            pipe.get(keys.state_key(model, key))
        raw_tokens = await self._calls.run("current", lambda: pipe.execute(raise_on_error=False))
        tokens = {k: Token.decode(t) for k, t in zip(targets, raw_tokens, strict=True) if isinstance(t, bytes)}
        vocab = {} if state is None else self._vocabularies(state)
        profile = await read_window(
            self._client, self._calls, model, tokens, kinds, self._window_buckets(), self._top_k, vocab
        )
        if state is not None:
            # Features still warming up here and unknown to Redis: show the local preview.
            for key, sketch in state.builder.build().numeric.items():
                if key not in profile.numeric and key in state.builder.warming_up():
                    profile.numeric[key] = sketch
                    profile.kinds[key] = state.builder.kinds.get(key, "numeric")
        return profile

    async def models(self) -> list[str]:
        raw = await self._calls.run("models", lambda: self._client.hkeys(keys.MODELS_KEY))
        names = sorted({_text(r) for r in raw} | set(self._models))
        return names[:MAX_MODELS]

    def feature_count(self, model: str) -> int:
        state = self._models.get(model)
        return 0 if state is None else state.builder.feature_count

    def health(self) -> dict[str, object]:
        dropped_features = sum(s.builder.dropped_features for s in self._models.values())
        return {
            "backend": "redis",
            "healthy": self._calls.healthy,
            "last_error": self._calls.last_error,
            "pending_bytes": self.pending_bytes(),
            "dropped": self._dropped_rows + dropped_features + self._dropped_models,
            "dropped_rows": self._dropped_rows,
            "dropped_features": dropped_features,
            "dropped_models": self._dropped_models,
            "rebinned": self._rebinned,
            "flushes": self._flushes,
            "round_trips": self._calls.round_trips,
            "last_flush": dict(self._last_flush),
            "errors": dict(self._calls.errors, **({"add": self._add_errors} if self._add_errors else {})),
        }


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "surrogatepass") if isinstance(raw, bytes) else raw
