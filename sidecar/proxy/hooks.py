"""The proxy's one extension point towards capture (hot-path contract; no capture imports).

The proxy calls a ``CaptureSink`` without knowing what sits behind it; ``sidecar.app`` wires the
real one.  Every method runs on the proxy's event loop, so each must be cheap and must not block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ..models import Exchange


class CaptureSink(Protocol):
    """Receives teed exchanges from the proxy.

    - ``body_cap``: bytes of each body the proxy tees (0 = tee nothing).
    - ``pick`` runs at request start (the sampling decision); O(1), never blocks, never raises.
    - ``keep`` runs after the response finished: the final decision (``picked``, or an
      always-capture rule such as 5xx / slow, under a per-second cap).  Called only when the
      sink may want the exchange, i.e. when ``pick`` said yes or ``always`` is True.
    - ``submit`` hands the exchange over with a ``put_nowait``; a full queue drops and counts.
      It never raises and never blocks.
    - ``gate`` (only called when ``gates`` is True) may reject a request inline before it is
      forwarded: it returns ``(status, reason)`` to reject, None to pass.  ``body`` is the whole
      request body (gating happens only for bodies of at most ``body_cap`` bytes).
    """

    body_cap: int
    gates: bool
    always: bool  # True when keep() may say yes although pick() said no (5xx/slow rules)

    def pick(self, method: str, route: str) -> bool: ...

    def keep(self, picked: bool, status: int, duration_s: float) -> bool: ...

    def submit(self, exchange: Exchange) -> None: ...

    def gate(self, method: str, route: str, headers: Mapping[str, str], body: bytes) -> tuple[int, str] | None: ...


class NullSink:
    """Captures nothing: the proxy then tees no bytes at all."""

    body_cap = 0
    gates = False
    always = False

    def pick(self, method: str, route: str) -> bool:
        return False

    def keep(self, picked: bool, status: int, duration_s: float) -> bool:
        return False

    def submit(self, exchange: Exchange) -> None:
        return None

    def gate(self, method: str, route: str, headers: Mapping[str, str], body: bytes) -> tuple[int, str] | None:
        return None
