"""Per-route dialect overrides: ``"/score=mlflow,/custom/*/infer=oip_v2"`` → a forced dialect (pure).

Patterns are shell-style globs (``fnmatch``, case-sensitive) over the request path without query;
the first matching rule wins.  The result is passed to ``decode(..., dialect=...)``.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from sidecar.codecs.registry import DIALECTS

Rules = tuple[tuple[str, str], ...]
_MAX_RULES = 64


def parse_overrides(spec: str) -> Rules:
    """Parse ``pattern=dialect`` pairs separated by commas; ValueError names the bad part."""
    rules: list[tuple[str, str]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        pattern, sep, dialect = part.rpartition("=")
        pattern, dialect = pattern.strip(), dialect.strip()
        if not sep or not pattern.startswith("/"):
            raise ValueError(f"expected /path-pattern=dialect, got {part!r}")
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r} (known: {', '.join(DIALECTS)})")
        rules.append((pattern, dialect))
    if len(rules) > _MAX_RULES:
        raise ValueError(f"at most {_MAX_RULES} dialect overrides")
    return tuple(rules)


def dialect_for(target: str, rules: Rules) -> str | None:
    """The forced dialect for a request target (path + query), or None to choose automatically."""
    path = target.split("?", 1)[0]
    for pattern, dialect in rules:
        if fnmatchcase(path, pattern):
            return dialect
    return None
