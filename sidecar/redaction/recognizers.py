"""Own Presidio pattern recognizers for contact and payment data: phone, card, e-mail, US address (pure)."""

from __future__ import annotations

import ipaddress
import re
from typing import ClassVar

import tldextract
from presidio_analyzer import Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import EmailRecognizer, IpRecognizer

# Presidio compiles patterns with the `regex` module (possessive quantifiers and `\K` below rely on it;
# its flag values equal `re`'s). Ours are case-sensitive on purpose (AKIA…, capitalised street names);
# Presidio's default flags add IGNORECASE.
FLAGS = re.DOTALL | re.MULTILINE

_EXT = r"(?:[ ]?(?i:x|ext\.?|extension)[ ]?\d{1,6})?"
_END = r"(?![\w\-]|\.\d)"

# The suffix list and cache are disabled so tldextract never touches the network or the disk; the
# snapshot bundled with the package is what validation uses.
_OFFLINE_TLD = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


_FILE_SUFFIXES = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "css", "js", "ts", "map", "pdf"})


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_US_STATES = _words(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC "
    "ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AS GU MP PR VI MH PW FM AA AE AP"
)

# USPS Publication 28 street suffixes (full names and standard abbreviations).
_STREET_SUFFIXES = _words(
    "Alley Aly Annex Arcade Avenue Ave Bayou Beach Bend Bluff Bluffs Bottom Boulevard Blvd Branch Bridge Brook "
    "Brooks Burg Burgs Bypass Camp Canyon Cape Causeway Center Centers Circle Cir Circles Cliff Cliffs Club "
    "Common Commons Corner Corners Course Court Ct Courts Cove Coves Creek Crescent Crest Crossing Crossroad "
    "Curve Dale Dam Divide Drive Dr Drives Estate Estates Expressway Expy Extension Extensions Fall Falls Ferry "
    "Field Fields Flat Flats Ford Fords Forest Forge Forges Fork Forks Fort Freeway Fwy Garden Gardens Gateway "
    "Glen Glens Green Greens Grove Groves Harbor Harbors Haven Heights Highway Hwy Hill Hills Hollow Inlet "
    "Island Islands Isle Junction Junctions Key Keys Knoll Knolls Lake Lakes Land Landing Lane Ln Light Lights "
    "Loaf Lock Locks Lodge Loop Mall Manor Manors Meadow Meadows Mews Mill Mills Mission Motorway Mount "
    "Mountain Mountains Neck Orchard Oval Overpass Park Parks Parkway Pkwy Parkways Pass Passage Path Pike "
    "Pine Pines Place Pl Plain Plains Plaza Point Points Port Ports Prairie Radial Ramp Ranch Rapid Rapids "
    "Rest Ridge Ridges River Road Rd Roads Route Row Rue Run Shoal Shoals Shore Shores Skyway Spring Springs "
    "Spur Spurs Square Sq Squares Station Stravenue Stream Street St Streets Summit Terrace Ter Throughway "
    "Trace Track Trafficway Trail Trl Tunnel Turnpike Underpass Union Unions Valley Valleys Via Viaduct View "
    "Views Village Villages Ville Vista Walk Walks Wall Way Ways Well Wells"
)


class PhoneRecognizer(PatternRecognizer):
    """Phone numbers by format, not by numbering-plan assignment.

    libphonenumber (Presidio's PhoneRecognizer) rejects well-formed numbers that are not assigned, such as
    the +1 555 01xx range used in examples and test data, and costs ~1 ms per region per text.
    """

    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("intl_plus", r"(?<![\w+])\+\d{1,3}+(?:[ .\-]?\(?\d{1,5}+\)?){1,6}+" + _EXT + _END, 0.7),
        Pattern("intl_00", r"(?<![\w.])00\d{1,3}+(?:[ .\-]\(?\d{1,5}+\)?){2,6}+" + _EXT + _END, 0.6),
        Pattern(
            "nanp", r"(?<![\w.+\-])(?:1[ .\-]?)?(?:\(\d{3}\)[ .\-]?|\d{3}[ .\-])\d{3}[ .\-]\d{4}" + _EXT + _END, 0.6
        ),
        Pattern(
            "trunk_0",
            r"(?<![\w.:+\-(])(?:\(0\d{1,4}\)[ .\-]?|0\d{1,4}[ .\-])\d{2,8}+(?:[ .\-]\d{2,8}+){0,3}+" + _END,
            0.5,
        ),
        Pattern("bare_digits", r"(?<![\w.\-+])\d{8,15}" + _END, 0.2),
    ]
    CONTEXT: ClassVar[list[str]] = [
        "phone",
        "telephone",
        "tel",
        "mobile",
        "cell",
        "cellphone",
        "fax",
        "call",
        "sms",
        "whatsapp",
        "msisdn",
    ]

    def __init__(self) -> None:
        super().__init__("PHONE_NUMBER", patterns=self.PATTERNS, context=self.CONTEXT, global_regex_flags=FLAGS)

    def validate_result(self, pattern_text: str) -> bool | None:
        core = re.split(r"(?i)\s*(?:x|ext\.?|extension)", pattern_text, maxsplit=1)[0]
        digits = [c for c in core if c.isdigit()]
        if not 7 <= len(digits) <= 15 or len(set(digits)) == 1:
            return False
        if core.count("(") != core.count(")"):
            return False
        if core.lstrip("(").startswith("0") and not re.match(r"00\d", core):
            # national format: 9+ digits and one separator style, so dates like 01.02.2024 12:30 are not phones
            separators = {c for c in core if c in " .-"}
            if len(digits) < 9 or len(separators) > 1:
                return False
        return None  # keep the pattern's score: weak formats still need context


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)  # also for non-ASCII decimal digits, which `\d` in the patterns matches
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _issuer_ok(digits: str) -> bool:
    """Whether a known card network issues numbers with this prefix and length."""
    n = len(digits)
    p2, p3, p4 = int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)  # Visa, incl. 19-digit
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16  # Mastercard incl. the 2-series
    if p2 in (34, 37):
        return n == 15  # Amex
    if p4 in (2131, 1800):
        return n == 15  # JCB legacy
    if p2 == 35 or 2200 <= p4 <= 2204:
        return 16 <= n <= 19  # JCB (assigned 3528–3589; test generators use all of 35xx), Mir
    if 300 <= p3 <= 305 or p4 == 3095 or p2 in (36, 38, 39):
        return 14 <= n <= 19  # Diners
    if p2 == 50 or 56 <= p2 <= 69 or p4 == 604:
        return 12 <= n <= 19  # Maestro, Discover, UnionPay, RuPay
    return p2 == 81 and 16 <= n <= 19  # UnionPay 81


class CreditCardRecognizer(PatternRecognizer):
    """Payment card numbers: 12–19 digits, one separator style, a known issuer prefix, and Luhn.

    Presidio's CreditCardRecognizer misses the Mastercard 2-series and 19-digit cards.
    """

    PATTERNS: ClassVar[list[Pattern]] = [Pattern("card", r"(?<![\w\-.])\d(?:[ \-]?\d){11,18}+(?![\w\-]|\.\d)", 0.6)]
    CONTEXT: ClassVar[list[str]] = ["card", "credit", "debit", "visa", "mastercard", "amex", "maestro", "cc", "pan"]

    def __init__(self) -> None:
        super().__init__("CREDIT_CARD", patterns=self.PATTERNS, context=self.CONTEXT, global_regex_flags=FLAGS)

    def validate_result(self, pattern_text: str) -> bool:
        if " " in pattern_text and "-" in pattern_text:
            return False
        digits = pattern_text.replace(" ", "").replace("-", "")
        return 12 <= len(digits) <= 19 and _issuer_ok(digits) and luhn_ok(digits)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, validated against tldextract's bundled suffix snapshot only.

    A domain with an unknown suffix (``corp.internal``) is still an address, just not a public one: it
    keeps the pattern score, except for image/asset names such as ``icon@2x.png``.
    """

    def validate_result(self, pattern_text: str) -> bool | None:
        domain = pattern_text.rsplit("@", 1)[-1]
        if _OFFLINE_TLD(domain).suffix:
            return True
        tld = domain.rsplit(".", 1)[-1].lower()
        return None if tld.isalpha() and tld not in _FILE_SUFFIXES else False


class ValidatedIpRecognizer(IpRecognizer):
    """Presidio's IP recognizer; matches must also parse as addresses (drops `::`-only code like `a::b`)."""

    def validate_result(self, pattern_text: str) -> bool | None:
        text = pattern_text.split("%", 1)[0].split("/", 1)[0]
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return False
        if address.version == 6 and text.count(":") < 3 and not any(c.isdigit() for c in text):
            return False  # `abc::def` is far more often C++/Rust than an address
        return None


class StreetAddressRecognizer(PatternRecognizer):
    """US-style postal addresses: number + street name + USPS suffix (+ unit), `City, ST 12345`, APO/FPO."""

    _SUFFIX = "(?:" + "|".join(sorted(_STREET_SUFFIXES, key=len, reverse=True)) + ")"
    _UNIT = r"(?:,?[ ](?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Fl\.?|Floor|Room|Rm\.?|\#)[ ]?\#?[A-Za-z0-9\-]{1,6}\b)?"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "street",
            r"\b\d{1,6}[A-Z]?[ ]+(?:(?:[NSEW]|NE|NW|SE|SW|North|South|East|West)\.?[ ]+)?"
            r"(?:(?:[A-Z][a-z'\-]+|\d+(?:st|nd|rd|th))[ ]+){1,4}"
            + _SUFFIX
            + r"\b\.?(?:[ ](?:NE|NW|SE|SW|N|S|E|W)\b)?"
            + _UNIT,
            0.7,
        ),
        Pattern(
            "city_state_zip",
            r"\b[A-Z][a-z]+(?:[ ][A-Z][a-z]+){0,2},[ ](?:" + "|".join(_US_STATES) + r")[ ]\d{5}(?:-\d{4})?\b",
            0.7,
        ),
        Pattern("military_unit", r"\b(?:PSC|Unit)[ ]\d{3,5},?[ ]Box[ ]\d{3,5}\b", 0.7),
        Pattern("military_ship", r"\bUS(?:NS|NV|S|CGC)[ ][A-Z][a-z]+\b", 0.6),
        Pattern("military_post", r"\b[ADF]PO[ ]A[AEP][ ]\d{5}\b", 0.7),
    ]
    CONTEXT: ClassVar[list[str]] = ["address", "street", "live", "lives", "ship", "deliver", "mail"]

    def __init__(self) -> None:
        super().__init__("STREET_ADDRESS", patterns=self.PATTERNS, context=self.CONTEXT, global_regex_flags=FLAGS)
