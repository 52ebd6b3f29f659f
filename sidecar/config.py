"""Settings: one declarative table, read once (flag > env > YAML file > default), frozen, passed down.

Only ``cli``/``app`` build a ``Settings``; nothing else reads ``os.environ`` (the OTel SDK reads its
own ``OTEL_*`` variables).  Every value is validated here so a bad one fails at start with one line
naming the setting.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .errors import ConfigError

# ---------------------------------------------------------------------------- settings tree


@dataclass(frozen=True, slots=True)
class ProxySettings:
    listen: str = "0.0.0.0:15080"
    upstream: str = ""
    connect_timeout: float = 5.0
    response_timeout: float = 300.0
    read_timeout: float = 300.0
    workers: int = 1
    pool_idle_timeout: float = 4.0
    pool_size: int = 0  # 0 = unlimited connections to the upstream
    max_field_size: int = 65536
    max_headers: int = 256
    readiness_path: str = ""  # upstream readiness path; empty = TCP connect
    excluded_paths: tuple[str, ...] = ()  # forwarded but neither counted nor captured
    quiet_period: float = 5.0  # after SIGTERM: keep serving while readiness is 503
    drain_timeout: float = 30.0
    trust_request_id: bool = True


@dataclass(frozen=True, slots=True)
class AdminSettings:
    listen: str = "0.0.0.0:15090"
    token: str = ""


@dataclass(frozen=True, slots=True)
class CaptureSettings:
    sample_rate: float = 1.0
    capture_errors: bool = True  # always capture upstream 5xx
    slow_threshold: float = 0.0  # seconds; > 0 ⇒ always capture slower requests
    max_samples_per_second: float = 5000.0
    body_cap: int = 65536
    queue_size: int = 8192
    queue_bytes: int = 64 * 1024 * 1024  # raw bytes held by the queue at most (bodies of both sides)
    worker_processes: int = 1
    max_features: int = 256
    samples_kept: int = 200
    dialects: str = ""  # per-route codec overrides, e.g. "/score=mlflow,/x/*=oip_v2"


@dataclass(frozen=True, slots=True)
class RedactionSettings:
    ner: str = "auto"  # auto | on | off
    mode: str = "tag"  # tag | hash
    hash_secret: str = ""
    deny_keys: tuple[str, ...] = (
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "api_key",
        "apikey",
        "password",
        "passwd",
        "secret",
        "access_token",
        "refresh_token",
        "client_secret",
    )


@dataclass(frozen=True, slots=True)
class StoreSettings:
    url: str = "memory"
    bucket_seconds: int = 60
    window_buckets: int = 15
    flush_interval: float = 1.0
    timeout: float = 0.5
    max_backlog_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class DriftSettings:
    alpha: float = 0.01  # family-wise (Holm): ≤1% false alarms per evaluation even on small windows
    min_samples: int = 100
    psi_threshold: float = 0.1
    js_threshold: float = 0.05
    wasserstein_threshold: float = 0.1  # in reference standard deviations
    evaluate_interval: float = 10.0
    top_k: int = 50


@dataclass(frozen=True, slots=True)
class AnomalySettings:
    target_false_flag_rate: float = 0.001
    enforce: tuple[str, ...] = ()  # reasons rejected inline (cheap checks only)
    enforce_status: int = 422
    kept: int = 500
    max_clients: int = 10000


@dataclass(frozen=True, slots=True)
class LabelSettings:
    horizon: float = 7 * 24 * 3600.0
    max_predictions: int = 200_000  # in-memory table bound
    window: int = 10_000  # labelled predictions in the rolling metrics window
    max_batch: int = 1000
    header: str = ""  # e.g. "x-ground-truth": "<request-id>=<label>" on a later request
    segment_feature: str = ""
    min_score: float = 0.0  # alert when a metric falls below (0 = off)
    max_drop: float = 0.0  # alert when a metric drops this much from its reference value


@dataclass(frozen=True, slots=True)
class AlertSettings:
    webhook_url: str = ""
    cooldown: float = 600.0
    hysteresis: int = 2  # consecutive clean evaluations before a feature may fire again


@dataclass(frozen=True, slots=True)
class Settings:
    proxy: ProxySettings = field(default_factory=ProxySettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    redaction: RedactionSettings = field(default_factory=RedactionSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    drift: DriftSettings = field(default_factory=DriftSettings)
    anomaly: AnomalySettings = field(default_factory=AnomalySettings)
    labels: LabelSettings = field(default_factory=LabelSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    model: str = ""
    log_level: str = "info"


# ---------------------------------------------------------------------------- parsers


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true/false, got {raw!r}")


def _float(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False) -> Callable[[Any], float]:
    def parse(raw: Any) -> float:
        if isinstance(raw, bool):
            raise ValueError(f"expected a number, got {raw!r}")
        value = float(raw)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"expected a finite number, got {raw!r}")
        if lo is not None and (value < lo or (lo_open and value == lo)):
            raise ValueError(f"must be {'>' if lo_open else '>='} {lo:g}, got {raw!r}")
        if hi is not None and value > hi:
            raise ValueError(f"must be <= {hi:g}, got {raw!r}")
        return value

    return parse


def _int(lo: int | None = None, hi: int | None = None) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError(f"expected an integer, got {raw!r}")
        value = int(str(raw).strip()) if isinstance(raw, str) else int(raw)
        if lo is not None and value < lo:
            raise ValueError(f"must be >= {lo}, got {raw!r}")
        if hi is not None and value > hi:
            raise ValueError(f"must be <= {hi}, got {raw!r}")
        return value

    return parse


def _str(raw: Any) -> str:
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise ValueError(f"expected a string, got {raw!r}")
    return str(raw)


def _choice(*options: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        value = _str(raw).strip().lower()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {raw!r}")
        return value

    return parse


def _list(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        items = [item.strip() for item in raw.split(",")]
    elif isinstance(raw, list | tuple):
        items = [_str(item).strip() for item in raw]
    else:
        raise ValueError(f"expected a comma-separated list, got {raw!r}")
    return tuple(item for item in items if item)


def _paths(raw: Any) -> tuple[str, ...]:
    items = _list(raw)
    for item in items:
        if not item.startswith("/"):
            raise ValueError(f"paths must start with '/', got {item!r}")
    return items


def _path_or_empty(raw: Any) -> str:
    value = _str(raw).strip()
    if value and not value.startswith("/"):
        raise ValueError(f"must start with '/', got {raw!r}")
    return value


def parse_host_port(raw: str) -> tuple[str, int]:
    """``host:port`` / ``[v6]:port`` / ``:port`` → (host, port); raises ValueError."""
    text = raw.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"expected [host]:port, got {raw!r}")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"expected host:port, got {raw!r}")
    host = host or "0.0.0.0"
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"port must be 0..65535, got {raw!r}")
    if ":" in host:
        ipaddress.IPv6Address(host)
    return host, int(port_text)


def _listen(raw: Any) -> str:
    value = _str(raw)
    parse_host_port(value)
    return value.strip()


def _http_url(raw: Any) -> str:
    value = _str(raw).strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"expected an http(s)://host[:port] URL, got {raw!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValueError(f"bad port in {raw!r}") from exc
    return value.rstrip("/") if parts.path in {"", "/"} else value


def _store_url(raw: Any) -> str:
    value = _str(raw).strip()
    if value == "memory":
        return value
    parts = urlsplit(value)
    if parts.scheme not in {"redis", "rediss", "redis+cluster", "rediss+cluster", "unix"}:
        raise ValueError(f"expected 'memory' or a redis://, rediss:// or redis+cluster:// URL, got {raw!r}")
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError(f"missing host in {raw!r}")
    return value


# ---------------------------------------------------------------------------- the table


@dataclass(frozen=True, slots=True)
class Setting:
    """One configurable value: where it lives, how it is spelled outside, how it is checked."""

    key: str  # dotted path into Settings, e.g. "capture.sample_rate"
    parse: Callable[[Any], Any]
    help: str
    env: str | None = None
    flag: str | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting("proxy.listen", _listen, "proxy listener host:port", "SIDECAR_LISTEN", "--listen"),
    Setting("admin.listen", _listen, "admin listener (health, metrics, API)", "SIDECAR_ADMIN_LISTEN", "--admin-listen"),
    Setting(
        "proxy.upstream", _http_url, "upstream model server URL (required for run)", "SIDECAR_UPSTREAM", "--upstream"
    ),
    Setting(
        "store.url", _store_url, "'memory' or redis://, rediss://, redis+cluster:// URL", "SIDECAR_STORE", "--store"
    ),
    Setting(
        "capture.sample_rate",
        _float(0.0, 1.0),
        "share of requests captured (0..1)",
        "SIDECAR_SAMPLE_RATE",
        "--sample-rate",
    ),
    Setting("admin.token", _str, "bearer token for mutating admin calls (unset: loopback only)", "SIDECAR_ADMIN_TOKEN"),
    Setting("model", _str, "model name when the path names none", "SIDECAR_MODEL", "--model"),
    Setting(
        "proxy.connect_timeout",
        _float(0.0, lo_open=True),
        "upstream connect timeout (s)",
        "SIDECAR_CONNECT_TIMEOUT",
        "--connect-timeout",
    ),
    Setting(
        "proxy.response_timeout",
        _float(0.0, lo_open=True),
        "time to upstream response headers (s); 504 beyond",
        "SIDECAR_RESPONSE_TIMEOUT",
        "--response-timeout",
    ),
    Setting(
        "proxy.read_timeout",
        _float(0.0, lo_open=True),
        "idle read timeout while streaming (s)",
        "SIDECAR_READ_TIMEOUT",
        "--read-timeout",
    ),
    Setting(
        "proxy.workers",
        _int(1, 64),
        "proxy processes sharing the port (SO_REUSEPORT); all relay samples to the first one's capture",
        "SIDECAR_WORKERS",
        "--workers",
    ),
    Setting(
        "proxy.pool_idle_timeout",
        _float(0.0, lo_open=True),
        "idle keep-alive time of upstream connections (s)",
        "SIDECAR_POOL_IDLE_TIMEOUT",
    ),
    Setting("proxy.pool_size", _int(0), "max upstream connections (0 = unlimited)", "SIDECAR_POOL_SIZE"),
    Setting("proxy.max_field_size", _int(1024), "max bytes of one request header field", "SIDECAR_MAX_FIELD_SIZE"),
    Setting("proxy.max_headers", _int(8), "max number of request headers", "SIDECAR_MAX_HEADERS"),
    Setting(
        "proxy.readiness_path",
        _path_or_empty,
        "upstream readiness path (empty: TCP connect)",
        "SIDECAR_READINESS_PATH",
        "--readiness-path",
    ),
    Setting(
        "proxy.excluded_paths",
        _paths,
        "comma-separated paths forwarded but not counted or captured",
        "SIDECAR_EXCLUDED_PATHS",
        "--excluded-paths",
    ),
    Setting(
        "proxy.quiet_period",
        _float(0.0),
        "after SIGTERM, seconds to keep serving with /readyz 503",
        "SIDECAR_QUIET_PERIOD",
        "--quiet-period",
    ),
    Setting(
        "proxy.drain_timeout",
        _float(0.0),
        "seconds in-flight requests may take to finish on shutdown",
        "SIDECAR_DRAIN_TIMEOUT",
        "--drain-timeout",
    ),
    Setting("proxy.trust_request_id", _bool, "keep a well-formed client x-request-id", "SIDECAR_TRUST_REQUEST_ID"),
    Setting("capture.capture_errors", _bool, "always capture upstream 5xx", "SIDECAR_CAPTURE_ERRORS"),
    Setting(
        "capture.slow_threshold",
        _float(0.0),
        "always capture requests slower than this (s; 0 = off)",
        "SIDECAR_SLOW_THRESHOLD",
        "--slow-threshold",
    ),
    Setting(
        "capture.max_samples_per_second",
        _float(0.0),
        "cap on captured samples per second",
        "SIDECAR_MAX_SAMPLES_PER_SECOND",
    ),
    Setting(
        "capture.body_cap",
        _int(0, 16 * 1024 * 1024),
        "bytes of each body teed for capture",
        "SIDECAR_CAPTURE_BODY_CAP",
        "--capture-body-cap",
    ),
    Setting("capture.queue_size", _int(1, 1_000_000), "capture queue length", "SIDECAR_CAPTURE_QUEUE_SIZE"),
    Setting(
        "capture.queue_bytes",
        _int(1024),
        "raw body bytes the capture queue holds at most",
        "SIDECAR_CAPTURE_QUEUE_BYTES",
    ),
    Setting(
        "capture.worker_processes",
        _int(1, 64),
        "capture worker processes",
        "SIDECAR_CAPTURE_WORKERS",
        "--capture-workers",
    ),
    Setting("capture.max_features", _int(1, 10_000), "max features tracked per model", "SIDECAR_MAX_FEATURES"),
    Setting(
        "capture.dialects",
        _str,
        "per-route payload dialect overrides: 'PATH_GLOB=DIALECT,...'",
        "SIDECAR_CAPTURE_DIALECTS",
        "--dialects",
    ),
    Setting("capture.samples_kept", _int(0, 100_000), "redacted samples kept for /v1/samples", "SIDECAR_SAMPLES_KEPT"),
    Setting(
        "redaction.ner",
        _choice("auto", "on", "off"),
        "NER for names/locations: auto (if a spaCy model is installed), on, off",
        "SIDECAR_REDACTION_NER",
    ),
    Setting(
        "redaction.mode",
        _choice("tag", "hash"),
        "replace PII with <ENTITY> tags or keyed hashes",
        "SIDECAR_REDACTION_MODE",
    ),
    Setting("redaction.hash_secret", _str, "per-deployment secret for hash mode", "SIDECAR_REDACTION_HASH_SECRET"),
    Setting("redaction.deny_keys", _list, "JSON keys/headers dropped outright", "SIDECAR_REDACTION_DENY_KEYS"),
    Setting("store.bucket_seconds", _int(1, 86400), "time bucket length (s)", "SIDECAR_STORE_BUCKET_SECONDS"),
    Setting("store.window_buckets", _int(1, 10_000), "buckets in the current window", "SIDECAR_STORE_WINDOW_BUCKETS"),
    Setting(
        "store.flush_interval",
        _float(0.0, lo_open=True),
        "seconds between Redis flushes",
        "SIDECAR_STORE_FLUSH_INTERVAL",
    ),
    Setting("store.timeout", _float(0.0, lo_open=True), "timeout of one Redis call (s)", "SIDECAR_STORE_TIMEOUT"),
    Setting(
        "store.max_backlog_bytes",
        _int(1024),
        "local aggregation bound while Redis is down",
        "SIDECAR_STORE_MAX_BACKLOG_BYTES",
    ),
    Setting("drift.alpha", _float(0.0, 1.0, lo_open=True), "family-wise significance level", "SIDECAR_DRIFT_ALPHA"),
    Setting("drift.min_samples", _int(1), "minimum current samples before a verdict", "SIDECAR_DRIFT_MIN_SAMPLES"),
    Setting("drift.psi_threshold", _float(0.0), "PSI effect threshold (categoricals)", "SIDECAR_DRIFT_PSI_THRESHOLD"),
    Setting("drift.js_threshold", _float(0.0), "Jensen-Shannon distance threshold", "SIDECAR_DRIFT_JS_THRESHOLD"),
    Setting(
        "drift.wasserstein_threshold",
        _float(0.0),
        "Wasserstein distance / reference sigma threshold",
        "SIDECAR_DRIFT_WASSERSTEIN_THRESHOLD",
    ),
    Setting(
        "drift.evaluate_interval",
        _float(0.0, lo_open=True),
        "seconds between background drift evaluations",
        "SIDECAR_DRIFT_EVALUATE_INTERVAL",
    ),
    Setting("drift.top_k", _int(1, 10_000), "categories tracked exactly per feature", "SIDECAR_DRIFT_TOP_K"),
    Setting(
        "anomaly.target_false_flag_rate",
        _float(0.0, 0.5, lo_open=True),
        "calibrated false-flag rate of the score",
        "SIDECAR_ANOMALY_TARGET_RATE",
    ),
    Setting(
        "anomaly.enforce", _list, "reasons rejected inline (off by default)", "SIDECAR_ANOMALY_ENFORCE", "--enforce"
    ),
    Setting(
        "anomaly.enforce_status",
        _int(400, 499),
        "status for enforced rejections (403 or 422)",
        "SIDECAR_ANOMALY_ENFORCE_STATUS",
    ),
    Setting("anomaly.kept", _int(0, 100_000), "flagged inputs kept for /v1/anomalies", "SIDECAR_ANOMALY_KEPT"),
    Setting(
        "anomaly.max_clients",
        _int(1, 1_000_000),
        "clients tracked for behaviour checks (LRU)",
        "SIDECAR_ANOMALY_MAX_CLIENTS",
    ),
    Setting(
        "labels.horizon", _float(0.0, lo_open=True), "seconds a prediction waits for its label", "SIDECAR_LABEL_HORIZON"
    ),
    Setting("labels.max_predictions", _int(1), "predictions kept in memory for joins", "SIDECAR_LABEL_MAX_PREDICTIONS"),
    Setting("labels.window", _int(1), "labelled predictions in the rolling metrics", "SIDECAR_LABEL_WINDOW"),
    Setting("labels.max_batch", _int(1, 100_000), "max items in one /v1/feedback call", "SIDECAR_LABEL_MAX_BATCH"),
    Setting(
        "labels.header", _str, "request header carrying '<request-id>=<label>' (empty: off)", "SIDECAR_LABEL_HEADER"
    ),
    Setting(
        "labels.segment_feature", _str, "categorical input feature to slice metrics by", "SIDECAR_LABEL_SEGMENT_FEATURE"
    ),
    Setting(
        "labels.min_score", _float(0.0), "alert when a metric falls below this (0 = off)", "SIDECAR_LABEL_MIN_SCORE"
    ),
    Setting(
        "labels.max_drop",
        _float(0.0),
        "alert when a metric drops this much from reference (0 = off)",
        "SIDECAR_LABEL_MAX_DROP",
    ),
    Setting(
        "alerts.webhook_url", _http_url, "URL that receives alert JSON", "SIDECAR_ALERT_WEBHOOK", "--alert-webhook"
    ),
    Setting("alerts.cooldown", _float(0.0), "seconds before the same alert may fire again", "SIDECAR_ALERT_COOLDOWN"),
    Setting(
        "alerts.hysteresis", _int(1, 1000), "clean evaluations before an alert re-arms", "SIDECAR_ALERT_HYSTERESIS"
    ),
    Setting("log_level", _choice("debug", "info", "warning", "error"), "log level", "SIDECAR_LOG_LEVEL", "--log-level"),
)

_BY_KEY = {s.key: s for s in SETTINGS}


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Add every setting that has a flag, plus ``--config``; defaults are None (= not given)."""
    parser.add_argument("--config", default=None, help="YAML config file (env SIDECAR_CONFIG)")
    for setting in SETTINGS:
        if setting.flag:
            metavar = setting.flag.lstrip("-").upper().replace("-", "_")
            parser.add_argument(setting.flag, dest=setting.key, default=None, metavar=metavar, help=setting.help)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{str(key).replace('-', '_')}"
        if isinstance(value, Mapping) and dotted not in _BY_KEY:
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _read_yaml(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("config", f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("config", f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError("config", f"{path} must hold a mapping of settings")
    flat = _flatten(data)
    for key in flat:
        if key not in _BY_KEY:
            raise ConfigError(key, f"unknown setting in {path}")
    return flat


def load_settings(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    config_path: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings with precedence overrides > flags > env > YAML file > defaults."""
    env = os.environ if env is None else env
    flags = flags or {}
    path = config_path or flags.get("config") or env.get("SIDECAR_CONFIG")
    sources: dict[str, str] = {}
    layers: list[tuple[str, dict[str, Any]]] = [
        ("config", _read_yaml(path) if path else {}),
        ("env", {s.key: env[s.env] for s in SETTINGS if s.env and s.env in env}),
        ("flag", {k: v for k, v in flags.items() if k in _BY_KEY and v is not None}),
        ("override", dict(overrides or {})),
    ]
    merged: dict[str, Any] = {}
    for source, layer in layers:
        merged.update(layer)
        sources.update(dict.fromkeys(layer, source))
    values: dict[str, Any] = {}
    for key, raw in merged.items():
        setting = _BY_KEY.get(key)
        if setting is None:
            raise ConfigError(key, "unknown setting")
        try:
            values[key] = setting.parse(raw)
        except (ValueError, TypeError) as exc:
            origin = sources.get(key)
            name = (setting.env if origin == "env" else setting.flag if origin == "flag" else "") or key
            raise ConfigError(name, str(exc)) from exc
    return _build(values)


def _build(values: Mapping[str, Any]) -> Settings:
    sections: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    for key, value in values.items():
        section, _, name = key.rpartition(".")
        if section:
            sections.setdefault(section, {})[name] = value
        else:
            top[name] = value
    base = Settings()
    for section, fields in sections.items():
        top[section] = dataclasses.replace(getattr(base, section), **fields)
    settings = dataclasses.replace(base, **top)
    if settings.redaction.mode == "hash" and not settings.redaction.hash_secret:
        raise ConfigError("SIDECAR_REDACTION_HASH_SECRET", "hash mode needs a per-deployment secret")
    return settings


def require_upstream(settings: Settings) -> None:
    if not settings.proxy.upstream:
        raise ConfigError("--upstream", "required (or set SIDECAR_UPSTREAM)")


def reference_table() -> Sequence[tuple[str, str, str, str]]:
    """(flag, env, key, help) rows for the README's generated configuration reference."""
    defaults = Settings()
    rows = []
    for s in SETTINGS:
        obj: Any = defaults
        for part in s.key.split("."):
            obj = getattr(obj, part)
        default = ",".join(obj) if isinstance(obj, tuple) else str(obj)
        rows.append((s.flag or "", s.env or "", f"{s.key} (default `{default or '—'}`)", s.help))
    return rows
