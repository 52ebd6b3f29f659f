"""model-sidecar: a transparent proxy that watches ML models in production."""

from __future__ import annotations

from .config import Settings, load_settings
from .errors import SidecarError

__version__ = "0.1.0"
__all__ = ["Settings", "SidecarError", "__version__", "load_settings"]
