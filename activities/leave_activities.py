"""The leave workflow's activities: the request row and the e-mails in the outbox.

Contract with LeaveApproval_Orchestrator (JSON objects, typed in leave.contract; times are
ISO 8601 UTC strings from the orchestration clock, so a repeat writes the same data):

    SubmitLeaveRequest   {requestId, instanceId, employeeId, employeeEmail, approverEmail, startDate,
                          endDate, days, reason, submittedAt, deadline, approvalUrl}
                         -> {requestId, status: "Pending", blobName}
    SendApprovalReminder {requestId, approvalUrl, remindedAt}
                         -> {sent: bool, status, blobName: str|None}
    ConfirmLeaveDecision {requestId}
                         -> {confirmed: true, status, decision: {result, approver, comment}}
                          | {confirmed: false, status, decision: null}
    NotifyApproval       {requestId, approver, comment, decidedAt} -> {requestId, status: "Approved", blobName}
    NotifyRejection      {requestId, approver, comment, decidedAt} -> {requestId, status: "Rejected", blobName}
    ExpireLeaveRequest   {requestId, decidedAt}
                         -> {expired: true, status: "Expired", blobName}
                          | {expired: false, status, decision: {result, approver, comment}}

ConfirmLeaveDecision is asked when an `ApprovalResult` event arrives: only a decision
that SubmitApprovalResult recorded in the row counts (an event raised through the
management API skips its checks), and confirming it locks the record, so the claimant
can no longer withdraw it. NotifyApproval and NotifyRejection therefore only finalize
a recorded decision. ExpireLeaveRequest returns a decision instead of expiring when
SubmitApprovalResult recorded one just before the deadline (its event is on the way):
that decision stands.
Activities run at least once, so each is idempotent: a repeat finds the row already
changed, changes nothing more, and rewrites the same e-mail blob with the same bytes.
Storage errors raise (the orchestrator retries); so does a ValueError for a request
that does not exist or is already decided otherwise (a bug, not a business outcome).
"""

from __future__ import annotations

import logging
from typing import Any, cast

import azure.durable_functions as df

from common.etag import Changed, ContentionError, read_modify_write
from common.logging import mask_email
from leave import emails as leave_emails
from leave import store as leave_store
from leave.contract import (
    CONFIRM_LEAVE_DECISION,
    EXPIRE_LEAVE_REQUEST,
    NOTIFY_APPROVAL,
    NOTIFY_REJECTION,
    SEND_APPROVAL_REMINDER,
    SUBMIT_LEAVE_REQUEST,
    DecisionConfirmation,
    ExpiryOutcome,
    Notified,
    RecordedDecision,
    ReminderSent,
    Submitted,
)
from leave.store import LeaveRecord, LeaveStatus

bp = df.Blueprint()
log = logging.getLogger("leave")

# A decision recorded by SubmitApprovalResult (claimed), or already applied (a repeated confirmation).
_DECIDED_BY_APPROVER = frozenset({LeaveStatus.DECISION_RECEIVED, LeaveStatus.APPROVED, LeaveStatus.REJECTED})
_SUBMIT_FIELDS = ("requestId", "instanceId", "employeeId", "employeeEmail", "approverEmail", "startDate", "endDate",
                  "days", "reason", "submittedAt", "deadline", "approvalUrl")


@bp.function_name(SUBMIT_LEAVE_REQUEST)
@bp.activity_trigger(input_name="payload")
def submit_leave_request(payload: dict) -> Submitted:
    """Store the request as Pending (once) and ask the approver to decide."""
    data = _require(payload, *_SUBMIT_FIELDS)
    request_id = str(data["requestId"])
    record = LeaveRecord(
        request_id=request_id, instance_id=str(data["instanceId"]), employee_id=str(data["employeeId"]),
        employee_email=str(data["employeeEmail"]), approver_email=str(data["approverEmail"]),
        start_date=str(data["startDate"]), end_date=str(data["endDate"]), days=int(data["days"]),
        reason=str(data["reason"]), submitted_at=str(data["submittedAt"]), deadline=str(data["deadline"]),
    )
    created = leave_store.create_request(record)
    stored = leave_store.get_request(request_id)
    blob_name = None
    if stored.status in leave_store.OPEN:
        blob_name = leave_emails.write_approval_request(stored, str(data["approvalUrl"]))
    log.info("leave %s: %s, approval request %s", request_id, "stored" if created else "already stored",
             blob_name or "not sent (already decided)", extra={"request_id": request_id})
    return {"requestId": request_id, "status": stored.status.value, "blobName": blob_name}


@bp.function_name(SEND_APPROVAL_REMINDER)
@bp.activity_trigger(input_name="payload")
def send_approval_reminder(payload: dict) -> ReminderSent:
    """Remind the approver, unless a decision has arrived meanwhile."""
    data = _require(payload, "requestId", "approvalUrl", "remindedAt")
    request_id = str(data["requestId"])
    record = leave_store.get_request(request_id)
    if record.status is not LeaveStatus.PENDING:
        log.info("leave %s: no reminder, the request is %s", request_id, record.status.value,
                 extra={"request_id": request_id})
        return {"sent": False, "status": record.status.value, "blobName": None}
    reminded_at = record.reminder_sent_at or str(data["remindedAt"])
    blob_name = leave_emails.write_reminder(record, str(data["approvalUrl"]), reminded_at)
    leave_store.mark_reminder_sent(request_id, reminded_at)
    log.info("leave %s: reminder written to %s", request_id, blob_name, extra={"request_id": request_id})
    return {"sent": True, "status": record.status.value, "blobName": blob_name}


@bp.function_name(CONFIRM_LEAVE_DECISION)
@bp.activity_trigger(input_name="payload")
def confirm_leave_decision(payload: dict) -> DecisionConfirmation:
    """The decision SubmitApprovalResult recorded, locked so it can no longer be withdrawn; or none."""
    record = leave_store.confirm_claim(str(_require(payload, "requestId")["requestId"]))
    confirmed = record.status in _DECIDED_BY_APPROVER  # if not, the orchestrator logs the ignored event
    return {"confirmed": confirmed, "status": record.status.value, "decision": _decision(record) if confirmed else None}


@bp.function_name(NOTIFY_APPROVAL)
@bp.activity_trigger(input_name="payload")
def notify_approval(payload: dict) -> Notified:
    """Mark the request Approved (by whom, when) and tell the employee."""
    return _decide(payload, LeaveStatus.APPROVED)


@bp.function_name(NOTIFY_REJECTION)
@bp.activity_trigger(input_name="payload")
def notify_rejection(payload: dict) -> Notified:
    """Mark the request Rejected (by whom, when) and tell the employee."""
    return _decide(payload, LeaveStatus.REJECTED)


@bp.function_name(EXPIRE_LEAVE_REQUEST)
@bp.activity_trigger(input_name="payload")
def expire_leave_request(payload: dict) -> ExpiryOutcome:
    """At the deadline: mark the request Expired (by `system`) and tell the employee, unless a decision came first."""
    data = _require(payload, "requestId", "decidedAt")
    request_id = str(data["requestId"])

    def attempt() -> ExpiryOutcome:
        record = leave_store.expire(request_id, str(data["decidedAt"]))
        if record.status is LeaveStatus.EXPIRED:
            blob_name = leave_emails.write_outcome(record)
            log.info("leave %s: expired, employee told in %s", request_id, blob_name,
                     extra={"request_id": request_id})
            return {"expired": True, "status": record.status.value, "blobName": blob_name}
        if record.status is LeaveStatus.DECISION_RECEIVED:
            record = leave_store.confirm_claim(request_id)
            if record.status is LeaveStatus.PENDING:
                raise Changed  # the claimant withdrew its claim (its event could not be raised): expire after all
        log.info("leave %s: not expired, %s by %s came first", request_id, record.decision,
                 mask_email(record.decided_by), extra={"request_id": request_id})
        return {"expired": False, "status": record.status.value, "decision": _decision(record)}

    return read_modify_write(attempt, lambda: ContentionError(
        f"Could not expire leave request {request_id}: its decision kept changing."))


def _decide(payload: Any, status: LeaveStatus) -> Notified:
    data = _require(payload, "requestId", "approver", "decidedAt")
    request_id = str(data["requestId"])
    comment = data.get("comment")
    try:
        record = leave_store.finalize(request_id, status, str(data["approver"]), str(data["decidedAt"]),
                                      str(comment) if comment else None)
    except leave_store.LeaveStateError as error:
        raise ValueError(str(error)) from error
    blob_name = leave_emails.write_outcome(record)
    log.info("leave %s: %s by %s, employee told in %s", request_id, status.value, mask_email(record.decided_by),
             blob_name, extra={"request_id": request_id})
    return {"requestId": request_id, "status": record.status.value, "decidedBy": record.decided_by,
            "decidedAt": record.decided_at, "blobName": blob_name}


def _decision(record: LeaveRecord) -> RecordedDecision:
    """The decision the row records, as the orchestrator reads it."""
    # Only called for a row that records a decision (DecisionReceived or final), so `decision` is set.
    return {"result": cast(str, record.decision), "approver": record.decided_by, "comment": record.comment}


def _require(payload: Any, *fields: str) -> dict[str, Any]:
    """The activity input, or ValueError naming what is missing (a bug in the caller, not bad user input)."""
    if not isinstance(payload, dict):
        raise ValueError(f"Activity input must be an object, got {payload!r}.")
    missing = [name for name in fields if payload.get(name) in (None, "")]
    if missing:
        raise ValueError(f"Activity input lacks {', '.join(missing)}.")
    return payload
