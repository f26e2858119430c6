"""LeaveApproval_Orchestrator: human interaction with a deadline and one reminder.

SubmitLeaveRequest (store, ask the approver), then wait for the external event
`ApprovalResult` or the deadline, whichever comes first; halfway to the deadline
remind the approver once (SendApprovalReminder). A decision cancels the timers
still pending, so the instance completes at once:

    Approved  -> NotifyApproval      "Leave request approved."
    Rejected  -> NotifyRejection     "Leave request rejected."
    deadline  -> ExpireLeaveRequest  "Leave request expired without a decision."

At the deadline, a decision that SubmitApprovalResult recorded just before (its event
still on the way) is honoured rather than expired: ExpireLeaveRequest returns it.

Only a decision that SubmitApprovalResult recorded in the request row is acted on. The
event just wakes the orchestrator; ConfirmLeaveDecision then reads (and locks) the
decision recorded in the row, and that decision, not the event's payload, is applied.
An `ApprovalResult` raised straight through the management API (whose system key is in
every check-status URL) without such a record is logged and ignored, and the wait goes
on: nobody can skip SubmitApprovalResult's checks (approver, one decision, deadline).

The input comes from LeaveApproval_Client: the request, `timeoutSeconds`, `reminder`
{enabled}, `approvalUrl` and `retry`, all read there (orchestrators must not read
settings). The deadline is computed from the orchestration clock. Events raised
through the SDK client arrive as JSON text (double-encoded), raw management-API events
as objects: both are read; an event that is not a decision is logged and ignored.
Deterministic: no I/O, clock, randomness or environment access here.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any, cast

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase, TimerTask

from common.payloads import decode_payload
from common.retry import retry_options
from leave.contract import (
    APPROVAL_EVENT,
    APPROVED,
    CANCELLED,
    CONFIRM_LEAVE_DECISION,
    EXPIRE_LEAVE_REQUEST,
    EXPIRED,
    NOTIFY_APPROVAL,
    NOTIFY_REJECTION,
    ORCHESTRATOR,
    REJECTED,
    SEND_APPROVAL_REMINDER,
    SUBMIT_LEAVE_REQUEST,
    SYSTEM,
    DecisionNotice,
    Expiry,
    RecordedDecision,
    Reminder,
    RequestRef,
    Submission,
)
from leave.requests import decision_in

bp = df.Blueprint()
log = logging.getLogger("leave")

OUTPUTS = {
    APPROVED: "Leave request approved.",
    REJECTED: "Leave request rejected.",
    EXPIRED: "Leave request expired without a decision.",
    CANCELLED: "Leave request cancelled: its workflow ended without a decision.",
}
_REQUEST_FIELDS = ("requestId", "employeeId", "employeeEmail", "approverEmail", "startDate", "endDate", "days",
                   "reason")


@bp.function_name(ORCHESTRATOR)
@bp.orchestration_trigger(context_name="context")
def leave_approval_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, str]:
    """Run one leave request to its decision or expiry; the output is the outcome sentence."""
    leave = decode_payload(context.get_input()) or {}
    request_id = str(leave["requestId"])
    retry = retry_options(leave)
    approval_url = str(leave.get("approvalUrl") or "/api/SubmitApprovalResult")
    timeout = timedelta(seconds=float(leave["timeoutSeconds"]))
    submitted_at = context.current_utc_datetime
    deadline = submitted_at + timeout
    reminder_at: datetime | None = submitted_at + timeout / 2 if (leave.get("reminder") or {}).get("enabled") else None

    _status(context, request_id, SUBMIT_LEAVE_REQUEST, deadline=_iso(deadline))
    submission = cast(Submission, {
        **{name: leave.get(name) for name in _REQUEST_FIELDS}, "instanceId": context.instance_id,
        "submittedAt": _iso(submitted_at), "deadline": _iso(deadline), "approvalUrl": approval_url})
    submitted = yield context.call_activity_with_retry(SUBMIT_LEAVE_REQUEST, retry, submission)
    ended = (submitted or {}).get("status")
    if ended in OUTPUTS:  # the request was decided (or cancelled) before: an operator restarted its workflow
        _status(context, request_id, ended)
        return OUTPUTS[ended]

    waiting: dict[str, Any] = {"deadline": _iso(deadline), "approverEmail": leave.get("approverEmail"),
                               "reminderAt": _iso(reminder_at) if reminder_at else None, "reminderSent": False}
    _status(context, request_id, "AwaitingApproval", **waiting)
    decision: RecordedDecision | None = None
    while decision is None:
        # Every round creates all of its tasks afresh: a task_any that mixed new tasks with
        # already scheduled ones would only tell the host about the new ones.
        event = context.wait_for_external_event(APPROVAL_EVENT)
        deadline_timer = context.create_timer(deadline)
        reminder_timer = context.create_timer(reminder_at) if reminder_at else None
        timers = [deadline_timer, reminder_timer] if reminder_timer else [deadline_timer]
        winner = yield context.task_any([event, *timers])
        if reminder_timer is not None and winner is reminder_timer:
            reminder_at = None  # once
            reminder: Reminder = {"requestId": request_id, "approvalUrl": approval_url,
                        "remindedAt": _iso(context.current_utc_datetime)}
            sent = yield context.call_activity_with_retry(SEND_APPROVAL_REMINDER, retry, reminder)
            waiting["reminderSent"] = bool((sent or {}).get("sent"))
            _status(context, request_id, "AwaitingApproval", **waiting)
            winner = yield context.task_any([event, deadline_timer])  # both scheduled already: nothing new
        _cancel_pending(timers)
        if winner is deadline_timer:
            break
        decision = yield from _recorded_decision(context, request_id, retry, event.result)

    decided_at = _iso(context.current_utc_datetime)
    if decision is None:
        _status(context, request_id, EXPIRE_LEAVE_REQUEST, deadline=_iso(deadline))
        expiry = yield context.call_activity_with_retry(
            EXPIRE_LEAVE_REQUEST, retry, Expiry(requestId=request_id, decidedAt=decided_at))
        if expiry.get("expired"):
            _status(context, request_id, EXPIRED, decidedBy=SYSTEM, decidedAt=decided_at)
            return OUTPUTS[EXPIRED]
        decision = decision_in(expiry.get("decision"))
        if decision is None:
            raise ValueError(f"ExpireLeaveRequest neither expired request {request_id} nor returned its decision.")

    approver = decision["approver"] or str(leave.get("approverEmail"))
    notify = NOTIFY_APPROVAL if decision["result"] == APPROVED else NOTIFY_REJECTION
    _status(context, request_id, notify, decision=decision["result"], decidedBy=approver)
    yield context.call_activity_with_retry(
        notify, retry,
        DecisionNotice(requestId=request_id, approver=approver, comment=decision["comment"], decidedAt=decided_at))
    _status(context, request_id, decision["result"], decidedBy=approver, decidedAt=decided_at,
            comment=decision["comment"])
    return OUTPUTS[decision["result"]]


def _recorded_decision(context: df.DurableOrchestrationContext, request_id: str, retry: df.RetryOptions,
                       payload: Any) -> Generator[Any, Any, RecordedDecision | None]:
    """The decision SubmitApprovalResult recorded for this request, or None (keep waiting) if there is none.

    The payload is not trusted: it only has to look like a decision to be worth a look at the row.
    """
    if decision_in(payload) is None:
        if not context.is_replaying:  # the payload itself is not logged: it may hold personal data
            log.warning("leave %s: ignored an %s event that is not a decision (%s of %d characters)",
                        request_id, APPROVAL_EVENT, type(payload).__name__, len(str(payload)),
                        extra=_log_extra(context, request_id))
        return None
    confirmation = yield context.call_activity_with_retry(CONFIRM_LEAVE_DECISION, retry,
                                                          RequestRef(requestId=request_id))
    decision = decision_in(confirmation.get("decision")) if confirmation.get("confirmed") else None
    if decision is None and not context.is_replaying:
        log.warning("leave %s: ignored an %s event: no decision was recorded through SubmitApprovalResult "
                    "(the request is %s)", request_id, APPROVAL_EVENT, confirmation.get("status"),
                    extra=_log_extra(context, request_id))
    return decision


def _cancel_pending(timers: list[TaskBase]) -> None:
    """Cancel every timer that has not fired, so the instance can complete now."""
    for timer in timers:
        if timer.is_completed:
            continue
        timer.cancel()
        # A timer longer than the host's maximum is a chain of shorter ones; cancel the link now open too.
        for child in list(getattr(timer, "pending_tasks", ())):
            if isinstance(child, TimerTask) and not child.is_completed:
                child.cancel()


def _status(context: df.DurableOrchestrationContext, request_id: str, step: str, **extra: Any) -> None:
    context.set_custom_status({"requestId": request_id, "step": step, **extra})
    if not context.is_replaying:
        log.info("leave %s: %s", request_id, step, extra=_log_extra(context, request_id))


def _log_extra(context: df.DurableOrchestrationContext, request_id: str) -> dict[str, str]:
    return {"instance_id": context.instance_id, "request_id": request_id}


def _iso(moment: datetime) -> str:
    """UTC as ISO 8601 with milliseconds and `Z` (naive datetimes are UTC, as the SDK's clock is)."""
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
