"""Contract: the admin API's shapes, model scoping (?model=, 409 with the models), the token rule for
mutating calls, JSON errors that change nothing, and reference profiles made by `sidecar profile`."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_contract_support import ModelServer, Sidecar, get_json, http, run_cli

pytestmark = pytest.mark.timeout(240)
TOKEN = "contract-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def sc(upstream: ModelServer) -> Iterator[Sidecar]:
    env = {"SIDECAR_REDACTION_NER": "off", "SIDECAR_ADMIN_TOKEN": TOKEN}
    sidecar = Sidecar(["--upstream", upstream.url], env).start()
    rng = random.Random(5)
    for i in range(30):  # two models seen: every model-scoped endpoint must ask which one
        rows = [{"age": rng.randint(20, 70), "plan": rng.choice(["basic", "gold"])} for _ in range(5)]
        http("POST", sidecar.url + "/v1/models/alpha:predict", {"instances": rows}, {"x-request-id": f"alpha-{i}"})
        http("POST", sidecar.url + "/v1/models/beta:predict", {"instances": [[rng.random(), rng.random()]]})
    sidecar.wait_processed(60)
    yield sidecar
    sidecar.close()


def _is_error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, f"expected {status}, got {resp.status}: {resp.text[:300]}"
    assert "application/json" in (resp.header("content-type") or ""), resp.headers
    body: dict[str, Any] = resp.json()
    assert isinstance(body.get("error"), str) and body["error"] and isinstance(body.get("detail"), str), body
    return body


def test_status_shape(sc: Sidecar) -> None:
    status = sc.status()
    assert isinstance(status["version"], str) and isinstance(status["uptime_s"], int | float)
    assert isinstance(status["upstream"]["url"], str) and status["upstream"]["ready"] is True
    assert status["store"]["backend"] == "memory" and status["store"]["healthy"] is True
    capture = status["capture"]
    for key in ("captured", "dropped", "skipped", "failed", "processed", "queue"):
        assert isinstance(capture[key], int) and capture[key] >= 0, (key, capture)
    assert capture["processed"] >= 60 and capture["captured"] >= 60
    assert get_json(sc.admin_url + "/healthz") is not None
    assert http("GET", sc.admin_url + "/readyz").status == 200


@pytest.mark.parametrize("path", ["/v1/drift", "/v1/samples", "/v1/anomalies", "/v1/performance"])
def test_model_scoped_get_without_model_is_409_listing_them(sc: Sidecar, path: str) -> None:
    body = _is_error(http("GET", sc.admin_url + path), 409)
    assert {"alpha", "beta"} <= set(body["models"]), body
    assert http("GET", sc.admin_url + path + "?model=alpha").status == 200
    _is_error(http("GET", sc.admin_url + path + "?model=no-such-model"), 404)


def test_freeze_without_model_is_409_and_changes_nothing(sc: Sidecar) -> None:
    before = get_json(sc.admin_url + "/v1/drift?model=beta")["reference"]
    body = _is_error(http("POST", sc.admin_url + "/v1/reference", {"from": "window"}, AUTH), 409)
    assert {"alpha", "beta"} <= set(body.get("models", [])) or "model" in body["detail"]
    assert get_json(sc.admin_url + "/v1/drift?model=beta")["reference"] == before


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 403), ({"Authorization": f"Basic {TOKEN}"}, 401)],
)
def test_mutating_calls_need_the_token_and_change_nothing(sc: Sidecar, headers: dict[str, str], status: int) -> None:
    perf_before = get_json(sc.admin_url + "/v1/performance?model=alpha")["n_labeled"]
    ref_before = get_json(sc.admin_url + "/v1/drift?model=alpha")["reference"]
    _is_error(http("POST", sc.admin_url + "/v1/reference?model=alpha", {"from": "window"}, headers), status)
    _is_error(http("POST", sc.admin_url + "/v1/feedback", {"request_id": "alpha-1", "label": 1.0}, headers), status)
    assert get_json(sc.admin_url + "/v1/performance?model=alpha")["n_labeled"] == perf_before
    assert get_json(sc.admin_url + "/v1/drift?model=alpha")["reference"] == ref_before


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v1/reference?model=alpha", b"{not json", 400),
        ("POST", "/v1/reference?model=alpha", b"[1, 2]", 400),
        ("POST", "/v1/reference?model=alpha", {"from": "yesterday"}, 400),
        ("POST", "/v1/reference?model=alpha", {"format": "model-sidecar/profile", "features": "x"}, 400),
        ("POST", "/v1/feedback", b"\xff\xfe", 400),
        ("POST", "/v1/feedback", b"42", 400),
        ("POST", "/v1/feedback", {"request_id": "", "label": 1}, 400),
        ("POST", "/v1/feedback", {"request_id": "never-seen", "label": 1}, 404),
        ("GET", "/v1/samples?model=alpha&limit=abc", None, 400),
        ("GET", "/v1/samples?model=alpha&limit=0", None, 400),
        ("GET", "/v1/anomalies?model=alpha&limit=-3", None, 400),
        ("GET", "/v1/drift?model=", None, 400),
        ("GET", "/v1/no-such-endpoint", None, 404),
        ("DELETE", "/v1/drift", None, 405),
    ],
)
def test_bad_requests_are_json_errors_that_change_nothing(
    sc: Sidecar, method: str, path: str, body: Any, status: int
) -> None:
    ref_before = get_json(sc.admin_url + "/v1/drift?model=alpha")["reference"]
    perf_before = get_json(sc.admin_url + "/v1/performance?model=alpha")["n_labeled"]
    _is_error(http(method, sc.admin_url + path, body, AUTH), status)
    assert get_json(sc.admin_url + "/v1/drift?model=alpha")["reference"] == ref_before
    assert get_json(sc.admin_url + "/v1/performance?model=alpha")["n_labeled"] == perf_before


DEEP = b"[" * 100_000 + b"]" * 100_000  # valid JSON that Python's json module cannot parse (RecursionError)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/samples?model=alpha&limit=%C2%B2", None),
        ("GET", "/v1/anomalies?model=alpha&limit=%C2%B2", None),
        ("POST", "/v1/feedback", DEEP),
        ("POST", "/v1/reference?model=alpha", DEEP),
    ],
    ids=["samples-limit-superscript", "anomalies-limit-superscript", "feedback-deep-json", "reference-deep-json"],
)
def test_hostile_input_is_a_json_4xx_not_a_500(sc: Sidecar, method: str, path: str, body: bytes | None) -> None:
    ref_before = get_json(sc.admin_url + "/v1/drift?model=alpha")["reference"]
    resp = http(method, sc.admin_url + path, body, {**AUTH, "Content-Type": "application/json"})
    assert 400 <= resp.status < 500, (resp.status, resp.text[:200])
    _is_error(resp, resp.status)
    assert get_json(sc.admin_url + "/v1/drift?model=alpha")["reference"] == ref_before
    assert "Traceback" not in sc.log()


def test_feedback_batch_too_large_is_413_and_keeps_nothing(sc: Sidecar) -> None:
    batch = [{"request_id": f"alpha-{i % 30}", "label": 1.0} for i in range(1001)]
    _is_error(http("POST", sc.admin_url + "/v1/feedback", batch, AUTH), 413)
    assert get_json(sc.admin_url + "/v1/performance?model=alpha")["n_labeled"] == 0


def test_samples_and_anomalies_shapes(sc: Sidecar) -> None:
    samples = get_json(sc.admin_url + "/v1/samples?model=alpha&limit=7")["samples"]
    assert len(samples) == 7
    assert samples[0]["request_id"] == "alpha-29"
    for s in samples:
        assert {"request_id", "time", "route", "dialect", "request", "response"} <= set(s)
        assert isinstance(s["time"], int | float) and s["request"]["instances"]
    anomalies = get_json(sc.admin_url + "/v1/anomalies?model=alpha&limit=5")
    assert isinstance(anomalies["anomalies"], list)


def test_freeze_window_then_drift_reports_it(sc: Sidecar) -> None:
    frozen = http("POST", sc.admin_url + "/v1/reference?model=alpha", {"from": "window"}, AUTH)
    assert frozen.status == 200, frozen.text
    drift = get_json(sc.admin_url + "/v1/drift?model=alpha")
    assert drift["model"] == "alpha" and drift["reference"] == {**drift["reference"], "n": 150, "source": "window"}
    assert drift["current"]["n"] == 0  # the window starts afresh
    assert {"age", "plan", "prediction"} <= {f["name"] for f in drift["features"]}
    assert isinstance(drift["drifted"], bool)


def test_profile_upload_then_drift_on_shifted_traffic(sc: Sidecar, tmp_path: Path) -> None:
    rng = random.Random(9)
    data = tmp_path / "train.csv"
    data.write_text(
        "income,tenure\n" + "".join(f"{rng.gauss(50, 10):.3f},{rng.gauss(24, 6):.3f}\n" for _ in range(800))
    )
    out = tmp_path / "profile.json"
    made = run_cli("profile", str(data), "--model", "gamma", "--out", str(out), "--no-progress")
    assert made.returncode == 0, made.stderr
    _is_error(http("POST", sc.admin_url + "/v1/reference?model=gamma", out.read_bytes()), 401)  # token first
    uploaded = http("POST", sc.admin_url + "/v1/reference?model=gamma", out.read_bytes(),
                    {**AUTH, "Content-Type": "application/json"})  # fmt: skip
    assert uploaded.status == 200, uploaded.text
    drift = get_json(sc.admin_url + "/v1/drift?model=gamma")
    assert drift["reference"]["source"] == "profile" and drift["reference"]["n"] == 800
    sent = sc.processed()
    for _ in range(15):
        rows = [{"income": rng.gauss(65, 10), "tenure": rng.gauss(24, 6)} for _ in range(10)]
        assert http("POST", sc.url + "/v1/models/gamma:predict", {"instances": rows}).status == 200
    sc.wait_processed(sent + 15)
    verdict = {f["name"]: f["drifted"] for f in get_json(sc.admin_url + "/v1/drift?model=gamma")["features"]}
    assert verdict["income"] is True and verdict["tenure"] is False, verdict


def test_wide_profile_from_sidecar_profile_can_be_pushed(sc: Sidecar, tmp_path: Path) -> None:
    """A 220-column data set (within the default 256-feature cap) makes a profile of > 1 MiB."""
    rng = random.Random(3)
    columns = [f"c{i}" for i in range(220)]
    lines = [",".join(columns)] + [",".join(f"{rng.gauss(0, 1):.4f}" for _ in columns) for _ in range(1500)]
    data = tmp_path / "wide.csv"
    data.write_text("\n".join(lines) + "\n")
    pushed = run_cli("profile", str(data), "--model", "wide", "--push", sc.admin_url, "--no-progress",
                     env={"SIDECAR_ADMIN_TOKEN": TOKEN})  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    drift = get_json(sc.admin_url + "/v1/drift?model=wide")
    assert drift["reference"]["source"] == "profile" and drift["reference"]["n"] == 1500
    assert len(drift["features"]) == 220


def test_profile_upload_errors_change_nothing(sc: Sidecar, tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("a\n" + "".join(f"{i}\n" for i in range(50)))
    out = tmp_path / "p.json"
    assert run_cli("profile", str(data), "--model", "delta", "--out", str(out), "--no-progress").returncode == 0
    profile = json.loads(out.read_text())
    broken = {**profile, "n": "many"}
    _is_error(http("POST", sc.admin_url + "/v1/reference?model=delta", broken, AUTH), 400)
    _is_error(http("GET", sc.admin_url + "/v1/drift?model=delta"), 404)  # nothing was stored
