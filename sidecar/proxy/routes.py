"""Bounded route templates for the model-serving APIs we know (pure; used on the hot path).

Every path maps to one template from ``TEMPLATES`` or to ``OTHER``, so ``http.route`` and metric
attributes stay low-cardinality whatever clients send.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote

OTHER: Final = "other"

_SEG = r"[^/]+"
_NAME = r"[^/:]+"  # a model name before a ":verb" suffix

# (template, regex on the raw path without query). Order matters: the first match wins.
_TABLE: tuple[tuple[str, str], ...] = (
    # KServe v1 / TF Serving
    ("/v1/models/{model}:predict", rf"/v1/models/(?P<model>{_NAME}):predict"),
    ("/v1/models/{model}:explain", rf"/v1/models/(?P<model>{_NAME}):explain"),
    ("/v1/models/{model}:classify", rf"/v1/models/(?P<model>{_NAME}):classify"),
    ("/v1/models/{model}:regress", rf"/v1/models/(?P<model>{_NAME}):regress"),
    ("/v1/models/{model}/versions/{version}:predict", rf"/v1/models/(?P<model>{_SEG})/versions/{_NAME}:predict"),
    ("/v1/models/{model}/metadata", rf"/v1/models/(?P<model>{_SEG})/metadata"),
    # OpenAI-compatible (before the generic /v1/models/{model})
    ("/v1/chat/completions", r"/v1/chat/completions"),
    ("/v1/completions", r"/v1/completions"),
    ("/v1/embeddings", r"/v1/embeddings"),
    ("/v1/models", r"/v1/models/?"),
    ("/v1/models/{model}", rf"/v1/models/(?P<model>{_NAME})"),
    # Open Inference Protocol v2 (Triton, MLServer, KServe v2)
    ("/v2/models/{model}/infer", rf"/v2/models/(?P<model>{_SEG})/infer"),
    ("/v2/models/{model}/versions/{version}/infer", rf"/v2/models/(?P<model>{_SEG})/versions/{_SEG}/infer"),
    ("/v2/models/{model}/ready", rf"/v2/models/(?P<model>{_SEG})/ready"),
    ("/v2/models/{model}/versions/{version}/ready", rf"/v2/models/(?P<model>{_SEG})/versions/{_SEG}/ready"),
    ("/v2/models/{model}/versions/{version}", rf"/v2/models/(?P<model>{_SEG})/versions/{_SEG}"),
    ("/v2/models/{model}", rf"/v2/models/(?P<model>{_SEG})"),
    ("/v2/health/live", r"/v2/health/live"),
    ("/v2/health/ready", r"/v2/health/ready"),
    ("/v2", r"/v2/?"),
    # MLflow scoring server, SageMaker-style containers
    ("/invocations", r"/invocations"),
    ("/ping", r"/ping"),
    ("/version", r"/version"),
    # Seldon Core v1
    ("/api/v1.0/predictions", r"/api/v1\.0/predictions"),
    ("/api/v1.0/feedback", r"/api/v1\.0/feedback"),
    # generic model servers (BentoML, FastAPI apps, TorchServe-style)
    ("/predict", r"/predict"),
    ("/predictions/{model}", rf"/predictions/(?P<model>{_SEG})"),
    ("/health", r"/health"),
    ("/healthz", r"/healthz"),
    ("/ready", r"/ready"),
    ("/readyz", r"/readyz"),
    ("/livez", r"/livez"),
    ("/metrics", r"/metrics"),
    ("/", r"/"),
)

#: The complete set of values ``route_for`` can return.
TEMPLATES: Final[frozenset[str]] = frozenset({template for template, _ in _TABLE} | {OTHER})

_COMPILED = tuple((template, re.compile(pattern)) for template, pattern in _TABLE)
_MAX_MODEL_NAME = 128
_CACHE_LIMIT = 4096
_cache: dict[str, tuple[str, str | None]] = {}


def _match(path: str) -> tuple[str, str | None]:
    for template, regex in _COMPILED:
        m = regex.fullmatch(path)
        if m is not None:
            raw = m.groupdict().get("model")
            if raw is None:
                return template, None
            name = unquote(raw)
            return template, name if 0 < len(name) <= _MAX_MODEL_NAME else None
    return OTHER, None


def classify(path: str) -> tuple[str, str | None]:
    """``(route template, model name or None)`` for a raw path (query already removed)."""
    hit = _cache.get(path)
    if hit is None:
        hit = _match(path)
        # Bounded by construction: paths are client input, so the memo is emptied when full.
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[path] = hit
    return hit


def route_for(path: str) -> str:
    """The bounded route template for a raw path (query removed), ``"other"`` when none fits."""
    return classify(path)[0]


def model_from_path(path: str) -> str | None:
    """The model name a path names (``/v2/models/{model}/infer`` …), percent-decoded, or None."""
    return classify(path.partition("?")[0])[1]
