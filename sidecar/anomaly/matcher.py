"""Keyword-gated regex branches and the set that matches them against a text view (pure).

A ``Branch`` is one linear-time regex plus literal keywords it cannot match without.  A
``PatternSet`` groups branches by reason, checks keywords once per view (a token pass plus a few
substring tests) and wakes only branches whose keywords occur; word-led branches are then tried
only where their first word occurs, instead of scanning the whole text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .normalise import strip_marks

_TOKEN = re.compile(r"[a-z0-9_]+")
# ASCII punctuation → space, so that str.split() yields the same tokens as _TOKEN (much faster).
_TO_SPACE = str.maketrans({chr(c): " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")})
ANCHOR_MIN = 256  # views at least this long try word-led patterns at candidate words instead of scanning


class Branch:
    """One pattern plus the literal keywords it cannot match without (a cheap prefilter).

    ``keywords`` reads "a|b&c|d": (a or b) and (c or d) must occur in the text.  A leading ``\\b``
    is checked by hand after the match: a pattern that starts with a plain word alternation lets
    the regex engine skip ahead by first character, several times faster.  Such a pattern also
    knows its possible first words (``starts``), so in a long text it is tried only where a token
    begins with one of them instead of scanning the whole text.
    """

    __slots__ = ("bounded", "groups", "line_start", "regex", "starts")

    def __init__(self, keywords: str, source: str, *, anywhere: bool = False) -> None:
        self.groups = tuple(frozenset(strip_marks(k) for k in group.split("|")) for group in keywords.split("&"))
        self.bounded = source.startswith("\\b")
        # "(?:^|\\n)" patterns become "\\n" ones searched on "\\n" + view: a literal first character
        # lets the engine jump between newlines instead of trying every position.
        self.line_start = source.startswith("(?:^|\\n)")
        body = strip_marks(source[2:] if self.bounded else "\\n" + source[8:] if self.line_start else source)
        self.regex = re.compile(body)
        # Unbounded patterns may not start at a word (markup, scripts); squashed text has no words.
        self.starts = _start_words(body) if self.bounded or anywhere else None

    def search(self, view: str, present: set[str] | None = None, tokens: WordIndex | None = None) -> bool:
        """Whether the pattern matches ``view``; ``present`` = keywords already known to occur in it."""
        if present is None:
            present = {k for group in self.groups for k in group if k in view}
        if not all(group & present for group in self.groups):
            return False
        if tokens is not None and self.starts is not None:
            for start in sorted({p for word in self.starts for p in tokens.positions(word, self.bounded)}):
                if self.regex.match(view, start):
                    return True
            return False
        if self.line_start:
            return self.regex.search("\n" + view) is not None
        pos = 0
        while (m := self.regex.search(view, pos)) is not None:
            start = m.start()
            if not self.bounded or start == 0 or not _is_word(view[start - 1]):
                return True
            pos = start + 1  # a match inside a word: look further (every retry moves forward)
        return False


class WordIndex:
    """Where words start in one view (found with ``str.find``, cached per word)."""

    __slots__ = ("_cache", "_view")

    def __init__(self, view: str) -> None:
        self._view = view
        self._cache: dict[tuple[str, bool], list[int]] = {}

    def positions(self, word: str, boundary: bool = True) -> list[int]:
        """Offsets where ``word`` occurs (at the start of a word, with ``boundary``)."""
        hit = self._cache.get((word, boundary))
        if hit is None:
            view, hit = self._view, []
            i = view.find(word)
            while i >= 0:
                if not boundary or i == 0 or not _is_word(view[i - 1]):
                    hit.append(i)
                i = view.find(word, i + 1)
            self._cache[(word, boundary)] = hit
        return hit


def _start_words(body: str) -> tuple[str, ...] | None:
    """The words any match of ``body`` must begin with, or None when that cannot be read off simply."""
    alternatives = _split_alternatives(body)
    if len(alternatives) > 1:
        parts = [_start_words(a) for a in alternatives]
        return None if any(p is None for p in parts) else tuple(sorted({w for p in parts for w in p or ()}))
    if body.startswith("(?:"):
        end = _group_end(body)
        if end < 0 or body[end + 1 : end + 2] in ("?", "*", "{"):
            return None  # an optional first group: the match may begin with what follows
        return _start_words(body[3:end])
    m = _LEADING_WORD.match(body)
    if m is None:
        return None
    word = m.group()
    if body[m.end() : m.end() + 1] in ("?", "*", "{"):
        word = word[:-1]  # "instructions?": the last letter is optional
    return (word,) if len(word) >= 3 else None


def _group_end(body: str) -> int:
    depth = 0
    for i, ch in enumerate(body):
        if body[i - 1 : i] == "\\":
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _split_alternatives(body: str) -> list[str]:
    """``body`` split at its top-level ``|`` (outside groups and character classes)."""
    out, depth, start, in_class = [], 0, 0, False
    for i, ch in enumerate(body):
        if body[i - 1 : i] == "\\":
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            out.append(body[start:i])
            start = i + 1
    out.append(body[start:])
    return out


_LEADING_WORD = re.compile(r"[a-z]+")


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


class PatternSet:
    """Branches grouped by reason, with the keyword tables that gate them.

    ``anywhere`` is for squashed text (no word boundaries): keywords are substring tests and
    word-led branches may start anywhere.
    """

    def __init__(self, table: Sequence[tuple[str, Sequence[tuple[str, str]]]], *, anywhere: bool = False) -> None:
        self.anywhere = anywhere
        self.groups: tuple[tuple[str, tuple[Branch, ...]], ...] = tuple(
            (reason, tuple(Branch(k, s, anywhere=anywhere) for k, s in parts)) for reason, parts in table
        )
        self.reasons = frozenset(reason for reason, _ in self.groups)
        self._all = tuple((reason, b) for reason, branches in self.groups for b in branches)
        index: dict[str, list[int]] = {}
        for i, (_, branch) in enumerate(self._all):
            for keyword in branch.groups[0]:
                index.setdefault(keyword, []).append(i)
        self._by_keyword = {k: tuple(v) for k, v in index.items()}
        self._words, self._substrings, self._foreign = self._keyword_tables()

    def match(
        self, view: str, skip: set[str] | frozenset[str] = frozenset(), *, anchored: bool | None = None
    ) -> set[str]:
        """Reasons whose branches match ``view``, ``skip`` excluded.

        ``anchored`` (default: by length) tries word-led branches only where their first word
        occurs; the answer is the same either way, only the cost differs.
        """
        if self.reasons <= skip:
            return set()
        # Phrases may be broken across lines; only line-start patterns care where lines begin.
        flat = view.replace("\n", " ") if "\n" in view else view
        present = self.present_keywords(flat)
        words = WordIndex(flat) if (len(view) >= ANCHOR_MIN if anchored is None else anchored) else None
        found: set[str] = set()
        # Only branches one of whose first-group keywords occurs are candidates: most texts wake few.
        for i in sorted({i for k in present for i in self._by_keyword.get(k, ())}):
            reason, branch = self._all[i]
            if reason in found or reason in skip:
                continue
            if branch.search(view, present) if branch.line_start else branch.search(flat, present, words):
                found.add(reason)
        return found

    def present_keywords(self, view: str) -> set[str]:
        """The keywords that occur in ``view`` (a necessary condition of each branch, nothing more).

        A keyword with an ASCII word of three letters or more is looked up by its longest such
        word, which counts when it starts a token (every pattern has its words at word starts): one
        pass over the text's distinct tokens answers all of them.  The rest are substring tests.
        """
        if self.anywhere:
            return {k for _, b in self._all for g in b.groups for k in g if k in view}
        present = {k for k in self._substrings if k in view}
        if view.isascii():
            tokens = set(view.translate(_TO_SPACE).split())
        else:
            present.update(k for k in self._foreign if k in view)
            tokens = set(_TOKEN.findall(view))
        for token in tokens:
            for word, keywords in self._words.get(token[:3], ()):
                if token.startswith(word):
                    present.update(keywords)
        return present

    def _keyword_tables(
        self,
    ) -> tuple[dict[str, tuple[tuple[str, tuple[str, ...]], ...]], tuple[str, ...], tuple[str, ...]]:
        by_word: dict[str, list[str]] = {}
        substrings, foreign = [], []
        for k in sorted({k for _, b in self._all for group in b.groups for k in group}):
            words = [w for w in _TOKEN.findall(k) if len(w) >= 3]
            if not k.isascii():
                foreign.append(k)
            elif words:
                by_word.setdefault(max(words, key=len), []).append(k)
            else:
                substrings.append(k)
        table: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for word, keywords in sorted(by_word.items()):
            table.setdefault(word[:3], []).append((word, tuple(keywords)))
        return {p: tuple(entries) for p, entries in table.items()}, tuple(substrings), tuple(foreign)
