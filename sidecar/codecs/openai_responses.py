"""OpenAI Responses API (``/v1/responses``) shapes, mapped onto the chat-completions ones (pure).

Requests: ``instructions`` counts as a ``system`` message; ``input`` is a string (one ``user``
message) or a list of items (messages with ``role`` and text parts; other items such as
``function_call_output`` count as ``tool`` messages).  Responses: ``output`` items — the text parts
of ``message`` items join into the completion, ``function_call`` items are tool calls; ``status`` /
``incomplete_details`` give the finish reason.  Streams: the ``response.completed`` (or
``.incomplete`` / ``.failed``) event carries the whole response; without it (a truncated tee) the
``response.output_text.delta`` events seen so far are joined.
"""

from __future__ import annotations

import json
from itertools import islice
from typing import Any

from sidecar.codecs.leaves import as_list
from sidecar.codecs.limits import Limits
from sidecar.codecs.openai_stream import sse_frames

_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}
_MAX_ITEMS = 4096


def messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The request as a chat ``messages`` list."""
    out: list[dict[str, Any]] = []
    if isinstance(request.get("instructions"), str):
        out.append({"role": "system", "content": request["instructions"]})
    items = request.get("input")
    if isinstance(items, str):
        out.append({"role": "user", "content": items})
    for item in islice(as_list(items), _MAX_ITEMS):
        if isinstance(item, dict) and "role" in item:
            out.append(item)
        elif isinstance(item, dict):
            output = item.get("output")
            out.append({"role": "tool", "content": output if isinstance(output, str) else None})
    return out


def as_chat(response: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """A Responses API response in chat-completions shape (for rows and usage only)."""
    texts: list[str] = []
    size = 0
    calls: list[Any] = []
    for item in islice(as_list(response.get("output")), _MAX_ITEMS):
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call":
            calls.append(item)
        for part in as_list(item.get("content")) if item.get("type") == "message" else ():
            text = part.get("text") if isinstance(part, dict) else None
            if isinstance(text, str) and size < limits.max_text_len:
                texts.append(text[: limits.max_text_len - size])
                size += len(texts[-1])
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts)}
    if calls:
        message["tool_calls"] = calls
    return {
        "model": response.get("model"),
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(response, bool(calls))}],
        "usage": response.get("usage"),
    }


def _finish(response: dict[str, Any], has_calls: bool) -> str | None:
    status = response.get("status")
    if status == "completed":
        return "tool_calls" if has_calls else "stop"
    if status == "failed":
        return "error"
    if status == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return _INCOMPLETE.get(reason, "other") if isinstance(reason, str) else "other"
    return None  # in progress: the stream was cut


def reassemble(body: bytes, *, truncated: bool, limits: Limits) -> dict[str, Any]:
    """The response a Responses API event stream describes (the final event's, when present)."""
    text: list[str] = []
    size = 0
    model: Any = None
    for frame in sse_frames(body, truncated=truncated, max_events=limits.max_sse_events):
        try:
            event = json.loads(frame)
        except (ValueError, RecursionError):
            continue
        if not isinstance(event, dict):
            continue
        kind = event.get("type")
        if kind in _FINAL_EVENTS and isinstance(event.get("response"), dict):
            return dict(event["response"])
        if kind == "response.created" and isinstance(event.get("response"), dict):
            model = event["response"].get("model")
        delta = event.get("delta")
        if kind == "response.output_text.delta" and isinstance(delta, str) and size < limits.max_text_len:
            text.append(delta[: limits.max_text_len - size])
            size += len(text[-1])
    content = [{"type": "output_text", "text": "".join(text)}]
    return {
        "object": "response",
        "status": "in_progress",
        "model": model,
        "output": [{"type": "message", "role": "assistant", "content": content}],
        "usage": None,
    }
