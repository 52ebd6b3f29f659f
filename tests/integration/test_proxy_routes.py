"""Route templates (bounded ``http.route``) and model names from paths; ``http.route`` on spans."""

from __future__ import annotations

import aiohttp
import pytest
from opentelemetry.trace import SpanKind

from sidecar.proxy.routes import OTHER, TEMPLATES, model_from_path, route_for
from tests.fixtures.servers import RunningSidecar


@pytest.mark.parametrize(
    ("path", "route", "model"),
    [
        ("/v1/models/iris:predict", "/v1/models/{model}:predict", "iris"),
        ("/v1/models/iris:explain", "/v1/models/{model}:explain", "iris"),
        ("/v1/models/half%20plus:predict", "/v1/models/{model}:predict", "half plus"),
        ("/v1/models/tf/versions/3:predict", "/v1/models/{model}/versions/{version}:predict", "tf"),
        ("/v2/models/resnet/infer", "/v2/models/{model}/infer", "resnet"),
        ("/v2/models/resnet/versions/2/infer", "/v2/models/{model}/versions/{version}/infer", "resnet"),
        ("/v2/models/resnet/ready", "/v2/models/{model}/ready", "resnet"),
        ("/v2/models/resnet", "/v2/models/{model}", "resnet"),
        ("/v2/health/live", "/v2/health/live", None),
        ("/v2/health/ready", "/v2/health/ready", None),
        ("/invocations", "/invocations", None),
        ("/api/v1.0/predictions", "/api/v1.0/predictions", None),
        ("/v1/chat/completions", "/v1/chat/completions", None),
        ("/v1/completions", "/v1/completions", None),
        ("/v1/embeddings", "/v1/embeddings", None),
        ("/v1/models", "/v1/models", None),
        ("/v1/models/gpt-4o-mini", "/v1/models/{model}", "gpt-4o-mini"),
        ("/predict", "/predict", None),
        ("/health", "/health", None),
        ("/", "/", None),
        ("/v2/models//infer", OTHER, None),
        ("/anything/else", OTHER, None),
        ("/v1/models/x:predict/extra", OTHER, None),
        ("/api/v1x0/predictions", OTHER, None),
    ],
)
def test_templates_and_model_names(path: str, route: str, model: str | None) -> None:
    assert route_for(path) == route
    assert model_from_path(path + "?q=1") == model
    assert route in TEMPLATES


def test_overlong_model_names_are_not_trusted() -> None:
    assert model_from_path("/v2/models/" + "m" * 500 + "/infer") is None
    assert route_for("/v2/models/" + "m" * 500 + "/infer") == "/v2/models/{model}/infer"


def test_many_distinct_paths_keep_the_memo_bounded() -> None:
    from sidecar.proxy import routes

    for n in range(10_000):
        route_for(f"/v2/models/m{n}/infer")
    assert len(routes._cache) <= 4096


async def test_span_route_comes_from_the_template(sidecar: RunningSidecar) -> None:
    async with aiohttp.ClientSession() as client:
        for name in ("a", "b", "c"):
            async with client.post(f"{sidecar.url}/v2/models/{name}/infer", data=b"{}") as resp:
                await resp.read()
    routes = {
        (s.attributes or {}).get("http.route") for s in sidecar.spans.get_finished_spans() if s.kind is SpanKind.SERVER
    }
    assert routes == {"/v2/models/{model}/infer"}
