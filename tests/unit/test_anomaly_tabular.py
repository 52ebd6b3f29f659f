"""Tabular scorer: calibration on held-out normal rows, ROC-AUC on injected anomalies, schema breaks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from sidecar.anomaly.tabular import TabularScorer, Verdict
from sidecar.models import FeatureRecord
from sidecar.sketches.profile import Profile, ProfileBuilder

D = 8
NAMES = [f"x{j}" for j in range(D)]
SCALE = np.array([1.0, 10.0, 100.0, 0.1, 1.0, 1.0, 5.0, 2.0])
SHIFT = np.array([0.0, 50.0, 1000.0, 0.0, 3.0, 0.0, 0.0, 7.0])
KINDS = {**{n: "numeric" for n in NAMES}, "color": "categorical", "count": "numeric", "plan": "categorical"}


def _cov() -> np.ndarray:
    rng = np.random.default_rng(7)
    a = rng.normal(size=(D, D))
    cov = a @ a.T / D + 0.3 * np.eye(D)
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    corr[0, 1] = corr[1, 0] = 0.9  # a strongly linked pair, for correlation breaks
    corr[2, 3] = corr[3, 2] = -0.8
    w, v = np.linalg.eigh(corr)
    corr = v @ np.diag(np.maximum(w, 0.05)) @ v.T
    sd = np.sqrt(np.diag(corr))
    return corr / np.outer(sd, sd)


COV = _cov()


def _z(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.multivariate_normal(np.zeros(D), COV, size=n)


def _records(z: np.ndarray, rng: np.random.Generator, start: int = 0) -> list[FeatureRecord]:
    x = z * SCALE + SHIFT
    colors = rng.choice(["red", "green", "blue", "amber"], size=len(z), p=[0.5, 0.3, 0.15, 0.05])
    plans = rng.choice(["free", "pro", "team"], size=len(z), p=[0.7, 0.25, 0.05])
    counts = rng.poisson(3, size=len(z))
    out = []
    for i in range(len(z)):
        inputs: dict[str, float | str | None] = {n: float(x[i, j]) for j, n in enumerate(NAMES)}
        inputs.update(color=str(colors[i]), plan=str(plans[i]), count=float(counts[i]))
        out.append(
            FeatureRecord(model="m", request_id=str(start + i), time=float(start + i), inputs=inputs, kinds=KINDS)
        )
    return out


def _reference(n: int = 20_000, seed: int = 1) -> Profile:
    rng = np.random.default_rng(seed)
    builder = ProfileBuilder("m")
    builder.add(_records(_z(rng, n), rng))
    return builder.build(decide=True)


REFERENCE = _reference()
SCORER = TabularScorer.fit(REFERENCE)


def _with(record: FeatureRecord, **changes: float | str | None) -> FeatureRecord:
    inputs = {**record.inputs, **changes}
    for name, value in changes.items():
        if value is None:
            del inputs[name]
    return FeatureRecord(model="m", request_id=record.request_id, time=record.time, inputs=inputs, kinds=KINDS)


def test_false_flag_rate_on_held_out_normal_rows_is_near_target() -> None:
    rng = np.random.default_rng(99)
    rows = _records(_z(rng, 20_000), rng)
    rate = sum(v.flagged for v in SCORER.score_many(rows)) / len(rows)
    loose = TabularScorer.fit(REFERENCE, target_rate=0.01)
    loose_rate = sum(v.flagged for v in loose.score_many(rows)) / len(rows)
    print(f"\nheld-out flag rate {rate:.5f} (target 0.001), {loose_rate:.4f} (target 0.01)")
    assert rate <= 0.003
    assert 0.004 <= loose_rate <= 0.02
    assert loose.threshold < SCORER.threshold


def _anomalies(rng: np.random.Generator, base: list[FeatureRecord]) -> dict[str, list[FeatureRecord]]:
    lo, hi = SHIFT - 4 * SCALE, SHIFT + 4 * SCALE
    out: dict[str, list[FeatureRecord]] = {k: [] for k in ("range1", "several", "corr", "uniform", "nan", "schema")}
    for i, rec in enumerate(base):
        j = i % D
        out["range1"].append(_with(rec, **{NAMES[j]: float(SHIFT[j] + 6.5 * SCALE[j] * (1 if i % 2 else -1))}))
        picks = [(i + k) % D for k in range(3)]
        out["several"].append(_with(rec, **{NAMES[p]: float(SHIFT[p] + 3.3 * SCALE[p]) for p in picks}))
        a = 1.6 + rng.random() * 0.6
        if i % 2:
            out["corr"].append(_with(rec, x0=float(a * SCALE[0] + SHIFT[0]), x1=float(-a * SCALE[1] + SHIFT[1])))
        else:
            out["corr"].append(_with(rec, x2=float(a * SCALE[2] + SHIFT[2]), x3=float(a * SCALE[3] + SHIFT[3])))
        u = rng.uniform(lo, hi)
        out["uniform"].append(_with(rec, **{n: float(u[k]) for k, n in enumerate(NAMES)}))
        out["nan"].append(_with(rec, **{NAMES[j]: [math.nan, math.inf, -math.inf][i % 3]}))
        breaks: list[dict[str, float | str | None]] = [{"x1": None}, {"x4": "oops"}, {"surprise": 1.0}, {"plan": "vip"}]
        out["schema"].append(_with(rec, **breaks[i % 4]))
    return out


def test_roc_auc_and_flag_rates_on_injected_anomalies() -> None:
    rng = np.random.default_rng(5)
    normal = _records(_z(rng, 4000), rng)
    base = _records(_z(rng, 400), rng, start=10_000)
    normal_scores = [v.score for v in SCORER.score_many(normal)]
    report = []
    for kind, rows in _anomalies(rng, base).items():
        verdicts = SCORER.score_many(rows)
        scores = [v.score for v in verdicts]
        auc = roc_auc_score([0] * len(normal_scores) + [1] * len(scores), normal_scores + scores)
        flagged = sum(v.flagged for v in verdicts) / len(verdicts)
        report.append((kind, auc, flagged))
        assert auc >= {"corr": 0.95, "several": 0.97}.get(kind, 0.99), (kind, auc)
        assert flagged >= {"corr": 0.6, "several": 0.7, "uniform": 0.8}.get(kind, 0.99), (kind, flagged)
    print("\n" + "\n".join(f"{k:8s} auc={a:.4f} flagged={f:.3f}" for k, a, f in report))


def test_reasons_and_feature_names() -> None:
    rng = np.random.default_rng(3)
    rec = _records(np.zeros((1, D)), rng)[0]
    rec = _with(rec, color="red", plan="free", count=3.0)
    assert SCORER.score(rec).flagged is False
    far = SCORER.score(_with(rec, x2=float(SHIFT[2] + 9 * SCALE[2])))
    assert far.flagged and "out_of_range" in far.reasons and far.feature == "x2"
    broken = SCORER.score(_with(rec, x0=float(2.5 * SCALE[0]), x1=float(SHIFT[1] - 2.5 * SCALE[1])))
    assert broken.flagged and "correlation_break" in broken.reasons and broken.feature in ("x0", "x1")
    cases = {
        "nan_inf": _with(rec, x5=math.nan),
        "missing_field": _with(rec, x6=None),
        "type_mismatch": _with(rec, x7="seven"),
        "unexpected_field": _with(rec, extra=1.0),
        "unseen_category": _with(rec, plan="enterprise"),
    }
    for reason, row in cases.items():
        verdict = SCORER.score(row)
        assert verdict.flagged and verdict.reasons == (reason,), (reason, verdict)
        assert verdict.score >= SCORER.threshold
    assert SCORER.score(_with(rec, extra=1.0)).feature == "extra"
    assert SCORER.score(_with(rec, x6=None)).feature == "x6"


def test_discrete_and_open_vocabulary_features_are_not_over_flagged() -> None:
    rng = np.random.default_rng(4)
    rec = _with(_records(np.zeros((1, D)), rng)[0], color="red", plan="free")
    # Every ordinary Poisson count, and the rarest tracked colour, stay unflagged.
    for k in range(0, 9):
        assert not SCORER.score(_with(rec, count=float(k))).flagged, k
    assert not SCORER.score(_with(rec, color="amber")).flagged
    builder = ProfileBuilder("open", top_k=2)
    builder.add(
        [
            FeatureRecord(model="open", request_id=str(i), time=0.0, inputs={"c": f"v{i % 50}", "x": float(i % 7)})
            for i in range(5000)
        ]
    )
    open_ref = builder.build(decide=True)
    assert open_ref.categorical[("input", "c")].other > 0
    scorer = TabularScorer.fit(open_ref)
    assert not scorer.score(
        FeatureRecord(model="open", request_id="r", time=0.0, inputs={"c": "never-seen", "x": 3.0})
    ).flagged


def test_one_row_path_equals_batch_path() -> None:
    rng = np.random.default_rng(11)
    rows = _records(_z(rng, 300), rng)
    for kind_rows in _anomalies(rng, rows[:40]).values():
        rows.extend(kind_rows)
    rows.append(FeatureRecord(model="m", request_id="empty", time=0.0))
    rows.append(FeatureRecord(model="m", request_id="out", time=0.0, inputs={}, outputs={"prediction": 1.0}))
    batch = SCORER.score_many(rows)
    for row, verdict in zip(rows, batch, strict=True):
        one = SCORER.score(row)
        assert one.flagged == verdict.flagged and one.reasons == verdict.reasons, (row, one, verdict)
        assert one.feature == verdict.feature and one.score == pytest.approx(verdict.score, rel=1e-6, abs=1e-9)


def test_fit_is_deterministic_and_validates() -> None:
    assert TabularScorer.fit(REFERENCE).threshold == SCORER.threshold
    with pytest.raises(ValueError):
        TabularScorer.fit(REFERENCE, target_rate=0.0)
    with pytest.raises(TypeError):
        TabularScorer()
    empty = TabularScorer.fit(Profile(model="none"))
    verdict = empty.score(FeatureRecord(model="none", request_id="r", time=0.0, inputs={"a": 1.0}))
    assert verdict == Verdict(score=verdict.score, flagged=True, reasons=("unexpected_field",), feature="a")
    assert not empty.score(FeatureRecord(model="none", request_id="r", time=0.0)).flagged


def test_profile_round_trip_scores_the_same() -> None:
    again = TabularScorer.fit(Profile.from_json(REFERENCE.to_json()))
    assert again.threshold == SCORER.threshold
    rng = np.random.default_rng(8)
    rows = _records(_z(rng, 50), rng)
    assert [v.score for v in again.score_many(rows)] == [v.score for v in SCORER.score_many(rows)]


_VALUES = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**18), max_value=10**18),
    st.text(max_size=8),
    st.sampled_from(["red", "green", "free", "team", ""]),
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from([*NAMES, "color", "plan", "count", "other"]), _VALUES, max_size=12))
def test_arbitrary_rows_never_raise_and_both_paths_agree(inputs: dict[str, object]) -> None:
    row = FeatureRecord(model="m", request_id="r", time=0.0, inputs=inputs)  # type: ignore[arg-type]
    one, batch = SCORER.score(row), SCORER.score_many([row])[0]
    assert math.isfinite(one.score) and one.score >= 0
    assert (one.flagged, one.reasons, one.feature) == (batch.flagged, batch.reasons, batch.feature)
    assert one.score == pytest.approx(batch.score, rel=1e-6, abs=1e-9)
