"""Own Presidio pattern recognizers for credentials: API keys, bearer tokens, JWTs, PEM private keys (pure)."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections import Counter
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer

from .recognizers import FLAGS

_VENDOR_KEYS = [
    Pattern("openai_anthropic", r"(?<![\w\-])sk-(?:proj-|ant-(?:api\d\d-)?|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}", 0.9),
    Pattern("github", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})\b", 0.9),
    Pattern("aws_access_key_id", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b", 0.9),
    Pattern("slack", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", 0.9),
    Pattern("slack_webhook", r"hooks\.slack\.com/services/[A-Za-z0-9/]{20,}", 0.9),
    Pattern("google", r"\bAIza[0-9A-Za-z_\-]{35}", 0.9),
    Pattern("stripe", r"\b[rsp]k_(?:live|test)_[0-9A-Za-z]{16,}", 0.9),
    Pattern("huggingface", r"\bhf_[A-Za-z0-9]{30,}\b", 0.9),
    Pattern("gitlab", r"\bglpat-[A-Za-z0-9_\-]{20,}", 0.9),
    Pattern("npm", r"\bnpm_[A-Za-z0-9]{36}\b", 0.9),
]

# `\K` (the `regex` module) keeps the keyword out of the span, so `api_key=<API_KEY>` stays readable.
_ASSIGNED = (
    r"(?i:\b(?:api[_\-]?key|apikey|x-api-key|access[_\-]?key(?:[_\-]?id)?|secret[_\-]?access[_\-]?key|"
    r"secret(?:[_\-]?key)?|client[_\-]?secret|auth[_\-]?token|access[_\-]?token|refresh[_\-]?token|"
    r"session[_\-]?token|id[_\-]?token|private[_\-]?key|token)[\"']?[ ]{0,3}[:=][ ]{0,3}[\"']?)\K"
    r"[A-Za-z0-9_\-./+=~]{12,}"
)
_BEARER = r"(?i:\b(?:bearer|basic)[ ]{1,3})\K[A-Za-z0-9_\-./+~]{12,}=*"
_PASSWORD = r"(?i:\b(?:password|passwd|pwd|passphrase)(?:[\"']?[ ]{0,3}[:=][ ]{0,3}[\"']?|[ ]is[ ]))\K[^\s\"',;&()]{4,128}+(?!\()"


def shannon_bits(text: str) -> float:
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


class ApiKeyRecognizer(PatternRecognizer):
    """Vendor API keys with a recognisable prefix (OpenAI, Anthropic, GitHub, AWS, Slack, Google, …)."""

    def __init__(self) -> None:
        super().__init__("API_KEY", patterns=_VENDOR_KEYS, global_regex_flags=FLAGS, name="ApiKeyRecognizer")


class AssignedSecretRecognizer(PatternRecognizer):
    """Values after `api_key=`, `token:`, `Bearer `: kept only when they look random (not a word or a phrase)."""

    PATTERNS: ClassVar[list[Pattern]] = [Pattern("assigned", _ASSIGNED, 0.8), Pattern("bearer", _BEARER, 0.8)]

    def __init__(self) -> None:
        super().__init__("API_KEY", patterns=self.PATTERNS, global_regex_flags=FLAGS, name="AssignedSecretRecognizer")

    def validate_result(self, pattern_text: str) -> bool:
        classes = sum(
            (
                any(c.islower() for c in pattern_text),
                any(c.isupper() for c in pattern_text),
                any(c.isdigit() for c in pattern_text),
            )
        )
        return classes >= 2 and shannon_bits(pattern_text) >= 3.0


class PasswordRecognizer(PatternRecognizer):
    """Inline passwords (`password: hunter2`); JSON keys named like this are dropped by the walker instead."""

    def __init__(self) -> None:
        super().__init__(
            "API_KEY",
            patterns=[Pattern("password", _PASSWORD, 0.8)],
            global_regex_flags=FLAGS,
            name="PasswordRecognizer",
        )


class JwtRecognizer(PatternRecognizer):
    """JSON Web Tokens: three base64url parts whose header decodes to a JSON object."""

    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("jwt", r"\beyJ[A-Za-z0-9_\-]{8,}\.ey[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*", 0.6)
    ]

    def __init__(self) -> None:
        super().__init__("JWT", patterns=self.PATTERNS, global_regex_flags=FLAGS)

    def validate_result(self, pattern_text: str) -> bool:
        header = pattern_text.split(".", 1)[0]
        try:
            decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
        except (binascii.Error, ValueError):
            return False
        return isinstance(decoded, dict)


class PrivateKeyRecognizer(PatternRecognizer):
    """PEM / OpenSSH / PGP private-key blocks, also when cut off by the capture cap (no END line)."""

    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "pem",
            r"-----BEGIN[A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[A-Za-z0-9+/=\s\\:,.]|-(?!----)){0,16384}+"
            r"(?:-----END[A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----)?",
            1.0,
        )
    ]

    def __init__(self) -> None:
        super().__init__("PRIVATE_KEY", patterns=self.PATTERNS, global_regex_flags=FLAGS)
