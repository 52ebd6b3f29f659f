"""Redis label store shared by replicas (store layer; client and error mapping from redis_client).

Keys (every one carries a TTL, so Redis memory is bounded by traffic × horizon):

- ``sidecar:pred:{<request_id>}`` = prediction JSON, ``sidecar:label:{<request_id>}`` = label JSON
  once labelled (same slot, same expiry).  Model-independent, so a label posted to any replica
  finds its prediction; TTL = what is left of the horizon.
- ``sidecar:{<model>}:labelled`` sorted set (request id → label time) and ``sidecar:{<model>}:joined``
  hash (request id → joined JSON): the window, capped at ``labels.window`` by one Lua script; the
  hash tag keeps both in one cluster slot.  TTL = horizon, renewed by each label.
- ``sidecar:label-models`` sorted set (model → last prediction time), capped, TTL = horizon.

A batch of labels costs two round trips: read every prediction, then write labels and windows.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from ..config import Settings
from ..errors import StoreError
from ..quality.joins import JoinedRecord, PredictionRecord, Target, coerce_label
from .labels import LabelOutcome, LabelStatus, LabelStoreHealth
from .redis_client import Calls, Client, make_client

T = TypeVar("T")

MAX_MODELS = 256
_SCAN_COUNT = 2000
_MODELS_KEY = "sidecar:label-models"

# Sets the label only while the prediction exists, expiring with it.  Returns 1 (new label),
# 0 (replaced) or -1 (the prediction is gone).
_SET_LABEL = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return -1 end
local existed = redis.call('EXISTS', KEYS[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ttl)
return 1 - existed
"""

# ARGV: window, ttl_ms, then (request_id, label_time, joined_json) triples.
_ADD_JOINED = """
for i = 3, #ARGV, 3 do
  redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
end
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[1], 0, extra - 1)
  for _, id in ipairs(old) do redis.call('HDEL', KEYS[2], id) end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 0
"""


def _pred_key(request_id: str) -> str:
    return f"sidecar:pred:{{{request_id}}}"


def _label_key(request_id: str) -> str:
    return f"sidecar:label:{{{request_id}}}"


def _window_keys(model: str) -> tuple[str, str]:
    return f"sidecar:{{{model}}}:labelled", f"sidecar:{{{model}}}:joined"


_FORMAT = 1  # first element of every stored array; bump when the layout changes


def _encode_prediction(r: PredictionRecord) -> list[Any]:
    # Arrays, not objects: a full window is parsed at once and field names would double its size.
    return [_FORMAT, r.request_id, r.model, r.time, r.predicted, r.probabilities, r.segment, r.client_key, r.confidence]


def _decode_prediction(d: Any) -> PredictionRecord:
    version, request_id, model, t, predicted, probabilities, segment, client_key, confidence = d[:9]
    if version != _FORMAT:
        raise ValueError("unknown record format")
    return PredictionRecord(
        request_id=str(request_id),
        model=str(model),
        time=float(t),
        predicted=predicted if isinstance(predicted, str) else float(predicted),
        probabilities=probabilities,
        segment=segment,
        client_key=str(client_key or ""),
        confidence=confidence,
    )


def _encode_joined(record: PredictionRecord, label: Target, label_time: float) -> str:
    return json.dumps([*_encode_prediction(record), label, label_time], separators=(",", ":"))


def _joined_from(d: Any) -> JoinedRecord | None:
    try:
        label, label_time = d[9], d[10]
        return JoinedRecord(_decode_prediction(d), label if isinstance(label, str) else float(label), float(label_time))
    except (ValueError, KeyError, TypeError, IndexError):
        return None  # written by an incompatible version: skipped rather than fatal


def _decode_window(blobs: Sequence[bytes]) -> list[JoinedRecord]:
    try:
        # One parse of a JSON array is several times faster than one json.loads per entry.
        docs: list[Any] = json.loads(b"[" + b",".join(blobs) + b"]")
    except ValueError:
        docs = []
        for blob in blobs:
            try:
                docs.append(json.loads(blob))
            except ValueError:
                continue  # one bad entry must not hide the window
    records = [j for j in map(_joined_from, docs) if j is not None]
    records.sort(key=lambda j: (j.label_time, j.prediction.request_id))
    return records


class RedisLabelStore:
    """``LabelStore`` in Redis; every call is bounded by ``store.timeout`` and maps redis errors."""

    def __init__(
        self, settings: Settings, *, client: Client | None = None, on_error: Callable[[str], None] | None = None
    ) -> None:
        self._labels = settings.labels
        self._redis = client if client is not None else make_client(settings.store.url, timeout=settings.store.timeout)
        self._calls = Calls(settings.store.timeout)
        self._on_error = on_error

    async def put_predictions(self, records: Sequence[PredictionRecord], *, now: float | None = None) -> None:
        if not records:
            return
        now = time.time() if now is None else now
        horizon_ms = int(self._labels.horizon * 1000)

        async def run() -> None:
            pipe = self._redis.pipeline(transaction=False)
            models: dict[str, float] = {}
            for r in records:
                ttl_ms = horizon_ms - int((now - r.time) * 1000)
                if ttl_ms <= 0:
                    continue  # already past its horizon: nothing could join it
                blob = json.dumps(_encode_prediction(r), separators=(",", ":"))
                pipe.set(_pred_key(r.request_id), blob, px=ttl_ms)
                models[r.model] = now
            if models:
                pipe.zadd(_MODELS_KEY, models)
                pipe.zremrangebyscore(_MODELS_KEY, "-inf", now - self._labels.horizon)
                pipe.zremrangebyrank(_MODELS_KEY, 0, -(MAX_MODELS + 1))
                pipe.pexpire(_MODELS_KEY, horizon_ms)
            await pipe.execute()

        await self._call("put_predictions", run)

    async def put_labels(self, items: Sequence[tuple[str, object]], *, now: float) -> list[LabelOutcome]:
        if not items:
            return []

        async def read() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for request_id, _ in items:
                pipe.get(_pred_key(request_id))
            result: list[Any] = await pipe.execute()
            return result

        stored = await self._call("put_labels", read)
        outcomes: list[LabelOutcome | None] = []
        writes: list[tuple[int, PredictionRecord, Target]] = []
        for index, ((request_id, raw), blob) in enumerate(zip(items, stored, strict=True)):
            outcome, record, label = self._check(request_id, raw, blob, now)
            outcomes.append(outcome)
            if record is not None and label is not None:
                writes.append((index, record, label))
        if writes:
            statuses = await self._call("put_labels", lambda: self._write(writes, now))
            for (index, record, _), status in zip(writes, statuses, strict=True):
                outcomes[index] = LabelOutcome(record.request_id, status, record.model)
        return [o for o in outcomes if o is not None]

    def _check(
        self, request_id: str, raw: object, blob: bytes | None, now: float
    ) -> tuple[LabelOutcome | None, PredictionRecord | None, Target | None]:
        if blob is None:
            return LabelOutcome(request_id, "unknown_id"), None, None
        try:
            record = _decode_prediction(json.loads(blob))
        except (ValueError, KeyError, TypeError, IndexError):
            return LabelOutcome(request_id, "unknown_id"), None, None
        if now - record.time > self._labels.horizon:
            return LabelOutcome(request_id, "expired", record.model), None, None
        label = coerce_label(record, raw)
        if label is None:
            return LabelOutcome(request_id, "wrong_type", record.model), None, None
        return None, record, label

    async def _write(self, writes: Sequence[tuple[int, PredictionRecord, Target]], now: float) -> list[LabelStatus]:
        pipe = self._redis.pipeline(transaction=False)
        per_model: dict[str, list[str | float]] = {}
        for _, record, label in writes:
            pipe.eval(_SET_LABEL, 2, _pred_key(record.request_id), _label_key(record.request_id), json.dumps(label))
            per_model.setdefault(record.model, []).extend([record.request_id, now, _encode_joined(record, label, now)])
        ttl_ms = int(self._labels.horizon * 1000)
        for model, args in per_model.items():
            pipe.eval(_ADD_JOINED, 2, *_window_keys(model), self._labels.window, ttl_ms, *args)
        results = await pipe.execute()
        codes = results[: len(writes)]
        return ["ok" if code == 1 else "replaced" if code == 0 else "expired" for code in codes]

    async def window(self, model: str) -> list[JoinedRecord]:
        _, joined_key = _window_keys(model)

        # HSCAN in chunks: each round trip stays well inside the store timeout even for a 10k window.
        entries: dict[Any, bytes] = {}
        cursor = 0

        async def scan() -> tuple[int, dict[Any, Any]]:
            next_cursor, chunk = await self._redis.hscan(joined_key, cursor, count=_SCAN_COUNT)
            return int(next_cursor), chunk if isinstance(chunk, dict) else {}

        for _ in range(4 * self._labels.window // _SCAN_COUNT + 16):  # bounded; HSCAN ends far sooner
            cursor, chunk = await self._call("window", scan)
            entries.update((k, v) for k, v in chunk.items() if isinstance(v, bytes))  # keys dedupe rescans
            if cursor == 0:
                break
        blobs = list(entries.values())
        # Decoding a full window (10k JSON documents) takes milliseconds: keep it off the event loop.
        records = await asyncio.to_thread(_decode_window, blobs) if len(blobs) > 256 else _decode_window(blobs)
        return records[-self._labels.window :]

    async def models(self) -> list[str]:
        since = time.time() - self._labels.horizon

        async def read() -> list[str]:
            names = await self._redis.zrangebyscore(_MODELS_KEY, since, "+inf")
            return [n.decode() for n in names if isinstance(n, bytes)]

        return sorted(await self._call("models", read))

    def health(self) -> LabelStoreHealth:
        calls = self._calls
        return LabelStoreHealth(
            backend="redis",
            healthy=calls.healthy or not calls.errors,  # healthy until a call has failed
            errors=sum(calls.errors.values()),
            last_error=calls.last_error or "",
        )

    async def close(self) -> None:
        await self._redis.aclose()

    async def _call(self, op: str, fn: Callable[[], Awaitable[T]]) -> T:
        """One bounded Redis call; failures become StoreUnavailable/StoreError (in redis_client)."""
        try:
            return await self._calls.run(f"labels.{op}", fn)
        except StoreError:
            if self._on_error is not None:
                self._on_error(op)
            raise
