"""Toy model servers for the demo: a tabular credit model (KServe v1) and an OpenAI-style chat
model with SSE streaming, in one aiohttp app.  Deterministic, no weights."""

from __future__ import annotations

import asyncio
import json
import math
import time

from aiohttp import web

_FEATURES = ("age", "income", "tenure_months", "balance", "plan", "region")
_WEIGHTS = {"age": -0.02, "income": -0.00003, "tenure_months": -0.03, "balance": 0.0004}
_PLAN = {"basic": 0.6, "plus": 0.0, "premium": -0.7}


def _score(row: dict[str, object]) -> float:
    z = 1.5
    for name, weight in _WEIGHTS.items():
        value = row.get(name)
        if isinstance(value, int | float) and math.isfinite(value):
            z += weight * float(value)
    z += _PLAN.get(str(row.get("plan")), 0.0)
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


async def _predict(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        instances = body["instances"]
        if not isinstance(instances, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "expected {'instances': [...]}"}, status=400)
    predictions = []
    for row in instances:
        p = _score(row if isinstance(row, dict) else dict(zip(_FEATURES, row, strict=False)))
        predictions.append({"churn": round(p, 4), "label": "churn" if p >= 0.5 else "stay"})
    return web.json_response({"predictions": predictions})


def _reply(prompt: str) -> str:
    words = prompt.split()
    return (
        "Here is a short answer about "
        + " ".join(words[:6])
        + ". In short: it depends on your data, your latency budget and how you monitor the model."
    )


async def _chat(request: web.Request) -> web.StreamResponse:
    try:
        body = await request.json()
        messages = body["messages"]
        prompt = str(messages[-1]["content"])
    except (ValueError, KeyError, TypeError, IndexError):
        return web.json_response({"error": {"message": "bad request"}}, status=400)
    model = str(body.get("model", "toy-chat"))
    text = _reply(prompt)
    tokens = text.split(" ")
    usage = {"prompt_tokens": max(1, len(prompt) // 4), "completion_tokens": len(tokens)}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    created = int(time.time())
    if not body.get("stream"):
        return web.json_response(
            {
                "id": "chatcmpl-demo",
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": usage,
            }
        )
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    for i, token in enumerate(tokens):
        chunk = {
            "id": "chatcmpl-demo",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": {"content": token if i == 0 else " " + token}, "finish_reason": None}],
        }
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await asyncio.sleep(0.002)
    final = {
        "id": "chatcmpl-demo",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": usage,
    }
    await response.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
    await response.write_eof()
    return response


async def _ready(request: web.Request) -> web.Response:
    return web.json_response({"ready": True})


def build_toy_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/models/credit:predict", _predict)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_get("/v2/health/ready", _ready)
    return app
