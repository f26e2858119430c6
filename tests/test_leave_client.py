"""The leave HTTP functions against Azurite, with the Durable host's answers scripted.

The Durable client is the SDK's real `DurableOrchestrationClient` (so check-status payloads
are genuine); its calls to the Durable host (`start_new`, `get_status`, `raise_event`)
are answered from memory, so the paths a running host rarely shows can be forced: the
host failing to start or to deliver an event, and a deadline that overtakes a decision.
Leave request rows are real rows in Azurite.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import uuid
from collections.abc import Callable
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from clients.leave_client import bp
from devhost.app_loader import user_function
from devhost.client_binding import client_binding_json
from leave import store as leave_store
from leave.store import LeaveRecord, LeaveStatus

pytestmark = pytest.mark.usefixtures("azurite")

BASE = "http://localhost:7071"
APPROVER = "boss@example.com"


class HostlessClient(df.DurableOrchestrationClient):
    """The SDK client with the Durable host replaced by a dict of instances and scriptable failures."""

    def __init__(self) -> None:
        super().__init__(client_binding_json(BASE, BASE, "TestHub"))
        self.instances: dict[str, dict[str, Any]] = {}
        self.started: list[tuple[str, str, Any]] = []
        self.raised: list[tuple[str, str, Any]] = []
        self.start_error: Exception | None = None
        self.status_error: Exception | None = None
        self.on_raise: Callable[[], None] | None = None

    async def start_new(self, name: str, instance_id: str | None = None, client_input: Any = None,
                        version: str | None = None) -> str:
        if self.start_error:
            raise self.start_error
        self.started.append((name, instance_id, client_input))
        self.instances[instance_id] = {"name": name, "runtimeStatus": "Pending",
                                       "input": json.dumps(json.dumps(client_input))}
        return instance_id

    async def get_status(self, instance_id: str, *args: Any, **kwargs: Any) -> DurableOrchestrationStatus:
        if self.status_error:
            raise self.status_error
        instance = self.instances.get(instance_id)
        if instance is None:
            return DurableOrchestrationStatus.from_json("")  # what the SDK builds from a 404
        # The status API returns the input as the JSON text the SDK sent (it encodes twice).
        return DurableOrchestrationStatus.from_json(
            {"instanceId": instance_id, **instance, "input": json.loads(instance["input"])})

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any = None, *args: Any,
                          **kwargs: Any) -> None:
        if self.on_raise:
            self.on_raise()
        self.raised.append((instance_id, event_name, event_data))


def call(client: HostlessClient, function: str, body: Any = None, *, raw: bytes | None = None,
         url: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    data = raw if raw is not None else json.dumps(body).encode()
    route = "LeaveApproval_Client" if function == "LeaveApproval_Client" else "SubmitApprovalResult"
    request = func.HttpRequest("POST", url or f"{BASE}/api/{route}", body=data,
                               headers={"Content-Type": "application/json", **(headers or {})})
    handler = inspect.unwrap(user_function(bp, function))
    response = asyncio.run(handler(request, client))
    return response.status_code, json.loads(response.get_body())


def leave_body(**overrides: Any) -> dict[str, Any]:
    return {"employeeId": "E-1", "employeeEmail": "ann@example.com", "approverEmail": APPROVER,
            "startDate": "2099-07-01", "endDate": "2099-07-02", "reason": "Holiday", **overrides}


def waiting_request(client: HostlessClient, *, approver: str = APPROVER, store: bool = True) -> str:
    """A leave instance that is Running, and (with `store`) its Pending row, as SubmitLeaveRequest leaves it."""
    request_id = f"leave-{uuid.uuid4().hex}"
    workflow = {"requestId": request_id, "approverEmail": approver, "timeoutSeconds": 60}
    client.instances[request_id] = {"name": "LeaveApproval_Orchestrator", "runtimeStatus": "Running",
                                    "input": json.dumps(json.dumps(workflow))}
    if store:
        leave_store.create_request(LeaveRecord(
            request_id=request_id, instance_id=request_id, employee_id="E-1", employee_email="ann@example.com",
            approver_email=approver, start_date="2099-07-01", end_date="2099-07-02", days=2, reason="Holiday",
            submitted_at="2099-06-01T00:00:00.000Z", deadline="2099-06-04T00:00:00.000Z"))
    return request_id


def decision(instance_id: str, result: str = "Approved", approver: str = APPROVER, **extra: Any) -> dict[str, Any]:
    return {"instanceId": instance_id, "result": result, "approver": approver, **extra}


# --- LeaveApproval_Client ---------------------------------------------------------------------


def test_a_valid_request_starts_the_workflow_with_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAVE_APPROVAL_TIMEOUT", "P1DT12H")
    monkeypatch.setenv("LEAVE_REMINDER_ENABLED", "no")
    monkeypatch.setenv("LEAVE_RETRY_FIRST_INTERVAL_MS", "500")
    monkeypatch.delenv("LEAVE_RETRY_MAX_ATTEMPTS", raising=False)
    client = HostlessClient()
    status, body = call(client, "LeaveApproval_Client", leave_body(),
                        url=f"{BASE}/api/LeaveApproval_Client?code=secret-key")
    assert status == 202
    [(name, instance_id, workflow)] = client.started
    assert name == "LeaveApproval_Orchestrator" and body["id"] == instance_id and instance_id.startswith("leave-")
    assert body["statusQueryGetUri"].startswith(f"{BASE}/runtime/webhooks/durabletask/instances/{instance_id}")
    assert workflow == {
        "requestId": instance_id, "employeeId": "E-1", "employeeEmail": "ann@example.com", "approverEmail": APPROVER,
        "startDate": "2099-07-01", "endDate": "2099-07-02", "days": 2, "reason": "Holiday",
        "timeoutSeconds": 36 * 3600.0, "reminder": {"enabled": False},
        "retry": {"firstRetryIntervalMs": 500, "maxAttempts": 3},
        "approvalUrl": f"{BASE}/api/SubmitApprovalResult",  # no function key copied into e-mails
    }
    assert leave_store.find_request(instance_id) is None  # the workflow's first activity stores it


def test_each_request_gets_its_own_instance() -> None:
    client = HostlessClient()
    call(client, "LeaveApproval_Client", leave_body())
    call(client, "LeaveApproval_Client", leave_body())
    assert len({started[1] for started in client.started}) == 2


def test_with_its_own_request_id_a_retry_finds_the_request_instead_of_starting_another() -> None:
    client = HostlessClient()
    status, body = call(client, "LeaveApproval_Client", leave_body(requestId="hr-2099-0042"))
    assert (status, body["id"]) == (202, "leave-hr-2099-0042")
    assert client.started[0][2]["requestId"] == "leave-hr-2099-0042"
    status, again = call(client, "LeaveApproval_Client", leave_body(requestId="hr-2099-0042"))
    assert (status, again["field"], again["instanceId"]) == (409, "requestId", "leave-hr-2099-0042")
    assert again["statusQueryGetUri"] == body["statusQueryGetUri"] and again["runtimeStatus"] == "Pending"
    assert len(client.started) == 1


def test_a_retry_racing_the_first_call_is_409_not_503() -> None:
    """The pre-check saw nothing, then the start failed because the other call started it meanwhile."""
    client = HostlessClient()
    client.instances["leave-hr-1"] = {"name": "LeaveApproval_Orchestrator", "runtimeStatus": "Running",
                                      "input": json.dumps(json.dumps({"requestId": "leave-hr-1"}))}
    real_status = client.get_status
    checks: list[str] = []

    async def first_sees_nothing(instance_id: str, *args: Any, **kwargs: Any) -> Any:
        checks.append(instance_id)
        if len(checks) == 1:
            return DurableOrchestrationStatus.from_json("")  # not there yet
        return await real_status(instance_id, *args, **kwargs)

    client.get_status = first_sees_nothing  # type: ignore[method-assign]
    client.start_error = Exception("An instance with ID 'leave-hr-1' already exists.")
    status, body = call(client, "LeaveApproval_Client", leave_body(requestId="hr-1"))
    assert (status, body["field"], body["runtimeStatus"]) == (409, "requestId", "Running")
    assert checks == ["leave-hr-1", "leave-hr-1"]  # looked before starting, and again when the start failed


def test_a_request_id_whose_request_already_ended_is_409_even_without_its_workflow() -> None:
    """The workflow was terminated and its history purged, so no instance answers for the id; the row still
    does. One request per id, ever: 409 with the row's status, nothing started."""
    client = HostlessClient()
    status, body = call(client, "LeaveApproval_Client", leave_body(requestId="hr-ended"))
    assert status == 202
    client.instances.clear()  # purged
    record = LeaveRecord(request_id="leave-hr-ended", instance_id="leave-hr-ended", employee_id="E-1",
                         employee_email="ann@example.com", approver_email=APPROVER, start_date="2099-07-01",
                         end_date="2099-07-02", days=2, reason="Holiday", submitted_at="2099-06-01T08:00:00.000Z",
                         deadline="2099-06-04T08:00:00.000Z")
    leave_store.create_request(record)
    leave_store.cancel("leave-hr-ended", "terminated by an operator", "2099-06-02T08:00:00.000Z")
    status, body = call(client, "LeaveApproval_Client", leave_body(requestId="hr-ended"))
    assert (status, body["field"], body["requestStatus"]) == (409, "requestId", "Cancelled")
    assert len(client.started) == 1


@pytest.mark.parametrize("request_id", ["", "-starts-with-dash", "has space", "x" * 65, 42, "../etc"])
def test_a_bad_request_id_is_400_and_starts_nothing(request_id: Any) -> None:
    client = HostlessClient()
    status, body = call(client, "LeaveApproval_Client", leave_body(requestId=request_id))
    assert (status, body["field"]) == (400, "requestId")
    assert client.started == []


def test_bad_input_starts_nothing() -> None:
    client = HostlessClient()
    status, body = call(client, "LeaveApproval_Client", leave_body(endDate="2099-06-30"))
    assert (status, body["field"]) == (400, "endDate")
    status, body = call(client, "LeaveApproval_Client", raw=b"")
    assert (status, body["field"]) == (400, "body")
    assert client.started == []


def test_a_misconfigured_timeout_is_500_and_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAVE_APPROVAL_TIMEOUT", "72 hours")
    client = HostlessClient()
    status, body = call(client, "LeaveApproval_Client", leave_body())
    assert status == 500 and "LEAVE_APPROVAL_TIMEOUT" in body["error"]
    assert client.started == []


def test_a_durable_host_that_cannot_start_is_503() -> None:
    client = HostlessClient()
    client.start_error = Exception("connection refused")
    status, body = call(client, "LeaveApproval_Client", leave_body())
    assert status == 503 and body["field"] is None


@pytest.mark.parametrize(("settings", "expected"), [
    ({}, "http://localhost:7071/api/SubmitApprovalResult"),
    ({"WEBSITE_HOSTNAME": "localhost:7399"}, "http://localhost:7399/api/SubmitApprovalResult"),
    ({"WEBSITE_HOSTNAME": "app.azurewebsites.net"}, "https://app.azurewebsites.net/api/SubmitApprovalResult"),
    ({"WEBSITE_HOSTNAME": "app.azurewebsites.net", "LEAVE_APPROVAL_BASE_URL": "https://hr.example.com/"},
     "https://hr.example.com/api/SubmitApprovalResult"),
])
def test_the_approval_link_comes_from_the_settings_never_from_the_request(
        monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], expected: str) -> None:
    """Before, the link in the approver's e-mail was built from the request's Host header, so whoever started
    a leave request chose where the approver's approve/reject link pointed."""
    for name in ("WEBSITE_HOSTNAME", "LEAVE_APPROVAL_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    client = HostlessClient()
    status, _ = call(client, "LeaveApproval_Client", leave_body(), url="https://evil.example/api/LeaveApproval_Client",
                     headers={"Host": "evil.example"})
    assert status == 202
    [(_, _, workflow)] = client.started
    assert workflow["approvalUrl"] == expected


def test_a_malformed_approval_base_url_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAVE_APPROVAL_BASE_URL", "hr.example.com/approve?x=1")
    client = HostlessClient()
    status, body = call(client, "LeaveApproval_Client", leave_body())
    assert status == 500 and "LEAVE_APPROVAL_BASE_URL" in json.dumps(body)
    assert client.started == []


# --- SubmitApprovalResult ---------------------------------------------------------------------


def test_a_decision_is_recorded_before_the_event_is_raised() -> None:
    client = HostlessClient()
    request_id = waiting_request(client)
    seen: list[LeaveStatus] = []
    client.on_raise = lambda: seen.append(leave_store.get_request(request_id).status)
    status, body = call(client, "SubmitApprovalResult", decision(request_id, comment="Enjoy"))
    assert status == 202
    assert body == {"instanceId": request_id, "requestId": request_id, "result": "Approved",
                    "statusQueryGetUri": body["statusQueryGetUri"]}
    assert request_id in body["statusQueryGetUri"]
    assert seen == [LeaveStatus.DECISION_RECEIVED]
    assert client.raised == [(request_id, "ApprovalResult",
                              {"result": "Approved", "approver": APPROVER, "comment": "Enjoy"})]
    record = leave_store.get_request(request_id)
    assert (record.decision, record.decided_by, record.comment) == ("Approved", APPROVER, "Enjoy")
    assert record.decision_received_at


def test_a_failed_delivery_undoes_the_claim_so_the_decision_can_be_sent_again() -> None:
    client = HostlessClient()
    request_id = waiting_request(client)

    def fail() -> None:
        raise Exception("Webhook returned unrecognized status code 503")

    client.on_raise = fail
    status, body = call(client, "SubmitApprovalResult", decision(request_id))
    assert status == 503 and "nothing was recorded" in body["error"]
    assert leave_store.get_request(request_id).status is LeaveStatus.PENDING
    client.on_raise = None
    assert call(client, "SubmitApprovalResult", decision(request_id))[0] == 202


def test_a_decision_the_deadline_took_over_is_accepted_although_the_instance_is_gone() -> None:
    client = HostlessClient()
    request_id = waiting_request(client)

    def deadline_wins() -> None:  # ExpireLeaveRequest ran between the claim and the event: it keeps the decision
        leave_store.confirm_claim(request_id)
        raise Exception(f"Instance with ID {request_id} is gone: either completed or failed")

    client.on_raise = deadline_wins
    status, body = call(client, "SubmitApprovalResult", decision(request_id, "Rejected"))
    assert status == 202 and body["result"] == "Rejected"
    assert leave_store.get_request(request_id).decision == "Rejected"


def test_a_reminder_recorded_meanwhile_does_not_keep_a_claim_whose_event_failed() -> None:
    """The row changed after the claim (a reminder); the claim is still undone, so the caller can repeat."""
    client = HostlessClient()
    request_id = waiting_request(client)

    def reminder_then_failure() -> None:
        leave_store.mark_reminder_sent(request_id, "2099-06-02T12:00:00.000Z")
        raise Exception("Webhook returned unrecognized status code 503")

    client.on_raise = reminder_then_failure
    status, body = call(client, "SubmitApprovalResult", decision(request_id, "Rejected"))
    assert status == 503 and "nothing was recorded" in body["error"]
    record = leave_store.get_request(request_id)
    assert (record.status, record.decision, record.reminder_sent_at) == (
        LeaveStatus.PENDING, None, "2099-06-02T12:00:00.000Z")
    client.on_raise = None
    assert call(client, "SubmitApprovalResult", decision(request_id))[0] == 202


def test_a_decision_while_the_request_is_still_being_stored_is_409() -> None:
    client = HostlessClient()
    request_id = waiting_request(client, store=False)
    status, body = call(client, "SubmitApprovalResult", decision(request_id))
    assert (status, body["runtimeStatus"], body["requestStatus"]) == (409, "Running", None)
    assert "try again shortly" in body["error"]
    assert client.raised == []


@pytest.mark.parametrize("runtime_status", ["Completed", "Failed", "Terminated", "Suspended"])
def test_an_instance_that_does_not_wait_is_409(runtime_status: str) -> None:
    client = HostlessClient()
    request_id = waiting_request(client)
    client.instances[request_id]["runtimeStatus"] = runtime_status
    status, body = call(client, "SubmitApprovalResult", decision(request_id))
    assert (status, body["runtimeStatus"], body["requestStatus"]) == (409, runtime_status, "Pending")
    assert client.raised == []
    assert leave_store.get_request(request_id).status is LeaveStatus.PENDING


def test_another_workflow_and_an_unknown_instance_get_the_same_404() -> None:
    """A key holder cannot tell which other workflows exist from SubmitApprovalResult's answers."""
    client = HostlessClient()
    client.instances["order-1"] = {"name": "OrderProcessing_Orchestrator", "runtimeStatus": "Running",
                                   "input": json.dumps(json.dumps({"orderId": "1"}))}
    other, unknown = (call(client, "SubmitApprovalResult", decision(i)) for i in ("order-1", "order-2"))
    assert other[0] == unknown[0] == 404
    assert other[1]["error"].replace("order-1", "X") == unknown[1]["error"].replace("order-2", "X")
    assert client.raised == []


# --- LEAVE_APPROVER_IDENTITY=signed-in-user (App Service Authentication) ------------------------


def signed_in_call(client: HostlessClient, body: dict[str, Any], user: str | None) -> tuple[int, dict[str, Any]]:
    return call(client, "SubmitApprovalResult", body, headers={"X-MS-CLIENT-PRINCIPAL-NAME": user} if user else {})


def test_signed_in_mode_takes_the_approver_from_the_signed_in_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAVE_APPROVER_IDENTITY", "signed-in-user")
    client = HostlessClient()
    request_id = waiting_request(client)
    body = {"instanceId": request_id, "result": "Approved"}  # no approver: the sign-in says who
    status, answer = signed_in_call(client, body, None)
    assert (status, answer["field"]) == (401, "approver")
    assert signed_in_call(client, body, "ann@example.com")[0] == 403  # signed in, but not the approver
    assert signed_in_call(client, body | {"approver": "ann@example.com"}, APPROVER)[0] == 403  # says someone else
    assert signed_in_call(client, body, "not-an-address")[0] == 403
    assert client.raised == [] and leave_store.get_request(request_id).status is LeaveStatus.PENDING
    assert signed_in_call(client, body | {"approver": APPROVER.upper()}, APPROVER)[0] == 202
    assert client.raised[0][2]["approver"] == APPROVER


def test_by_default_the_principal_header_is_not_trusted() -> None:
    """Without App Service Authentication anybody can send the header: the default mode ignores it."""
    client = HostlessClient()
    request_id = waiting_request(client)
    status, _ = signed_in_call(client, decision(request_id, approver="ann@example.com"), APPROVER)
    assert status == 403
    assert signed_in_call(client, decision(request_id), "ann@example.com")[0] == 202


def test_an_unknown_approver_identity_setting_is_a_500_that_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAVE_APPROVER_IDENTITY", "header")
    client = HostlessClient()
    status, body = call(client, "SubmitApprovalResult", decision(waiting_request(client)))
    assert status == 500 and "LEAVE_APPROVER_IDENTITY" in body["error"]
    assert client.raised == []


def test_the_approver_check_ignores_case_and_uses_the_row_when_the_input_lacks_it() -> None:
    client = HostlessClient()
    request_id = waiting_request(client, approver="Boss@Example.com")
    client.instances[request_id]["input"] = json.dumps(json.dumps({"requestId": request_id}))
    assert call(client, "SubmitApprovalResult", decision(request_id, approver="someone@example.com"))[0] == 403
    assert call(client, "SubmitApprovalResult", decision(request_id, approver="BOSS@example.COM"))[0] == 202


def test_a_durable_host_that_cannot_answer_is_503() -> None:
    client = HostlessClient()
    client.status_error = Exception("connection refused")
    status, body = call(client, "SubmitApprovalResult", decision("leave-1"))
    assert status == 503 and body["field"] is None
