"""Golden files for `sidecar inject`: tests/golden/NAME.in.yaml → NAME.out.yaml + NAME.notes.txt.

Regenerate with UPDATE_GOLDEN=1 (then read the diff before committing it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sidecar.k8s.inject import InjectOptions, inject, uninject
from sidecar.k8s.manifests import dump_documents, load_documents

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = sorted(p.name.removesuffix(".in.yaml") for p in GOLDEN.glob("*.in.yaml"))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _options(name: str) -> InjectOptions:
    words = set(name.split(".")[1:])
    # a fixed image keeps the golden files independent of the package version
    return InjectOptions(
        image="ghcr.io/model-sidecar/model-sidecar:golden", classic="classic" in words, include_jobs="jobs" in words
    )


def _compare(path: Path, actual: str) -> None:
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path.name} missing: run with UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{path.name} differs (UPDATE_GOLDEN=1 to accept)"


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 5


@pytest.mark.parametrize("name", CASES)
def test_inject_matches_golden(name: str) -> None:
    docs = load_documents((GOLDEN / f"{name}.in.yaml").read_text(encoding="utf-8"))
    result = inject(docs, _options(name))
    _compare(GOLDEN / f"{name}.out.yaml", dump_documents(result.docs))
    _compare(GOLDEN / f"{name}.notes.txt", "".join(note + "\n" for note in result.notes))


@pytest.mark.parametrize("name", CASES)
def test_golden_output_is_a_fixed_point_and_uninjects_to_the_input(name: str) -> None:
    original = load_documents((GOLDEN / f"{name}.in.yaml").read_text(encoding="utf-8"))
    injected = load_documents((GOLDEN / f"{name}.out.yaml").read_text(encoding="utf-8"))
    assert inject(injected, _options(name)).docs == injected
    assert inject(injected, _options(name)).changed == ()
    assert uninject(injected).docs == original
    assert uninject(original).docs == original
