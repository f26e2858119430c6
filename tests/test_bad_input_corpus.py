"""A corpus of malformed requests against every endpoint, sent to one `python -m devhost` running the app.

Every case must get a 4xx (never a 5xx) and, from the app's own functions, the JSON error
`{"error", "field"}` naming the offending field; afterwards no orchestration instance may exist
and storage must be exactly as before: every blob container (names and ETags), every table
(keys and ETags of every entity) and every queue (approximate message count). Each case is
compared with the state the previous case left, so a failure names the case that wrote; the
last test compares the end state with the state before the first case.

Calls answered by the Functions host itself (the Durable management API under
`/runtime/webhooks/durabletask/`, a method a route does not take) follow the extension's
documented behaviour instead: 400/404/405 with an empty body or a JSON one (`{"Message": ...}`).

The host has its own task hub, and a batch input container that does not exist (so a request
that lists it must not create it). The catalogue is seeded first (tools/seed.py), as for a user
after `make run`, so the unknown-SKU and unknown-order cases are refused for the right reason.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from devhost.spawn import ROOT, RunningHost, start_devhost
from leave.contract import CLIENT as CLIENT_ROUTE
from leave.contract import DECISION_CLIENT as DECISION_ROUTE
from tools import azurite as azurite_control
from tools.seed import seed

HUB = "BadInputCorpusHub"
INPUT_CONTAINER = "corpus-batch-input"  # never created: listing it must not create it either
MAX_FILES = 100
ORDERS = "/api/OrderProcessing_Client"
BATCH = "/api/BatchProcessing_Client"
LEAVE = f"/api/{CLIENT_ROUTE}"
DECIDE = f"/api/{DECISION_ROUTE}"
WEBHOOK = "/runtime/webhooks/durabletask"
JSON_TYPE = {"Content-Type": "application/json"}
MB = 1024 * 1024
IDLE_SECONDS = 2.0

START = datetime.now(UTC).date() + timedelta(days=14)
MISSING = object()  # a field left out of a body


@dataclasses.dataclass(frozen=True)
class Case:
    """One malformed request and what must come back."""

    id: str
    method: str
    path: str
    body: bytes = b""
    status: int = 400
    field: str | None = None  # the field the error must name (app endpoints)
    headers: Mapping[str, str] = dataclasses.field(default_factory=lambda: JSON_TYPE)
    by_host: bool = False  # answered by the Functions host / Durable extension, not by the app's code

    def __repr__(self) -> str:  # pytest shows the id; a 13 MB body is no use in a report
        return f"Case({self.id!r}, {self.method} {self.path[:80]}, {len(self.body)} bytes)"


def js(value: Any) -> bytes:
    """`value` as JSON (Python's encoder writes NaN and Infinity as the bare literals)."""
    return json.dumps(value).encode()


def with_changes(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **changes}
    return {key: value for key, value in merged.items() if value is not MISSING}


def order(**changes: Any) -> dict[str, Any]:
    """A valid new order (a SKU from the seeded catalogue), with `changes`."""
    return with_changes({"orderId": "C-1", "customerEmail": "ann@example.com",
                         "items": [{"sku": "WIDGET-1", "quantity": 1}]}, changes)


def item(**changes: Any) -> dict[str, Any]:
    """An order with one line, changed."""
    return order(items=[with_changes({"sku": "WIDGET-1", "quantity": 1}, changes)])


def leave(**changes: Any) -> dict[str, Any]:
    """A valid leave request two weeks ahead, with `changes`."""
    return with_changes({"employeeId": "E-100", "employeeEmail": "ann@example.com",
                         "approverEmail": "boss@example.com", "startDate": START.isoformat(),
                         "endDate": (START + timedelta(days=4)).isoformat(), "reason": "Summer holiday"}, changes)


def decision(**changes: Any) -> dict[str, Any]:
    """A well-formed decision for an instance that does not exist, with `changes`."""
    return with_changes({"instanceId": "leave-" + "0" * 32, "result": "Approved",
                         "approver": "boss@example.com"}, changes)


def raw(template: str, **parts: bytes) -> bytes:
    """A body written out by hand (bytes `parts` spliced in), for what `json.dumps` cannot produce."""
    body = template.encode()
    for name, value in parts.items():
        body = body.replace(b"<" + name.encode() + b">", value)
    return body


ORDER_JSON = js(order()).decode()
DEEP = b"[" * 20_000 + b"]" * 20_000  # 40 KB: inside every body limit, deeper than any JSON parser recurses
HUGE_INT = b"9" * 5_000  # more digits than Python converts to an int
LONG_NAME = "incoming/" + "a" * 1016  # 1025 characters

CASES: list[Case] = [
    # --- OrderProcessing_Client: shape and types ---
    Case("order-no-body-no-query", "POST", ORDERS, b"", field="orderId", headers={}),
    Case("order-empty-query-id", "POST", ORDERS + "?orderId=", field="orderId", headers={}),
    Case("order-unknown-order-id", "GET", ORDERS + "?orderId=no-such-order", field="orderId", headers={}),
    Case("order-query-differs-from-body", "POST", ORDERS + "?orderId=C-2", js(order()), field="orderId"),
    Case("order-body-array", "POST", ORDERS, js([order()]), field="body"),
    Case("order-body-string", "POST", ORDERS, js("C-1"), field="body"),
    Case("order-body-null-literal", "POST", ORDERS, b"null", field="orderId"),
    Case("order-body-empty-object", "POST", ORDERS, b"{}", field="orderId"),
    Case("order-wrapped-in-extra-object", "POST", ORDERS, js({"order": order()}), field="orderId"),
    Case("order-id-null", "POST", ORDERS, js(order(orderId=None)), field="orderId"),
    Case("order-id-object", "POST", ORDERS, js({"orderId": {"id": "C-1"}}), field="orderId"),
    Case("order-id-negative-number", "POST", ORDERS, js(order(orderId=-1)), field="orderId"),
    Case("order-id-float", "POST", ORDERS, js(order(orderId=1.5)), field="orderId"),
    Case("order-id-nan-literal", "POST", ORDERS, js(order(orderId=float("nan"))), field="orderId"),
    Case("order-id-too-long", "POST", ORDERS, js(order(orderId="A" * 65)), field="orderId"),
    Case("order-email-missing", "POST", ORDERS, js(order(customerEmail=MISSING)), field="customerEmail"),
    Case("order-email-number", "POST", ORDERS, js(order(customerEmail=42)), field="customerEmail"),
    Case("order-email-too-long", "POST", ORDERS, js(order(customerEmail="a" * 250 + "@example.com")),
         field="customerEmail"),
    Case("order-items-missing", "POST", ORDERS, js(order(items=MISSING)), field="items"),
    Case("order-items-object-not-array", "POST", ORDERS, js(order(items={"sku": "WIDGET-1", "quantity": 1})),
         field="items"),
    Case("order-items-empty", "POST", ORDERS, js(order(items=[])), field="items"),
    Case("order-items-51-lines", "POST", ORDERS,
         js(order(items=[{"sku": f"SKU-{i}", "quantity": 1} for i in range(51)])), field="items"),
    Case("order-item-nested-array", "POST", ORDERS, js(order(items=[[{"sku": "WIDGET-1", "quantity": 1}]])),
         field="items[0]"),
    Case("order-item-null", "POST", ORDERS, js(order(items=[None])), field="items[0]"),
    Case("order-quantity-string", "POST", ORDERS, js(item(quantity="2")), field="items[0].quantity"),
    Case("order-quantity-zero", "POST", ORDERS, js(item(quantity=0)), field="items[0].quantity"),
    Case("order-quantity-negative", "POST", ORDERS, js(item(quantity=-3)), field="items[0].quantity"),
    Case("order-quantity-huge", "POST", ORDERS, js(item(quantity=10**30)), field="items[0].quantity"),
    Case("order-quantity-float", "POST", ORDERS, js(item(quantity=1.5)), field="items[0].quantity"),
    Case("order-quantity-boolean", "POST", ORDERS, js(item(quantity=True)), field="items[0].quantity"),
    Case("order-quantity-nan-literal", "POST", ORDERS, js(item(quantity=float("nan"))), field="items[0].quantity"),
    Case("order-quantity-infinity-literal", "POST", ORDERS, js(item(quantity=float("-inf"))),
         field="items[0].quantity"),
    Case("order-sku-unknown", "POST", ORDERS, js(item(sku="NOPE-1")), field="items[0].sku"),
    Case("order-sku-listed-twice", "POST", ORDERS,
         js(order(items=[{"sku": "WIDGET-1", "quantity": 1}, {"sku": "WIDGET-1", "quantity": 2}])),
         field="items[1].sku"),
    # --- OrderProcessing_Client: unicode and injection-looking values ---
    Case("order-id-rtl-override", "POST", ORDERS, js(order(orderId="\u202eC-1")), field="orderId"),
    Case("order-id-zero-width-space", "POST", ORDERS, js(order(orderId="C\u200b1")), field="orderId"),
    Case("order-id-nul-escape", "POST", ORDERS, js(order(orderId="C\u00001")), field="orderId"),
    Case("order-id-emoji", "POST", ORDERS, js(order(orderId="C-1\U0001f680")), field="orderId"),
    Case("order-id-sql-injection-query", "GET", ORDERS + "?orderId=%27%20OR%201%3D1%20--", field="orderId",
         headers={}),
    Case("order-id-odata-injection-query", "POST", ORDERS + "?orderId=x%27%20or%20PartitionKey%20ne%20%27",
         field="orderId", headers={}),
    Case("order-id-path-traversal-query", "GET", ORDERS + "?orderId=..%2F..%2Fetc%2Fpasswd", field="orderId",
         headers={}),
    Case("order-email-script-tag", "POST", ORDERS, js(order(customerEmail="<script>alert(1)</script>@example.com")),
         field="customerEmail"),
    Case("order-email-header-injection", "POST", ORDERS,
         js(order(customerEmail="ann@example.com\r\nBcc: all@example.com")), field="customerEmail"),
    Case("order-email-homoglyph", "POST", ORDERS, js(order(customerEmail="\u0430nn@example.com")),
         field="customerEmail"),
    Case("order-sku-template-injection", "POST", ORDERS, js(item(sku="{{7*7}}")), field="items[0].sku"),
    Case("order-sku-odata-injection", "POST", ORDERS, js(item(sku="WIDGET-1' or true or '")), field="items[0].sku"),
    # --- OrderProcessing_Client: encodings, content types, sizes ---
    Case("order-text-plain", "POST", ORDERS, js(order()), status=415, field="body",
         headers={"Content-Type": "text/plain"}),
    Case("order-xml", "POST", ORDERS, b"<order><orderId>C-1</orderId></order>", status=415, field="body",
         headers={"Content-Type": "application/xml"}),
    Case("order-multipart", "POST", ORDERS, b"--x\r\n\r\n" + js(order()) + b"\r\n--x--", status=415, field="body",
         headers={"Content-Type": "multipart/form-data; boundary=x"}),
    Case("order-form-encoded-fields", "POST", ORDERS, b"orderId=C-1&customerEmail=ann%40example.com", field="body",
         headers={"Content-Type": "application/x-www-form-urlencoded"}),
    Case("order-invalid-utf8", "POST", ORDERS, raw('{"orderId": "<b>"}', b=b"\xff\xfe\xc3\x28"), field="body"),
    Case("order-utf16-body", "POST", ORDERS, ORDER_JSON.encode("utf-16"), field="body",
         headers={"Content-Type": "application/json; charset=utf-16"}),
    Case("order-utf8-bom", "POST", ORDERS, b"\xef\xbb\xbf" + js(order()), field="body"),
    Case("order-truncated-json", "POST", ORDERS, js(order())[:-7], field="body"),
    Case("order-raw-control-character", "POST", ORDERS, raw('{"orderId": "C<nul>1"}', nul=b"\x00"), field="body"),
    Case("order-deep-nesting", "POST", ORDERS, raw('{"orderId": <deep>}', deep=DEEP), field="body"),
    Case("order-integer-with-5000-digits", "POST", ORDERS, raw('{"orderId": <n>}', n=HUGE_INT), field="body"),
    Case("order-lone-surrogate-escape", "POST", ORDERS, ORDER_JSON.replace("ann@", "ann\\ud800@").encode(),
         field="body"),
    Case("order-body-5mb", "POST", ORDERS, js(order(note="x" * (5 * MB))), status=413, field="body"),
    Case("order-put-method", "PUT", ORDERS, js(order()), status=405, by_host=True),
    # --- BatchProcessing_Client: shape and types ---
    Case("batch-no-body", "POST", BATCH, b"", field="body", headers={}),
    Case("batch-null-literal", "POST", BATCH, b"null", field="body"),
    Case("batch-body-string", "POST", BATCH, js("file1.txt"), field="body"),
    Case("batch-body-number", "POST", BATCH, js(42), field="body"),
    Case("batch-empty-list", "POST", BATCH, js([]), field="files"),
    Case("batch-files-not-array", "POST", BATCH, js({"files": "file1.txt"}), field="files"),
    Case("batch-files-and-prefix", "POST", BATCH, js({"files": ["file1.txt"], "prefix": "incoming/"}), field="prefix"),
    Case("batch-neither-files-nor-prefix", "POST", BATCH, js({"batchId": "b-1"}), field="files"),
    Case("batch-unknown-field-script-tag", "POST", BATCH, js({"files": ["file1.txt"], "<script>": 1}),
         field="<script>"),
    Case("batch-name-number", "POST", BATCH, js([1]), field="files[0]"),
    Case("batch-name-null", "POST", BATCH, js(["file1.txt", None]), field="files[1]"),
    Case("batch-name-nested-array", "POST", BATCH, js([["file1.txt"]]), field="files[0]"),
    Case("batch-name-nan-literal", "POST", BATCH, js([float("nan")]), field="files[0]"),
    Case("batch-too-many-files", "POST", BATCH, js([f"f{i}.csv" for i in range(MAX_FILES + 1)]), field="files"),
    Case("batch-5mb-of-names", "POST", BATCH, js([f"{i:05d}-" + "x" * 994 for i in range(5000)]), field="files"),
    # --- BatchProcessing_Client: path traversal and invalid blob names ---
    Case("batch-dot-dot", "POST", BATCH, js(["../secrets.csv"]), field="files[0]"),
    Case("batch-backslash-dot-dot", "POST", BATCH, js(["..\\secrets.csv"]), field="files[0]"),
    Case("batch-absolute-path", "POST", BATCH, js(["/etc/passwd"]), field="files[0]"),
    Case("batch-double-slash", "POST", BATCH, js(["incoming//a.csv"]), field="files[0]"),
    Case("batch-inner-dot-dot", "POST", BATCH, js(["file1.txt", "incoming/../../outbox/x"]), field="files[1]"),
    Case("batch-percent-encoded-dot-dot", "POST", BATCH, js(["%2e%2e/outbox/x"]), field="files[0]"),
    Case("batch-percent-encoded-slash", "POST", BATCH, js(["%2Fetc/passwd"]), field="files[0]"),
    Case("batch-name-1025-chars", "POST", BATCH, js([LONG_NAME]), field="files[0]"),
    Case("batch-name-nul", "POST", BATCH, js(["a\u0000.csv"]), field="files[0]"),
    Case("batch-name-c1-control", "POST", BATCH, js(["a\u0085b.csv"]), field="files[0]"),
    Case("batch-name-lone-surrogate", "POST", BATCH, b'["file\\udc00.csv"]', field="body"),
    Case("batch-prefix-dot-dot", "POST", BATCH, js({"prefix": "../"}), field="prefix"),
    Case("batch-prefix-empty", "POST", BATCH, js({"prefix": ""}), field="prefix"),
    Case("batch-prefix-root", "POST", BATCH, js({"prefix": "/"}), field="prefix"),
    Case("batch-prefix-number", "POST", BATCH, js({"prefix": 5}), field="prefix"),
    Case("batch-prefix-1025-chars", "POST", BATCH, js({"prefix": LONG_NAME + "/"}), field="prefix"),
    Case("batch-prefix-matches-nothing", "POST", BATCH, js({"prefix": "no-such-folder/"}), field="prefix"),
    Case("batch-prefix-odata-injection", "POST", BATCH, js({"prefix": "PartitionKey eq 'x' or true"}),
         field="prefix"),
    Case("batch-id-shell-injection", "POST", BATCH, js({"files": ["file1.txt"], "batchId": "$(rm -rf /)"}),
         field="batchId"),
    Case("batch-id-path-traversal", "POST", BATCH, js({"files": ["file1.txt"], "batchId": "../reports"}),
         field="batchId"),
    Case("batch-id-rtl-override", "POST", BATCH, js({"files": ["file1.txt"], "batchId": "\u202eb1"}),
         field="batchId"),
    Case("batch-id-number", "POST", BATCH, js({"files": ["file1.txt"], "batchId": 123}), field="batchId"),
    Case("batch-id-too-long", "POST", BATCH, js({"files": ["file1.txt"], "batchId": "b" * 65}), field="batchId"),
    # --- BatchProcessing_Client: encodings, content types, sizes ---
    Case("batch-xml", "POST", BATCH, b"<files><file>file1.txt</file></files>", status=415, field="body",
         headers={"Content-Type": "application/xml"}),
    Case("batch-text-plain", "POST", BATCH, b"file1.txt\nfile2.txt", status=415, field="body",
         headers={"Content-Type": "text/plain"}),
    Case("batch-invalid-utf8", "POST", BATCH, raw('["<b>"]', b=b"\xc3\x28"), field="body"),
    Case("batch-deep-nesting", "POST", BATCH, DEEP, field="body"),
    Case("batch-body-13mb", "POST", BATCH, js(["x" * (13 * MB)]), status=413, field="body"),
    Case("batch-get-method", "GET", BATCH, status=405, by_host=True, headers={}),
    # --- LeaveApproval_Client ---
    Case("leave-no-body", "POST", LEAVE, b"", field="body", headers={}),
    Case("leave-body-array", "POST", LEAVE, js([leave()]), field="body"),
    Case("leave-employee-missing", "POST", LEAVE, js(leave(employeeId=MISSING)), field="employeeId"),
    Case("leave-employee-number", "POST", LEAVE, js(leave(employeeId=100)), field="employeeId"),
    Case("leave-employee-sql-injection", "POST", LEAVE, js(leave(employeeId="E-1'; DROP TABLE LeaveRequests; --")),
         field="employeeId"),
    Case("leave-employee-emoji", "POST", LEAVE, js(leave(employeeId="E-\U0001f600")), field="employeeId"),
    Case("leave-request-id-traversal", "POST", LEAVE, js(leave(requestId="../LeaveRequests")), field="requestId"),
    Case("leave-request-id-number", "POST", LEAVE, js(leave(requestId=42)), field="requestId"),
    Case("leave-request-id-too-long", "POST", LEAVE, js(leave(requestId="r" * 65)), field="requestId"),
    Case("leave-employee-email-invalid", "POST", LEAVE, js(leave(employeeEmail="not-an-email")),
         field="employeeEmail"),
    Case("leave-approver-is-employee", "POST", LEAVE, js(leave(approverEmail="ANN@example.com")),
         field="approverEmail"),
    Case("leave-approver-array", "POST", LEAVE, js(leave(approverEmail=["boss@example.com"])), field="approverEmail"),
    Case("leave-start-us-format", "POST", LEAVE, js(leave(startDate="07/01/2030")), field="startDate"),
    Case("leave-start-february-30", "POST", LEAVE, js(leave(startDate=f"{START.year + 1}-02-30")), field="startDate"),
    Case("leave-start-year-zero", "POST", LEAVE, js(leave(startDate="0000-01-01")), field="startDate"),
    Case("leave-start-number", "POST", LEAVE, js(leave(startDate=20300701)), field="startDate"),
    Case("leave-start-with-time", "POST", LEAVE, js(leave(startDate=f"{START.isoformat()}T00:00:00Z")),
         field="startDate"),
    Case("leave-start-fullwidth-digits", "POST", LEAVE,
         js(leave(startDate=START.isoformat().translate({ord(d): 0xFF10 + int(d) for d in "0123456789"}))),
         field="startDate"),
    Case("leave-start-in-the-past", "POST", LEAVE, js(leave(startDate="2000-01-03")), field="startDate"),
    Case("leave-end-before-start", "POST", LEAVE, js(leave(endDate=(START - timedelta(days=1)).isoformat())),
         field="endDate"),
    Case("leave-31-days", "POST", LEAVE, js(leave(endDate=(START + timedelta(days=30)).isoformat())),
         field="endDate"),
    Case("leave-reason-missing", "POST", LEAVE, js(leave(reason=MISSING)), field="reason"),
    Case("leave-reason-blank", "POST", LEAVE, js(leave(reason=" \t\n ")), field="reason"),
    Case("leave-reason-1001-chars", "POST", LEAVE, js(leave(reason="x" * 1001)), field="reason"),
    Case("leave-reason-object", "POST", LEAVE, js(leave(reason={"text": "holiday"})), field="reason"),
    Case("leave-reason-lone-surrogate", "POST", LEAVE,
         js(leave(reason="Summer PLACEHOLDER")).replace(b"PLACEHOLDER", b"\\ud800"), field="body"),
    Case("leave-start-5000-digits", "POST", LEAVE, js(leave(startDate=0)).replace(b": 0,", b": " + HUGE_INT + b","),
         field="body"),
    Case("leave-text-plain", "POST", LEAVE, js(leave()), status=415, field="body",
         headers={"Content-Type": "text/plain; charset=utf-8"}),
    Case("leave-body-5mb", "POST", LEAVE, js(leave(reason="x" * (5 * MB))), status=413, field="body"),
    # --- SubmitApprovalResult ---
    Case("decide-no-body", "POST", DECIDE, b"", field="body", headers={}),
    Case("decide-instance-missing", "POST", DECIDE, js(decision(instanceId=MISSING)), field="instanceId"),
    Case("decide-instance-number", "POST", DECIDE, js(decision(instanceId=7)), field="instanceId"),
    Case("decide-instance-path-traversal", "POST", DECIDE, js(decision(instanceId="leave-../../admin")),
         field="instanceId"),
    Case("decide-instance-odata-injection", "POST", DECIDE, js(decision(instanceId="leave-1' or true or '")),
         field="instanceId"),
    Case("decide-instance-101-chars", "POST", DECIDE, js(decision(instanceId="leave-" + "a" * 95)),
         field="instanceId"),
    Case("decide-instance-nul", "POST", DECIDE, js(decision(instanceId="leave-1\u0000")), field="instanceId"),
    Case("decide-instance-unknown", "POST", DECIDE, js(decision()), status=404, field="instanceId"),
    Case("decide-result-lowercase", "POST", DECIDE, js(decision(result="approved")), field="result"),
    Case("decide-result-boolean", "POST", DECIDE, js(decision(result=True)), field="result"),
    Case("decide-result-array", "POST", DECIDE, js(decision(result=["Approved"])), field="result"),
    Case("decide-approver-missing", "POST", DECIDE, js(decision(approver=MISSING)), field="approver"),
    Case("decide-approver-header-injection", "POST", DECIDE,
         js(decision(approver="boss@example.com\r\nBcc: all@example.com")), field="approver"),
    Case("decide-approver-zero-width", "POST", DECIDE, js(decision(approver="boss\u200b@example.com")),
         field="approver"),
    Case("decide-comment-number", "POST", DECIDE, js(decision(comment=5)), field="comment"),
    Case("decide-comment-1001-chars", "POST", DECIDE, js(decision(comment="x" * 1001)), field="comment"),
    Case("decide-form-encoded", "POST", DECIDE, b"instanceId=leave-1&result=Approved", field="body",
         headers={"Content-Type": "application/x-www-form-urlencoded"}),
    Case("decide-body-5mb", "POST", DECIDE, js(decision(comment="x" * (5 * MB))), status=413, field="body"),
    Case("decide-get-method", "GET", DECIDE, status=405, by_host=True, headers={}),
    # --- Durable HTTP management API (the extension's behaviour: 400 bad argument, 404 unknown) ---
    Case("mgmt-status-unknown-instance", "GET", f"{WEBHOOK}/instances/no-such-instance", status=404, by_host=True),
    Case("mgmt-status-control-character-id", "GET", f"{WEBHOOK}/instances/a%01b", status=404, by_host=True),
    Case("mgmt-status-odata-injection-id", "GET", f"{WEBHOOK}/instances/x%27%20or%20PartitionKey%20ne%20%27",
         status=404, by_host=True),
    Case("mgmt-status-500-char-id", "GET", f"{WEBHOOK}/instances/{'x' * 500}", status=404, by_host=True),
    # A query value the extension cannot parse is ignored (200), not refused: tests/conformance/test_http_api.py.
    # Raise event checks the instance first (404), then the media type and the JSON (HttpApiHandler).
    Case("mgmt-raise-event-invalid-json", "POST", f"{WEBHOOK}/instances/no-such-instance/raiseEvent/ApprovalResult",
         b"{bad", status=404, by_host=True),
    Case("mgmt-raise-event-empty-body", "POST", f"{WEBHOOK}/instances/no-such-instance/raiseEvent/ApprovalResult",
         b"", status=404, by_host=True),
    Case("mgmt-raise-event-text-plain", "POST", f"{WEBHOOK}/instances/no-such-instance/raiseEvent/ApprovalResult",
         b'{"ok": true}', status=404, by_host=True, headers={"Content-Type": "text/plain"}),
    Case("mgmt-raise-event-unknown-instance", "POST",
         f"{WEBHOOK}/instances/no-such-instance/raiseEvent/ApprovalResult", b'{"ok": true}', status=404,
         by_host=True),
    Case("mgmt-terminate-unknown-instance", "POST", f"{WEBHOOK}/instances/no-such-instance/terminate?reason=x",
         status=404, by_host=True, headers={}),
    Case("mgmt-suspend-unknown-instance", "POST", f"{WEBHOOK}/instances/no-such-instance/suspend", status=404,
         by_host=True, headers={}),
    Case("mgmt-resume-unknown-instance", "POST", f"{WEBHOOK}/instances/no-such-instance/resume", status=404,
         by_host=True, headers={}),
    Case("mgmt-restart-unknown-instance", "POST", f"{WEBHOOK}/instances/no-such-instance/restart", status=400,
         by_host=True, headers={}),  # an ArgumentException in DurableClient.RestartAsync
    Case("mgmt-purge-unknown-instance", "DELETE", f"{WEBHOOK}/instances/no-such-instance", status=404, by_host=True,
         headers={}),
    Case("mgmt-purge-by-filter-without-created-from", "DELETE", f"{WEBHOOK}/instances?runtimeStatus=Completed",
         by_host=True, headers={}),
    Case("mgmt-purge-by-filter-bad-date", "DELETE", f"{WEBHOOK}/instances?createdTimeFrom=notadate", by_host=True,
         headers={}),
    Case("mgmt-start-unknown-orchestrator", "POST", f"{WEBHOOK}/orchestrators/NoSuchOrchestrator", b"{}",
         by_host=True),
    Case("mgmt-start-instance-id-with-hash", "POST", f"{WEBHOOK}/orchestrators/OrderProcessing_Orchestrator/a%23b",
         b"{}", by_host=True),
    Case("mgmt-start-instance-id-101-chars", "POST",
         f"{WEBHOOK}/orchestrators/OrderProcessing_Orchestrator/{'i' * 101}", b"{}", by_host=True),
    Case("mgmt-query-garbage-continuation-token", "GET", f"{WEBHOOK}/instances", by_host=True,
         headers={"x-ms-continuation-token": "%%%not-base64"}),
    Case("mgmt-query-continuation-token-not-a-number", "GET", f"{WEBHOOK}/instances", by_host=True,
         headers={"x-ms-continuation-token": "bm90LWEtbnVtYmVy"}),
]

ENDPOINTS = {"orders": ORDERS, "batch": BATCH, "leave": LEAVE, "decide": DECIDE, "management": WEBHOOK}


def endpoint(case: Case) -> str:
    """Which endpoint a case calls (a name of ENDPOINTS)."""
    path = case.path.split("?")[0]
    return next(name for name, prefix in ENDPOINTS.items() if path == prefix or path.startswith(prefix + "/"))


# --- storage snapshots --------------------------------------------------------------------------

Snapshot = dict[str, Any]


def storage_snapshot(connection_string: str) -> Snapshot:
    """Everything in the storage account: blobs (name, ETag), entities (keys, ETag), queue lengths."""
    snapshot: Snapshot = {}
    blobs = BlobServiceClient.from_connection_string(connection_string)
    for container in blobs.list_containers():
        client = blobs.get_container_client(container.name)
        snapshot[f"container {container.name}"] = frozenset((b.name, b.etag) for b in client.list_blobs())
    tables = TableServiceClient.from_connection_string(connection_string)
    for table in tables.list_tables():
        rows = tables.get_table_client(table.name).list_entities(select=["PartitionKey", "RowKey"])
        snapshot[f"table {table.name}"] = frozenset((r["PartitionKey"], r["RowKey"], r.metadata["etag"]) for r in rows)
    queues = QueueServiceClient.from_connection_string(connection_string)
    for queue in queues.list_queues():
        properties = queues.get_queue_client(queue.name).get_queue_properties()
        snapshot[f"queue {queue.name}"] = properties.approximate_message_count
    return snapshot


def snapshot_changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What differs, readably (empty when nothing does)."""
    changes = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if old is None or new is None:
            changes.append(f"{key}: {'created' if old is None else 'deleted'}")
        elif isinstance(old, frozenset):
            added, removed = sorted(new - old, key=str)[:5], sorted(old - new, key=str)[:5]
            changes.append(f"{key}: added {added}, removed {removed}")
        else:
            changes.append(f"{key}: {old} -> {new} messages")
    return changes


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host(azurite: azurite_control.Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    seed()
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "TASKHUB_NAME": HUB,
        "BATCH_INPUT_CONTAINER": INPUT_CONTAINER,
        "BATCH_MAX_FILES": str(MAX_FILES),
        "LEAVE_MAX_DAYS": "30",
    }
    running = start_devhost(ROOT, tmp_path_factory.mktemp("corpus") / "host.log", env)
    yield running
    running.stop()


def instances(host: RunningHost) -> list[dict[str, Any]]:
    """Every orchestration instance in the host's task hub."""
    response = requests.get(f"{host.base_url}{WEBHOOK}/instances?showInput=true", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def baseline(host: RunningHost, azurite: azurite_control.Azurite) -> Snapshot:
    """Storage as the idle host leaves it, before the first case (the host's task hub is open by then)."""
    assert instances(host) == []
    return storage_snapshot(azurite.connection_string)


@pytest.fixture(scope="module")
def latest(baseline: Snapshot) -> dict[str, Any]:
    """What the previous case left: the storage `snapshot` and the `instances` ids (from the baseline on)."""
    return {"snapshot": baseline, "instances": set()}


# --- tests -------------------------------------------------------------------------------------


def test_the_corpus_covers_every_endpoint() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 50
    per_endpoint = {name: sum(endpoint(case) == name for case in CASES) for name in ENDPOINTS}
    assert min(per_endpoint.values()) >= 10, per_endpoint


def test_an_idle_host_writes_nothing(host: RunningHost, baseline: Snapshot, azurite: azurite_control.Azurite) -> None:
    time.sleep(IDLE_SECONDS)
    assert snapshot_changes(baseline, storage_snapshot(azurite.connection_string)) == []


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_malformed_request_gets_a_4xx_and_changes_nothing(
    case: Case, host: RunningHost, latest: dict[str, Any], azurite: azurite_control.Azurite
) -> None:
    response = requests.request(case.method, host.base_url + case.path, data=case.body, headers=dict(case.headers),
                                timeout=60)
    # Look at the host before any assertion, so the next case is compared with what this one left.
    known, latest["instances"] = latest["instances"], {status["instanceId"] for status in instances(host)}
    before, latest["snapshot"] = latest["snapshot"], storage_snapshot(azurite.connection_string)

    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    assert response.status_code == case.status, response.text[:500]
    content_type = response.headers.get("Content-Type", "")
    if case.by_host:
        if response.content:  # the extension's errors: empty, a JSON string (CreateResponse), or {"Message": ...}
            assert content_type.startswith("application/json"), (content_type, response.text[:200])
            body = response.json()
            assert body if isinstance(body, str) else body["Message"]
    else:
        assert content_type.startswith("application/json"), (content_type, response.text[:200])
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"].strip(), body
        assert "field" in body, body
        if case.field is not None:
            assert body["field"] == case.field, body
    assert latest["instances"] <= known, f"instances were started: {sorted(latest['instances'] - known)}"
    assert snapshot_changes(before, latest["snapshot"]) == [], "storage was written"


def test_after_the_corpus_nothing_was_started_written_or_crashed(
    host: RunningHost, baseline: Snapshot, azurite: azurite_control.Azurite
) -> None:
    """A last look after a pause, for anything the host might do after answering; and no unhandled error."""
    time.sleep(IDLE_SECONDS)
    assert instances(host) == []
    assert snapshot_changes(baseline, storage_snapshot(azurite.connection_string)) == []
    log = host.log()
    assert "(Failed)" not in log and "Traceback" not in log, log[-3000:]
