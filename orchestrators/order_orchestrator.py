"""OrderProcessing_Orchestrator: function chaining with retries and compensation.

CheckInventory -> ProcessPayment -> CreateOrder -> SendConfirmationEmail.
Business outcomes (out of stock, a declined card) come back as results; only
unexpected errors raise, and those are retried with the options the HTTP
starter read from app settings (orchestrators must not read settings).
Deterministic: no I/O, clock, randomness or environment access here.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from common.logging import log_event
from common.retry import first_line, retry_options
from orders.contract import (
    CHECK_INVENTORY,
    CREATE_ORDER,
    ORCHESTRATOR,
    PROCESS_PAYMENT,
    REFUND_PAYMENT,
    RELEASE_INVENTORY,
    SEND_CONFIRMATION_EMAIL,
    Compensation,
    OrderRef,
)

bp = df.Blueprint()
log = logging.getLogger("orders")


def _status(context: df.DurableOrchestrationContext, order_id: str, step: str, **extra: Any) -> None:
    context.set_custom_status({"orderId": order_id, "step": step, **extra})
    log_event(context, log, "order %s: %s", order_id, step, order_id=order_id)


@bp.function_name(ORCHESTRATOR)
@bp.orchestration_trigger(context_name="context")
def order_processing_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    """Process one order end to end; the output is the order's outcome sentence."""
    order_input = context.get_input() or {}
    order_id = str(order_input["orderId"])
    retry = retry_options(order_input)
    ref: OrderRef = {"orderId": order_id}

    _status(context, order_id, CHECK_INVENTORY)
    inventory = yield context.call_activity_with_retry(CHECK_INVENTORY, retry, ref)
    if not inventory.get("available"):
        _status(context, order_id, "Failed", reason="Inventory not available", missing=inventory.get("missing", []))
        return f"Order {order_id} failed: Inventory not available."

    _status(context, order_id, PROCESS_PAYMENT)
    try:
        payment = yield context.call_activity_with_retry(PROCESS_PAYMENT, retry, ref)
    except Exception as error:  # payment service unreachable even after retries
        payment = {"approved": False, "reason": first_line(error)}
    if not payment.get("approved"):
        _status(context, order_id, RELEASE_INVENTORY, reason="Payment processing failed")
        release: Compensation = {"orderId": order_id, "reason": "Payment processing failed"}
        yield context.call_activity_with_retry(RELEASE_INVENTORY, retry, release)
        _status(context, order_id, "Failed", reason="Payment processing failed", detail=payment.get("reason"))
        return f"Order {order_id} failed: Payment processing failed."

    _status(context, order_id, CREATE_ORDER, paymentId=payment.get("paymentId"))
    try:
        yield context.call_activity_with_retry(CREATE_ORDER, retry, ref)
    except Exception as error:
        reason = f"Order creation failed: {first_line(error)}"
        _status(context, order_id, "Compensating", reason=reason)
        yield context.call_activity_with_retry(REFUND_PAYMENT, retry, Compensation(orderId=order_id, reason=reason))
        yield context.call_activity_with_retry(RELEASE_INVENTORY, retry, Compensation(orderId=order_id, reason=reason))
        _status(context, order_id, "Failed", reason=reason, compensated=True)
        return f"Order {order_id} failed: Order could not be created; payment refunded."

    _status(context, order_id, SEND_CONFIRMATION_EMAIL)
    try:
        email = yield context.call_activity_with_retry(SEND_CONFIRMATION_EMAIL, retry, ref)
    except Exception as error:
        # The order stands (paid and created); a mail outage must not undo it.
        _status(context, order_id, "Completed", confirmationEmail="failed", detail=first_line(error))
        return f"Order {order_id} processed successfully."
    _status(context, order_id, "Completed", confirmationEmail=email.get("blobName"))
    return f"Order {order_id} processed successfully."
