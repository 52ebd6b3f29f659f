"""The evaluator's timer: performance gauges and alerts from joined labels, drift gauges per model."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from sidecar.config import load_settings
from sidecar.evaluator import DriftEvaluator
from sidecar.models import Alert, DriftResult
from sidecar.quality.joins import PredictionRecord
from sidecar.store import open_store
from sidecar.store.labels import open_label_store


class _Metrics:
    def __init__(self) -> None:
        self.scores: dict[str, Mapping[str, float]] = {}

    def drift(self, model: str, result: DriftResult) -> None:
        pass

    def performance(self, model: str, scores: Mapping[str, float]) -> None:
        self.scores[model] = scores


async def test_low_accuracy_sets_the_gauge_and_alerts_once() -> None:
    settings = load_settings(env={}, overrides={"labels.min_score": 0.7})
    labels = open_label_store(settings)
    metrics, alerts = _Metrics(), []
    evaluator = DriftEvaluator(
        settings, open_store(settings.store, max_features=8, top_k=5), metrics=metrics,
        send_alert=alerts.append, labels=labels,
    )  # fmt: skip
    now = time.time()
    await labels.put_predictions([PredictionRecord(f"r{i}", "m", now, "yes") for i in range(10)])
    await labels.put_labels([(f"r{i}", "yes" if i < 4 else "no") for i in range(10)], now=now)
    await evaluator.tick()
    await evaluator.tick()  # the same condition does not fire twice (cooldown)
    assert metrics.scores["m"]["accuracy"] == 0.4
    fired: list[Any] = [a for a in alerts if isinstance(a, Alert) and a.kind == "performance"]
    below = sorted(
        m for m, v in metrics.scores["m"].items() if m in {"accuracy", "precision", "recall", "f1"} and v < 0.7
    )
    assert below and sorted(a.details["metric"] for a in fired) == below  # each once, over two evaluations
    accuracy = next(a for a in fired if a.details["metric"] == "accuracy")
    assert accuracy.details["value"] == 0.4 and accuracy.details["min_score"] == 0.7
