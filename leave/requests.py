"""Validation of the leave workflow's HTTP input (pure: no I/O, no clock).

A leave request, for `LeaveApproval_Client`:
  - `employeeId`: 1-64 letters, digits, `_` or `-`, starting with a letter or digit.
  - `employeeEmail`, `approverEmail`: plain addresses (`local@domain.tld`), at most 254
    characters; the approver must be someone else (no approving one's own leave).
  - `startDate`, `endDate`: ISO dates `YYYY-MM-DD`; the leave covers both days, so a
    one-day leave has startDate == endDate. startDate is not before today (UTC),
    endDate not before startDate, and the leave is at most `max_days` days long.
  - `reason`: 1-1000 characters.
  - `requestId`: optional, the caller's own id for the request (1-64 letters, digits, `_`
    or `-`, starting with a letter or digit). The workflow is then `leave-<requestId>`, so
    a repeated call finds it instead of starting a second request (idempotent retries).

A decision, for `SubmitApprovalResult`:
  - `instanceId`: the workflow instance (1-100 letters, digits, `_`, `-`, `.`, `:`,
    starting with a letter or digit, so it is safe inside the management URL).
  - `result`: exactly `Approved` or `Rejected`.
  - `approver`: a plain e-mail address.
  - `comment`: optional, a string of at most 1000 characters (null means none).
Every problem is a `RequestError` naming the offending field.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from common.http import RequestError
from common.payloads import decode_payload
from common.validation import require_string, validate_email, validate_identifier
from leave.contract import APPROVED, MAX_COMMENT, REJECTED, RESULTS, RecordedDecision

INSTANCE_PREFIX = "leave-"
INSTANCE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_REASON = 1000


@dataclass(frozen=True)
class LeaveRequest:
    """A validated leave request."""

    employee_id: str
    employee_email: str
    approver_email: str
    start_date: date
    end_date: date
    reason: str
    request_key: str | None = None  # the caller's `requestId`, if it chose one

    @property
    def instance_id(self) -> str | None:
        """`leave-<requestId>` when the caller chose an id (then retries are idempotent), else None."""
        return f"{INSTANCE_PREFIX}{self.request_key}" if self.request_key else None

    @property
    def days(self) -> int:
        """Calendar days of leave, both ends included."""
        return (self.end_date - self.start_date).days + 1

    def to_json(self) -> dict[str, Any]:
        return {"employeeId": self.employee_id, "employeeEmail": self.employee_email,
                "approverEmail": self.approver_email, "startDate": self.start_date.isoformat(),
                "endDate": self.end_date.isoformat(), "days": self.days, "reason": self.reason}


@dataclass(frozen=True)
class Decision:
    """A validated approval decision."""

    instance_id: str
    result: str
    approver: str
    comment: str | None

    def event_data(self) -> dict[str, Any]:
        """The payload of the `ApprovalResult` event."""
        return {"result": self.result, "approver": self.approver, "comment": self.comment}


def new_request_id() -> str:
    """A fresh request id, also the workflow's instance id: `leave-<32 hex digits>`."""
    return f"{INSTANCE_PREFIX}{uuid.uuid4().hex}"


def parse_leave_request(body: Any, *, today: date, max_days: int) -> LeaveRequest:
    """Validate a leave request body against today's date (UTC) and the configured maximum length."""
    body = _object(body)
    employee_id = validate_identifier(body.get("employeeId"), "employeeId")
    employee_email = validate_email(body.get("employeeEmail"), "employeeEmail")
    approver_email = validate_email(body.get("approverEmail"), "approverEmail")
    if approver_email.lower() == employee_email.lower():
        raise RequestError("approverEmail must be someone other than the employee.", "approverEmail")
    start = _date(body.get("startDate"), "startDate")
    end = _date(body.get("endDate"), "endDate")
    if start < today:
        raise RequestError(f"startDate {start.isoformat()} is in the past (today is {today.isoformat()} UTC).",
                           "startDate")
    if end < start:
        raise RequestError("endDate must not be before startDate.", "endDate")
    days = (end - start).days + 1
    if days > max_days:
        raise RequestError(f"Leave of {days} days is longer than the maximum of {max_days} days.", "endDate",
                           maxDays=max_days)
    reason = body.get("reason")
    if reason is None or (isinstance(reason, str) and not reason.strip()):
        raise RequestError("reason is required.", "reason")
    if not isinstance(reason, str):
        raise RequestError("reason must be a string.", "reason")
    if len(reason) > MAX_REASON:
        raise RequestError(f"reason may be at most {MAX_REASON} characters.", "reason")
    request_key = None if body.get("requestId") is None else validate_identifier(body["requestId"], "requestId")
    return LeaveRequest(employee_id, employee_email, approver_email, start, end, reason.strip(), request_key)


def parse_decision(body: Any, *, signed_in: str | None = None) -> Decision:
    """Validate a decision body `{"instanceId", "result", "approver", "comment"}`.

    With `signed_in` (the user App Service Authentication signed in) that user is the approver:
    `approver` may then be left out, and if given must be the same address (else 403).
    """
    body = _object(body)
    instance_id = require_string(body.get("instanceId"), "instanceId")
    if not INSTANCE_ID_PATTERN.fullmatch(instance_id):
        raise RequestError("instanceId is not a valid instance id.", "instanceId")
    result = body.get("result")
    if result is None or result == "":
        raise RequestError("result is required.", "result")
    if result not in RESULTS:
        raise RequestError(f"result must be {APPROVED!r} or {REJECTED!r}.", "result")
    if signed_in is None:
        approver = validate_email(body.get("approver"), "approver")
    else:
        approver = _signed_in_approver(signed_in, body.get("approver"))
    comment = body.get("comment")
    if comment is not None:
        if not isinstance(comment, str):
            raise RequestError("comment must be a string.", "comment")
        if len(comment) > MAX_COMMENT:
            raise RequestError(f"comment may be at most {MAX_COMMENT} characters.", "comment")
        comment = comment.strip() or None
    return Decision(instance_id, result, approver, comment)


def _signed_in_approver(signed_in: str, stated: Any) -> str:
    try:
        user = validate_email(signed_in, "approver")
    except RequestError as error:
        raise RequestError("The signed-in user's name is not an e-mail address, so it cannot be an approver.",
                           "approver", status=403) from error
    if stated not in (None, "") and (not isinstance(stated, str) or stated.strip().lower() != user.lower()):
        raise RequestError("approver must be the signed-in user (or left out).", "approver", status=403)
    return user


def _object(body: Any) -> dict[str, Any]:
    if body is None:
        raise RequestError("A JSON body is required.", "body")
    if not isinstance(body, dict):
        raise RequestError("Request body must be a JSON object.", "body")
    return body


def _date(value: Any, field: str) -> date:
    value = require_string(value, field, must_be="a string (YYYY-MM-DD)")
    if not DATE_PATTERN.fullmatch(value):
        raise RequestError(f"{field} must be an ISO date (YYYY-MM-DD).", field)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise RequestError(f"{field} is not a valid date: {exc}.", field) from exc


def decision_in(payload: Any) -> RecordedDecision | None:
    """`{"result", "approver", "comment"}` from a decision that was already accepted once (an `ApprovalResult`
    event's payload, object or JSON text, or a decision recorded in the request row), or None if it is not one.

    Lenient where `parse_decision` is strict: it reads what the system itself wrote (or what somebody raised
    past SubmitApprovalResult, which the orchestrator then checks against the row), so it never raises and
    returns a plain dict that an orchestrator can keep in its replay-safe state.
    """
    payload = decode_payload(payload)
    if not isinstance(payload, dict):
        return None
    raw = payload.get("result")
    result = {"approved": APPROVED, "rejected": REJECTED}.get(raw.strip().lower()) if isinstance(raw, str) else None
    if result is None:
        return None
    approver = payload.get("approver")
    comment = payload.get("comment")
    return {
        "result": result,
        "approver": approver.strip() if isinstance(approver, str) and approver.strip() else None,
        "comment": comment[:MAX_COMMENT] if isinstance(comment, str) and comment.strip() else None,
    }
