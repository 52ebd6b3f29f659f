"""Drift evaluation of a current window against a reference profile (pure core, deterministic).

A feature drifts only when (a) its test is significant after Holm–Bonferroni correction across all
features of the evaluation (plus the multivariate check), (b) its effect size, with the part that
sampling noise alone would produce removed (``extra["effect_corrected"]``), passes its threshold,
and (c) both sides hold at least ``min_samples`` values.

Why Holm and not Benjamini–Hochberg: the goal is a false-alarm rate of at most 1% of *evaluations*
on unshifted traffic, i.e. a family-wise error rate. Holm controls it under any dependence between
features (inputs are usually correlated), and is uniformly more powerful than plain Bonferroni. BH
controls the false-discovery rate instead — equal to the FWER only when nothing drifts, and with no
guarantee under arbitrary dependence. The effect-size gate then removes the "significant but tiny"
shifts that huge windows make significant. Holm bounds the false-alarm rate by ``alpha``; the gates
push it far lower once windows hold a few thousand values (bench/bench_drift.py measures it), while
for windows of a few hundred values the gates are weak and ``alpha`` itself must be 0.01 to meet 1%.
"""

from __future__ import annotations

import math

import numpy as np

from ..config import DriftSettings
from ..models import DriftResult, FeatureDrift, FeatureKind, Role
from ..sketches.categorical import CategoricalSketch
from ..sketches.numeric import NumericSketch
from ..sketches.profile import FeatureKey, Profile
from . import methods, stats
from .methods import Outcome

#: FeatureDrift.method when the two sides cannot be compared (numeric on one side, categorical on the other).
NO_METHOD = "none"
_KINDS: dict[str, FeatureKind] = {"numeric": "numeric", "categorical": "categorical", "text": "text"}


def evaluate(
    reference: Profile | None, current: Profile, settings: DriftSettings, *, window_seconds: float
) -> DriftResult:
    """Compare every feature (and prediction) of ``current`` with ``reference``.

    With no reference (None, or a placeholder profile whose source is "none") the result has
    ``reference_source="none"`` and no features. Features seen on
    one side only are reported with n = 0 on the other side and never drift. ``FeatureDrift.p_value``
    is the Holm-adjusted p-value; the raw one is in ``extra["p_value_raw"]``.
    """
    if reference is None or reference.source == "none":
        return DriftResult(current.model, False, 0, "none", int(current.n), float(window_seconds))
    keys = sorted(
        set(reference.kinds) | set(current.kinds) | _sketch_keys(reference) | _sketch_keys(current), key=_order
    )
    rows: list[tuple[FeatureKey, FeatureKind, str, Outcome, dict[str, float]]] = []
    for key in keys:
        method, outcome = _compare(reference, current, key)
        kind = _kind(reference, key) or _kind(current, key) or "numeric"
        rows.append((key, kind, method, outcome, _missing_rates(reference, current, key)))

    multi = _multivariate(reference, current, settings)
    eligible = [_eligible(outcome, settings) and method != NO_METHOD for _key, _kind_, method, outcome, _rates in rows]
    raw = np.array([o.p_value if ok else math.nan for (_k, _kd, _m, o, _r), ok in zip(rows, eligible, strict=True)])
    family = np.append(raw, multi.get("p_value_raw", math.nan) if multi else math.nan)
    adjusted = stats.holm(family)

    features: list[FeatureDrift] = []
    for i, (key, kind, method, outcome, rates) in enumerate(rows):
        p_adj = float(adjusted[i])
        test = methods.get(method) if method != NO_METHOD else None
        drifted = bool(
            eligible[i] and test is not None and p_adj < settings.alpha and test.effect_passes(outcome, settings)
        )
        extra = {**outcome.extra, "p_value_raw": outcome.p_value, "p_value_adjusted": p_adj, **rates}
        role: Role = "output" if key[0] == "output" else "input"
        features.append(
            FeatureDrift(
                name=key[1],
                kind=kind,
                role=role,
                method=method,
                statistic=outcome.statistic,
                p_value=p_adj,
                effect_size=outcome.effect_size,
                drifted=drifted,
                n_reference=outcome.n_reference,
                n_current=outcome.n_current,
                extra=extra,
            )
        )
    if multi:
        p_adj = float(adjusted[-1])
        multi["p_value"] = p_adj
        multi["drifted"] = float(p_adj < settings.alpha and multi["distance"] >= settings.wasserstein_threshold)
    drifted = any(f.drifted for f in features) or bool(multi and multi["drifted"])
    return DriftResult(
        model=current.model,
        drifted=drifted,
        reference_n=int(reference.n),
        reference_source=str(reference.source),
        current_n=int(current.n),
        window_seconds=float(window_seconds),
        features=tuple(features),
        multivariate=multi or None,
    )


def _compare(reference: Profile, current: Profile, key: FeatureKey) -> tuple[str, Outcome]:
    ref_num, cur_num = reference.numeric.get(key), current.numeric.get(key)
    ref_cat, cur_cat = reference.categorical.get(key), current.categorical.get(key)
    if ref_num is not None and cur_num is not None:
        return "ks", methods.get("ks").compare(ref_num, cur_num)
    if ref_cat is not None and cur_cat is not None:
        return "chi2", methods.get("chi2").compare(ref_cat, cur_cat)
    n_ref = _n_values(ref_num, ref_cat)
    n_cur = _n_values(cur_num, cur_cat)
    if (ref_num is not None or ref_cat is not None) and (cur_num is not None or cur_cat is not None):
        return NO_METHOD, Outcome(math.nan, math.nan, math.nan, n_ref, n_cur)  # the kind changed
    method = "ks" if (ref_num is not None or cur_num is not None) else "chi2"
    return method, methods.get(method).compare(*_one_sided(ref_num, cur_num, ref_cat, cur_cat))


def _one_sided(
    ref_num: NumericSketch | None,
    cur_num: NumericSketch | None,
    ref_cat: CategoricalSketch | None,
    cur_cat: CategoricalSketch | None,
) -> tuple[NumericSketch, NumericSketch] | tuple[CategoricalSketch, CategoricalSketch]:
    # Present on one side only: compare with an empty sketch of the same family, which yields n = 0
    # and NaN statistics on that side (never drifted).
    if ref_num is not None or cur_num is not None:
        return (ref_num or NumericSketch()), (cur_num or NumericSketch())
    return (ref_cat or CategoricalSketch()), (cur_cat or CategoricalSketch())


def _n_values(num: NumericSketch | None, cat: CategoricalSketch | None) -> int:
    if num is not None:
        return int(num.count)
    return int(cat.count) if cat is not None else 0


def _eligible(outcome: Outcome, settings: DriftSettings) -> bool:
    return (
        outcome.n_reference >= settings.min_samples
        and outcome.n_current >= settings.min_samples
        and not math.isnan(outcome.p_value)
    )


def _multivariate(reference: Profile, current: Profile, settings: DriftSettings) -> dict[str, float]:
    ref, cur = reference.moments, current.moments
    if ref is None or cur is None:
        return {}
    shared = [name for name in ref.names if name in set(cur.names)]
    if not shared or ref.n < max(settings.min_samples, len(shared) + 1) or cur.n < settings.min_samples:
        return {}
    ri = [ref.names.index(name) for name in shared]
    ci = [cur.names.index(name) for name in shared]
    mean_ref = np.asarray(ref.mean(), dtype=np.float64)[ri]
    cov_ref = np.asarray(ref.cov(), dtype=np.float64)[np.ix_(ri, ri)]
    mean_cur = np.asarray(cur.mean(), dtype=np.float64)[ci]
    if not (np.all(np.isfinite(mean_ref)) and np.all(np.isfinite(cov_ref)) and np.all(np.isfinite(mean_cur))):
        return {}
    t2, p, distance, rank = stats.hotelling(mean_ref, cov_ref, int(ref.n), mean_cur, int(cur.n))
    if math.isnan(p):
        return {}
    return {"statistic": t2, "p_value_raw": p, "distance": distance, "dof": float(rank), "features": float(len(shared))}


def _missing_rates(reference: Profile, current: Profile, key: FeatureKey) -> dict[str, float]:
    return {
        "missing_rate_reference": _missing_rate(reference, key),
        "missing_rate_current": _missing_rate(current, key),
    }


def _missing_rate(profile: Profile, key: FeatureKey) -> float:
    num = profile.numeric.get(key)
    if num is not None:
        return (num.missing + num.nan) / num.total if num.total else math.nan
    cat = profile.categorical.get(key)
    if cat is not None:
        return cat.missing / cat.total if cat.total else math.nan
    return math.nan


def _kind(profile: Profile, key: FeatureKey) -> FeatureKind | None:
    kind = _KINDS.get(profile.kinds.get(key, ""))
    if kind is not None:
        return kind
    if key in profile.numeric:
        return "numeric"
    if key in profile.categorical:
        return "categorical"
    return None


def _sketch_keys(profile: Profile) -> set[FeatureKey]:
    return set(profile.numeric) | set(profile.categorical)


def _order(key: FeatureKey) -> tuple[int, str]:
    return (0 if key[0] == "input" else 1, key[1])
