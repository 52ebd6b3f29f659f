"""Quality metrics against scikit-learn on the same predictions and labels (pure)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from sidecar.quality.joins import JoinedRecord, PredictionRecord, Target
from sidecar.quality.metrics import MAX_REPORT_CLASSES, OTHER, gauge_scores, performance_report

CLASSES = ["ant", "bee", "cat", "dog"]
CLOSE = {"rel": 1e-9, "abs": 1e-12}


def _joined(
    y_true: list[Target],
    y_pred: list[Target],
    probabilities: list[dict[str, float]] | None = None,
    segments: list[str | None] | None = None,
    confidence: list[float] | None = None,
) -> list[JoinedRecord]:
    out = []
    for i, (label, predicted) in enumerate(zip(y_true, y_pred, strict=True)):
        record = PredictionRecord(
            request_id=f"r{i}",
            model="m",
            time=float(i),
            predicted=predicted,
            probabilities=probabilities[i] if probabilities else None,
            segment=segments[i] if segments else None,
            confidence=confidence[i] if confidence else None,
        )
        out.append(JoinedRecord(prediction=record, label=label, label_time=float(i) + 0.5))
    return out


labels_st = st.lists(st.sampled_from(CLASSES), min_size=1, max_size=60)


@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")  # sklearn's, not ours
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_classification_metrics_equal_sklearn(data: st.DataObject) -> None:
    y_true = data.draw(labels_st)
    y_pred = data.draw(st.lists(st.sampled_from(CLASSES), min_size=len(y_true), max_size=len(y_true)))
    report = performance_report(_joined(list(y_true), list(y_pred)))
    m = report["metrics"]
    assert report["task"] == "classification" and report["n_labeled"] == len(y_true)
    labels = sorted(set(y_true) | set(y_pred))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), **CLOSE)
    for average in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0
        )
        assert m[f"precision_{average}"] == pytest.approx(p, **CLOSE)
        assert m[f"recall_{average}"] == pytest.approx(r, **CLOSE)
        assert m[f"f1_{average}"] == pytest.approx(f, **CLOSE)
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    for i, c in enumerate(labels):
        got = report["per_class"][c]
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((p[i], r[i], f[i]), **CLOSE)
        assert got["support"] == s[i]
    assert report["confusion_matrix"] == {
        "labels": labels,
        "matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
    assert "roc_auc" not in m and "log_loss" not in m  # no probabilities: not invented
    json.dumps(report, allow_nan=False)


def _proba_rows(data: st.DataObject, n: int, k: int) -> np.ndarray:
    raw = data.draw(
        st.lists(
            st.lists(st.integers(min_value=0, max_value=20), min_size=k, max_size=k).filter(lambda v: sum(v) > 0),
            min_size=n,
            max_size=n,
        )
    )
    arr = np.asarray(raw, dtype=np.float64)
    return arr / arr.sum(axis=1, keepdims=True)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), k=st.integers(min_value=2, max_value=4))
def test_roc_auc_and_log_loss_equal_sklearn(data: st.DataObject, k: int) -> None:
    classes = CLASSES[:k]
    # every class occurs in the labels, so one-vs-rest AUC is defined for each (as sklearn requires)
    y_true = classes + data.draw(st.lists(st.sampled_from(classes), max_size=40))
    proba = _proba_rows(data, len(y_true), k)
    y_pred = [classes[int(np.argmax(row))] for row in proba]
    dicts = [dict(zip(classes, map(float, row), strict=True)) for row in proba]
    m = performance_report(_joined(list(y_true), list(y_pred), dicts))["metrics"]
    if k == 2:
        expected_auc = skm.roc_auc_score(y_true, proba[:, 1])
    else:
        expected_auc = skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes)
    assert m["roc_auc"] == pytest.approx(expected_auc, **CLOSE)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y_true, proba, labels=classes), **CLOSE)


def test_log_loss_clips_zero_probability_of_the_true_class() -> None:
    proba = [{"ant": 1.0, "bee": 0.0}, {"ant": 0.0, "bee": 1.0}]
    m = performance_report(_joined(["bee", "bee"], ["ant", "bee"], proba))["metrics"]
    expected = skm.log_loss(["bee", "bee"], [[1.0, 0.0], [0.0, 1.0]], labels=["ant", "bee"])
    assert m["log_loss"] == pytest.approx(expected, **CLOSE)
    assert math.isfinite(m["log_loss"]) and m["log_loss"] > 10


def test_binary_confidence_only_gives_auc() -> None:
    y_true = ["no", "yes", "yes", "no", "yes"]
    y_pred = ["no", "yes", "no", "no", "yes"]
    conf = [0.9, 0.8, 0.6, 0.7, 0.55]
    p_yes = [1 - c if p == "no" else c for p, c in zip(y_pred, conf, strict=True)]
    m = performance_report(_joined(y_true, y_pred, confidence=conf))["metrics"]
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true, p_yes), **CLOSE)


regression_values = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False).map(lambda v: round(v, 3))


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_regression_metrics_equal_sklearn(data: st.DataObject) -> None:
    y_true = data.draw(st.lists(regression_values | st.just(0.0), min_size=1, max_size=60))
    y_pred = data.draw(st.lists(regression_values, min_size=len(y_true), max_size=len(y_true)))
    report = performance_report(_joined(list(y_true), list(y_pred)))
    m = report["metrics"]
    assert report["task"] == "regression"
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y_true, y_pred), **CLOSE)
    assert m["rmse"] == pytest.approx(skm.root_mean_squared_error(y_true, y_pred), **CLOSE)
    nonzero = [i for i, v in enumerate(y_true) if v != 0]
    if nonzero:
        expected = skm.mean_absolute_percentage_error([y_true[i] for i in nonzero], [y_pred[i] for i in nonzero])
        assert m["mape"] == pytest.approx(expected, **CLOSE)
    else:
        assert "mape" not in m
    if len(y_true) >= 2:
        assert m["r2"] == pytest.approx(skm.r2_score(y_true, y_pred), rel=1e-9, abs=1e-9)
    else:
        assert "r2" not in m
    json.dumps(report, allow_nan=False)


def test_r2_of_constant_labels_follows_sklearn() -> None:
    assert performance_report(_joined([2.0, 2.0], [2.0, 2.0]))["metrics"]["r2"] == 1.0
    assert performance_report(_joined([2.0, 2.0], [2.0, 3.0]))["metrics"]["r2"] == 0.0


def test_distributions_and_segments_show_imbalance_and_gap() -> None:
    y_true = ["ant"] * 6 + ["bee"] * 2
    y_pred = ["ant"] * 8
    segments: list[str | None] = ["north"] * 4 + ["south"] * 3 + [None]
    report = performance_report(_joined(list(y_true), list(y_pred), segments=segments))
    assert report["label_distribution"] == {"ant": 0.75, "bee": 0.25}
    assert report["prediction_distribution"] == {"ant": 1.0}
    seg = report["segments"]
    assert seg["metric"] == "accuracy"
    # south holds rows 4..6: ant, ant, bee — all predicted ant; the unsegmented row is left out
    assert seg["groups"] == {"north": {"n": 4, "accuracy": 1.0}, "south": {"n": 3, "accuracy": pytest.approx(2 / 3)}}
    assert seg["largest_gap"] == {"value": pytest.approx(1 / 3), "best": "north", "worst": "south"}


def test_regression_segments_rank_by_mae() -> None:
    report = performance_report(_joined([1.0, 1.0, 1.0], [1.0, 3.0, 2.0], segments=["a", "b", "b"]))
    assert report["segments"]["largest_gap"] == {"value": 1.5, "best": "a", "worst": "b"}
    assert report["label_distribution"]["mean"] == 1.0


def test_many_classes_are_capped_in_the_report_but_not_in_the_metrics() -> None:
    n = MAX_REPORT_CLASSES + 30
    y_true = [f"c{i}" for i in range(n)] + ["c0"] * 5
    y_pred = [f"c{i}" for i in range(n)] + ["c1"] * 5
    report = performance_report(_joined(list(y_true), list(y_pred)))
    assert len(report["per_class"]) == MAX_REPORT_CLASSES
    cm = report["confusion_matrix"]
    assert cm["labels"][-1] == OTHER and len(cm["matrix"]) == MAX_REPORT_CLASSES + 1
    assert sum(map(sum, cm["matrix"])) == len(y_true)
    expected = skm.f1_score(y_true, y_pred, average="macro", zero_division=0)
    assert report["metrics"]["f1_macro"] == pytest.approx(expected, **CLOSE)


def test_empty_window_is_honest() -> None:
    assert performance_report([]) == {"n_labeled": 0, "task": None, "metrics": {}}


def test_mixed_tasks_keep_the_majority() -> None:
    report = performance_report(_joined(["a", "b", 1.0], ["a", "a", 2.0]))
    assert report["task"] == "classification" and report["n_labeled"] == 2


def test_gauge_scores_use_design_names() -> None:
    scores = gauge_scores(performance_report(_joined(["a", "b"], ["a", "a"])))
    assert set(scores) == {"accuracy", "precision", "recall", "f1"}
    assert scores["accuracy"] == 0.5
    assert set(gauge_scores(performance_report(_joined([1.0, 2.0], [1.0, 1.0])))) == {"mae", "rmse", "mape", "r2"}


def test_overflowing_values_leave_out_what_is_not_finite() -> None:
    report = performance_report(_joined([1e308, -1e308], [-1e308, 1e308]))
    assert "mae" not in report["metrics"] and "rmse" not in report["metrics"]
    assert report["n_labeled"] == 2
    json.dumps(report, allow_nan=False)
