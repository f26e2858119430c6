"""Orders and their life cycle.

Rows live in the `ORDERS_TABLE` table (see `common.resources`): PartitionKey =
orderId, RowKey `order` (point reads; no hot partition). Items are stored as a
JSON list of {sku, quantity, unitPrice}; money is a decimal string.

Statuses (`OrderStatus`), in the order the workflow moves through them:

    Pending -> InventoryReserved -> Paid -> Created -> Confirmed

and the ends of the unhappy paths:

    Rejected         not enough stock (CheckInventory); nothing is held
    PaymentDeclined  the payment was declined (ProcessPayment)
    Failed           a later step failed and the order was compensated
    Cancelled        compensated on request (ReleaseInventory with status Cancelled)

`FailureReason` says why an order ended in one of the last four.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from common.clock import utc_now_iso
from common.resources import ORDERS_TABLE, find_row, table
from orders.money import format_money, parse_money

ROW_KEY = "order"


class OrderStatus(StrEnum):
    PENDING = "Pending"
    INVENTORY_RESERVED = "InventoryReserved"
    PAID = "Paid"
    CREATED = "Created"
    CONFIRMED = "Confirmed"
    REJECTED = "Rejected"
    PAYMENT_DECLINED = "PaymentDeclined"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


# Statuses after which nothing further happens to an order.
UNSUCCESSFUL = frozenset({OrderStatus.REJECTED, OrderStatus.PAYMENT_DECLINED, OrderStatus.FAILED,
                          OrderStatus.CANCELLED})


class UnknownOrderError(ValueError):
    """No order has this id."""


class OrderExistsError(ValueError):
    """An order with this id is already stored."""


@dataclass(frozen=True)
class OrderItem:
    """One order line, priced when the order was placed."""

    sku: str
    quantity: int
    unit_price: Decimal

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity

    def to_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "quantity": self.quantity, "unitPrice": format_money(self.unit_price)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderItem:
        return cls(sku=data["sku"], quantity=int(data["quantity"]), unit_price=parse_money(data["unitPrice"]))


@dataclass
class Order:
    """An order as stored."""

    order_id: str
    customer_email: str
    items: list[OrderItem]
    total: Decimal
    status: OrderStatus = OrderStatus.PENDING
    failure_reason: str | None = None
    missing: list[str] = field(default_factory=list)
    payment_id: str | None = None
    confirmation_blob: str | None = None
    created_at: str = ""
    updated_at: str = ""

    def quantities(self) -> dict[str, int]:
        """Units per SKU (an order has one line per SKU, but sum in case of old data)."""
        totals: dict[str, int] = {}
        for item in self.items:
            totals[item.sku] = totals.get(item.sku, 0) + item.quantity
        return totals

    def to_entity(self) -> dict[str, Any]:
        entity = {
            "PartitionKey": self.order_id, "RowKey": ROW_KEY, "OrderId": self.order_id,
            "CustomerEmail": self.customer_email,
            "Items": json.dumps([item.to_json() for item in self.items]),
            "Total": format_money(self.total), "Status": self.status.value,
            "FailureReason": self.failure_reason,
            "Missing": json.dumps(self.missing) if self.missing else None,
            "PaymentId": self.payment_id, "ConfirmationBlob": self.confirmation_blob,
            "CreatedAt": self.created_at, "UpdatedAt": self.updated_at,
        }
        return {key: value for key, value in entity.items() if value is not None}

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> Order:
        return cls(
            order_id=entity["PartitionKey"],
            customer_email=entity["CustomerEmail"],
            items=[OrderItem.from_json(item) for item in json.loads(entity["Items"])],
            total=parse_money(entity["Total"]),
            status=OrderStatus(entity["Status"]),
            failure_reason=entity.get("FailureReason"),
            missing=json.loads(entity["Missing"]) if entity.get("Missing") else [],
            payment_id=entity.get("PaymentId"),
            confirmation_blob=entity.get("ConfirmationBlob"),
            created_at=entity.get("CreatedAt", ""),
            updated_at=entity.get("UpdatedAt", ""),
        )


def new_order(order_id: str, customer_email: str, items: list[OrderItem]) -> Order:
    """A Pending order with its total computed from the priced items."""
    now = utc_now_iso()
    total = sum((item.line_total for item in items), Decimal("0"))
    return Order(order_id, customer_email, list(items), total, created_at=now, updated_at=now)


def create_order(order: Order) -> None:
    """Store a new order; OrderExistsError when the id is taken."""
    try:
        table(ORDERS_TABLE).create_entity(order.to_entity())
    except ResourceExistsError as exc:
        raise OrderExistsError(f"Order {order.order_id} already exists.") from exc


def put_order(order: Order) -> None:
    """Store an order, replacing any row with the same id (seeding and resets)."""
    table(ORDERS_TABLE).upsert_entity(order.to_entity(), mode=UpdateMode.REPLACE)


def delete_order(order_id: str) -> None:
    """Remove an order row (undoing a create whose workflow never started)."""
    try:
        table(ORDERS_TABLE).delete_entity(order_id, ROW_KEY)
    except ResourceNotFoundError:
        pass


def find_order(order_id: str) -> Order | None:
    """The order with this id, or None."""
    row = find_row(table(ORDERS_TABLE), order_id, ROW_KEY)
    return Order.from_entity(row) if row is not None else None


def get_order(order_id: str) -> Order:
    """The order with this id; UnknownOrderError when there is none."""
    order = find_order(order_id)
    if order is None:
        raise UnknownOrderError(f"Order {order_id!r} does not exist.")
    return order


def set_status(order_id: str, status: OrderStatus, **properties: Any) -> None:
    """Move an order to `status`, merging extra entity properties (e.g. FailureReason=...)."""
    entity = {"PartitionKey": order_id, "RowKey": ROW_KEY, "Status": status.value, "UpdatedAt": utc_now_iso(),
              **properties}
    table(ORDERS_TABLE).update_entity(entity, mode=UpdateMode.MERGE)
