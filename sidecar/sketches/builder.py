"""ProfileBuilder: pure accumulation of FeatureRecords (or whole columns) into a Profile.

Standardization.  A numeric feature's sketch needs a frozen centre/scale.  When none is known (no
reference yet) the first ``warmup`` finite values are held in a reservoir; once it is full, centre and
scale are decided (``decide_scale``) and the reservoir is replayed into the sketch, so nothing is
lost.  ``build(decide=True)`` decides early for features still warming up (a freeze, the end of a
file).  Scales given at construction (from a reference, or shared by other replicas) are used as is;
``set_scale`` adopts a scale decided elsewhere (replaying the reservoir exactly, or re-binning an
existing sketch approximately).

Bounds: at most ``max_features`` features per model (values of later features are dropped and
counted in ``dropped_features``); reservoirs hold ``warmup`` values; buffers flush every 256 values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from ..models import FeatureRecord, FeatureValue
from .categorical import CategoricalSketch
from .moments import MAX_MOMENT_FEATURES, Moments
from .numeric import NumericSketch, decide_scale
from .profile import FeatureKey, Profile

_BUFFER = 256  # values buffered per feature before a vectorised sketch update
_MOMENT_WARMUP_ROWS = 256  # rows held until the moments' feature set is fixed
_CLOSE_MIN_VALUES = 32  # values a feature needs before a closing bucket decides its scale
_NUMERIC_KINDS = ("numeric", "text")

MomentsBasis = tuple[tuple[str, ...], Sequence[float]]


class _Tally:
    """Non-finite / non-numeric observations of a feature still warming up."""

    __slots__ = ("invalid", "missing", "nan", "neg_inf", "pos_inf")

    def __init__(self) -> None:
        self.missing = self.nan = self.pos_inf = self.neg_inf = self.invalid = 0


class ProfileBuilder:
    def __init__(
        self,
        model: str,
        *,
        scales: Mapping[FeatureKey, tuple[float, float]] | None = None,
        top_k: int = 50,
        max_features: int = 256,
        vocabularies: Mapping[FeatureKey, frozenset[str]] | None = None,
        kinds: Mapping[FeatureKey, str] | None = None,
        moments_basis: MomentsBasis | None = None,
        warmup: int = 512,
        relative_accuracy: float = 0.01,
        distinct_cap: int = 0,
    ) -> None:
        self.model = model
        # > 0: also keep up to this many distinct values per categorical feature until take_distinct()
        # (a store that counts distinct values itself, e.g. Redis PFADD, needs the values).
        self.distinct_cap = distinct_cap
        self._distinct: dict[FeatureKey, set[str]] = {}
        self.top_k = top_k
        self.max_features = max_features
        self.warmup = max(warmup, 1)
        self.relative_accuracy = relative_accuracy
        # feature values dropped: the model already had max_features features (or extraction cut them)
        self.dropped_features = 0
        self._scales: dict[FeatureKey, tuple[float, float]] = dict(scales or {})
        self._vocab: dict[FeatureKey, frozenset[str]] = dict(vocabularies or {})
        self._kinds: dict[FeatureKey, str] = dict(kinds or {})
        for key in self._scales:
            self._kinds.setdefault(key, "numeric")  # a known scale means a numeric feature
        self._reservoir: dict[FeatureKey, list[float]] = {}
        self._tally: dict[FeatureKey, _Tally] = {}
        self._unknown: dict[FeatureKey, int] = {}  # features seen only missing so far → missing count
        self._basis: tuple[tuple[str, ...], npt.NDArray[np.float64]] | None = None
        if moments_basis is not None:
            self._basis = (tuple(moments_basis[0]), np.asarray(moments_basis[1], dtype=np.float64))
        self._row_reservoir: list[dict[str, float]] = []
        self._reset_accumulators()

    def _reset_accumulators(self) -> None:
        self.n = 0
        self.start = math.inf
        self.end = -math.inf
        self._numeric: dict[FeatureKey, NumericSketch] = {}
        self._categorical: dict[FeatureKey, CategoricalSketch] = {}
        self._num_buf: dict[FeatureKey, list[float | None]] = {}
        self._cat_buf: dict[FeatureKey, list[str | None]] = {}
        self._moments = None if self._basis is None else Moments(*self._basis)
        self._moment_rows: list[list[float]] = []

    @classmethod
    def for_reference(
        cls, reference: Profile, *, top_k: int, max_features: int, warmup: int = 512, distinct_cap: int = 0
    ) -> ProfileBuilder:
        """A builder whose windows are comparable with ``reference`` (its scales, vocabularies, basis)."""
        basis = None if reference.moments is None else (reference.moments.names, reference.moments.shift.tolist())
        return cls(
            reference.model,
            scales=reference.scales(),
            top_k=top_k,
            max_features=max_features,
            vocabularies=reference.vocabularies(top_k),
            kinds=reference.kinds,
            moments_basis=basis,
            warmup=warmup,
            distinct_cap=distinct_cap,
        )

    # ------------------------------------------------------------------ state other parts read

    @property
    def scales(self) -> dict[FeatureKey, tuple[float, float]]:
        return dict(self._scales)

    @property
    def kinds(self) -> dict[FeatureKey, str]:
        return dict(self._kinds)

    @property
    def feature_count(self) -> int:
        return len(self._kinds)

    @property
    def moments_basis(self) -> MomentsBasis | None:
        return None if self._basis is None else (self._basis[0], self._basis[1].tolist())

    def warming_up(self) -> list[FeatureKey]:
        """Numeric features whose scale is not decided yet."""
        return [k for k, kind in self._kinds.items() if kind in _NUMERIC_KINDS and k not in self._scales]

    def approx_bytes(self) -> int:
        """A rough size of what this builder holds (for backlog bounds)."""
        size = 8 * sum(len(r) for r in self._reservoir.values()) + 8 * len(self._row_reservoir) * 16
        size += sum(16 * len(s.bins) + 200 for s in self._numeric.values())
        size += sum(48 * len(s.counts) + 2300 for s in self._categorical.values())
        size += sum(8 * len(b) for b in self._num_buf.values()) + sum(48 * len(b) for b in self._cat_buf.values())
        return size

    # ------------------------------------------------------------------ accumulation

    def add(self, records: Sequence[FeatureRecord]) -> None:
        for record in records:
            self.n += 1
            self.dropped_features += record.dropped_features  # cut at extraction by the same cap
            self.start = min(self.start, record.time)
            self.end = max(self.end, record.time)
            kinds, hints = self._kinds, record.kinds
            for role, values in (("input", record.inputs), ("output", record.outputs)):
                for name, value in values.items():
                    key = (role, name)
                    kind = kinds.get(key) or self._kind_of(key, value, hints.get(name))
                    if kind is None:
                        continue
                    if kind != "categorical" and type(value) is float and key in self._num_buf:
                        buf = self._num_buf[key]  # the common case, kept short: a float for a decided feature
                        buf.append(value)
                        if len(buf) >= _BUFFER:
                            self._flush_numeric(key)
                    else:
                        self._add_value(key, kind, value)
            if self._moments is not None or len(self._row_reservoir) < _MOMENT_WARMUP_ROWS:
                self._add_moment_row(record.inputs)

    def _kind_of(self, key: FeatureKey, value: FeatureValue, hint: str | None) -> str | None:
        """The feature's kind, fixed by its first hint or non-missing value; None = not (yet) tracked."""
        kind = self._kinds.get(key)
        if kind is not None:
            return kind
        known = key in self._unknown
        if not known and len(self._kinds) + len(self._unknown) >= self.max_features:
            self.dropped_features += 1
            return None
        if hint not in ("numeric", "categorical", "text"):
            if value is None:
                # A missing value says nothing about the kind: wait for a real one, keep the count.
                self._unknown[key] = self._unknown.get(key, 0) + 1
                return None
            hint = "categorical" if isinstance(value, str) else "numeric"
        self._kinds[key] = hint
        missing = self._unknown.pop(key, 0)
        if missing:
            if hint == "categorical":
                self._cat(key).missing += missing
            elif key in self._scales:
                self._sketch(key).missing += missing
            else:
                self._tally.setdefault(key, _Tally()).missing += missing
        return hint

    def _add_value(self, key: FeatureKey, kind: str, value: FeatureValue) -> None:
        if kind == "categorical":
            buf = self._cat_buf.setdefault(key, [])
            label = None if value is None else _label(value)
            buf.append(label)
            if self.distinct_cap and label is not None:
                seen = self._distinct.setdefault(key, set())
                if len(seen) < self.distinct_cap:
                    seen.add(label)
            if len(buf) >= _BUFFER:
                self._flush_categorical(key)
        elif key not in self._scales:
            self._warm(key, value)
        else:
            nbuf = self._num_buf.setdefault(key, [])
            if isinstance(value, str):
                self._sketch(key).invalid += 1
                return
            nbuf.append(None if value is None else float(value))
            if len(nbuf) >= _BUFFER:
                self._flush_numeric(key)

    def _warm(self, key: FeatureKey, value: FeatureValue) -> None:
        tally = self._tally.setdefault(key, _Tally())
        if value is None:
            tally.missing += 1
        elif isinstance(value, str):
            tally.invalid += 1
        elif math.isnan(value):
            tally.nan += 1
        elif value == math.inf:
            tally.pos_inf += 1
        elif value == -math.inf:
            tally.neg_inf += 1
        else:
            reservoir = self._reservoir.setdefault(key, [])
            reservoir.append(float(value))
            if len(reservoir) >= self.warmup:
                self.set_scale(key, *decide_scale(reservoir))

    def add_numeric(
        self, key: FeatureKey, values: npt.NDArray[np.float64], *, kind: str = "numeric", missing: int = 0
    ) -> None:
        """Vectorised: a column of floats (NaN/±Inf allowed) plus a count of missing values."""
        if self._kind_of(key, 0.0, kind) is None:
            return
        arr = np.asarray(values, dtype=np.float64)
        if key not in self._scales:
            finite_mask = np.isfinite(arr)
            finite = arr[finite_mask]
            reservoir = self._reservoir.setdefault(key, [])
            take = max(self.warmup - len(reservoir), 0)
            reservoir.extend(finite[:take].tolist())
            tally = self._tally.setdefault(key, _Tally())
            bad = arr[~finite_mask]
            tally.nan += int(np.isnan(bad).sum())
            tally.pos_inf += int((bad == math.inf).sum())
            tally.neg_inf += int((bad == -math.inf).sum())
            tally.missing += missing
            if len(reservoir) < self.warmup:
                return
            self.set_scale(key, *decide_scale(reservoir))  # replays the reservoir and the tally
            arr, missing = finite[take:], 0
        sketch = self._sketch(key)
        sketch.update(arr)
        sketch.missing += missing

    def add_categorical(self, key: FeatureKey, counts: Mapping[str, int], *, missing: int = 0) -> None:
        """Vectorised: pre-counted categories of a column."""
        if self._kind_of(key, "", "categorical") is None:
            return
        cat = self._cat(key)
        vocab = cat.vocabulary
        unseen = 0 if vocab is None else sum(n for c, n in counts.items() if c not in vocab)
        cat.add_counts(dict(counts), unseen=unseen, missing=missing)

    def add_rows(self, n: int, start: float, end: float) -> None:
        """Vectorised: count ``n`` rows covering [start, end] (columns are added separately)."""
        self.n += n
        self.start, self.end = min(self.start, start), max(self.end, end)

    def add_moment_rows(self, names: Sequence[str], rows: npt.NDArray[np.float64]) -> None:
        """Vectorised: a matrix of numeric inputs (columns named by ``names``) for the moments."""
        index = {c: i for i, c in enumerate(names)}
        if self._basis is None:
            picked = sorted(names)[:MAX_MOMENT_FEATURES]
            shift = []
            for name in picked:
                known = self._scales.get(("input", name))
                column = rows[:, index[name]]
                shift.append(known[0] if known else decide_scale(column)[0])
            self.set_moments_basis(tuple(picked), shift)
        assert self._moments is not None
        cols = [index.get(c) for c in self._moments.names]
        if all(c is not None for c in cols):
            self._moments.update(rows[:, [c for c in cols if c is not None]])

    def _add_moment_row(self, inputs: Mapping[str, FeatureValue]) -> None:
        if self._moments is None:
            row = {
                k: _num(v)
                for k, v in inputs.items()
                if _is_number(v) and self._kinds.get(("input", k)) in _NUMERIC_KINDS
            }
            self._row_reservoir.append(row)
            if len(self._row_reservoir) >= _MOMENT_WARMUP_ROWS:
                self._decide_basis()
            return
        names = self._basis[0] if self._basis else ()
        picked = [inputs.get(name) for name in names]
        self._moment_rows.append([v if type(v) is float else _num(v) for v in picked])
        if len(self._moment_rows) >= _BUFFER:
            self._flush_moments()

    def _decide_basis(self) -> None:
        seen: dict[str, list[float]] = {}
        for row in self._row_reservoir:
            for name, v in row.items():
                seen.setdefault(name, []).append(v)
        # The most often present numeric inputs, then by name: complete rows are what moments count.
        names = sorted(seen, key=lambda c: (-len(seen[c]), c))[:MAX_MOMENT_FEATURES]
        names.sort()
        shift = [self._scales.get(("input", c), decide_scale(seen[c]))[0] for c in names]
        self.set_moments_basis(tuple(names), shift)

    def set_moments_basis(self, names: tuple[str, ...], shift: Sequence[float]) -> None:
        """Fix the moments' feature set (decided here, by a reference, or by another replica)."""
        rows, self._row_reservoir = self._row_reservoir, []
        previous = self._moments
        self._flush_moments()
        self._basis = (tuple(names), np.asarray(shift, dtype=np.float64))
        self._moments = Moments(*self._basis)
        if previous is not None and previous.names == self._basis[0]:
            self._moments = previous.reshifted(self._basis[1])  # same features: keep what was counted
        self._moment_rows = [[row.get(name, math.nan) for name in names] for row in rows]
        self._flush_moments()

    # ------------------------------------------------------------------ scales

    def set_scale(self, key: FeatureKey, centre: float, scale: float) -> None:
        """Adopt a centre/scale for a numeric feature; replays its reservoir (exact) or re-bins (approximate)."""
        self._scales[key] = (centre, scale)
        self._kinds.setdefault(key, "numeric")
        self._flush_numeric(key)
        old = self._numeric.get(key)
        if old is not None and (old.centre, old.scale) != (centre, scale):
            self._numeric[key] = old.rebinned(centre, scale)
        sketch = self._sketch(key)
        reservoir = self._reservoir.pop(key, [])
        if reservoir:
            sketch.update(np.asarray(reservoir, dtype=np.float64))
        tally = self._tally.pop(key, None)
        if tally is not None:
            sketch.missing += tally.missing
            sketch.nan += tally.nan
            sketch.pos_inf += tally.pos_inf
            sketch.neg_inf += tally.neg_inf
            sketch.invalid += tally.invalid

    def set_vocabulary(self, key: FeatureKey, vocabulary: frozenset[str] | None) -> None:
        """Count unseen values of ``key`` against ``vocabulary`` from the next reset on."""
        if vocabulary is None:
            self._vocab.pop(key, None)
        else:
            self._vocab[key] = vocabulary

    # ------------------------------------------------------------------ output

    def _sketch(self, key: FeatureKey) -> NumericSketch:
        sketch = self._numeric.get(key)
        if sketch is None:
            centre, scale = self._scales[key]
            sketch = self._numeric[key] = NumericSketch(centre, scale, self.relative_accuracy)
        return sketch

    def _cat(self, key: FeatureKey) -> CategoricalSketch:
        cat = self._categorical.get(key)
        if cat is None:
            cat = self._categorical[key] = CategoricalSketch(self.top_k, self._vocab.get(key))
        return cat

    def _flush_numeric(self, key: FeatureKey) -> None:
        buf = self._num_buf.get(key)
        if buf:
            self._sketch(key).update(buf)
            buf.clear()  # kept (empty): its presence marks the feature for add()'s fast path

    def _flush_categorical(self, key: FeatureKey) -> None:
        buf = self._cat_buf.pop(key, None)
        if buf:
            self._cat(key).update(buf)

    def _flush_moments(self) -> None:
        if self._moments is not None and self._moment_rows:
            rows = np.asarray(self._moment_rows, dtype=np.float64).reshape(len(self._moment_rows), self._moments.dim)
            self._moments.update(rows)
        self._moment_rows = []

    def _flush_all(self) -> None:
        for key in list(self._num_buf):
            self._flush_numeric(key)
        for key in list(self._cat_buf):
            self._flush_categorical(key)
        self._flush_moments()

    def build(self, *, decide: bool = False, provisional: bool = True, decide_min: int = 0) -> Profile:
        """A Profile of everything accumulated since the last reset.

        ``decide=True`` fixes the scale of features still warming up (they then become part of every
        later build); otherwise, with ``provisional``, they appear on a scale computed for this build
        only (a preview that cannot be merged with other builds' sketches of the same feature).
        """
        if decide:
            for key in self.warming_up():
                reservoir = self._reservoir.get(key, [])
                if len(reservoir) >= decide_min:
                    self.set_scale(key, *decide_scale(reservoir))
            if self._moments is None and self._row_reservoir:
                self._decide_basis()
        self._flush_all()
        numeric = {k: s.copy() for k, s in self._numeric.items()}
        if provisional:
            for key in self.warming_up():
                preview = NumericSketch(*decide_scale(self._reservoir.get(key, [])), self.relative_accuracy)
                preview.update(np.asarray(self._reservoir.get(key, []), dtype=np.float64))
                tally = self._tally.get(key, _Tally())
                preview.missing, preview.nan, preview.invalid = tally.missing, tally.nan, tally.invalid
                preview.pos_inf, preview.neg_inf = tally.pos_inf, tally.neg_inf
                numeric[key] = preview
        categorical = {k: c.merge(c.with_vocabulary(c.vocabulary)) for k, c in self._categorical.items()}
        kinds = {k: v for k, v in self._kinds.items() if k in numeric or k in categorical}
        moments = None if self._moments is None else self._moments.merge(self._moments.empty_like())
        has_rows = self.n > 0
        return Profile(
            model=self.model,
            n=self.n,
            numeric=numeric,
            categorical=categorical,
            kinds=kinds,
            moments=moments,
            source="window",
            start=self.start if has_rows else 0.0,
            end=self.end if has_rows else 0.0,
        )

    def take_distinct(self) -> dict[FeatureKey, set[str]]:
        """The distinct categorical values kept since the last call (see ``distinct_cap``)."""
        out, self._distinct = self._distinct, {}
        return out

    def decide_moments_basis(self) -> None:
        """Fix the moments' feature set now from the rows seen so far (if not fixed yet)."""
        if self._basis is None:
            self._decide_basis()

    def reset(self) -> None:
        """Start a new accumulation; scales, vocabularies, kinds and warm-up reservoirs carry over."""
        self._reset_accumulators()

    def take(self, *, decide: bool = False) -> Profile:
        """``build`` (decided features only, or all with ``decide``) then ``reset``: the delta since the
        last take.  Stores pass ``decide=True`` when a time bucket closes, so warm-up values are counted
        in the bucket they arrived in (the log-bucket mapping hardly depends on the scale's quality);
        a feature with fewer than ``_CLOSE_MIN_VALUES`` values so far keeps warming up instead (its few
        values are then counted in a later bucket) — a scale from two values can be badly off."""
        profile = self.build(decide=decide, provisional=False, decide_min=_CLOSE_MIN_VALUES)
        self.reset()
        return profile


def _label(value: FeatureValue) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 1.0 and 1 are the same category
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _num(value: FeatureValue) -> float:
    return float(value) if _is_number(value) else math.nan  # type: ignore[arg-type]
