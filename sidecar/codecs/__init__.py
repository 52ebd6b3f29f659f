"""Payload codecs: turn one sampled exchange into rows of raw leaves per dialect (pure layer).

``decode(exchange)`` picks a dialect from the path, headers and body shape (or a forced one),
undoes Content-Encoding with a size cap, and never raises; see ``limits.SkipReason`` for why a
payload can be skipped and ``leaves`` for feature naming and the text rule.
"""

from sidecar.codecs.base import Codec, Payload
from sidecar.codecs.limits import CODEC_ERROR_PREFIX, SKIP_REASONS, Limits, SkipReason
from sidecar.codecs.overrides import dialect_for, parse_overrides
from sidecar.codecs.registry import DIALECTS, decode

__all__ = [
    "CODEC_ERROR_PREFIX",
    "DIALECTS",
    "SKIP_REASONS",
    "Codec",
    "Limits",
    "Payload",
    "SkipReason",
    "decode",
    "dialect_for",
    "parse_overrides",
]
