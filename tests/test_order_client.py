"""OrderProcessing_Client against Azurite: what it stores, what it starts, what it answers.

The Durable client is the SDK's real `DurableOrchestrationClient` (so check-status
and management payloads are genuine); only its two calls to the Durable host,
`get_status` and `start_new`, are answered from memory. Orders and the catalogue
are real rows in Azurite.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import uuid
from decimal import Decimal
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from clients.order_client import bp
from devhost.app_loader import user_function
from devhost.client_binding import client_binding_json
from orders import inventory
from orders.catalog import Product, put_product
from orders.store import OrderItem, OrderStatus, create_order, find_order, new_order, set_status

pytestmark = pytest.mark.usefixtures("azurite")

URL = "http://localhost:7071/api/OrderProcessing_Client"


class HostlessClient(df.DurableOrchestrationClient):
    """The SDK client with the Durable host's instance store replaced by a dict."""

    def __init__(self, instances: dict[str, str] | None = None, start_fails: str | None = None):
        super().__init__(client_binding_json("http://localhost:7071", "http://localhost:7071", "TestHub"))
        self.instances = dict(instances or {})
        self.start_fails = start_fails  # None, "race" (someone else started it) or "down"
        self.started: list[tuple[str, str, Any]] = []

    async def get_status(self, instance_id: str, *args: Any, **kwargs: Any) -> DurableOrchestrationStatus:
        runtime_status = self.instances.get(instance_id)
        if runtime_status is None:
            return DurableOrchestrationStatus.from_json("")  # what the SDK builds from a 404
        return DurableOrchestrationStatus.from_json({"instanceId": instance_id,
                                                     "runtimeStatus": runtime_status})

    async def start_new(self, name: str, instance_id: str | None = None, client_input: Any = None,
                        version: str | None = None) -> str:
        if self.start_fails == "race":
            self.instances[instance_id] = "Running"
        if self.start_fails:
            raise Exception("An instance with ID already exists.")
        self.started.append((name, instance_id, client_input))
        self.instances[instance_id] = "Pending"
        return instance_id


def send(client: HostlessClient, *, params: dict[str, str] | None = None, body: Any = None,
         raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    request = func.HttpRequest("POST", URL, params=params or {}, body=data,
                               headers={"Content-Type": "application/json"})
    # Unwrap the SDK's middleware, which would build a client from the binding JSON the host passes.
    handler = inspect.unwrap(user_function(bp, "OrderProcessing_Client"))
    response = asyncio.run(handler(request, client))
    return response.status_code, json.loads(response.get_body())


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def sku() -> str:
    code = unique("SKU")
    put_product(Product(code, "Test product", Decimal("19.99")))
    inventory.put_stock(code, 10)
    return code


def stored_order(sku: str, status: OrderStatus = OrderStatus.PENDING) -> str:
    order_id = unique("C")
    create_order(new_order(order_id, "buyer@example.com", [OrderItem(sku, 1, Decimal("19.99"))]))
    if status is not OrderStatus.PENDING:
        set_status(order_id, status)
    return order_id


def test_an_existing_pending_order_is_started_with_the_retry_settings(sku, monkeypatch):
    monkeypatch.setenv("ORDER_RETRY_FIRST_INTERVAL_MS", "1500")
    monkeypatch.setenv("ORDER_RETRY_MAX_ATTEMPTS", "5")
    order_id = stored_order(sku)
    client = HostlessClient()

    status, payload = send(client, params={"orderId": order_id})
    assert status == 202
    assert payload["id"] == f"order-{order_id}"
    assert payload["statusQueryGetUri"].startswith("http://localhost:7071/runtime/webhooks/durabletask/instances/")
    expected_input = {"orderId": order_id, "retry": {"firstRetryIntervalMs": 1500, "maxAttempts": 5}}
    assert client.started == [("OrderProcessing_Orchestrator", f"order-{order_id}", expected_input)]


def test_retry_settings_default_to_2000_ms_and_3_attempts(sku, monkeypatch):
    monkeypatch.delenv("ORDER_RETRY_FIRST_INTERVAL_MS", raising=False)
    monkeypatch.delenv("ORDER_RETRY_MAX_ATTEMPTS", raising=False)
    client = HostlessClient()
    assert send(client, body={"orderId": stored_order(sku)})[0] == 202
    assert client.started[0][2]["retry"] == {"firstRetryIntervalMs": 2000, "maxAttempts": 3}


def test_a_new_order_is_priced_from_the_catalogue_stored_and_started(sku):
    order_id = unique("N")
    client = HostlessClient()
    status, _ = send(client, body={"orderId": order_id, "customerEmail": "ann@example.com",
                                   "items": [{"sku": sku, "quantity": 3}]})
    assert status == 202
    order = find_order(order_id)
    assert (order.status, order.customer_email, order.total) == (OrderStatus.PENDING, "ann@example.com",
                                                                 Decimal("59.97"))
    lines = [(item.sku, item.quantity, item.unit_price) for item in order.items]
    assert lines == [(sku, 3, Decimal("19.99"))]
    assert [started[1] for started in client.started] == [f"order-{order_id}"]


def test_an_unknown_order_is_400_on_order_id():
    client = HostlessClient()
    status, payload = send(client, params={"orderId": "GHOST-1"})
    assert (status, payload["field"]) == (400, "orderId")
    assert "GHOST-1" in payload["error"]
    assert client.started == []


@pytest.mark.parametrize(("request_kwargs", "field"), [
    ({}, "orderId"),
    ({"params": {"orderId": "bad id"}}, "orderId"),
    ({"raw": b"{not json"}, "body"),
    ({"body": ["a list"]}, "body"),
    ({"body": {"orderId": "X-1", "customerEmail": "nope", "items": [{"sku": "S", "quantity": 1}]}},
     "customerEmail"),
    ({"body": {"orderId": "X-1", "customerEmail": "a@example.com", "items": []}}, "items"),
    ({"body": {"orderId": "X-1", "customerEmail": "a@example.com",
               "items": [{"sku": "S", "quantity": True}]}}, "items[0].quantity"),
    ({"params": {"orderId": "X-2"}, "body": {"orderId": "X-1"}}, "orderId"),
])
def test_bad_input_is_a_4xx_naming_the_field_and_starts_nothing(request_kwargs, field):
    client = HostlessClient()
    status, payload = send(client, **request_kwargs)
    assert status == 400
    assert payload["field"] == field and payload["error"]
    assert client.started == []


def test_an_unknown_sku_names_its_line_and_stores_nothing(sku):
    order_id = unique("N")
    client = HostlessClient()
    body = {"orderId": order_id, "customerEmail": "ann@example.com",
            "items": [{"sku": sku, "quantity": 1}, {"sku": unique("NOPE"), "quantity": 1}]}
    status, payload = send(client, body=body)
    assert (status, payload["field"]) == (400, "items[1].sku")
    assert find_order(order_id) is None
    assert client.started == []


def test_an_order_with_a_workflow_is_409_with_its_status(sku):
    order_id = stored_order(sku)
    client = HostlessClient({f"order-{order_id}": "Completed"})
    status, payload = send(client, params={"orderId": order_id})
    assert status == 409
    assert payload["field"] == "orderId"
    assert (payload["instanceId"], payload["runtimeStatus"]) == (f"order-{order_id}", "Completed")
    assert f"order-{order_id}" in payload["statusQueryGetUri"]
    assert client.started == []


def new_order_body(order_id: str, sku: str) -> dict[str, Any]:
    return {"orderId": order_id, "customerEmail": "ann@example.com", "items": [{"sku": sku, "quantity": 1}]}


def test_the_same_new_order_twice_starts_once(sku):
    body = new_order_body(unique("N"), sku)
    client = HostlessClient()
    assert send(client, body=body)[0] == 202
    status, payload = send(client, body=body)
    assert (status, payload["runtimeStatus"]) == (409, "Pending")
    assert len(client.started) == 1


def test_a_new_order_reusing_a_stored_id_is_409_and_keeps_the_stored_order(sku):
    order_id = stored_order(sku)
    body = {"orderId": order_id, "customerEmail": "other@example.com", "items": [{"sku": sku, "quantity": 9}]}
    status, payload = send(HostlessClient(), body=body)
    assert (status, payload["field"]) == (409, "orderId")
    assert find_order(order_id).customer_email == "buyer@example.com"


def test_an_order_that_is_no_longer_pending_is_409(sku):
    order_id = stored_order(sku, OrderStatus.CONFIRMED)
    client = HostlessClient()
    status, payload = send(client, params={"orderId": order_id})
    assert (status, payload["field"], payload["orderStatus"]) == (409, "orderId", "Confirmed")
    assert client.started == []


def test_losing_a_start_race_is_409(sku):
    status, payload = send(HostlessClient(start_fails="race"), params={"orderId": stored_order(sku)})
    assert (status, payload["runtimeStatus"]) == (409, "Running")


def test_a_failed_start_is_503_and_leaves_no_new_order_behind(sku):
    order_id = unique("N")
    body = new_order_body(order_id, sku)
    status, payload = send(HostlessClient(start_fails="down"), body=body)
    assert status == 503 and payload["error"]
    assert find_order(order_id) is None
    assert send(HostlessClient(), body=body)[0] == 202  # so the caller can simply retry


def test_repeating_a_new_order_whose_first_attempt_died_before_the_start_starts_the_stored_order(sku):
    # The first attempt stored the order, then the host was killed before start_new (found by the crash drill).
    order_id = unique("N")
    body = new_order_body(order_id, sku)
    create_order(new_order(order_id, "ann@example.com", [OrderItem(sku, 1, Decimal("19.99"))]))
    down = HostlessClient(start_fails="down")
    assert send(down, body=body)[0] == 503
    assert find_order(order_id) is not None  # not deleted: this attempt did not create it
    client = HostlessClient()
    status, payload = send(client, body=body)
    assert (status, payload["id"]) == (202, f"order-{order_id}")
    assert [instance_id for _, instance_id, _ in client.started] == [f"order-{order_id}"]
    assert find_order(order_id).status is OrderStatus.PENDING
    other = {**body, "items": [{"sku": sku, "quantity": 2}]}  # the same id with other content is still refused
    assert send(HostlessClient(), body=other)[0] == 409


def test_a_storage_outage_is_503_not_a_stack_trace(monkeypatch):
    from tools.azurite import free_port

    port = free_port()  # nothing listens there
    monkeypatch.setenv("AzureWebJobsStorage", (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"))
    status, payload = send(HostlessClient(), params={"orderId": "12345"})
    assert status == 503
    assert payload == {"error": "Order storage is unavailable; try again later.", "field": None}
