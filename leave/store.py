"""Leave requests in Azure Storage, and who gets to decide them.

Rows live in the `LEAVE_REQUESTS_TABLE` table (default `LeaveRequests`, see
`leave.settings`): PartitionKey = requestId (`leave-<hex>`, also the
workflow's instance id), RowKey `request`.

Statuses (`LeaveStatus`):

    Pending ──(SubmitApprovalResult claims it)──> DecisionReceived ──> Approved | Rejected
    Pending ──(deadline passed)──> Expired

There is no way from Pending to Approved or Rejected without a claim: the workflow
acts only on a decision recorded here (an event raised past SubmitApprovalResult,
through the management API, finds no claim and is ignored).

The three last ones are final: the row then says who decided (`DecidedBy`: the
approver's address, or `system` for an expiry), when (`DecidedAt`, the
orchestration's clock) and any `Comment`.

Deciding is race-free because every change of `Status` is an ETag-conditional
update of this one row. `claim_decision` (the HTTP side) moves Pending ->
DecisionReceived and records the decision before the event is raised, so of two
concurrent decisions exactly one wins. If the event cannot be raised, the claimant
undoes its claim (`release_claim`), unless the workflow has confirmed it first
(`confirm_claim`, `DecisionConfirmedAt`: the workflow acts on it now). `expire` (the
deadline side) moves Pending -> Expired only if no decision was claimed; if one
was, the deadline confirms and honours it instead of expiring the request. A change
of some other column (a reminder being recorded) makes a conditional update retry,
never fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from common.clock import utc_now_iso
from common.etag import Changed, ContentionError, read_modify_write
from common.resources import find_row, table
from leave import contract
from leave.contract import SYSTEM
from leave.settings import LEAVE_REQUESTS_TABLE

ROW_KEY = "request"


class LeaveStatus(StrEnum):
    PENDING = "Pending"
    DECISION_RECEIVED = "DecisionReceived"
    APPROVED = contract.APPROVED
    REJECTED = contract.REJECTED
    EXPIRED = contract.EXPIRED
    CANCELLED = contract.CANCELLED  # its workflow ended without a decision (terminated, failed, or purged unfinished)


FINAL = frozenset({LeaveStatus.APPROVED, LeaveStatus.REJECTED, LeaveStatus.EXPIRED, LeaveStatus.CANCELLED})
OPEN = frozenset({LeaveStatus.PENDING, LeaveStatus.DECISION_RECEIVED})


class UnknownLeaveRequestError(ValueError):
    """No leave request has this id."""


class LeaveStateError(ValueError):
    """The request is not in a state that allows the change; `record` is how it is now."""

    def __init__(self, message: str, record: LeaveRecord):
        super().__init__(message)
        self.record = record


@dataclass
class LeaveRecord:
    """A leave request as stored."""

    request_id: str
    instance_id: str
    employee_id: str
    employee_email: str
    approver_email: str
    start_date: str
    end_date: str
    days: int
    reason: str
    submitted_at: str
    deadline: str
    status: LeaveStatus = LeaveStatus.PENDING
    decision: str | None = None  # the result claimed or applied: Approved | Rejected
    decided_by: str | None = None
    decided_at: str | None = None
    comment: str | None = None
    decision_received_at: str | None = None
    decision_confirmed_at: str | None = None  # the workflow acts on the claim: it can no longer be released
    reminder_sent_at: str | None = None
    created_at: str = ""
    updated_at: str = ""
    etag: str | None = None

    def to_entity(self) -> dict[str, Any]:
        entity = {
            "PartitionKey": self.request_id, "RowKey": ROW_KEY, "RequestId": self.request_id,
            "InstanceId": self.instance_id, "EmployeeId": self.employee_id, "EmployeeEmail": self.employee_email,
            "ApproverEmail": self.approver_email, "StartDate": self.start_date, "EndDate": self.end_date,
            "Days": self.days, "Reason": self.reason, "SubmittedAt": self.submitted_at, "Deadline": self.deadline,
            "Status": self.status.value, "Decision": self.decision, "DecidedBy": self.decided_by,
            "DecidedAt": self.decided_at, "Comment": self.comment, "DecisionReceivedAt": self.decision_received_at,
            "DecisionConfirmedAt": self.decision_confirmed_at, "ReminderSentAt": self.reminder_sent_at,
            "CreatedAt": self.created_at, "UpdatedAt": self.updated_at,
        }
        return {key: value for key, value in entity.items() if value is not None}

    @classmethod
    def from_entity(cls, entity: Any) -> LeaveRecord:
        metadata = getattr(entity, "metadata", None) or {}
        return cls(
            request_id=entity["PartitionKey"], instance_id=entity.get("InstanceId", entity["PartitionKey"]),
            employee_id=entity["EmployeeId"], employee_email=entity["EmployeeEmail"],
            approver_email=entity["ApproverEmail"], start_date=entity["StartDate"], end_date=entity["EndDate"],
            days=int(entity["Days"]), reason=entity["Reason"], submitted_at=entity["SubmittedAt"],
            deadline=entity["Deadline"], status=LeaveStatus(entity["Status"]), decision=entity.get("Decision"),
            decided_by=entity.get("DecidedBy"), decided_at=entity.get("DecidedAt"), comment=entity.get("Comment"),
            decision_received_at=entity.get("DecisionReceivedAt"),
            decision_confirmed_at=entity.get("DecisionConfirmedAt"), reminder_sent_at=entity.get("ReminderSentAt"),
            created_at=entity.get("CreatedAt", ""), updated_at=entity.get("UpdatedAt", ""),
            etag=metadata.get("etag"),
        )


def create_request(record: LeaveRecord) -> bool:
    """Store a new request as Pending. False (and nothing changed) when the row already exists."""
    now = utc_now_iso()
    record.created_at = record.created_at or now
    record.updated_at = now
    try:
        table(LEAVE_REQUESTS_TABLE).create_entity(record.to_entity())
    except ResourceExistsError:
        return False
    return True


def find_request(request_id: str) -> LeaveRecord | None:
    """The request with this id (with its ETag), or None."""
    row = find_row(table(LEAVE_REQUESTS_TABLE), request_id, ROW_KEY)
    return LeaveRecord.from_entity(row) if row is not None else None


def get_request(request_id: str) -> LeaveRecord:
    """The request with this id; UnknownLeaveRequestError when there is none."""
    record = find_request(request_id)
    if record is None:
        raise UnknownLeaveRequestError(f"Leave request {request_id} does not exist.")
    return record


def delete_request(request_id: str) -> None:
    """Remove a request row if present (tests and resets only)."""
    try:
        table(LEAVE_REQUESTS_TABLE).delete_entity(request_id, ROW_KEY)
    except ResourceNotFoundError:
        pass


def claim_decision(request_id: str, result: str, approver: str, comment: str | None) -> LeaveRecord:
    """Pending -> DecisionReceived with the decision recorded; the returned record carries the new ETag.

    LeaveStateError when the request is not Pending (decided, being decided, or expired).
    """
    def change(record: LeaveRecord) -> dict[str, Any] | None:
        if record.status is not LeaveStatus.PENDING:
            raise LeaveStateError(f"Leave request {request_id} is {record.status.value}.", record)
        return {"Status": LeaveStatus.DECISION_RECEIVED.value, "Decision": result, "DecidedBy": approver,
                "Comment": comment, "DecisionReceivedAt": utc_now_iso()}

    return _update(request_id, change)


def release_claim(claimed: LeaveRecord) -> bool:
    """Undo `claim_decision` (back to Pending) unless the workflow has confirmed it. True when undone.

    Only this claim is undone, never a later one; other columns (a reminder recorded since) are kept.
    """
    requests = table(LEAVE_REQUESTS_TABLE)

    def attempt() -> bool:
        current = find_request(claimed.request_id)
        if current is None or not _same_open_claim(current, claimed):
            return False
        reverted = replace(current, status=LeaveStatus.PENDING, decision=None, decided_by=None, comment=None,
                           decision_received_at=None, updated_at=utc_now_iso())
        try:
            # REPLACE, so the claim's columns are removed (MERGE cannot clear a column).
            requests.update_entity(reverted.to_entity(), mode=UpdateMode.REPLACE, etag=current.etag,
                                   match_condition=MatchConditions.IfNotModified)
        except ResourceModifiedError as error:  # changed since we read it: look again
            raise Changed from error
        except ResourceNotFoundError:
            return False
        return True

    return read_modify_write(attempt, lambda: ContentionError(
        f"Could not release the claim on leave request {claimed.request_id}: it kept changing."))


def _same_open_claim(current: LeaveRecord, claimed: LeaveRecord) -> bool:
    return (current.status is LeaveStatus.DECISION_RECEIVED and current.decision_confirmed_at is None
            and (current.decision_received_at, current.decision, current.decided_by, current.comment)
            == (claimed.decision_received_at, claimed.decision, claimed.decided_by, claimed.comment))


def confirm_claim(request_id: str) -> LeaveRecord:
    """Keep a claimed decision (the workflow acts on it now), and make its claim impossible to undo (`release_claim`).

    Returns the record as it now is: DecisionReceived (confirmed), or Pending when the
    claim was released first, or a final status.
    """
    def change(record: LeaveRecord) -> dict[str, Any] | None:
        if record.status is not LeaveStatus.DECISION_RECEIVED or record.decision_confirmed_at:
            return None
        return {"DecisionConfirmedAt": utc_now_iso()}  # the claimant's release_claim then leaves it alone

    return _update(request_id, change)


def expire(request_id: str, decided_at: str) -> LeaveRecord:
    """Pending -> Expired, decided by `system` at `decided_at`. Any other status is returned unchanged."""
    def change(record: LeaveRecord) -> dict[str, Any] | None:
        if record.status is not LeaveStatus.PENDING:
            return None
        return {"Status": LeaveStatus.EXPIRED.value, "DecidedBy": SYSTEM, "DecidedAt": decided_at}

    return _update(request_id, change)


def finalize(request_id: str, status: LeaveStatus, decided_by: str, decided_at: str,
             comment: str | None) -> LeaveRecord:
    """DecisionReceived -> Approved / Rejected. A repeat (already `status`) changes nothing.

    LeaveStateError when no decision was claimed (Pending) or the request already ended otherwise.
    """
    if status not in (LeaveStatus.APPROVED, LeaveStatus.REJECTED):
        raise ValueError(f"finalize() decides Approved or Rejected, not {status.value}.")

    def change(record: LeaveRecord) -> dict[str, Any] | None:
        if record.status is status:
            return None
        if record.status is LeaveStatus.PENDING:
            raise LeaveStateError(
                f"Leave request {request_id} has no recorded decision; cannot make it {status.value}.", record)
        if record.status is not LeaveStatus.DECISION_RECEIVED:
            raise LeaveStateError(
                f"Leave request {request_id} is already {record.status.value}; cannot make it {status.value}.",
                record)
        if record.decision != status.value:
            raise LeaveStateError(
                f"Leave request {request_id} was decided {record.decision}; cannot make it {status.value}.", record)
        return {"Status": status.value, "Decision": status.value, "DecidedBy": decided_by, "DecidedAt": decided_at,
                "Comment": comment}

    return _update(request_id, change)


def cancel(request_id: str, reason: str, cancelled_at: str) -> LeaveRecord:
    """Pending or DecisionReceived -> Cancelled, when the workflow ended without deciding (an operator terminated
    it, it failed, or its history was purged unfinished). A request that already ended is returned unchanged."""
    def change(record: LeaveRecord) -> dict[str, Any] | None:
        if record.status not in OPEN:
            return None
        return {"Status": LeaveStatus.CANCELLED.value, "DecidedBy": SYSTEM, "DecidedAt": cancelled_at,
                "Comment": reason}

    return _update(request_id, change)


def open_requests() -> list[LeaveRecord]:
    """Every request still waiting for a decision (Pending or DecisionReceived)."""
    requests = table(LEAVE_REQUESTS_TABLE)
    statuses = {f"s{i}": status.value for i, status in enumerate(sorted(OPEN))}
    query = " or ".join(f"Status eq @{name}" for name in statuses)
    try:
        return [LeaveRecord.from_entity(entity) for entity in requests.query_entities(query, parameters=statuses)]
    except ResourceNotFoundError:  # no request was ever stored
        return []


def mark_reminder_sent(request_id: str, sent_at: str) -> LeaveRecord:
    """Record when the approver was reminded (the first time only)."""
    def change(record: LeaveRecord) -> dict[str, Any] | None:
        return None if record.reminder_sent_at else {"ReminderSentAt": sent_at}

    return _update(request_id, change)


def _update(request_id: str, change: Callable[[LeaveRecord], dict[str, Any] | None]) -> LeaveRecord:
    """Read the row, ask `change` for the columns to merge (None: nothing to do), write under the ETag, repeat."""
    requests = table(LEAVE_REQUESTS_TABLE)

    def attempt() -> LeaveRecord:
        record = get_request(request_id)
        columns = change(record)
        if columns is None:
            return record
        now = utc_now_iso()
        entity = {"PartitionKey": request_id, "RowKey": ROW_KEY, **columns, "UpdatedAt": now}
        # MERGE ignores null properties, so a None column is dropped rather than cleared.
        entity = {key: value for key, value in entity.items() if value is not None}
        try:
            metadata = requests.update_entity(entity, mode=UpdateMode.MERGE, etag=record.etag,
                                              match_condition=MatchConditions.IfNotModified)
        except ResourceModifiedError as error:  # changed since we read it: decide again on the new state
            raise Changed from error
        except ResourceNotFoundError as exc:
            raise UnknownLeaveRequestError(f"Leave request {request_id} does not exist.") from exc
        for key, value in entity.items():
            _set(record, key, value)
        record.etag = (metadata or {}).get("etag", record.etag)
        return record

    return read_modify_write(attempt, lambda: ContentionError(
        f"Could not update leave request {request_id}: it kept changing."))


_FIELDS = {"Status": "status", "Decision": "decision", "DecidedBy": "decided_by", "DecidedAt": "decided_at",
           "Comment": "comment", "DecisionReceivedAt": "decision_received_at",
           "DecisionConfirmedAt": "decision_confirmed_at", "ReminderSentAt": "reminder_sent_at",
           "UpdatedAt": "updated_at"}


def _set(record: LeaveRecord, column: str, value: Any) -> None:
    name = _FIELDS.get(column)
    if name == "status":
        record.status = LeaveStatus(value)
    elif name:
        setattr(record, name, value)
