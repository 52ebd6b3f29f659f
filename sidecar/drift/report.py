"""``DriftResult`` → the ``GET /v1/drift`` JSON shape of DESIGN.md (pure core).

``effect_size`` is W/σ (numeric) or the JS distance (categorical); ``effect_corrected`` is the same
with its sampling-noise floor removed, the value the drift gate compares with its threshold.
``p_value`` is the Holm-adjusted p-value (also given as ``p_value_adjusted``; the uncorrected one is
``p_value_raw``). Non-finite numbers become ``null`` so the output is strict JSON. A feature that got
no verdict carries a ``reason``: ``no_reference_values`` / ``no_current_values`` (absent, or all
missing, on that side), ``kind_changed`` (numeric on one side, categorical on the other) or
``too_few_samples`` (below ``min_samples``). With no reference at all, ``reference.source`` is
``"none"``, ``features`` is empty and a top-level ``reason`` says so. ``multivariate`` (null when
there are no moments on both sides) is Hotelling's T² of the window mean against the reference
mean and covariance: ``statistic`` T², ``p_value`` (Holm-adjusted in the same family), ``distance``
the noise-corrected Mahalanobis distance of the means (gated with ``wasserstein_threshold``), ``dof``.
"""

from __future__ import annotations

import math
from typing import Any

from ..models import DriftResult, FeatureDrift
from .evaluate import NO_METHOD

_EXTRA_KEYS = (
    "psi",
    "js",
    "psi_corrected",
    "wasserstein_sigma",
    "effect_corrected",
    "p_value_raw",
    "p_value_adjusted",
    "missing_rate_reference",
    "missing_rate_current",
)


def to_json(result: DriftResult) -> dict[str, Any]:
    """The JSON-ready dict for one evaluation (no NaN/Inf anywhere)."""
    body: dict[str, Any] = {
        "model": result.model,
        "drifted": bool(result.drifted),
        "reference": {"n": int(result.reference_n), "source": result.reference_source},
        "current": {"n": int(result.current_n), "window_seconds": _num(result.window_seconds)},
        "features": [_feature(f) for f in result.features],
        "multivariate": _multivariate(result.multivariate),
    }
    if result.reference_source == "none":
        body["reason"] = "no reference profile: POST /v1/reference first"
    return body


def _feature(f: FeatureDrift) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": f.name,
        "kind": f.kind,
        "role": f.role,
        "method": f.method,
        "statistic": _num(f.statistic),
        "p_value": _num(f.p_value),
        "effect_size": _num(f.effect_size),
        "drifted": bool(f.drifted),
        "n_reference": int(f.n_reference),
        "n_current": int(f.n_current),
    }
    for key in _EXTRA_KEYS:
        if key in f.extra:
            item[key] = _num(f.extra[key])
    reason = _reason(f)
    if reason:
        item["reason"] = reason
    return item


def _reason(f: FeatureDrift) -> str:
    if f.n_reference == 0:
        return "no_reference_values"
    if f.n_current == 0:
        return "no_current_values"
    if f.method == NO_METHOD:
        return "kind_changed"
    if math.isnan(f.extra.get("p_value_adjusted", math.nan)):
        return "too_few_samples"
    return ""


def _multivariate(multi: dict[str, float] | None) -> dict[str, Any] | None:
    if not multi:
        return None
    out: dict[str, Any] = {
        "method": "hotelling_t2",
        "statistic": _num(multi.get("statistic", math.nan)),
        "p_value": _num(multi.get("p_value", math.nan)),
        "p_value_raw": _num(multi.get("p_value_raw", math.nan)),
        "distance": _num(multi.get("distance", math.nan)),
        "dof": int(multi.get("dof", 0)),
        "features": int(multi.get("features", 0)),
        "drifted": bool(multi.get("drifted", 0.0)),
    }
    return out


def _num(value: float) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None
