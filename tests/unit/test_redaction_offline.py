"""Redaction runs with the network blocked and writes nothing under $HOME (no model or suffix-list fetch)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import sidecar.redaction.engine as engine
from sidecar.config import RedactionSettings
from sidecar.errors import ConfigError, SidecarError
from sidecar.redaction import Redactor

ROOT = Path(__file__).parents[2]

# Runs in a fresh interpreter so import-time behaviour (tldextract, spaCy, Presidio) is covered too.
_GUARDED = r"""
import json, socket, sys

def _blocked(*args, **kwargs):
    raise OSError("network blocked by test")

socket.socket.connect = _blocked
socket.socket.connect_ex = _blocked
socket.getaddrinfo = _blocked
socket.create_connection = _blocked

from sidecar.config import RedactionSettings
from sidecar.redaction import Redactor

text = "mail jane.doe@example.com or ops@example.co.uk, see https://example.org, card 4111 1111 1111 1111"
out = {}
for ner in ("off", "auto"):
    r = Redactor(RedactionSettings(ner=ner))
    redacted, counts = r.redact_text(text + " - John Smith moved to Paris.")
    out[ner] = {"text": redacted, "counts": counts, "status": r.status()}
print(json.dumps(out))
"""


def test_redaction_with_network_blocked_and_no_cache_writes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "TLDEXTRACT_", "SPACY_"))}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [sys.executable, "-c", _GUARDED], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for ner in ("off", "auto"):
        assert result[ner]["counts"]["EMAIL_ADDRESS"] == 2
        assert result[ner]["counts"]["CREDIT_CARD"] == 1
        assert "jane.doe@example.com" not in result[ner]["text"]
    assert [p for p in home.rglob("*")] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_in_process_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    def blocked(*args: object, **kwargs: object) -> None:
        raise OSError("network blocked by test")

    monkeypatch.setattr(socket.socket, "connect", blocked)
    redactor = Redactor(RedactionSettings(ner="off"))
    assert redactor.redact_text("x@unknown-host.example.com") == ("<EMAIL_ADDRESS>", {"EMAIL_ADDRESS": 1})


def test_ner_on_without_model_fails_with_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "find_ner_model", lambda: None)
    with pytest.raises(ConfigError, match=r"requirements/ner\.txt") as err:
        Redactor(RedactionSettings(ner="on"))
    assert isinstance(err.value, SidecarError)
    status = Redactor(RedactionSettings(ner="auto")).status()
    assert status["ner"] is False and status["ner_model"] is None
    assert "PERSON" not in status["entities"]  # type: ignore[operator]


def test_ner_off_never_loads_a_model() -> None:
    status = Redactor(RedactionSettings(ner="off")).status()
    assert status == {"ner": False, "ner_model": None, "entities": status["entities"], "mode": "tag"}
