"""The leave workflow's contract: the names its starters, orchestrator and activities share.

A function is registered under one of these names and called by it; the event is raised and
awaited by it; a result is sent by the approver, recorded in the request row and applied by the
orchestrator. Changing a name here changes it everywhere (and for running instances: rename only
with no request waiting).
"""

from __future__ import annotations

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
