"""Alert policy: hysteresis and cooldown so one shift fires once (pure core state machine).

Every condition (one drifting feature, one data-quality violation, one performance metric) has a
key and a tiny state: armed or not, consecutive clean evaluations, time it last fired. A condition
fires when it is active, armed and out of its cooldown; it then disarms and re-arms only after
``hysteresis`` consecutive clean evaluations. ``observe`` groups the features that fire in one drift
evaluation into one alert per model. Alerts name features and numbers only, never payload text.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..models import Alert, DriftResult, FeatureDrift

#: Conditions tracked at most; the least recently observed are forgotten beyond this (memory bound).
MAX_CONDITIONS = 10_000


@dataclass(slots=True)
class _State:
    armed: bool = True
    clean: int = 0
    last_fired: float = -math.inf


class AlertPolicy:
    """Decides which observations become alerts. Not thread-safe; call from one task."""

    def __init__(self, cooldown: float, hysteresis: int, *, max_conditions: int = MAX_CONDITIONS) -> None:
        if cooldown < 0 or hysteresis < 1 or max_conditions < 1:
            raise ValueError("cooldown must be >= 0, hysteresis and max_conditions >= 1")
        self.cooldown = float(cooldown)
        self.hysteresis = int(hysteresis)
        self._max = max_conditions
        self._states: OrderedDict[str, _State] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def observe_condition(self, key: str, active: bool, now: float, make_alert: Callable[[], Alert]) -> Alert | None:
        """Advance condition ``key``; return ``make_alert()`` if it fires now, else None."""
        return make_alert() if self._step(key, active, now) else None

    def observe(self, result: DriftResult, now: float) -> list[Alert]:
        """At most one drift alert for the model, listing the features (and multivariate check) firing now."""
        fired: list[FeatureDrift] = []
        for f in result.features:
            if math.isnan(f.extra.get("p_value_adjusted", math.nan)):
                continue  # no verdict (too few samples, absent): neither a shift nor a clean reading
            if self._step(f"drift\x1f{result.model}\x1f{f.role}\x1f{f.name}", f.drifted, now):
                fired.append(f)
        multi = result.multivariate or {}
        multi_fired = bool(multi) and self._step(
            f"drift\x1f{result.model}\x1f\x1fmultivariate", bool(multi.get("drifted", 0.0)), now
        )
        if not fired and not multi_fired:
            return []
        names = [f.name for f in fired] + (["multivariate"] if multi_fired else [])
        details: dict[str, Any] = {
            "features": [_feature_details(f) for f in fired],
            "still_drifted": sorted(f.name for f in result.features if f.drifted and f not in fired),
            "reference": {"n": result.reference_n, "source": result.reference_source},
            "current": {"n": result.current_n, "window_seconds": result.window_seconds},
        }
        if multi_fired:
            details["multivariate"] = {k: _finite(v) for k, v in multi.items()}
        summary = f"drift in {len(names)} feature(s) of model {result.model}: {', '.join(names[:10])}"
        return [Alert("drift", result.model, now, summary + (" …" if len(names) > 10 else ""), details)]

    def observe_quality(self, model: str, violations: Iterable[Any], now: float) -> list[Alert]:
        """One data-quality alert for the violations (``data_quality.Violation``) that fire now.

        Each call is one full check of the model: a (feature, kind) seen before but absent now
        counts as a clean reading towards re-arming.
        """
        prefix = f"quality\x1f{model}\x1f"
        current = {f"{v.role}/{v.feature}/{v.kind}": v for v in violations}
        known = {key[len(prefix) :] for key in self._states if key.startswith(prefix)}
        fired = []
        for key in sorted(set(current) | known):
            if self._step(f"quality\x1f{model}\x1f{key}", key in current, now) and key in current:
                fired.append(current[key])
        if not fired:
            return []
        details = {
            "violations": [
                {
                    "feature": v.feature,
                    "role": v.role,
                    "kind": v.kind,
                    "value": _finite(v.value),
                    "reference_value": _finite(v.reference_value),
                    "count": int(v.count),
                }
                for v in fired
            ]
        }
        summary = f"{len(fired)} data-quality violation(s) in model {model}: " + ", ".join(
            f"{v.feature} ({v.kind})" for v in fired[:10]
        )
        return [Alert("data_quality", model, now, summary, details)]

    def observe_metric(
        self,
        model: str,
        metric: str,
        value: float,
        now: float,
        *,
        min_score: float = 0.0,
        reference_value: float | None = None,
        max_drop: float = 0.0,
    ) -> Alert | None:
        """Performance alert when ``value`` < ``min_score`` or it fell ``max_drop`` below the reference."""
        if math.isnan(value):
            return None
        below = min_score > 0 and value < min_score
        drop = (reference_value - value) if reference_value is not None else 0.0
        dropped = max_drop > 0 and drop >= max_drop
        why = f"below {min_score:g}" if below else f"dropped {drop:.3g} from {reference_value}"

        def make() -> Alert:
            details = {
                "metric": metric,
                "value": value,
                "min_score": min_score,
                "reference_value": reference_value,
                "max_drop": max_drop,
            }
            return Alert("performance", model, now, f"{metric} of model {model} is {value:.3g} ({why})", details)

        return self.observe_condition(f"performance\x1f{model}\x1f{metric}", below or dropped, now, make)

    def _step(self, key: str, active: bool, now: float) -> bool:
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _State()
            while len(self._states) > self._max:
                self._states.popitem(last=False)
        self._states.move_to_end(key)
        if not active:
            state.clean += 1
            if state.clean >= self.hysteresis:
                state.armed = True
            return False
        state.clean = 0
        if state.armed and now - state.last_fired >= self.cooldown:
            state.armed = False
            state.last_fired = now
            return True
        return False


def _feature_details(f: FeatureDrift) -> dict[str, Any]:
    return {
        "name": f.name,
        "role": f.role,
        "kind": f.kind,
        "method": f.method,
        "statistic": _finite(f.statistic),
        "p_value": _finite(f.p_value),
        "effect_size": _finite(f.effect_size),
        "n_reference": f.n_reference,
        "n_current": f.n_current,
    }


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
