"""The RFC 6902 generator the webhook answers with: escaping, minimal list edits, and apply(diff) == target."""

from __future__ import annotations

from typing import Any

import jsonpatch  # test dependency: an independent RFC 6902 implementation
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.k8s.patch import diff, escape

_keys = st.sampled_from(["a", "b", "a/b", "~", "~1", "model-sidecar.io/injected", ""])
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=12,
)


def test_escape_order_matters() -> None:
    assert escape("a/b~c") == "a~1b~0c"
    assert escape("~1") == "~01"  # not "~1" → "/" on the way back


def test_annotation_keys_are_escaped() -> None:
    ops = diff(
        {"metadata": {"annotations": {"x": "1"}}},
        {"metadata": {"annotations": {"x": "1", "model-sidecar.io/injected": "0.1.0"}}},
    )
    assert ops == [{"op": "add", "path": "/metadata/annotations/model-sidecar.io~1injected", "value": "0.1.0"}]


def test_prepending_is_one_add_at_index_zero() -> None:
    old = {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}
    new = {"spec": {"containers": [{"name": "s"}, {"name": "a"}, {"name": "b"}]}}
    assert diff(old, new) == [{"op": "add", "path": "/spec/containers/0", "value": {"name": "s"}}]


def test_equal_documents_need_no_patch() -> None:
    doc = {"a": [1, {"b": None}]}
    assert diff(doc, {"a": [1, {"b": None}]}) == []


def test_type_changes_are_replaced() -> None:
    assert diff({"a": 1}, {"a": True}) == [{"op": "replace", "path": "/a", "value": True}]


@settings(max_examples=150, deadline=None)
@given(old=st.dictionaries(_keys, _json, max_size=4), new=st.dictionaries(_keys, _json, max_size=4))
def test_applying_the_diff_yields_the_target(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert jsonpatch.apply_patch(old, diff(old, new)) == new


@settings(max_examples=100, deadline=None)
@given(base=st.lists(_json, max_size=5), inserted=st.lists(_json, min_size=1, max_size=3), at=st.integers(0, 5))
def test_list_insertions_stay_insertions(base: list[Any], inserted: list[Any], at: int) -> None:
    at = min(at, len(base))
    target = base[:at] + inserted + base[at:]
    ops = diff({"l": base}, {"l": target})
    assert all(op["op"] == "add" for op in ops)
    assert jsonpatch.apply_patch({"l": base}, ops) == {"l": target}
