"""Leave approval end to end: HTTP calls to `python -m devhost` running the real app, data in Azurite.

What a user does after `make run`: ask for leave, decide it with the command from the
approver's e-mail, try to decide it again, decide as someone else, for an unknown
instance or for an order workflow, and send bad requests. The stored request and the
e-mails are checked in storage. One test lets a short deadline (PT4S) pass on a second host.
"""

from __future__ import annotations

import concurrent.futures
import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError

from common.outbox import read_message
from devhost.spawn import ROOT, RunningHost, start_devhost, wait_for_status
from leave import emails as leave_emails
from leave import store as leave_store
from leave.store import LeaveStatus
from tests.readme_examples import README, bash_blocks, curl_calls
from tools import azurite as azurite_control
from tools.seed import seed

CLIENT = "/api/LeaveApproval_Client"
DECIDE = "/api/SubmitApprovalResult"
WEBHOOK = "/runtime/webhooks/durabletask"
APPROVER = "boss@example.com"
README_SECTION = "### Requesting and deciding leave"
README_PLACEHOLDER = "leave-0123456789abcdef0123456789abcdef"


def host_env(azurite: azurite_control.Azurite, hub: str, **settings: str) -> dict[str, str]:
    return {"AzureWebJobsStorage": azurite.connection_string, "TASKHUB_NAME": hub, "LEAVE_MAX_DAYS": "30",
            "LEAVE_RETRY_FIRST_INTERVAL_MS": "100", "LEAVE_RETRY_MAX_ATTEMPTS": "3",
            "ORDER_RETRY_FIRST_INTERVAL_MS": "100", "LEAVE_REMINDER_ENABLED": "true", **settings}


@pytest.fixture(scope="module")
def host(azurite: azurite_control.Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    seed(reset=True)
    env = host_env(azurite, "E2ELeaveHub", LEAVE_APPROVAL_TIMEOUT="PT72H")
    running = start_devhost(ROOT, tmp_path_factory.mktemp("leave") / "host.log", env)
    yield running
    running.stop()


def leave(**overrides: Any) -> dict[str, Any]:
    start = datetime.now(UTC).date() + timedelta(days=14)
    value = {"employeeId": "E-100", "employeeEmail": "ann@example.com", "approverEmail": APPROVER,
             "startDate": start.isoformat(), "endDate": (start + timedelta(days=4)).isoformat(),
             "reason": "Summer holiday"}
    value.update(overrides)
    return {key: item for key, item in value.items() if item is not ...}


def start(host: RunningHost, body: Any = None, **kwargs: Any) -> requests.Response:
    return requests.post(host.base_url + CLIENT, json=body if body is not None else leave(), timeout=30, **kwargs)


def decide(host: RunningHost, instance_id: Any, result: Any = "Approved", approver: Any = APPROVER,
           **extra: Any) -> requests.Response:
    body = {"instanceId": instance_id, "result": result, "approver": approver, **extra}
    return requests.post(host.base_url + DECIDE, json=body, timeout=30)


def status(host: RunningHost, instance_id: str) -> requests.Response:
    return requests.get(f"{host.base_url}{WEBHOOK}/instances/{instance_id}", timeout=10)


def awaiting(host: RunningHost, instance_id: str, timeout: float = 20) -> dict[str, Any]:
    """Poll until the workflow waits for the decision; its status body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = status(host, instance_id).json()
        if (body.get("customStatus") or {}).get("step") == "AwaitingApproval":
            return body
        assert body["runtimeStatus"] in ("Pending", "Running"), body
        time.sleep(0.05)
    raise AssertionError(f"{instance_id} never awaited approval: {status(host, instance_id).text}")


def started(host: RunningHost, **overrides: Any) -> str:
    response = start(host, leave(**overrides))
    assert response.status_code == 202, response.text
    instance_id = response.json()["id"]
    awaiting(host, instance_id)
    return instance_id


def leave_instances(host: RunningHost) -> int:
    response = requests.get(f"{host.base_url}{WEBHOOK}/instances", params={"instanceIdPrefix": "leave-", "top": 1000},
                            timeout=10)
    return len(response.json())


def email_commands(instance_id: str) -> dict[str, list[str]]:
    """The approve and reject commands from the approver's e-mail, as argument lists."""
    text = read_message(leave_emails.blob_name(instance_id, "approval-request")).decode()
    joined = text.replace("\r\n", "\n").replace("\\\n", " ")
    commands = [shlex.split(line.strip()) for line in joined.splitlines() if line.strip().startswith("curl ")]
    return {("Approved" if '"Approved"' in " ".join(args) else "Rejected"): args for args in commands}


def run_curl(host: RunningHost, args: list[str]) -> requests.Response:
    """Send a curl argument list (`-X`, `-H`, `-d`, URL) to the test host."""
    url = next(a for a in args[1:] if a.startswith("http"))
    headers = dict(args[i + 1].split(": ", 1) for i, a in enumerate(args) if a == "-H")
    return requests.request(args[args.index("-X") + 1], host.base_url + urlsplit(url).path, headers=headers,
                            data=args[args.index("-d") + 1], timeout=30)


def test_approve_with_the_command_from_the_approvers_email(host: RunningHost) -> None:
    response = start(host)
    assert response.status_code == 202, response.text
    body = response.json()
    instance_id = body["id"]
    assert instance_id.startswith("leave-")
    assert response.headers["Location"] == body["statusQueryGetUri"]
    waiting = awaiting(host, instance_id)["customStatus"]
    assert waiting["requestId"] == instance_id and waiting["approverEmail"] == APPROVER
    deadline = datetime.fromisoformat(waiting["deadline"].replace("Z", "+00:00"))
    assert timedelta(hours=71, minutes=59) < deadline - datetime.now(UTC) <= timedelta(hours=72)
    record = leave_store.get_request(instance_id)
    assert record.status is LeaveStatus.PENDING and record.deadline == waiting["deadline"]

    approve = email_commands(instance_id)["Approved"]
    assert approve[approve.index("-X") + 1] == "POST" and approve[4].endswith(DECIDE)
    accepted = run_curl(host, approve)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["instanceId"] == instance_id
    assert accepted.json()["statusQueryGetUri"] == body["statusQueryGetUri"]
    final = wait_for_status(body["statusQueryGetUri"], timeout=10)  # completes at once: the timers are cancelled
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == "Leave request approved."
    record = leave_store.get_request(instance_id)
    assert (record.status, record.decided_by, record.comment) == (LeaveStatus.APPROVED, APPROVER,
                                                                 "Enjoy your time off.")
    assert record.decided_at == final["customStatus"]["decidedAt"]
    outcome = read_message(leave_emails.outcome_blob_name(instance_id, LeaveStatus.APPROVED)).decode()
    assert "ann@example.com" in outcome and "approved" in outcome

    again = decide(host, instance_id, "Rejected")  # a second decision
    assert again.status_code == 409, again.text
    assert again.json() | {"error": None} == {
        "error": None, "field": "instanceId", "instanceId": instance_id, "runtimeStatus": "Completed",
        "requestStatus": "Approved", "statusQueryGetUri": body["statusQueryGetUri"], "decidedBy": APPROVER,
        "decidedAt": record.decided_at}
    assert leave_store.get_request(instance_id).status is LeaveStatus.APPROVED


def test_reject_with_a_comment(host: RunningHost) -> None:
    instance_id = started(host)
    response = decide(host, instance_id, "Rejected", APPROVER.upper(), comment="Team offsite that week")
    assert response.status_code == 202, response.text
    final = wait_for_status(response.json()["statusQueryGetUri"], timeout=10)
    assert final["output"] == "Leave request rejected."
    record = leave_store.get_request(instance_id)
    assert (record.status, record.comment) == (LeaveStatus.REJECTED, "Team offsite that week")
    assert record.decided_by.lower() == APPROVER and record.decided_at
    assert "rejected" in read_message(leave_emails.outcome_blob_name(instance_id, LeaveStatus.REJECTED)).decode()


def test_of_two_concurrent_decisions_one_wins(host: RunningHost) -> None:
    instance_id = started(host)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda result: decide(host, instance_id, result), ["Approved", "Rejected"]))
    codes = sorted(r.status_code for r in responses)
    assert codes == [202, 409], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 202).json()["result"]
    loser = next(r for r in responses if r.status_code == 409).json()
    assert loser["requestStatus"] in ("DecisionReceived", winner)
    final = wait_for_status(f"{host.base_url}{WEBHOOK}/instances/{instance_id}", timeout=10)
    assert final["output"] == f"Leave request {winner.lower()}."
    assert leave_store.get_request(instance_id).status.value == winner


def test_only_the_approver_may_decide(host: RunningHost) -> None:
    instance_id = started(host)
    response = decide(host, instance_id, approver="ann@example.com")
    assert response.status_code == 403, response.text
    assert response.json()["field"] == "approver"
    assert status(host, instance_id).json()["runtimeStatus"] == "Running"
    assert leave_store.get_request(instance_id).status is LeaveStatus.PENDING
    assert decide(host, instance_id, approver="Boss@Example.COM").status_code == 202


def test_an_event_raised_past_submit_approval_result_decides_nothing(host: RunningHost) -> None:
    """The employee's 202 answer holds sendEventPostUri (in Azure with the system key): raising the
    decision event through it skips SubmitApprovalResult's checks, so the workflow ignores it."""
    response = start(host)
    instance_id = response.json()["id"]
    awaiting(host, instance_id)
    send_event = response.json()["sendEventPostUri"].replace("{eventName}", "ApprovalResult")
    forged = {"result": "Approved", "approver": APPROVER, "comment": "Approved by myself"}
    assert requests.post(send_event, json=forged, timeout=10).status_code == 202

    history_url = f"{host.base_url}{WEBHOOK}/instances/{instance_id}?showHistory=true&showHistoryOutput=true"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body = requests.get(history_url, timeout=10).json()
        confirmed = [e for e in body.get("historyEvents", []) if e.get("FunctionName") == "ConfirmLeaveDecision"]
        if confirmed and (body.get("customStatus") or {}).get("step") == "AwaitingApproval":
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the forged event was never looked at: {body}")
    assert confirmed[0]["Result"] == {"confirmed": False, "status": "Pending", "decision": None}
    assert body["runtimeStatus"] == "Running"
    record = leave_store.get_request(instance_id)
    assert (record.status, record.decided_by) == (LeaveStatus.PENDING, None)
    with pytest.raises(ResourceNotFoundError):
        read_message(leave_emails.outcome_blob_name(instance_id, LeaveStatus.APPROVED))

    # The approver's real decision still goes through, once.
    accepted = decide(host, instance_id, "Rejected", comment="Not that week")
    assert accepted.status_code == 202, accepted.text
    final = wait_for_status(accepted.json()["statusQueryGetUri"], timeout=10)
    assert final["output"] == "Leave request rejected."
    record = leave_store.get_request(instance_id)
    assert (record.status, record.comment) == (LeaveStatus.REJECTED, "Not that week")


def test_a_start_with_its_own_request_id_can_be_repeated_safely(host: RunningHost) -> None:
    key = f"hr-{uuid.uuid4().hex[:12]}"
    first = start(host, leave(requestId=key))
    assert first.status_code == 202, first.text
    assert first.json()["id"] == f"leave-{key}"
    before = leave_instances(host)
    again = start(host, leave(requestId=key, reason="Sent twice"))
    assert again.status_code == 409, again.text
    assert again.json() | {"error": None, "runtimeStatus": None} == {
        "error": None, "field": "requestId", "instanceId": f"leave-{key}", "runtimeStatus": None,
        "statusQueryGetUri": first.json()["statusQueryGetUri"]}
    awaiting(host, f"leave-{key}")
    assert leave_instances(host) == before
    assert leave_store.get_request(f"leave-{key}").reason == "Summer holiday"  # the first call's request
    assert decide(host, f"leave-{key}").status_code == 202


def test_unknown_instance_is_404(host: RunningHost) -> None:
    response = decide(host, f"leave-{uuid.uuid4().hex}")
    assert response.status_code == 404, response.text
    assert response.json()["field"] == "instanceId"


def test_no_decision_can_be_pushed_into_an_order_workflow(host: RunningHost) -> None:
    order_id = f"L-{uuid.uuid4().hex[:10]}"
    order = requests.post(host.base_url + "/api/OrderProcessing_Client", timeout=30, json={
        "orderId": order_id, "customerEmail": "cid@example.com", "items": [{"sku": "WIDGET-1", "quantity": 1}]})
    assert order.status_code == 202, order.text
    response = decide(host, f"order-{order_id}")
    assert response.status_code == 404, response.text  # the same answer as for no instance at all
    assert response.json()["field"] == "instanceId"
    assert response.json()["error"] == f"No leave approval workflow order-{order_id}."
    final = wait_for_status(order.json()["statusQueryGetUri"])
    history = requests.get(order.json()["statusQueryGetUri"], params={"showHistory": "true"}, timeout=10).json()
    assert final["output"] == f"Order {order_id} processed successfully."
    assert all(e["EventType"] != "EventRaised" for e in history["historyEvents"])


@pytest.mark.parametrize(("body", "field"), [
    ({"employeeId": ...}, "employeeId"),
    ({"employeeEmail": "ann-at-example.com"}, "employeeEmail"),
    ({"approverEmail": ...}, "approverEmail"),
    ({"approverEmail": "ann@example.com"}, "approverEmail"),
    ({"startDate": "2020-01-01"}, "startDate"),
    ({"startDate": "tomorrow"}, "startDate"),
    ({"endDate": "2020-01-01"}, "endDate"),
    ({"startDate": "2040-01-01", "endDate": "2040-03-01"}, "endDate"),  # longer than LEAVE_MAX_DAYS
    ({"reason": ""}, "reason"),
])
def test_bad_leave_requests_get_400_and_start_nothing(host: RunningHost, body: dict[str, Any], field: str) -> None:
    before = leave_instances(host)
    response = start(host, leave(**body))
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["field"] == field
    assert leave_instances(host) == before


def test_malformed_bodies(host: RunningHost) -> None:
    for path in (CLIENT, DECIDE):
        broken = requests.post(host.base_url + path, data="{not json", headers={"Content-Type": "application/json"},
                               timeout=30)
        assert (broken.status_code, broken.json()["field"]) == (400, "body")
        empty = requests.post(host.base_url + path, timeout=30)
        assert (empty.status_code, empty.json()["field"]) == (400, "body")
        listed = requests.post(host.base_url + path, json=[1, 2], timeout=30)
        assert (listed.status_code, listed.json()["field"]) == (400, "body")
        xml = requests.post(host.base_url + path, data="<leave/>", headers={"Content-Type": "application/xml"},
                            timeout=30)
        assert (xml.status_code, xml.json()["field"]) == (415, "body")


@pytest.mark.parametrize(("overrides", "field"), [
    ({"instanceId": None}, "instanceId"),
    ({"instanceId": 42}, "instanceId"),
    ({"instanceId": "leave-x/../../admin"}, "instanceId"),
    ({"result": "approve"}, "result"),
    ({"result": None}, "result"),
    ({"approver": "boss"}, "approver"),
    ({"comment": 3}, "comment"),
    ({"comment": "x" * 1001}, "comment"),
])
def test_bad_decisions_get_400_and_change_nothing(host: RunningHost, overrides: dict[str, Any], field: str) -> None:
    instance_id = started(host)
    body = {"instanceId": instance_id, "result": "Approved", "approver": APPROVER, **overrides}
    response = requests.post(host.base_url + DECIDE, json=body, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert status(host, instance_id).json()["runtimeStatus"] == "Running"
    assert leave_store.get_request(instance_id).status is LeaveStatus.PENDING


def test_the_readme_examples_work(host: RunningHost) -> None:
    if README_SECTION not in README.read_text(encoding="utf-8"):
        pytest.fail(f"README.md has no {README_SECTION!r} section")
    calls = curl_calls(README_SECTION)
    starts = [c for c in calls if c.url.endswith(CLIENT)]
    decisions = [c for c in calls if c.url.endswith(DECIDE)]
    assert starts and decisions
    instance_id = None
    for call in starts:
        response = requests.request(call.method, call.url.replace("http://localhost:7071", host.base_url),
                                    headers=call.headers, data=call.data, timeout=30)
        assert response.status_code in (202, 400), (call, response.text)
        if response.status_code == 202 and instance_id is None:
            instance_id = response.json()["id"]
        if '"requestId"' in (call.data or ""):  # the retry example: the same call again is 409, no new request
            again = requests.request(call.method, call.url.replace("http://localhost:7071", host.base_url),
                                     headers=call.headers, data=call.data, timeout=30)
            assert again.status_code == 409 and again.json()["instanceId"] == response.json()["id"], again.text
    assert instance_id is not None
    awaiting(host, instance_id)
    codes = []
    for call in decisions:
        data = (call.data or "").replace(README_PLACEHOLDER, instance_id)
        response = requests.request(call.method, call.url.replace("http://localhost:7071", host.base_url),
                                    headers=call.headers, data=data, timeout=30)
        codes.append(response.status_code)
        if response.status_code == 202:
            wait_for_status(response.json()["statusQueryGetUri"], timeout=10)
    assert codes[0] == 202 and set(codes[1:]) <= {400, 403, 404, 409}, codes


def test_without_a_decision_the_request_expires_at_the_deadline(azurite: azurite_control.Azurite,
                                                                tmp_path_factory: pytest.TempPathFactory) -> None:
    env = host_env(azurite, "E2ELeaveDeadlineHub", LEAVE_APPROVAL_TIMEOUT="PT4S")
    short = start_devhost(ROOT, tmp_path_factory.mktemp("leave-deadline") / "host.log", env)
    try:
        response = start(short)
        assert response.status_code == 202, response.text
        instance_id = response.json()["id"]
        final = wait_for_status(response.json()["statusQueryGetUri"], timeout=20)
        assert final["runtimeStatus"] == "Completed"
        assert final["output"] == "Leave request expired without a decision."
        record = leave_store.get_request(instance_id)
        assert (record.status, record.decided_by) == (LeaveStatus.EXPIRED, "system")
        assert record.decided_at == final["customStatus"]["decidedAt"]
        assert record.decided_at >= record.deadline  # the orchestration clock of the episode the deadline woke
        assert record.reminder_sent_at is not None and record.reminder_sent_at < record.deadline
        read_message(leave_emails.blob_name(instance_id, "reminder"))  # the halfway reminder exists
        assert "expired" in read_message(leave_emails.outcome_blob_name(instance_id, LeaveStatus.EXPIRED)).decode()
        late = decide(short, instance_id)
        assert late.status_code == 409, late.text
        assert late.json()["requestStatus"] == "Expired"
    finally:
        short.stop()


def test_the_management_api_tour_runs_as_written(host: RunningHost) -> None:
    """README's management-API tour, pasted into bash as it stands (only the host's address differs): every
    call answers as its comment says, and it acts on its own throwaway instance only."""
    [tour] = bash_blocks("### The Durable HTTP management API")
    script = tour.replace("http://localhost:7071", host.base_url)
    script += '\necho "TOUR_ID=$ID"\n'
    done = subprocess.run(["bash", "-c", script.replace("\ncurl ", "\ncurl -sS -o /dev/null -w '%{http_code}\\n' ")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    instance_id = next(line.split("=", 1)[1] for line in lines if line.startswith("TOUR_ID="))
    # start, status and history (running: 202), query, suspend, resume, raise event, terminate, purge
    assert [line for line in lines if line.isdigit()] == ["202", "202", "202", "200", "202", "202", "202", "202",
                                                          "200"]
    assert requests.get(f"{host.base_url}{WEBHOOK}/instances/{instance_id}", timeout=10).status_code == 404
