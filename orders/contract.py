"""The order workflow's contract: the names its starter, orchestrator and activities share.

A function is registered under one of these names and called by it; an event or a status is
written and read by it. Changing a name here changes it everywhere (and for running instances:
the host finds functions by name, so rename only between deployments with no instance in flight).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

CLIENT = "OrderProcessing_Client"
ORCHESTRATOR = "OrderProcessing_Orchestrator"

CHECK_INVENTORY = "CheckInventory"
PROCESS_PAYMENT = "ProcessPayment"
CREATE_ORDER = "CreateOrder"
SEND_CONFIRMATION_EMAIL = "SendConfirmationEmail"
RELEASE_INVENTORY = "ReleaseInventory"  # compensation
REFUND_PAYMENT = "RefundPayment"  # compensation


# --- payloads: what the orchestrator sends each activity and gets back (JSON objects, so replay-safe) ---


class OrderInput(TypedDict):
    """OrderProcessing_Orchestrator's input, built by the starter (orchestrators read no settings)."""

    orderId: str
    retry: NotRequired[dict[str, int]]  # {"firstRetryIntervalMs", "maxAttempts"}: common.retry


class OrderRef(TypedDict):
    """CheckInventory, ProcessPayment, CreateOrder, SendConfirmationEmail: the order to work on."""

    orderId: str


class Compensation(TypedDict):
    """ReleaseInventory, RefundPayment: the order and why its earlier steps are undone."""

    orderId: str
    reason: str
    status: NotRequired[str]  # ReleaseInventory: "Cancelled" ends the order Cancelled instead of Failed


class InventoryCheck(TypedDict):
    available: bool
    missing: list[str]  # the SKUs that were short


class PaymentOutcome(TypedDict):
    approved: bool
    paymentId: str | None
    reason: str | None  # why it was declined


class OrderCreated(TypedDict):
    orderId: str
    status: str  # "Created"


class ConfirmationSent(TypedDict):
    blobName: str  # the e-mail in the outbox


class InventoryReleased(TypedDict):
    released: list[str]  # the SKUs given back


class PaymentRefunded(TypedDict):
    refunded: bool
