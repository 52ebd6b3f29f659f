"""Contract: the `sidecar` CLI, its flags, the SIDECAR_* environment and the YAML config file (DESIGN.md
"Processes, ports, configuration" and "CLI"), driven as a user would: real subprocesses only."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.test_contract_support import (
    ModelServer,
    Sidecar,
    free_port,
    get_json,
    http,
    run_cli,
    spawn_cli,
)

pytestmark = pytest.mark.timeout(240)


def _assert_one_clear_line(proc_err: str, rc: int, *names: str) -> None:
    lines = [line for line in proc_err.strip().splitlines() if line.strip()]
    assert rc == 2, f"exit {rc}, stderr: {proc_err!r}"
    assert "Traceback" not in proc_err, proc_err
    assert len(lines) == 1, f"expected one line, got {lines!r}"
    assert any(name in lines[0] for name in names), f"{lines[0]!r} names none of {names}"


def test_help_lists_every_command() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("run", "demo", "profile", "report", "inject", "webhook"):
        assert command in proc.stdout
    run_help = run_cli("run", "--help")
    assert run_help.returncode == 0
    for flag in ("--listen", "--admin-listen", "--upstream", "--store", "--sample-rate", "--model",
                 "--connect-timeout", "--response-timeout", "--read-timeout", "--workers", "--config"):  # fmt: skip
        assert flag in run_help.stdout, f"`sidecar run --help` does not document {flag}"


def test_run_without_upstream_exits_2_with_one_line() -> None:
    proc = run_cli("run")
    _assert_one_clear_line(proc.stderr, proc.returncode, "upstream", "SIDECAR_UPSTREAM")


def test_bad_values_exit_2_naming_the_setting(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("proxy: [unclosed\n")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("proxy:\n  upstream: http://127.0.0.1:9\nbogus_setting: 1\n")
    bad_value = tmp_path / "value.yaml"
    bad_value.write_text("capture:\n  sample_rate: 5\n")
    up = ["--upstream", "http://127.0.0.1:9"]
    # (argv, env, names any of which the one line must mention)
    cases: list[tuple[list[str], dict[str, str], tuple[str, ...]]] = [
        ([*up, "--sample-rate", "2"], {}, ("sample-rate", "sample_rate", "SIDECAR_SAMPLE_RATE")),
        (up, {"SIDECAR_SAMPLE_RATE": "abc"}, ("sample-rate", "sample_rate", "SIDECAR_SAMPLE_RATE")),
        ([*up, "--listen", "nonsense"], {}, ("listen",)),
        (up, {"SIDECAR_ADMIN_LISTEN": "127.0.0.1:99999"}, ("admin-listen", "admin.listen", "SIDECAR_ADMIN_LISTEN")),
        (["--upstream", "ftp://example"], {}, ("upstream",)),
        ([*up, "--store", "mongodb://127.0.0.1"], {}, ("store",)),
        (up, {"SIDECAR_CONNECT_TIMEOUT": "soon"}, ("connect-timeout", "connect_timeout", "SIDECAR_CONNECT_TIMEOUT")),
        ([*up, "--response-timeout", "-1"], {}, ("response-timeout", "response_timeout")),
        (up, {"SIDECAR_READ_TIMEOUT": "nan"}, ("read-timeout", "read_timeout", "SIDECAR_READ_TIMEOUT")),
        ([*up, "--workers", "0"], {}, ("workers",)),
        ([*up, "--config", str(bad_yaml)], {}, ("config", str(bad_yaml))),
        (up, {"SIDECAR_CONFIG": str(unknown)}, ("bogus_setting",)),
        ([*up, "--config", str(bad_value)], {}, ("sample_rate", "sample-rate")),
        ([*up, "--config", str(tmp_path / "missing.yaml")], {}, ("config", "missing.yaml")),
    ]
    procs = [(spawn_cli("run", *argv, env=env), argv, env, names) for argv, env, names in cases]
    failures = []
    for proc, argv, env, names in procs:
        try:
            _out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            failures.append(f"{argv} {env}: did not exit (it started?)")
            continue
        try:
            _assert_one_clear_line(err, proc.returncode, *names)
        except AssertionError as exc:
            failures.append(f"{argv} {env}: {exc}")
    assert not failures, "\n".join(failures)


def test_precedence_flag_over_env_over_config_over_default(upstream: ModelServer, tmp_path: Path) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        f"proxy:\n  upstream: {upstream.url}\n  response_timeout: 30\n"  # only the file names the upstream
        "capture:\n  sample_rate: 0\n"  # env says 1
        "model: from-config\n"  # env and flag say otherwise
    )
    sc = Sidecar(
        ["--config", str(config), "--model", "from-flag"],
        {
            "SIDECAR_SAMPLE_RATE": "1",
            "SIDECAR_MODEL": "from-env",
            "SIDECAR_RESPONSE_TIMEOUT": "0.5",
            "SIDECAR_REDACTION_NER": "off",
        },
    ).start()
    try:
        status = sc.status()
        assert status["upstream"]["url"].rstrip("/") == upstream.url  # config > default
        assert http("POST", sc.url + "/score", {"x": 1.0}).status == 200
        sc.wait_processed(1)  # env sample rate 1 beats the file's 0
        samples = get_json(sc.admin_url + "/v1/samples?model=from-flag")
        assert len(samples["samples"]) == 1  # flag > env > file for the model name
        assert http("GET", sc.admin_url + "/v1/samples?model=from-env").status == 404
        started = time.monotonic()
        slow = http("GET", sc.url + "/slow/5", timeout=10)
        assert slow.status == 504, slow.text  # env response timeout 0.5 beats the file's 30
        assert time.monotonic() - started < 4.5
    finally:
        sc.close()


def test_every_env_name_of_the_table_is_honoured(upstream: ModelServer, tmp_path: Path) -> None:
    proxy_port, admin_port = free_port(), free_port()
    config = tmp_path / "dotted.yaml"
    config.write_text("capture.samples_kept: 3\n")  # dotted keys are accepted too
    env = {
        "SIDECAR_LISTEN": f"127.0.0.1:{proxy_port}",
        "SIDECAR_ADMIN_LISTEN": f"127.0.0.1:{admin_port}",
        "SIDECAR_UPSTREAM": upstream.url,
        "SIDECAR_STORE": "memory",
        "SIDECAR_SAMPLE_RATE": "1.0",
        "SIDECAR_ADMIN_TOKEN": "s3cret-token",
        "SIDECAR_MODEL": "env-model",
        "SIDECAR_CONNECT_TIMEOUT": "2",
        "SIDECAR_RESPONSE_TIMEOUT": "0.5",
        "SIDECAR_READ_TIMEOUT": "30",
        "SIDECAR_WORKERS": "1",
        "SIDECAR_CONFIG": str(config),
        "SIDECAR_REDACTION_NER": "off",
    }
    sc = Sidecar([], env).start()
    try:
        assert sc.proxy.endswith(f":{proxy_port}") and sc.admin.endswith(f":{admin_port}")
        status = sc.status()
        assert status["store"]["backend"] == "memory" and status["store"]["healthy"] is True
        assert status["upstream"]["url"].rstrip("/") == upstream.url
        for i in range(5):
            assert http("POST", sc.url + "/score", {"i": i}).status == 200
        sc.wait_processed(5)
        samples = get_json(sc.admin_url + "/v1/samples?limit=100")
        assert samples["model"] == "env-model"  # SIDECAR_MODEL names a path-less model
        assert len(samples["samples"]) == 3  # capture.samples_kept from SIDECAR_CONFIG
        assert http("GET", sc.url + "/slow/5", timeout=10).status == 504  # SIDECAR_RESPONSE_TIMEOUT
        denied = http("POST", sc.admin_url + "/v1/reference", {"from": "window"})
        assert denied.status == 401 and set(denied.json()) >= {"error", "detail"}  # SIDECAR_ADMIN_TOKEN
        allowed = http("POST", sc.admin_url + "/v1/reference", {"from": "window"},
                       {"Authorization": "Bearer s3cret-token"})  # fmt: skip
        assert allowed.status == 200, allowed.text
    finally:
        sc.close()


def test_workers_env_runs_several_proxy_processes_that_all_report(upstream: ModelServer) -> None:
    env = {"SIDECAR_WORKERS": "2", "SIDECAR_UPSTREAM": upstream.url, "SIDECAR_REDACTION_NER": "off"}
    sc = Sidecar([], env).start()
    try:
        assert "workers=2" in sc.log()
        for i in range(12):
            assert http("POST", sc.url + "/score", {"i": i}).status == 200
        # Whatever worker served a request, the admin API counts it (the contract's wait works).
        status = sc.wait_processed(12)
        assert status["capture"]["captured"] >= 12
        assert len(get_json(sc.admin_url + "/v1/samples?limit=100")["samples"]) == 12
    finally:
        sc.close()


def test_profile_command_writes_an_uploadable_profile(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("age,plan\n" + "".join(f"{20 + i % 40},{'ab'[i % 2]}\n" for i in range(300)))
    out = tmp_path / "p.json"
    proc = run_cli("profile", str(data), "--model", "credit", "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    profile = json.loads(out.read_text())
    assert isinstance(profile, dict) and json.dumps(profile).count("age") >= 1
    missing = run_cli("profile", str(tmp_path / "nope.csv"), "--out", str(out))
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
