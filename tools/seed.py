"""Put the sample catalogue, stock and order into the configured storage.

    python -m tools.seed            create whatever is missing, change nothing else
    python -m tools.seed --reset    put every sample row back as shipped

Settings come from the environment, then from `local.settings.json` `Values`
(the environment wins, as with the Functions host), so the data lands wherever
the app will look for it (Azurite locally).

`--reset` overwrites the sample products and stock, drops the reservations held
on the sample SKUs (stock and reservations must agree), and puts order 12345
back to Pending without payment or confirmation e-mail. It does not touch other
orders, nor the workflow instance `order-12345` in the task hub: purge that
(or restart the local host) before starting the order again.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from pathlib import Path

from azure.core.exceptions import AzureError

from common import outbox
from common.storage import StorageConfigurationError, table_service
from devhost.config import load_local_settings
from orders import confirmation, inventory, payments
from orders.catalog import Product, put_product
from orders.store import Order, OrderExistsError, OrderItem, create_order, get_order, new_order, put_order

ROOT = Path(__file__).resolve().parent.parent

# (product, units in stock). LAPTOP-1 costs more than the default PAYMENT_LIMIT, to reproduce declines;
# GADGET-1 has a single unit, to reproduce "out of stock".
SAMPLE_PRODUCTS: list[tuple[Product, int]] = [
    (Product("WIDGET-1", "Widget", Decimal("25.00")), 100),
    (Product("GADGET-1", "Gadget", Decimal("99.00")), 1),
    (Product("LAPTOP-1", "Laptop", Decimal("1299.00")), 10),
    (Product("CABLE-1", "USB-C cable", Decimal("9.99")), 500),
    (Product("MONITOR-1", "Monitor", Decimal("349.00")), 5),
]
SAMPLE_ORDER_ID = "12345"
SAMPLE_CUSTOMER = "customer@example.com"


def sample_order() -> Order:
    """Order 12345 as shipped: Pending, two Widgets for customer@example.com."""
    widget = SAMPLE_PRODUCTS[0][0]
    return new_order(SAMPLE_ORDER_ID, SAMPLE_CUSTOMER, [OrderItem(widget.sku, 2, widget.price)])


def seed(reset: bool = False) -> dict[str, list[str]]:
    """Store the sample data; returns what was `created`, `reset` and left `unchanged`."""
    report: dict[str, list[str]] = {"created": [], "reset": [], "unchanged": []}
    done = "reset" if reset else "created"
    for product, stock in SAMPLE_PRODUCTS:
        label = f"product {product.sku} ({product.name}, {product.price})"
        report[done if put_product(product, overwrite=reset) else "unchanged"].append(label)
        if reset:
            dropped = inventory.delete_reservations(product.sku)
            if dropped:
                report["reset"].append(f"reservations of {product.sku} ({dropped} dropped)")
        if inventory.put_stock(product.sku, stock, overwrite=reset):
            report[done].append(f"stock {product.sku} = {stock}")
        else:
            report["unchanged"].append(f"stock {product.sku} = {inventory.get_stock(product.sku)}")

    label = f"order {SAMPLE_ORDER_ID} (Pending, 2 x WIDGET-1, {SAMPLE_CUSTOMER})"
    if reset:
        payments.delete_payment(SAMPLE_ORDER_ID)
        outbox.delete_message(confirmation.confirmation_blob_name(SAMPLE_ORDER_ID))
        put_order(sample_order())
        report["reset"].append(label)
        return report
    try:
        create_order(sample_order())
        report["created"].append(label)
    except OrderExistsError:
        report["unchanged"].append(f"order {SAMPLE_ORDER_ID} ({get_order(SAMPLE_ORDER_ID).status.value})")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.seed", description=__doc__.splitlines()[0])
    parser.add_argument("--reset", action="store_true", help="put the sample rows back as shipped")
    args = parser.parse_args(argv)
    load_local_settings(ROOT)
    try:
        print(f"Seeding {table_service().url}")
        report = seed(reset=args.reset)
    except StorageConfigurationError as error:
        print(f"seed: {error}", file=sys.stderr)
        return 2
    except AzureError as error:
        print(f"seed: storage is not reachable ({type(error).__name__}); is Azurite running? {error}",
              file=sys.stderr)
        return 1
    for outcome in ("created", "reset", "unchanged"):
        for label in report[outcome]:
            print(f"  {outcome:<9} {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
