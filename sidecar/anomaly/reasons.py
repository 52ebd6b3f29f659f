"""The closed set of anomaly reasons (pure): the only values a ``reason`` attribute may take."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why an input, response or client was flagged.  Values are metric attribute values."""

    # tabular, against the reference profile
    OUT_OF_RANGE = "out_of_range"
    TAIL_SURPRISE = "tail_surprise"
    CORRELATION_BREAK = "correlation_break"
    NAN_INF = "nan_inf"
    MISSING_FIELD = "missing_field"
    TYPE_MISMATCH = "type_mismatch"
    UNEXPECTED_FIELD = "unexpected_field"
    UNSEEN_CATEGORY = "unseen_category"
    # text and LLM prompts
    PROMPT_INJECTION = "prompt_injection"
    JAILBREAK = "jailbreak"
    SYSTEM_PROMPT_EXTRACTION = "system_prompt_extraction"
    SECRET_EXTRACTION = "secret_extraction"
    MARKUP_INJECTION = "markup_injection"
    TOOL_CALL_SMUGGLING = "tool_call_smuggling"
    INVISIBLE_CHARACTERS = "invisible_characters"
    BIDI_CONTROL = "bidi_control"
    HOMOGLYPH = "homoglyph"
    ENCODED_BLOB = "encoded_blob"
    EXTREME_LENGTH = "extreme_length"
    REPETITION = "repetition"
    # LLM responses
    SYSTEM_PROMPT_ECHO = "system_prompt_echo"
    PII_IN_OUTPUT = "pii_in_output"
    # client behaviour
    RATE_BURST = "rate_burst"
    NEAR_DUPLICATE_PROBING = "near_duplicate_probing"
    FEATURE_SWEEP = "feature_sweep"
    FEEDBACK_POISONING = "feedback_poisoning"


#: Every reason value, in declaration order (the order reasons are reported in).
ALL_REASONS: tuple[str, ...] = tuple(r.value for r in Reason)
_ORDER = {r: i for i, r in enumerate(ALL_REASONS)}


def ordered(reasons: set[str] | frozenset[str]) -> tuple[str, ...]:
    """Reasons as a tuple in declaration order, so equal sets always read the same."""
    if not reasons:
        return ()
    return tuple(str(r) for r in sorted(reasons, key=_ORDER.__getitem__))


def is_reason(value: str) -> bool:
    return value in _ORDER
