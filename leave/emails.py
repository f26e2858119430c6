"""The leave workflow's e-mails, written to the outbox container for a mail sender to pick up.

Blobs in the `OUTBOX_CONTAINER` container (default `outbox`), one per message and request:

    leave/{requestId}/approval-request.eml   to the approver: what is asked, by when, how to decide
    leave/{requestId}/reminder.eml           to the approver, halfway to the deadline
    leave/{requestId}/approved.eml           to the employee (copy to the approver)
    leave/{requestId}/rejected.eml           to the employee (copy to the approver)
    leave/{requestId}/expired.eml            to the employee (copy to the approver)

Names come from the request id alone and content from the stored request and the
activity's input alone (dates from the orchestration clock), so an activity that
runs twice writes the same blob with the same bytes. The sender is `LEAVE_EMAIL_FROM`.
"""

from __future__ import annotations

import json
import shlex
import textwrap
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from common.outbox import write_message
from leave.contract import APPROVED, REJECTED
from leave.settings import email_sender
from leave.store import LeaveRecord, LeaveStatus

APPROVAL_REQUEST = "approval-request"
REMINDER = "reminder"
_OUTCOME_NAMES = {LeaveStatus.APPROVED: "approved", LeaveStatus.REJECTED: "rejected", LeaveStatus.EXPIRED: "expired"}
OUTCOME_STATUSES = frozenset(_OUTCOME_NAMES)  # the final statuses the employee is told of by e-mail


def blob_name(request_id: str, kind: str) -> str:
    """Where one of a request's e-mails is written (`kind`: approval-request, reminder, approved, ...)."""
    return f"leave/{request_id}/{kind}.eml"


def outcome_blob_name(request_id: str, status: LeaveStatus) -> str:
    """Where the e-mail that tells the employee the outcome is written."""
    return blob_name(request_id, _OUTCOME_NAMES[status])


def decision_command(approval_url: str, instance_id: str, approver: str, result: str = APPROVED,
                     comment: str = "Enjoy your time off.") -> str:
    """The curl command that submits a decision (shell-quoted, ready to paste)."""
    body = json.dumps({"instanceId": instance_id, "result": result, "approver": approver, "comment": comment})
    return (f"curl -i -X POST {shlex.quote(approval_url)} \\\n"
            f"    -H 'Content-Type: application/json' \\\n"
            f"    -d {shlex.quote(body)}")


def render_approval_request(record: LeaveRecord, approval_url: str, *, reminder_at: str | None = None) -> bytes:
    """The message asking the approver to decide (the reminder when `reminder_at` is given)."""
    reminder = reminder_at is not None
    subject = (f"{'Reminder: l' if reminder else 'L'}eave request from {record.employee_id} "
               f"({record.start_date} to {record.end_date}) awaits your decision")
    kind = REMINDER if reminder else APPROVAL_REQUEST
    opening = (["This is a reminder: the leave request below still awaits your decision.", ""] if reminder else [])
    lines = [
        "Hello,", "", *opening,
        f"{record.employee_id} <{record.employee_email}> asks for leave:", "",
        f"  from    {record.start_date}",
        f"  to      {record.end_date}  ({record.days} day{'s' if record.days != 1 else ''})",
        *_wrapped("  reason  ", record.reason), "",
        f"Please decide by {record.deadline}. Without a decision by then the request expires.", "",
        "To approve:", "", _indented(decision_command(approval_url, record.instance_id, record.approver_email)), "",
        "To reject:", "",
        _indented(decision_command(approval_url, record.instance_id, record.approver_email, REJECTED,
                                   "Sorry, not this time.")), "",
        f"Request {record.request_id}", "",
    ]
    return _message(record, kind, record.approver_email, subject, lines,
                    date=reminder_at if reminder else record.submitted_at)


def render_outcome(record: LeaveRecord) -> bytes:
    """The message telling the employee how the request ended (Approved, Rejected or Expired)."""
    period = f"{record.start_date} to {record.end_date}"
    if record.status is LeaveStatus.EXPIRED:
        subject = f"Your leave request ({period}) expired without a decision"
        summary = [f"Your leave request for {period} was not decided by {record.deadline} and has expired.",
                   "Please submit it again or talk to your approver."]
    elif record.status in (LeaveStatus.APPROVED, LeaveStatus.REJECTED):
        verb = "approved" if record.status is LeaveStatus.APPROVED else "rejected"
        subject = f"Your leave request ({period}) was {verb}"
        summary = [f"Your leave request for {period} was {verb} by {record.decided_by}."]
        if record.comment:
            summary += ["", *_wrapped("Comment: ", record.comment)]
    else:
        raise ValueError(f"Leave request {record.request_id} is {record.status.value}, not decided.")
    lines = ["Hello,", "", *summary, "", f"Request {record.request_id}", ""]
    return _message(record, _OUTCOME_NAMES[record.status], record.employee_email, subject, lines,
                    date=record.decided_at, cc=record.approver_email)


def write_approval_request(record: LeaveRecord, approval_url: str) -> str:
    """Write the approval request to the outbox; returns the blob name."""
    return write_message(blob_name(record.request_id, APPROVAL_REQUEST), render_approval_request(record, approval_url))


def write_reminder(record: LeaveRecord, approval_url: str, reminder_at: str) -> str:
    """Write the reminder to the outbox; returns the blob name."""
    return write_message(blob_name(record.request_id, REMINDER),
                  render_approval_request(record, approval_url, reminder_at=reminder_at))


def write_outcome(record: LeaveRecord) -> str:
    """Write the outcome e-mail to the outbox; returns the blob name."""
    return write_message(outcome_blob_name(record.request_id, record.status), render_outcome(record))


def _message(record: LeaveRecord, kind: str, to: str, subject: str, lines: list[str], *, date: str | None,
             cc: str | None = None) -> bytes:
    sender = email_sender()
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Message-ID"] = f"<{record.request_id}.{kind}@{sender.rpartition('@')[2]}>"
    if date:
        message["Date"] = format_datetime(datetime.fromisoformat(date.replace("Z", "+00:00")))
    if kind != APPROVAL_REQUEST:
        message["In-Reply-To"] = f"<{record.request_id}.{APPROVAL_REQUEST}@{sender.rpartition('@')[2]}>"
    # 8bit keeps the raw blob readable (no quoted-printable); no line comes near the 998-character limit.
    message.set_content("\n".join(lines), cte="8bit")
    return message.as_bytes()


def _wrapped(label: str, text: str) -> list[str]:
    """`label` + free text, wrapped at 100 columns and indented under the label (the text keeps its paragraphs)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines += textwrap.wrap(paragraph, 100, initial_indent=" " * len(label), subsequent_indent=" " * len(label),
                               break_long_words=True) or [""]
    lines[0] = label + lines[0][len(label):]
    return lines


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())

