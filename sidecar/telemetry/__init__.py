"""Telemetry layer: the only package that imports the OTel SDK and exporters."""

from __future__ import annotations

from .instruments import Instruments
from .setup import Telemetry, build_telemetry

__all__ = ["Instruments", "Telemetry", "build_telemetry"]
