"""Contract: the proxy as clients and model servers see it — request identity (x-request-id kept or
generated, both ways, used by samples/anomalies/feedback), W3C trace context as a child, byte-for-byte
transparency, and the fault statuses (504 on a stall, idle read timeout, 502 when the model is down)."""

from __future__ import annotations

import gzip
import json
import re
import time
from collections.abc import Iterator
from http.client import HTTPException

import pytest

from tests.integration.test_contract_support import (
    ModelServer,
    Sidecar,
    get_json,
    http,
    prom_samples,
)

pytestmark = pytest.mark.timeout(240)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


@pytest.fixture(scope="module")
def collector() -> Iterator[ModelServer]:
    server = ModelServer().start()  # its OTLP/HTTP routes receive the sidecar's spans and metrics
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sc(upstream: ModelServer, collector: ModelServer) -> Iterator[Sidecar]:
    # With an OTLP endpoint spans exist, so the trace context must reach the upstream re-parented.
    env = {"SIDECAR_REDACTION_NER": "off", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
           "OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_METRIC_EXPORT_INTERVAL": "500"}  # fmt: skip
    args = ["--upstream", upstream.url, "--response-timeout", "1", "--read-timeout", "1"]
    sidecar = Sidecar(args, env).start()
    yield sidecar
    sidecar.close()


def test_well_formed_request_id_is_kept_both_ways(sc: Sidecar, upstream: ModelServer) -> None:
    rid = "order-4711.retry:2"
    resp = http("POST", sc.url + "/v1/models/ids:predict", {"instances": [[1.0]]}, {"x-request-id": rid})
    assert resp.status == 200 and resp.header("x-request-id") == rid
    assert upstream.last("/v1/models/ids:predict").headers.get("x-request-id") == rid


@pytest.mark.parametrize("sent", [None, "has spaces in it", "x" * 300, "<script>", ""])
def test_malformed_or_missing_request_id_is_replaced(sc: Sidecar, upstream: ModelServer, sent: str | None) -> None:
    headers = {} if sent is None else {"x-request-id": sent}
    resp = http("POST", sc.url + "/score", {"a": 1}, headers)
    rid = resp.header("x-request-id")
    assert resp.status == 200 and rid and rid != sent and _ID.fullmatch(rid), rid
    assert upstream.last("/score").headers.get("x-request-id") == rid  # the same id went upstream


def test_samples_and_feedback_use_the_request_id(sc: Sidecar) -> None:
    sent = sc.processed()
    rows = [[1.0], [-1.0], [2.0], [-2.0], [3.0], [-3.0]]  # the model says yes, no, yes, no, yes, no
    ids = [f"join-{i:03d}" for i in range(len(rows))]
    for rid, row in zip(ids, rows, strict=True):
        resp = http("POST", sc.url + "/v1/models/joinclf:predict", {"instances": [row]}, {"x-request-id": rid})
        assert resp.json() == {"predictions": ["yes" if row[0] > 0 else "no"]}
    sc.wait_processed(sent + len(rows))
    samples = get_json(sc.admin_url + "/v1/samples?model=joinclf&limit=100")["samples"]
    assert [s["request_id"] for s in samples] == ids[::-1]  # most recent first
    for s in samples:
        assert {"request_id", "time", "route", "dialect", "request", "response"} <= set(s)
        assert s["dialect"] == "kserve_v1" and s["route"] == "/v1/models/{model}:predict"
        assert isinstance(s["request"], dict) and isinstance(s["response"], dict)  # JSON payloads as JSON
    assert len(get_json(sc.admin_url + "/v1/samples?model=joinclf&limit=2")["samples"]) == 2
    truth = ["yes", "no", "yes", "yes", "no", "no"]  # 4 of 6 right
    single = http("POST", sc.admin_url + "/v1/feedback", {"request_id": ids[0], "label": truth[0]})
    assert single.status == 200, single.text
    batch = [{"request_id": rid, "label": lab} for rid, lab in zip(ids[1:], truth[1:], strict=True)]
    batch += [{"request_id": "never-seen-id", "label": "yes"}, {"label": "no"}, "junk"]
    answer = http("POST", sc.admin_url + "/v1/feedback", batch)
    assert answer.status == 200, answer.text
    results = answer.json()["results"]
    assert len(results) == len(batch)
    assert all(r.get("status") != "error" for r in results[:5]), results
    assert all(r.get("status") == "error" and r.get("error") for r in results[5:]), results
    perf = get_json(sc.admin_url + "/v1/performance?model=joinclf")
    assert perf["model"] == "joinclf" and perf["n_labeled"] == 6 and perf["task"] == "classification"
    assert {"accuracy", "precision_macro", "recall_macro", "f1_macro"} <= set(perf["metrics"])
    assert perf["metrics"]["accuracy"] == pytest.approx(4 / 6)
    assert set(perf["per_class"]) >= {"yes", "no"}
    scores = {
        s["metric"] for s, _ in prom_samples(sc.metrics(), "sidecar_performance_score") if s.get("model") == "joinclf"
    }
    assert {"accuracy", "f1"} & scores or {"accuracy", "f1_macro"} & scores, scores


def test_regression_labels_give_mae_and_rmse(sc: Sidecar) -> None:
    sent = sc.processed()
    for i, x in enumerate([1.0, 2.0, 3.0, 4.0]):  # the model predicts 0.1 * x
        http("POST", sc.url + "/v1/models/reg:predict", {"instances": [[x]]}, {"x-request-id": f"reg-{i}"})
    sc.wait_processed(sent + 4)
    labels = [{"request_id": f"reg-{i}", "label": 0.1 * x + 0.5} for i, x in enumerate([1.0, 2.0, 3.0, 4.0])]
    assert http("POST", sc.admin_url + "/v1/feedback", labels).json()["accepted"] == 4
    perf = get_json(sc.admin_url + "/v1/performance?model=reg")
    assert perf["task"] == "regression" and perf["n_labeled"] == 4
    assert perf["metrics"]["mae"] == pytest.approx(0.5) and perf["metrics"]["rmse"] == pytest.approx(0.5)


def test_feedback_for_a_batch_request_is_joined(sc: Sidecar) -> None:
    sent = sc.processed()
    resp = http("POST", sc.url + "/v1/models/batchclf:predict", {"instances": [[1.0], [-1.0], [2.0]]},
                {"x-request-id": "batch-0001"})  # fmt: skip
    assert resp.json() == {"predictions": ["yes", "no", "yes"]}
    sc.wait_processed(sent + 1)
    # A list label labels the rows of a batched request in order; rows are also addressable as <id>#<row>.
    answer = http("POST", sc.admin_url + "/v1/feedback", {"request_id": "batch-0001", "label": ["yes", "no", "no"]})
    assert answer.status == 200 and answer.json()["accepted"] == 3, answer.text
    assert [r["request_id"] for r in answer.json()["results"]] == ["batch-0001#0", "batch-0001#1", "batch-0001#2"]
    perf = get_json(sc.admin_url + "/v1/performance?model=batchclf")
    assert perf["n_labeled"] == 3 and perf["metrics"]["accuracy"] == pytest.approx(2 / 3)
    scalar = http("POST", sc.admin_url + "/v1/feedback", {"request_id": "batch-0001", "label": "yes"})
    assert scalar.status == 404 and "#<row>" in scalar.json()["detail"]


def test_trace_context_reaches_the_upstream_as_a_child(sc: Sidecar, upstream: ModelServer) -> None:
    headers = {"traceparent": TRACEPARENT, "tracestate": "vendor=opaque", "baggage": "tenant=acme"}
    assert http("GET", sc.url + "/echo-headers", headers=headers).status == 200
    seen = {k.lower(): v for k, v in upstream.last("/echo-headers").headers.items()}
    version, trace_id, parent, flags = seen["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACEPARENT.split("-")[1], "01")
    assert parent != TRACEPARENT.split("-")[2] and re.fullmatch("[0-9a-f]{16}", parent)
    assert seen.get("tracestate") == "vendor=opaque" and seen.get("baggage") == "tenant=acme"


def test_otlp_endpoint_receives_spans_and_metrics(sc: Sidecar, collector: ModelServer) -> None:
    assert http("GET", sc.url + "/echo-headers").status == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not {"/v1/traces", "/v1/metrics"} <= {s.path for s in collector.seen}:
        time.sleep(0.1)
    assert {"/v1/traces", "/v1/metrics"} <= {s.path for s in collector.seen}
    assert all(s.headers.get("content-type") == "application/x-protobuf" for s in collector.seen)


def test_capture_never_changes_bytes(sc: Sidecar, upstream: ModelServer) -> None:
    cases = [
        ("GET", "/binary", None, {}),
        ("POST", "/gzip-echo", gzip.compress(b'{"k": "v"}', mtime=0), {"Content-Type": "application/json",
                                                                        "Content-Encoding": "gzip"}),
        ("POST", "/v1/chat/completions", json.dumps({"model": "m", "stream": True,
         "messages": [{"role": "user", "content": "one two three"}]}).encode(), {"Content-Type": "application/json"}),
        ("POST", "/invocations", b'{"instances": [[1, 2]]}', {}),  # no Content-Type at all
        ("POST", "/status/500", b'{"x": 1}', {"Content-Type": "application/json"}),
        ("POST", "/status/422", b"not json", {"Content-Type": "application/json"}),
    ]  # fmt: skip
    for method, path, body, headers in cases:
        via = http(method, sc.url + path, body, headers)
        direct = http(method, upstream.url + path, body, headers)
        assert (via.status, via.body) == (direct.status, direct.body), path
        assert via.header("content-type") == direct.header("content-type"), path
        assert via.header("content-encoding") == direct.header("content-encoding"), path
        if body is not None:
            assert upstream.seen[-1].body == body  # request bytes unchanged too


def test_stall_before_headers_is_a_504_json(sc: Sidecar) -> None:
    started = time.monotonic()
    resp = http("GET", sc.url + "/slow/10", timeout=9)
    assert resp.status == 504
    assert time.monotonic() - started < 8
    assert "json" in (resp.header("content-type") or "") and {"error"} <= set(resp.json()), resp.text
    assert resp.header("x-request-id")


def test_idle_stream_is_cut_after_the_read_timeout(sc: Sidecar) -> None:
    started = time.monotonic()
    try:
        resp = http("GET", sc.url + "/stall-body", timeout=9)
        body = resp.body
    except (HTTPException, ConnectionError):
        body = b""  # the proxy aborted the stream: the client sees a broken body, not a hang
    assert time.monotonic() - started < 8
    assert body in {b"", b"first-chunk;"}, body  # what arrived, never more
    assert http("GET", sc.admin_url + "/healthz").status == 200


def test_upstream_down_is_a_502_json_and_health_stays_up(sc: Sidecar, upstream: ModelServer) -> None:
    before = sc.status()["capture"]
    upstream.stop()  # last test of the module: the model server goes away for good
    resp = http("POST", sc.url + "/v1/models/ids:predict", {"instances": [[1.0]]})
    assert resp.status == 502
    assert "json" in (resp.header("content-type") or "") and {"error"} <= set(resp.json()), resp.text
    assert resp.header("x-request-id")
    assert http("GET", sc.admin_url + "/healthz").status == 200  # liveness is ours only
    deadline = time.monotonic() + 10  # readiness may be cached for about a second
    while (ready := http("GET", sc.admin_url + "/readyz")).status == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ready.status == 503 and isinstance(ready.json(), dict)
    status = sc.status()
    assert status["upstream"]["ready"] is False
    assert status["capture"]["failed"] == before["failed"]
