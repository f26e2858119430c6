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

bp = df.Blueprint()
log = logging.getLogger("orders")

DEFAULT_RETRY = {"firstRetryIntervalMs": 2000, "maxAttempts": 3}


def _retry_options(order_input: dict[str, Any]) -> df.RetryOptions:
    retry = {**DEFAULT_RETRY, **(order_input.get("retry") or {})}
    return df.RetryOptions(
        first_retry_interval_in_milliseconds=int(retry["firstRetryIntervalMs"]),
        max_number_of_attempts=int(retry["maxAttempts"]),
    )


def _status(context: df.DurableOrchestrationContext, order_id: str, step: str, **extra: Any) -> None:
    context.set_custom_status({"orderId": order_id, "step": step, **extra})
    log_event(context, log, "order %s: %s", order_id, step, order_id=order_id)


@bp.function_name("OrderProcessing_Orchestrator")
@bp.orchestration_trigger(context_name="context")
def order_processing_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    """Process one order end to end; the output is the order's outcome sentence."""
    order_input = context.get_input() or {}
    order_id = str(order_input["orderId"])
    retry = _retry_options(order_input)
    ref = {"orderId": order_id}

    _status(context, order_id, "CheckInventory")
    inventory = yield context.call_activity_with_retry("CheckInventory", retry, ref)
    if not inventory.get("available"):
        _status(context, order_id, "Failed", reason="Inventory not available", missing=inventory.get("missing", []))
        return f"Order {order_id} failed: Inventory not available."

    _status(context, order_id, "ProcessPayment")
    try:
        payment = yield context.call_activity_with_retry("ProcessPayment", retry, ref)
    except Exception as error:  # payment service unreachable even after retries
        payment = {"approved": False, "reason": _first_line(error)}
    if not payment.get("approved"):
        _status(context, order_id, "ReleaseInventory", reason="Payment processing failed")
        release = {**ref, "reason": "Payment processing failed"}
        yield context.call_activity_with_retry("ReleaseInventory", retry, release)
        _status(context, order_id, "Failed", reason="Payment processing failed", detail=payment.get("reason"))
        return f"Order {order_id} failed: Payment processing failed."

    _status(context, order_id, "CreateOrder", paymentId=payment.get("paymentId"))
    try:
        yield context.call_activity_with_retry("CreateOrder", retry, ref)
    except Exception as error:
        reason = f"Order creation failed: {_first_line(error)}"
        _status(context, order_id, "Compensating", reason=reason)
        yield context.call_activity_with_retry("RefundPayment", retry, {**ref, "reason": reason})
        yield context.call_activity_with_retry("ReleaseInventory", retry, {**ref, "reason": reason})
        _status(context, order_id, "Failed", reason=reason, compensated=True)
        return f"Order {order_id} failed: Order could not be created; payment refunded."

    _status(context, order_id, "SendConfirmationEmail")
    try:
        email = yield context.call_activity_with_retry("SendConfirmationEmail", retry, ref)
    except Exception as error:
        # The order stands (paid and created); a mail outage must not undo it.
        _status(context, order_id, "Completed", confirmationEmail="failed", detail=_first_line(error))
        return f"Order {order_id} processed successfully."
    _status(context, order_id, "Completed", confirmationEmail=email.get("blobName"))
    return f"Order {order_id} processed successfully."


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
