"""Text normalisation and the prompt-attack pattern tables (pure; linear-time regexes only).

Every pattern is matched against normalised text (``normalise``: NFKD, invisible characters and
combining marks dropped, casefolded, horizontal whitespace collapsed), so accents, full-width forms,
zero-width splitting and case do not hide a phrase.  ``deobfuscate`` additionally maps leetspeak
digits and Latin look-alike Cyrillic/Greek letters to ASCII and joins spaced-out letters.  Patterns
are written lowercase and pass through the same mark-stripping, so "précédentes" in a pattern
matches "precedentes" in the text.  Regexes use only bounded repetition around literal words, so
Python's backtracking engine stays linear in the text length.
"""

from __future__ import annotations

import re
import unicodedata

from .reasons import Reason

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


class _Branch:
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


def _compile(parts: list[tuple[str, str]], *, anywhere: bool = False) -> tuple[_Branch, ...]:
    return tuple(_Branch(keywords, source, anywhere=anywhere) for keywords, source in parts)


_ANCHOR_MIN = 256  # views at least this long try word-led patterns at candidate words instead of scanning


def match(view: str, skip: set[str] | frozenset[str] = frozenset(), *, anchored: bool | None = None) -> set[str]:
    """Reasons whose patterns match a normalised (or de-obfuscated) view, ``skip`` excluded.

    ``anchored`` (default: by length) tries word-led patterns only where a token could start a
    match; the answer is the same either way, only the cost differs.
    """
    if all(reason in skip for reason, _ in PATTERNS):
        return set()
    present = present_keywords(view)
    tokens = WordIndex(view) if (len(view) >= _ANCHOR_MIN if anchored is None else anchored) else None
    found: set[str] = set()
    # Only branches one of whose first-group keywords occurs are candidates: most texts wake few.
    for index in sorted({i for k in present for i in _BRANCHES_BY_KEYWORD.get(k, ())}):
        reason, branch = _ALL_BRANCHES[index]
        if reason not in found and reason not in skip and branch.search(view, present, tokens):
            found.add(reason)
    return found


_Q = r"(?:previous|prior|above|earlier|preceding|foregoing|original|initial|old|existing|system|safety)"
_DET = r"(?:the |your |my |these |those |all |any |of |all of |all the |all your |any of |any of the |every )?"
_NOUN = r"(?:instructions?|prompts?|directives?|guidelines|guidance|programming|commands|orders|rules|constraints|restrictions|polic(?:y|ies)|context|messages)"

_INJECTION: list[tuple[str, str]] = [
    (
        "ignore|disregard|forget|neglect|abandon",
        rf"\b(?:ignore|disregard|forget|neglect|abandon)\b,? {_DET}{_Q} (?:\w+ )?{_NOUN}\b",
    ),
    # "all"/"any" alone qualify only instruction-like nouns: "ignore all rules" is an eslint question.
    (
        "ignore|disregard|forget|neglect|abandon",
        r"\b(?:ignore|disregard|forget|neglect|abandon)\b,? (?:all|any|every)(?: of)?(?: the| your)? (?:\w+ )?(?:instructions?|prompts?|directives|guidelines|programming)\b",
    ),
    (
        "ignore|disregard|forget",
        r"\b(?:ignore|disregard|forget)\b,? (?:all |any )?(?:of )?your (?:\w+ )?(?:instructions|rules|guidelines|programming|training|directives)\b",
    ),
    (
        "ignore|disregard|forget",
        r"\b(?:ignore|disregard|forget)\b (?:everything|all|anything) (?:(?:that |which )?(?:was |is |i |you |we )?(?:have been |were |was )?(?:said|written|told|stated|mentioned|given|typed|wrote) )?(?:above|before (?:this|now)|previously|earlier|so far|up to now|until now)\b",
    ),
    (
        "override|bypass",
        r"\b(?:override|bypass) (?:your|the system|all previous|any previous|the previous) (?:\w+ )?(?:instructions|rules|prompt|guidelines|programming)\b",
    ),
    (
        "do not",
        r"\bdo not (?:follow|obey|listen to|comply with) (?:your (?:\w+ )?|the (?:previous|prior|original|system|above) )(?:instructions|rules|guidelines|programming|system prompt)\b",
    ),
    (
        "instructions|directives|system prompt&:",
        r"\b(?:new|updated|revised|real|actual) (?:system )?(?:instructions|directives|system prompt) ?:",
    ),
    (
        "from now on|henceforth|starting now",
        r"\b(?:from now on|henceforth|starting now),? (?:you (?:will|must|shall|are to) )?(?:ignore|disregard|forget|not follow|answer without|respond without)\b",
    ),
    (
        "fake|false|a test|void|cancel|obsolete|outdated|no longer valid",
        r"\bthe (?:above|previous|prior) (?:instructions|text|prompt|rules) (?:is|are|was|were) (?:fake|false|a test|void|cancel+ed|obsolete|outdated|no longer valid)\b",
    ),
    ("ignore", r"\bignore (?:the )?above and (?:instead )?(?:print|output|say|repeat|write)\b"),
    # es, fr, de, it, pt, ru, zh, ja, ko, ar, hi
    (
        "ignor|olvid|descarta|omite",
        r"\b(?:ignora|ignore|olvida|olvide|descarta|omite)\b (?:todas |todos )?(?:las |los |tus |sus )?(?:instrucciones|indicaciones|reglas|órdenes|directrices)(?: \w+){0,2} (?:anteriores|previas|de arriba|del sistema|iniciales)\b",
    ),
    ("ignora|olvid", r"\b(?:ignora|olvida|olvide)\b todo lo (?:anterior|que te (?:dijeron|han dicho))\b"),
    (
        "ignore|oublie",
        r"\b(?:ignore|ignorez|oublie|oubliez)\b (?:toutes |tous )?(?:les |tes |vos |des )?(?:instructions|consignes|règles|directives)(?: \w+){0,2} (?:précédentes|antérieures|ci-dessus|du système|initiales)\b",
    ),
    (
        "ignorier|vergiss|vergessen|missachte",
        r"\b(?:ignoriere|ignorier|ignorieren sie|vergiss|vergessen sie|missachte)\b (?:alle |jegliche |sämtliche )?(?:deine |ihre |die |meine )?(?:vorherigen |bisherigen |vorigen |obigen |vorangegangenen |ursprünglichen |alten )?(?:anweisungen|instruktionen|regeln|befehle|vorgaben|richtlinien)\b",
    ),
    (
        "ignora|dimentica",
        r"\b(?:ignora|dimentica|ignorate|dimenticate)\b (?:tutte )?(?:le )?(?:istruzioni|regole|indicazioni)(?: \w+){0,2} (?:precedenti|sopra|del sistema|iniziali)\b",
    ),
    (
        "ignor|esquec|desconsidere",
        r"\b(?:ignore|ignora|esqueça|desconsidere)\b (?:todas )?(?:as )?(?:instruções|regras|orientações)(?: \w+){0,2} (?:anteriores|acima|do sistema|iniciais)\b",
    ),
    (
        "игнорир|забуд|проигнорир|не обращаи",
        r"(?:игнорируй|игнорируйте|забудь|забудьте|проигнорируй|не обращай внимания на) (?:все |всё )?(?:предыдущие |прошлые |прежние |свои |твои |вышеуказанные )?(?:инструкции|указания|правила|команды)",
    ),
    (
        "忽略|无视|忽视|忘记|忘掉|不要理会|不要遵守|無視|忘記",
        r"(?:忽略|无视|忽视|忘记|忘掉|不要理会|不要遵守|無視|忘記)(?:你)?(?:之前|以上|上面|前面|先前|所有|全部|一切|以前)(?:的)?(?:所有|全部)?(?:的)?(?:指令|指示|说明|說明|规则|規則|提示|命令|要求)",
    ),
    (
        "無視|忘れ",
        r"(?:以前|前|上|これまで|先程|今まで)の(?:すべての|全ての|全)?(?:指示|命令|ルール|指令)を(?:すべて|全て)?(?:無視|忘れ)",
    ),
    ("무시|잊어", r"(?:이전|위의|앞의|모든) (?:모든 )?(?:지시|지침|명령|규칙)(?:사항)?(?:을|를|은|는)? (?:무시|잊어)"),
    (
        "تجاهل|انس",
        r"(?:تجاهل|انس|تجاهلي|تجاهلوا) (?:جميع |كل )?(?:التعليمات|الأوامر|القواعد|التوجيهات) (?:السابقة|الأولى|أعلاه)",
    ),
    ("निर्देश", r"(?:पिछले|पहले के|ऊपर के) (?:सभी )?निर्देश(?:ों)? (?:को )?(?:अनदेखा|नज़रअंदाज़|भूल)"),
]

_ROGUE = (
    r"(?:unrestricted|unfiltered|uncensored|unlimited|unbound|amoral|evil|rogue|jailbroken|unaligned|unethical|lawless)"
)
_JAILBREAK: list[tuple[str, str]] = [
    (
        "you&dan|stan|dude|unrestrict|unfilter|uncensor|unlimited|unbound|amoral|evil|rogue|jailbr|unaligned|unethical|lawless|free from",
        rf"\byou(?: are|'re|re) (?:now |going to be |about to become )?(?:dan|stan|dude|an? {_ROGUE} (?:ai|assistant|model|chatbot|language model|version|bot|llm)|jailbroken|free from (?:all |any )?(?:restrictions|rules|filters|guidelines))\b",
    ),
    ("do anything now", r"\bdo anything now\b"),
    (
        "unrestrict|unfilter|uncensor|unlimited|unbound|amoral|evil|rogue|jailbr|unaligned|unethical|lawless",
        rf"\b(?:act|behave|respond|roleplay|role-play|pretend to be|pose|answer) (?:as|like) (?:an? |my |the )?{_ROGUE}\b",
    ),
    (
        "mode",
        r"\b(?:you are|you're|you will|you must|now) (?:now )?(?:in |enter |operating in |running in |be in )?(?:developer|dev|god|jailbreak|dan|unrestricted|unfiltered) mode\b",
    ),
    ("developer mode", r"\bdeveloper mode (?:enabled|output|response|activated)\b"),
    (
        "mode",
        r"\b(?:enable|activate|enter|unlock) (?:the )?(?:jailbreak|dan|god|unrestricted|unfiltered|uncensored) mode\b",
    ),
    (
        "pretend",
        r"\bpretend (?:that )?(?:you|you're|you are) (?:have no|don't have|do not have|are not bound by|aren't bound by|are free (?:of|from)|without) (?:any )?(?:restrictions|rules|filters|guidelines|limits|limitations|ethics|morals|content policy|policies|boundaries)\b",
    ),
    (
        "ethical|moral|safety|content&without|with no|free of|free from|not bound|ignoring|unconstrained",
        r"\b(?:answer|respond|reply|talk|speak|act|operate|output|generate|write)\b(?: \w+){0,4} (?:without|with no|free (?:of|from)|not bound by|ignoring|unconstrained by) (?:any )?(?:\w+ )?(?:ethical|moral|safety|content) ?(?:guidelines|constraints|restrictions|limits|filters|considerations|boundaries|rules|policies|censorship)\b",
    ),
    ("jailbr", r"\bjailbr(?:eak|oken) (?:mode|prompt|persona|version|ai|assistant|chatgpt|gpt|llm|model)\b"),
    (
        "freed|broken free|liberated|released",
        r"\b(?:freed|broken free|liberated|released) (?:from|of) (?:the )?(?:typical |usual )?(?:confines|constraints|restrictions|limitations|shackles)\b",
    ),
    (
        "bound by|restricted by|limited by|constrained by",
        r"\b(?:not|no longer|never) (?:be )?(?:bound|restricted|limited|constrained) by (?:any |the |your )?(?:openai|anthropic|google|ethical|content|safety)?'?s? ?(?:polic(?:y|ies)|guidelines|filters|programming|content policy|ethics)\b",
    ),
    (
        "safety|content|ethical|moderation|censorship",
        r"\b(?:disable|bypass|override|turn off|deactivate|ignore|remove) (?:your |the |all |any )?(?:safety|content|ethical|moderation|censorship) (?:filters?|guardrails|safeguards|restrictions|guidelines|protocols|policies|settings)\b",
    ),
    (
        "stop|cease&being|acting as",
        r"\b(?:stop|cease) (?:being|acting as) (?:an? )?(?:ai|assistant|chatbot|language model)\b",
    ),
    ("ты теперь|теперь ты", r"(?:ты теперь|теперь ты) (?:dan|без ограничений|неограниченный|нефильтрованный)"),
    ("режим разработчика|без каких-либо ограничении", r"(?:режим разработчика|без каких-либо ограничений)"),
    (
        "ia sin|asistente sin",
        r"\b(?:eres|ahora eres) (?:un |una )?(?:ia|asistente) sin (?:restricciones|filtros|censura)\b",
    ),
    (
        "tu es|vous etes",
        r"\b(?:tu es|vous êtes) (?:maintenant )?(?:une |un )?(?:ia|assistant) sans (?:restrictions|filtres|censure)\b",
    ),
    ("du bist", r"\bdu bist (?:jetzt |nun )?(?:eine |ein )?(?:ki|assistent) ohne (?:einschränkungen|filter|zensur)\b"),
    (
        "你现在是|你現在是|现在你是",
        r"(?:你现在是|你現在是|现在你是)(?:一个)?(?:没有|沒有)(?:任何)?(?:限制|过滤|審查|审查)",
    ),
]

_SYS = r"(?:system ?prompt|system message|system instructions|initial instructions|original instructions|hidden instructions|internal instructions|secret instructions|developer (?:message|prompt|instructions)|pre-?prompt|initial prompt|original prompt|meta-?prompt|instructions (?:you were given|you received|you have been given|given to you))"
_ADJ = r"(?:full |entire |complete |exact |whole |original |initial |hidden |secret |internal |real |actual |verbatim |first |previous |current )"
_EXTRACTION: list[tuple[str, str]] = [
    (
        "system|instructions|prompt|preprompt|metaprompt|developer&print|show|reveal|display|output|repeat|recite|tell me|give me|share|write|leak|dump|expose|disclose|provide|paste|spell out|echo|return|translate|summar|read back|copy",
        rf"\b(?:print|show|reveal|display|output|repeat|recite|tell me|give me|share|write out|write down|leak|dump|expose|disclose|provide|paste|spell out|echo|return|translate|summarize|summarise|read back|copy)\b (?:me |us )?(?:back )?(?:all |the |your |all of your |everything in your |of your )?{_ADJ}{{0,3}}{_SYS}",
    ),
    (
        "what&system|instructions|prompt|preprompt|metaprompt|developer",
        rf"\bwhat (?:is|are|was|were|does) your {_ADJ}{{0,2}}{_SYS}",
    ),
    (
        "were you|have you",
        r"\b(?:what|which) (?:instructions|rules|guidelines) (?:were|have) you (?:been )?(?:given|told|programmed with)\b",
    ),
    (
        "you told",
        r"\bwhat (?:were|was) you told (?:before|at the (?:start|beginning)|initially|in your (?:system )?prompt)\b",
    ),
    (
        "repeat",
        r"\brepeat (?:all )?(?:of )?(?:the )?(?:words|text|everything|lines|content|messages?) (?:above|before this)\b",
    ),
    ("you are", r"\b(?:beginning|starting|start) with (?:the )?(?:words |phrase )?[\"']?you are (?:a |an |chatgpt)"),
    (
        "sistema|iniciales",
        r"\b(?:muestra|muestrame|revela|dime|imprime|ensename|repite)\b (?:me )?(?:tu|el|su|tus) (?:prompt|mensaje|instrucciones) (?:del |de )?(?:sistema|iniciales)\b",
    ),
    (
        "systeme|initiale",
        r"\b(?:montre|montrez|révèle|révélez|affiche|affichez|donne|donnez|répète|répétez)(?:-moi| moi)? (?:ton|votre|le|tes|vos) (?:prompt|message|instructions|consignes) (?:système|du système|initiales?)\b",
    ),
    (
        "system|anweisungen|anfangsanweisungen",
        r"\b(?:zeige?|zeig|gib|nenne|verrate|wiederhole)\b (?:mir )?(?:deinen|deine|den|die|ihren) (?:system-?prompt|systemnachricht|systemanweisungen|anfangsanweisungen|ursprünglichen anweisungen)\b",
    ),
    (
        "системн|исходные",
        r"(?:покажи|выведи|раскрой|напиши|повтори|скажи)(?: мне)? (?:свой |твой |свои |твои )?(?:системный промпт|системное сообщение|системные инструкции|исходные инструкции)",
    ),
    (
        "系统|系統|初始指令",
        r"(?:显示|顯示|输出|輸出|告诉我|告訴我|打印|透露|泄露|重复|重複)(?:一下)?(?:你的|你)?(?:系统提示|系統提示|系统指令|系統指令|初始指令|系统消息)",
    ),
    ("システムフロンフト", r"システムプロンプトを(?:表示|教え|出力|見せ|繰り返)"),
    ("시스템 프롬프트", r"시스템 프롬프트(?:를|을)? (?:보여|출력|알려)"),
]

_SECRET_NOUN = r"(?:api[ _-]?keys?|secret keys?|secrets|passwords?|passwd|credentials?|access tokens?|auth(?:entication)? tokens?|bearer tokens?|private keys?|ssh keys?|env(?:ironment)? (?:variables|vars)|connection strings?|session (?:tokens?|cookies?))"
_SECRET: list[tuple[str, str]] = [
    (
        "key|api|secret|passw|credential|token|env|connection string|cookie&your|admin|root|system|server|database|db|openai|aws|master|developer|stored|internal",
        rf"\b(?:print|show|reveal|display|output|tell me|give me|share|leak|dump|expose|disclose|send|list|return|what (?:is|are)|read out)\b (?:me |us )?(?:all |the )?(?:of )?(?:your|the (?:admin|administrator|root|system|server|database|db|openai|aws|master|developer)'?s?|the stored|any stored|all stored|internal|stored) (?:\w+ ){{0,2}}{_SECRET_NOUN}\b(?! (?:policy|policies|requirements?|reset|manager|field|length|strength|format|hint|rules))",
    ),
    (
        "environment variables|env vars|secrets&access|see|read|have",
        r"\b(?:environment variables|env vars|secrets)(?: \w+){0,3} (?:you|the (?:server|system|model|assistant|agent)) (?:can |could |are able to )?(?:access|see|read|have)\b",
    ),
    (
        "/etc/|/proc/|.ssh/|.aws/|.git-credentials",
        r"\b(?:cat|type|print|read|show|dump|output|run)\b (?:the )?(?:contents of )?(?:/etc/(?:passwd|shadow)|/proc/self/environ|~/\.ssh/id_|\.aws/credentials|\.git-credentials)",
    ),
    (
        "clave|contrasena|credenciales",
        r"\b(?:muestra|revela|dime)\b (?:me )?(?:tu|la|las) (?:clave api|contraseña|contraseñas|credenciales)\b",
    ),
    ("ключ|пароль|токен", r"(?:покажи|выведи|скажи)(?: мне)? (?:свой |твой )?(?:api-ключ|api ключ|пароль|токен)"),
]

_MARKUP: list[tuple[str, str]] = [
    (
        "im_|system|user|assistant|endoftext|begin_of_text|start_header_id|end_header_id|eot_id|fim_",
        r"<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|begin_of_text|start_header_id|end_header_id|eot_id|fim_prefix|fim_suffix|fim_middle)\|>",
    ),
    ("inst]", r"\[/?inst\]"),
    ("sys>>", r"<</?sys>>"),
    ("</s>", r"</s> ?(?:<s>|\[inst\])"),
    ("##", r"(?:^|\n) ?#{2,} ?(?:system|developer|admin|assistant) ?(?:prompt|message|instructions?|override)? ?:"),
    (
        "system|developer|sys|admin",
        r"(?:^|\n) ?(?:\[|<|\{) ?/?(?:system|developer|sys|system_prompt|system message|admin) ?(?:\]|>|\})",
    ),
    (
        "system|developer|admin|root&override|command|instruction|update|notice|message|prompt",
        r"(?:^|\n) ?(?:system|developer|admin|root) (?:override|command|instruction|update|notice|message|prompt) ?:",
    ),
    (
        "system|developer&:",
        r"(?:^|\n) ?(?:system|developer) ?: ?(?:you|ignore|new|from now|the user|override|disregard|forget|reveal)\b",
    ),
    ("<script", r"<script\b[^>]{0,200}>[^<]{0,400}?(?:document\.cookie|localstorage|sessionstorage)"),
    (
        "onerror|onload|onmouseover|onfocus|ontoggle|onbegin",
        r"<(?:img|svg|body|iframe|video|audio|input|details|a)\b[^>]{0,200}\bon(?:error|load|mouseover|focus|toggle|begin) ?= ?[\"']?[^\"'>]{0,100}?(?:alert ?\(|fetch ?\(|eval ?\(|document\.cookie|location|atob ?\()",
    ),
    ("<iframe", r"<iframe\b[^>]{0,200}\bsrc ?= ?[\"']? ?(?:javascript:|data:text/html)"),
    ("javascript:", r"\b(?:href|src|action) ?= ?[\"']? ?javascript:(?!void)"),
    ("![", r"!\[[^\]\n]{0,200}\]\( ?<?https?://[^\s)]{1,400}?[?&][\w.-]{1,40}=[^\s)&]{0,200}?(?:\{|\[|<|%7b|%5b|\$)"),
    (
        "image&url|link",
        r"\b(?:render|display|output|include|embed|show|print|add)\b(?: \w+){0,4} (?:markdown )?image\b(?: \w+){0,6} (?:url|link)\b(?: \w+){0,6} (?:containing|with|including|appending|appended|contains) (?:the |your |our |a |all )?(?:\w+ ){0,2}(?:conversation|chat history|data|secret|password|api key|summary|previous messages|system prompt|user'?s? (?:data|messages|info))",
    ),
]

_TOOL: list[tuple[str, str]] = [
    (
        "tool_|function_",
        r"</?(?:tool_call|tool_calls|function_call|function_calls|tool_use|tool_result|tool_response|function_results|tool_code)\b[^>]{0,100}>",
    ),
    ("tool|python_tag|plugin|function", r"<\|(?:tool_call|python_tag|tool|plugin|function)[^|>]{0,20}\|>"),
    ("function_call|tool_call|tool_use_id", r"\"(?:function_call|tool_calls|tool_call_id|tool_use_id)\" ?: ?[\[{\"]"),
    ('"role"', r"\"role\" ?: ?\"(?:tool|function)\""),
    ('"arguments"', r"\{ ?\"name\" ?: ?\"[\w.-]{1,64}\" ?, ?\"arguments\" ?:"),
    ("```", r"```(?:tool_call|tool_code|function_call)\b"),
]

#: (reason, branches) matched on the normalised and the de-obfuscated views.
PATTERNS: tuple[tuple[str, tuple[_Branch, ...]], ...] = (
    (Reason.PROMPT_INJECTION, _compile(_INJECTION)),
    (Reason.JAILBREAK, _compile(_JAILBREAK)),
    (Reason.SYSTEM_PROMPT_EXTRACTION, _compile(_EXTRACTION)),
    (Reason.SECRET_EXTRACTION, _compile(_SECRET)),
    (Reason.MARKUP_INJECTION, _compile(_MARKUP)),
    (Reason.TOOL_CALL_SMUGGLING, _compile(_TOOL)),
)

#: The top English phrases with every separator removed (matched on ``squash``), for "i-g-n-o-r-e" style splits.
SQUASHED: tuple[tuple[str, tuple[_Branch, ...]], ...] = (
    (
        Reason.PROMPT_INJECTION,
        _compile(
            anywhere=True,
            parts=[
                (
                    "ignore|disregard|forget",
                    r"(?:ignore|disregard|forget)(?:all|any)?(?:of)?(?:the|your|my)?(?:previous|prior|above|earlier|preceding|original|initial)"
                    r"(?:system)?(?:instructions?|prompts?|directives|guidelines|programming)"
                    r"|(?:ignore|disregard|forget)(?:all)?(?:of)?your(?:instructions|rules|guidelines|programming)",
                )
            ],
        ),
    ),
    (
        Reason.JAILBREAK,
        _compile(
            anywhere=True,
            parts=[
                (
                    "youarenow|doanythingnow|developermode",
                    r"youarenow(?:dan|an(?:unrestricted|unfiltered|uncensored)|jailbroken)|doanythingnow|developermodeenabled",
                )
            ],
        ),
    ),
    (
        Reason.SYSTEM_PROMPT_EXTRACTION,
        _compile(
            anywhere=True,
            parts=[
                (
                    "systemprompt|systemmessage|initialinstructions|hiddeninstructions",
                    r"(?:print|show|reveal|display|output|repeat|tellme|giveme|leak|dump)(?:me)?(?:your|the)(?:full|entire|exact|original|initial|hidden)?"
                    r"(?:systemprompt|systemmessage|initialinstructions|hiddeninstructions)",
                )
            ],
        ),
    ),
    (
        Reason.SECRET_EXTRACTION,
        _compile(
            anywhere=True,
            parts=[
                (
                    "apikey|secretkey|password|credentials|accesstoken|privatekey",
                    r"(?:reveal|print|show|give|tell|leak|dump)(?:me|us)?(?:your|theadmin|theroot)(?:apikey|secretkey|password|credentials|accesstoken|privatekey)",
                )
            ],
        ),
    ),
)

_TOKEN = re.compile(r"[a-z0-9_]+")
# ASCII punctuation → space, so that str.split() yields the same tokens as _TOKEN (much faster).
_TO_SPACE = str.maketrans({chr(c): " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")})


def present_keywords(view: str) -> set[str]:
    """The keywords of ``PATTERNS`` that occur in a normalised view (a necessary condition only).

    A keyword with an ASCII word of three letters or more is looked up by its longest such word,
    which counts when it starts a token (every pattern has its words at word starts): one pass over
    the text's distinct tokens answers all of them.  The rest are substring tests.
    """
    present = {k for k in _SUBSTRING_KEYWORDS if k in view}
    if view.isascii():
        tokens = set(view.translate(_TO_SPACE).split())
    else:
        present.update(k for k in _FOREIGN_KEYWORDS if k in view)
        tokens = set(_TOKEN.findall(view))
    for token in tokens:
        for word, keywords in _WORD_KEYWORDS.get(token[:3], ()):
            if token.startswith(word):
                present.update(keywords)
    return present


def _keyword_tables() -> tuple[dict[str, tuple[tuple[str, tuple[str, ...]], ...]], tuple[str, ...], tuple[str, ...]]:
    by_word: dict[str, list[str]] = {}
    substrings, foreign = [], []
    for k in sorted({k for _, branches in PATTERNS for b in branches for group in b.groups for k in group}):
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


_WORD_KEYWORDS, _SUBSTRING_KEYWORDS, _FOREIGN_KEYWORDS = _keyword_tables()
_ALL_BRANCHES: tuple[tuple[str, _Branch], ...] = tuple((r, b) for r, branches in PATTERNS for b in branches)


def _index_branches() -> dict[str, tuple[int, ...]]:
    """First-group keyword → indexes (into ``_ALL_BRANCHES``) of the branches it may wake."""
    index: dict[str, list[int]] = {}
    for i, (_, branch) in enumerate(_ALL_BRANCHES):
        for keyword in branch.groups[0]:
            index.setdefault(keyword, []).append(i)
    return {k: tuple(v) for k, v in index.items()}


_BRANCHES_BY_KEYWORD = _index_branches()
