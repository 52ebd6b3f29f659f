"""Per-row anomaly score of tabular inputs against a reference profile (pure, vectorised numpy).

The score is ``-log10`` of a tail probability, the larger of two terms:

* per feature, the two-sided tail of the value under the reference histogram, counting the value's
  own bucket (so repeated values of a discrete feature are not surprising); beyond the reference
  range the normal score grows by one per reference standard deviation (``out_of_range``);
  categories score by the share of categories at most as frequent;
* a Mahalanobis term on the values' normal scores (``z = Φ⁻¹(rank)``) with the reference
  correlation (shrunk towards identity), read against a chi-square tail: rows whose features are
  each ordinary but whose combination is not (``correlation_break``).

The threshold is calibrated at fit time by Monte Carlo in normal-score space: rows drawn from
``N(0, R)`` (the reference copula) plus uniform category p-values, with a fixed seed, and the
threshold set at their ``1 - target_rate`` quantile.  Reference rows cannot be replayed from
sketches; ranks make every marginal normal, so only the copula needs simulating.  Schema breaks
(missing fields, wrong types, NaN/Inf, unexpected fields, closed-vocabulary unseen categories)
flag regardless of the score when the reference saw them at most at the target rate.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import log_ndtr, ndtri

from ..models import FeatureRecord, FeatureValue
from ..sketches.profile import FeatureKey, Profile
from .reasons import Reason, ordered

FloatArray = npt.NDArray[np.float64]

_GRID = 128  # bucket edges kept per feature, chosen evenly in normal-score space
_MIN_COUNT = 20  # a feature seen fewer times in the reference is schema-checked but not scored
_MAX_FEATURES = 256
_VIOLATION_MARGIN = 3.0  # a schema break scores as an event 1000x rarer than the threshold
_LN10 = math.log(10.0)
_MAX_DIST = 1e6  # reference SDs beyond the range at which scores stop growing (keeps them finite)
_ABSENT = object()
_INFS = (math.inf, -math.inf)
_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True, slots=True)
class Verdict:
    score: float  # -log10 tail probability of the row (higher = more anomalous)
    flagged: bool
    reasons: tuple[str, ...]
    feature: str | None  # the most surprising feature (name only, never a value)


@dataclass(frozen=True, slots=True)
class _Category:
    key: FeatureKey
    scores: Mapping[str, float]  # label -> -log10 p
    unseen: float | None  # score of an unseen label; None when the vocabulary was closed (a violation)
    missing_is_violation: bool


class TabularScorer:
    """Scores FeatureRecords against one reference; build with ``fit``; immutable afterwards."""

    model: str
    target_rate: float
    threshold: float  # a row whose score reaches this is flagged (calibrated to target_rate)
    _known: dict[str, set[str]]

    def __init__(self) -> None:
        raise TypeError("use TabularScorer.fit(reference)")

    @classmethod
    def fit(
        cls,
        reference: Profile,
        *,
        target_rate: float = 0.001,
        roles: tuple[str, ...] = ("input",),
        samples: int = 200_000,
        seed: int = 0,
    ) -> TabularScorer:
        if not 0 < target_rate < 0.5:
            raise ValueError(f"target_rate must be in (0, 0.5), got {target_rate!r}")
        self = object.__new__(cls)
        self.model = reference.model
        self.target_rate = target_rate
        self._known = {role: {name for r, name in reference.kinds if r == role} for role in roles}
        self._fit_numeric(reference, roles)
        self._fit_categorical(reference, roles)
        self._fit_moments(reference)
        self.threshold = self._calibrate(samples, seed)
        return self

    # ------------------------------------------------------------------ fit

    def _fit_numeric(self, reference: Profile, roles: tuple[str, ...]) -> None:
        keys = sorted(k for k, s in reference.numeric.items() if k[0] in roles and s.count >= _MIN_COUNT)
        keys = keys[:_MAX_FEATURES]
        d = len(keys)
        self._num_keys: list[FeatureKey] = keys
        self._edges = np.full((d, _GRID), np.inf)
        self._surprise = np.zeros((d, _GRID))
        self._z = np.zeros((d, _GRID))
        self._lo, self._hi, self._tail, self._edge_z = (np.zeros(d) for _ in range(4))
        self._miss_bad = np.zeros(d, dtype=bool)
        self._nan_bad = np.zeros(d, dtype=bool)
        levels = _normal_levels()
        for j, key in enumerate(keys):
            sketch = reference.numeric[key]
            edges, counts = sketch.histogram()
            cum = np.cumsum(counts) / sketch.count
            # Keep the edges where the CDF crosses evenly spaced normal scores: fine in the tails.
            pick = np.unique(np.clip(np.searchsorted(cum, levels), 0, edges.size - 1))
            pick = np.union1d(pick, [0, edges.size - 1])[-_GRID:]
            self._edges[j, : pick.size] = edges[pick]
            upper = cum[pick]
            lower = np.concatenate(([0.0], upper[:-1]))
            # Each kept bucket's two-sided tail (its own mass included) and mid-rank normal score.
            self._surprise[j, : pick.size] = -np.log10(np.minimum(1.0, 2 * np.minimum(upper, 1 - lower)))
            # A new value lies beyond the reference max with probability ~1/(n+1): that is where the
            # reference's own normal scores end and the Gaussian extrapolation takes over.
            floor = 1.0 / (sketch.count + 1)
            self._z[j, : pick.size] = ndtri(np.clip((lower + upper) / 2, floor, 1 - floor))
            self._lo[j], self._hi[j] = sketch.min, sketch.max
            std = sketch.std
            self._tail[j] = std if std > 0 else sketch.scale
            self._edge_z[j] = float(-ndtri(floor))
            total = max(sketch.total, 1)
            self._miss_bad[j] = sketch.missing / total <= self.target_rate
            self._nan_bad[j] = (sketch.nan + sketch.pos_inf + sketch.neg_inf) / total <= self.target_rate
        # Plain-list copies for the one-row path: bisect and list indexing beat numpy on tiny inputs.
        self._lo_list, self._hi_list, self._tail_list = self._lo.tolist(), self._hi.tolist(), self._tail.tolist()
        self._edge_z_list = self._edge_z.tolist()
        self._rows = [
            (role, name, self._edges[j].tolist(), self._surprise[j].tolist(), self._z[j].tolist())
            for j, (role, name) in enumerate(keys)
        ]

    def _fit_categorical(self, reference: Profile, roles: tuple[str, ...]) -> None:
        self._cats: list[_Category] = []
        for key in sorted(reference.categorical):
            sketch = reference.categorical[key]
            if key[0] not in roles or sketch.count < _MIN_COUNT:
                continue
            n = sketch.count
            freqs = sorted(sketch.counts.items(), key=lambda kv: kv[1])
            scores: dict[str, float] = {}
            below = 0  # mass of categories at most as frequent: the category's p-value
            i = 0
            while i < len(freqs):
                j = i
                while j < len(freqs) and freqs[j][1] == freqs[i][1]:
                    below += freqs[j][1]
                    j += 1
                mass = below + (sketch.other if sketch.other <= freqs[i][1] else 0)
                for label, _ in freqs[i:j]:
                    scores[label] = -math.log10(min(1.0, mass / n))
                i = j
            unseen = -math.log10(min(1.0, sketch.other / n)) if sketch.other else None
            self._cats.append(_Category(key, scores, unseen, sketch.missing / max(sketch.total, 1) <= self.target_rate))
            if len(self._cats) >= _MAX_FEATURES:
                break

    def _fit_moments(self, reference: Profile) -> None:
        self._maha = np.zeros(0, dtype=np.int64)
        self._maha_edge = np.zeros(0)
        self._precision = np.zeros((0, 0))
        self._corr = np.zeros((0, 0))
        moments = reference.moments
        if moments is None or moments.n < _MIN_COUNT:
            return
        index = {key: j for j, key in enumerate(self._num_keys)}
        cov = moments.cov()
        picked = [
            (m, index[("input", name)])
            for m, name in enumerate(moments.names)
            if ("input", name) in index and np.isfinite(cov[m, m]) and cov[m, m] > 0
        ]
        if len(picked) < 2:
            return
        rows = np.array([m for m, _ in picked])
        sub = cov[np.ix_(rows, rows)]
        sd = np.sqrt(np.diag(sub))
        corr = np.clip(sub / np.outer(sd, sd), -1.0, 1.0)
        # Shrink towards identity: keeps the inverse stable with few rows or collinear features.
        shrink = min(0.5, 0.01 + len(picked) / moments.n)
        corr = (1 - shrink) * corr + shrink * np.eye(len(picked))
        self._maha = np.array([j for _, j in picked], dtype=np.int64)
        self._maha_edge = self._edge_z[self._maha]
        self._corr = corr
        self._precision = np.linalg.inv(corr)

    def _calibrate(self, samples: int, seed: int) -> float:
        d, k, c = len(self._num_keys), self._maha.size, len(self._cats)
        if d + c == 0:
            return math.inf
        n = min(max(samples, int(50 / self.target_rate)), 2_000_000)  # >= 50 expected exceedances
        rng = np.random.default_rng(seed)
        stats = np.empty(n)
        chunk = max(1, 2_000_000 // max(d + c, 1))
        chol = np.linalg.cholesky(self._corr) if k else None
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            z = rng.standard_normal((m, d))
            if chol is not None:
                z[:, self._maha] = z[:, self._maha] @ chol.T
            best = _tail_score(z).max(axis=1) if d else np.zeros(m)
            if c:
                best = np.maximum(best, -np.log10(rng.random((m, c))).max(axis=1))
            if k:
                best = np.maximum(best, self._maha_score(z))
            stats[start : start + m] = best
        return float(np.quantile(stats, 1 - self.target_rate))

    # ------------------------------------------------------------------ scoring

    def score(self, record: FeatureRecord) -> Verdict:
        """One row, in plain Python plus one small matrix product (same result as ``score_many``)."""
        views = {"input": record.inputs, "output": record.outputs}
        hard: dict[str, str] = {}
        best_s, best_j, best_out = -1.0, -1, False
        z = [0.0] * len(self._rows)
        for j, (role, name, edges, surprise, zs) in enumerate(self._rows):
            value = views[role].get(name, _ABSENT) if role in views else _ABSENT
            if value is _ABSENT or value is None:
                if self._miss_bad[j]:
                    hard.setdefault(Reason.MISSING_FIELD, name)
                continue
            if type(value) is float:
                x = value
            elif isinstance(value, str):
                hard.setdefault(Reason.TYPE_MISMATCH, name)
                continue
            else:
                x = float(value)  # type: ignore[arg-type]
            if x != x or x in _INFS:
                if self._nan_bad[j]:
                    hard.setdefault(Reason.NAN_INF, name)
                continue
            lo, hi = self._lo_list[j], self._hi_list[j]
            if lo <= x <= hi:
                b = bisect_left(edges, x)
                s, z[j], out = surprise[b], zs[b], False
            else:
                dist = min((lo - x if x < lo else x - hi) / self._tail_list[j], _MAX_DIST)
                z[j] = self._edge_z_list[j] + dist
                s = _tail_score_one(z[j])
                if x < lo:
                    z[j] = -z[j]
                out = True
            if s > best_s:
                best_s, best_j, best_out = s, j, out
        best_c, best_cs = self._category_scores(views, hard)
        maha, sub = 0.0, None
        if self._maha.size:
            sub = np.clip(np.array(z)[self._maha], -self._maha_edge, self._maha_edge)
            maha = _chi2_surprise_one(float(sub @ self._precision @ sub), self._maha.size)
        self._unexpected(views, hard)
        return self._verdict(best_j, best_s, best_out, best_c, best_cs, maha, sub, hard)

    def score_many(self, records: Sequence[FeatureRecord]) -> list[Verdict]:
        """Verdicts for many rows (vectorised per chunk of rows; same result as ``score``)."""
        out: list[Verdict] = []
        for start in range(0, len(records), 512):
            out.extend(self._score_chunk(records[start : start + 512]))
        return out

    def _score_chunk(self, records: Sequence[FeatureRecord]) -> list[Verdict]:
        n, d = len(records), len(self._num_keys)
        x = np.zeros((n, d))
        present = np.ones((n, d), dtype=bool)
        wrong = np.zeros((n, d), dtype=bool)
        hard: list[dict[str, str]] = [{} for _ in range(n)]  # reason -> first feature
        for i, record in enumerate(records):
            views = {"input": record.inputs, "output": record.outputs}
            for j, (role, name, *_) in enumerate(self._rows):
                value = views[role].get(name, _ABSENT) if role in views else _ABSENT
                if value is _ABSENT or value is None:
                    present[i, j] = False
                elif isinstance(value, str):
                    present[i, j] = False
                    wrong[i, j] = True
                else:
                    x[i, j] = float(value)  # type: ignore[arg-type]
        finite = present & np.isfinite(x)
        miss = ~present & ~wrong & self._miss_bad
        nan = present & ~finite & self._nan_bad
        surprise, z, outside = self._numeric_terms(np.where(finite, x, 0.0), finite)
        best_j = surprise.argmax(axis=1) if d else np.full(n, -1)
        best_s = surprise[np.arange(n), best_j] if d else np.full(n, -1.0)
        best_out = outside[np.arange(n), best_j] if d else np.zeros(n, dtype=bool)
        maha = self._maha_score(z) if self._maha.size else np.zeros(n)
        attention: list[bool] = np.asarray((miss | nan | wrong).any(axis=1)).tolist()
        scored: list[bool] = np.asarray(finite.any(axis=1)).tolist()
        verdicts = []
        for i, record in enumerate(records):
            row_hard = hard[i]
            if attention[i]:
                # Recorded in feature order, as the one-row path meets them (first feature per reason).
                for j in range(d):
                    if miss[i, j]:
                        row_hard.setdefault(Reason.MISSING_FIELD, self._num_keys[j][1])
                    elif wrong[i, j]:
                        row_hard.setdefault(Reason.TYPE_MISMATCH, self._num_keys[j][1])
                    elif nan[i, j]:
                        row_hard.setdefault(Reason.NAN_INF, self._num_keys[j][1])
            views = {"input": record.inputs, "output": record.outputs}
            cat_c, cat_s = self._category_scores(views, row_hard)
            self._unexpected(views, row_hard)
            j = int(best_j[i]) if scored[i] else -1
            verdicts.append(
                self._verdict(j, float(best_s[i]), bool(best_out[i]), cat_c, cat_s, float(maha[i]), z[i], row_hard)
            )
        return verdicts

    def _category_scores(
        self, views: Mapping[str, Mapping[str, FeatureValue]], hard: dict[str, str]
    ) -> tuple[int, float]:
        """(index, score) of the most surprising category of a row; records category violations."""
        best_c, best_s = -1, -1.0
        for c, spec in enumerate(self._cats):
            role, name = spec.key
            value = views[role].get(name) if role in views else None
            if value is None:
                if spec.missing_is_violation:
                    hard.setdefault(Reason.MISSING_FIELD, name)
                continue
            label = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
            score = spec.scores.get(label)
            if score is None:
                if spec.unseen is None:
                    hard.setdefault(Reason.UNSEEN_CATEGORY, name)
                    continue
                score = spec.unseen
            if score > best_s:
                best_c, best_s = c, score
        return best_c, best_s

    def _unexpected(self, views: Mapping[str, Mapping[str, FeatureValue]], hard: dict[str, str]) -> None:
        for role, known in self._known.items():
            names = views.get(role)
            if names and not known.issuperset(names):
                # The feature name (capped, from the model's payload schema) is reported, never a value.
                hard.setdefault(Reason.UNEXPECTED_FIELD, min(set(names) - known))
                return

    def _numeric_terms(
        self, x: FloatArray, finite: npt.NDArray[np.bool_]
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
        """Per-feature surprise (-log10 p), normal scores and outside-range mask, shape (n, d)."""
        d = x.shape[1]
        b = (self._edges[None, :, :] < x[:, :, None]).sum(axis=2)  # = bisect_left per feature
        cols = np.arange(d)[None, :]
        b = np.minimum(b, _GRID - 1)
        surprise, z = self._surprise[cols, b], self._z[cols, b]
        below, above = x < self._lo, x > self._hi
        with np.errstate(over="ignore"):  # absurd values overflow to inf, then clip to _MAX_DIST
            dist = np.minimum(np.where(below, self._lo - x, np.where(above, x - self._hi, 0.0)) / self._tail, _MAX_DIST)
        outside = (below | above) & finite
        beyond = self._edge_z + dist
        surprise = np.where(outside, _tail_score(beyond), surprise)
        z = np.where(outside, np.where(below, -beyond, beyond), z)
        return np.where(finite, surprise, -1.0), np.where(finite, z, 0.0), outside

    def _maha_score(self, z: FloatArray) -> FloatArray:
        # Scores clipped to the reference range: an out-of-range value is the marginal term's
        # business, and left unclipped it would swamp the pattern this term is looking for.
        sub = np.clip(z[:, self._maha], -self._maha_edge, self._maha_edge)
        m2 = np.einsum("ij,jk,ik->i", sub, self._precision, sub)
        return _chi2_surprise(m2, self._maha.size)

    def _verdict(
        self,
        num_j: int,
        num_s: float,
        num_out: bool,
        cat_c: int,
        cat_s: float,
        maha: float,
        z: FloatArray | None,
        hard: dict[str, str],
    ) -> Verdict:
        best, feature, reason = 0.0, None, ""
        if num_j >= 0:
            best, feature = num_s, self._num_keys[num_j][1]
            reason = Reason.OUT_OF_RANGE if num_out else Reason.TAIL_SURPRISE
        if cat_c >= 0 and cat_s > best:
            best, feature, reason = cat_s, self._cats[cat_c].key[1], Reason.TAIL_SURPRISE
        best = max(best, 0.0)
        found: set[str] = set()
        if reason and best >= self.threshold:
            found.add(reason)
        if maha >= self.threshold:
            found.add(Reason.CORRELATION_BREAK)
        if maha > best and z is not None:
            # The pattern is more surprising than any single value: name its biggest contributor.
            sub = z[self._maha] if z.size != self._maha.size else z
            sub = np.clip(sub, -self._maha_edge, self._maha_edge)
            share = sub * (self._precision @ sub)
            best, feature = maha, self._num_keys[int(self._maha[int(share.argmax())])][1]
        if hard:
            found.update(hard)
            if best < self.threshold:
                feature = next(iter(hard.values()))
            best = max(best, self.threshold + _VIOLATION_MARGIN)
        return Verdict(score=best, flagged=bool(found), reasons=ordered(found), feature=feature)


def _normal_levels() -> FloatArray:
    return np.asarray(_phi(np.linspace(-4.5, 4.5, _GRID - 2)), dtype=np.float64)


def _phi(z: FloatArray | float) -> FloatArray:
    return np.asarray(np.exp(log_ndtr(z)), dtype=np.float64)


def _tail_score(z: FloatArray) -> FloatArray:
    """-log10 of the two-sided normal tail of each score."""
    return np.asarray(-(log_ndtr(-np.abs(z)) + math.log(2.0)) / _LN10, dtype=np.float64)


def _tail_score_one(z: float) -> float:
    """``_tail_score`` of one non-negative score, in plain floats (the one-row path)."""
    return _normal_sf_surprise(z) - math.log10(2.0)


def _normal_sf_surprise(w: float) -> float:
    """-log10 of the upper normal tail at ``w``."""
    if w < 30.0:
        return -math.log10(0.5 * math.erfc(w / _SQRT2))
    # Mills-ratio asymptote of the normal tail where erfc would underflow.
    return (w * w / 2 + math.log(w * math.sqrt(2 * math.pi)) - math.log1p(-1 / (w * w))) / _LN10


def _chi2_surprise_one(m2: float, k: int) -> float:
    """``_chi2_surprise`` for one value, in plain floats (the one-row path)."""
    a = 2.0 / (9.0 * k)
    return _normal_sf_surprise((math.cbrt(max(m2, 0.0) / k) - (1 - a)) / math.sqrt(a))


def _chi2_surprise(m2: FloatArray, k: int) -> FloatArray:
    """-log10 of the chi-square(k) upper tail, via Wilson-Hilferty (no underflow, vectorised)."""
    a = 2.0 / (9.0 * k)
    w = (np.cbrt(np.maximum(m2, 0.0) / k) - (1 - a)) / math.sqrt(a)
    return np.asarray(-log_ndtr(-w) / _LN10, dtype=np.float64)
