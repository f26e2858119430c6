"""The order workflow's activities: each step's side effects on storage.

Contract with OrderProcessing_Orchestrator (JSON objects, typed in orders.contract):

    CheckInventory        {orderId}          -> {available: bool, missing: [sku]}
    ProcessPayment        {orderId}          -> {approved: bool, paymentId: str|None, reason: str|None}
    CreateOrder           {orderId}          -> {orderId, status: "Created"}
    SendConfirmationEmail {orderId}          -> {blobName: str}
    ReleaseInventory      {orderId, reason[, status: "Failed"|"Cancelled"]} -> {released: [sku]}
    RefundPayment         {orderId, reason}  -> {refunded: bool}

Business outcomes (out of stock, declined) are returned. Everything else raises
so that the orchestrator's retry policy applies: storage errors (transient), and
ValueError for an unknown order or a step called in the wrong state (a bug).
Activities run at least once, so every step is idempotent: repeating it returns
the same outcome and changes nothing more (one reservation, one charge, one e-mail).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.durable_functions as df

from orders import confirmation, inventory, payments
from orders.contract import (
    CHECK_INVENTORY,
    CREATE_ORDER,
    PROCESS_PAYMENT,
    REFUND_PAYMENT,
    RELEASE_INVENTORY,
    SEND_CONFIRMATION_EMAIL,
    ConfirmationSent,
    InventoryCheck,
    InventoryReleased,
    OrderCreated,
    PaymentOutcome,
    PaymentRefunded,
)
from orders.store import UNSUCCESSFUL, Order, OrderStatus, get_order, set_status

bp = df.Blueprint()
log = logging.getLogger("orders")

# Reserving is allowed (and a no-op when done) until the order has ended unsuccessfully.
_RESERVABLE = {OrderStatus.PENDING, OrderStatus.INVENTORY_RESERVED, OrderStatus.PAID, OrderStatus.CREATED,
               OrderStatus.CONFIRMED}


@bp.function_name(CHECK_INVENTORY)
@bp.activity_trigger(input_name="payload")
def check_inventory(payload: dict) -> InventoryCheck:
    """Reserve every item of the order, all or nothing; reject the order when stock is short."""
    order = _load(payload)
    if order.status is OrderStatus.REJECTED:
        return {"available": False, "missing": order.missing}
    _require(order, _RESERVABLE, "reserve inventory for")
    missing = inventory.reserve_all(order.order_id, order.quantities())
    if missing:
        reason = f"Out of stock: {', '.join(missing)}."
        set_status(order.order_id, OrderStatus.REJECTED, FailureReason=reason, Missing=json.dumps(missing))
        log.info("order %s: rejected, %s", order.order_id, reason, extra={"order_id": order.order_id})
        return {"available": False, "missing": missing}
    if order.status is OrderStatus.PENDING:
        set_status(order.order_id, OrderStatus.INVENTORY_RESERVED)
    log.info("order %s: inventory reserved", order.order_id, extra={"order_id": order.order_id})
    return {"available": True, "missing": []}


@bp.function_name(PROCESS_PAYMENT)
@bp.activity_trigger(input_name="payload")
def process_payment(payload: dict) -> PaymentOutcome:
    """Charge the order's total once; over PAYMENT_LIMIT the charge is declined."""
    order = _load(payload)
    payment = payments.get_payment(order.order_id)
    if payment is None:
        _require(order, {OrderStatus.INVENTORY_RESERVED}, "charge")
        payment = payments.charge(order.order_id, order.total)
    if order.status is OrderStatus.INVENTORY_RESERVED:
        if payment.approved:
            set_status(order.order_id, OrderStatus.PAID, PaymentId=payment.payment_id)
        else:
            reason = payment.reason or "Declined."
            set_status(order.order_id, OrderStatus.PAYMENT_DECLINED, FailureReason=reason)
    log.info("order %s: payment %s", order.order_id, payment.status, extra={"order_id": order.order_id})
    if payment.approved:
        return {"approved": True, "paymentId": payment.payment_id, "reason": None}
    return {"approved": False, "paymentId": None, "reason": payment.reason or f"Payment {payment.status}."}


@bp.function_name(CREATE_ORDER)
@bp.activity_trigger(input_name="payload")
def create_order(payload: dict) -> OrderCreated:
    """Commit the paid order: its reservations become permanent and it is Created."""
    order = _load(payload)
    if order.status not in (OrderStatus.CREATED, OrderStatus.CONFIRMED):
        _require(order, {OrderStatus.PAID}, "create")
        for sku in order.quantities():
            inventory.commit(order.order_id, sku)
        set_status(order.order_id, OrderStatus.CREATED)
        log.info("order %s: created", order.order_id, extra={"order_id": order.order_id})
    return {"orderId": order.order_id, "status": OrderStatus.CREATED.value}


@bp.function_name(SEND_CONFIRMATION_EMAIL)
@bp.activity_trigger(input_name="payload")
def send_confirmation_email(payload: dict) -> ConfirmationSent:
    """Write the confirmation e-mail to the outbox (same blob on every attempt) and confirm the order."""
    order = _load(payload)
    _require(order, {OrderStatus.CREATED, OrderStatus.CONFIRMED}, "confirm")
    blob_name = confirmation.write_confirmation(order)
    if order.status is OrderStatus.CREATED:
        set_status(order.order_id, OrderStatus.CONFIRMED, ConfirmationBlob=blob_name)
    log.info("order %s: confirmation written to %s", order.order_id, blob_name,
             extra={"order_id": order.order_id})
    return {"blobName": blob_name}


@bp.function_name(RELEASE_INVENTORY)
@bp.activity_trigger(input_name="payload")
def release_inventory(payload: dict) -> InventoryReleased:
    """Compensation: give the order's reserved stock back and end the order as Failed (or Cancelled)."""
    order = _load(payload)
    reason = str(payload.get("reason") or "Inventory released.")
    cancelled = payload.get("status") == OrderStatus.CANCELLED.value
    target = OrderStatus.CANCELLED if cancelled else OrderStatus.FAILED
    released = inventory.release_all(order.order_id, order.quantities())
    # Rejected / PaymentDeclined already say precisely why; a repeat must not overwrite the first reason.
    if order.status not in UNSUCCESSFUL:
        set_status(order.order_id, target, FailureReason=reason)
    log.info("order %s: released %s (%s)", order.order_id, released or "nothing", reason,
             extra={"order_id": order.order_id})
    return {"released": released}


@bp.function_name(REFUND_PAYMENT)
@bp.activity_trigger(input_name="payload")
def refund_payment(payload: dict) -> PaymentRefunded:
    """Compensation: refund the order's approved payment (a repeat is a no-op)."""
    order = _load(payload)
    refunded = payments.refund(order.order_id, str(payload.get("reason") or "Refunded."))
    log.info("order %s: refunded=%s", order.order_id, refunded, extra={"order_id": order.order_id})
    return {"refunded": refunded}


def _load(payload: Any) -> Order:
    """The order named by the activity input; ValueError when the input or the order is wrong."""
    if not isinstance(payload, dict) or not payload.get("orderId"):
        raise ValueError(f"Activity input must be an object with an orderId, got {payload!r}.")
    return get_order(str(payload["orderId"]))


def _require(order: Order, allowed: set[OrderStatus], action: str) -> None:
    if order.status not in allowed:
        expected = ", ".join(sorted(status.value for status in allowed))
        raise ValueError(
            f"Cannot {action} order {order.order_id}: it is {order.status.value} (expected {expected}).")
