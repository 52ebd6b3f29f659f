"""Plot-ready reference-vs-current distributions from two profiles (pure).

Numeric features are rebinned onto one set of edges spanning both sides (from the reference's
0.5–99.5% quantiles, widened to the current's), masses from CDF differences; categorical features
as shares per category.  Only bucket masses leave: no raw values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..sketches.profile import Profile

MAX_BINS = 60


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _numeric(ref: Any, cur: Any, bins: int) -> dict[str, Any] | None:
    sides = [s for s in (ref, cur) if s is not None and s.count > 0]
    if not sides:
        return None
    lo = min(s.quantile(0.005) for s in sides)
    hi = max(s.quantile(0.995) for s in sides)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if hi <= lo:
        hi = lo + max(abs(lo) * 1e-3, 1e-9)
    edges = np.linspace(lo, hi, bins + 1)

    def masses(sketch: Any) -> list[float] | None:
        if sketch is None or sketch.count == 0:
            return None
        cdf = np.asarray(sketch.cdf(edges), dtype=float)
        mass = np.diff(cdf)
        mass[0] += cdf[0]  # everything below the first edge
        mass[-1] += 1.0 - cdf[-1]
        return [round(float(m), 6) for m in np.clip(mass, 0.0, 1.0)]

    return {
        "edges": [float(e) for e in edges],
        "reference": masses(ref),
        "current": masses(cur),
        "reference_n": int(ref.count) if ref is not None else 0,
        "current_n": int(cur.count) if cur is not None else 0,
        "reference_mean": _finite(ref.mean) if ref is not None and ref.count else None,
        "current_mean": _finite(cur.mean) if cur is not None and cur.count else None,
    }


def _categorical(ref: Any, cur: Any) -> dict[str, Any] | None:
    ref_f = ref.frequencies() if ref is not None else {}
    cur_f = cur.frequencies() if cur is not None else {}
    ref_n, cur_n = sum(ref_f.values()), sum(cur_f.values())
    if not ref_n and not cur_n:
        return None
    categories = sorted(
        set(ref_f) | set(cur_f), key=lambda c: -(ref_f.get(c, 0) / max(ref_n, 1) + cur_f.get(c, 0) / max(cur_n, 1))
    )[:20]
    return {
        "categories": categories,
        "reference": [round(ref_f.get(c, 0) / ref_n, 6) for c in categories] if ref_n else None,
        "current": [round(cur_f.get(c, 0) / cur_n, 6) for c in categories] if cur_n else None,
        "reference_n": ref_n,
        "current_n": cur_n,
    }


def distributions(reference: Profile | None, current: Profile, *, bins: int = 30) -> list[dict[str, Any]]:
    bins = max(2, min(MAX_BINS, bins))
    out: list[dict[str, Any]] = []
    keys = dict.fromkeys([*(reference.kinds if reference else {}), *current.kinds])
    for key in keys:
        role, name = key
        kind = (reference.kinds.get(key) if reference else None) or current.kinds.get(key, "numeric")
        ref_num = reference.numeric.get(key) if reference else None
        cur_num = current.numeric.get(key)
        if ref_num is not None or cur_num is not None:
            data = _numeric(ref_num, cur_num, bins)
            shape = "histogram"
        else:
            ref_cat = reference.categorical.get(key) if reference else None
            data = _categorical(ref_cat, current.categorical.get(key))
            shape = "bars"
        if data is not None:
            out.append({"name": name, "role": role, "kind": kind, "shape": shape, **data})
    return out
