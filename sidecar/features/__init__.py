"""Feature extraction: decoded rows → text-free ``FeatureRecord``s, one per batch row (pure layer)."""

from sidecar.features.extract import extract
from sidecar.features.values import PiiCounter, category_label, hashed_label

__all__ = ["PiiCounter", "category_label", "extract", "hashed_label"]
