"""The body schema's errors name the field that fails, as SPEC.md section 5
states them: a list's item by its index, a text's size in UTF-8 bytes."""

from __future__ import annotations

import pytest

from protocol import kinds, limits
from protocol.errors import InvalidBody

OFFER = {"item": "plums", "quantity": 2, "unit": "kg"}


def _error(kind: str, body: dict) -> InvalidBody:
    with pytest.raises(InvalidBody) as caught:
        kinds.check_body(kind, body)
    return caught.value


def test_a_failing_list_item_is_named_by_its_index() -> None:
    error = _error("offer", {**OFFER, "tags": ["vegan", "organic", " ", "late"]})
    assert (error.field, error.reason) == ("tags[2]", "must not be blank")


def test_a_failing_item_of_a_list_of_maps_is_named_by_its_index_and_field() -> None:
    needs = [{"item": "rice", "quantity": 1, "unit": "kg"}, {"item": "oil", "quantity": 0, "unit": "l"}]
    error = _error("meal", {"dish": "stew", "time": 5, "place": "hall", "needs": needs})
    assert error.field == "needs[1].quantity"


@pytest.mark.parametrize("text, size", [("a" * 201, 201), ("é" * 101, 202), ("é" * 100, None)])
def test_a_label_is_measured_in_utf8_bytes(text: str, size: int | None) -> None:
    body = {**OFFER, "area": text}
    if size is None:
        kinds.check_body("offer", body)
    else:
        assert _error("offer", body).reason == f"{size} bytes, limit {limits.MAX_LABEL_BYTES}"


def test_fields_are_checked_in_schema_order_and_a_missing_one_is_named() -> None:
    assert _error("offer", {"quantity": 0}).field == "item"
    assert _error("offer", {"item": "plums", "quantity": 0}).field == "quantity"
    assert _error("offer", {"item": "plums", "quantity": 1}).reason == "required field is missing"
