"""Prompt and response checks for LLM traffic (pure, linear in the text length, never raises).

``scan_prompt`` returns reasons (``Reason`` values) for attack patterns, invisible/bidi characters,
mixed-script homoglyph tokens, encoded blobs, extreme length and repetition; ``scan_response``
flags echoes of the system prompt and PII in model output.  They run inside the capture worker on
raw text and return only enum values, so nothing they see can leak.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import normalise as _n
from .patterns import PATTERNS, SQUASHED
from .reasons import Reason, ordered

MAX_SCAN_CHARS = 262_144  # a prompt's head beyond this is not pattern-scanned (the capture cap is smaller)
EXTREME_CHARS = 100_000  # longer prompts are flagged: far beyond ordinary chat, a context-stuffing tell
_REPETITION_MIN = 256  # shorter texts compress too poorly for the ratio to mean anything
_REPETITION_RATIO = 0.08  # natural text compresses to 0.3-0.6 and templated JSON to ~0.15
_MAX_HITS = (
    128  # candidate characters examined per text: bounds the work, yet honest emoji or "kΩ" cannot hide a later trick
)

_SUSPECT = re.compile(f"[{_n.INVISIBLE_CLASS}]")
_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# A Latin letter directly beside a Cyrillic or Greek one: the seed of a mixed-script token.
_MIXED = re.compile("[a-zA-Z][\u0370-\u03ff\u0400-\u052f]|[\u0370-\u03ff\u0400-\u052f][a-zA-Z]")
_WORD = re.compile(r"\w+")
_CYRILLIC_GREEK = re.compile("[\u0370-\u03ff\u0400-\u052f]")
# Greek letters that pass for Latin ones; "μm", "Δt" or "β-test" mix scripts honestly.
_GREEK_LOOKALIKE = frozenset("αεικνοπρτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{80,}={0,2}")
_HEX = re.compile(
    r"(?<![0-9a-fA-F])[0-9a-fA-F]{160,}(?![0-9a-fA-F])|(?:\\x[0-9a-fA-F]{2}){40,}|(?:%[0-9a-fA-F]{2}){40,}"
)
_BLOB_MIN = 80  # the shortest blob either pattern above accepts
_SHINGLE = 8  # words in a shingle: eight words in a row shared with the system prompt is no coincidence
_MAX_SHINGLES = 20_000
_MAX_SYSTEM_PROMPTS = 16
_MAX_PROMPT_CHARS = 65_536
_NOT_MARKUP = PATTERNS.reasons - {Reason.MARKUP_INJECTION}


def scan_prompt(text: str, *, extreme_chars: int = EXTREME_CHARS) -> tuple[str, ...]:
    """Reasons a prompt looks adversarial (empty when it looks ordinary)."""
    if not isinstance(text, str) or not text:
        return ()
    found: set[str] = set()
    if len(text) > extreme_chars:
        found.add(Reason.EXTREME_LENGTH)
    head = text[:MAX_SCAN_CHARS]
    found.update(unicode_reasons(head))
    found.update(pattern_reasons(head))
    if _has_homoglyph(head):
        found.add(Reason.HOMOGLYPH)
    if _has_blob(head):
        found.add(Reason.ENCODED_BLOB)
    if _is_repetitive(head):
        found.add(Reason.REPETITION)
    return ordered(found)


def pattern_reasons(text: str, only: frozenset[str] | None = None) -> set[str]:
    """Attack-pattern reasons on the normalised, de-obfuscated and squashed views of ``text``.

    ``only`` restricts the work to those reasons (the inline gate asks only for enforced ones).
    """
    skip = frozenset() if only is None else PATTERNS.reasons - only
    norm = _n.normalise(text)
    found = PATTERNS.match(norm, skip)
    clean = _n.deobfuscate(norm)  # only the neighbourhoods of obfuscation hints
    views = [norm]
    if clean is not norm:
        found |= PATTERNS.match(clean, skip | found)
        views.append(clean)
    for view in views:
        found |= SQUASHED.match(_n.squash(view), skip | found, anchored=True)
    return found


def unicode_reasons(text: str) -> set[str]:
    """Invisible and bidirectional control characters, judged by their neighbours (emoji ZWJ, RTL text are fine)."""
    found: set[str] = set()
    rtl: bool | None = None
    for hits, m in enumerate(_SUSPECT.finditer(text)):
        if hits >= _MAX_HITS or len(found) == 2:
            break
        i, ch = m.start(), m.group()
        code = ord(ch)
        if 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069 or code in (0x200E, 0x200F):
            if code in (0x202D, 0x202E):  # overrides reorder what is displayed: Trojan-Source style
                found.add(Reason.BIDI_CONTROL)
                continue
            if rtl is None:
                rtl = _RTL.search(text) is not None
            if not rtl:
                found.add(Reason.BIDI_CONTROL)
        elif _invisible_is_suspect(text, i, code):
            found.add(Reason.INVISIBLE_CHARACTERS)
    return found


def _invisible_is_suspect(text: str, i: int, code: int) -> bool:
    before = text[i - 1] if i > 0 else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    if code == 0x00AD:
        return False  # soft hyphens come with pasted web text; normalise() still drops them
    if 0xE0000 <= code <= 0xE007F:
        # Tag characters are legitimate only inside an emoji flag sequence (U+1F3F4 ... U+E007F).
        j = i
        while j > 0 and 0xE0000 <= ord(text[j - 1]) <= 0xE007F:
            j -= 1
        return not (j > 0 and text[j - 1] == "\U0001f3f4")
    if code == 0xFEFF:
        return i > 0  # a leading byte-order mark is a file artefact
    if code in (0x200C, 0x200D):  # ZWNJ/ZWJ join emoji and shape Persian/Indic script: only odd inside ASCII words
        return before in _ASCII_LETTERS and after in _ASCII_LETTERS
    return before in _ASCII_ALNUM or after in _ASCII_ALNUM or _SUSPECT.match(after) is not None


def _has_homoglyph(text: str) -> bool:
    if _CYRILLIC_GREEK.search(text) is None:
        return False
    for hits, m in enumerate(_MIXED.finditer(text)):
        if hits >= _MAX_HITS:
            return False
        word = _word_at(text, m.start())
        if len(word) < 3:
            continue
        if any("\u0400" <= c <= "\u052f" for c in word):
            return True
        if any(c in _GREEK_LOOKALIKE for c in word):
            return True
    return False


def _word_at(text: str, i: int) -> str:
    start = max(0, i - 64)
    for w in _WORD.finditer(text, start, min(len(text), i + 66)):
        if w.start() <= i < w.end():
            return w.group()
    return ""


def _has_blob(text: str) -> bool:
    if len(text) < _BLOB_MIN:
        return False
    # A blob is one long unbroken token: only those are searched (ordinary text has none).
    long_tokens = [t for t in text.split() if len(t) >= _BLOB_MIN][:_MAX_HITS]
    return any(_blob_in(token) for token in long_tokens)


def _blob_in(token: str) -> bool:
    for m in _BASE64.finditer(token):
        blob = m.group()
        # Real base64 mixes cases and digits; long identifiers and paths do not.
        if (
            any(c.isdigit() for c in blob)
            and any(c.isupper() for c in blob)
            and any(c.islower() for c in blob)
            and blob.count("/") < len(blob) / 10
            and blob.count("_") + blob.count("-") < len(blob) / 10
            and len(set(blob)) >= 20
        ):
            return True
    return _HEX.search(token) is not None


def _is_repetitive(text: str) -> bool:
    if len(text) < _REPETITION_MIN:
        return False
    # Repetitive text repeats any short probe of itself; ordinary text almost never does.  The
    # probes spare ordinary texts the fixed cost of starting zlib.
    n = len(text)
    if not any(text.count(text[i : i + 16]) >= 4 for i in (n // 4, n // 2, 3 * n // 4)):
        return False
    raw = text.encode("utf-8", "surrogatepass")[:65_536]
    return len(zlib.compress(raw, 1)) < _REPETITION_RATIO * len(raw)


# ---------------------------------------------------------------------------- responses


def scan_response(
    text: str, *, system_prompts: Sequence[str] = (), pii_counts: Mapping[str, int] | None = None
) -> tuple[str, ...]:
    """Reasons a model response looks like a leak: system-prompt echo, PII, exfiltration markup."""
    found: set[str] = set()
    if pii_counts and any(n > 0 for n in pii_counts.values()):
        found.add(Reason.PII_IN_OUTPUT)
    if isinstance(text, str) and text:
        head = text[:MAX_SCAN_CHARS]
        if system_prompts and echoes_system_prompt(head, system_prompts):
            found.add(Reason.SYSTEM_PROMPT_ECHO)
        found.update(unicode_reasons(head))
        # Markdown-image exfiltration and injected markup matter most in what the client will render.
        if PATTERNS.match(_n.normalise(head), _NOT_MARKUP):
            found.add(Reason.MARKUP_INJECTION)
    return ordered(found)


def echoes_system_prompt(response: str, system_prompts: Iterable[str]) -> bool:
    """True when the response repeats a run of ``_SHINGLE`` words (or all of a short prompt) verbatim."""
    words = _n.normalise(response).split()
    if not words:
        return False
    joined = " ".join(words)
    for prompt in list(system_prompts)[:_MAX_SYSTEM_PROMPTS]:
        pwords = _n.normalise(prompt[:_MAX_PROMPT_CHARS]).split()
        if len(pwords) < _SHINGLE:
            # A short prompt counts only when quoted whole and it is not a one-line stock phrase.
            if len(pwords) >= 5 and " ".join(pwords) in joined:
                return True
            continue
        shingles = {" ".join(pwords[i : i + _SHINGLE]) for i in range(min(len(pwords) - _SHINGLE + 1, _MAX_SHINGLES))}
        hits = 0
        for i in range(len(words) - _SHINGLE + 1):
            if " ".join(words[i : i + _SHINGLE]) in shingles:
                hits += 1
                if hits >= 2 or len(pwords) < 2 * _SHINGLE:
                    return True
    return False


def extract_system_prompts(request_json: Any) -> tuple[str, ...]:
    """System/developer texts of an OpenAI-style chat request (also ``system``/``instructions`` fields)."""
    if not isinstance(request_json, Mapping):
        return ()
    out: list[str] = []
    for key in ("system", "instructions"):
        out.extend(_texts(request_json.get(key)))
    messages = request_json.get("messages")
    if isinstance(messages, list):
        for message in messages[:256]:
            if isinstance(message, Mapping) and message.get("role") in ("system", "developer"):
                out.extend(_texts(message.get("content")))
    return tuple(t[:_MAX_PROMPT_CHARS] for t in out if t)[:_MAX_SYSTEM_PROMPTS]


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            part["text"] for part in content[:64] if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        ]
    return []
