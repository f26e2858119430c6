"""Payments: at most one charge per order, ever.

Rows live in the `PAYMENTS_TABLE` table (see `common.resources`): PartitionKey =
orderId, RowKey `payment`, so the key itself is the idempotency key. Charging
creates the row only if absent; a retried charge finds the row and returns the
first result instead of charging again.

There is no real payment provider: the decision is made here. A charge whose
amount exceeds the app setting `PAYMENT_LIMIT` (default "1000.00") is declined
and recorded as `Declined`; anything else is `Approved`. A refund turns an
`Approved` payment into `Refunded` (idempotently).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from common.clock import utc_now_iso
from common.etag import Changed, ContentionError, read_modify_write
from common.resources import PAYMENTS_TABLE, find_row, table
from common.settings import get_decimal
from orders.money import format_money, parse_money

ROW_KEY = "payment"
APPROVED = "Approved"
DECLINED = "Declined"
REFUNDED = "Refunded"
DEFAULT_LIMIT = "1000.00"


@dataclass(frozen=True)
class Payment:
    """The outcome of charging one order."""

    order_id: str
    payment_id: str
    amount: Decimal
    status: str
    reason: str | None = None

    @property
    def approved(self) -> bool:
        return self.status == APPROVED

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> Payment:
        return cls(entity["PartitionKey"], entity["PaymentId"], parse_money(entity["Amount"]),
                   entity["Status"], entity.get("Reason"))


def payment_limit() -> Decimal:
    """The largest amount that is approved (app setting `PAYMENT_LIMIT`)."""
    return get_decimal("PAYMENT_LIMIT", DEFAULT_LIMIT)


def payment_id(order_id: str) -> str:
    """The deterministic id of an order's payment."""
    return f"pay-{order_id}"


def charge(order_id: str, amount: Decimal) -> Payment:
    """Charge the order once; a repeated call returns the recorded outcome unchanged."""
    existing = get_payment(order_id)
    if existing is not None:
        return existing
    limit = payment_limit()
    if amount > limit:
        reason = f"Amount {format_money(amount)} exceeds the payment limit of {format_money(limit)}."
        payment = Payment(order_id, payment_id(order_id), amount, DECLINED, reason)
    else:
        payment = Payment(order_id, payment_id(order_id), amount, APPROVED)
    entity = {"PartitionKey": order_id, "RowKey": ROW_KEY, "PaymentId": payment.payment_id,
              "Amount": format_money(amount), "Status": payment.status, "ChargedAt": utc_now_iso()}
    if payment.reason:
        entity["Reason"] = payment.reason
    try:
        table(PAYMENTS_TABLE).create_entity(entity)
    except ResourceExistsError:
        # A concurrent attempt recorded its outcome first; that one stands.
        return _require(order_id)
    return payment


def refund(order_id: str, reason: str) -> bool:
    """Refund the order's approved payment. True when it is (now or already) refunded."""
    payments = table(PAYMENTS_TABLE)

    def attempt() -> bool:
        entity = find_row(payments, order_id, ROW_KEY)
        if entity is None:
            return False
        if entity["Status"] == REFUNDED:
            return True
        if entity["Status"] != APPROVED:
            return False
        update = {"PartitionKey": order_id, "RowKey": ROW_KEY, "Status": REFUNDED, "RefundReason": reason,
                  "RefundedAt": utc_now_iso()}
        try:
            payments.update_entity(update, mode=UpdateMode.MERGE, etag=entity.metadata["etag"],
                                   match_condition=MatchConditions.IfNotModified)
        except ResourceModifiedError as error:  # changed between read and write (a concurrent refund): look again
            raise Changed from error
        return True

    return read_modify_write(attempt, lambda: ContentionError(
        f"Could not refund order {order_id}: its payment kept changing."))


def get_payment(order_id: str) -> Payment | None:
    """The order's payment, or None when it was never charged."""
    row = find_row(table(PAYMENTS_TABLE), order_id, ROW_KEY)
    return Payment.from_entity(row) if row is not None else None


def delete_payment(order_id: str) -> None:
    """Forget an order's payment (resets of sample data only)."""
    try:
        table(PAYMENTS_TABLE).delete_entity(order_id, ROW_KEY)
    except ResourceNotFoundError:
        pass


def _require(order_id: str) -> Payment:
    payment = get_payment(order_id)
    if payment is None:
        raise RuntimeError(f"Payment for order {order_id} was reported as existing but cannot be read.")
    return payment
