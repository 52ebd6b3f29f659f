"""Text views that attack patterns are matched against (pure, linear time).

``normalise``: NFKD, invisible characters and combining marks dropped, casefolded, horizontal
whitespace collapsed, so accents, full-width forms, zero-width splitting and case do not hide a
phrase.  ``deobfuscate`` additionally maps leetspeak digits and Latin look-alike Cyrillic/Greek
letters to ASCII and joins spaced-out letters; ``squash`` keeps ASCII letters only.
"""

from __future__ import annotations

import re
import unicodedata

# Characters that render as nothing (zero-width, bidi controls, tags, BOM, soft hyphen).
INVISIBLE_CLASS = "\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f"
_INVISIBLE = re.compile(f"[{INVISIBLE_CLASS}]+")
# Combining marks of the Latin/Greek/Cyrillic/Arabic/kana families (accents a pattern should not depend on).
_MARKS = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u064b-\u065f\u0670\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\u3099\u309a\ufe20-\ufe2f]+"
)
_HSPACE = re.compile(r"[^\S\n]+")
_NEWLINES = re.compile(r" ?\n[\s]*")
_QUOTES = (("\u2018", "'"), ("\u2019", "'"), ("\u201b", "'"), ("\u2032", "'"), ("\u201c", '"'), ("\u201d", '"'))
# Leetspeak and Latin look-alikes (Cyrillic, Greek) → ASCII letters; only for the de-obfuscated view.
_DELEET = str.maketrans(
    {
        "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
        "ѕ": "s", "к": "k", "м": "m", "т": "t", "ԁ": "d", "ɡ": "g", "ӏ": "l",
        "α": "a", "ο": "o", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t", "υ": "u",
        "χ": "x", "ς": "s", "η": "n",
    }
)  # fmt: skip
# Runs of single characters separated by one separator: "i g n o r e", "i.g.n.o.r.e", "i-g-n-o-r-e".
_SPACED = re.compile(r"(?<!\w)(?:\w[ .*_\-]){2,}\w(?!\w)")
_SEPARATORS = re.compile(r"[ .*_\-]")
_NOT_LOWER = bytes(c for c in range(256) if not 0x61 <= c <= 0x7A)
# Cheap hints that de-obfuscation could change something: a letter beside a leet digit, a Latin
# letter beside a Cyrillic/Greek one, or three single characters in a row between separators.
# (Written to start with the rare digit class, so the engine skips ahead by first character.)
_LEET = re.compile("[013457@$](?:(?<=[a-z][013457@$])|(?=[a-z]))")
_LOOKALIKE_MIX = re.compile(
    "[a-z][\u0370-\u03ff\u0400-\u052f\u0261\u04cf]|[\u0370-\u03ff\u0400-\u052f\u0261\u04cf][a-z]"
)
_SPACED_HINT = re.compile(r"[ .*_\-]\w[ .*_\-]\w[ .*_\-]\w[ .*_\-]")
_WINDOW = 600  # characters around a hint that are de-obfuscated: longer than any pattern's match


def strip_marks(text: str) -> str:
    """Combining marks removed (how pattern sources are normalised)."""
    return unicodedata.normalize("NFC", _MARKS.sub("", unicodedata.normalize("NFKD", text)))


def normalise(text: str) -> str:
    """The view every pattern is matched against (see module docstring)."""
    if text.isascii():
        text = text.lower()  # ASCII is already in every normal form and holds no invisible characters
        # The whitespace pass is skipped when there is nothing to collapse (the common case).
        spaced = "  " in text or "\t" in text or "\r" in text or "\x0b" in text or "\x0c" in text
    else:
        text = _INVISIBLE.sub("", unicodedata.normalize("NFKD", text))
        text = unicodedata.normalize("NFC", _MARKS.sub("", text)).casefold()
        for quote, plain in _QUOTES:
            if quote in text:
                text = text.replace(quote, plain)
        spaced = True
    if spaced:
        text = _HSPACE.sub(" ", text)
    return _NEWLINES.sub("\n", text) if "\n" in text else text


def deobfuscate(norm: str) -> str:
    """The neighbourhoods of obfuscation hints in a normalised text, de-obfuscated.

    Leetspeak digits and Latin look-alike letters become ASCII and spaced-out letters are joined,
    but only within ``_WINDOW`` characters of a hint (joined by " \\x00 "), so a long ordinary text
    with a stray "k8s" costs a second match over a few hundred characters, not over all of it.
    Returns ``norm`` itself when nothing looks obfuscated.
    """
    hints = [_LEET, _SPACED_HINT] if norm.isascii() else [_LEET, _SPACED_HINT, _LOOKALIKE_MIX]
    spans = sorted((max(0, m.start() - _WINDOW), m.end() + _WINDOW) for rx in hints for m in rx.finditer(norm))
    if not spans:
        return norm
    merged = [list(spans[0])]
    for start, end in spans[1:]:
        if start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    text = " \x00 ".join(norm[start:end] for start, end in merged)
    return _SPACED.sub(lambda m: _SEPARATORS.sub("", m.group()), text.translate(_DELEET))


def squash(deobfuscated: str) -> str:
    """ASCII letters only: catches phrases split by arbitrary punctuation or spacing."""
    return deobfuscated.encode("ascii", "ignore").translate(None, _NOT_LOWER).decode("ascii")
