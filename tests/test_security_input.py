"""Security review (SECURITY.md): input handling that has no other test of its own.

* Body size: every starter reads at most `read_json_body`'s limit and answers 413 beyond it.
* Table queries: no OData filter is built by formatting values into it (injection); values go
  in as `parameters=`. Checked on the source, so a new query is held to it too.
* E-mails: plain text, and free text (reason, comment) can never add a header.
"""

from __future__ import annotations

import ast
import json
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import azure.functions as func
import pytest

from clients.batch_client import MAX_BODY_BYTES as BATCH_MAX_BODY_BYTES
from common.http import RequestError, read_json_body
from leave.emails import render_approval_request, render_outcome
from leave.store import LeaveRecord, LeaveStatus
from tests.test_leave_client import HostlessClient as LeaveHostlessClient
from tests.test_leave_client import call, leave_body
from tests.test_order_client import HostlessClient as OrderHostlessClient
from tests.test_order_client import send

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("activities", "clients", "common", "orchestrators", "dfctl", "devhost", "tools", "bench")
FILTER_METHODS = {"query_entities", "query_tables"}
INJECTION = "\r\nBcc: everyone@example.com\r\nContent-Type: text/html\r\n\r\n<script>alert(1)</script>"


# --- body size ---------------------------------------------------------------------------------


def request(body: bytes) -> func.HttpRequest:
    return func.HttpRequest("POST", "http://localhost:7071/api/x", body=body,
                            headers={"Content-Type": "application/json"})


def test_read_json_body_refuses_a_body_over_its_limit() -> None:
    assert read_json_body(request(b'"' + b"x" * (64 * 1024 - 2) + b'"')) == "x" * (64 * 1024 - 2)
    with pytest.raises(RequestError) as raised:
        read_json_body(request(b" " * (64 * 1024 + 1)))
    assert (raised.value.status, raised.value.field) == (413, "body")
    with pytest.raises(RequestError):
        read_json_body(request(b" " * (BATCH_MAX_BODY_BYTES + 1)), max_bytes=BATCH_MAX_BODY_BYTES)


@pytest.mark.usefixtures("azurite")
def test_the_starters_answer_413_to_an_oversize_body_and_start_nothing() -> None:
    padding = "x" * (64 * 1024)
    leave = LeaveHostlessClient()
    assert call(leave, "LeaveApproval_Client", leave_body(reason=padding))[0] == 413
    assert call(leave, "SubmitApprovalResult", {"instanceId": "leave-1", "comment": padding})[0] == 413
    order = OrderHostlessClient()
    assert send(order, body={"orderId": "A-1", "customerEmail": "a@example.com", "padding": padding})[0] == 413
    assert leave.started == [] and leave.raised == [] and order.started == []


# --- table queries -----------------------------------------------------------------------------


def _formatted(node: ast.AST) -> bool:
    """Whether an expression formats values into a string (f-string, %, + of strings, .format)."""
    for child in ast.walk(node):
        if isinstance(child, ast.JoinedStr):
            return True
        if isinstance(child, ast.BinOp) and isinstance(child.op, ast.Mod) and isinstance(child.left, ast.Constant):
            return True
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) and child.func.attr == "format":
            return True
        if isinstance(child, ast.BinOp) and isinstance(child.op, ast.Add) and any(
                isinstance(side, ast.Constant) and isinstance(side.value, str) for side in (child.left, child.right)):
            return True
    return False


def test_no_table_filter_is_built_by_formatting_values_into_it() -> None:
    checked, offending = 0, []
    for directory in SOURCE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in FILTER_METHODS):
                    continue
                checked += 1
                filters = node.args[:1] + [kw.value for kw in node.keywords if kw.arg in ("query_filter", "filter")]
                if any(_formatted(expression) for expression in filters):
                    offending.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert checked >= 5, "the scan found no queries: has the API changed?"
    assert not offending, "OData filters with formatted values (use parameters=):\n" + "\n".join(offending)


def test_the_scan_would_catch_an_injectable_filter() -> None:
    bad = ast.parse('t.query_entities(f"PartitionKey eq \'{sku}\'")').body[0].value
    good = ast.parse('t.query_entities("PartitionKey eq @pk", parameters={"pk": sku})').body[0].value
    joined = ast.parse('t.query_entities(" and ".join(clauses), parameters=p)').body[0].value
    assert _formatted(bad.args[0]) and not _formatted(good.args[0]) and not _formatted(joined.args[0])


# --- e-mails -----------------------------------------------------------------------------------


def record(**overrides: object) -> LeaveRecord:
    values: dict[str, object] = dict(
        request_id="leave-abc", instance_id="leave-abc", employee_id="E-1", employee_email="ann@example.com",
        approver_email="boss@example.com", start_date="2099-07-01", end_date="2099-07-02", days=2,
        reason="Holiday" + INJECTION, submitted_at="2099-06-01T00:00:00.000Z", deadline="2099-06-04T00:00:00.000Z")
    values.update(overrides)
    return LeaveRecord(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("rendered", [
    lambda: render_approval_request(record(), "http://localhost:7071/api/SubmitApprovalResult"),
    lambda: render_approval_request(record(), "http://localhost:7071/api/SubmitApprovalResult",
                                    reminder_at="2099-06-02T12:00:00.000Z"),
    lambda: render_outcome(record(status=LeaveStatus.APPROVED, decided_by="boss@example.com",
                                  decided_at="2099-06-02T00:00:00.000Z", comment="Enjoy" + INJECTION)),
], ids=["approval-request", "reminder", "outcome"])
def test_free_text_cannot_add_a_header_or_html_to_a_leave_email(rendered) -> None:  # type: ignore[no-untyped-def]
    message = message_from_bytes(rendered(), policy=default_policy)
    assert message.get_content_type() == "text/plain" and not message.is_multipart()
    assert "Bcc" not in message and message.get_all("Content-Type") == [message["Content-Type"]]
    assert {name.lower() for name in message.keys()} <= {  # noqa: SIM118 - keys() lists repeated headers
        "from", "to", "cc", "subject", "message-id", "date", "in-reply-to", "content-type",
        "content-transfer-encoding", "mime-version"}
    assert "<script>" in message.get_content()  # kept as text, in the body only, for a text/plain reader
    assert json.dumps(message["Subject"])  # one line
