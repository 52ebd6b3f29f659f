"""Settings: precedence flag > env > YAML > default, and one clear error per bad value."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sidecar.config import Settings, add_flags, load_settings, parse_host_port, require_upstream
from sidecar.errors import ConfigError


def _flags(*argv: str) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    add_flags(parser)
    return vars(parser.parse_args(argv))


def test_defaults_match_the_design() -> None:
    s = load_settings(env={})
    assert s.proxy.listen == "0.0.0.0:15080" and s.admin.listen == "0.0.0.0:15090"
    assert (s.proxy.connect_timeout, s.proxy.response_timeout, s.proxy.read_timeout) == (5.0, 300.0, 300.0)
    assert s.proxy.workers == 1 and s.capture.sample_rate == 1.0 and s.store.url == "memory"
    assert s.proxy.pool_idle_timeout < 5.0  # below common upstream keep-alive timeouts
    assert (s.proxy.max_field_size, s.proxy.max_headers) == (65536, 256)


def test_precedence_flag_over_env_over_yaml_over_default(tmp_path: Path) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        "proxy:\n  upstream: http://yaml:1\n  connect_timeout: 7\n  read_timeout: 9\ncapture:\n  sample_rate: 0.3\n"
    )
    env = {"SIDECAR_CONFIG": str(config), "SIDECAR_UPSTREAM": "http://env:2", "SIDECAR_CONNECT_TIMEOUT": "8"}
    s = load_settings(_flags("--upstream", "http://flag:3"), env)
    assert s.proxy.upstream == "http://flag:3"  # flag beats env and YAML
    assert s.proxy.connect_timeout == 8.0  # env beats YAML
    assert s.proxy.read_timeout == 9.0  # YAML beats the default
    assert s.capture.sample_rate == 0.3
    assert s.proxy.response_timeout == Settings().proxy.response_timeout  # default


def test_config_flag_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("proxy:\n  workers: 3\n")
    s = load_settings(_flags("--config", str(config)), {"SIDECAR_CONFIG": "/nonexistent.yaml"})
    assert s.proxy.workers == 3


def test_lists_and_paths_parse() -> None:
    s = load_settings(env={"SIDECAR_EXCLUDED_PATHS": "/health, /metrics,,"})
    assert s.proxy.excluded_paths == ("/health", "/metrics")


@pytest.mark.parametrize(
    ("flags", "env", "named"),
    [
        (("--upstream", "ftp://x"), {}, "--upstream"),
        (("--upstream", "http://x:99999"), {}, "--upstream"),
        (("--sample-rate", "1.5"), {}, "--sample-rate"),
        (("--sample-rate", "nan"), {}, "--sample-rate"),
        (("--workers", "0"), {}, "--workers"),
        (("--workers", "2.5"), {}, "--workers"),
        (("--listen", "nohostport"), {}, "--listen"),
        (("--listen", "127.0.0.1:70000"), {}, "--listen"),
        (("--excluded-paths", "health"), {}, "--excluded-paths"),
        ((), {"SIDECAR_CONNECT_TIMEOUT": "0"}, "SIDECAR_CONNECT_TIMEOUT"),  # the name the bad value came in by
        ((), {"SIDECAR_TRUST_REQUEST_ID": "maybe"}, "SIDECAR_TRUST_REQUEST_ID"),
        ((), {"SIDECAR_STORE": "mysql://db"}, "SIDECAR_STORE"),
        ((), {"SIDECAR_LOG_LEVEL": "loud"}, "SIDECAR_LOG_LEVEL"),
    ],
)
def test_bad_values_name_the_setting(flags: tuple[str, ...], env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_flags(*flags), env)
    message = str(info.value)
    assert message.startswith(named) and "\n" not in message


def test_yaml_problems_are_config_errors(tmp_path: Path) -> None:
    unknown = tmp_path / "u.yaml"
    unknown.write_text("proxy:\n  nope: 1\n")
    broken = tmp_path / "b.yaml"
    broken.write_text("proxy: [unclosed\n")
    listed = tmp_path / "l.yaml"
    listed.write_text("- a\n- b\n")
    for path, expected in ((unknown, "proxy.nope"), (broken, "not valid YAML"), (listed, "mapping")):
        with pytest.raises(ConfigError, match=expected):
            load_settings(env={"SIDECAR_CONFIG": str(path)})
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(env={"SIDECAR_CONFIG": str(tmp_path / "missing.yaml")})


def test_upstream_is_required_for_run() -> None:
    with pytest.raises(ConfigError, match="--upstream"):
        require_upstream(load_settings(env={}))


def test_host_port_forms() -> None:
    assert parse_host_port("127.0.0.1:80") == ("127.0.0.1", 80)
    assert parse_host_port(":15080") == ("0.0.0.0", 15080)
    assert parse_host_port("[::1]:8080") == ("::1", 8080)
    with pytest.raises(ValueError):
        parse_host_port("[::1]8080")
