"""Span and metric attribute keys, in one place (telemetry layer; plain strings, no SDK import).

Names follow the stable OpenTelemetry HTTP semantic conventions and the GenAI conventions; the
``sidecar.*`` keys are our own.
"""

from __future__ import annotations

from typing import Final

# HTTP (stable semconv)
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_REQUEST_METHOD_ORIGINAL: Final = "http.request.method_original"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
HTTP_ROUTE: Final = "http.route"
URL_PATH: Final = "url.path"
URL_QUERY: Final = "url.query"
URL_SCHEME: Final = "url.scheme"
URL_FULL: Final = "url.full"
ERROR_TYPE: Final = "error.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
CLIENT_ADDRESS: Final = "client.address"
NETWORK_PROTOCOL_VERSION: Final = "network.protocol.version"
USER_AGENT_ORIGINAL: Final = "user_agent.original"

# GenAI (development semconv)
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
GEN_AI_SYSTEM: Final = "gen_ai.system"

# sidecar's own
REQUEST_ID: Final = "sidecar.request_id"
MODEL: Final = "model"
FEATURE: Final = "feature"
METHOD: Final = "method"
METRIC: Final = "metric"
KIND: Final = "kind"
REASON: Final = "reason"
OUTCOME: Final = "outcome"
ENTITY_TYPE: Final = "entity_type"
OP: Final = "op"

#: Methods kept as attribute values; anything else becomes "_OTHER" (semconv rule, bounds cardinality).
KNOWN_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


def method_attr(method: str) -> str:
    return method if method in KNOWN_METHODS else "_OTHER"
