"""Label joins and online quality metrics (pure: no I/O, no event loop)."""

from __future__ import annotations

from .joins import JoinedRecord, PredictionRecord, parse_label_header, predictions_from
from .metrics import gauge_scores, performance_report

__all__ = [
    "JoinedRecord",
    "PredictionRecord",
    "gauge_scores",
    "parse_label_header",
    "performance_report",
    "predictions_from",
]
