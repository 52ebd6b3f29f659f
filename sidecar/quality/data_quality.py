"""Data-quality checks of a current window against the reference profile (pure core, deterministic).

Four kinds of violation, each needing both a practically large change AND statistical significance
(one-sided tests, Bonferroni-corrected across the checks of one call), so quiet traffic stays quiet:

* ``missing`` — the share of missing values (None / absent field) jumped;
* ``type`` — values of the wrong type (strings in a numeric feature), NaN or ±Inf became more
  frequent, or the feature changed kind (numeric in the reference, categorical now);
* ``range`` — a share of finite values fell outside the reference's [min, max];
* ``unseen`` — a share of categories outside the reference vocabulary (more than the reference's own
  tail beyond its top-K).

Features that only the current window has are not violations here (drift reports them with
``reason: no_reference_values``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scipy import special

if TYPE_CHECKING:
    from ..sketches.categorical import CategoricalSketch
    from ..sketches.numeric import NumericSketch
    from ..sketches.profile import FeatureKey, Profile

KINDS = ("missing", "type", "range", "unseen")


@dataclass(frozen=True, slots=True)
class Violation:
    """One feature's violation: ``value`` is the current rate, ``reference_value`` the reference's."""

    feature: str
    role: str
    kind: str  # one of KINDS
    value: float
    reference_value: float
    count: int  # current observations that make up ``value``


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Minimum absolute jumps (shares, 0…1) and the family-wise significance level."""

    alpha: float = 0.001
    missing_jump: float = 0.05
    type_jump: float = 0.01
    range_share: float = 0.01
    unseen_jump: float = 0.01


def check(
    reference: Profile, current: Profile, *, min_samples: int, thresholds: Thresholds = Thresholds()
) -> list[Violation]:
    """Every violation of ``current`` against ``reference``, ordered by (role, feature, kind).

    A feature is checked only when both sides observed at least ``min_samples`` rows of it.
    """
    keys = sorted(set(reference.kinds) | set(reference.numeric) | set(reference.categorical), key=_order)
    # Bonferroni over every check we may run: conservative, and valid whatever the dependence.
    alpha = thresholds.alpha / max(1, len(keys) * len(KINDS))
    out: list[Violation] = []
    for key in keys:
        out.extend(_check_feature(reference, current, key, min_samples, thresholds, alpha))
    return out


def _check_feature(
    reference: Profile, current: Profile, key: FeatureKey, min_samples: int, th: Thresholds, alpha: float
) -> list[Violation]:
    role, name = key
    ref_num, ref_cat = reference.numeric.get(key), reference.categorical.get(key)
    cur_num, cur_cat = current.numeric.get(key), current.categorical.get(key)
    ref_total = ref_num.total if ref_num is not None else ref_cat.total if ref_cat is not None else 0
    if ref_total < min_samples:
        return []
    if cur_num is None and cur_cat is None:
        # Never seen in a window of enough rows: the field is missing from every row.
        if current.n >= min_samples and _significant(
            _missing(reference, key), ref_total, 1.0, current.n, th.missing_jump, alpha
        ):
            return [Violation(name, role, "missing", 1.0, _missing(reference, key) / ref_total, int(current.n))]
        return []
    cur_total = cur_num.total if cur_num is not None else cur_cat.total if cur_cat is not None else 0
    if cur_total < min_samples:
        return []
    found: list[Violation] = []
    ref_missing, cur_missing = _missing(reference, key), _missing(current, key)
    if _significant(ref_missing, ref_total, cur_missing / cur_total, cur_total, th.missing_jump, alpha):
        found.append(Violation(name, role, "missing", cur_missing / cur_total, ref_missing / ref_total, cur_missing))
    if (ref_num is None) != (cur_num is None):
        found.append(Violation(name, role, "type", 1.0, 0.0, int(cur_total - cur_missing)))
    elif ref_num is not None and cur_num is not None:
        found.extend(_numeric_checks(name, role, ref_num, cur_num, min_samples, th, alpha))
    elif ref_cat is not None and cur_cat is not None:
        found.extend(_unseen_check(name, role, ref_cat, cur_cat, min_samples, th, alpha))
    return found


def _numeric_checks(
    name: str, role: str, ref: NumericSketch, cur: NumericSketch, min_samples: int, th: Thresholds, alpha: float
) -> list[Violation]:
    found: list[Violation] = []
    ref_bad = ref.invalid + ref.nan + ref.pos_inf + ref.neg_inf
    cur_bad = cur.invalid + cur.nan + cur.pos_inf + cur.neg_inf
    if cur_bad and _significant(ref_bad, ref.total, cur_bad / cur.total, cur.total, th.type_jump, alpha):
        found.append(Violation(name, role, "type", cur_bad / cur.total, ref_bad / ref.total, cur_bad))
    if ref.count >= min_samples and cur.count >= min_samples:
        share = _share_outside(cur, ref.min, ref.max)
        # Under no change, a new value falls outside the reference's range with probability ≈ 2/(n+1).
        expected = 2.0 / (ref.count + 1)
        outside = round(share * cur.count)
        if share >= th.range_share and outside and special.bdtrc(outside - 1, cur.count, expected) < alpha:
            found.append(Violation(name, role, "range", share, 0.0, outside))
    return found


def _unseen_check(
    name: str, role: str, ref: CategoricalSketch, cur: CategoricalSketch, min_samples: int, th: Thresholds, alpha: float
) -> list[Violation]:
    if ref.count < min_samples or cur.count < min_samples:
        return []
    vocabulary = cur.vocabulary if cur.vocabulary is not None else frozenset(ref.top())
    # The reference's own mass beyond its vocabulary (its tail past top-K) is the baseline.
    ref_unseen = ref.count - sum(n for c, n in ref.counts.items() if c in vocabulary)
    if cur.vocabulary is not None:
        cur_unseen = cur.unseen
    else:
        cur_unseen = sum(n for c, n in cur.counts.items() if c not in vocabulary)
    if _significant(ref_unseen, ref.count, cur_unseen / cur.count, cur.count, th.unseen_jump, alpha):
        return [Violation(name, role, "unseen", cur_unseen / cur.count, ref_unseen / ref.count, cur_unseen)]
    return []


def _share_outside(cur: NumericSketch, lo: float, hi: float) -> float:
    below = 0.0 if cur.min >= lo else float(cur.cdf(math.nextafter(lo, -math.inf)))
    above = 0.0 if cur.max <= hi else 1.0 - float(cur.cdf(hi))
    return min(max(below + above, 0.0), 1.0)


def _significant(ref_k: int, ref_n: int, cur_rate: float, cur_n: int, jump: float, alpha: float) -> bool:
    """One-sided two-proportion z-test (pooled) that the current rate exceeds the reference's by ≥ jump."""
    if ref_n <= 0 or cur_n <= 0:
        return False
    ref_rate = ref_k / ref_n
    if cur_rate - ref_rate < jump or cur_rate <= ref_rate:
        return False
    pooled = (ref_k + cur_rate * cur_n) / (ref_n + cur_n)
    variance = pooled * (1.0 - pooled) * (1.0 / ref_n + 1.0 / cur_n)
    if variance <= 0:
        return False
    return bool(special.ndtr(-(cur_rate - ref_rate) / math.sqrt(variance)) < alpha)


def _missing(profile: Profile, key: FeatureKey) -> int:
    num = profile.numeric.get(key)
    if num is not None:
        return int(num.missing)
    cat = profile.categorical.get(key)
    return int(cat.missing) if cat is not None else 0


def _order(key: FeatureKey) -> tuple[int, str]:
    return (0 if key[0] == "input" else 1, key[1])
