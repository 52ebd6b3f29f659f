"""A server TLS context that picks up renewed certificates from disk (k8s layer; file I/O only).

cert-manager and kubelet replace the mounted secret's files in place; new handshakes must use the new
pair without a restart.  The listening context never changes: its ``sni_callback`` (which OpenSSL calls
on every ClientHello, with or without SNI) hands each handshake the newest fully loaded context, so a
half-written renewal can never leave the server with a certificate that does not match its key.
"""

from __future__ import annotations

import logging
import os
import ssl

from ..errors import ConfigError

_log = logging.getLogger(__name__)


def _context(cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


class ReloadingTLS:
    """``context`` goes to the server; ``check()`` (called periodically) swaps in renewed files."""

    def __init__(self, cert_file: str, key_file: str) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.reloads = 0
        self._last_failure = ""
        try:
            self._stamp = self._stat()
            self.context = _context(cert_file, key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError("--tls-cert/--tls-key", f"cannot load {cert_file} / {key_file}: {exc}") from exc
        self._current = self.context
        self.context.sni_callback = self._pick

    def _pick(
        self, ssl_object: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, context: ssl.SSLContext
    ) -> None:
        if self._current is not context:
            ssl_object.context = self._current

    def _stat(self) -> tuple[int, ...]:
        stamp: list[int] = []
        for path in (self.cert_file, self.key_file):
            st = os.stat(path)  # follows the ..data symlink that a Secret volume swaps atomically
            stamp += [st.st_mtime_ns, st.st_size, st.st_ino]
        return tuple(stamp)

    def check(self) -> bool:
        """Load the files again when either changed; True if a new pair is now served.  Never raises."""
        try:
            stamp = self._stat()
            if stamp == self._stamp:
                return False
            fresh = _context(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            # mid-renewal (new cert, old key): keep the current pair and look again next time,
            # logging once per state of the files rather than on every check
            failed = getattr(exc, "filename", None) or str(exc)
            if failed != self._last_failure:
                _log.warning("TLS reload failed, keeping the current certificate: %s", exc)
                self._last_failure = failed
            return False
        self._last_failure = ""
        self._stamp = stamp
        self._current = fresh
        self.reloads += 1
        _log.info("TLS certificate reloaded from %s", self.cert_file)
        return True
