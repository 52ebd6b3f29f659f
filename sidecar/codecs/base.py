"""The ``Codec`` protocol and the prepared input every codec receives (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sidecar.codecs.limits import Limits
from sidecar.models import Decoded


@dataclass(frozen=True, slots=True)
class Payload:
    """One exchange after body preparation: decompressed, request parsed, response parsed if JSON.

    ``response`` is None when the response is missing, not 2xx, truncated, not JSON, or a stream;
    ``response_stream`` holds a (decompressed) ``text/event-stream`` body for the OpenAI codec.
    """

    path: str  # request path without query
    route: str  # bounded route template from the proxy
    request: Any
    response: Any
    response_stream: bytes | None
    response_truncated: bool
    ttfb_s: float | None
    limits: Limits


class Codec(Protocol):
    """A payload dialect.  Both methods are pure and synchronous.

    ``sniff`` tells from the parsed request alone whether the body has this dialect's shape.
    ``decode`` builds the ``Decoded`` (its ``model`` is a guess from the body, or None); it should
    not raise for any JSON value — the registry still turns an exception into ``codec_error:*``.
    A body that does not fit returns ``Decoded(skipped="wrong_shape")``.
    """

    name: str

    def sniff(self, request: Any) -> bool: ...

    def decode(self, payload: Payload) -> Decoded: ...
