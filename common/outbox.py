"""Outgoing e-mail, written as blobs for a mail sender to pick up.

Messages are RFC 5322 `.eml` blobs in the `OUTBOX_CONTAINER` container (default
`outbox`, see `common.resources`). The name is derived from the order alone
(`orders/{orderId}/confirmation.eml`) and the content from stored data alone, so
sending again overwrites the same blob with the same bytes: at-least-once
activity execution cannot produce two different e-mails. The sender address is
the app setting `EMAIL_FROM` (default `orders@example.com`).
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContentSettings

from common.money import format_money
from common.orders import Order
from common.resources import container
from common.settings import get_str

DEFAULT_SENDER = "orders@example.com"


def confirmation_blob_name(order_id: str) -> str:
    """Where an order's confirmation e-mail is written."""
    return f"orders/{order_id}/confirmation.eml"


def render_confirmation(order: Order) -> bytes:
    """The confirmation e-mail for an order, deterministic for the same stored order."""
    sender = get_str("EMAIL_FROM", DEFAULT_SENDER)
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = order.customer_email
    message["Subject"] = f"Your order {order.order_id} is confirmed"
    message["Message-ID"] = f"<order-{order.order_id}.confirmation@{sender.rpartition('@')[2]}>"
    if order.created_at:
        message["Date"] = format_datetime(datetime.fromisoformat(order.created_at.replace("Z", "+00:00")))
    lines = [
        f"  {item.quantity} x {item.sku} at {format_money(item.unit_price)} = {format_money(item.line_total)}"
        for item in order.items
    ]
    message.set_content("\n".join([
        "Hello,", "", f"Thank you for your order {order.order_id}. It is confirmed and on its way.", "",
        *lines, "", f"Total: {format_money(order.total)}", "",
    ]))
    return message.as_bytes()


def write_confirmation(order: Order) -> str:
    """Render the confirmation e-mail into the outbox; returns the blob name."""
    name = confirmation_blob_name(order.order_id)
    container().upload_blob(name, render_confirmation(order), overwrite=True,
                            content_settings=ContentSettings(content_type="message/rfc822"))
    return name


def read_message(name: str) -> bytes:
    """The bytes of an outbox blob."""
    return container().download_blob(name).readall()


def delete_message(name: str) -> None:
    """Remove an outbox blob if present (resets of sample data only)."""
    try:
        container().delete_blob(name)
    except ResourceNotFoundError:
        pass
