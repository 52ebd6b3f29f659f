"""Reads a model's window (or a frozen epoch) back from Redis into a Profile (store layer)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import StoreError
from ..sketches.profile import FeatureKey, Profile
from . import redis_keys as keys
from .redis_client import Calls, Client, describe
from .redis_codec import decode_categorical, decode_moments, decode_numeric
from .redis_keys import MOMENTS, Token


async def read_window(
    client: Client,
    calls: Calls,
    model: str,
    tokens: Mapping[FeatureKey, Token],
    kinds: Mapping[FeatureKey, str],
    buckets: Sequence[int],
    top_k: int,
    vocabularies: Mapping[FeatureKey, frozenset[str] | None],
) -> Profile:
    """Sum ``buckets`` of every feature at its token's epoch, in one pipelined round trip."""
    pipe = client.pipeline(transaction=False)
    plan: list[tuple[FeatureKey, Token, int]] = []
    for key, token in sorted(tokens.items()):
        if key != MOMENTS and key not in kinds:
            continue
        for bucket in buckets:
            pipe.hgetall(keys.bucket_key(model, key, token.epoch, bucket))
        commands = len(buckets)
        if kinds.get(key) == "categorical":
            pipe.pfcount(*(keys.hll_key(model, key, token.epoch, b) for b in buckets))
            commands += 1
        plan.append((key, token, commands))
    results: list[Any] = await calls.run("current", lambda: pipe.execute(raise_on_error=False)) if plan else []
    profile = Profile(model)
    pos = 0
    for key, token, commands in plan:
        chunk = results[pos : pos + commands]
        pos += commands
        for result in chunk:
            if isinstance(result, Exception):
                calls.count("current", result)
                raise StoreError(f"redis current: {describe(result)}")
        hashes = chunk[: len(buckets)]
        if key == MOMENTS:
            rows = decode_moments(token.basis(), hashes)
            profile.n, profile.start, profile.end = rows.n, rows.start, rows.end
            profile.moments = rows.moments
        elif kinds[key] == "categorical":
            cat = decode_categorical(top_k, vocabularies.get(key), hashes, float(chunk[-1]))
            if cat is not None:
                profile.categorical[key] = cat
                profile.kinds[key] = "categorical"
        else:
            scale = token.scale()
            sketch = None if scale is None else decode_numeric(scale, hashes)
            if sketch is not None:
                profile.numeric[key] = sketch
                profile.kinds[key] = kinds[key]
    return profile
