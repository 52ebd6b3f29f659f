"""Codecs on realistic payloads written from each server's documented examples (tests/data/payloads)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from sidecar.codecs import DIALECTS, decode
from sidecar.models import Decoded, Exchange
from tests.fixtures.exchanges import make_exchange

PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "payloads"
JSON = (("content-type", "application/json"),)
SSE = (("content-type", "text/event-stream"),)


def exchange(
    target: str,
    request: bytes,
    response: bytes = b"",
    *,
    response_headers: tuple[tuple[str, str], ...] = JSON,
    status: int = 200,
    ttfb_s: float | None = 0.25,
) -> Exchange:
    return make_exchange(
        request_id="req-1", time=1_700_000_000.0, target=target, request_body=request, status=status,
        response_headers=response_headers, response_body=response, duration_s=0.5, upstream_duration_s=0.4,
        ttfb_s=ttfb_s,
    )  # fmt: skip


def case(name: str, target: str, **kwargs: Any) -> Decoded:
    request = (PAYLOADS / f"{name}.request.json").read_bytes()
    json_response = PAYLOADS / f"{name}.response.json"
    if json_response.exists():
        return decode(exchange(target, request, json_response.read_bytes(), **kwargs))
    stream = (PAYLOADS / f"{name}.response.sse").read_bytes()
    return decode(exchange(target, request, stream, response_headers=SSE, **kwargs))


def test_dialect_names_are_the_documented_set() -> None:
    assert set(DIALECTS) == {"kserve_v1", "oip_v2", "mlflow", "seldon_v1", "openai", "generic_json", "opaque"}


def test_kserve_v1_iris_rows_are_positional() -> None:
    d = case("kserve_v1/iris", "/v1/models/sklearn-iris:predict")
    assert (d.dialect, d.model, d.skipped) == ("kserve_v1", "sklearn-iris", None)
    assert d.inputs == ({"f0": 6.8, "f1": 2.8, "f2": 4.8, "f3": 1.4}, {"f0": 6.0, "f1": 3.4, "f2": 4.5, "f3": 1.6})
    assert d.outputs == ({"prediction": 1}, {"prediction": 1})
    assert d.request_json == {"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}


def test_kserve_v1_dict_instances_are_named_and_probabilities_are_vectors() -> None:
    d = case("kserve_v1/income", "/v1/models/income:predict")
    assert d.inputs[1] == {
        "age": 50,
        "workclass": "Self-emp-not-inc",
        "education": "Bachelors",
        "hours_per_week": 13,
        "native_country": "United-States",
    }
    assert d.outputs == ({"prediction[0]": 0.87, "prediction[1]": 0.13}, {"prediction[0]": 0.31, "prediction[1]": 0.69})
    assert d.text_fields == frozenset()


def test_tf_serving_row_and_columnar_formats_give_the_same_rows() -> None:
    row = case("tf_serving/row", "/v1/models/m:predict")
    columnar = case("tf_serving/columnar", "/v1/models/m:predict")
    assert row.inputs == columnar.inputs
    assert row.inputs[0] == {
        "tag": "foo",
        **{f"signal[{k}]": v for k, v in enumerate([1, 2, 3, 4, 5])},
        **{f"sensor[{k}]": v for k, v in enumerate([1, 2, 3, 4])},
    }
    assert row.outputs[1] == {"scores[0]": 0.6, "scores[1]": 0.4, "classes[0]": 0, "classes[1]": 1}
    assert columnar.outputs == (
        {"prediction[0]": 0.1, "prediction[1]": 0.9},
        {"prediction[0]": 0.7, "prediction[1]": 0.3},
    )


def test_tf_serving_scalar_instances_and_binary_inputs() -> None:
    d = case("tf_serving/half_plus_two", "/v1/models/half_plus_two:predict")
    assert d.inputs == ({"f0": 1.0}, {"f0": 2.0}, {"f0": 5.0})
    assert d.outputs == ({"prediction": 2.5}, {"prediction": 3.0}, {"prediction": 4.5})
    b64 = case("tf_serving/b64", "/v1/models/resnet/versions/3:predict")
    assert b64.model == "resnet"
    assert b64.inputs == ({"image_bytes.b64_bytes": 18, "key": "k1"},)  # size only, never the bytes


def test_oip_v2_nested_data_and_single_output_named_prediction() -> None:
    d = case("oip_v2/iris", "/v2/models/sklearn-v2-iris/infer")
    assert (d.dialect, d.model) == ("oip_v2", "sklearn-v2-iris")
    assert d.inputs[0] == {"input-0[0]": 6.8, "input-0[1]": 2.8, "input-0[2]": 4.8, "input-0[3]": 1.4}
    assert d.outputs == ({"prediction": 1}, {"prediction": 1})


def test_oip_v2_flat_data_several_named_tensors_bool() -> None:
    d = case("oip_v2/triton", "/v2/models/simple/versions/1/infer")
    assert d.model == "simple"
    assert d.inputs == (
        {"input0[0]": 1, "input0[1]": 2, "input1": True},
        {"input0[0]": 3, "input0[1]": 4, "input1": False},
    )
    assert d.outputs == (
        {"output0[0]": 1.0, "output0[1]": 1.1, "output1": 0},
        {"output0[0]": 2.0, "output0[1]": 2.1, "output1": 1},
    )


def test_oip_v2_bytes_tensor_is_text_by_the_rule() -> None:
    d = case("oip_v2/text", "/v2/models/sentiment/infer")
    assert [row["text"] for row in d.inputs][1] == "Terrible."
    assert d.text_fields == frozenset({"text"})  # one long value makes the whole field text
    assert d.outputs[0] == {"prediction[0]": 0.02, "prediction[1]": 0.98}


def test_mlflow_four_input_formats() -> None:
    split = case("mlflow/split", "/invocations")
    assert split.dialect == "mlflow"
    assert split.inputs[1] == {"fixed acidity": 7.8, "volatile acidity": 0.88, "citric acid": 0.0, "color": "white"}
    assert split.outputs == ({"prediction": 5.03}, {"prediction": 5.11})
    records = case("mlflow/records", "/invocations")
    assert records.inputs == ({"a": 1, "b": 2, "c": 3}, {"a": 4, "b": 5, "c": 6})
    assert records.outputs[0] == {"label": "x", "score": 0.7}
    instances = case("mlflow/instances", "/invocations")
    assert (instances.dialect, instances.inputs[0]) == ("mlflow", {"a": "t1", "b[0]": 1, "b[1]": 2, "b[2]": 3})
    assert instances.outputs == ({"prediction": 0}, {"prediction": 1})  # MLflow 1.x bare list
    inputs = case("mlflow/inputs", "/invocations")
    assert inputs.inputs[2] == {"a": "s3", "b": 3, "c[0]": 7, "c[1]": 8, "c[2]": 9}
    assert inputs.outputs[1] == {"class": 1, "proba": 0.9}


def test_seldon_v1_ndarray_tensor_strdata_jsondata() -> None:
    nd = case("seldon_v1/ndarray", "/api/v1.0/predictions")
    assert nd.dialect == "seldon_v1"
    assert nd.inputs[0] == {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    assert nd.outputs[1] == {"prediction[0]": 0.02, "prediction[1]": 0.18, "prediction[2]": 0.8}
    tensor = case("seldon_v1/tensor", "/api/v1.0/predictions")
    assert tensor.inputs == ({"f0": 1.0, "f1": 2.0, "f2": 3.0}, {"f0": 4.0, "f1": 5.0, "f2": 6.0})
    assert tensor.outputs == ({"prediction": 0.25}, {"prediction": 0.75})
    text = case("seldon_v1/strdata", "/api/v1.0/predictions")
    assert "strData" in text.text_fields and "prediction" not in text.text_fields
    assert text.outputs == ({"prediction": "positive"},)
    js = case("seldon_v1/jsondata", "/api/v1.0/predictions")
    assert js.inputs == ({"user.age": 31, "user.country": "DE", "basket[0]": 12.5, "basket[1]": 3.0},)
    assert js.outputs == ({"prediction.score": 0.42},)


def test_openai_chat_non_stream() -> None:
    d = case("openai/chat", "/v1/chat/completions")
    assert (d.dialect, d.model) == ("openai", "gpt-4o-mini")
    row = d.inputs[0]
    assert row["messages.count"] == 2 and row["temperature"] == 0.7 and row["max_completion_tokens"] == 256
    assert row["messages.user.content"] == "Hello! My email is jane.doe@example.com, can you help me?"
    assert d.outputs == (
        {
            "completion": "Hello! How can I assist you today?",
            "choices.count": 1,
            "finish_reason": "stop",
            "tool_calls.count": 0,
        },
    )
    assert d.text_fields == {"messages.developer.content", "messages.user.content", "completion"}
    assert d.llm is not None
    assert (d.llm.operation, d.llm.model, d.llm.input_tokens, d.llm.output_tokens) == (
        "chat",
        "gpt-4o-mini-2024-07-18",
        19,
        10,
    )
    assert d.llm.finish_reasons == ("stop",) and not d.llm.streamed
    assert d.llm.time_to_first_token_s is None  # a non-streamed body comes after the whole generation


def test_openai_tool_call_with_image_part() -> None:
    d = case("openai/tools", "/v1/chat/completions")
    assert d.inputs[0]["messages.non_text_parts"] == 1 and d.inputs[0]["tools.count"] == 1
    assert d.inputs[0]["messages.user.content"] == "What is the weather like in Boston today?"
    assert d.outputs[0]["finish_reason"] == "tool_calls" and d.outputs[0]["tool_calls.count"] == 1
    assert d.outputs[0]["completion"] == ""


def test_openai_sse_stream_is_reassembled_with_usage_and_ttft() -> None:
    d = case("openai/stream", "/v1/chat/completions", ttfb_s=0.125)
    assert d.outputs[0]["completion"] == "Hello Bob! Nice to meet you."
    assert d.outputs[0]["finish_reason"] == "stop"
    assert d.llm is not None
    assert (d.llm.input_tokens, d.llm.output_tokens, d.llm.streamed) == (27, 8, True)
    assert d.llm.time_to_first_token_s == 0.125
    assert d.response_json["choices"][0]["message"] == {"role": "assistant", "content": "Hello Bob! Nice to meet you."}
    assert d.response_json["usage"]["total_tokens"] == 35


def test_openai_sse_tool_call_deltas_are_merged() -> None:
    d = case("openai/stream_tools", "/v1/chat/completions")
    calls = d.response_json["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["arguments"] for c in calls] == ['{"location": "Paris"}', '{"location": "Rome"}']
    assert d.outputs[0]["tool_calls.count"] == 2
    assert d.llm is not None and d.llm.input_tokens is None  # no include_usage: no usage chunk


def test_openai_completions_batch_stream_with_crlf_frames() -> None:
    d = case("openai/completions_stream", "/v1/completions")
    assert d.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert [r["prompt"] for r in d.inputs] == ["Once upon a time", "The capital of France is"]
    assert [(r["completion"], r["finish_reason"]) for r in d.outputs] == [
        (" there was a dragon", "length"),
        (" Paris.", "stop"),
    ]
    assert d.llm is not None and d.llm.finish_reasons == ("length", "stop") and d.llm.output_tokens == 6


def test_openai_completions_and_embeddings() -> None:
    c = case("openai/completions", "/v1/completions")
    assert c.inputs == ({"prompt": "Say this is a test", "max_tokens": 7, "temperature": 0},)
    assert c.outputs[0]["completion"] == "\n\nThis is indeed a test" and c.outputs[0]["finish_reason"] == "length"
    e = case("openai/embeddings", "/v1/embeddings")
    assert [r["input"] for r in e.inputs] == ["The food was delicious and the waiter was friendly.", "Cold soup."]
    assert e.text_fields == {"input"}
    assert e.outputs[1] == {"embedding.dim": 3, "embedding.norm": 1.0}  # sorted by "index"
    assert math.isclose(float(e.outputs[0]["embedding.norm"] or 0), 0.01003178, rel_tol=1e-6)
    assert e.llm is not None and (e.llm.operation, e.llm.input_tokens, e.llm.output_tokens) == ("embeddings", 14, None)


def test_openai_base64_embeddings() -> None:
    import base64
    from array import array

    vector = array("f", [3.0, 4.0])
    body = {
        "object": "list",
        "data": [{"index": 0, "embedding": base64.b64encode(vector.tobytes()).decode()}],
        "usage": {},
    }
    request = json.dumps({"model": "e5", "input": "hi there", "encoding_format": "base64"}).encode()
    d = decode(exchange("/v1/embeddings", request, json.dumps(body).encode()))
    assert d.outputs == ({"embedding.dim": 2, "embedding.norm": 5.0},)


def test_generic_json_paths_and_text_rule() -> None:
    d = case("generic_json/fraud", "/score")
    assert d.dialect == "generic_json"
    row = d.inputs[0]
    assert row["transaction.merchant.mcc"] == 5411 and row["items[1].sku"] == "B-7"
    assert row["transaction.card_present"] is False
    assert d.text_fields == {"customer.note"}  # > 40 chars with whitespace; "gold", "EUR" are not text
    assert d.outputs == ({"score": 0.83, "label": "fraud", "explanations.amount": 0.4, "explanations.age": -0.1},)


def test_generic_json_top_level_list_is_a_batch() -> None:
    d = case("generic_json/batch", "/predict")
    assert d.inputs == ({"x": 1.5, "y": "a"}, {"x": 2.5, "y": "b"}, {"x": None, "y": "c"})
    assert d.outputs == ({"prediction": 0.1}, {"prediction": 0.7}, {"prediction": 0.3})


@pytest.mark.parametrize(
    ("target", "body", "dialect"),
    [
        ("/anything", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]}, "oip_v2"),
        ("/anything", {"data": {"ndarray": [[1, 2]]}}, "seldon_v1"),
        ("/anything", {"dataframe_split": {"columns": ["a"], "data": [[1]]}}, "mlflow"),
        ("/anything", {"model": "m", "messages": [{"role": "user", "content": "hi"}]}, "openai"),
        ("/anything", {"instances": [[1, 2]]}, "kserve_v1"),
        ("/anything", {"a": 1}, "generic_json"),
        ("/gateway/openai/deployments/gpt/chat/completions", {"messages": []}, "openai"),
        # a route hint is used only when the body fits it
        ("/v2/models/m/infer", {"instances": [[1, 2]]}, "kserve_v1"),
    ],
)
def test_dialect_is_chosen_from_path_and_body_shape(target: str, body: Any, dialect: str) -> None:
    assert decode(exchange(target, json.dumps(body).encode())).dialect == dialect


def test_forced_dialect_is_strict() -> None:
    body = json.dumps({"instances": [[1, 2]]}).encode()
    assert decode(exchange("/x", body), dialect="generic_json").inputs == (
        {"instances[0][0]": 1, "instances[0][1]": 2},
    )
    wrong = decode(exchange("/x", body), dialect="oip_v2")
    assert (wrong.dialect, wrong.skipped, wrong.inputs) == ("oip_v2", "wrong_shape", ())
    assert decode(exchange("/x", body), dialect="nope").skipped == "unknown_dialect"
    assert decode(exchange("/x", body), dialect="opaque").skipped == "not_parsed"


def test_model_name_precedence() -> None:
    body = json.dumps({"instances": [1]}).encode()
    assert decode(exchange("/v1/models/a%2Db:predict?x=1", body)).model == "a-b"
    assert decode(exchange("/predict", body), default_model="fallback").model == "fallback"
    assert decode(exchange("/predict", body)).model == "default"
    chat = json.dumps({"model": "bad name with spaces", "messages": []}).encode()
    assert decode(exchange("/v1/chat/completions", chat), default_model="m0").model == "m0"


def test_error_status_keeps_inputs_but_no_outputs() -> None:
    request = json.dumps({"instances": [[1, 2]]}).encode()
    d = decode(exchange("/v1/models/m:predict", request, b'{"error": "boom"}', status=500))
    assert d.skipped is None and d.inputs == ({"f0": 1, "f1": 2},) and d.outputs == ()
    assert d.response_json is None


def test_openai_responses_api_non_stream() -> None:
    d = case("openai/responses", "/v1/responses")
    assert (d.dialect, d.model) == ("openai", "gpt-4.1")
    row = d.inputs[0]
    assert row["messages.system.content"] == "Talk like a pirate."
    assert row["messages.user.content"] == "Tell me a three sentence bedtime story about a unicorn."
    assert row["max_output_tokens"] == 200 and row["reasoning.effort"] == "low"
    assert d.outputs[0]["completion"].endswith("hidden pool. Arr, she slept.")  # type: ignore[union-attr]
    assert d.outputs[0]["finish_reason"] == "stop"
    assert d.llm is not None and (d.llm.operation, d.llm.input_tokens, d.llm.output_tokens) == ("chat", 36, 87)
    assert d.response_json["object"] == "response"  # kept as sent, for redaction


def test_openai_responses_api_stream_and_its_truncated_prefix() -> None:
    d = case("openai/responses_stream", "/v1/responses", ttfb_s=0.3)
    assert d.outputs[0]["completion"] == "Hi Ana!" and d.outputs[0]["finish_reason"] == "stop"
    assert d.llm is not None and (d.llm.output_tokens, d.llm.streamed, d.llm.time_to_first_token_s) == (4, True, 0.3)
    stream = (PAYLOADS / "openai" / "responses_stream.response.sse").read_bytes()
    cut = stream[: stream.index(b"response.output_text.done")]
    request = (PAYLOADS / "openai" / "responses_stream.request.json").read_bytes()
    ex = exchange("/v1/responses", request, cut, response_headers=SSE)
    partial = decode(Exchange(**{**{f: getattr(ex, f) for f in ex.__slots__}, "response_truncated": True}))
    assert partial.outputs[0]["completion"] == "Hi Ana!" and partial.outputs[0]["finish_reason"] == "none"
    assert partial.llm is not None and partial.llm.model == "gpt-4.1-2025-04-14"
