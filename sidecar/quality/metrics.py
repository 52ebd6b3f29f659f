"""Online quality metrics over a window of joined labels (pure numpy core of /v1/performance).

Definitions follow scikit-learn's (the tests compare against it): precision/recall/F1 are 0 where
their denominator is 0; the class set is the sorted union of labels and predictions; ROC-AUC is the
binary AUC for two classes and the one-vs-rest macro average over the classes present in the labels
otherwise; log loss clips probabilities to [eps, 1-eps] and does not renormalise them; MAPE skips
zero labels (scikit-learn divides by machine epsilon there, which makes the figure meaningless);
R² is 1 for a perfect fit of constant labels and 0 for an imperfect one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .joins import MAX_CLASSES, JoinedRecord

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Classes shown one by one in per_class / confusion_matrix / distributions; the rest are "__other__".
MAX_REPORT_CLASSES = 50
#: Segments reported (the most frequent ones).
MAX_SEGMENTS = 50
OTHER = "__other__"
#: Metrics where a larger value is better (alerts on a drop), the rest are errors (lower is better).
HIGHER_IS_BETTER = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc", "r2"})

_EPS = float(np.finfo(np.float64).eps)


# ---------------------------------------------------------------------------- classification


def encode_classes(y_true: Sequence[str], y_pred: Sequence[str]) -> tuple[list[str], IntArray, IntArray]:
    """Sorted class union and both sequences as indices into it."""
    labels = sorted(set(y_true) | set(y_pred))
    index = {c: i for i, c in enumerate(labels)}
    true_idx = np.fromiter((index[c] for c in y_true), dtype=np.int64, count=len(y_true))
    pred_idx = np.fromiter((index[c] for c in y_pred), dtype=np.int64, count=len(y_pred))
    return labels, true_idx, pred_idx


def class_scores(true_idx: IntArray, pred_idx: IntArray, n_classes: int) -> dict[str, FloatArray]:
    """Per-class precision, recall, F1 and support from index arrays (O(n + classes))."""
    tp = np.bincount(true_idx[true_idx == pred_idx], minlength=n_classes).astype(np.float64)
    true_sum = np.bincount(true_idx, minlength=n_classes).astype(np.float64)
    pred_sum = np.bincount(pred_idx, minlength=n_classes).astype(np.float64)
    return {
        "precision": _divide(tp, pred_sum),
        "recall": _divide(tp, true_sum),
        "f1": _divide(2.0 * tp, true_sum + pred_sum),
        "support": true_sum,
    }


def roc_auc_binary(positive: npt.NDArray[np.bool_], score: FloatArray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with tied scores counted half); None if one class only."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    from scipy.stats import rankdata  # scipy.stats costs seconds to import: only when scoring

    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_auc(true_idx: IntArray, proba: FloatArray) -> float | None:
    """Binary AUC (score of the second class) for two columns, one-vs-rest macro AUC otherwise."""
    if proba.shape[1] == 2:
        return roc_auc_binary(true_idx == 1, proba[:, 1])
    aucs = [roc_auc_binary(true_idx == j, proba[:, j]) for j in range(proba.shape[1])]
    defined = [a for a in aucs if a is not None]
    return float(np.mean(defined)) if defined else None


def log_loss(true_idx: IntArray, proba: FloatArray) -> float:
    p_true = np.clip(proba[np.arange(true_idx.size), true_idx], _EPS, 1.0 - _EPS)
    return float(np.mean(-np.log(p_true)))


def _divide(num: FloatArray, den: FloatArray) -> FloatArray:
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den != 0)
    return out


# ---------------------------------------------------------------------------- regression


def regression_metrics(y_true: FloatArray, y_pred: FloatArray) -> dict[str, float]:
    """MAE, RMSE, MAPE (zero labels skipped; omitted when all are zero) and R² (omitted for n < 2)."""
    err = y_true - y_pred
    out = {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}
    nonzero = y_true != 0
    if nonzero.any():
        out["mape"] = float(np.mean(np.abs(err[nonzero]) / np.abs(y_true[nonzero])))
    if y_true.size >= 2:
        ss_res = float(np.sum(err**2))
        ss_tot = float(np.sum((y_true - np.mean(y_true)) ** 2))
        out["r2"] = (1.0 - ss_res / ss_tot) if ss_tot != 0 else (1.0 if ss_res == 0 else 0.0)
    return out


# ---------------------------------------------------------------------------- the report


def performance_report(joined: Sequence[JoinedRecord]) -> dict[str, Any]:
    """The JSON-ready body of /v1/performance (without "model"); every float is finite.

    The task is the one most predictions have (a window that spans a model change may mix both;
    the minority is left out).  No records ⇒ ``{"n_labeled": 0, "task": None, "metrics": {}}``.
    """
    n_class = sum(isinstance(r.prediction.predicted, str) for r in joined)
    task = "classification" if n_class * 2 >= len(joined) else "regression"
    rows = [r for r in joined if isinstance(r.prediction.predicted, str) == (task == "classification")]
    if not rows:
        return {"n_labeled": 0, "task": None, "metrics": {}}
    with np.errstate(over="ignore", invalid="ignore"):  # huge values overflow to inf: dropped below
        body = _classification(rows) if task == "classification" else _regression(rows)
        segments = _segments(rows, task)
    body["metrics"] = {k: v for k, v in body["metrics"].items() if math.isfinite(v)}
    return {"n_labeled": len(rows), "task": task, **body, "segments": segments}


def gauge_scores(report: dict[str, Any]) -> dict[str, float]:
    """The values of ``sidecar.performance.score{metric}`` (DESIGN names: precision = macro precision)."""
    metrics: dict[str, float] = report.get("metrics", {})
    renamed = {"precision_macro": "precision", "recall_macro": "recall", "f1_macro": "f1"}
    keep = {"accuracy", "roc_auc", "log_loss", "mae", "rmse", "mape", "r2", *renamed}
    return {renamed.get(k, k): v for k, v in metrics.items() if k in keep}


def _classification(rows: Sequence[JoinedRecord]) -> dict[str, Any]:
    y_true = [str(r.label) for r in rows]
    y_pred = [str(r.prediction.predicted) for r in rows]
    classes, true_idx, pred_idx = encode_classes(y_true, y_pred)
    scores = class_scores(true_idx, pred_idx, len(classes))
    support = scores["support"]
    metrics: dict[str, float] = {"accuracy": float(np.mean(true_idx == pred_idx))}
    for name in ("precision", "recall", "f1"):
        metrics[f"{name}_macro"] = float(np.mean(scores[name]))
        metrics[f"{name}_weighted"] = float(np.average(scores[name], weights=support))
    metrics.update(_probabilistic(rows, y_true))
    shown = _top_classes(y_true, y_pred)
    per_class = {
        c: {
            "precision": float(scores["precision"][i]),
            "recall": float(scores["recall"][i]),
            "f1": float(scores["f1"][i]),
            "support": int(support[i]),
        }
        for i, c in enumerate(classes)
        if c in shown
    }
    return {
        "metrics": metrics,
        "per_class": per_class,
        "confusion_matrix": _confusion(y_true, y_pred, shown),
        "label_distribution": _shares(y_true, shown),
        "prediction_distribution": _shares(y_pred, shown),
    }


def _probabilistic(rows: Sequence[JoinedRecord], y_true: Sequence[str]) -> dict[str, float]:
    """ROC-AUC and log loss over the rows that carry probabilities (or a binary confidence)."""
    universe = set(y_true) | {str(r.prediction.predicted) for r in rows}
    for r in rows:
        universe.update(r.prediction.probabilities or ())
    if len(universe) > MAX_CLASSES or len(universe) < 2:
        return {}
    classes = sorted(universe)
    column = {c: j for j, c in enumerate(classes)}
    vectors: list[list[float]] = []
    truth: list[int] = []
    for r, label in zip(rows, y_true, strict=True):
        vector = _vector(r, classes)
        if vector is not None:
            vectors.append(vector)
            truth.append(column[label])
    if not vectors:
        return {}
    proba = np.asarray(vectors, dtype=np.float64)
    true_idx = np.asarray(truth, dtype=np.int64)
    out = {"log_loss": log_loss(true_idx, proba)}
    auc = roc_auc(true_idx, proba)
    if auc is not None:
        out["roc_auc"] = auc
    return out


def _vector(r: JoinedRecord, classes: Sequence[str]) -> list[float] | None:
    p = r.prediction
    if p.probabilities is not None:
        return [p.probabilities.get(c, 0.0) for c in classes]
    if p.confidence is not None and len(classes) == 2:
        # A binary model reporting only its confidence in the predicted class still ranks.
        first = p.confidence if p.predicted == classes[0] else 1.0 - p.confidence
        return [first, 1.0 - first]
    return None


def _top_classes(y_true: Sequence[str], y_pred: Sequence[str]) -> set[str]:
    counts = Counter(y_true) + Counter(y_pred)
    return {c for c, _ in counts.most_common(MAX_REPORT_CLASSES)}


def _confusion(y_true: Sequence[str], y_pred: Sequence[str], shown: set[str]) -> dict[str, Any]:
    labels = sorted(shown)
    if len(shown) < len(set(y_true) | set(y_pred)):
        labels.append(OTHER)
    index = {c: i for i, c in enumerate(labels)}
    other = index.get(OTHER, -1)
    t = np.asarray([index.get(c, other) for c in y_true], dtype=np.int64)
    p = np.asarray([index.get(c, other) for c in y_pred], dtype=np.int64)
    k = len(labels)
    matrix = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
    return {"labels": labels, "matrix": matrix.tolist()}


def _shares(values: Sequence[str], shown: set[str]) -> dict[str, float]:
    counts = Counter(v if v in shown else OTHER for v in values)
    return {c: n / len(values) for c, n in sorted(counts.items())}


def _regression(rows: Sequence[JoinedRecord]) -> dict[str, Any]:
    y_true = np.asarray([float(r.label) for r in rows], dtype=np.float64)
    y_pred = np.asarray([float(r.prediction.predicted) for r in rows], dtype=np.float64)
    return {
        "metrics": regression_metrics(y_true, y_pred),
        "label_distribution": _summary(y_true),
        "prediction_distribution": _summary(y_pred),
    }


def _summary(values: FloatArray) -> dict[str, float]:
    q = np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0])
    summary = {
        "mean": np.mean(values),
        "std": np.std(values),
        "min": q[0],
        "p25": q[1],
        "p50": q[2],
        "p75": q[3],
        "max": q[4],
    }
    return {k: float(v) for k, v in summary.items() if np.isfinite(v)}


def _segments(rows: Sequence[JoinedRecord], task: str) -> dict[str, Any]:
    """The primary metric per segment and the largest gap between segments (a bias view)."""
    groups: dict[str, list[JoinedRecord]] = {}
    for r in rows:
        if r.prediction.segment is not None:
            groups.setdefault(r.prediction.segment, []).append(r)
    if not groups:
        return {}
    top = sorted(groups, key=lambda s: (-len(groups[s]), s))[:MAX_SEGMENTS]
    metric = "accuracy" if task == "classification" else "mae"
    per_group: dict[str, dict[str, float]] = {}
    for name in top:
        members = groups[name]
        if task == "classification":
            hits = [str(r.label) == str(r.prediction.predicted) for r in members]
            per_group[name] = {"n": len(members), "accuracy": float(np.mean(hits))}
        else:
            err = [abs(float(r.label) - float(r.prediction.predicted)) for r in members]
            per_group[name] = {"n": len(members), "mae": float(np.mean(err))}
    ranked = sorted(top, key=lambda s: per_group[s][metric], reverse=metric in HIGHER_IS_BETTER)
    best, worst = ranked[0], ranked[-1]
    return {
        "metric": metric,
        "groups": per_group,
        "largest_gap": {"value": abs(per_group[best][metric] - per_group[worst][metric]), "best": best, "worst": worst},
    }
