"""The leave workflow's contract: the names its starters, orchestrator and activities share.

A function is registered under one of these names and called by it; the event is raised and
awaited by it; a result is sent by the approver, recorded in the request row and applied by the
orchestrator. Changing a name here changes it everywhere (and for running instances: rename only
with no request waiting).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

CLIENT = "LeaveApproval_Client"  # function and route: submit a request
DECISION_CLIENT = "SubmitApprovalResult"  # function and route: the approver's decision
ORCHESTRATOR = "LeaveApproval_Orchestrator"
APPROVAL_EVENT = "ApprovalResult"  # raised by SubmitApprovalResult once it recorded the decision

SUBMIT_LEAVE_REQUEST = "SubmitLeaveRequest"
SEND_APPROVAL_REMINDER = "SendApprovalReminder"
CONFIRM_LEAVE_DECISION = "ConfirmLeaveDecision"
NOTIFY_APPROVAL = "NotifyApproval"
NOTIFY_REJECTION = "NotifyRejection"
EXPIRE_LEAVE_REQUEST = "ExpireLeaveRequest"

# How a request ends. An approver sends one of RESULTS; the others are the system's.
APPROVED = "Approved"
REJECTED = "Rejected"
RESULTS = (APPROVED, REJECTED)
EXPIRED = "Expired"  # the deadline passed without a decision
CANCELLED = "Cancelled"  # the workflow ended (terminated, failed, purged) without a decision
SYSTEM = "system"  # `decidedBy` of an expiry or a cancellation

MAX_COMMENT = 1000  # characters of an approver's comment


# --- payloads between the orchestrator and the activities (JSON objects, so replay-safe; times are
# ISO 8601 UTC strings from the orchestration clock) ---


class Submission(TypedDict):
    """SubmitLeaveRequest's input: the request as the starter accepted it, plus the workflow's times."""

    requestId: str
    employeeId: str
    employeeEmail: str
    approverEmail: str
    startDate: str
    endDate: str
    days: int
    reason: str
    instanceId: str
    submittedAt: str
    deadline: str
    approvalUrl: str


class Reminder(TypedDict):
    """SendApprovalReminder's input."""

    requestId: str
    approvalUrl: str
    remindedAt: str


class RequestRef(TypedDict):
    """ConfirmLeaveDecision's input."""

    requestId: str


class DecisionNotice(TypedDict):
    """NotifyApproval's and NotifyRejection's input: the decision to apply."""

    requestId: str
    approver: str
    comment: str | None
    decidedAt: str


class Expiry(TypedDict):
    """ExpireLeaveRequest's input."""

    requestId: str
    decidedAt: str


class RecordedDecision(TypedDict):
    """A decision as the request row records it (and `leave.requests.decision_in` reads it)."""

    result: str  # APPROVED or REJECTED
    approver: str | None
    comment: str | None


class Submitted(TypedDict):
    requestId: str
    status: str  # Pending, or the status it ended with when the workflow was restarted
    blobName: str | None


class ReminderSent(TypedDict):
    sent: bool
    status: str
    blobName: str | None


class DecisionConfirmation(TypedDict):
    confirmed: bool
    status: str
    decision: RecordedDecision | None


class Notified(TypedDict):
    requestId: str
    status: str
    decidedBy: str | None
    decidedAt: str | None
    blobName: str


class ExpiryOutcome(TypedDict):
    expired: bool
    status: str
    blobName: NotRequired[str]  # expired: the employee's e-mail
    decision: NotRequired[RecordedDecision]  # not expired: the decision that came first
