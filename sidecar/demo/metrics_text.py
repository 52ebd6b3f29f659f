"""Reads a quantile estimate out of a Prometheus text histogram (pure; for the demo's live view)."""

from __future__ import annotations

import math
import re

_BUCKET = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)_bucket\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)")
_LE = re.compile(r'le="(?P<le>[^"]+)"')


def histogram_quantile(text: str, metric: str, q: float) -> float | None:
    """Linear interpolation inside the bucket holding the q-quantile, summed over label sets."""
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        match = _BUCKET.match(line)
        if not match or match.group("name") != metric:
            continue
        le = _LE.search(match.group("labels"))
        if not le:
            continue
        bound = math.inf if le.group("le") == "+Inf" else float(le.group("le"))
        buckets[bound] = buckets.get(bound, 0.0) + float(match.group("value"))
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return previous_bound
            span = count - previous_count
            fraction = (rank - previous_count) / span if span > 0 else 0.0
            return previous_bound + (bound - previous_bound) * fraction
        previous_bound, previous_count = bound, count
    return previous_bound
