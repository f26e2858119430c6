"""The leave workflow's HTTP functions: start a request, and decide it.

    POST /api/LeaveApproval_Client   {"employeeId", "employeeEmail", "approverEmail", "startDate", "endDate", "reason",
                                      "requestId"?}
        Validate (rules in `leave.requests`; the maximum length is LEAVE_MAX_DAYS), then start
        LeaveApproval_Orchestrator with the instance id `leave-<requestId>`, or `leave-<hex>` when the
        caller gave no requestId (the instance id is also the request id). 202 with the check-status
        payload; 409 with its status URL when `leave-<requestId>` exists already (a retry). Bad input:
        400 {"error", "field"}, nothing started or written.

    POST /api/SubmitApprovalResult   {"instanceId", "result": "Approved"|"Rejected", "approver", "comment"?}
        Raise the `ApprovalResult` event, only
          - for an existing LeaveApproval_Orchestrator instance, never another
            workflow (else 404, the same answer for both)
          - from the request's approver (approverEmail, any letter case)  (else 403). With
            LEAVE_APPROVER_IDENTITY=signed-in-user the approver is the user App Service
            Authentication signed in (401 without one), not what the body says
          - while the request still waits for a decision                   (else 409 with its current status)
        202 {"instanceId", "requestId", "result", "statusQueryGetUri"}.

"Still waiting" is race-free: before the event is raised, the decision is recorded in the
request's row by an ETag-conditional update Pending -> DecisionReceived
(`leave.store.claim_decision`), so of two concurrent decisions one gets 202 and
the other 409, and a decision that loses to the deadline gets 409 too. Storage or
Durable host trouble is 503; a misconfigured app setting is 500.

The deadline (LEAVE_APPROVAL_TIMEOUT), the reminder (LEAVE_REMINDER_ENABLED) and the
activities' retry policy are read here and passed in: orchestrators must not read settings.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from common.http import RequestError, WorkflowUnavailable, answer, json_response, read_json_body
from common.instances import Refusal, claim_instance, instance_status, refuse_if_started, start_claimed
from common.logging import mask_email
from common.payloads import decode_payload
from common.start_claims import release
from leave import settings as leave_settings
from leave import store as leave_store
from leave.contract import APPROVAL_EVENT, CLIENT, DECISION_CLIENT, ORCHESTRATOR
from leave.requests import Decision, new_request_id, parse_decision, parse_leave_request
from leave.settings import APPROVER_SIGNED_IN
from leave.store import LeaveRecord, LeaveStateError, LeaveStatus

bp = df.Blueprint()
log = logging.getLogger("leave")

PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL-NAME"
_WAITING = {"Running", "Pending"}



@bp.function_name(CLIENT)
@bp.route(route=CLIENT, methods=["POST"])
@bp.durable_client_input(client_name="client")
async def leave_approval_client(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Validate a leave request and start its approval workflow."""
    return await _guarded(_start(req, client, today=datetime.now(UTC).date()))


@bp.function_name(DECISION_CLIENT)
@bp.route(route=DECISION_CLIENT, methods=["POST"])
@bp.durable_client_input(client_name="client")
async def submit_approval_result(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Deliver the approver's decision to a waiting leave workflow."""
    return await _guarded(_decide(req, client))


async def _guarded(work: Any) -> func.HttpResponse:
    return await answer(work, storage="Leave request storage", log=log)


# --- LeaveApproval_Client --------------------------------------------------------------------


def workflow_input(request_id: str, body: dict[str, Any], approval_url: str) -> dict[str, Any]:
    """Everything the orchestrator needs, with the settings it must not read itself."""
    timeout = leave_settings.approval_timeout()
    return {
        "requestId": request_id, **body,
        "timeoutSeconds": timeout.total_seconds(),
        "reminder": {"enabled": leave_settings.reminder_enabled()},
        "retry": leave_settings.retry_settings(),
        "approvalUrl": approval_url,
    }


async def _start(req: func.HttpRequest, client: df.DurableOrchestrationClient, *, today: date) -> func.HttpResponse:
    body = read_json_body(req)
    max_days = leave_settings.max_days()  # configuration errors surface before anything is started
    approval = leave_settings.function_url(DECISION_CLIENT)
    request = parse_leave_request(body, today=today, max_days=max_days)
    request_id = request.instance_id or new_request_id()
    already: Refusal = {"message": f"Leave request {request_id} already exists.", "field": "requestId"}
    claim = None
    if request.instance_id:  # the caller's own id: a retry finds the request it already started
        claim = await claim_instance(req, client, request_id, **already)
        stored = await asyncio.to_thread(leave_store.find_request, request_id)
        if stored is not None:  # its workflow is gone (purged), the request is not: one request per id, ever
            await asyncio.to_thread(release, claim)  # nothing started: the row is the guard
            raise RequestError(f"Leave request {request_id} already exists and is {stored.status.value}.",
                               "requestId", status=409, requestStatus=stored.status.value)
    workflow = workflow_input(request_id, request.to_json(), approval)
    try:
        if claim is None:  # a new random id: nobody else can start it
            await client.start_new(ORCHESTRATOR, request_id, workflow)
        else:
            await start_claimed(client, claim, ORCHESTRATOR, workflow)
    except Exception as error:
        if request.instance_id:
            await refuse_if_started(req, client, request_id, **already)  # started some other way meanwhile
        raise WorkflowUnavailable("Could not start the leave approval workflow; try again later.") from error
    log.info("leave %s: started for %s (%s to %s), approver %s", request_id, request.employee_id,
             request.start_date, request.end_date, mask_email(request.approver_email),
             extra={"request_id": request_id, "instance_id": request_id})
    return client.create_check_status_response(req, request_id)


# --- SubmitApprovalResult ---------------------------------------------------------------------


async def _decide(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    signed_in = signed_in_user(req) if leave_settings.approver_identity() == APPROVER_SIGNED_IN else None
    decision = parse_decision(read_json_body(req), signed_in=signed_in)
    instance_id = decision.instance_id
    status = await instance_status(client, instance_id, show_input=True)
    if status is None or status.name != ORCHESTRATOR:  # one answer: a key holder learns nothing of other workflows
        raise RequestError(f"No leave approval workflow {instance_id}.", "instanceId", status=404)
    workflow = decode_payload(status.input_)
    workflow = workflow if isinstance(workflow, dict) else {}
    request_id = str(workflow.get("requestId") or instance_id)
    record = await asyncio.to_thread(leave_store.find_request, request_id)
    approver_email = workflow.get("approverEmail") or (record.approver_email if record else None)
    if not isinstance(approver_email, str) or decision.approver.lower() != approver_email.strip().lower():
        raise RequestError("Only the request's approver may decide it.", "approver", status=403)
    links = client.get_client_response_links(req, instance_id)
    runtime_status = status.runtime_status.name
    if runtime_status not in _WAITING:
        raise _not_waiting(instance_id, runtime_status, record, links, "the workflow has ended" if runtime_status
                           in ("Completed", "Failed", "Terminated") else f"the workflow is {runtime_status}")
    if record is None:
        raise _not_waiting(instance_id, runtime_status, None, links,
                           "the request is still being submitted; try again shortly")
    claimed = await _claim(decision, record, runtime_status, links)
    try:
        await client.raise_event(instance_id, APPROVAL_EVENT, decision.event_data())
    except Exception as error:
        return await _after_failed_raise(decision, claimed, runtime_status, links, error)
    log.info("leave %s: %s by %s", request_id, decision.result, mask_email(decision.approver),
             extra={"request_id": request_id, "instance_id": instance_id})
    return _accepted(decision, request_id, links)


def signed_in_user(req: func.HttpRequest) -> str:
    """The user App Service Authentication signed in; 401 when there is none.

    App Service sets `X-MS-CLIENT-PRINCIPAL-NAME` (and removes any a caller sent) only while
    Authentication is on: that is why this is a setting and not the default.
    """
    name = (req.headers.get(PRINCIPAL_HEADER) or "").strip()
    if not name:
        raise RequestError("Sign in first: decisions are taken from the signed-in user "
                           "(LEAVE_APPROVER_IDENTITY=signed-in-user).", "approver", status=401)
    return name


async def _claim(decision: Decision, record: LeaveRecord, runtime_status: str, links: dict[str, str]) -> LeaveRecord:
    try:
        return await asyncio.to_thread(leave_store.claim_decision, record.request_id, decision.result,
                                       decision.approver, decision.comment)
    except LeaveStateError as error:
        raise _not_waiting(decision.instance_id, runtime_status, error.record, links,
                           _described(error.record)) from error


async def _after_failed_raise(decision: Decision, claimed: LeaveRecord, runtime_status: str, links: dict[str, str],
                              error: Exception) -> func.HttpResponse:
    """The event could not be raised: undo the claim, unless the workflow (or the deadline) has already confirmed it."""
    if await asyncio.to_thread(leave_store.release_claim, claimed):
        raise WorkflowUnavailable("Could not deliver the decision to the workflow; nothing was recorded. "
                                  "Try again later.") from error
    record = await asyncio.to_thread(leave_store.find_request, claimed.request_id)
    if record is not None and record.decision == decision.result and record.status in (
            LeaveStatus.DECISION_RECEIVED, LeaveStatus(decision.result)):
        log.info("leave %s: %s by %s, applied at the deadline", claimed.request_id, decision.result,
                 mask_email(decision.approver), extra={"request_id": claimed.request_id})
        return _accepted(decision, claimed.request_id, links)
    raise _not_waiting(decision.instance_id, runtime_status, record, links,
                       _described(record) if record else "the request is gone") from error


def _accepted(decision: Decision, request_id: str, links: dict[str, str]) -> func.HttpResponse:
    body = {"instanceId": decision.instance_id, "requestId": request_id, "result": decision.result,
            "statusQueryGetUri": links["statusQueryGetUri"]}
    return json_response(202, body, {"Location": links["statusQueryGetUri"]})


def _not_waiting(instance_id: str, runtime_status: str, record: LeaveRecord | None, links: dict[str, str],
                 why: str) -> RequestError:
    extra: dict[str, Any] = {"instanceId": instance_id, "runtimeStatus": runtime_status,
                             "requestStatus": record.status.value if record else None,
                             "statusQueryGetUri": links["statusQueryGetUri"]}
    if record is not None and record.status in leave_store.FINAL:
        extra |= {"decidedBy": record.decided_by, "decidedAt": record.decided_at}
    return RequestError(f"Instance {instance_id} is not waiting for a decision: {why}.", "instanceId", status=409,
                        **extra)


def _described(record: LeaveRecord) -> str:
    if record.status is LeaveStatus.DECISION_RECEIVED:
        return f"a decision ({record.decision}) was already received"
    if record.status is LeaveStatus.EXPIRED:
        return "the request expired"
    return f"the request is {record.status.value}"

