"""Drift detection: two-sample tests over sketches, the evaluator, its JSON shape, the alert policy (pure core).

Modules: ``stats`` (statistics over CDFs and counts), ``methods`` (``DriftTest`` protocol + registry),
``evaluate`` (``evaluate(reference, current, settings, window_seconds=…) -> DriftResult``),
``report`` (``to_json``), ``alerting`` (``AlertPolicy``).
"""

from .alerting import AlertPolicy
from .evaluate import evaluate
from .methods import DriftTest, Outcome
from .report import to_json

__all__ = ["AlertPolicy", "DriftTest", "Outcome", "evaluate", "to_json"]
