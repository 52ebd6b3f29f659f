"""OpenAI-compatible codec: chat completions, completions, embeddings, responses; JSON or SSE (pure).

Request features (one row; completions/embeddings: one row per prompt/input string):
``messages.<role>.content`` (text, all messages of that role joined; roles outside the known set are
``other``), ``messages.count``, ``messages.non_text_parts``, ``tools.count``, the sampling
parameters in ``_PARAMS``; ``prompt`` / ``input`` (text) or ``prompt.token_ids`` / ``input.token_ids``
(count) for token arrays.  Response features per row: ``completion`` (text of the first choice),
``finish_reason``, ``choices.count``, ``tool_calls.count``; embeddings: ``embedding.dim``,
``embedding.norm`` (base64 float32 accepted).  Usage, finish reasons and time to first token go to
``Decoded.llm``; time to first token is the upstream's first body byte, for streams only (a
non-streamed body arrives after the whole generation).  The Responses API (``/v1/responses``) is
read as chat (see ``openai_responses``).
"""

from __future__ import annotations

import base64
import binascii
import math
import sys
from array import array
from itertools import islice
from typing import Any

from sidecar.codecs import openai_responses as responses
from sidecar.codecs.base import Payload
from sidecar.codecs.leaves import Row, as_list, build, clean_model_name
from sidecar.codecs.limits import Limits, SkipReason
from sidecar.codecs.openai_stream import reassemble
from sidecar.models import Decoded, LlmUsage

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_FINISH = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call", "error"})
_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "n",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "stream",
    "logprobs",
    "top_logprobs",
    "dimensions",
)
_CATEGORY_PARAMS = ("reasoning_effort", "encoding_format", "tool_choice", "service_tier")


class OpenAICodec:
    name = "openai"

    def sniff(self, request: Any) -> bool:
        if not isinstance(request, dict):
            return False
        if isinstance(request.get("messages"), list):
            return True
        return "model" in request and ("prompt" in request or "input" in request)

    def decode(self, payload: Payload) -> Decoded:
        request = payload.request
        operation = _operation(payload.path, request)
        if operation is None or not isinstance(request, dict):
            return Decoded(dialect=self.name, skipped=SkipReason.WRONG_SHAPE.value)
        limits = payload.limits
        api_responses = operation == "responses"
        if operation in ("chat", "responses"):
            chat_request = dict(request, messages=responses.messages(request)) if api_responses else request
            inputs = [_chat_row(chat_request, limits)]
            text = {k for k in inputs[0] if k.endswith(".content")}
        else:
            field = "input" if operation == "embeddings" else "prompt"
            inputs, text = _prompt_rows(request.get(field), field, request, limits), {field}
        response: Any = payload.response
        stream = payload.response_stream
        if stream is not None and api_responses:
            response = responses.reassemble(stream, truncated=payload.response_truncated, limits=limits)
        elif stream is not None:
            chat = operation == "chat"
            response = reassemble(stream, truncated=payload.response_truncated, limits=limits, chat=chat).document
        # The Responses API is read through its chat-completions equivalent; response_json stays as sent.
        shaped = responses.as_chat(response, limits) if api_responses and isinstance(response, dict) else response
        outputs: list[Row] = []
        if isinstance(shaped, dict):
            if operation == "embeddings":
                outputs = _embedding_rows(shaped, limits)
            else:
                outputs = _choice_rows(shaped, _int(request.get("n")) or 1, limits)
                text.add("completion")
        model = clean_model_name(request.get("model"))
        operation = "chat" if api_responses else operation  # gen_ai.operation.name for both is "chat"
        return build(
            self.name,
            inputs,
            outputs,
            limits,
            request_json=request,
            response_json=response,
            text=text,
            model=model,
            llm=_usage(operation, shaped, model, stream is not None, payload.ttfb_s),
        )


def _operation(path: str, request: Any) -> str | None:
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/completions"):
        return "text_completion"
    if path.endswith("/embeddings"):
        return "embeddings"
    if path.endswith("/responses"):
        return "responses"
    if not isinstance(request, dict):
        return None
    if "messages" in request:
        return "chat"
    if "prompt" in request:
        return "text_completion"
    return "embeddings" if "input" in request else None


def _params(request: dict[str, Any], row: Row) -> None:
    for key in _PARAMS:
        value = request.get(key)
        if isinstance(value, int | float):  # bools too (stream, logprobs)
            row[key] = value
    for key in _CATEGORY_PARAMS:
        value = request.get(key)
        if isinstance(value, str):
            row[key] = value
    reasoning = request.get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str):
        row["reasoning.effort"] = reasoning["effort"]
    fmt = request.get("response_format")
    if isinstance(fmt, dict) and isinstance(fmt.get("type"), str):
        row["response_format.type"] = fmt["type"]
    if isinstance(request.get("tools"), list):
        row["tools.count"] = len(request["tools"])


def _chat_row(request: dict[str, Any], limits: Limits) -> Row:
    messages = request.get("messages")
    texts: dict[str, list[str]] = {}
    sizes: dict[str, int] = {}
    non_text = 0
    count = len(messages) if isinstance(messages, list) else 0
    for message in islice(messages if isinstance(messages, list) else (), limits.max_leaves * 8):
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        role = role if isinstance(role, str) and role in _ROLES else "other"
        content = message.get("content")
        parts = [content] if isinstance(content, str) else content if isinstance(content, list) else []
        for part in islice(parts, limits.max_leaves):
            piece = part if isinstance(part, str) else part.get("text") if isinstance(part, dict) else None
            if not isinstance(piece, str):
                non_text += 1
                continue
            size = sizes.get(role, 0)
            if size < limits.max_text_len:
                texts.setdefault(role, []).append(piece[: limits.max_text_len - size])
                sizes[role] = size + len(piece) + 1
    row: Row = {"messages.count": count, "messages.non_text_parts": non_text}
    for role in sorted(texts):
        row[f"messages.{role}.content"] = "\n".join(texts[role])
    _params(request, row)
    return row


def _prompt_rows(value: Any, field: str, request: dict[str, Any], limits: Limits) -> list[Row]:
    items: list[Any]
    if isinstance(value, str) or (isinstance(value, list) and value and isinstance(value[0], int)):
        items = [value]
    elif isinstance(value, list):
        items = value[: limits.max_rows]
    else:
        items = []
    rows: list[Row] = []
    for item in items:
        row: Row = {}
        if isinstance(item, str):
            row[field] = item
        elif isinstance(item, list):
            row[f"{field}.token_ids"] = len(item)
        _params(request, row)
        rows.append(row)
    return rows


def _choice_rows(response: dict[str, Any], n: int, limits: Limits) -> list[Row]:
    choices = [c for c in islice(as_list(response.get("choices")), limits.max_rows * 4) if isinstance(c, dict)]
    groups: dict[int, list[dict[str, Any]]] = {}
    for position, choice in enumerate(choices):
        index = choice.get("index", position)
        groups.setdefault((index if isinstance(index, int) else position) // max(n, 1), []).append(choice)
    rows: list[Row] = []
    for key in sorted(groups)[: limits.max_rows]:
        group = groups[key]
        first = group[0]
        message = first.get("message")
        content = message.get("content") if isinstance(message, dict) else first.get("text")
        calls = message.get("tool_calls") if isinstance(message, dict) else None
        row: Row = {"completion": content if isinstance(content, str) else "", "choices.count": len(group)}
        row["finish_reason"] = _finish(first.get("finish_reason"))
        row["tool_calls.count"] = len(calls) if isinstance(calls, list) else 0
        rows.append(row)
    return rows


def _embedding_rows(response: dict[str, Any], limits: Limits) -> list[Row]:
    data = [d for d in islice(as_list(response.get("data")), limits.max_rows) if isinstance(d, dict)]
    rows: list[Row] = []
    for item in sorted(data, key=_index):
        vector = _vector(item.get("embedding"), limits)
        norm = math.sqrt(math.fsum(v * v for v in vector)) if vector else None
        rows.append({"embedding.dim": len(vector), "embedding.norm": norm})
    return rows


def _index(item: dict[str, Any]) -> int:
    index = item.get("index")
    return index if isinstance(index, int) else 0


def _vector(value: Any, limits: Limits) -> list[float]:
    if isinstance(value, list):
        return [float(v) for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
    if isinstance(value, str):  # encoding_format="base64": little-endian float32
        try:
            raw = base64.b64decode(value[: limits.max_text_len * 4], validate=False)
        except (binascii.Error, ValueError):
            return []
        floats = array("f")
        floats.frombytes(raw[: len(raw) - len(raw) % 4])
        if sys.byteorder == "big":
            floats.byteswap()
        return list(floats)
    return []


def _usage(operation: str, response: Any, model: str | None, streamed: bool, ttfb: float | None) -> LlmUsage:
    usage = response.get("usage") if isinstance(response, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    reasons: list[str] = []
    if isinstance(response, dict):
        for choice in islice(as_list(response.get("choices")), 64):
            if isinstance(choice, dict) and choice.get("finish_reason") is not None:
                reasons.append(_finish(choice["finish_reason"]))
    response_model = clean_model_name(response.get("model")) if isinstance(response, dict) else None
    return LlmUsage(
        operation=operation,
        model=response_model or model,
        input_tokens=_int(usage.get("prompt_tokens", usage.get("input_tokens"))),
        output_tokens=_int(usage.get("completion_tokens", usage.get("output_tokens"))),
        finish_reasons=tuple(reasons),
        streamed=streamed,
        time_to_first_token_s=ttfb if streamed else None,
    )


def _finish(value: Any) -> str:
    if value is None:
        return "none"
    return value if isinstance(value, str) and value in _FINISH else "other"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
