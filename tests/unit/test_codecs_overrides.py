"""Per-route dialect overrides: parsing, matching, and their effect on decode()."""

from __future__ import annotations

import json

import pytest

from sidecar.codecs import decode, dialect_for, parse_overrides
from sidecar.models import Exchange


def test_parse_and_match_first_rule_wins() -> None:
    rules = parse_overrides(" /score=mlflow, /custom/*/infer=oip_v2 ,/custom/*=generic_json,")
    assert rules == (("/score", "mlflow"), ("/custom/*/infer", "oip_v2"), ("/custom/*", "generic_json"))
    assert dialect_for("/score?debug=1", rules) == "mlflow"
    assert dialect_for("/custom/a/infer", rules) == "oip_v2"
    assert dialect_for("/custom/a", rules) == "generic_json"
    assert dialect_for("/Score", rules) is None  # case-sensitive, like paths
    assert parse_overrides("") == ()


@pytest.mark.parametrize("spec", ["/x=nope", "x=mlflow", "/x", "=mlflow", ",".join(f"/p{i}=opaque" for i in range(65))])
def test_bad_specs_raise_value_error(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_overrides(spec)


def test_an_override_forces_the_dialect() -> None:
    body = json.dumps({"instances": [[1, 2]]}).encode()
    ex = Exchange(
        request_id="r",
        time=0.0,
        method="POST",
        target="/private/score",
        route="other",
        request_headers=(("content-type", "application/json"),),
        request_body=body,
        request_truncated=False,
        status=200,
        response_headers=(),
        response_body=b"",
        response_truncated=False,
        duration_s=0.1,
        upstream_duration_s=0.1,
    )
    rules = parse_overrides("/private/*=opaque")
    assert decode(ex).dialect == "kserve_v1"
    forced = decode(ex, dialect=dialect_for(ex.target, rules))
    assert (forced.dialect, forced.skipped) == ("opaque", "not_parsed")
