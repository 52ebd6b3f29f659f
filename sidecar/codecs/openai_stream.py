"""Server-sent-event framing and OpenAI chunk reassembly for streamed responses (pure).

The proxy tees the raw ``text/event-stream`` body.  Frames end at a blank line; ``data:`` lines of
one frame join with ``\\n``; ``data: [DONE]`` ends the stream.  When the tee was truncated, the last
(incomplete) frame is dropped, so a partial stream still yields the text and finish reasons seen so
far.  Chunks are merged per choice index into the shape of a non-streamed response, so the codec and
the redactor see one document: ``{"object", "model", "choices": [...], "usage"}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sidecar.codecs.leaves import as_list
from sidecar.codecs.limits import Limits

_MAX_TOOL_CALLS = 64


@dataclass(slots=True)
class _Choice:
    index: int
    parts: list[str] = field(default_factory=list)
    size: int = 0
    role: str = "assistant"
    finish_reason: str | None = None
    tools: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Stream:
    document: dict[str, Any]  # reassembled response, shaped like the non-streamed one
    frames: int  # data frames read
    bad_frames: int  # frames that were not JSON
    done: bool  # ``[DONE]`` seen


def sse_frames(body: bytes, *, truncated: bool, max_events: int) -> list[str]:
    """The ``data`` payload of each complete frame, in order (comments and other fields ignored)."""
    text = body.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    blocks = text.split("\n\n")
    if truncated:
        blocks = blocks[:-1]  # the part after the last blank line may be cut mid-frame
    frames: list[str] = []
    for block in blocks:
        if len(frames) >= max_events:
            break
        data = [line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")]
        if data:
            frames.append("\n".join(data))
    return frames


def reassemble(body: bytes, *, truncated: bool, limits: Limits, chat: bool) -> Stream:
    choices: dict[int, _Choice] = {}
    usage: Any = None
    model: Any = None
    bad = 0
    done = False
    frames = sse_frames(body, truncated=truncated, max_events=limits.max_sse_events)
    for frame in frames:
        if frame.strip() == "[DONE]":
            done = True
            break
        try:
            chunk = json.loads(frame)
        except (ValueError, RecursionError):
            bad += 1
            continue
        if not isinstance(chunk, dict):
            bad += 1
            continue
        model = chunk.get("model", model)
        if isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
        if "error" in chunk:
            _choice(choices, 0, limits).finish_reason = "error"
        for delta in as_list(chunk.get("choices")):
            if isinstance(delta, dict):
                _apply(delta, choices, limits)
    return Stream(_document(choices, usage, model, chat=chat), len(frames), bad, done)


def _choice(choices: dict[int, _Choice], index: int, limits: Limits) -> _Choice:
    if index not in choices and len(choices) < limits.max_choices:
        choices[index] = _Choice(index)
    return choices.get(index) or _Choice(index)  # beyond the cap: a throwaway


def _apply(delta: dict[str, Any], choices: dict[int, _Choice], limits: Limits) -> None:
    index = delta.get("index", 0)
    choice = _choice(choices, index if isinstance(index, int) else 0, limits)
    message = delta.get("delta")
    text = message.get("content") if isinstance(message, dict) else delta.get("text")
    if isinstance(text, str) and choice.size < limits.max_text_len:
        piece = text[: limits.max_text_len - choice.size]
        choice.parts.append(piece)
        choice.size += len(piece)
    if isinstance(message, dict):
        if isinstance(message.get("role"), str):
            choice.role = message["role"][:32]
        for call in as_list(message.get("tool_calls")):
            if isinstance(call, dict):
                _tool_call(choice, call, limits)
    if isinstance(delta.get("finish_reason"), str):
        choice.finish_reason = delta["finish_reason"]


def _tool_call(choice: _Choice, call: dict[str, Any], limits: Limits) -> None:
    index = call.get("index", len(choice.tools))
    if not isinstance(index, int) or (index not in choice.tools and len(choice.tools) >= _MAX_TOOL_CALLS):
        return
    entry = choice.tools.setdefault(index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
    if isinstance(call.get("id"), str):
        entry["id"] = call["id"]
    function = call.get("function")
    if isinstance(function, dict):
        if isinstance(function.get("name"), str):
            entry["function"]["name"] = function["name"][:256]
        args = function.get("arguments")
        if isinstance(args, str) and len(entry["function"]["arguments"]) < limits.max_text_len:
            entry["function"]["arguments"] += args[: limits.max_text_len]


def _document(choices: dict[int, _Choice], usage: Any, model: Any, *, chat: bool) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for index in sorted(choices):
        choice = choices[index]
        content = "".join(choice.parts)
        if chat:
            message: dict[str, Any] = {"role": choice.role, "content": content}
            if choice.tools:
                message["tool_calls"] = [choice.tools[i] for i in sorted(choice.tools)]
            out.append({"index": index, "message": message, "finish_reason": choice.finish_reason})
        else:
            out.append({"index": index, "text": content, "finish_reason": choice.finish_reason})
    return {
        "object": "chat.completion" if chat else "text_completion",
        "model": model,
        "choices": out,
        "usage": usage,
    }
