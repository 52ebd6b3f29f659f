"""Drift tests over sketches — the ``DriftTest`` protocol and its name registry (pure core).

A test compares one feature's reference sketch with its current sketch and returns an ``Outcome``
(statistic, raw p-value, effect sizes); the evaluator does the multiple-testing correction and the
gating, so a test never decides "drifted" on its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..config import DriftSettings
from ..sketches.categorical import CategoricalSketch
from ..sketches.numeric import NumericSketch
from . import stats


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a test found; NaN statistic/p-value when one side has no values."""

    statistic: float
    p_value: float
    effect_size: float
    n_reference: int
    n_current: int
    extra: dict[str, float] = field(default_factory=dict)


class DriftTest(Protocol):
    """One two-sample drift test.

    Contract: pure and deterministic; never blocks, never raises on well-formed sketches of the
    family it handles (``family`` is "numeric" or "categorical"); returns NaN statistics when
    either side is empty instead of raising. ``effect_passes`` says whether the effect size is big
    enough to matter (significance is the evaluator's job).
    """

    name: str
    family: str

    def compare(self, reference: Any, current: Any) -> Outcome: ...

    def effect_passes(self, outcome: Outcome, settings: DriftSettings) -> bool: ...


class KolmogorovSmirnovTest:
    """KS on the histograms' CDFs; PSI and JS on reference-decile bins.

    ``effect_size`` is Wasserstein-1 / reference σ; the gate compares ``extra["effect_corrected"]``,
    the same with its sampling-noise floor subtracted, with ``wasserstein_threshold``.
    """

    name = "ks"
    family = "numeric"

    def compare(self, reference: NumericSketch, current: NumericSketch) -> Outcome:
        n, m = int(reference.count), int(current.count)
        if n == 0 or m == 0:
            return _empty(n, m, ("psi", "js", "wasserstein_sigma", "effect_corrected"))
        ref_x, ref_f = _breakpoints(reference)
        cur_x, cur_f = _breakpoints(current)
        grid = np.union1d(ref_x, cur_x)
        # Each CDF is piecewise linear between its own breakpoints (exact at bucket edges, linear
        # inside a bucket, as NumericSketch.cdf) and may jump (a point mass at min, a constant
        # feature), so both the value at a grid point and the left limit just below it are needed.
        r_at, r_below = _cdf_on(grid, ref_x, ref_f)
        c_at, c_below = _cdf_on(grid, cur_x, cur_f)
        d = stats.ks_statistic(r_at, c_at)
        if r_below is not r_at or c_below is not c_at:
            d = max(d, stats.ks_statistic(r_below, c_below))
        w = stats.wasserstein_from_cdfs(grid, r_at, c_at, f_ref_below=r_below, f_cur_below=c_below)
        cuts_idx = np.searchsorted(grid, stats.quantile_cuts(grid, r_at))
        p_ref = stats.bin_shares(r_at[cuts_idx])
        p_cur = stats.bin_shares(c_at[cuts_idx])
        # Sampling noise alone gives E[W1] ≈ √(2/π·(1/n+1/m))·∫√(F(1−F))dx (Brownian-bridge limit of
        # the CDF gap); at a few hundred samples that is half the threshold, so the gate uses W
        # with this floor removed. For a real shift W ≈ shift + (much less than the floor).
        spread = stats.wasserstein_from_cdfs(grid, np.sqrt(r_at * (1.0 - r_at)), np.zeros_like(r_at))
        floor = math.sqrt(2.0 / math.pi * (1.0 / n + 1.0 / m)) * spread
        w_sigma = _sigma_scaled(w, reference, current)
        return Outcome(
            statistic=d,
            p_value=stats.ks_p_value(d, n, m),
            effect_size=w_sigma,
            n_reference=n,
            n_current=m,
            extra={
                "psi": stats.psi(p_ref, p_cur),
                "js": stats.js_distance(p_ref, p_cur),
                "wasserstein_sigma": w_sigma,
                "effect_corrected": _sigma_scaled(max(w - floor, 0.0), reference, current),
            },
        )

    def effect_passes(self, outcome: Outcome, settings: DriftSettings) -> bool:
        return outcome.extra.get("effect_corrected", math.nan) >= settings.wasserstein_threshold


class ChiSquareTest:
    """Chi-square homogeneity on the 2×K table over the reference's categories (+ ``__other__``).

    ``effect_size`` is the JS distance. The effect gate passes when the *bias-corrected* PSI ≥
    psi_threshold OR the bias-corrected JS distance (``extra["effect_corrected"]``) ≥ js_threshold.
    Why corrected: with K categories both estimates are inflated by sampling noise alone —
    E[JSD] ≈ (K−1)/(8·n_eff) nats, E[PSI] ≈ (K−1)(1/n + 1/m) — which at 2,000 samples is as large
    as the thresholds themselves, so the plain values would not filter noise. Why OR: a 10-point
    share shift in one category has PSI ≈ 0.05–0.08 (below 0.1) but JS ≈ 0.09.
    """

    name = "chi2"
    family = "categorical"

    def compare(self, reference: CategoricalSketch, current: CategoricalSketch) -> Outcome:
        ref_counts, cur_counts = _aligned_counts(reference.frequencies(), current.frequencies())
        n, m = int(ref_counts.sum()), int(cur_counts.sum())
        if n == 0 or m == 0:
            return _empty(n, m, ("psi", "js", "psi_corrected", "effect_corrected"))
        js = stats.js_distance(ref_counts, cur_counts)
        psi = stats.psi(ref_counts, cur_counts)
        statistic, p_value, dof = stats.chi2_homogeneity(*stats.merge_sparse(ref_counts, cur_counts))
        categories = max(int(np.count_nonzero(ref_counts + cur_counts)) - 1, 0)
        n_eff = n * m / (n + m)
        # Noise floors of the two estimates under "no change" (see the class docstring).
        jsd = max(js * js - categories / (8.0 * n_eff * math.log(2.0)), 0.0)
        psi_corrected = max(psi - categories * (1.0 / n + 1.0 / m), 0.0)
        return Outcome(
            statistic=statistic,
            p_value=p_value,
            effect_size=js,
            n_reference=n,
            n_current=m,
            extra={
                "psi": psi,
                "js": js,
                "psi_corrected": psi_corrected,
                "effect_corrected": math.sqrt(jsd),
                "dof": float(dof),
            },
        )

    def effect_passes(self, outcome: Outcome, settings: DriftSettings) -> bool:
        psi = outcome.extra.get("psi_corrected", math.nan)
        js = outcome.extra.get("effect_corrected", math.nan)
        return psi >= settings.psi_threshold or js >= settings.js_threshold


_REGISTRY: dict[str, DriftTest] = {}


def register(test: DriftTest) -> None:
    """Add (or replace) a test under its name."""
    _REGISTRY[test.name] = test


def get(name: str) -> DriftTest:
    """The registered test called ``name`` (KeyError if none)."""
    return _REGISTRY[name]


def for_family(family: str) -> DriftTest:
    """The default test for a sketch family: "numeric" → ks, "categorical" → chi2."""
    return _REGISTRY["ks" if family == "numeric" else "chi2"]


register(KolmogorovSmirnovTest())
register(ChiSquareTest())


def _empty(n: int, m: int, names: tuple[str, ...]) -> Outcome:
    return Outcome(math.nan, math.nan, math.nan, n, m, dict.fromkeys(names, math.nan))


def _breakpoints(sketch: NumericSketch) -> tuple[np.ndarray, np.ndarray]:
    """(min then the upper bucket edges, CDF there, starting at 0): one histogram read per sketch."""
    edges, counts = sketch.histogram()
    cdf = np.cumsum(counts, dtype=np.float64) / float(sketch.count)
    return np.concatenate(([float(sketch.min)], edges)), np.concatenate(([0.0], cdf))


def _cdf_on(grid: np.ndarray, x: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F(g), F(g−)) on the grid; a repeated x marks a jump: the last value holds at x, the first below."""
    repeated = x[1:] == x[:-1]
    if not repeated.any():  # the usual case: no point mass, F is continuous
        at = np.interp(grid, x, f, left=0.0, right=1.0)
        return at, at
    last = np.append(~repeated, True)
    first = np.insert(~repeated, 0, True)
    return (
        np.interp(grid, x[last], f[last], left=0.0, right=1.0),
        np.interp(grid, x[first], f[first], left=0.0, right=1.0),
    )


def _sigma_scaled(w: float, reference: NumericSketch, current: NumericSketch) -> float:
    # A constant reference has σ = 0; fall back to the current σ, then to the frozen scale, so a
    # jump away from a constant still reads as a finite, large effect rather than ∞ or NaN.
    for sigma in (float(reference.std), float(current.std), float(reference.scale)):
        if sigma > 0 and math.isfinite(sigma):
            return w / sigma
    return 0.0 if w == 0 else math.inf


def _aligned_counts(ref: Mapping[str, int], cur: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    # The reference defines the vocabulary: anything the current window has outside it (unseen
    # categories, its own __other__) is pooled into __other__.
    other = CategoricalSketch.OTHER
    names = sorted(k for k in ref if k != other)
    ref_vec = [float(ref[k]) for k in names] + [float(ref.get(other, 0))]
    cur_vec = [float(cur.get(k, 0)) for k in names]
    cur_vec.append(float(sum(v for k, v in cur.items() if k not in ref or k == other)))
    return np.asarray(ref_vec, dtype=np.float64), np.asarray(cur_vec, dtype=np.float64)
