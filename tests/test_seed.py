"""The sample-data seeder: creates what is missing, never overwrites unless reset."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from decimal import Decimal

import pytest

from common import outbox
from orders import confirmation, inventory, payments
from orders.catalog import Product, get_product, list_products, put_product
from orders.store import OrderStatus, get_order, set_status
from tools.seed import ROOT, SAMPLE_ORDER_ID, SAMPLE_PRODUCTS, seed

pytestmark = pytest.mark.usefixtures("azurite")

TABLE_SETTINGS = ("PRODUCTS_TABLE", "INVENTORY_TABLE", "ORDERS_TABLE", "PAYMENTS_TABLE")


@pytest.fixture
def fresh_storage(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the app at tables and a container nobody has used, so seeding starts from nothing."""
    suffix = uuid.uuid4().hex[:10]
    names = {setting: f"{setting.split('_')[0].title()}{suffix}" for setting in TABLE_SETTINGS}
    names["OUTBOX_CONTAINER"] = f"outbox{suffix}"
    for setting, name in names.items():
        monkeypatch.setenv(setting, name)
    return names


def test_first_seed_creates_the_sample_data_and_a_second_changes_nothing(fresh_storage):
    first = seed()
    assert first["unchanged"] == [] and first["reset"] == []
    assert len(first["created"]) == 2 * len(SAMPLE_PRODUCTS) + 1

    assert get_product("WIDGET-1") == Product("WIDGET-1", "Widget", Decimal("25.00"))
    assert get_product("GADGET-1").price == Decimal("99.00")
    assert any(product.price > Decimal("1000.00") for product in list_products())
    assert (inventory.get_stock("WIDGET-1"), inventory.get_stock("GADGET-1")) == (100, 1)
    order = get_order(SAMPLE_ORDER_ID)
    assert (order.status, order.customer_email, order.total) == (
        OrderStatus.PENDING, "customer@example.com", Decimal("50.00"))
    assert [(item.sku, item.quantity, item.unit_price) for item in order.items] == [
        ("WIDGET-1", 2, Decimal("25.00"))]

    second = seed()
    assert second["created"] == [] and second["reset"] == []
    assert len(second["unchanged"]) == len(first["created"])


def test_seed_without_reset_keeps_changed_data(fresh_storage):
    seed()
    put_product(Product("WIDGET-1", "Widget", Decimal("30.00")), overwrite=True)
    assert inventory.reserve("someone", "WIDGET-1", 7)
    set_status(SAMPLE_ORDER_ID, OrderStatus.CONFIRMED)

    report = seed()
    assert report["created"] == []
    assert get_product("WIDGET-1").price == Decimal("30.00")
    assert inventory.get_stock("WIDGET-1") == 93
    assert get_order(SAMPLE_ORDER_ID).status is OrderStatus.CONFIRMED
    assert "stock WIDGET-1 = 93" in report["unchanged"]


def test_reset_restores_the_shipped_state(fresh_storage):
    seed()
    put_product(Product("GADGET-1", "Gadget", Decimal("1.00")), overwrite=True)
    assert inventory.reserve(SAMPLE_ORDER_ID, "WIDGET-1", 2)
    assert inventory.reserve("other", "GADGET-1", 1)
    payments.charge(SAMPLE_ORDER_ID, Decimal("50.00"))
    set_status(SAMPLE_ORDER_ID, OrderStatus.CONFIRMED)
    blob = confirmation.write_confirmation(get_order(SAMPLE_ORDER_ID))

    report = seed(reset=True)
    assert report["created"] == [] and report["unchanged"] == []
    assert get_product("GADGET-1").price == Decimal("99.00")
    assert (inventory.get_stock("WIDGET-1"), inventory.get_stock("GADGET-1")) == (100, 1)
    assert inventory.reservations("WIDGET-1") == [] and inventory.reservations("GADGET-1") == []
    assert get_order(SAMPLE_ORDER_ID).status is OrderStatus.PENDING
    assert payments.get_payment(SAMPLE_ORDER_ID) is None
    assert not outbox.container().get_blob_client(blob).exists()
    # A reset store behaves like a fresh one: the sample order can be reserved again.
    assert inventory.reserve(SAMPLE_ORDER_ID, "WIDGET-1", 2) and inventory.get_stock("WIDGET-1") == 98


def test_the_command_line_seeds_and_reports(fresh_storage, storage_connection):
    env = {**os.environ, **fresh_storage, "AzureWebJobsStorage": storage_connection}

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "tools.seed", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "created   product WIDGET-1 (Widget, 25.00)" in run()
    again = run()
    assert "created" not in again and "unchanged order 12345 (Pending)" in again
    assert "reset     order 12345" in run("--reset")
