"""In-pod PII redaction: Presidio engine set up offline, own recognizers, JSON/header walker (pure)."""

from .redactor import ENTITY_TYPES, Redactor

__all__ = ["ENTITY_TYPES", "Redactor"]
