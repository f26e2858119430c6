"""The order confirmation e-mail, written to the outbox (`common.outbox`).

The name is derived from the order alone (`orders/{orderId}/confirmation.eml`) and the content
from the stored order alone, so sending again overwrites the same blob with the same bytes. The
sender address is the app setting `EMAIL_FROM` (default `orders@example.com`).
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from common.outbox import write_message
from common.settings import get_str
from orders.money import format_money
from orders.store import Order

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
    return write_message(confirmation_blob_name(order.order_id), render_confirmation(order))

