"""The sidecar's exception tree (pure).

    SidecarError
    ├── ConfigError            a setting is invalid (CLI prints one line, exits 2)
    ├── ManifestError          inject/webhook input cannot be transformed
    ├── ProfileError           a reference profile or training-data file is unusable
    ├── StoreError             the sketch/label store failed (Redis adapter maps its errors here)
    │   └── StoreUnavailable   the backend is unreachable right now
    ├── CodecError             a payload could not be decoded (never escapes a codec's decode())
    └── AdminError             an admin call is invalid; carries the HTTP status to answer with

Foreign exceptions (aiohttp, redis, yaml) are converted at the adapter that meets them.
"""

from __future__ import annotations


class SidecarError(Exception):
    """Base of every error the sidecar raises on purpose."""


class ConfigError(SidecarError):
    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


class ManifestError(SidecarError):
    pass


class ProfileError(SidecarError):
    pass


class StoreError(SidecarError):
    pass


class StoreUnavailable(StoreError):
    pass


class CodecError(SidecarError):
    pass


class AdminError(SidecarError):
    def __init__(self, status: int, error: str, detail: str = "", **extra: object) -> None:
        super().__init__(f"{error}: {detail}" if detail else error)
        self.status = status
        self.error = error
        self.detail = detail
        self.extra = extra  # more fields of the JSON error body, e.g. the models to choose from
