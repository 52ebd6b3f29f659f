"""Shared test fixtures: real servers on 127.0.0.1 (see tests/fixtures/)."""

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.redis_server",
]
