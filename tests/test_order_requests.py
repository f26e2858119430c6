"""Validation of order requests: what is accepted, and which field each rejection names."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from common.http import RequestError
from orders.catalog import Product
from orders.requests import (
    MAX_ITEMS,
    MAX_QUANTITY,
    RequestedItem,
    is_order_reference,
    order_instance_id,
    parse_new_order,
    price_items,
    validate_order_id,
)


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"orderId": "A-1", "customerEmail": "ann@example.com",
                            "items": [{"sku": "WIDGET-1", "quantity": 2}]}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not ...}


def rejection(value: Any) -> RequestError:
    with pytest.raises(RequestError) as caught:
        parse_new_order(value)
    assert caught.value.status == 400
    return caught.value


def test_a_valid_body_parses_to_a_request():
    items = [{"sku": "WIDGET-1", "quantity": 2}, {"sku": "GADGET-1", "quantity": 1}]
    request = parse_new_order(body(items=items))
    assert request.order_id == "A-1"
    assert request.customer_email == "ann@example.com"
    assert request.items == (RequestedItem("WIDGET-1", 2), RequestedItem("GADGET-1", 1))


def test_integer_order_id_is_accepted_as_its_decimal_string():
    assert parse_new_order(body(orderId=12345)).order_id == "12345"
    assert validate_order_id(0) == "0"


def test_email_surrounding_spaces_are_removed():
    assert parse_new_order(body(customerEmail="  ann@example.com ")).customer_email == "ann@example.com"


def test_the_limits_themselves_are_allowed():
    items = [{"sku": f"SKU-{i}", "quantity": MAX_QUANTITY} for i in range(MAX_ITEMS)]
    assert len(parse_new_order(body(items=items, orderId="x" * 64)).items) == MAX_ITEMS


@pytest.mark.parametrize("value", [None, [], "text", 42, True])
def test_a_body_that_is_not_an_object_names_body(value):
    assert rejection(value).field == "body"


@pytest.mark.parametrize("order_id", [
    ..., None, "", " ", "-starts-with-dash", "_underscore", "has space", "slash/inside", "hash#", "q?",
    "x" * 65, "ünïcode", "line\nbreak", "12345\n", True, False, -1, 1.5, 12.0, [], {}, 10 ** 70,
])
def test_bad_order_ids_name_order_id(order_id):
    assert rejection(body(orderId=order_id)).field == "orderId"


@pytest.mark.parametrize("email", [
    ..., None, "", "plain", "@example.com", "ann@", "ann@example", "ann@@example.com", "ann@exa mple.com",
    "ann example@example.com", "ann@example.com\nBcc: all@example.com", "ann.@example.com",
    ".ann@example.com",
    "a..b@example.com", "ann@-example.com", "ann@example.c", 42, ["ann@example.com"],
    "a" * 65 + "@example.com", "ann@" + "d" * 250 + ".com",
])
def test_bad_emails_name_customer_email(email):
    assert rejection(body(customerEmail=email)).field == "customerEmail"


@pytest.mark.parametrize("items", [..., None, [], "WIDGET-1", {"sku": "WIDGET-1", "quantity": 1}, 3])
def test_missing_or_empty_items_name_items(items):
    assert rejection(body(items=items)).field == "items"


def test_too_many_lines_name_items():
    items = [{"sku": f"SKU-{i}", "quantity": 1} for i in range(MAX_ITEMS + 1)]
    error = rejection(body(items=items))
    assert error.field == "items"
    assert str(MAX_ITEMS) in error.message


@pytest.mark.parametrize(("item", "field"), [
    ("WIDGET-1", "items[1]"),
    (None, "items[1]"),
    ({"quantity": 1}, "items[1].sku"),
    ({"sku": "", "quantity": 1}, "items[1].sku"),
    ({"sku": 7, "quantity": 1}, "items[1].sku"),
    ({"sku": "bad sku", "quantity": 1}, "items[1].sku"),
    ({"sku": "GADGET-1"}, "items[1].quantity"),
    ({"sku": "GADGET-1", "quantity": None}, "items[1].quantity"),
    ({"sku": "GADGET-1", "quantity": 0}, "items[1].quantity"),
    ({"sku": "GADGET-1", "quantity": -3}, "items[1].quantity"),
    ({"sku": "GADGET-1", "quantity": MAX_QUANTITY + 1}, "items[1].quantity"),
    ({"sku": "GADGET-1", "quantity": 1.5}, "items[1].quantity"),
    ({"sku": "GADGET-1", "quantity": 2.0}, "items[1].quantity"),
    ({"sku": "GADGET-1", "quantity": "2"}, "items[1].quantity"),
    ({"sku": "GADGET-1", "quantity": True}, "items[1].quantity"),
    ({"sku": "WIDGET-1", "quantity": 1}, "items[1].sku"),  # duplicate of items[0]
])
def test_a_bad_line_is_named_by_index_and_field(item, field):
    error = rejection(body(items=[{"sku": "WIDGET-1", "quantity": 2}, item]))
    assert error.field == field


def test_duplicate_skus_are_rejected_not_merged():
    items = [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}, {"sku": "A", "quantity": 5}]
    error = rejection(body(items=items))
    assert error.field == "items[2].sku"
    assert "items[0]" in error.message


def test_pricing_uses_catalogue_prices_and_names_an_unknown_sku():
    catalogue = {"WIDGET-1": Product("WIDGET-1", "Widget", Decimal("25.00"))}
    priced = price_items([RequestedItem("WIDGET-1", 3)], catalogue)
    assert [(line.sku, line.quantity, line.unit_price) for line in priced] == [
        ("WIDGET-1", 3, Decimal("25.00"))]
    with pytest.raises(RequestError) as caught:
        price_items([RequestedItem("WIDGET-1", 1), RequestedItem("NOPE-1", 1)], catalogue)
    assert caught.value.field == "items[1].sku"


def test_instance_id_is_derived_from_the_order_id_only():
    assert order_instance_id("12345") == "order-12345"
    assert order_instance_id("12345") == order_instance_id(validate_order_id(12345))


def test_a_body_with_only_an_order_id_is_a_reference_to_a_stored_order():
    assert is_order_reference({"orderId": "12345"})
    assert not is_order_reference(body())
    assert not is_order_reference(None)
