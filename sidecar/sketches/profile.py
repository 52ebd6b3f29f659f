"""Profile: one model's sketches over a time range, and its JSON file format (pure).

A ``Profile`` is what a window, a frozen reference and ``sidecar profile`` all produce.  The file
format (``to_json``) is a JSON object::

    {"format": "model-sidecar/profile", "format_version": 1, "model": "m", "n": 5000,
     "source": "profile", "version": 0, "created": 1.7e9, "start": 1.7e9, "end": 1.7e9,
     "features": [{"role": "input", "name": "age", "kind": "numeric",
                   "sketch": "numeric", "data": "<base64 of NumericSketch.to_bytes()>"}, ...],
     "moments": "<base64 of Moments.to_bytes()>" | null}
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProfileError
from .categorical import CategoricalSketch
from .moments import Moments
from .numeric import NumericSketch

FeatureKey = tuple[str, str]  # (role, name), role "input" | "output"

FORMAT = "model-sidecar/profile"
FORMAT_VERSION = 1
ROLES = ("input", "output")
KINDS = ("numeric", "categorical", "text")
MAX_PROFILE_FEATURES = 10_000  # same ceiling as capture.max_features


@dataclass(slots=True)
class Profile:
    """A window's or reference's picture of one model (mutable only while being built)."""

    model: str
    n: int = 0
    numeric: dict[FeatureKey, NumericSketch] = field(default_factory=dict)
    categorical: dict[FeatureKey, CategoricalSketch] = field(default_factory=dict)
    kinds: dict[FeatureKey, str] = field(default_factory=dict)
    moments: Moments | None = None
    source: str = "window"
    version: int = 0
    created: float = 0.0
    start: float = 0.0
    end: float = 0.0

    def features(self) -> list[FeatureKey]:
        return sorted(self.kinds)

    def scales(self) -> dict[FeatureKey, tuple[float, float]]:
        """(centre, scale) of every numeric feature: what later windows must be built on."""
        return {key: (s.centre, s.scale) for key, s in self.numeric.items()}

    def vocabularies(self, top_k: int | None = None) -> dict[FeatureKey, frozenset[str]]:
        """Each categorical feature's top-K categories: the vocabulary later windows count unseen against."""
        return {key: frozenset(s.top(top_k)) for key, s in self.categorical.items()}

    def merge(self, other: Profile) -> Profile:
        """A new profile holding both (sketches merged per feature); raises ValueError on mismatch."""
        if other.model != self.model:
            raise ValueError(f"cannot merge profiles of models {self.model!r} and {other.model!r}")
        numeric = {key: sketch.copy() for key, sketch in self.numeric.items()}
        for key, sketch in other.numeric.items():
            numeric[key] = numeric[key].merge(sketch) if key in numeric else sketch.copy()
        categorical = {key: _copy_cat(cat) for key, cat in self.categorical.items()}
        for key, cat in other.categorical.items():
            categorical[key] = categorical[key].merge(cat) if key in categorical else _copy_cat(cat)
        kinds = {**other.kinds, **self.kinds}
        moments = self.moments
        theirs = other.moments
        if moments is not None and theirs is not None and moments.names == theirs.names:
            theirs = theirs.reshifted(moments.shift)  # same features about another shift: exact
        if moments is None or (theirs is not None and not moments.compatible(theirs)):
            # Moments over different feature sets cannot be added: keep the better-populated side.
            if theirs is not None and (moments is None or theirs.n > moments.n):
                moments = theirs
        elif theirs is not None:
            moments = moments.merge(theirs)
        if moments is not None and (moments is self.moments or moments is theirs):
            moments = moments.merge(moments.empty_like())  # never alias an input's moments
        spans = [p for p in (self, other) if p.n or p.start or p.end]
        return Profile(
            model=self.model,
            n=self.n + other.n,
            numeric=numeric,
            categorical=categorical,
            kinds=kinds,
            moments=moments,
            source=self.source,
            version=self.version,
            created=max(self.created, other.created),
            start=min((p.start for p in spans), default=0.0),
            end=max((p.end for p in spans), default=0.0),
        )

    # ------------------------------------------------------------------ file format

    def to_json(self) -> dict[str, Any]:
        features: list[dict[str, Any]] = []
        for key in sorted(self.kinds):
            role, name = key
            if key in self.numeric:
                sketch, data = "numeric", self.numeric[key].to_bytes()
            elif key in self.categorical:
                sketch, data = "categorical", self.categorical[key].to_bytes()
            else:
                continue
            features.append({"role": role, "name": name, "kind": self.kinds[key], "sketch": sketch, "data": _b64(data)})
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "n": self.n,
            "source": self.source,
            "version": self.version,
            "created": self.created,
            "start": self.start,
            "end": self.end,
            "features": features,
            "moments": None if self.moments is None else _b64(self.moments.to_bytes()),
        }

    @classmethod
    def from_json(cls, data: Any, *, max_features: int = MAX_PROFILE_FEATURES) -> Profile:
        """Parse and validate a profile file; raises ProfileError naming what is wrong."""
        if not isinstance(data, Mapping):
            raise ProfileError("profile must be a JSON object")
        if data.get("format") != FORMAT:
            raise ProfileError(f"not a model-sidecar profile (format is {data.get('format')!r}, expected {FORMAT!r})")
        if data.get("format_version") != FORMAT_VERSION:
            raise ProfileError(f"unsupported profile format_version {data.get('format_version')!r}")
        model = data.get("model")
        if not isinstance(model, str) or not model:
            raise ProfileError("profile 'model' must be a non-empty string")
        raw_features = data.get("features")
        if not isinstance(raw_features, list):
            raise ProfileError("profile 'features' must be a list")
        if len(raw_features) > max_features:
            raise ProfileError(f"profile has {len(raw_features)} features, more than the cap of {max_features}")
        source = data.get("source", "profile")
        if source not in ("window", "profile"):
            raise ProfileError(f"profile 'source' must be 'window' or 'profile', got {source!r}")
        out = cls(
            model=model,
            n=_count(data, "n"),
            source=source,
            version=_count(data, "version"),
            created=_time(data, "created"),
            start=_time(data, "start"),
            end=_time(data, "end"),
        )
        for index, item in enumerate(raw_features):
            _read_feature(out, index, item)
        moments = data.get("moments")
        if moments is not None:
            try:
                out.moments = Moments.from_bytes(_unb64(moments, "moments"))
            except ValueError as exc:
                raise ProfileError(f"profile moments: {exc}") from exc
        return out


def _read_feature(out: Profile, index: int, item: Any) -> None:
    where = f"profile feature #{index}"
    if not isinstance(item, Mapping):
        raise ProfileError(f"{where} must be an object")
    role, name, kind, sketch = item.get("role"), item.get("name"), item.get("kind"), item.get("sketch")
    if role not in ROLES:
        raise ProfileError(f"{where}: role must be 'input' or 'output', got {role!r}")
    if not isinstance(name, str) or not name:
        raise ProfileError(f"{where}: name must be a non-empty string")
    where = f"profile feature {role}:{name}"
    if kind not in KINDS:
        raise ProfileError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    key = (role, name)
    if key in out.kinds:
        raise ProfileError(f"{where}: appears twice")
    expected = "categorical" if kind == "categorical" else "numeric"
    if sketch != expected:
        raise ProfileError(f"{where}: kind {kind!r} needs a {expected} sketch, got {sketch!r}")
    blob = _unb64(item.get("data"), where)
    try:
        if expected == "numeric":
            out.numeric[key] = NumericSketch.from_bytes(blob)
        else:
            out.categorical[key] = CategoricalSketch.from_bytes(blob)
    except ValueError as exc:
        raise ProfileError(f"{where}: {exc}") from exc
    out.kinds[key] = kind


def _count(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProfileError(f"profile {name!r} must be a non-negative integer, got {value!r}")
    return value


def _time(data: Mapping[str, Any], name: str) -> float:
    value = data.get(name, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(f"profile {name!r} must be a finite number, got {value!r}")
    return float(value)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise ProfileError(f"{where}: data must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProfileError(f"{where}: data is not valid base64") from exc


def _copy_cat(sketch: CategoricalSketch) -> CategoricalSketch:
    return sketch.merge(sketch.with_vocabulary(sketch.vocabulary))


from .builder import ProfileBuilder  # noqa: E402  (re-exported: the builder needs Profile defined first)

__all__ = ["FORMAT", "FORMAT_VERSION", "FeatureKey", "Profile", "ProfileBuilder"]
