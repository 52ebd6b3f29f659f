"""Fixtures shared by the black-box contract tests (test_contract_*.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.test_contract_support import ModelServer


@pytest.fixture(scope="module")
def upstream() -> Iterator[ModelServer]:
    """The threaded model server speaking every dialect, one per test module."""
    server = ModelServer().start()
    yield server
    server.stop()
