"""The leave activities and the request row against Azurite: each step, idempotency, and who wins a race.

Every test makes its own request id, so tests never share rows or blobs.
"""

from __future__ import annotations

import json
import shlex
import threading
import uuid
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError

from activities.leave_activities import bp
from common.outbox import read_message
from devhost.app_loader import user_function
from leave import emails as leave_emails
from leave import store as leave_store
from leave.store import LeaveStateError, LeaveStatus

pytestmark = pytest.mark.usefixtures("azurite")

APPROVER = "boss@example.com"
EMPLOYEE = "ann@example.com"
URL = "http://localhost:7071/api/SubmitApprovalResult"
SUBMITTED = "2030-06-01T08:00:00.000Z"
DEADLINE = "2030-06-04T08:00:00.000Z"


def call(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run an activity as the host would: JSON in, JSON out."""
    result = user_function(bp, name)(json.loads(json.dumps(payload)))
    assert json.loads(json.dumps(result)) == result, "activity output must be plain JSON"
    return result


def submission(request_id: str, **overrides: Any) -> dict[str, Any]:
    value = {"requestId": request_id, "instanceId": request_id, "employeeId": "E-7", "employeeEmail": EMPLOYEE,
             "approverEmail": APPROVER, "startDate": "2030-07-01", "endDate": "2030-07-03", "days": 3,
             "reason": "Summer holiday, finally", "submittedAt": SUBMITTED, "deadline": DEADLINE, "approvalUrl": URL}
    value.update(overrides)
    return value


@pytest.fixture
def request_id() -> str:
    """A submitted (Pending) request."""
    rid = f"leave-{uuid.uuid4().hex}"
    call("SubmitLeaveRequest", submission(rid))
    return rid


def mail(request_id: str, kind: str) -> EmailMessage:
    return message_from_bytes(read_message(leave_emails.blob_name(request_id, kind)), policy=default_policy)


def test_submit_stores_a_pending_request_and_asks_the_approver_how_to_decide() -> None:
    rid = f"leave-{uuid.uuid4().hex}"
    result = call("SubmitLeaveRequest", submission(rid))
    assert result == {"requestId": rid, "status": "Pending", "blobName": f"leave/{rid}/approval-request.eml"}
    record = leave_store.get_request(rid)
    assert record.status is LeaveStatus.PENDING
    assert (record.employee_id, record.approver_email, record.days, record.deadline) == ("E-7", APPROVER, 3, DEADLINE)
    assert record.decided_by is None and record.decided_at is None
    message = mail(rid, "approval-request")
    assert message["To"] == APPROVER
    assert "E-7" in message["Subject"]
    text = message.get_content().replace("\r\n", "\n")
    assert "Summer holiday, finally" in text and DEADLINE in text
    # The approve command in the e-mail is a working curl call for SubmitApprovalResult.
    commands = [c.strip() for c in text.replace("\\\n", " ").splitlines() if c.strip().startswith("curl ")]
    args = shlex.split(next(c for c in commands if '"Approved"' in c))
    assert args[args.index("-X") + 1] == "POST" and URL in args
    assert json.loads(args[args.index("-d") + 1]) == {"instanceId": rid, "result": "Approved", "approver": APPROVER,
                                                      "comment": "Enjoy your time off."}


def test_submit_twice_changes_nothing(request_id: str) -> None:
    before = leave_store.get_request(request_id)
    first = read_message(leave_emails.blob_name(request_id, "approval-request"))
    again = call("SubmitLeaveRequest", submission(request_id, reason="A different reason"))
    assert again["status"] == "Pending"
    after = leave_store.get_request(request_id)
    assert after.reason == "Summer holiday, finally"
    assert after.created_at == before.created_at
    assert read_message(leave_emails.blob_name(request_id, "approval-request")) == first


def test_reminder_is_written_once_per_request(request_id: str) -> None:
    reminder = {"requestId": request_id, "approvalUrl": URL, "remindedAt": "2030-06-02T20:00:00.000Z"}
    result = call("SendApprovalReminder", reminder)
    assert result == {"sent": True, "status": "Pending", "blobName": f"leave/{request_id}/reminder.eml"}
    first = read_message(result["blobName"])
    message = mail(request_id, "reminder")
    assert message["To"] == APPROVER and message["Subject"].startswith("Reminder:")
    assert leave_store.get_request(request_id).reminder_sent_at == "2030-06-02T20:00:00.000Z"
    call("SendApprovalReminder", reminder | {"remindedAt": "2030-06-02T20:00:05.000Z"})  # a retry
    assert read_message(result["blobName"]) == first
    assert leave_store.get_request(request_id).reminder_sent_at == "2030-06-02T20:00:00.000Z"


def test_no_reminder_once_a_decision_was_received(request_id: str) -> None:
    leave_store.claim_decision(request_id, "Approved", APPROVER, None)
    result = call("SendApprovalReminder", {"requestId": request_id, "approvalUrl": URL,
                                           "remindedAt": "2030-06-02T20:00:00.000Z"})
    assert result == {"sent": False, "status": "DecisionReceived", "blobName": None}


def test_approval_records_decider_and_time_and_tells_the_employee(request_id: str) -> None:
    leave_store.claim_decision(request_id, "Approved", APPROVER, "Enjoy")
    decided = {"requestId": request_id, "approver": APPROVER, "comment": "Enjoy",
               "decidedAt": "2030-06-02T10:00:00.000Z"}
    result = call("NotifyApproval", decided)
    assert result["status"] == "Approved" and result["blobName"] == f"leave/{request_id}/approved.eml"
    record = leave_store.get_request(request_id)
    assert (record.status, record.decided_by, record.decided_at, record.comment) == (
        LeaveStatus.APPROVED, APPROVER, "2030-06-02T10:00:00.000Z", "Enjoy")
    message = mail(request_id, "approved")
    assert message["To"] == EMPLOYEE and message["Cc"] == APPROVER
    assert "approved by boss@example.com" in message.get_content() and "Enjoy" in message.get_content()
    first = read_message(result["blobName"])
    # A retry (even one with a later clock) keeps the first decision and writes the same e-mail.
    call("NotifyApproval", decided | {"decidedAt": "2030-06-02T10:00:09.000Z"})
    assert leave_store.get_request(request_id).decided_at == "2030-06-02T10:00:00.000Z"
    assert read_message(result["blobName"]) == first
    with pytest.raises(ValueError, match="already Approved"):
        call("NotifyRejection", decided)


def test_confirm_reports_the_recorded_decision_and_locks_it(request_id: str) -> None:
    claimed = leave_store.claim_decision(request_id, "Rejected", APPROVER, "Busy week")
    result = call("ConfirmLeaveDecision", {"requestId": request_id})
    assert result == {"confirmed": True, "status": "DecisionReceived",
                      "decision": {"result": "Rejected", "approver": APPROVER, "comment": "Busy week"}}
    assert leave_store.release_claim(claimed) is False  # the workflow acts on it now: no withdrawing
    assert call("ConfirmLeaveDecision", {"requestId": request_id}) == result  # a repeat says the same
    call("NotifyRejection", {"requestId": request_id, "approver": APPROVER, "comment": "Busy week",
                             "decidedAt": "2030-06-02T11:00:00.000Z"})
    assert call("ConfirmLeaveDecision", {"requestId": request_id})["decision"]["result"] == "Rejected"


def test_confirm_without_a_recorded_decision_confirms_nothing(request_id: str) -> None:
    """An event raised past SubmitApprovalResult (management API) finds no claim in the row."""
    assert call("ConfirmLeaveDecision", {"requestId": request_id}) == {
        "confirmed": False, "status": "Pending", "decision": None}
    call("ExpireLeaveRequest", {"requestId": request_id, "decidedAt": DEADLINE})
    assert call("ConfirmLeaveDecision", {"requestId": request_id})["confirmed"] is False
    assert leave_store.get_request(request_id).status is LeaveStatus.EXPIRED


def test_no_decision_is_applied_without_a_claim(request_id: str) -> None:
    decided = {"requestId": request_id, "approver": APPROVER, "comment": None, "decidedAt": DEADLINE}
    with pytest.raises(ValueError, match="no recorded decision"):
        call("NotifyApproval", decided)
    leave_store.claim_decision(request_id, "Rejected", APPROVER, None)
    with pytest.raises(ValueError, match="was decided Rejected"):
        call("NotifyApproval", decided)
    assert leave_store.get_request(request_id).status is LeaveStatus.DECISION_RECEIVED
    with pytest.raises(ResourceNotFoundError):
        read_message(leave_emails.blob_name(request_id, "approved"))  # the employee was told nothing


def test_rejection_after_a_claimed_decision(request_id: str) -> None:
    leave_store.claim_decision(request_id, "Rejected", APPROVER, "Busy week")
    result = call("NotifyRejection", {"requestId": request_id, "approver": APPROVER, "comment": "Busy week",
                                      "decidedAt": "2030-06-02T11:00:00.000Z"})
    assert result["status"] == "Rejected"
    record = leave_store.get_request(request_id)
    assert (record.status, record.decision, record.decided_by, record.comment) == (
        LeaveStatus.REJECTED, "Rejected", APPROVER, "Busy week")
    assert "was rejected" in mail(request_id, "rejected")["Subject"]


def test_expiry_is_decided_by_system_at_the_deadline(request_id: str) -> None:
    result = call("ExpireLeaveRequest", {"requestId": request_id, "decidedAt": DEADLINE})
    assert result == {"expired": True, "status": "Expired", "blobName": f"leave/{request_id}/expired.eml"}
    record = leave_store.get_request(request_id)
    assert (record.status, record.decided_by, record.decided_at) == (LeaveStatus.EXPIRED, "system", DEADLINE)
    message = mail(request_id, "expired")
    assert message["To"] == EMPLOYEE and "expired" in message["Subject"]
    first = read_message(result["blobName"])
    assert call("ExpireLeaveRequest", {"requestId": request_id, "decidedAt": DEADLINE})["expired"] is True
    assert read_message(result["blobName"]) == first
    with pytest.raises(LeaveStateError):
        leave_store.claim_decision(request_id, "Approved", APPROVER, None)  # too late


def test_expiry_honours_a_decision_claimed_just_before_and_locks_it(request_id: str) -> None:
    claimed = leave_store.claim_decision(request_id, "Approved", APPROVER, "Just in time")
    result = call("ExpireLeaveRequest", {"requestId": request_id, "decidedAt": DEADLINE})
    assert result == {"expired": False, "status": "DecisionReceived",
                      "decision": {"result": "Approved", "approver": APPROVER, "comment": "Just in time"}}
    assert leave_store.get_request(request_id).status is LeaveStatus.DECISION_RECEIVED
    assert leave_store.release_claim(claimed) is False  # confirmed: the claimant can no longer undo it


def test_expiry_after_a_released_claim_expires(request_id: str) -> None:
    claimed = leave_store.claim_decision(request_id, "Approved", APPROVER, "x")
    assert leave_store.release_claim(claimed) is True
    record = leave_store.get_request(request_id)
    assert (record.status, record.decision, record.decided_by, record.comment) == (
        LeaveStatus.PENDING, None, None, None)
    assert call("ExpireLeaveRequest", {"requestId": request_id, "decidedAt": DEADLINE})["expired"] is True


def test_of_concurrent_claims_exactly_one_wins(request_id: str) -> None:
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def decide(index: int) -> None:
        barrier.wait()
        try:
            leave_store.claim_decision(request_id, "Approved" if index % 2 else "Rejected", APPROVER, f"#{index}")
            outcomes.append("won")
        except LeaveStateError as error:
            assert error.record.status is LeaveStatus.DECISION_RECEIVED
            outcomes.append("lost")

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]


def test_a_claim_survives_an_unrelated_change_between_read_and_write(request_id: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A reminder recorded after the claim read the row changes the ETag: the claim retries instead of failing."""
    stale = leave_store.get_request(request_id)
    leave_store.mark_reminder_sent(request_id, "2030-06-02T20:00:00.000Z")
    reads = iter([stale])
    real = leave_store.get_request
    monkeypatch.setattr(leave_store, "get_request", lambda rid: next(reads, None) or real(rid))
    claimed = leave_store.claim_decision(request_id, "Approved", APPROVER, None)
    assert claimed.status is LeaveStatus.DECISION_RECEIVED
    assert claimed.reminder_sent_at == "2030-06-02T20:00:00.000Z"


def test_activities_refuse_input_without_a_request() -> None:
    with pytest.raises(ValueError, match="lacks requestId"):
        call("NotifyApproval", {"approver": APPROVER, "decidedAt": DEADLINE})
    with pytest.raises(ValueError, match="does not exist"):
        call("ExpireLeaveRequest", {"requestId": f"leave-{uuid.uuid4().hex}", "decidedAt": DEADLINE})
