"""The order activities against Azurite: each step, idempotency, compensation, and no overselling.

Every test makes its own SKUs and order ids, so tests never share stock.
"""

from __future__ import annotations

import json
import threading
import uuid
from decimal import Decimal
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

import pytest

from activities.order_activities import bp
from common import outbox
from devhost.app_loader import user_function
from orders import inventory, payments
from orders.catalog import Product, get_product, put_product
from orders.store import OrderItem, OrderStatus, create_order, get_order, new_order

pytestmark = pytest.mark.usefixtures("azurite")

STEPS = ("CheckInventory", "ProcessPayment", "CreateOrder", "SendConfirmationEmail")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def call(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run an activity as the host would: JSON in, JSON out."""
    result = user_function(bp, name)(json.loads(json.dumps(payload)))
    assert json.loads(json.dumps(result)) == result, "activity output must be plain JSON"
    return result


def make_product(price: str = "25.00", stock: int = 10) -> str:
    sku = unique("SKU")
    put_product(Product(sku, "Test product", Decimal(price)))
    inventory.put_stock(sku, stock)
    return sku


def make_order(*lines: tuple[str, int], email: str = "buyer@example.com") -> str:
    order_id = unique("T")
    items = [OrderItem(sku, quantity, get_product(sku).price) for sku, quantity in lines]
    create_order(new_order(order_id, email, items))
    return order_id


def status(order_id: str) -> OrderStatus:
    return get_order(order_id).status


def test_the_happy_path_reserves_charges_creates_and_confirms():
    sku = make_product(price="12.50", stock=5)
    order_id = make_order((sku, 2), email="ann@example.com")
    ref = {"orderId": order_id}

    assert call("CheckInventory", ref) == {"available": True, "missing": []}
    assert inventory.get_stock(sku) == 3
    assert inventory.get_reservation(order_id, sku)["Quantity"] == 2
    assert status(order_id) is OrderStatus.INVENTORY_RESERVED

    assert call("ProcessPayment", ref) == {"approved": True, "paymentId": f"pay-{order_id}", "reason": None}
    payment = payments.get_payment(order_id)
    assert (payment.status, payment.amount) == (payments.APPROVED, Decimal("25.00"))
    assert status(order_id) is OrderStatus.PAID

    assert call("CreateOrder", ref) == {"orderId": order_id, "status": "Created"}
    assert inventory.get_reservation(order_id, sku)["State"] == inventory.COMMITTED
    assert status(order_id) is OrderStatus.CREATED

    result = call("SendConfirmationEmail", ref)
    assert result == {"blobName": f"orders/{order_id}/confirmation.eml"}
    email = message_from_bytes(outbox.read_message(result["blobName"]), policy=default_policy)
    assert email["To"] == "ann@example.com"
    assert order_id in email["Subject"]
    assert "Total: 25.00" in email.get_content()
    order = get_order(order_id)
    assert order.status is OrderStatus.CONFIRMED
    assert order.confirmation_blob == result["blobName"]
    assert inventory.get_stock(sku) == 3  # nothing given back on success


def test_every_step_can_run_twice_without_a_second_effect():
    sku = make_product(stock=5)
    order_id = make_order((sku, 2))
    ref = {"orderId": order_id}
    for step in STEPS:
        first = call(step, ref)
        if step == "SendConfirmationEmail":
            blob = outbox.read_message(first["blobName"])
        assert call(step, ref) == first, step
    assert inventory.get_stock(sku) == 3  # reserved once
    assert len(inventory.reservations(sku)) == 1
    assert payments.get_payment(order_id).status == payments.APPROVED  # charged once
    assert outbox.read_message(f"orders/{order_id}/confirmation.eml") == blob  # same e-mail, same bytes
    assert status(order_id) is OrderStatus.CONFIRMED


def test_short_stock_rejects_the_order_and_holds_nothing():
    plenty, scarce = make_product(stock=5), make_product(stock=1)
    order_id = make_order((plenty, 2), (scarce, 2))

    assert call("CheckInventory", {"orderId": order_id}) == {"available": False, "missing": [scarce]}
    assert (inventory.get_stock(plenty), inventory.get_stock(scarce)) == (5, 1)
    assert inventory.reservations(plenty) == [] and inventory.reservations(scarce) == []
    order = get_order(order_id)
    assert order.status is OrderStatus.REJECTED
    assert scarce in order.failure_reason
    # A repeat (at-least-once delivery) answers the same and still holds nothing.
    assert call("CheckInventory", {"orderId": order_id}) == {"available": False, "missing": [scarce]}
    assert inventory.get_stock(plenty) == 5


def test_a_sku_without_stock_row_is_reported_missing():
    sku = make_product(stock=3)
    order_id = make_order((sku, 1))
    inventory.table(inventory.INVENTORY_TABLE).delete_entity(sku, inventory.STOCK_ROW)
    assert call("CheckInventory", {"orderId": order_id}) == {"available": False, "missing": [sku]}


def test_a_total_over_payment_limit_is_declined_once(monkeypatch):
    monkeypatch.setenv("PAYMENT_LIMIT", "100.00")
    sku = make_product(price="25.00", stock=10)
    order_id = make_order((sku, 5))  # 125.00
    call("CheckInventory", {"orderId": order_id})

    result = call("ProcessPayment", {"orderId": order_id})
    assert result["approved"] is False and result["paymentId"] is None
    assert "125.00" in result["reason"] and "100.00" in result["reason"]
    assert payments.get_payment(order_id).status == payments.DECLINED
    assert status(order_id) is OrderStatus.PAYMENT_DECLINED
    # Raising the limit later does not turn the recorded decline into a second charge.
    monkeypatch.setenv("PAYMENT_LIMIT", "1000.00")
    assert call("ProcessPayment", {"orderId": order_id}) == result


def test_a_total_equal_to_the_limit_is_approved(monkeypatch):
    monkeypatch.setenv("PAYMENT_LIMIT", "100.00")
    order_id = make_order((make_product(price="25.00"), 4))  # exactly 100.00
    call("CheckInventory", {"orderId": order_id})
    assert call("ProcessPayment", {"orderId": order_id})["approved"] is True


def test_the_default_limit_declines_an_expensive_order(monkeypatch):
    monkeypatch.delenv("PAYMENT_LIMIT", raising=False)
    order_id = make_order((make_product(price="1299.00"), 1))
    call("CheckInventory", {"orderId": order_id})
    assert call("ProcessPayment", {"orderId": order_id})["approved"] is False


def test_release_after_a_decline_restores_stock_and_keeps_the_decline(monkeypatch):
    monkeypatch.setenv("PAYMENT_LIMIT", "10.00")
    sku = make_product(price="25.00", stock=4)
    order_id = make_order((sku, 3))
    call("CheckInventory", {"orderId": order_id})
    call("ProcessPayment", {"orderId": order_id})
    assert inventory.get_stock(sku) == 1

    release = {"orderId": order_id, "reason": "Payment processing failed"}
    assert call("ReleaseInventory", release) == {"released": [sku]}
    assert inventory.get_stock(sku) == 4
    assert call("ReleaseInventory", release) == {"released": []}  # idempotent: nothing given back twice
    assert inventory.get_stock(sku) == 4
    order = get_order(order_id)
    assert order.status is OrderStatus.PAYMENT_DECLINED
    assert "exceeds the payment limit" in order.failure_reason
    assert call("RefundPayment", release) == {"refunded": False}  # a decline has nothing to refund


def test_refund_and_release_compensate_a_paid_order():
    sku = make_product(stock=2)
    order_id = make_order((sku, 2))
    call("CheckInventory", {"orderId": order_id})
    call("ProcessPayment", {"orderId": order_id})
    assert inventory.get_stock(sku) == 0

    reason = "Order creation failed: boom"
    assert call("RefundPayment", {"orderId": order_id, "reason": reason}) == {"refunded": True}
    assert call("RefundPayment", {"orderId": order_id, "reason": reason}) == {"refunded": True}
    assert payments.get_payment(order_id).status == payments.REFUNDED
    assert call("ReleaseInventory", {"orderId": order_id, "reason": reason}) == {"released": [sku]}
    assert inventory.get_stock(sku) == 2
    order = get_order(order_id)
    assert (order.status, order.failure_reason) == (OrderStatus.FAILED, reason)
    # A refunded payment is not charged again by a late retry of ProcessPayment.
    assert call("ProcessPayment", {"orderId": order_id})["approved"] is False


def test_release_can_cancel_and_a_never_reserved_order_releases_nothing():
    sku = make_product(stock=3)
    order_id = make_order((sku, 1))
    call("CheckInventory", {"orderId": order_id})
    cancel = {"orderId": order_id, "reason": "Customer cancelled", "status": "Cancelled"}
    result = call("ReleaseInventory", cancel)
    assert result == {"released": [sku]}
    assert status(order_id) is OrderStatus.CANCELLED

    untouched = make_order((sku, 1))
    assert call("ReleaseInventory", {"orderId": untouched, "reason": "x"}) == {"released": []}
    assert inventory.get_stock(sku) == 3
    assert call("RefundPayment", {"orderId": untouched, "reason": "x"}) == {"refunded": False}


@pytest.mark.parametrize("name", [*STEPS, "ReleaseInventory", "RefundPayment"])
def test_an_unknown_order_raises_value_error(name):
    missing = unique("NOPE")
    with pytest.raises(ValueError, match=missing):
        call(name, {"orderId": missing, "reason": "x"})


@pytest.mark.parametrize("payload", [{}, {"orderId": ""}, None, "12345"])
def test_input_without_order_id_raises_value_error(payload):
    with pytest.raises(ValueError, match="orderId"):
        user_function(bp, "CheckInventory")(payload)


def test_steps_called_out_of_order_raise_and_change_nothing():
    sku = make_product(stock=3)
    order_id = make_order((sku, 1))
    with pytest.raises(ValueError, match="Pending"):
        call("ProcessPayment", {"orderId": order_id})
    assert payments.get_payment(order_id) is None
    call("CheckInventory", {"orderId": order_id})
    with pytest.raises(ValueError, match="InventoryReserved"):
        call("CreateOrder", {"orderId": order_id})
    with pytest.raises(ValueError, match="InventoryReserved"):
        call("SendConfirmationEmail", {"orderId": order_id})
    assert status(order_id) is OrderStatus.INVENTORY_RESERVED


def run_together(functions: list) -> list:
    """Run the callables on threads released at the same instant; return their results in order."""
    barrier = threading.Barrier(len(functions))
    results: list = [None] * len(functions)
    errors: list[BaseException] = []

    def runner(index: int) -> None:
        barrier.wait()
        try:
            results[index] = functions[index]()
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=runner, args=(index,)) for index in range(len(functions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.parametrize("round_", range(5))
def test_two_orders_racing_for_the_last_unit_never_oversell(round_):
    sku = make_product(price="99.00", stock=1)
    orders = [make_order((sku, 1)), make_order((sku, 1))]
    results = run_together([lambda order_id=order_id: call("CheckInventory", {"orderId": order_id})
                            for order_id in orders])

    assert sorted(result["available"] for result in results) == [False, True]
    assert inventory.get_stock(sku) == 0
    winner, loser = orders if results[0]["available"] else orders[::-1]
    assert [row["OrderId"] for row in inventory.reservations(sku)] == [winner]
    assert (status(winner), status(loser)) == (OrderStatus.INVENTORY_RESERVED, OrderStatus.REJECTED)


def test_many_orders_racing_get_exactly_the_stock():
    sku = make_product(stock=3)
    orders = [make_order((sku, 1)) for _ in range(8)]
    results = run_together([lambda order_id=order_id: call("CheckInventory", {"orderId": order_id})
                            for order_id in orders])
    assert sum(result["available"] for result in results) == 3
    assert inventory.get_stock(sku) == 0
    assert len(inventory.reservations(sku)) == 3


def test_the_same_order_reserving_twice_at_once_reserves_once():
    sku = make_product(stock=5)
    order_id = make_order((sku, 2))
    results = run_together([lambda: call("CheckInventory", {"orderId": order_id})] * 2)
    assert results == [{"available": True, "missing": []}] * 2
    assert inventory.get_stock(sku) == 3
    assert len(inventory.reservations(sku)) == 1
