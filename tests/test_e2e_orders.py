"""Order processing end to end: HTTP calls to `python -m devhost` running the real app, data in Azurite.

This is what a user does after `make run`: the original curl call, new orders,
out of stock, a declined payment, duplicate starts and bad requests. Business
data is checked in storage afterwards.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import pytest
import requests

from common import outbox
from devhost.spawn import ROOT, RunningHost, start_devhost, wait_for_status
from orders import confirmation, inventory, payments
from orders import store as orders
from orders.store import OrderStatus
from tests.readme_examples import curl_calls
from tools import azurite as azurite_control
from tools.seed import seed

CLIENT = "/api/OrderProcessing_Client"
WEBHOOK = "/runtime/webhooks/durabletask"


@pytest.fixture(scope="module")
def host(azurite: azurite_control.Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    seed(reset=True)
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "TASKHUB_NAME": "E2EOrdersHub",
        "PAYMENT_LIMIT": "1000.00",
        "ORDER_RETRY_FIRST_INTERVAL_MS": "100",
        "ORDER_RETRY_MAX_ATTEMPTS": "3",
    }
    running = start_devhost(ROOT, tmp_path_factory.mktemp("orders") / "host.log", env)
    yield running
    running.stop()


def post(host: RunningHost, *, params: dict | None = None, json: object = None, data: str | None = None,
         headers: dict | None = None) -> requests.Response:
    return requests.post(host.base_url + CLIENT, params=params, json=json, data=data, headers=headers, timeout=30)


def no_instance(host: RunningHost, order_id: str) -> bool:
    url = f"{host.base_url}{WEBHOOK}/instances/order-{order_id}"
    return requests.get(url, timeout=10).status_code == 404


def test_the_original_call_processes_seeded_order_12345(host: RunningHost) -> None:
    stock_before = inventory.get_stock("WIDGET-1")
    response = post(host, params={"orderId": "12345"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["id"] == "order-12345"
    assert response.headers["Location"] == body["statusQueryGetUri"]
    final = wait_for_status(body["statusQueryGetUri"])
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == "Order 12345 processed successfully."
    assert final["customStatus"]["step"] == "Completed"
    # The business data, in storage.
    assert orders.get_order("12345").status is OrderStatus.CONFIRMED
    payment = payments.get_payment("12345")
    assert payment is not None and payment.status == payments.APPROVED and str(payment.amount) == "50.00"
    assert inventory.get_stock("WIDGET-1") == stock_before - 2
    email = outbox.read_message(confirmation.confirmation_blob_name("12345")).decode()
    assert "customer@example.com" in email and "12345" in email


def test_a_second_start_is_refused_and_never_charges_twice(host: RunningHost) -> None:
    first = post(host, params={"orderId": "dup-1"}, json=None)
    assert first.status_code == 400  # unknown order: nothing to start
    created = post(host, json={"orderId": "dup-1", "customerEmail": "dup@example.com",
                               "items": [{"sku": "CABLE-1", "quantity": 1}]})
    assert created.status_code == 202
    again = post(host, params={"orderId": "dup-1"})
    assert again.status_code == 409
    assert again.json()["statusQueryGetUri"] == created.json()["statusQueryGetUri"]
    assert again.json()["field"] == "orderId"
    wait_for_status(created.json()["statusQueryGetUri"])
    after = post(host, json={"orderId": "dup-1", "customerEmail": "dup@example.com",
                             "items": [{"sku": "CABLE-1", "quantity": 1}]})
    assert after.status_code == 409
    assert payments.get_payment("dup-1").amount == payments.get_payment("dup-1").amount  # one payment row
    assert str(payments.get_payment("dup-1").amount) == "9.99"


def test_new_order_from_a_json_body(host: RunningHost) -> None:
    response = post(host, json={"orderId": "new-1", "customerEmail": "ann@example.com",
                                "items": [{"sku": "WIDGET-1", "quantity": 1}, {"sku": "CABLE-1", "quantity": 2}]})
    assert response.status_code == 202, response.text
    final = wait_for_status(response.json()["statusQueryGetUri"])
    assert final["output"] == "Order new-1 processed successfully."
    order = orders.get_order("new-1")
    assert order.status is OrderStatus.CONFIRMED
    assert str(order.total) == "44.98"


def test_out_of_stock(host: RunningHost) -> None:
    response = post(host, json={"orderId": "oos-1", "customerEmail": "bob@example.com",
                                "items": [{"sku": "MONITOR-1", "quantity": 6}]})
    final = wait_for_status(response.json()["statusQueryGetUri"])
    assert final["output"] == "Order oos-1 failed: Inventory not available."
    assert orders.get_order("oos-1").status is OrderStatus.REJECTED
    assert payments.get_payment("oos-1") is None
    assert inventory.get_stock("MONITOR-1") == 5


def test_declined_payment_releases_stock(host: RunningHost) -> None:
    before = inventory.get_stock("LAPTOP-1")
    response = post(host, json={"orderId": "big-1", "customerEmail": "cid@example.com",
                                "items": [{"sku": "LAPTOP-1", "quantity": 1}]})
    final = wait_for_status(response.json()["statusQueryGetUri"])
    assert final["output"] == "Order big-1 failed: Payment processing failed."
    assert orders.get_order("big-1").status is OrderStatus.PAYMENT_DECLINED
    assert inventory.get_stock("LAPTOP-1") == before
    assert inventory.get_reservation("big-1", "LAPTOP-1") is None


def test_two_concurrent_orders_for_the_last_unit(host: RunningHost) -> None:
    assert inventory.get_stock("GADGET-1") == 1
    bodies = [{"orderId": f"race-{i}", "customerEmail": "race@example.com",
               "items": [{"sku": "GADGET-1", "quantity": 1}]} for i in range(2)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda b: post(host, json=b), bodies))
    outputs = sorted(wait_for_status(r.json()["statusQueryGetUri"])["output"] for r in responses)
    assert sum("processed successfully" in o for o in outputs) == 1
    assert sum("Inventory not available" in o for o in outputs) == 1
    assert inventory.get_stock("GADGET-1") == 0


def order(order_id: str, *, sku: str = "WIDGET-1", quantity: object = 1, email: str = "a@example.com") -> dict:
    return {"orderId": order_id, "customerEmail": email, "items": [{"sku": sku, "quantity": quantity}]}


@pytest.mark.parametrize(
    ("kwargs", "status", "field"),
    [
        ({"params": {}}, 400, "orderId"),
        ({"data": "{not json", "headers": {"Content-Type": "application/json"}}, 400, "body"),
        ({"json": order("bad-1", sku="NOPE-1")}, 400, "items[0].sku"),
        ({"json": order("bad-2", quantity=0)}, 400, "items[0].quantity"),
        ({"json": order("bad-3", email="not-an-email")}, 400, "customerEmail"),
        ({"json": {"customerEmail": "a@example.com", "items": [{"sku": "WIDGET-1", "quantity": 1}]}}, 400, "orderId"),
        ({"params": {"orderId": "no-such-order"}}, 400, "orderId"),
    ],
)
def test_bad_requests_get_400_and_start_nothing(host: RunningHost, kwargs: dict, status: int, field: str) -> None:
    response = post(host, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["field"] == field
    order_id = (kwargs.get("json") or {}).get("orderId") or (kwargs.get("params") or {}).get("orderId")
    if order_id:
        assert no_instance(host, order_id)
        assert orders.find_order(order_id) is None


def test_the_readme_curl_examples_work(host: RunningHost) -> None:
    calls = curl_calls("### Calling it")
    assert len(calls) >= 5
    for call in calls:
        url = call.url.replace("http://localhost:7071", host.base_url)
        response = requests.request(call.method, url, headers=call.headers, data=call.data, timeout=30)
        assert response.status_code in (202, 400, 409), (call, response.text)
        if response.status_code == 202:
            assert wait_for_status(response.json()["statusQueryGetUri"])["runtimeStatus"] == "Completed"
    bad = next(c for c in calls if '"quantity": 0' in (c.data or ""))
    response = requests.post(bad.url.replace("http://localhost:7071", host.base_url), headers=bad.headers,
                             data=bad.data, timeout=30)
    assert response.status_code == 400 and response.json()["field"] == "items[0].quantity"
