"""The order workflow's contract: the names its starter, orchestrator and activities share.

A function is registered under one of these names and called by it; an event or a status is
written and read by it. Changing a name here changes it everywhere (and for running instances:
the host finds functions by name, so rename only between deployments with no instance in flight).
"""

from __future__ import annotations

CLIENT = "OrderProcessing_Client"
ORCHESTRATOR = "OrderProcessing_Orchestrator"

CHECK_INVENTORY = "CheckInventory"
PROCESS_PAYMENT = "ProcessPayment"
CREATE_ORDER = "CreateOrder"
SEND_CONFIRMATION_EMAIL = "SendConfirmationEmail"
RELEASE_INVENTORY = "ReleaseInventory"  # compensation
REFUND_PAYMENT = "RefundPayment"  # compensation
