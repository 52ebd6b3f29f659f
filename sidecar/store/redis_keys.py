"""Redis key names and state tokens of the sketch store (store layer, pure string handling).

Layout, with ``<m>`` the model and ``<f>`` = ``<m>|<role>|<name>`` (percent-encoded):

    sidecar:{<f>}:s                  state token "e<epoch>|<payload>" (first writer wins; TTL'd)
    sidecar:{<f>}:b:<epoch>:<bucket> hash of counter fields of one time bucket
    sidecar:{<f>}:h:<epoch>:<bucket> HyperLogLog (PFADD) of a categorical feature's values
    sidecar:{<m>}:features           hash "<role>|<name>" → kind
    sidecar:{<m>}:ref                current reference version;  sidecar:{<m>}:ref:<v>  its JSON
    sidecar:{<m>}:ref:seq            reference version counter
    sidecar:models                   hash model → last time a replica flushed it

The braces are cluster hash tags: every key of one feature lands in one slot, so one Lua call can
touch all of them.  Rows and moments of a model are a pseudo-feature with role ``~``.  The payload of
a numeric token is "n|<centre>|<scale>|<gamma>" (``repr`` floats: exact round trip), of a categorical
one "c", of the moments "m|<json names>|<json shift>".  ``epoch`` moves on every freeze/upload, so a
replica writing to an old window is told the new token and re-sends its delta there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from ..sketches.profile import FeatureKey

PREFIX = "sidecar"
MOMENTS: FeatureKey = ("~", "moments")
MODELS_KEY = f"{PREFIX}:models"


def _tag(model: str, key: FeatureKey) -> str:
    return "|".join(quote(part, safe="", errors="surrogatepass") for part in (model, *key))


def state_key(model: str, key: FeatureKey) -> str:
    return f"{PREFIX}:{{{_tag(model, key)}}}:s"


def bucket_key(model: str, key: FeatureKey, epoch: int, bucket: int) -> str:
    return f"{PREFIX}:{{{_tag(model, key)}}}:b:{epoch}:{bucket}"


def hll_key(model: str, key: FeatureKey, epoch: int, bucket: int) -> str:
    return f"{PREFIX}:{{{_tag(model, key)}}}:h:{epoch}:{bucket}"


def _model_tag(model: str) -> str:
    return quote(model, safe="", errors="surrogatepass")


def features_key(model: str) -> str:
    return f"{PREFIX}:{{{_model_tag(model)}}}:features"


def ref_pointer_key(model: str) -> str:
    return f"{PREFIX}:{{{_model_tag(model)}}}:ref"


def ref_key(model: str, version: int) -> str:
    return f"{PREFIX}:{{{_model_tag(model)}}}:ref:{version}"


def ref_seq_key(model: str) -> str:
    return f"{PREFIX}:{{{_model_tag(model)}}}:ref:seq"


def feature_field(key: FeatureKey) -> str:
    return f"{key[0]}|{key[1]}"


def parse_feature_field(field: str) -> FeatureKey | None:
    role, sep, name = field.partition("|")
    return (role, name) if sep and role in ("input", "output") and name else None


@dataclass(frozen=True, slots=True)
class Token:
    """A feature's shared state: the window epoch and what every replica must sketch it with."""

    epoch: int
    payload: str

    def encode(self) -> str:
        return f"e{self.epoch}|{self.payload}"

    @classmethod
    def decode(cls, raw: str | bytes) -> Token:
        text = raw.decode() if isinstance(raw, bytes) else raw
        head, _, payload = text.partition("|")
        if not head.startswith("e") or not head[1:].isdigit():
            raise ValueError(f"bad state token {text[:40]!r}")
        return cls(int(head[1:]), payload)

    def scale(self) -> tuple[float, float, float] | None:
        """(centre, scale, gamma) of a numeric token, else None."""
        kind, *parts = self.payload.split("|")
        if kind != "n" or len(parts) != 3:
            return None
        centre, scale, gamma = (float(p) for p in parts)
        return centre, scale, gamma

    def basis(self) -> tuple[tuple[str, ...], list[float]] | None:
        """(names, shift) of a moments token, else None."""
        kind, _, rest = self.payload.partition("|")
        if kind != "m":
            return None
        names_raw, _, shift_raw = rest.partition("|")
        return tuple(json.loads(names_raw)), [float(v) for v in json.loads(shift_raw)]


def numeric_payload(centre: float, scale: float, gamma: float) -> str:
    return f"n|{centre!r}|{scale!r}|{gamma!r}"


def moments_payload(names: tuple[str, ...], shift: list[float]) -> str:
    # "|" inside names is escaped so basis() can split the payload on the first bare "|".
    return "m|" + json.dumps(list(names), separators=(",", ":")).replace("|", "\\u007c") + "|" + json.dumps(shift)


CATEGORICAL_PAYLOAD = "c"
