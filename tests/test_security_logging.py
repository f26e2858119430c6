"""Security review (SECURITY.md): no e-mail addresses in the app's logs, and no forged log lines.

Logs go to Application Insights, read by more people and kept apart from the data, so the
starters and activities write people's addresses only masked (`common.logging.mask_email`).
User input reaches a log line only after validation, so a newline in it cannot forge a line.
Starters and activities run against Azurite with the Durable host's answers scripted, as in
tests/test_leave_client.py and tests/test_order_client.py.
"""

from __future__ import annotations

import json
import logging
import uuid
from decimal import Decimal
from typing import Any

import pytest

from activities.leave_activities import bp as leave_activities
from common.logging import mask_email
from devhost.app_loader import user_function
from orders import inventory
from orders.catalog import Product, put_product
from tests.test_leave_client import APPROVER, call, decision, leave_body, waiting_request
from tests.test_leave_client import HostlessClient as LeaveHostlessClient
from tests.test_order_client import HostlessClient as OrderHostlessClient
from tests.test_order_client import send, unique

pytestmark = pytest.mark.usefixtures("azurite")

EMPLOYEE = "ann@example.com"
CUSTOMER = "carla.customer@example.com"
APP_LOGGERS = ("leave", "orders", "batch", "maintenance")


def app_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every line the app's own loggers wrote, formatted as a handler would."""
    return [record.getMessage() for record in caplog.records if record.name in APP_LOGGERS]


def assert_no_address(lines: list[str], *addresses: str) -> None:
    leaked = [line for line in lines for address in addresses if address.lower() in line.lower()]
    assert not leaked, "e-mail addresses in log lines:\n" + "\n".join(leaked)


@pytest.mark.parametrize(("address", "masked"), [
    ("ann@example.com", "a***@example.com"),
    ("  Boss.Person+leave@Sub.Example.COM ", "B***@Sub.Example.COM"),
    ("odd@local@example.com", "o***@example.com"),
    ("system", "***"),
    ("@example.com", "***"),
    ("ann@", "***"),
    ("", "***"),
    (None, "***"),
])
def test_mask_email(address: str | None, masked: str) -> None:
    assert mask_email(address) == masked


def test_the_leave_workflow_logs_no_addresses(caplog: pytest.LogCaptureFixture) -> None:
    client = LeaveHostlessClient()
    with caplog.at_level(logging.INFO):
        assert call(client, "LeaveApproval_Client", leave_body(employeeEmail=EMPLOYEE))[0] == 202
        request_id = waiting_request(client)
        assert call(client, "SubmitApprovalResult", decision(request_id))[0] == 202
        # The activities that store the decision and tell the employee.
        user_function(leave_activities, "NotifyApproval")(
            {"requestId": request_id, "approver": APPROVER, "comment": "Enjoy", "decidedAt": "2099-06-02T00:00:00Z"})
        submitted = f"leave-{uuid.uuid4().hex}"
        user_function(leave_activities, "SubmitLeaveRequest")(
            {"requestId": submitted, "instanceId": submitted, "employeeId": "E-1", "employeeEmail": EMPLOYEE,
             "approverEmail": APPROVER, "startDate": "2099-07-01", "endDate": "2099-07-02", "days": 2,
             "reason": "Holiday", "submittedAt": "2099-06-01T00:00:00.000Z", "deadline": "2099-06-04T00:00:00.000Z",
             "approvalUrl": "http://localhost:7071/api/SubmitApprovalResult"})
    lines = app_lines(caplog)
    assert_no_address(lines, EMPLOYEE, APPROVER)
    # The lines are still there, and still say who decided, masked.
    assert any("started for E-1" in line and "approver b***@example.com" in line for line in lines), lines
    assert any(f"leave {request_id}: Approved by b***@example.com" in line for line in lines), lines


def test_a_new_order_is_logged_without_the_customers_address(caplog: pytest.LogCaptureFixture) -> None:
    sku = unique("SKU")
    put_product(Product(sku, "Test product", Decimal("9.99")))
    inventory.put_stock(sku, 5)
    order_id = unique("SEC")
    body = {"orderId": order_id, "customerEmail": CUSTOMER, "items": [{"sku": sku, "quantity": 1}]}
    with caplog.at_level(logging.INFO):
        assert send(OrderHostlessClient(), body=body)[0] == 202
    lines = app_lines(caplog)
    assert_no_address(lines, CUSTOMER)
    assert any(f"order {order_id}: created for c***@example.com" in line for line in lines), lines


@pytest.mark.parametrize("field", ["employeeId", "employeeEmail", "approverEmail", "startDate"])
def test_a_line_break_in_leave_input_is_refused_before_anything_is_logged(
        field: str, caplog: pytest.LogCaptureFixture) -> None:
    forged = {"employeeId": "E-1", "employeeEmail": EMPLOYEE, "approverEmail": APPROVER, "startDate": "2099-07-01"}
    body = leave_body(**{field: forged[field] + "\nINFO leave leave-0: Approved by ceo@example.com"})
    client = LeaveHostlessClient()
    with caplog.at_level(logging.INFO):
        status, answer = call(client, "LeaveApproval_Client", body)
    assert (status, answer["field"]) == (400, field)
    assert client.started == [] and app_lines(caplog) == []


@pytest.mark.parametrize("body", [
    {"orderId": "A-1\nINFO orders: order 1: payment Approved"},
    {"orderId": "A-1", "customerEmail": "a@example.com\r\nBcc: all@example.com",
     "items": [{"sku": "X", "quantity": 1}]},
    {"orderId": "A-1", "customerEmail": "a@example.com", "items": [{"sku": "X\nY", "quantity": 1}]},
])
def test_a_line_break_in_order_input_is_refused_before_anything_is_logged(
        body: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    client = OrderHostlessClient()
    with caplog.at_level(logging.INFO):
        status, answer = send(client, body=body)
    assert status == 400, json.dumps(answer)
    assert client.started == [] and app_lines(caplog) == []
