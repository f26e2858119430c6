"""Validation of order requests at the HTTP edge (pure: no I/O).

Accepted input:
  - `orderId`: a string of 1-64 characters, letters, digits, `_` and `-`, not
    starting with `_` or `-` (it becomes a table key and part of the instance
    id). A non-negative JSON integer such as 12345 is accepted and used as the
    string "12345", because the original API sent numeric ids.
  - `customerEmail`: one plain address (`local@domain.tld`), at most 254 characters.
  - `items`: 1-50 lines of `{"sku": str, "quantity": int}` with 1 <= quantity
    <= 1000 (JSON true/false are not numbers here). Each SKU may appear once:
    a repeated SKU is rejected rather than merged, so the caller learns about a
    probably accidental duplicate instead of being charged for it.
Every problem is a `RequestError` naming the offending field (`items[2].quantity`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.http import RequestError
from common.validation import ID_PATTERN, require_string, validate_email, validate_identifier
from orders.catalog import Product
from orders.store import OrderItem

SKU_PATTERN = ID_PATTERN
MAX_ITEMS = 50
MAX_QUANTITY = 1000


@dataclass(frozen=True)
class RequestedItem:
    """One line as the customer asked for it (not yet priced)."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class NewOrderRequest:
    """A validated request to place a new order."""

    order_id: str
    customer_email: str
    items: tuple[RequestedItem, ...]


def order_instance_id(order_id: str) -> str:
    """The orchestration instance id for an order: one workflow per order, ever."""
    return f"order-{order_id}"


def validate_order_id(value: Any) -> str:
    """The order id as a string (a non-negative integer is taken as its digits), or a RequestError."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    return validate_identifier(value, "orderId")


def validate_items(value: Any) -> tuple[RequestedItem, ...]:
    """The requested lines, or a RequestError naming the first bad one."""
    if value is None:
        raise RequestError("items is required.", "items")
    if not isinstance(value, list):
        raise RequestError("items must be a list of {sku, quantity}.", "items")
    if not value:
        raise RequestError("items must contain at least one item.", "items")
    if len(value) > MAX_ITEMS:
        raise RequestError(f"items may contain at most {MAX_ITEMS} lines.", "items")
    seen: dict[str, int] = {}
    lines = []
    for index, raw in enumerate(value):
        line = _validate_item(raw, f"items[{index}]")
        if line.sku in seen:
            raise RequestError(
                f"SKU {line.sku} is listed twice (items[{seen[line.sku]}] and items[{index}]); "
                "send one line per SKU with the total quantity.", f"items[{index}].sku")
        seen[line.sku] = index
        lines.append(line)
    return tuple(lines)


def parse_new_order(body: Any) -> NewOrderRequest:
    """Validate a new-order body `{"orderId", "customerEmail", "items": [{"sku", "quantity"}]}`."""
    if not isinstance(body, dict):
        raise RequestError("Request body must be a JSON object.", "body")
    return NewOrderRequest(
        order_id=validate_order_id(body.get("orderId")),
        customer_email=validate_email(body.get("customerEmail"), "customerEmail"),
        items=validate_items(body.get("items")),
    )


def is_order_reference(body: Any) -> bool:
    """Whether a body only names an existing order (`{"orderId": ...}`) rather than placing one."""
    return isinstance(body, dict) and set(body) == {"orderId"}


def price_items(items: Sequence[RequestedItem], catalogue: Mapping[str, Product]) -> list[OrderItem]:
    """Price the lines from the catalogue; an unknown SKU is a RequestError naming its line."""
    priced = []
    for index, item in enumerate(items):
        product = catalogue.get(item.sku)
        if product is None:
            raise RequestError(f"Unknown SKU {item.sku!r}.", f"items[{index}].sku")
        priced.append(OrderItem(item.sku, item.quantity, product.price))
    return priced


def _validate_item(raw: Any, field: str) -> RequestedItem:
    if not isinstance(raw, dict):
        raise RequestError("Each item must be an object {sku, quantity}.", field)
    sku = require_string(raw.get("sku"), f"{field}.sku", name="sku")
    if not SKU_PATTERN.fullmatch(sku):
        raise RequestError("sku must be 1-64 letters, digits, '_' or '-'.", f"{field}.sku")
    quantity = raw.get("quantity")
    if quantity is None:
        raise RequestError("quantity is required.", f"{field}.quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise RequestError("quantity must be a whole number.", f"{field}.quantity")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise RequestError(f"quantity must be between 1 and {MAX_QUANTITY}.", f"{field}.quantity")
    return RequestedItem(sku, quantity)
