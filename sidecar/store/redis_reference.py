"""Reference storage and window epochs in Redis (store layer): versioned JSON, rebase of feature tokens."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence

from ..errors import ProfileError, StoreError
from ..sketches.profile import FeatureKey, Profile
from . import redis_keys as keys
from .redis_client import Calls, Client, describe, is_noscript
from .redis_keys import Token

_log = logging.getLogger("sidecar.store")

STATE_TTL = 7 * 24 * 3600  # feature tokens outlive any window; refreshed on every write
REF_TTL = 90 * 24 * 3600  # references: long, refreshed on every store and periodically by the flush
REF_VERSIONS_KEPT = 3


class NoScripts(Exception):
    """Redis does not know the scripts (restarted): load them and retry."""


async def rebase(
    client: Client,
    calls: Calls,
    sha: str,
    model: str,
    targets: Sequence[FeatureKey],
    payloads: Mapping[FeatureKey, str],
) -> tuple[dict[FeatureKey, Token], dict[FeatureKey, Token]]:
    """Move ``targets`` to a new epoch (new payload where given); returns (old, new) tokens.

    After this no replica can add to the old epoch (the apply script checks the token atomically), so
    the old epoch's buckets are final and can be read as the frozen window."""
    pipe = client.pipeline(transaction=False)
    for key in targets:
        pipe.evalsha(sha, 1, keys.state_key(model, key), payloads.get(key, ""), STATE_TTL)
    results = await calls.run("reference", lambda: pipe.execute(raise_on_error=False))
    if any(is_noscript(r) for r in results):
        raise NoScripts()
    old: dict[FeatureKey, Token] = {}
    new: dict[FeatureKey, Token] = {}
    for key, result in zip(targets, results, strict=True):
        if isinstance(result, Exception):
            calls.count("reference", result)
            raise StoreError(f"redis reference: {describe(result)}")
        before, after = result
        if before is not None:
            old[key] = Token.decode(before)
        if after is not None:
            new[key] = Token.decode(after)
    return old, new


async def store_reference(client: Client, calls: Calls, model: str, profile: Profile, now: float) -> int:
    """Store ``profile`` as the model's next reference version (the last few versions are kept)."""
    version = int(await calls.run("reference", lambda: client.incr(keys.ref_seq_key(model))))
    profile.version = version
    profile.created = now
    blob = json.dumps(profile.to_json(), separators=(",", ":"))
    pipe = client.pipeline(transaction=False)
    pipe.set(keys.ref_key(model, version), blob, ex=REF_TTL)
    pipe.set(keys.ref_pointer_key(model), version, ex=REF_TTL)
    pipe.expire(keys.ref_seq_key(model), REF_TTL)
    if version > REF_VERSIONS_KEPT:
        pipe.delete(keys.ref_key(model, version - REF_VERSIONS_KEPT))
    results = await calls.run("reference", lambda: pipe.execute(raise_on_error=False))
    for result in results:
        if isinstance(result, Exception):
            calls.count("reference", result)
            raise StoreError(f"redis reference: {describe(result)}")
    return version


async def load_reference(client: Client, calls: Calls, model: str, version: int) -> Profile | None:
    """The stored reference ``version``; None when it is gone or unreadable (counted, logged)."""
    raw = await calls.run("reference", lambda: client.get(keys.ref_key(model, version)))
    if raw is None:
        return None
    try:
        return Profile.from_json(json.loads(raw))
    except (ValueError, ProfileError) as exc:
        calls.count("reference", exc)
        _log.error("stored reference v%d of model %r is unreadable: %s", version, model, describe(exc))
        return None


def refresh_reference(pipe: object, model: str, version: int) -> None:
    """Queue TTL refreshes of the model's reference keys on a pipeline (called now and then by the flush)."""
    for name in (keys.ref_pointer_key(model), keys.ref_key(model, version), keys.ref_seq_key(model)):
        pipe.expire(name, REF_TTL)  # type: ignore[attr-defined]
